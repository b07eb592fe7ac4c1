import math

import pyro
import pyro.distributions as dist
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pyroml.gp import GP
from pyroml.studies.gp_problem import study_gp, study_priors, study_problem
from tests.gp.helpers import RAW, data


def test_run_chain_draws_what_pyro_mcmc_draws():
    """``run_chain`` steps Pyro's NUTS as ``pyro.infer.MCMC.run`` does: same seed, same draws."""
    import pyro
    from pyro.infer import MCMC, NUTS

    from pyroml.gp import run_chain
    X, y = data()
    potential = GP(X, y, noise=1e-4).potential_fn()
    start = {"theta": torch.tensor([-0.5, 0.3], dtype=torch.float64)}
    pyro.set_rng_seed(2)
    mcmc = MCMC(NUTS(potential_fn=potential), num_samples=15, warmup_steps=15, initial_params=start,
                disable_progbar=True)
    mcmc.run()
    pyro.set_rng_seed(2)
    draws, divergences = run_chain(NUTS(potential_fn=potential), start, 15, 15)
    assert torch.allclose(draws["theta"], mcmc.get_samples()["theta"], rtol=1e-12, atol=0)
    assert divergences == mcmc.diagnostics()["divergences"]["chain 0"]


@settings(deadline=None, max_examples=30)
@given(s=st.integers(2, 30), seed=st.integers(0, 1000))
def test_mc_predictive_variance_at_least_mean_of_variances(s, seed):
    X, y = data(seed=seed % 7)
    gp = GP(X, y, noise=1e-4)
    g = torch.Generator().manual_seed(seed)
    hypers = {"lengthscale": 0.1 + torch.rand(s, generator=g, dtype=torch.float64),
              "variance": 0.5 + torch.rand(s, generator=g, dtype=torch.float64)}
    Xs = torch.linspace(-1.5, 1.5, 11, dtype=torch.float64)
    _, v = gp.predict(Xs, hypers)
    per = torch.stack([gp.predict(Xs, {k: t[i:i + 1] for k, t in hypers.items()})[1] for i in range(s)])
    assert (v >= per.mean(0) - 1e-12).all()


def test_nuts_on_tiny_problem_returns_diagnostics():
    X, y = data(4)
    post = GP(X, y, noise=1e-4).sample_posterior(num_samples=40, warmup_steps=40, num_chains=2, seed=1)
    for h in ("lengthscale", "variance"):
        assert post.samples[h].shape == (80,) and post.chains[h].shape == (2, 40)
        d = post.diagnostics[h]
        assert math.isfinite(d["r_hat"]) and d["ess"] > 0 and d["mean"] > 0
    assert len(post.diagnostics["divergences"]) == 2 and len(post.diagnostics["step_size"]) == 2
    m, v = post.predict(torch.linspace(-1, 1, 5))
    assert m.shape == v.shape == (5,) and (v > 0).all()
    assert "r_hat" in post.table() and post.summary()["variance_r_hat"] == d["r_hat"]
    assert set(post.summary()) >= {"lengthscale_r_hat", "variance_ess", "divergences", "seconds"}


def test_nuts_with_learned_noise_and_non_lognormal_prior():
    X, y = data(5)
    gp = GP(X, y, priors={"variance": dist.Gamma(2.0, 1.0)}, noise_prior=dist.LogNormal(-5.0, 1.0))
    assert gp.hyper_names == ["lengthscale", "variance", "noise"] and gp.closed_form_potential() is None
    post = gp.sample_posterior(num_samples=20, warmup_steps=20, num_chains=1)
    assert post.samples["noise"].shape == (20,) and (post.samples["noise"] > 0).all()
    assert torch.isfinite(post.predict(X)[1]).all()


def test_study_problem_nuts_interpolates_quickly():
    f, X, _, _, _ = study_problem()
    y = f(X).reshape(-1)
    post = study_gp(X, y).sample_posterior(num_samples=100, warmup_steps=100, num_chains=2, seed=0)
    m, v = post.predict(X)
    assert (m - y).abs().max() < 0.05 and (v < 1e-3).all()


@pytest.mark.slow
def test_study_problem_nuts_4x500_converges_and_interpolates():
    f, X, _, _, _ = study_problem()
    y = f(X).reshape(-1)
    post = study_gp(X, y).sample_posterior(num_samples=500, warmup_steps=500, num_chains=4, seed=0)
    for h in ("lengthscale", "variance"):
        assert post.diagnostics[h]["r_hat"] <= 1.05
    m, v = post.predict(X)
    assert (m - y).abs().max() < 0.05 and (v < 5e-4).all()


def test_svi_map_and_normal_through_the_engine_no_shared_parameters():
    X, y = data()
    pyro.clear_param_store()
    old = study_priors()                                          # the raw-scale priors of before issue 14
    a, b = GP(X, y, noise=1e-4, priors=old, **RAW), GP(X, 3 * y, noise=1e-4, priors=old, **RAW)
    pa = a.fit("map", steps=150, lr=0.05)
    pb = b.fit("map", steps=150, lr=0.05)
    assert pa.samples["variance"].shape == (1,)
    assert float(pb.samples["variance"][0]) > float(pa.samples["variance"][0])   # each fit its own data
    assert len(pyro.get_param_store()) == 0
    assert not set(map(id, a.parameters())) & set(map(id, b.parameters()))
    assert (pa.predict(X)[0] - y).abs().max() < 0.1
    pn = GP(X, y).fit("normal", steps=100, lr=0.05, num_draws=50)
    assert pn.samples["lengthscale"].shape == (50,) and pn.samples["lengthscale"].std() > 0
    assert len(pyro.get_param_store()) == 0
