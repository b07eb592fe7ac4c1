import math

import matplotlib
import pyro
import pyro.contrib.gp as cgp
import pyro.distributions as dist
import pytest
import torch
from hypothesis import given, settings, strategies as st
from pyro.nn import PyroSample

from pyroml.gp import GP, kernel_matrix, study_problem
from pyroml.gp_kernels import KERNELS, pivoted_cholesky

matplotlib.use("Agg")


def _data(n=6, seed=0, d=1):
    g = torch.Generator().manual_seed(seed)
    X = torch.rand(n, d, generator=g, dtype=torch.float64) * 2 - 1
    return X, torch.sin(3 * X).sum(-1)


def _hypers(gp, value=0.7):
    return {h: torch.tensor([value], dtype=torch.float64) for h in gp.hyper_names}


@pytest.mark.parametrize("kernel", sorted(KERNELS))
def test_kernel_matrix_matches_pyro_contrib_kernels(kernel):
    X, _ = _data(5, d=2)
    Z, _ = _data(4, seed=1, d=2)
    k = KERNELS[kernel](input_dim=2, variance=torch.tensor(1.3), lengthscale=torch.tensor(0.6)).double()
    hp = {"variance": torch.tensor(1.3, dtype=torch.float64), "lengthscale": torch.tensor(0.6, dtype=torch.float64)}
    if kernel == "periodic":
        k.period = torch.tensor(0.8, dtype=torch.float64)
        hp["period"] = torch.tensor(0.8, dtype=torch.float64)
    with torch.no_grad():
        assert torch.allclose(kernel_matrix(kernel, X, Z, hp), k(X, Z), atol=1e-10)


@pytest.mark.parametrize("kernel", sorted(KERNELS))
def test_predictive_equals_closed_form_conditional(kernel):
    X, y = _data()
    gp = GP(X, y, kernel=kernel, noise=1e-3)
    hypers = _hypers(gp)
    h1 = {k: v.reshape(()) for k, v in hypers.items()}
    Xs = torch.linspace(-1, 1, 7, dtype=torch.float64)[:, None]
    K = kernel_matrix(kernel, X, X, h1) + 1e-3 * torch.eye(6, dtype=torch.float64)
    Ks, Kss = kernel_matrix(kernel, X, Xs, h1), kernel_matrix(kernel, Xs, Xs, h1)
    mean = Ks.T @ torch.linalg.solve(K, y)
    var = Kss.diagonal() - (Ks * torch.linalg.solve(K, Ks)).sum(0)
    m, v = gp.predict(Xs, hypers)
    assert torch.allclose(m, mean, atol=1e-8) and torch.allclose(v, var + 1e-3, atol=1e-8)
    m0, v0 = gp.predict(Xs, hypers, noiseless=True)
    assert torch.allclose(m0, mean, atol=1e-8) and torch.allclose(v0, var, atol=1e-8)


@pytest.mark.parametrize("kernel,learned_noise", [(k, False) for k in sorted(KERNELS)] + [("rbf", True)])
def test_closed_form_potential_matches_autograd(kernel, learned_noise):
    X, y = _data(d=2)
    gp = GP(X, y, kernel=kernel, noise_prior=dist.LogNormal(-6.0, 1.0) if learned_noise else None)
    theta = torch.tensor([-0.3, 0.2, 0.1][:len(gp.hyper_names) - learned_noise] + [-5.0] * learned_noise,
                         dtype=torch.float64, requires_grad=True)
    u = gp.potential(theta)
    (g,) = torch.autograd.grad(u, theta)
    v, g2 = gp.closed_form_potential()(theta.tolist())
    assert v == pytest.approx(float(u.detach()), rel=1e-10)
    assert torch.allclose(g, torch.tensor(g2, dtype=torch.float64), rtol=1e-7, atol=1e-10)


def test_direct_gradients_give_the_same_chain_as_autograd(monkeypatch):
    """NUTS through ``direct_gradients`` (value and gradient handed to Pyro's integrator) draws
    exactly the chain that the autograd path draws, and leaves Pyro's integrator as it was."""
    import contextlib

    import pyro.ops.integrator as integrator

    import pyroml.gp as gp_module
    X, y = _data()
    before = integrator.potential_grad
    direct = GP(X, y).sample_posterior(20, 20, num_chains=1, seed=5)
    assert integrator.potential_grad is before
    monkeypatch.setattr(gp_module, "direct_gradients", contextlib.nullcontext)
    plain = GP(X, y).sample_posterior(20, 20, num_chains=1, seed=5)
    for h in direct.samples:
        assert torch.allclose(direct.samples[h], plain.samples[h], rtol=1e-10, atol=0)


