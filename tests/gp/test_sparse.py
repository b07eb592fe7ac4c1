"""The inducing-point GP (VFE): exact when the inducing inputs are the data; fits a larger set."""

import math

import pytest
import torch

from pyroml.gp import GP
from pyroml.gp.kernels import kernel_matrix
from pyroml.gp.sparse import SparseGP
from tests.gp.helpers import data


def test_sparse_equals_exact_when_inducing_points_are_the_inputs():
    X, y = data(12, d=2)
    sp = SparseGP(X, y, num_inducing=12, kernel="matern52", jitter=1e-10)
    sp.Z = sp.Xt.clone()
    log_h = {"lengthscale_0": math.log(0.5), "lengthscale_1": math.log(0.8), "variance": 0.2, "noise": math.log(0.01)}
    sp.log_hypers = {k: torch.tensor(v, dtype=torch.float64) for k, v in log_h.items()}
    gp = GP(X, y, kernel="matern52", jitter=1e-10)
    hypers = {k: torch.tensor([math.exp(v)], dtype=torch.float64) for k, v in log_h.items()}
    Xs = torch.rand(9, 2, dtype=torch.float64) * 2 - 1
    m1, v1 = sp.predict(Xs)
    m2, v2 = gp.predict(Xs, hypers)
    assert torch.allclose(m1, m2, rtol=1e-6, atol=1e-8) and torch.allclose(v1, v2, rtol=1e-6, atol=1e-8)
    h = {k: v[0] for k, v in hypers.items() if k != "noise"}
    K = kernel_matrix("matern52", sp.Xt, sp.Xt, h) + 0.01 * torch.eye(12, dtype=torch.float64)
    exact = torch.distributions.MultivariateNormal(torch.zeros(12, dtype=torch.float64), K).log_prob(sp.yt)
    assert float(sp.bound()) == float(exact) or abs(float(sp.bound()) - float(exact)) < 1e-6


def direct_bound(sp, log_h, Z):
    """Titsias' bound written out with dense N x N matrices: log N(y | 0, Q + s2 I) - tr(Kff - Q) / 2 s2."""
    h = {k: v.exp() for k, v in log_h.items() if k != "noise"}
    s2 = log_h["noise"].exp()
    Kuu = kernel_matrix(sp.kernel, Z, Z, h) + sp.jitter * torch.eye(Z.shape[0], dtype=torch.float64)
    Kuf = kernel_matrix(sp.kernel, Z, sp.Xt, h)
    Q = Kuf.T @ torch.linalg.solve(Kuu, Kuf)
    n = sp.Xt.shape[0]
    cov = Q + s2 * torch.eye(n, dtype=torch.float64)
    fit = torch.distributions.MultivariateNormal(torch.zeros(n, dtype=torch.float64), cov).log_prob(sp.yt)
    Kff = kernel_matrix(sp.kernel, sp.Xt, sp.Xt, h)
    return fit - (Kff.diagonal().sum() - Q.diagonal().sum()) / (2 * s2)


KERNELS = ["rbf", "matern32", "rbf*periodic", "rbf+matern52"]


def point(sp, shift=0.15):
    """Log hyperparameters away from the start (each its own value), and the inducing inputs."""
    return {k: v + shift * (i - 1) for i, (k, v) in enumerate(sp.log_hypers.items())}, sp.Z


@pytest.mark.parametrize("kernel", KERNELS)
def test_whitened_bound_equals_the_direct_formula(kernel, monkeypatch):
    X, y = data(60, seed=1, d=2)
    sp = SparseGP(X, y, num_inducing=9, kernel=kernel, seed=3)
    log_h, Z = point(sp)
    direct = float(direct_bound(sp, log_h, Z))
    assert float(sp.bound(log_h, Z)) == pytest.approx(direct, rel=1e-10, abs=1e-9)
    monkeypatch.setattr("pyroml.gp.sparse.chunk_size", lambda M: 7)     # the statistics summed over 9 chunks
    assert float(sp.bound(log_h, Z)) == pytest.approx(direct, rel=1e-10, abs=1e-9)


