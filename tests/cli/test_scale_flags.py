"""``pyroml train``'s Lightning Fabric flags and metric logger (issue 13, items 3 and 4)."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from pyroml.cli import main

ROOT = Path(__file__).resolve().parents[2]
COMMON = ["--no-download", "--no-progress", "--iwae-k", "2", "--epochs", "2", "--batch-size", "32"]


def test_two_processes_from_the_command_line_write_one_run(tiny_mnist, tmp_path):
    """Fabric re-runs the command for rank 1; rank 0 alone writes the run and its CSV log."""
    out = tmp_path / "run"
    res = subprocess.run([sys.executable, "-m", "pyroml", "train", "ppca", "--data-dir", str(tiny_mnist),
                          "--out", str(out), "--accelerator", "cpu", "--devices", "2", "--strategy", "ddp",
                          "--logger", "csv", *COMMON], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["devices"] == 2 and metrics["strategy"] == "ddp"
    assert res.stdout.count("wrote ") == 1  # one rank printed and wrote
    rows = list(csv.DictReader((out / "logs" / "csv" / "version_0" / "metrics.csv").open()))
    assert any(r["epoch/train_elbo"] for r in rows) and any(r["train/loss"] for r in rows)


def test_csv_logger_in_one_process(tiny_mnist, tmp_path):
    out = tmp_path / "run"
    assert main(["train", "vae", "--data-dir", str(tiny_mnist), "--out", str(out), "--logger", "csv",
                 "--latent-dim", "2", *COMMON]) == 0
    rows = list(csv.DictReader((out / "logs" / "csv" / "version_0" / "metrics.csv").open()))
    epochs = [r for r in rows if r["epoch/train_elbo"]]
    assert [float(r["epoch"]) for r in epochs] == [1.0, 2.0]
    assert all(r["epoch/val_elbo"] for r in epochs)  # the test set is the validation data
    steps = [r for r in rows if r["train/loss"]]
    assert len(steps) == len({r["step"] for r in steps}) > 2


@pytest.mark.parametrize("flags, what", [
    (["--devices", "0"], "--devices"), (["--num-nodes", "0"], "--num-nodes"),
    (["--strategy", "fsdp"], "--strategy"), (["--precision", "8-bit"], "--precision"),
    (["--accelerator", "tpu"], "--accelerator"), (["--logger", "wandb"], "--logger"),
])
def test_bad_scale_flags_are_usage_errors(flags, what, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "ppca", "--data-dir", str(tmp_path), "--out", str(tmp_path / "o"), *flags])
    assert e.value.code == 2 and what in capsys.readouterr().err


def test_more_devices_than_the_machine_has_is_one_line(tiny_mnist, tmp_path, capsys):
    code = main(["train", "ppca", "--data-dir", str(tiny_mnist), "--out", str(tmp_path / "o"),
                 "--accelerator", "cuda", "--devices", "64", *COMMON])
    err = capsys.readouterr().err
    assert code == 2 and "CUDA device" in err and "Traceback" not in err
    assert not (tmp_path / "o" / "model.pt").exists()
