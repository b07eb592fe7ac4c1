import math

import pytest
import torch

from pyroml import bo
from pyroml.studies.gp_problem import STUDY_GP, study_priors, study_problem


def _quadratic(centre):
    c = torch.tensor(centre, dtype=torch.float64)
    return lambda x: ((x - c) ** 2).sum(-1)


def test_finds_minimiser_of_smooth_1d_function_and_is_repeatable():
    f = _quadratic([0.3])
    learned = bo.minimize(f, (-1.0, 1.0), torch.tensor([-1.0, 0.0, 1.0]), iterations=6, seed=0)   # noise learned
    assert abs(float(learned.x_best[0]) - 0.3) < 0.05 and "noise" in learned.trace[-1]["hypers"]
    res = bo.minimize(f, (-1.0, 1.0), torch.tensor([-1.0, 0.0, 1.0]), iterations=6, seed=0, noiseless=True)
    assert abs(float(res.x_best[0]) - 0.3) < 0.05 and res.y_best < 1e-3
    assert res.X.shape == (9, 1) and res.Y.shape == (9,) and len(res.trace) == 6
    assert res.y_best == float(res.Y.min()) and torch.equal(res.best_so_far(), torch.cummin(res.Y, 0).values)
    t = res.trace[-1]
    assert {"iteration", "x", "y", "best", "hypers", "seconds", "acquisition", "candidates"} <= set(t)
    again = bo.minimize(f, (-1.0, 1.0), torch.tensor([-1.0, 0.0, 1.0]), iterations=6, seed=0, noiseless=True)
    assert torch.equal(res.X, again.X)                                               # seeded: repeatable


def test_finds_minimiser_of_smooth_2d_function():
    f = _quadratic([0.2, -0.4])
    bounds = torch.tensor([[-1.0, -1.0], [1.0, 1.0]])
    res = bo.minimize(f, bounds, iterations=12, seed=0, n_candidates=1024)
    assert res.X.shape == (5 + 12, 2) and res.y_best < 0.01
    assert ((bounds[0] <= res.X) & (bounds[1] >= res.X)).all()


@pytest.mark.parametrize("method", ["thompson", "lcb"])
def test_other_acquisitions_improve_on_the_start(method):
    f = _quadratic([0.3])
    x0 = torch.tensor([-1.0, -0.2, 1.0])
    res = bo.minimize(f, (-1.0, 1.0), x0, iterations=5, method=method, seed=1)
    assert res.y_best < float(f(x0[:, None]).min()) and res.y_best < 0.02
    assert ("sample" in res.trace[0]) == (method == "thompson")


def test_nuts_hyperparameters_warm_start_and_repeated_points():
    f = _quadratic([0.3])
    x0 = torch.tensor([-0.5, -0.5, 0.0, 0.0, 1.0])                                   # repeated points in D
    res = bo.minimize(f, (-1.0, 1.0), x0, iterations=3, method="thompson", hyperparameters="nuts",
                      nuts_samples=5, nuts_warmup=20, seed=0)
    assert torch.isfinite(res.Y).all() and len(res.trace) == 3
    ei = bo.minimize(f, (-1.0, 1.0), x0, iterations=2, method="ei", hyperparameters="nuts",
                     nuts_samples=5, nuts_warmup=20, seed=0)
    assert len(ei.trace) == 2 and ei.y_best <= res.Y[:5].min()


def test_never_proposes_an_evaluated_point_again():
    f = _quadratic([1.0])                                                            # minimum on the boundary
    res = bo.minimize(f, (-1.0, 1.0), torch.tensor([-1.0, 0.0, 1.0]), iterations=4, seed=0)
    assert torch.unique(res.X[:, 0]).numel() == res.X.shape[0]


def test_study_problem_default_method_finds_the_global_minimum():
    """With the study's pinned GP (its priors, raw scales, fixed noise, RBF), as ``pyroml bo`` runs it."""
    f, X0, bounds, x_min, f_min = study_problem()
    res = bo.minimize(f, bounds, X0, iterations=10, seed=3, record=False, kernel="rbf", priors=study_priors(),
                      **STUDY_GP)
    assert res.y_best - f_min <= 0.01 and abs(float(res.x_best[0]) - x_min) < 0.01
    assert f_min == pytest.approx(float(f(torch.tensor([[x_min]], dtype=torch.float64))), abs=1e-4)


def test_bad_inputs_raise_clear_errors():
    f = lambda x: x.sum(-1)  # noqa: E731
    with pytest.raises(ValueError, match="outside the bounds"):
        bo.minimize(f, (-1.0, 1.0), torch.tensor([0.0, 2.0]))
    with pytest.raises(ValueError, match="finite"):
        bo.minimize(lambda x: torch.full((x.shape[0],), math.nan), (-1.0, 1.0), torch.tensor([0.0]))
    with pytest.raises(ValueError, match="values for"):
        bo.minimize(lambda x: torch.zeros(1), (-1.0, 1.0), torch.tensor([0.0, 0.5]))
    with pytest.raises(ValueError, match="bounds"):
        bo.minimize(f, (1.0, -1.0), torch.tensor([0.0]))
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        bo.minimize(f, torch.tensor([[-1.0, -1.0], [1.0, 1.0]]), torch.zeros(3, 3))
    with pytest.raises(ValueError, match="method"):
        bo.minimize(f, (-1.0, 1.0), torch.tensor([0.0]), method="pi")
    with pytest.raises(ValueError, match="hyperparameters"):
        bo.minimize(f, (-1.0, 1.0), torch.tensor([0.0]), hyperparameters="svi")
    with pytest.raises(ValueError, match="q"):
        bo.minimize(f, (-1.0, 1.0), q=0)


def test_random_search_baseline():
    f = _quadratic([0.3])
    res = bo.random_search(f, (-1.0, 1.0), torch.tensor([0.0]), iterations=10, seed=0)
    assert res.X.shape == (11, 1) and res.y_best == float(res.Y.min())


def test_trace_records_the_map_point_of_the_laplace_draws():
    f, box = _quadratic([0.1, 0.2]), torch.tensor([[-1.0, -1.0], [1.0, 1.0]])
    res = bo.minimize(f, box, iterations=2, seed=0, record=False)
    ref = bo.minimize(f, box, iterations=2, seed=0, record=False, hyperparameters="map")
    assert res.trace[0]["hypers"] == ref.trace[0]["hypers"]      # the same MAP fit; the draws follow it


def test_a_result_keeps_the_trace_and_failures_it_is_given():
    X = torch.tensor([[0.0], [1.0], [0.5]], dtype=torch.float64)
    Y = torch.tensor([2.0, -1.0, 0.5], dtype=torch.float64)
    trace, failures = [], []                           # empty lists too: the caller may append later
    res = bo.BOResult.from_evaluations(X, Y, trace, 1.5, failures)
    assert res.trace is trace and res.failures is failures and res.seconds == 1.5
    assert res.y_best == -1.0 and torch.equal(res.x_best, X[1])
    fresh = bo.BOResult.from_evaluations(X, Y)
    assert fresh.trace == [] and fresh.failures == []
    assert fresh.failures is not bo.BOResult.from_evaluations(X, Y).failures      # no list shared between results