@pytest.mark.parametrize("kernel", KERNELS)
def test_chained_gradient_equals_autograd(kernel, monkeypatch):
    monkeypatch.setattr("pyroml.gp.sparse.chunk_size", lambda M: 16)    # several chunks
    X, y = data(50, seed=2, d=2)
    sp = SparseGP(X, y, num_inducing=8, kernel=kernel, seed=1)
    log_h, Z = point(sp)
    value, g_h, g_Z = sp.loss_and_grad(log_h, Z)
    leaves = {k: v.clone().requires_grad_(True) for k, v in log_h.items()}
    Zl = Z.clone().requires_grad_(True)
    loss = -(sp.bound(leaves, Zl) + sp.log_prior(leaves)) / 50
    *auto_h, auto_Z = torch.autograd.grad(loss, [*leaves.values(), Zl])
    assert value == pytest.approx(float(loss.detach()), rel=1e-12)
    for (k, a) in zip(leaves, auto_h):
        assert float(g_h[k]) == pytest.approx(float(a), rel=1e-8, abs=1e-11), k
    assert g_Z is not None and torch.allclose(g_Z, auto_Z, rtol=1e-8, atol=1e-11)
    assert sp.loss_and_grad(log_h, Z, learn_inducing=False)[2] is None


def test_chained_gradient_with_fixed_noise_equals_autograd():
    X, y = data(30, seed=3, d=2)
    sp = SparseGP(X, y, num_inducing=6, kernel="matern52", noise=0.02)
    assert "noise" not in sp.log_hypers and sp.noise == pytest.approx(0.02 / sp.output_transform.scale ** 2)
    log_h, Z = point(sp)
    fixed = {**log_h, "noise": torch.tensor(math.log(sp.noise), dtype=torch.float64)}
    assert float(sp.bound(log_h, Z)) == pytest.approx(float(direct_bound(sp, fixed, Z)), rel=1e-10)
    _, g_h, g_Z = sp.loss_and_grad(log_h, Z)
    leaves = {k: v.clone().requires_grad_(True) for k, v in log_h.items()}
    Zl = Z.clone().requires_grad_(True)
    loss = -(sp.bound(leaves, Zl) + sp.log_prior(leaves)) / 30
    *auto_h, auto_Z = torch.autograd.grad(loss, [*leaves.values(), Zl])
    assert torch.allclose(torch.stack([g_h[k] for k in leaves]), torch.stack(auto_h), rtol=1e-8, atol=1e-11)
    assert g_Z is not None and torch.allclose(g_Z, auto_Z, rtol=1e-8, atol=1e-11)


def test_a_failed_factorisation_is_rejected_mid_fit_and_raised_at_the_start(monkeypatch):
    X, y = data(60, seed=6, d=1)
    sp = SparseGP(X, y, num_inducing=6, kernel="rbf")
    real, calls, start = sp.loss_and_grad, [], dict(sp.log_hypers)

    def flaky(log_h, Z, learn_inducing=True):            # the first two trials far from the start fail
        calls.append(max(abs(float(log_h[k] - start[k])) for k in start) > 0.2)
        if calls[-1] and sum(calls) <= 2:
            raise torch.linalg.LinAlgError("not positive definite")
        return real(log_h, Z, learn_inducing)

    monkeypatch.setattr(sp, "loss_and_grad", flaky)
    sp.fit(max_iter=100)
    good = SparseGP(X, y, num_inducing=6, kernel="rbf").fit(max_iter=100)
    assert sum(calls) > 2 and sp.fit_info["converged"] and len(calls) > 10 and sp.fit_info["failed_evaluations"] == 2
    assert sp.fit_info["objective"] == pytest.approx(good.fit_info["objective"], abs=1e-6)

    def broken(log_h, Z, learn_inducing=True):
        raise torch.linalg.LinAlgError("not positive definite")
    monkeypatch.setattr(sp, "loss_and_grad", broken)
    with pytest.raises(torch.linalg.LinAlgError):
        sp.fit()


def test_gradient_matches_finite_differences_in_the_inducing_inputs():
    X, y = data(40, seed=4, d=1)
    sp = SparseGP(X, y, num_inducing=5, kernel="matern52", seed=0)
    log_h, Z = point(sp)
    _, _, g_Z = sp.loss_and_grad(log_h, Z)
    assert g_Z is not None
    eps = 1e-6
    for j in range(5):
        dZ = torch.zeros_like(Z)
        dZ[j, 0] = eps
        fd = (sp.loss_and_grad(log_h, Z + dZ)[0] - sp.loss_and_grad(log_h, Z - dZ)[0]) / (2 * eps)
        assert float(g_Z[j, 0]) == pytest.approx(fd, rel=1e-5, abs=1e-8)


