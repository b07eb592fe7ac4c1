import math

import pyro
import pytest
import torch
from hypothesis import given, strategies as st

import pyroml
from pyroml import bo
from pyroml.gp import GP, kernel_matrix, study_problem


def _data(n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.rand(n, 1, generator=g, dtype=torch.float64) * 2 - 1
    return X, torch.sin(3 * X[:, 0])


@pytest.mark.parametrize("kernel", ["rbf", "matern32", "matern52", "exponential", "periodic"])
def test_predictive_equals_closed_form_conditional(kernel):
    X, y = _data()
    gp = GP(X, y, kernel=kernel, noise=1e-3)
    hypers = {h: torch.tensor([0.7]) for h in gp.hyper_names}
    Xs = torch.linspace(-1, 1, 7, dtype=torch.float64)[:, None]
    h1 = {k: v.double().reshape(()) for k, v in hypers.items()}
    K = kernel_matrix(kernel, X, X, h1) + 1e-3 * torch.eye(6, dtype=torch.float64)
    Ks = kernel_matrix(kernel, X, Xs, h1)
    Kss = kernel_matrix(kernel, Xs, Xs, h1)
    mean = Ks.T @ torch.linalg.solve(K, y)
    var = Kss.diagonal() - (Ks * torch.linalg.solve(K, Ks)).sum(0) + 1e-3
    m, v = gp.predict(Xs, hypers)
    assert torch.allclose(m, mean, atol=1e-8) and torch.allclose(v, var, atol=1e-8)


@pytest.mark.parametrize("kernel", ["rbf", "matern52", "periodic"])
def test_closed_form_potential_gradient_matches_autograd(kernel):
    X, y = _data()
    gp = GP(X, y, kernel=kernel)
    theta = torch.tensor([-0.3, 0.2, 0.1][:len(gp.hyper_names)], dtype=torch.float64, requires_grad=True)
    u = gp.potential(theta)
    (g,) = torch.autograd.grad(u, theta)
    v, g2 = gp._numpy_potential(theta.detach().numpy())
    assert v == pytest.approx(float(u.detach()), abs=1e-6)  # priors hold float32 constants
    assert torch.allclose(g, torch.as_tensor(g2), rtol=1e-6, atol=1e-9)


@given(s=st.integers(2, 30), seed=st.integers(0, 1000))
def test_mc_predictive_variance_at_least_mean_of_variances(s, seed):
    X, y = _data(seed=seed % 7)
    gp = GP(X, y)
    g = torch.Generator().manual_seed(seed)
    hypers = {"lengthscale": 0.1 + torch.rand(s, generator=g, dtype=torch.float64),
              "variance": 0.5 + torch.rand(s, generator=g, dtype=torch.float64)}
    Xs = torch.linspace(-1.5, 1.5, 11, dtype=torch.float64)
    _, v = gp.predict(Xs, hypers)
    per = [gp.predict(Xs, {k: t[i:i + 1] for k, t in hypers.items()})[1] for i in range(s)]
    assert (v >= torch.stack(per).mean(0) - 1e-12).all()


def test_nuts_on_tiny_problem_returns_diagnostics():
    X, y = _data(4)
    post = GP(X, y).sample_posterior(num_samples=40, warmup_steps=40, num_chains=2, seed=1)
    for h in ("lengthscale", "variance"):
        assert post.samples[h].shape == (80,) and post.chains[h].shape == (2, 40)
        d = post.diagnostics[h]
        assert math.isfinite(d["r_hat"]) and d["ess"] > 0
    assert len(post.diagnostics["divergences"]) == 2
    m, v = post.predict(torch.linspace(-1, 1, 5))
    assert m.shape == v.shape == (5,) and (v > 0).all()
    assert "r_hat" in post.table()


def test_svi_map_through_the_engine_and_no_shared_parameters():
    X, y = _data()
    a, b = GP(X, y), GP(X, 3 * y)
    pa = a.fit("map", steps=150, lr=0.05)
    pb = b.fit("map", steps=150, lr=0.05)
    assert pa.samples["variance"].shape == (1,)
    assert float(pb.samples["variance"][0]) > float(pa.samples["variance"][0])  # each fit its own data
    assert len(pyro.get_param_store()) == 0
    m, _ = pa.predict(X)
    assert (m - y).abs().max() < 0.1


def test_function_samples_survive_repeated_inputs():
    X, y = _data()
    gp = GP(X, y, noise=1e-6)
    Xs = torch.cat([X[:, 0], X[:, 0], torch.linspace(-1, 1, 200, dtype=torch.float64)])
    draws = gp.sample_functions(Xs, {"lengthscale": torch.tensor([0.5]), "variance": torch.tensor([1.0])})
    assert torch.isfinite(draws).all() and draws.shape == (1, Xs.shape[0])


@pytest.mark.parametrize("bad", [
    dict(X=torch.zeros(3, 1), y=torch.zeros(4)),
    dict(X=torch.zeros(3, 1), y=torch.tensor([0.0, float("nan"), 1.0])),
    dict(X=torch.zeros(3, 1, 1), y=torch.zeros(3)),
])
def test_gp_bad_inputs(bad):
    with pytest.raises(ValueError):
        GP(bad["X"], bad["y"])


def test_bo_finds_minimiser_1d():
    f = lambda x: ((x - 0.3) ** 2).sum(-1)  # noqa: E731
    res = bo.minimize(f, (-1.0, 1.0), torch.tensor([-1.0, 0.0, 1.0]), iterations=6, seed=0)
    assert abs(float(res.x_best[0]) - 0.3) < 0.05 and res.y_best < 1e-3 and res.X.shape == (9, 1) and len(res.trace) == 6
    again = bo.minimize(f, (-1.0, 1.0), torch.tensor([-1.0, 0.0, 1.0]), iterations=6, seed=0)
    assert torch.equal(res.X, again.X)  # seeded: repeatable


def test_bo_finds_minimiser_2d():
    f = lambda x: ((x - torch.tensor([0.2, -0.4], dtype=x.dtype)) ** 2).sum(-1)  # noqa: E731
    bounds = torch.tensor([[-1.0, -1.0], [1.0, 1.0]])
    res = bo.minimize(f, bounds, iterations=12, seed=0, n_candidates=1024)
    assert res.y_best < 0.01


def test_bo_study_problem_default_method():
    f, X0, bounds, x_min, f_min = study_problem()
    res = bo.minimize(f, bounds, X0, iterations=10, seed=3)
    assert res.y_best - f_min <= 0.01


def test_bo_bad_inputs():
    f = lambda x: x.sum(-1)  # noqa: E731
    with pytest.raises(ValueError, match="outside the bounds"):
        bo.minimize(f, (-1.0, 1.0), torch.tensor([0.0, 2.0]))
    with pytest.raises(ValueError, match="finite"):
        bo.minimize(lambda x: torch.full((x.shape[0],), float("nan")), (-1.0, 1.0), torch.tensor([0.0]))
    with pytest.raises(ValueError, match="values for"):
        bo.minimize(lambda x: torch.zeros(1), (-1.0, 1.0), torch.tensor([0.0, 0.5]))
    with pytest.raises(ValueError, match="bounds"):
        bo.minimize(f, (1.0, -1.0), torch.tensor([0.0]))
    with pytest.raises(ValueError, match="method"):
        bo.minimize(f, (-1.0, 1.0), torch.tensor([0.0]), method="ucb")


def test_gp_and_bo_cli(tmp_path):
    from pyroml.cli import main
    assert main(["gp", "--num-samples", "30", "--warmup", "30", "--chains", "2", "--out", str(tmp_path / "gp")]) == 0
    assert (tmp_path / "gp" / "gp_predictive.png").exists() and (tmp_path / "gp" / "metrics.json").exists()
    assert main(["bo", "--iterations", "2", "--out", str(tmp_path / "bo")]) == 0
    assert (tmp_path / "bo" / "bo_iterations.png").exists() and (tmp_path / "bo" / "result.json").exists()
