"""The GP's predictive under several hyperparameter samples is a mixture: its variance is the law
of total variance, the mean of the per-sample variances plus the variance of the per-sample means."""

import pytest
import torch

from pyroml.gp import GP
from tests.gp.helpers import data

#: three hyperparameter settings that disagree (so the between-sample term is far from zero)
SETTINGS = torch.tensor([0.25, 0.8, 2.0], dtype=torch.float64)


def _gp_and_hypers():
    X, y = data(n=8, seed=3)
    gp = GP(X, y, noise=1e-3)
    hypers = {h: SETTINGS.clone() for h in gp.hyper_names}
    return gp, hypers


def _per_sample(gp, hypers, Xs, noiseless):
    """The predictive mean and variance under each setting alone, each ``(S, M)``."""
    outs = [gp.predict(Xs, {h: v[i:i + 1] for h, v in hypers.items()}, noiseless=noiseless)
            for i in range(SETTINGS.numel())]
    return torch.stack([m for m, _ in outs]), torch.stack([v for _, v in outs])


@pytest.mark.parametrize("noiseless", [False, True], ids=["y", "f"])
def test_predictive_variance_is_the_law_of_total_variance(noiseless):
    gp, hypers = _gp_and_hypers()
    Xs = torch.linspace(-1.5, 1.5, 13, dtype=torch.float64)
    mean, var = gp.predict(Xs, hypers, noiseless=noiseless)
    means, variances = _per_sample(gp, hypers, Xs, noiseless)
    between = means.var(0, unbiased=False)
    assert float(between.max()) > 1e-3 * float(variances.mean(0).max())   # the term matters here
    assert torch.allclose(mean, means.mean(0), rtol=1e-10, atol=1e-12)
    assert torch.allclose(var, variances.mean(0) + between, rtol=1e-9, atol=1e-12)


def test_predictive_variance_matches_draws_from_the_mixture():
    """Monte Carlo: draw a setting uniformly, then y ~ N(mean_s, var_s); the draws' variance is
    the predictive variance (within 3%, 400k draws; seeded)."""
    gp, hypers = _gp_and_hypers()
    Xs = torch.tensor([-1.4, 0.0, 1.3], dtype=torch.float64)
    _, var = gp.predict(Xs, hypers)
    means, variances = _per_sample(gp, hypers, Xs, False)
    g = torch.Generator().manual_seed(0)
    s = torch.randint(SETTINGS.numel(), (400_000,), generator=g)
    draws = means[s] + variances[s].sqrt() * torch.randn(400_000, Xs.numel(), generator=g, dtype=torch.float64)
    assert torch.allclose(draws.var(0), var, rtol=0.03)


def test_one_sample_has_no_between_term():
    gp, hypers = _gp_and_hypers()
    one = {h: v[1:2] for h, v in hypers.items()}
    Xs = torch.linspace(-1, 1, 5, dtype=torch.float64)
    _, var = gp.predict(Xs, one)
    cond = gp.conditional(Xs, one)
    assert torch.allclose(var, cond.var[0] + cond.noise[0], rtol=1e-12)
