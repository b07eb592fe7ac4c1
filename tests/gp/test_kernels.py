import numpy as np
import pytest
import torch

from pyroml.gp.kernels import FAMILIES, KERNELS, NUMPY, TORCH, get_kernel, hyper_names, kernel_matrix
from tests.gp.helpers import data


def _settings(kernel, S=None):
    """Hyperparameter values of ``kernel``: floats, or tensors of shape ``(S,)``."""
    base = {"lengthscale": 0.6, "variance": 1.3, "period": 0.8}
    names = FAMILIES[kernel].hypers
    if S is None:
        return {h: base[h] for h in names}
    return {h: base[h] * torch.linspace(0.7, 1.4, S, dtype=torch.float64) for h in names}


@pytest.mark.parametrize("kernel", sorted(KERNELS))
def test_kernel_matrix_matches_pyro_contrib_kernels(kernel):
    X, _ = data(5, d=2)
    Z, _ = data(4, seed=1, d=2)
    k = KERNELS[kernel](input_dim=2, variance=torch.tensor(1.3), lengthscale=torch.tensor(0.6)).double()
    hp = {"variance": torch.tensor(1.3, dtype=torch.float64), "lengthscale": torch.tensor(0.6, dtype=torch.float64)}
    if kernel == "periodic":
        k.period = torch.tensor(0.8, dtype=torch.float64)
        hp["period"] = torch.tensor(0.8, dtype=torch.float64)
    with torch.no_grad():
        assert torch.allclose(kernel_matrix(kernel, X, Z, hp), k(X, Z), atol=1e-10)


@pytest.mark.parametrize("kernel", sorted(KERNELS))
def test_kernel_gradient_in_log_hyperparameters_matches_autograd(kernel):
    """Each family's closed-form dK/dlog(h) against autograd, through the same formula in torch,
    for a batch of S = 3 settings (the diagonal, r = 0, included)."""
    family = get_kernel(kernel)
    X, _ = data(5, d=2)
    Z, _ = data(4, seed=1, d=2)
    X2 = torch.cat([X, Z])                                              # repeats X: zero distances
    log_h = {h: v.log().requires_grad_(True) for h, v in _settings(kernel, S=3).items()}
    h = {k: v.exp()[:, None, None] for k, v in log_h.items()}
    K, grads = family.evaluate(family.pairwise(X, X2), h, TORCH, grad=True)
    assert K.shape == (3, 5, 9) and set(grads) == set(family.hypers)
    W = torch.randn(3, 5, 9, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    auto = torch.autograd.grad((K * W).sum(), [log_h[n] for n in family.hypers])
    for name, g in zip(family.hypers, auto):
        assert grads[name].shape == K.shape
        assert torch.allclose(g, (grads[name] * W).sum((-1, -2)), rtol=1e-9, atol=1e-12), name


@pytest.mark.parametrize("kernel", sorted(KERNELS))
def test_numpy_and_torch_paths_agree(kernel):
    """One formula, two array libraries: the NumPy value and gradients (the NUTS potential) equal
    the torch ones (the predictive) for a single setting."""
    family = get_kernel(kernel)
    X, _ = data(6, d=2)
    hn = _settings(kernel)
    ht = {k: torch.tensor(v, dtype=torch.float64) for k, v in hn.items()}
    Kn, gn = family.evaluate(family.pairwise(X.numpy(), X.numpy()), hn, NUMPY, grad=True)
    Kt, gt = family.evaluate(family.pairwise(X, X), ht, TORCH, grad=True)
    assert isinstance(Kn, np.ndarray) and isinstance(Kt, torch.Tensor)
    np.testing.assert_allclose(Kn, Kt.numpy(), rtol=1e-12, atol=1e-14)
    for name in family.hypers:
        np.testing.assert_allclose(gn[name], gt[name].numpy(), rtol=1e-12, atol=1e-14)
    assert torch.equal(kernel_matrix(kernel, X, X, ht), Kt)
    assert family.evaluate(family.pairwise(X, X), ht, TORCH)[1] is None        # no gradient unless asked


def test_unknown_kernel_name():
    with pytest.raises(ValueError, match="unknown kernel 'cosine'"):
        kernel_matrix("cosine", torch.zeros(2, 1), torch.zeros(2, 1), {})


@pytest.mark.parametrize("kernel", sorted(KERNELS))
def test_ard_gradients_match_autograd_and_reduce_to_isotropic(kernel):
    """ARD: dK/dlog(lengthscale_k) for each dimension against autograd (S = 2 settings, zero
    distances included); with equal lengthscales the values equal the isotropic kernel's."""
    family = get_kernel(kernel)
    X, _ = data(5, d=3)
    X2 = torch.cat([X, data(3, seed=1, d=3)[0]])
    base = _settings(kernel, S=2)
    names = hyper_names(kernel, 3, ard=True)
    assert names[:3] == ("lengthscale_0", "lengthscale_1", "lengthscale_2")
    vals = {n: base["lengthscale"] * (1 + 0.3 * int(n[-1])) if n.startswith("lengthscale_") else base[n] for n in names}
    log_h = {n: v.log().requires_grad_(True) for n, v in vals.items()}
    K, grads = family.evaluate(family.pairwise(X, X2), {n: v.exp()[:, None, None] for n, v in log_h.items()},
                               TORCH, grad=True)
    W = torch.randn(K.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    auto = torch.autograd.grad((K * W).sum(), [log_h[n] for n in names])
    for name, g in zip(names, auto):
        assert torch.allclose(g, (grads[name] * W).sum((-1, -2)), rtol=1e-9, atol=1e-12), name
    same = {n: (base["lengthscale"] if n.startswith("lengthscale_") else base[n]) for n in names}
    iso = kernel_matrix(kernel, X, X2, base)
    assert torch.allclose(kernel_matrix(kernel, X, X2, same), iso, rtol=1e-12)
