"""Sums and products of kernels: names, values, gradients (sum and product rules) and their use
by the exact GP (MAP, NUTS, SVI), its closed-form potential and the sparse GP."""

import math

import numpy as np
import pyro.contrib.gp as cgp
import pyro.distributions as dist
import pytest
import torch
from pyro.nn import PyroSample

from pyroml.gp import GP, SparseGP
from pyroml.gp.kernels import (
    NUMPY,
    RBF,
    TORCH,
    Matern52,
    Periodic,
    Product,
    Sum,
    get_kernel,
    hyper_names,
    kernel_matrix,
    parse_kernel,
)
from pyroml.gp.potential import ClosedFormPotential
from tests.gp.helpers import assert_closed_form_matches_autograd, data

SPECS = ["rbf+periodic", "rbf*periodic", "(rbf+matern52)*periodic", "matern32+matern32",
         "exponential*rbf+periodic", "periodic*(matern12+rbf)*matern52"]


def _values(names, S=None):
    """A positive value per hyperparameter name, distinct per name (tensors of shape (S,) if S)."""
    out = {}
    for i, n in enumerate(names):
        v = 0.4 + 0.23 * i
        out[n] = v if S is None else v * torch.linspace(0.7, 1.4, S, dtype=torch.float64)
    return out


@pytest.mark.parametrize("ard", [False, True])
@pytest.mark.parametrize("spec", SPECS)
def test_composite_gradients_match_autograd(spec, ard):
    """dK/dlog(h) of a sum or product from the parts' (sum and product rules) against autograd
    of its value, for S = 3 settings in 2-d, isotropic and ARD, zero distances included."""
    k = get_kernel(spec)
    X, _ = data(5, d=2)
    X2 = torch.cat([X, data(3, seed=1, d=2)[0]])
    names = hyper_names(k, 2, ard)
    assert len(set(names)) == len(names)
    log_h = {n: v.log().requires_grad_(True) for n, v in _values(names, S=3).items()}
    K, grads = k.evaluate(k.pairwise(X, X2), {n: v.exp()[:, None, None] for n, v in log_h.items()}, TORCH, grad=True)
    assert K.shape == (3, 5, 8) and set(grads) == set(names)
    W = torch.randn(K.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    auto = torch.autograd.grad((K * W).sum(), [log_h[n] for n in names])
    for name, g in zip(names, auto):
        assert torch.allclose(g, (grads[name] * W).sum((-1, -2)), rtol=1e-9, atol=1e-12), name


@pytest.mark.parametrize("spec", SPECS)
def test_composite_numpy_and_torch_agree(spec):
    k = get_kernel(spec)
    X, _ = data(6, d=2)
    names = hyper_names(k, 2, True)
    hn = _values(names)
    ht = {n: torch.tensor(v, dtype=torch.float64) for n, v in hn.items()}
    Kn, gn = k.evaluate(k.pairwise(X.numpy(), X.numpy()), hn, NUMPY, grad=True)
    Kt, gt = k.evaluate(k.pairwise(X, X), ht, TORCH, grad=True)
    np.testing.assert_allclose(Kn, Kt.numpy(), rtol=1e-12, atol=1e-14)
    for n in names:
        np.testing.assert_allclose(gn[n], gt[n].numpy(), rtol=1e-12, atol=1e-14)
    assert torch.allclose(Kt.diagonal(), torch.as_tensor(k.diag(ht), dtype=torch.float64).expand(6), rtol=1e-12)


def test_sum_and_product_values_are_the_parts_summed_and_multiplied():
    """Against the families' own matrices and pyro.contrib.gp's Sum and Product; a product's
    second factor has no variance of its own (fixed at 1)."""
    X, _ = data(5, d=1)
    h = {"lengthscale": 0.6, "variance": 1.7, "period": 0.9}
    t = {n: torch.tensor(v, dtype=torch.float64) for n, v in h.items()}
    rbf, per = kernel_matrix("rbf", X, X, t), kernel_matrix("periodic", X, X, t)
    per1 = kernel_matrix("periodic", X, X, {**t, "variance": torch.tensor(1.0, dtype=torch.float64)})
    hs = {f"{p}.{n}": v for p in ("rbf", "periodic") for n, v in t.items() if n != "period" or p == "periodic"}
    assert torch.allclose(kernel_matrix("rbf+periodic", X, X, hs), rbf + per, rtol=1e-12)
    hp = {k: v for k, v in hs.items() if k != "periodic.variance"}
    assert torch.allclose(kernel_matrix("rbf*periodic", X, X, hp), rbf * per1, rtol=1e-12)
    ka, kb = cgp.kernels.RBF(1, variance=t["variance"], lengthscale=t["lengthscale"]), \
        cgp.kernels.Periodic(1, variance=torch.tensor(1.0), lengthscale=t["lengthscale"], period=t["period"])
    with torch.no_grad():
        pyro_product = cgp.kernels.Product(ka, kb).double()(X)
    assert torch.allclose(kernel_matrix("rbf*periodic", X, X, hp), pyro_product, atol=1e-10)


def test_names_operators_and_spec_grammar():
    k = parse_kernel(" RBF + periodic * Matern52 ")                 # * binds tighter than +
    assert isinstance(k, Sum) and k.name == "rbf+periodic*matern52"
    assert k.hypers == ("rbf.lengthscale", "rbf.variance", "periodic.lengthscale", "periodic.variance",
                        "periodic.period", "matern52.lengthscale")
    assert (RBF() + Periodic() * Matern52()).hypers == k.hypers
    p = (RBF() + Matern52()) * Periodic()
    assert isinstance(p, Product) and p.name == "(rbf+matern52)*periodic" and get_kernel(p.name).hypers == p.hypers
    assert get_kernel("rbf*rbf*rbf").hypers == ("rbf1.lengthscale", "rbf1.variance", "rbf2.lengthscale",
                                                "rbf3.lengthscale")                            # flattened, numbered
    assert hyper_names("rbf+periodic", 2, True)[:3] == ("rbf.lengthscale_0", "rbf.lengthscale_1", "rbf.variance")
    assert get_kernel("matern12").name == "exponential"
    for bad, match in [("rbf+", "incomplete"), ("(rbf+periodic", "unclosed"), ("rbf periodic", "after"),
                       ("rbf+cosine", "unknown kernel 'cosine' in"), ("rbf-periodic", "cannot read")]:
        with pytest.raises(ValueError, match=match):
            get_kernel(bad)
    with pytest.raises(TypeError, match=r"combines pyroml\.gp kernels"):
        Sum(RBF(), cgp.kernels.RBF(1))
    with pytest.raises(ValueError, match="at least two"):
        Product(RBF())


@pytest.mark.parametrize("spec,learned_noise", [("rbf+periodic", True), ("(rbf+matern52)*periodic", False),
                                                ("matern32*exponential", True)])
def test_composite_closed_form_potential_matches_autograd(spec, learned_noise):
    X, y = data(7, d=2)
    gp = GP(X, y, kernel=spec, noise=None if learned_noise else 1e-4)
    H = len(gp.hyper_names)
    theta = torch.linspace(-0.5, 0.5, H, dtype=torch.float64)
    if learned_noise:
        theta[-1] = -4.0
    assert_closed_form_matches_autograd(gp, theta)


@pytest.mark.parametrize("spec", ["rbf", "periodic", "rbf*periodic"])
def test_large_n_torch_potential_equals_the_numpy_one(spec, monkeypatch):
    """The Cholesky-inverse torch path used from LARGE points on gives the NumPy path's value
    and gradient (learned noise included)."""
    X, y = data(40, d=2)
    gp = GP(X, y, kernel=spec)
    theta = torch.linspace(-0.6, 0.4, len(gp.hyper_names), dtype=torch.float64).tolist()
    small = gp.closed_form_potential()
    monkeypatch.setattr(ClosedFormPotential, "LARGE", 10)
    large = gp.closed_form_potential()
    assert large.large and not small.large
    (v1, g1), (v2, g2) = small(theta), large(theta)
    assert v1 == pytest.approx(v2, rel=1e-11) and np.allclose(g1, g2, rtol=1e-9, atol=1e-11)
    assert large([40.0] + theta[1:])[0] == math.inf


def test_gp_with_composite_kernel_priors_map_nuts_svi():
    """Priors by kind or per part, unknown ones refused; MAP, NUTS and SVI give every named
    hyperparameter; the pointwise predictive variance (from k(x, x) of the parts) is the diagonal of the full one."""
    X, y = data(8, d=1)
    special = dist.LogNormal(0.3, 0.2)
    gp = GP(X, y, kernel="rbf+periodic", priors={"periodic.period": special, "lengthscale": dist.LogNormal(0.0, 1.0)})
    loc = lambda name: float(gp.prior(name).loc)  # noqa: E731
    assert loc("periodic.period") == pytest.approx(0.3) and loc("rbf.lengthscale") == 0.0 == loc("periodic.lengthscale")
    assert loc("rbf.variance") == 0.0 and float(gp.prior("rbf.variance").scale) == 1.0          # the default
    with pytest.raises(ValueError, match=r"periodic\.period"):
        GP(X, y, kernel="rbf+periodic", priors={"matern52.period": special})
    names = ["rbf.lengthscale", "rbf.variance", "periodic.lengthscale", "periodic.variance", "periodic.period", "noise"]
    assert gp.hyper_names == names
    post = gp.map_estimate(restarts=2, steps=20)
    nuts = gp.sample_posterior(10, 10, num_chains=1, seed=0)
    svi = gp.fit("map", steps=5)
    for p in (post, nuts, svi):
        assert set(p.samples) == set(names) and all(torch.isfinite(v).all() for v in p.samples.values())
    hypers = {k: v[:1] for k, v in post.samples.items()}
    product = GP(X, y, kernel="rbf*periodic")
    product.fit("map", steps=10, lr=0.1)
    assert float(product.gpr.kernel.kern1.variance) == 1.0                 # SVI leaves the factor's variance at 1
    Xs = torch.tensor([[-0.3], [0.2], [50.0]], dtype=torch.float64)   # the last far from the data
    var, cov = gp.conditional(Xs, hypers).var, gp.conditional(Xs, hypers, full_cov=True).var
    assert torch.allclose(var, cov.diagonal(dim1=-2, dim2=-1), rtol=1e-9)            # k(x, x) from the parts


def test_pyro_composite_instances_and_their_priors():
    X, y = data(6, d=2)
    a, b = cgp.kernels.RBF(input_dim=2), cgp.kernels.Periodic(input_dim=2)
    b.period = PyroSample(dist.LogNormal(1.5, 0.1))
    gp = GP(X, y, kernel=cgp.kernels.Product(a, b))
    assert gp.kernel_name == "rbf*periodic" and float(gp.priors["periodic.period"].loc) == 1.5
    assert "periodic.variance" not in gp.priors
    with pytest.raises(ValueError, match="input_dim=2"):
        GP(X, y, kernel=cgp.kernels.Sum(cgp.kernels.RBF(input_dim=2), cgp.kernels.Periodic(input_dim=1)))
    with pytest.raises(ValueError, match="input_dim=2"):
        SparseGP(X, y, kernel=cgp.kernels.Sum(cgp.kernels.RBF(input_dim=1), cgp.kernels.Periodic(input_dim=2)))
    with pytest.raises(TypeError, match="not a constant"):
        GP(X, y, kernel=cgp.kernels.Sum(cgp.kernels.RBF(input_dim=2), 1.0))


def test_sparse_gp_with_composite_kernel_equals_exact_at_the_data():
    X, y = data(10, d=1)
    sp = SparseGP(X, y, num_inducing=10, kernel="rbf*periodic", jitter=1e-10)
    sp.Z = sp.Xt.clone()
    log_h = dict(zip(sp.hyper_names, [math.log(0.5), 0.1, math.log(0.9), math.log(0.7), math.log(0.01)]))
    sp.log_hypers = {k: torch.tensor(v, dtype=torch.float64) for k, v in log_h.items()}
    gp = GP(X, y, kernel="rbf*periodic", jitter=1e-10)
    assert gp.hyper_names == sp.hyper_names
    Xs = torch.linspace(-1.2, 1.2, 9, dtype=torch.float64)
    m1, v1 = sp.predict(Xs)
    m2, v2 = gp.predict(Xs, {k: torch.tensor([math.exp(v)], dtype=torch.float64) for k, v in log_h.items()})
    assert torch.allclose(m1, m2, rtol=1e-6, atol=1e-8) and torch.allclose(v1, v2, rtol=1e-6, atol=1e-8)
