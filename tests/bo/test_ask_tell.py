"""The ask/tell interface, batches, failures, acquisition objects and their maximisation."""

import math

import pyro.contrib.gp as cgp
import pytest
import torch

from pyroml import bo
from pyroml.bo.acquisition import LogExpectedImprovement, LowerConfidenceBound, NoisyLogExpectedImprovement
from pyroml.gp import GP

BOX = torch.tensor([[-2.0, 0.0], [2.0, 3.0]], dtype=torch.float64)


def _bowl(x):
    return ((x - torch.tensor([0.5, 1.0], dtype=torch.float64)) ** 2).sum(-1)


def test_ask_tell_equals_minimize_for_the_same_seed():
    res = bo.minimize(_bowl, BOX, iterations=3, seed=4, noiseless=True)
    opt = bo.BayesOpt(BOX, seed=4, noiseless=True)
    x0 = opt.initial_design()
    opt.observe(x0, _bowl(x0))
    for _ in range(3):
        x = opt.suggest()
        opt.observe(x, _bowl(x))
    assert torch.equal(opt.X, res.X) and torch.equal(opt.Y, res.Y) and res.X.shape == (5 + 3, 2)


def test_recommend_passes_over_a_lucky_observation():
    """With noise, the lowest observed value can be a lucky draw far from the minimum: the
    recommendation (lowest posterior mean among the evaluated inputs) is not fooled by it."""
    g = torch.Generator().manual_seed(0)
    grid = torch.stack(torch.meshgrid(torch.linspace(-2, 2, 6, dtype=torch.float64),
                                      torch.linspace(0, 3, 6, dtype=torch.float64), indexing="ij"), -1).reshape(-1, 2)
    y = _bowl(grid) + 0.3 * torch.randn(36, generator=g, dtype=torch.float64)
    lucky = int((grid - torch.tensor([1.2, 1.8], dtype=torch.float64)).norm(dim=-1).argmin())   # f = 1.13
    y[lucky] = float(y.min()) - 0.3                                    # its noise drew about 4 sds low
    opt = bo.BayesOpt(BOX, seed=0)
    opt.observe(grid, y)
    x, value = opt.recommend()
    assert int(y.argmin()) == lucky and bool((grid == x).all(-1).any())   # an evaluated input, not the lucky one
    assert float(_bowl(x[None])) < 0.5 and abs(value - float(_bowl(x[None]))) < 0.5
    with pytest.raises(ValueError, match="at least two evaluations"):
        bo.BayesOpt(BOX).recommend()


def test_noisy_ei_does_not_take_a_lucky_observation_as_its_incumbent():
    """``method="nei"`` compares candidates with the best *latent* value at the evaluated inputs,
    drawn from the posterior, not with the lucky lowest observation that EI must beat."""
    g = torch.Generator().manual_seed(0)
    grid = torch.stack(torch.meshgrid(torch.linspace(-2, 2, 6, dtype=torch.float64),
                                      torch.linspace(0, 3, 6, dtype=torch.float64), indexing="ij"), -1).reshape(-1, 2)
    y = _bowl(grid) + 0.3 * torch.randn(36, generator=g, dtype=torch.float64)
    lucky = int((grid - torch.tensor([1.2, 1.8], dtype=torch.float64)).norm(dim=-1).argmin())
    y[lucky] = float(y.min()) - 0.3
    opt = bo.BayesOpt(BOX, method="nei", seed=0)
    opt.observe(grid, y)
    x = opt.suggest()
    acq, model = opt.last["acquisition_fn"], opt.last["model"]
    assert isinstance(acq, NoisyLogExpectedImprovement) and acq.best.shape == (16, 8)     # 16 settings x 8 draws
    assert float(acq.best.median()) > float(model.yt[lucky]) + 0.1        # shrunk towards its neighbours
    assert ((x >= BOX[0]) & (x <= BOX[1])).all()
    again = bo.BayesOpt(BOX, method="nei", seed=0)
    again.observe(grid, y)
    assert torch.equal(again.suggest(), x)                                # its draws are seeded: repeatable


def test_minimize_returns_the_recommendation_and_it_is_the_best_point_without_noise():
    res = bo.minimize(_bowl, BOX, iterations=2, seed=1, noiseless=True, n_candidates=128)
    assert torch.equal(res.x_recommended, res.x_best)
    assert res.y_recommended == pytest.approx(res.y_best, abs=1e-3)
    assert bo.minimize(_bowl, BOX, iterations=0, seed=1).x_recommended is None


