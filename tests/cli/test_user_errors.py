"""Command-line mistakes: one line, exit status 2, no traceback — and nothing overwritten."""

import subprocess
import sys

import pytest

from pyroml.cli import main

COMMON = ["--no-download", "--no-progress", "--iwae-k", "2", "--epochs", "1"]


def test_an_earlier_run_is_not_replaced_without_overwrite(tiny_mnist, tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "ppca", "--data-dir", str(tiny_mnist), "--out", str(out), *COMMON]
    assert main(args) == 0
    before = (out / "model.pt").read_bytes()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "holds an earlier run" in err and "--overwrite" in err and "--resume" in err
    assert (out / "model.pt").read_bytes() == before
    assert main([*args, "--overwrite", "--seed", "3"]) == 0
    assert (out / "model.pt").read_bytes() != before


def test_out_naming_a_file_is_refused(tiny_mnist, tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    assert main(["train", "ppca", "--data-dir", str(tiny_mnist), "--out", str(tmp_path / "f"), *COMMON]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err


@pytest.mark.parametrize("flags, what", [
    (["--epochs", "-1"], "--epochs"), (["--batch-size", "0"], "--batch-size"), (["--latent-dim", "0"], "--latent-dim"),
    (["--lr", "-0.1"], "--lr"), (["--subset", "-5"], "--subset"), (["--seed", "x"], "--seed"),
    (["--components", "0"], "--components"),
])
def test_out_of_range_numbers_are_usage_errors(flags, what, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "gmm", "--data-dir", str(tmp_path), "--out", str(tmp_path / "o"), *flags])
    assert e.value.code == 2 and what in capsys.readouterr().err


def test_unavailable_device_and_too_many_components(tiny_mnist, tmp_path, capsys):
    assert main(["train", "vae", "--device", "cuda:3", "--data-dir", str(tiny_mnist),
                 "--out", str(tmp_path / "a"), *COMMON]) == 2
    assert "not available" in capsys.readouterr().err
    assert main(["train", "gmm", "--components", "500", "--data-dir", str(tiny_mnist),
                 "--out", str(tmp_path / "b"), *COMMON]) == 2
    assert "n_components=500" in capsys.readouterr().err


def test_corrupt_data_file_is_one_line(tiny_mnist, tmp_path):
    img = tiny_mnist / "MNIST" / "raw" / "t10k-images-idx3-ubyte"
    img.write_bytes(img.read_bytes()[:500])
    res = subprocess.run([sys.executable, "-m", "pyroml", "train", "vae", "--data-dir", str(tiny_mnist),
                          "--out", str(tmp_path / "o"), *COMMON], capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "truncated or corrupt" in res.stderr and len(res.stderr.strip().splitlines()) == 1
