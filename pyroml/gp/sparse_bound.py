"""The collapsed (VFE / SGPR) bound from the data's two whitened statistics, and its gradient.

With :math:`L = \\mathrm{chol}(K_{uu})` and :math:`A = L^{-1}K_{uf}` ``(M, N)``, the data enter
Titsias' bound only through :math:`S = AA^\\top` ``(M, M)``, :math:`a = A\\tilde y` ``(M,)``,
:math:`\\tilde y^\\top\\tilde y` and :math:`\\operatorname{tr}K_{ff} = N k(x, x)` (stationary kernels):

.. math::

    C = S/\\sigma_n^2, \\quad L_B = \\mathrm{chol}(I + C), \\quad c = L_B^{-1}a/\\sigma_n^2,

    \\mathcal L = -\\tfrac N2 \\log 2\\pi\\sigma_n^2 - \\sum\\log\\mathrm{diag}\\,L_B
        - \\frac{\\tilde y^\\top\\tilde y}{2\\sigma_n^2} + \\tfrac12 c^\\top c
        - \\frac{N k(x, x)}{2\\sigma_n^2} + \\tfrac12\\operatorname{tr} C

(GPflow's SGPR form). :math:`S` and :math:`a` are accumulated over chunks of the data
(:func:`whitened_stats`: per chunk one triangular solve and one product, :math:`O(NM^2)` in all);
everything else is :math:`O(M^3)`. Whitening each chunk before the product keeps the rounding
error at :math:`\\epsilon\\,\\kappa(L)` rather than the :math:`\\epsilon\\,\\kappa(K_{uu})` of
forming :math:`L^{-1}(K_{uf}K_{fu})L^{-\\top}`, which made the objective too noisy for a line search
once :math:`K_{uu}` was ill-conditioned (smooth data, long lengthscales).

The gradient is chained by hand (:func:`whitened_stats_vjp`): autograd gives
:math:`G = \\partial\\mathcal L/\\partial S` and :math:`g = \\partial\\mathcal L/\\partial a` from the
:math:`M \\times M` part; with :math:`\\bar A = (G + G^\\top)A + g\\tilde y^\\top`,

.. math::

    \\frac{\\partial\\mathcal L}{\\partial K_{uf}} = L^{-\\top}\\bar A, \\qquad
    \\frac{\\partial\\mathcal L}{\\partial L} = -L^{-\\top}\\bar A A^\\top
        = -L^{-\\top}\\big((G + G^\\top)S + g\\,a^\\top\\big),

the first pushed back through each chunk's kernel matrix and the second through the Cholesky
factor of :math:`K_{uu}` to the hyperparameters and the inducing inputs (vector-Jacobian products of
the kernel alone: no graph over an :math:`(M, N)` matrix is ever built, and memory stays
:math:`O(M \\cdot \\mathrm{chunk})`).
"""

from __future__ import annotations

import math
from typing import Callable, Dict, List, NamedTuple, Optional, Tuple

import torch

from pyroml.gp.kernel_base import Kernel
from pyroml.gp.kernels import kernel_matrix

__all__ = ["Factors", "chunk_size", "kuu_cholesky", "whitened_stats", "whitened_stats_vjp", "factors",
           "collapsed_bound", "kmeans_pp"]

#: log hyperparameters -> (kernel hyperparameters, noise variance), differentiable
HyperMap = Callable[[Dict[str, torch.Tensor]], Tuple[Dict[str, torch.Tensor], torch.Tensor]]