def test_a_failed_or_interrupted_recommendation_keeps_the_run(monkeypatch):
    def broken(self):
        raise RuntimeError("Cholesky failed")
    monkeypatch.setattr(bo.BayesOpt, "recommend", broken)
    with pytest.warns(UserWarning, match="x_best, the best observed input, stands"):
        res = bo.minimize(_bowl, BOX, iterations=2, seed=1, n_candidates=128)
    assert res.X.shape == (5 + 2, 2) and res.x_recommended is None

    def interrupted(self):
        raise KeyboardInterrupt
    monkeypatch.setattr(bo.BayesOpt, "recommend", interrupted)
    with pytest.raises(bo.BOInterrupted) as info:
        bo.minimize(_bowl, BOX, iterations=2, seed=1, n_candidates=128)
    assert info.value.result.X.shape == (5 + 2, 2) and info.value.result.failures[-1]["error"] == "KeyboardInterrupt"


@pytest.mark.parametrize("method", ["ei", "thompson", "lcb"])
def test_batch_proposals_are_distinct_and_inside_the_box(method):
    opt = bo.BayesOpt(BOX, method=method, seed=0, n_candidates=256)
    x0 = opt.initial_design()
    opt.observe(x0, _bowl(x0))
    X = opt.suggest(q=4)
    assert X.shape == (4, 2) and ((BOX[0] <= X) & (BOX[1] >= X)).all()
    assert torch.pdist(X).min() > 1e-6 and torch.cdist(X, opt.X).min() > 1e-6


@pytest.mark.parametrize("failure", ["raise", "nan"])
def test_a_failing_objective_keeps_the_history(failure):
    calls = []

    def f(x):
        calls.append(x)
        if len(calls) == 3:
            if failure == "raise":
                raise RuntimeError("simulator crashed")
            return torch.full((x.shape[0],), math.nan)
        return _bowl(x)
    res = bo.minimize(f, BOX, iterations=5, seed=0, n_candidates=128)
    assert res.X.shape == (5 + 1, 2) and len(res.trace) == 1                       # design + one round kept
    assert res.failures[0]["iteration"] == 2 and ("crashed" in res.failures[0]["error"]) == (failure == "raise")
    assert res.y_best == float(res.Y.min())


def test_an_interruption_keeps_the_history():
    calls = []

    def f(x):
        calls.append(x)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return _bowl(x)
    with pytest.raises(KeyboardInterrupt) as info:                                 # a script still stops
        bo.minimize(f, BOX, iterations=5, seed=0, n_candidates=128)
    res = info.value.result
    assert isinstance(info.value, bo.BOInterrupted) and res.X.shape == (5 + 2, 2) and len(res.trace) == 2
    assert torch.equal(res.X[5:], torch.cat(calls[1:3])) and res.failures[-1]["error"] == "KeyboardInterrupt"
    assert res.y_best == float(res.Y.min()) == float(_bowl(res.X).min())


def test_bad_inputs_are_refused_before_any_work():
    with pytest.raises(ValueError, match="strictly below"):
        bo.BayesOpt([[0.0, 1.0], [1.0, 1.0]])
    opt = bo.BayesOpt(BOX)
    with pytest.raises(ValueError, match="outside the bounds"):
        opt.observe(torch.tensor([[3.0, 1.0]]), torch.tensor([1.0]))
    with pytest.raises(ValueError, match="finite"):
        opt.observe(torch.tensor([[0.0, 1.0]]), torch.tensor([math.nan]))
    assert opt.X.shape == (0, 2)                                                   # nothing added
    with pytest.raises(ValueError, match="input_dim=2"):
        bo.BayesOpt(BOX, kernel=cgp.kernels.Matern52(input_dim=3))
    with pytest.raises(ValueError, match="kernel must be one of"):
        bo.minimize(_bowl, BOX, kernel="cosine")


def test_acquisitions_are_differentiable_and_maximised_over_the_box():
    X = bo.BayesOpt(BOX, seed=1).initial_design(8)
    gp = GP(X, _bowl(X), kernel="matern52", bounds=BOX)
    hypers = gp.map_estimate().samples
    for acq in (LogExpectedImprovement(gp, hypers, float(_bowl(X).min())), NoisyLogExpectedImprovement(gp, hypers),
                LowerConfidenceBound(gp, hypers, 2.0)):
        Z = X[:3, None, :].clone().requires_grad_(True)
        (g,) = torch.autograd.grad(acq(Z).sum(), Z)
        assert torch.isfinite(g).all()
        found = bo.maximize(acq, BOX, raw_samples=128, restarts=4, seed=0)
        grid = bo.optimize.sobol(BOX, 512, seed=3)
        with torch.no_grad():
            assert found.value >= float(acq(grid[:, None, :]).max()) - 1e-6
        assert ((found.x >= BOX[0]) & (found.x <= BOX[1])).all()
    with pytest.raises(ValueError, match=r"\(b, 1, d\)"):
        LowerConfidenceBound(gp, hypers)(X[None])