def test_fit_converges_and_improves_the_bound():
    X, y = data(300, seed=5, d=2)
    y = y + 0.1 * torch.randn(300, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    sp = SparseGP(X, y, num_inducing=12, kernel="rbf")
    before = float(sp.bound() + sp.log_prior(sp.log_hypers))
    Z0 = sp.Z.clone()
    sp.fit(max_iter=200)
    after = float(sp.bound() + sp.log_prior(sp.log_hypers))
    assert after > before + 10 and sp.fit_info["converged"] and sp.fit_info["iterations"] < 200
    assert sp.fit_info["failed_evaluations"] == 0
    assert sp.fit_info["objective"] == pytest.approx(-after / 300, rel=1e-12)
    assert not torch.equal(sp.Z, Z0)
    _, g_h, g_Z = sp.loss_and_grad(sp.log_hypers, sp.Z)
    assert max(abs(float(v)) for v in g_h.values()) < 1e-4 and float(g_Z.abs().max()) < 1e-4     # a stationary point
    fixed = SparseGP(X, y, num_inducing=12, kernel="rbf").fit(max_iter=200, learn_inducing=False)
    assert torch.equal(fixed.Z, Z0)


def test_sparse_gp_fits_many_points_with_few_inducing_inputs():
    g = torch.Generator().manual_seed(0)
    X = torch.rand(1000, 1, generator=g, dtype=torch.float64) * 10
    f = lambda x: torch.sin(x[:, 0]) + 0.3 * torch.cos(3 * x[:, 0])  # noqa: E731
    y = f(X) + 0.1 * torch.randn(1000, generator=g, dtype=torch.float64)
    sp = SparseGP(X, y, num_inducing=20, kernel="rbf").fit()
    Xs = torch.linspace(0.2, 9.8, 200, dtype=torch.float64)[:, None]
    m, v = sp.predict(Xs, noiseless=True)
    assert ((m - f(Xs)) ** 2).mean().sqrt() < 0.05 and (v > 0).all()
    _, vn = sp.predict(Xs, batch_size=64)
    assert abs(float((vn - v).mean()) - 0.01) < 0.005                           # the noise learned: 0.1^2


def test_deprecated_steps_and_lr_warn_and_bound_the_iterations():
    X, y = data(40, d=1)
    with pytest.warns(FutureWarning, match="max_iter"):
        sp = SparseGP(X, y, num_inducing=5).fit(steps=3)
    assert sp.fit_info["iterations"] <= 3 and not sp.fit_info["converged"]
    with pytest.warns(FutureWarning, match="ignored"):
        SparseGP(X, y, num_inducing=5).fit(max_iter=2, lr=0.1)


def test_kmeans_pp_start_spreads_the_inducing_inputs_and_skips_duplicates():
    X = torch.cat([torch.zeros(500, 2), torch.rand(9, 2, generator=torch.Generator().manual_seed(1)) + 1])
    y = torch.zeros(509)
    sp = SparseGP(X, y, num_inducing=30, normalize=False)
    assert sp.Z.shape == (10, 2)                                 # only 10 distinct inputs: no repeated row
    assert len({tuple(z) for z in sp.Z.tolist()}) == 10
    assert all(any(torch.equal(z, x) for x in sp.Xt) for z in sp.Z)


@pytest.mark.parametrize("make, match", [
    (lambda X, y: SparseGP(X, y, num_inducing=0), "num_inducing must be an integer >= 1"),
    (lambda X, y: SparseGP(X, y[:-1]), "differ in length"),
    (lambda X, y: SparseGP(X.masked_fill(X > 0.5, float("nan")), y), "X contains NaN"),
    (lambda X, y: SparseGP(X, y.masked_fill(y > 0.5, float("nan"))), "y contains NaN"),
    (lambda X, y: SparseGP(X, y, noise=-1.0), "noise must be a finite number > 0"),
    (lambda X, y: SparseGP(X, y, num_inducing=4).fit(max_iter=0), "max_iter must be an integer >= 1"),
    (lambda X, y: SparseGP(X, y, num_inducing=4).fit(tol=-1e-3), "tol must be a finite number >= 0"),
    (lambda X, y: SparseGP(X, y, num_inducing=4).predict(X, batch_size=0), "batch_size must be an integer >= 1"),
])
def test_bad_input_gets_a_clear_error(make, match):
    X, y = data(20, d=1)
    with pytest.raises(ValueError, match=match):
        make(X, y)