def chunk_size(M: int) -> int:
    """Columns of :math:`K_{uf}` per chunk: about :math:`2^{21}` entries (16 MB in float64)."""
    return max(256, 2 ** 21 // max(M, 1))


def kuu_cholesky(kernel: Kernel, h: Dict[str, torch.Tensor], Z: torch.Tensor, jitter: float) -> torch.Tensor:
    """:math:`L = \\mathrm{chol}(K_{uu} + \\mathrm{jitter}\\,I)` ``(M, M)``.

    :raises torch.linalg.LinAlgError: when that is not positive definite (raise the jitter).
    """
    return torch.linalg.cholesky(kernel_matrix(kernel, Z, Z, h) + jitter * torch.eye(Z.shape[0], dtype=Z.dtype))


def whitened_stats(kernel: Kernel, h: Dict[str, torch.Tensor], Z: torch.Tensor, L: torch.Tensor,
                   X: torch.Tensor, y: torch.Tensor, chunk: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """:math:`S = AA^\\top` ``(M, M)`` and :math:`a = Ay` ``(M,)``, :math:`A = L^{-1}K_{uf}`, for inducing
    inputs ``Z`` ``(M, d)``, data ``X`` ``(N, d)``, ``y`` ``(N,)``, accumulated over chunks of ``chunk``
    data points (differentiable by autograd when its inputs are, e.g. for tests)."""
    M = Z.shape[0]
    S = Z.new_zeros(M, M)
    a = Z.new_zeros(M)
    for i in range(0, X.shape[0], chunk):
        A = torch.linalg.solve_triangular(L, kernel_matrix(kernel, Z, X[i:i + chunk], h), upper=False)
        S = S + A @ A.T
        a = a + A @ y[i:i + chunk]
    return S, a


def whitened_stats_vjp(kernel: Kernel, hyper_map: HyperMap, log_h: Dict[str, torch.Tensor], Z: torch.Tensor,
                       jitter: float, X: torch.Tensor, y: torch.Tensor, S: torch.Tensor, a: torch.Tensor,
                       G: torch.Tensor, g: torch.Tensor, chunk: int) -> List[Optional[torch.Tensor]]:
    """The gradient of :math:`\\langle G, S\\rangle + g^\\top a` with respect to the leaves
    ``[*log_h.values(), Z]`` (``None`` for one that needs no gradient): the two chain rules of the
    module docstring, chunk by chunk through :math:`K_{uf}` and once through :math:`L`.

    :param S, a: the statistics at these leaves (:func:`whitened_stats`).
    :param G: :math:`\\partial\\mathcal L/\\partial S`, ``(M, M)``;
        ``g``: :math:`\\partial\\mathcal L/\\partial a`, ``(M,)``.
    """
    leaves = list(log_h.values()) + [Z]
    wanted = [t for t in leaves if t.requires_grad]
    Gs = G + G.T
    with torch.enable_grad():
        L = kuu_cholesky(kernel, hyper_map(log_h)[0], Z, jitter)
    Ld = L.detach()
    L_bar = -torch.linalg.solve_triangular(Ld.T, Gs @ S + g[:, None] * a[None, :], upper=True).tril()
    total = list(torch.autograd.grad(L, wanted, L_bar, allow_unused=True))
    for i in range(0, X.shape[0], chunk):
        with torch.enable_grad():
            K = kernel_matrix(kernel, Z, X[i:i + chunk], hyper_map(log_h)[0])
        A = torch.linalg.solve_triangular(Ld, K.detach(), upper=False)
        K_bar = torch.linalg.solve_triangular(Ld.T, Gs @ A + g[:, None] * y[None, i:i + chunk], upper=True)
        parts = torch.autograd.grad(K, wanted, K_bar, allow_unused=True)
        total = [p if t is None else t if p is None else t + p for t, p in zip(total, parts)]
    it = iter(total)
    return [next(it) if t.requires_grad else None for t in leaves]


class Factors(NamedTuple):
    """What the bound and the predictive share (module docstring): ``LB`` = chol(:math:`I + C`)
    ``(M, M)``, ``c`` ``(M,)`` and ``C`` ``(M, M)``."""

    LB: torch.Tensor
    c: torch.Tensor
    C: torch.Tensor


def factors(S: torch.Tensor, a: torch.Tensor, noise: torch.Tensor) -> Factors:
    """:class:`Factors` from :math:`S = AA^\\top`, :math:`a = A\\tilde y` and :math:`\\sigma_n^2`."""
    C = S / noise
    LB = torch.linalg.cholesky(torch.eye(S.shape[0], dtype=S.dtype) + C)
    c = torch.linalg.solve_triangular(LB, a[:, None], upper=False)[:, 0] / noise
    return Factors(LB, c, C)


def collapsed_bound(S: torch.Tensor, a: torch.Tensor, yy: torch.Tensor, n: int, kdiag: torch.Tensor,
                    noise: torch.Tensor) -> torch.Tensor:
    """:math:`\\mathcal L` (module docstring) from :math:`S` ``(M, M)``, :math:`a` ``(M,)``,
    :math:`\\tilde y^\\top\\tilde y`, :math:`N`, :math:`k(x, x)` and :math:`\\sigma_n^2` (scalars);
    a scalar tensor, differentiable in all of them."""
    F = factors(S, a, noise)
    return (-0.5 * n * torch.log(2 * math.pi * noise) - F.LB.diagonal().log().sum()
            - 0.5 * yy / noise + 0.5 * (F.c @ F.c)
            - 0.5 * n * kdiag / noise + 0.5 * F.C.diagonal().sum())


def kmeans_pp(X: torch.Tensor, M: int, generator: torch.Generator) -> torch.Tensor:
    """``M`` rows of ``X`` ``(N, d)`` chosen by k-means++ seeding: the first uniformly, each next one
    with probability proportional to its squared distance to the nearest chosen row. Spreads the
    inducing inputs over the data; stops early (fewer rows) when every row is already chosen
    (duplicates). :math:`O(NMd)`; returns ``(M', d)`` with :math:`M' \\le M`."""
    N = X.shape[0]
    first = int(torch.randint(N, (1,), generator=generator))
    idx = [first]
    d2 = ((X - X[first]) ** 2).sum(1)
    for _ in range(min(M, N) - 1):
        if float(d2.sum()) <= 0.0:
            break
        j = int(torch.multinomial(d2, 1, generator=generator))
        idx.append(j)
        d2 = torch.minimum(d2, ((X - X[j]) ** 2).sum(1))
    return X[idx].clone()
