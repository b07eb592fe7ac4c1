"""The study's GP problem and the two examples that run it."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from pyroml.gp import default_priors
from pyroml.studies.gp_problem import NOISE, study_gp, study_priors, study_problem

ROOT = Path(__file__).resolve().parents[2]


def _run_example(name, *flags):
    res = subprocess.run([sys.executable, str(ROOT / "examples" / name), *flags], capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]


def test_study_problem_and_priors():
    f, X, bounds, x_min, f_min = study_problem()
    assert X.shape == (5, 1) and X.dtype == torch.float64 and bounds == (-1.0, 1.0)
    assert float(f(torch.tensor([[x_min]], dtype=torch.float64))) == pytest.approx(f_min, abs=1e-4)
    library = default_priors(1)
    study = {name: (float(p.loc), float(p.scale)) for name, p in study_priors().items()}
    assert study == {"lengthscale": (-1.0, 1.0), "variance": (0.0, 2.0)}             # the study's own, raw scales
    assert study["lengthscale"] != (float(library["lengthscale"].loc), float(library["lengthscale"].scale))
    gp = study_gp(X, f(X).reshape(-1))
    assert gp.hyper_names == ["lengthscale", "variance"] and gp.noise == NOISE and torch.equal(gp.Xt, gp.X)


def test_gp_example_writes_metrics_and_figures(tmp_path):
    _run_example("gp_fit.py", "--num-samples", "30", "--warmup", "30", "--chains", "2", "--out", str(tmp_path))
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert all(not isinstance(v, (dict, list)) for v in metrics.values())          # flat
    assert {"lengthscale_r_hat", "variance_ess", "divergences", "max_abs_error_at_data"} <= set(metrics)
    assert {"gp_hyperparameters.png", "gp_predictive.png"} <= {p.name for p in tmp_path.iterdir()}


def test_bo_example_writes_metrics_result_and_figures(tmp_path):
    _run_example("bayes_opt.py", "--iterations", "2", "--out", str(tmp_path))
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert all(not isinstance(v, (dict, list)) for v in metrics.values()) and metrics["evaluations"] == 7
    assert {"result.json", "bo_iterations.png", "bo_best_so_far.png"} <= {p.name for p in tmp_path.iterdir()}
