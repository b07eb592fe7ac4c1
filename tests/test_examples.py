import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_example(name, data_dir, out, *extra):
    cmd = [sys.executable, str(ROOT / "examples" / name), "--data-dir", str(data_dir), "--out", str(out),
           "--epochs", "1", "--no-download", "--no-progress", "--iwae-k", "5", *extra]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads((out / "metrics.json").read_text())


@pytest.mark.parametrize("name,extra", [("vae_mnist.py", ["--hidden", "32"]), ("cvae_mnist.py", []),
                                        ("ppca_mnist.py", []), ("gmm_mnist.py", ["--components", "3"])])
def test_density_example_writes_metrics_model_and_figures(name, extra, tiny_mnist, tmp_path):
    metrics = run_example(name, tiny_mnist, tmp_path / "out", *extra)
    for key in ("elbo", "mse", "log_likelihood", "log_likelihood_method"):
        assert key in metrics
    exact = name in ("ppca_mnist.py", "gmm_mnist.py")
    assert metrics["log_likelihood_method"] == ("exact" if exact else "iwae")
    files = {p.name for p in (tmp_path / "out").iterdir()}
    assert {"metrics.json", "model.pt", "reconstructions.png", "training_curve.png"} <= files
    if name != "gmm_mnist.py":
        assert {"latent_grid.png", "latent_scatter.png"} <= files
    else:
        assert "component_means.png" in files


def test_example_reports_missing_data_clearly(tmp_path):
    res = subprocess.run([sys.executable, str(ROOT / "examples" / "vae_mnist.py"), "--data-dir",
                          str(tmp_path / "none"), "--no-download", "--epochs", "1"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode != 0 and "MNIST not found" in res.stderr
