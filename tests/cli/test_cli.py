import json
import subprocess
import sys

import pytest

import pyroml
from pyroml.cli import main


def test_train_evaluate_and_resume(tiny_mnist, tmp_path, capsys):
    out = tmp_path / "gmm"
    common = ["--data-dir", str(tiny_mnist), "--no-download", "--no-progress", "--iwae-k", "5"]
    assert main(["train", "gmm", "--components", "3", "--epochs", "2", "--out", str(out), *common]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs"] == 2 and metrics["batch_size"] == pyroml.GMM.fit_defaults["batch_size"]
    assert (out / "checkpoint.pt").exists() and (out / "component_means.png").exists()
    assert main(["train", "gmm", "--components", "3", "--epochs", "3", "--resume", "--out", str(out), *common]) == 0
    assert len(pyroml.load(out / "model.pt").history["train_elbo"]) == 3
    assert main(["evaluate", str(out / "model.pt"), "--data-dir", str(tiny_mnist), "--no-download"]) == 0
    assert json.loads((out / "evaluation" / "metrics.json").read_text())["log_likelihood_method"] == "exact"


def test_user_errors_exit_2_without_traceback(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "missing.pt")]) == 2
    assert "no checkpoint" in capsys.readouterr().err
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    assert main(["evaluate", str(tmp_path / "junk.pt")]) == 2
    assert "not a pyroml checkpoint" in capsys.readouterr().err
    assert main(["train", "vae", "--data-dir", str(tmp_path / "none"), "--no-download"]) == 2
    assert "MNIST not found" in capsys.readouterr().err
    assert main(["train", "gmm", "--latent-dim", "3", "--data-dir", str(tmp_path)]) == 2
    with pytest.raises(SystemExit):
        main(["train", "nonsense"])


def test_train_resume_continues_the_same_trajectory(tiny_mnist, tmp_path):
    """`pyroml train` for 2 epochs, then `--resume` to 4, equals 4 epochs straight (same seed, CPU)."""
    common = ["--data-dir", str(tiny_mnist), "--no-download", "--no-progress", "--iwae-k", "2", "--batch-size", "16"]
    assert main(["train", "vae", "--epochs", "4", "--out", str(tmp_path / "straight"), *common]) == 0
    assert main(["train", "vae", "--epochs", "2", "--out", str(tmp_path / "resumed"), *common]) == 0
    assert main(["train", "vae", "--epochs", "4", "--resume", "--out", str(tmp_path / "resumed"), *common]) == 0
    straight = pyroml.load(tmp_path / "straight" / "model.pt").history
    resumed = pyroml.load(tmp_path / "resumed" / "model.pt").history
    assert len(resumed["step_loss"]) == len(straight["step_loss"]) == 4 * 4
    assert resumed["step_loss"] == pytest.approx(straight["step_loss"], rel=1e-6, abs=1e-6)


def test_python_dash_m_pyroml_help():
    res = subprocess.run([sys.executable, "-m", "pyroml", "--help"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "compare" in res.stdout

