"""The NumPy NUTS (``pyroml.gp.nuts``): exact moments of Gaussian targets, Stan's warm-up windows,
agreement with Pyro's NUTS on the study's GP, and nothing lost when a run is interrupted."""

import math

import numpy as np
import pytest
import torch

import pyroml.gp.potential as potential_module
from pyroml.gp import GP
from pyroml.gp.nuts import LeanNUTS, adaptation_windows, run_lean_chain
from pyroml.gp.posterior import NUTSInterrupted
from pyroml.studies.gp_problem import study_gp, study_problem
from tests.gp.helpers import data

COV = np.array([[0.01, 0.27], [0.27, 9.0]])                  # correlation 0.9, scales 0.1 and 3
MEAN = np.array([1.0, -2.0])


def _gaussian(z):
    d = np.asarray(z) - MEAN
    g = np.linalg.solve(COV, d)
    return 0.5 * float(d @ g), g.tolist()


def test_stan_adaptation_windows():
    assert adaptation_windows(500) == [100, 150, 250, 450]
    assert adaptation_windows(1000) == [100, 150, 250, 450, 950]
    assert adaptation_windows(150) == [100] and adaptation_windows(60) == [54] and adaptation_windows(19) == []


def test_lean_nuts_recovers_a_correlated_badly_scaled_gaussian():
    """Mean and covariance of a 2-d Gaussian with scales 0.1 and 3 and correlation 0.9, within
    Monte Carlo error; the adapted inverse mass matrix is near the marginal variances."""
    chains, minvs = [], []
    for c in range(4):
        s = LeanNUTS(_gaussian, rng=np.random.default_rng(c))
        chains.append(run_lean_chain(s, np.zeros(2), 1000, 500))
        minvs.append(s.minv)
        assert s.divergences == [] and 0.05 < s.step_size < 2
    Z = np.concatenate(chains)
    se = np.sqrt(np.diag(COV) / 400)                           # ESS >= 400 of 4000 draws on this target
    assert (np.abs(Z.mean(0) - MEAN) < 4 * se).all()
    np.testing.assert_allclose(np.cov(Z.T), COV, rtol=0.15, atol=0.02)
    np.testing.assert_allclose(np.mean(minvs, 0), np.diag(COV), rtol=0.35)


def test_lean_nuts_standard_normal_moments_in_ten_dimensions():
    Z = np.concatenate([run_lean_chain(LeanNUTS(lambda z: (0.5 * float(np.dot(z, z)), list(z)),
                                                rng=np.random.default_rng(10 + c)), np.full(10, 3.0), 500, 300)
                        for c in range(2)])
    assert np.abs(Z.mean(0)).max() < 0.15 and np.abs(Z.var(0) - 1).max() < 0.2
    assert abs(float((Z ** 4).mean()) - 3.0) < 0.4                                 # the tails, not only the scale


def test_lean_nuts_rejects_the_region_where_the_potential_is_infinite():
    """A half-normal (potential infinite below 0): every draw stays at z > 0, divergences only
    recorded, and the mean is that of the half-normal, sqrt(2/pi)."""
    def half(z):
        return (0.5 * z[0] ** 2, [z[0]]) if z[0] > 0 else (math.inf, [0.0])
    s = LeanNUTS(half, rng=np.random.default_rng(0))
    Z = np.concatenate([run_lean_chain(s, np.array([1.0]), 2000, 300) for _ in range(2)])
    assert (Z > 0).all() and abs(Z.mean() - math.sqrt(2 / math.pi)) < 0.06
    with pytest.raises(ValueError, match="not finite at the chain's start"):
        run_lean_chain(s, np.array([-1.0]), 10, 10)


