import os
import pickle
import signal
import subprocess
import sys
import time

import pytest
import torch

import pyroml
from pyroml.cli import main
from pyroml.io import FORMAT
from tests.conftest import mnist_images


def test_save_load_roundtrip(tmp_path):
    m = pyroml.ConvVAE(channels=(4, 8), hidden=(16, 8))
    h = pyroml.fit(m, mnist_images(32), epochs=1, batch_size=16, progress=False)
    pyroml.save(m, tmp_path / "m.pt", h)
    m2 = pyroml.load(tmp_path / "m.pt")
    assert type(m2) is pyroml.ConvVAE and m2.get_config() == m.get_config()
    assert m2.history["train_elbo"] == h.train_elbo
    x = mnist_images(3)
    assert torch.equal(m.reconstruct(x), m2.reconstruct(x))


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_checkpoint_that_runs_code_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "evil.pt"
    torch.save({"format": FORMAT, "payload": _Evil()}, bad, pickle_protocol=2)
    with pytest.raises(ValueError, match="not a safe pyroml checkpoint"):
        pyroml.load(bad)
    assert not (tmp_path / "PWNED").exists()
    with open(tmp_path / "evil2.pt", "wb") as f:
        pickle.dump(_Evil(), f)
    with pytest.raises(ValueError):
        pyroml.load(tmp_path / "evil2.pt")
    assert not (tmp_path / "PWNED").exists()


def test_failed_write_leaves_previous_checkpoint_intact(tmp_path, monkeypatch):
    m = pyroml.VAE(hidden=(8,))
    path = tmp_path / "m.pt"
    pyroml.save(m, path)
    good = path.read_bytes()

    def broken_save(obj, f, *a, **k):
        with open(f, "wb") as fh:
            fh.write(b"truncated")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(KeyboardInterrupt):
        pyroml.save(m, path)
    assert path.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]  # no temporary left behind


def test_killed_training_leaves_checkpoint_intact(tiny_mnist, tmp_path):
    out = tmp_path / "vae"
    cmd = [sys.executable, "-m", "pyroml", "train", "vae", "--epochs", "200", "--batch-size", "8", "--data-dir",
           str(tiny_mnist), "--no-download", "--no-progress", "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ck = out / "checkpoint.pt"
    try:
        deadline = time.time() + 120
        while not ck.exists() and time.time() < deadline:
            time.sleep(0.05)
        assert ck.exists(), "no checkpoint written"
        time.sleep(1.0)                       # kill in the middle of later epochs (and possibly of a write)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    model = pyroml.load(ck)                   # intact and loadable
    assert isinstance(model, pyroml.VAE) and len(model.history["train_elbo"]) >= 1
    # and training resumes from it
    args = ["train", "vae", "--epochs", str(len(model.history["train_elbo"]) + 1), "--batch-size", "8", "--resume",
            "--data-dir", str(tiny_mnist), "--no-download", "--no-progress", "--out", str(out), "--iwae-k", "2"]
    assert main(args) == 0
    assert len(pyroml.load(out / "model.pt").history["train_elbo"]) == len(model.history["train_elbo"]) + 1


@pytest.mark.parametrize("content, why", [
    (b"", "the file is empty"),
    (bytes(range(256)) * 4, "not a file torch.save wrote"),
])
def test_junk_files_are_not_checkpoints(tmp_path, content, why):
    (tmp_path / "x.pt").write_bytes(content)
    with pytest.raises(ValueError, match=f"not a pyroml checkpoint: {why}"):
        pyroml.load(tmp_path / "x.pt")


def test_truncated_checkpoint_is_refused(tmp_path):
    m = pyroml.PPCA(event_shape=(5,))
    pyroml.save(m, tmp_path / "m.pt")
    data = (tmp_path / "m.pt").read_bytes()
    (tmp_path / "t.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a pyroml checkpoint"):
        pyroml.load(tmp_path / "t.pt")


@pytest.mark.parametrize("state, why", [
    ({"model": "vae", "config": {"bogus": 1}, "state_dict": {}}, "do not build a vae"),
    ({"model": "vae", "config": {"event_shape": [5]}, "state_dict": {"x": torch.ones(1)}}, "do not build a vae"),
    ({"model": "nonsense", "config": {}, "state_dict": {}}, "unknown model"),
    ({"model": "vae", "config": [], "state_dict": {}}, "config or weights are missing"),
    ({"model": "vae"}, "config or weights are missing"),
])
def test_crafted_checkpoints_are_refused_with_a_reason(tmp_path, state, why):
    torch.save({"format": FORMAT, **state}, tmp_path / "c.pt")
    with pytest.raises(ValueError, match=f"not a pyroml checkpoint: .*{why}"):
        pyroml.load(tmp_path / "c.pt")


def test_a_killed_save_leaves_a_temp_file_that_the_next_save_removes(tmp_path):
    m = pyroml.PPCA(event_shape=(5,))
    stale = tmp_path / ".m.pt.abc123.tmp"
    stale.write_bytes(b"half a checkpoint")
    pyroml.save(m, tmp_path / "m.pt")
    assert not stale.exists() and pyroml.load(tmp_path / "m.pt").event_shape == (5,)


def test_written_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        pyroml.save(pyroml.PPCA(event_shape=(5,)), tmp_path / "m.pt")
    finally:
        os.umask(old)
    assert (tmp_path / "m.pt").stat().st_mode & 0o777 == 0o644