def test_run_chain_draws_what_pyro_mcmc_draws():
    """``run_chain`` steps Pyro's NUTS as ``pyro.infer.MCMC.run`` does: same seed, same draws."""
    import pyro
    from pyro.infer import MCMC, NUTS

    from pyroml.gp import run_chain
    X, y = _data()
    potential = GP(X, y).potential_fn()
    start = {"theta": torch.tensor([-0.5, 0.3], dtype=torch.float64)}
    pyro.set_rng_seed(2)
    mcmc = MCMC(NUTS(potential_fn=potential), num_samples=15, warmup_steps=15, initial_params=start,
                disable_progbar=True)
    mcmc.run()
    pyro.set_rng_seed(2)
    draws, divergences = run_chain(NUTS(potential_fn=potential), start, 15, 15)
    assert torch.allclose(draws["theta"], mcmc.get_samples()["theta"], rtol=1e-12, atol=0)
    assert divergences == mcmc.diagnostics()["divergences"]["chain 0"]


def test_potential_is_infinite_far_out():
    X, y = _data()
    v, g = GP(X, y).closed_form_potential()([40.0, 0.0])
    assert v == math.inf and g == [0.0, 0.0]


@settings(deadline=None, max_examples=30)
@given(s=st.integers(2, 30), seed=st.integers(0, 1000))
def test_mc_predictive_variance_at_least_mean_of_variances(s, seed):
    X, y = _data(seed=seed % 7)
    gp = GP(X, y)
    g = torch.Generator().manual_seed(seed)
    hypers = {"lengthscale": 0.1 + torch.rand(s, generator=g, dtype=torch.float64),
              "variance": 0.5 + torch.rand(s, generator=g, dtype=torch.float64)}
    Xs = torch.linspace(-1.5, 1.5, 11, dtype=torch.float64)
    _, v = gp.predict(Xs, hypers)
    per = torch.stack([gp.predict(Xs, {k: t[i:i + 1] for k, t in hypers.items()})[1] for i in range(s)])
    assert (v >= per.mean(0) - 1e-12).all()


def test_nuts_on_tiny_problem_returns_diagnostics():
    X, y = _data(4)
    post = GP(X, y).sample_posterior(num_samples=40, warmup_steps=40, num_chains=2, seed=1)
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
    X, y = _data(5)
    gp = GP(X, y, priors={"variance": dist.Gamma(2.0, 1.0)}, noise_prior=dist.LogNormal(-5.0, 1.0))
    assert gp.hyper_names == ["lengthscale", "variance", "noise"] and gp.closed_form_potential() is None
    post = gp.sample_posterior(num_samples=20, warmup_steps=20, num_chains=1)
    assert post.samples["noise"].shape == (20,) and (post.samples["noise"] > 0).all()
    assert torch.isfinite(post.predict(X)[1]).all()


def test_study_problem_nuts_interpolates_quickly():
    f, X, bounds, _, _ = study_problem()
    y = f(X).reshape(-1)
    post = GP(X, y).sample_posterior(num_samples=100, warmup_steps=100, num_chains=2, seed=0)
    m, v = post.predict(X)
    assert (m - y).abs().max() < 0.05 and (v < 1e-3).all()


@pytest.mark.slow
def test_study_problem_nuts_4x500_converges_and_interpolates():
    f, X, bounds, _, _ = study_problem()
    y = f(X).reshape(-1)
    post = GP(X, y).sample_posterior(num_samples=500, warmup_steps=500, num_chains=4, seed=0)
    for h in ("lengthscale", "variance"):
        assert post.diagnostics[h]["r_hat"] <= 1.05
    m, v = post.predict(X)
    assert (m - y).abs().max() < 0.05 and (v < 5e-4).all()


def test_svi_map_and_normal_through_the_engine_no_shared_parameters():
    X, y = _data()
    pyro.clear_param_store()
    a, b = GP(X, y), GP(X, 3 * y)
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


def test_kernel_instance_and_its_priors():
    X, y = _data()
    k = cgp.kernels.Matern52(input_dim=1)
    k.lengthscale = PyroSample(dist.LogNormal(0.5, 0.1))
    gp = GP(X, y, kernel=k)
    assert gp.kernel_name == "matern52"
    assert float(gp.priors["lengthscale"].loc) == 0.5 and gp.priors["lengthscale"].loc.dtype == torch.float64
    assert float(gp.priors["variance"].scale) == 2.0                               # the default
    with pytest.raises(TypeError, match="not supported"):
        GP(X, y, kernel=cgp.kernels.Linear(input_dim=1))
    with pytest.raises(ValueError, match="input_dim=1"):
        GP(X, y, kernel=cgp.kernels.RBF(input_dim=2))
    with pytest.raises(ValueError, match="isotropic"):
        GP(X, y, kernel=cgp.kernels.RBF(input_dim=1, lengthscale=torch.ones(3)))


