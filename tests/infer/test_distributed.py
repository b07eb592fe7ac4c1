"""Several processes through Lightning Fabric (issue 13, item 3): two CPU processes (gloo) give the
parameters of one process at the same global batch and seed; Fabric's flags are checked first."""

import os
import platform
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import pyroml
from pyroml.infer.distributed import _drop_futile_nvml_check, fabric_flags
from tests.conftest import mnist_images

ROOT = Path(__file__).resolve().parents[2]


def free_port():
    """A port free now, for one run's rendezvous (runs side by side never share one)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_script(out, mode, *extra, ok=True):
    env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port())}
    res = subprocess.run([sys.executable, "-m", "tests.infer.ddp_script", str(out), mode, *extra], cwd=ROOT,
                         capture_output=True, text=True, timeout=600, env=env)
    if not ok:
        return res
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    return torch.load(out, weights_only=False)


@pytest.fixture(scope="module")
def one_and_ddp(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ddp")
    return tmp, run_script(tmp / "one.pt", "one"), run_script(tmp / "ddp.pt", "ddp")


def assert_same_run(a, b, names):
    for name in names:
        for key, value in a[name]["state"].items():
            assert torch.allclose(value.float(), b[name]["state"][key].float(), atol=1e-5), (name, key)
        assert b[name]["step_loss"] == pytest.approx(a[name]["step_loss"], rel=1e-5), name


def test_two_processes_give_the_parameters_of_one(one_and_ddp):
    tmp, one, ddp = one_and_ddp
    assert_same_run(one, ddp, ("toy", "gmm"))  # (the VAE's ranks draw their own z: not the same draws)
    assert len(ddp["toy"]["step_loss"]) == 12  # 4 global batches of 16 (16, 16, 16, 2) per epoch
    assert (tmp / "ddp.pt.gmm.pt").exists()  # rank 0 wrote the checkpoint
    # on one x86_64 host with a core per rank, DDP averaged every run's gradients in shared memory
    fits = platform.machine() in ("x86_64", "AMD64") and len(os.sched_getaffinity(0)) >= 2
    assert ddp["communication"] == (["shared-memory"] * 5 if fits else ddp["communication"])
    assert all(c == "shared-memory" or c.startswith("all-reduce (") for c in ddp["communication"])
    assert one["communication"] == []


def test_streamed_loader_and_iterable_under_ddp_match_one_process(one_and_ddp):
    """A DataLoader and an IterableDataset are read whole by each rank, which keeps its share of
    every batch: the same parameters and losses as one process."""
    _, one, ddp = one_and_ddp
    assert_same_run(one, ddp, ("loader", "iterable"))
    assert len(ddp["iterable"]["step_loss"]) == 12


def test_evaluate_reduces_across_ranks(one_and_ddp):
    """Each rank scores its block of the data and the sums are added: the GMM's exact report of two
    processes is the one of one process, latents in example order."""
    _, one, ddp = one_and_ddp
    a, b = one["gmm"]["report"], ddp["gmm"]["report"]
    assert b["n"] == a["n"] == 50
    for key in ("elbo", "log_likelihood", "mse"):
        assert b[key] == pytest.approx(a[key], rel=1e-5), key
    assert torch.allclose(a["latents"], b["latents"], atol=1e-5)
    assert len(ddp["gmm"]["val_elbo"]) == 3  # the validation ELBO: also each rank its block, summed
    assert ddp["gmm"]["val_elbo"] == pytest.approx(one["gmm"]["val_elbo"], rel=1e-5)


def test_a_killed_ddp_run_resumes_from_its_checkpoint(one_and_ddp, tmp_path):
    """Both processes killed mid-epoch (no clean-up); the resume continues each rank's RNG stream
    from the checkpoint and ends where the uninterrupted run ended."""
    _, _, ddp = one_and_ddp
    out = tmp_path / "crash.pt"
    crashed = run_script(out, "ddp", "--crash-at", "30", ok=False)  # the VAE's 6th step: epoch 2
    assert crashed.returncode != 0
    state = torch.load(f"{out}.vae.pt", weights_only=False)
    assert state["epoch"] == 1 and len(state["rng"]) == 2
    resumed = run_script(out, "ddp", "--resume")
    assert_same_run(ddp, resumed, ("vae", "gmm"))


def test_lightnings_nvml_check_is_dropped_only_where_nvml_is_missing(monkeypatch):
    """Without NVML's library the variable only adds a failed library load to every
    ``torch.cuda.is_available()`` (Adam's every step); with it, it stays."""
    import ctypes

    def missing(name):
        raise OSError(f"{name}: cannot open shared object file")

    for cdll, kept in ((missing, False), (lambda name: object(), True)):
        monkeypatch.setenv("PYTORCH_NVML_BASED_CUDA_CHECK", "1")
        monkeypatch.setattr(ctypes, "CDLL", cdll)
        _drop_futile_nvml_check()
        assert ("PYTORCH_NVML_BASED_CUDA_CHECK" in os.environ) == kept


def test_plain_flags_keep_the_plain_engine():
    assert fabric_flags("auto", 1, "auto", "32-true", 1) is None
    assert fabric_flags("cpu", 1, "auto", "32-true", 1) is None
    assert fabric_flags("cpu", 2, "ddp", "32-true", 1)["devices"] == 2


@pytest.mark.parametrize("flags, match", [
    ({"accelerator": "cpu", "devices": 10_000, "strategy": "ddp"}, "cores"),
    ({"accelerator": "cuda", "devices": 10_000}, "CUDA"),
    ({"devices": 0}, "devices"),
    ({"num_nodes": 0}, "num_nodes"),
])
def test_bad_flags_fail_before_any_work(flags, match):
    m = pyroml.VAE(hidden=(8,))
    with pytest.raises(ValueError, match=match):
        pyroml.fit(m, mnist_images(8), epochs=1, progress=False, **flags)
    assert m._event_shape is None


@pytest.mark.parametrize("precision, dtype", [("bf16-mixed", torch.float32), ("64-true", torch.float64)])
def test_precision_through_fabric_on_cpu(precision, dtype):
    x = mnist_images(256)
    model = pyroml.VAE(hidden=(16,), decoder_hidden=(16,))
    h = pyroml.fit(model, x, epochs=2, batch_size=64, accelerator="cpu", precision=precision, progress=False)
    assert all(v == v and abs(v) < 1e4 for v in h.step_loss)
    assert h.train_elbo[-1] > h.train_elbo[0]
    assert next(model.parameters()).dtype == dtype


# back in CI (session 7): 3 of 3 pytest runs of it and 12 of 12 standalone torchrun launches clean since the
# exit teardown fix (pyroml.infer.distributed._destroy_group), and 15 of 15 Fabric-launched runs
def test_under_torchrun(one_and_ddp, tmp_path):
    """Launched by ``torchrun`` (its environment variables name rank and world): Fabric starts no
    process of its own and the run is the one of one process."""
    _, one, _ = one_and_ddp
    out = tmp_path / "torchrun.pt"
    res = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                          str(free_port()), "-m", "tests.infer.ddp_script", str(out), "ddp"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert_same_run(one, torch.load(out, weights_only=False), ("toy", "gmm", "loader", "iterable"))