def test_lean_and_pyro_nuts_agree_on_the_study_gp():
    """Posterior means of log lengthscale and log variance from the NumPy sampler and from Pyro's
    NUTS on the same potential, within 4 combined Monte Carlo standard errors."""
    p = study_problem()
    gp = study_gp(p.X, p.f(p.X).reshape(-1))
    lean = gp.sample_posterior(300, 300, num_chains=2, seed=0, target_accept_prob=0.9)
    ref = gp.sample_posterior(300, 300, num_chains=2, seed=0, target_accept_prob=0.9, sampler="pyro")
    assert lean.diagnostics["sampler"] == "numpy" and ref.diagnostics["sampler"] == "pyro"
    for h in ("lengthscale", "variance"):
        a, b = lean.diagnostics[h], ref.diagnostics[h]
        se = math.hypot(a["log_std"] / math.sqrt(a["ess"]), b["log_std"] / math.sqrt(b["ess"]))
        assert abs(a["log_mean"] - b["log_mean"]) < 4 * se, h
        assert a["r_hat"] < 1.05


def test_sampler_choice_and_its_errors():
    X, y = data(5)
    gp = GP(X, y, noise=1e-4)
    post = gp.sample_posterior(5, 5, num_chains=1, sampler="numpy", max_tree_depth=3, step_size=0.1)
    assert post.diagnostics["sampler"] == "numpy"
    assert gp.sample_posterior(5, 5, num_chains=1, adapt_mass_matrix=False).diagnostics["sampler"] == "pyro"
    with pytest.raises(ValueError, match="sampler='pyro'"):
        gp.sample_posterior(5, 5, num_chains=1, sampler="numpy", adapt_mass_matrix=False)
    with pytest.raises(ValueError, match="sampler"):
        gp.sample_posterior(5, 5, num_chains=1, sampler="stan")
    for bad in ({"target_accept_prob": 1.0}, {"target_accept_prob": -0.1}, {"max_tree_depth": 0},
                {"step_size": 0.0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            gp.sample_posterior(5, 5, num_chains=1, **bad)


def _interrupt_after(monkeypatch, calls):
    """Make the closed-form potential raise KeyboardInterrupt at its ``calls``-th evaluation."""
    real, count = potential_module.ClosedFormPotential.__call__, [0]

    def counted(self, theta):
        count[0] += 1
        if count[0] == calls:
            raise KeyboardInterrupt
        return real(self, theta)
    monkeypatch.setattr(potential_module.ClosedFormPotential, "__call__", counted)
    return count


@pytest.mark.parametrize("sampler", ["numpy", "pyro"])
def test_interrupted_nuts_keeps_the_draws_made_so_far(sampler, monkeypatch):
    """Ctrl-C in the third chain: NUTSInterrupted (a KeyboardInterrupt) carries a Posterior of the
    two complete chains plus the kept draws of the third, which predicts."""
    X, y = data(5)
    gp = GP(X, y, noise=1e-4)
    with monkeypatch.context() as m:
        count = _interrupt_after(m, 10 ** 9)
        full = gp.sample_posterior(20, 20, num_chains=3, seed=1, sampler=sampler)
        three = count[0]
    _interrupt_after(monkeypatch, three - 10)                                # late in chain 3
    with pytest.raises(KeyboardInterrupt) as info:
        gp.sample_posterior(20, 20, num_chains=3, seed=1, sampler=sampler)
    e = info.value
    assert isinstance(e, NUTSInterrupted) and e.completed_chains == 2 and e.num_chains == 3
    post = e.posterior
    assert post is not None and post.diagnostics["interrupted"] and 40 < post.num_samples < 60
    assert post.chains["lengthscale"].shape == (2, 20)
    assert torch.allclose(post.chains["lengthscale"], full.chains["lengthscale"][:2])    # the same draws
    m, v = post.predict(torch.linspace(-1, 1, 4))
    assert torch.isfinite(m).all() and (v > 0).all()


def test_interrupted_in_the_first_warmup_keeps_nothing(monkeypatch):
    X, y = data(5)
    _interrupt_after(monkeypatch, 3)
    with pytest.raises(NUTSInterrupted) as info:
        GP(X, y, noise=1e-4).sample_posterior(20, 20, num_chains=2)
    assert info.value.posterior is None and "0 draws kept" in str(info.value)
