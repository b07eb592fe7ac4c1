import json
import signal
import subprocess
import sys
import time

import pytest
import torch

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
    assert main(["train", "vae", "--data-dir", str(tmp_path / "none"), "--no-download"]) == 2
    assert "MNIST not found" in capsys.readouterr().err
    assert main(["train", "gmm", "--latent-dim", "3", "--data-dir", str(tmp_path)]) == 2
    with pytest.raises(SystemExit):
        main(["train", "nonsense"])


def test_compare_quick_writes_table_and_figures(tiny_mnist, tmp_path):
    out = tmp_path / "cmp"
    args = ["compare", "--quick", "--data-dir", str(tiny_mnist), "--no-download", "--no-progress", "--out", str(out)]
    assert main(args) == 0
    for f in ("table.md", "table.csv", "table.json", "fig1_reconstructions.png", "fig2_latent_grids.png",
              "fig3_latent_scatter.png", "fig4_posterior_samples.png"):
        assert (out / f).exists(), f
    rows = {r["model"]: r for r in json.loads((out / "table.json").read_text())["rows"]}
    assert rows["PPCA"]["fair_method"] == "exact" and rows["VAE"]["bits_per_dim"] is None
    assert rows["VAE (continuous Bernoulli)"]["bits_per_dim"] > 0
    assert rows["GMM"]["study_log_likelihood"] == pytest.approx(-1.07e7 + 784 * 2.302585 * 2.406540, rel=1e-6)
    # a second run loads every model instead of training it
    assert main(args) == 0
    assert all(r["loaded"] for r in json.loads((out / "table.json").read_text())["rows"])


def test_python_dash_m_pyroml_help():
    res = subprocess.run([sys.executable, "-m", "pyroml", "--help"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "compare" in res.stdout


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