def test_function_samples_survive_repeated_inputs():
    X, y = _data()
    gp = GP(X, y, noise=1e-6)
    Xs = torch.cat([X[:, 0], X[:, 0], torch.linspace(-1, 1, 300, dtype=torch.float64)])
    hypers = {"lengthscale": torch.tensor([0.5, 2.0]), "variance": torch.tensor([1.0, 3.0])}
    draws = gp.sample_functions(Xs, hypers, generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(draws).all() and draws.shape == (2, Xs.shape[0])
    mean, _, _ = gp.conditional(X, hypers)
    assert (draws[:, :6] - mean).abs().max() < 0.01 and (draws[:, 6:12] - mean).abs().max() < 0.01


@pytest.mark.parametrize("kernel", ["rbf", "periodic", "matern52"])
def test_pivoted_cholesky_reconstructs_the_conditional_covariance(kernel):
    X, y = _data()
    gp = GP(X, y, kernel=kernel)
    hypers = _hypers(gp, 0.4)
    Xs = torch.linspace(-1, 1, 120, dtype=torch.float64)
    _, C, _ = gp.conditional(Xs, hypers, full_cov=True)
    C = C[0]
    out = pivoted_cholesky(C.diagonal().clamp_min(0), lambda j: C[:, j], 1e-10 * 0.4, 120)
    assert out is not None
    L, d = out
    assert (d <= 1e-10 * 0.4).all() and (L.shape[1] < 60 or kernel == "matern52")  # smooth kernels: low rank
    assert torch.allclose(L @ L.T + torch.diag(d), C, atol=1e-9)
    assert pivoted_cholesky(C.diagonal(), lambda j: C[:, j], 1e-30, 3) is None       # rank cap: not reached


def test_function_samples_have_the_conditional_moments():
    X, y = _data()
    gp = GP(X, y)
    S = 400
    hypers = {"lengthscale": torch.full((S,), 0.3), "variance": torch.full((S,), 1.0)}
    Xs = torch.linspace(-1, 1, 25, dtype=torch.float64)
    draws = gp.sample_functions(Xs, hypers, generator=torch.Generator().manual_seed(0))
    mean, C, _ = gp.conditional(Xs, {k: v[:1] for k, v in hypers.items()}, full_cov=True)
    emp = torch.cov(draws.T)
    assert (draws.mean(0) - mean[0]).abs().max() < 4 * C[0].diagonal().max().sqrt() / S ** 0.5 + 1e-6
    assert (emp - C[0]).abs().max() < 0.25


@pytest.mark.parametrize("bad,match", [
    (dict(X=torch.zeros(3, 1), y=torch.zeros(4)), "differ in length"),
    (dict(X=torch.zeros(3, 1), y=torch.tensor([0.0, float("nan"), 1.0])), "NaN"),
    (dict(X=torch.zeros(3, 1, 1), y=torch.zeros(3)), "shape"),
    (dict(X=torch.zeros(3, 1), y=torch.zeros(3, 1)), "flatten"),
    (dict(X=torch.zeros(3, 1), y=torch.zeros(3), kernel="cosine"), "kernel must be one of"),
    (dict(X=torch.zeros(3, 1), y=torch.zeros(3), noise=0.0), "positive"),
    (dict(X=torch.zeros(3, 1), y=torch.zeros(3), priors={"period": dist.LogNormal(0.0, 1.0)}), "noise_prior"),
])
def test_gp_bad_inputs(bad, match):
    with pytest.raises(ValueError, match=match):
        GP(**bad)


def test_gp_example_writes_metrics_and_figures(tmp_path):
    import importlib.util
    import json
    from pathlib import Path
    path = Path(__file__).resolve().parents[1] / "examples" / "gp_fit.py"
    spec = importlib.util.spec_from_file_location("gp_fit", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    args = mod.build_parser().parse_args(["--num-samples", "30", "--warmup", "30", "--chains", "2",
                                          "--out", str(tmp_path)])
    assert mod.main(args) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert all(not isinstance(v, (dict, list)) for v in metrics.values())          # flat
    assert {"lengthscale_r_hat", "variance_ess", "divergences", "max_abs_error_at_data"} <= set(metrics)
    assert {"gp_hyperparameters.png", "gp_predictive.png"} <= {p.name for p in tmp_path.iterdir()}
