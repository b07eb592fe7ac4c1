"""The inducing-point GP (VFE): exact when the inducing inputs are the data; fits a larger set."""

import math

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


def test_sparse_gp_fits_many_points_with_few_inducing_inputs():
    g = torch.Generator().manual_seed(0)
    X = torch.rand(1000, 1, generator=g, dtype=torch.float64) * 10
    f = lambda x: torch.sin(x[:, 0]) + 0.3 * torch.cos(3 * x[:, 0])  # noqa: E731
    y = f(X) + 0.1 * torch.randn(1000, generator=g, dtype=torch.float64)
    sp = SparseGP(X, y, num_inducing=20, kernel="rbf").fit(steps=150, lr=0.05)
    Xs = torch.linspace(0.2, 9.8, 200, dtype=torch.float64)[:, None]
    m, v = sp.predict(Xs, noiseless=True)
    assert ((m - f(Xs)) ** 2).mean().sqrt() < 0.05 and (v > 0).all()
    _, vn = sp.predict(Xs)
    assert abs(float((vn - v).mean()) - 0.01) < 0.005                           # the noise learned: 0.1^2
