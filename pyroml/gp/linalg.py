"""Factorisations of a GP's conditional covariance, for joint function draws."""

from __future__ import annotations

import math
from typing import Callable, NamedTuple, Optional, Tuple

import torch

__all__ = ["LowRankFactor", "pivoted_cholesky", "jittered_cholesky", "robust_factor"]


class LowRankFactor(NamedTuple):
    """:math:`C \\approx L L^\\top + \\mathrm{diag}(d)`: ``factor`` :math:`L` of shape ``(M, r)``
    and ``residual`` :math:`d` of shape ``(M,)``."""

    factor: torch.Tensor
    residual: torch.Tensor


def pivoted_cholesky(diag: torch.Tensor, column: Callable[[int], torch.Tensor], tol: float, max_rank: int
                     ) -> Optional[LowRankFactor]:
    """Low-rank factor of a positive semi-definite ``(M, M)`` matrix :math:`C` from its diagonal
    and columns on demand: :math:`C \\approx L L^\\top + \\mathrm{diag}(d)` with every residual
    variance :math:`d_i \\le` ``tol`` (greedy pivoting on the largest residual).

    :param Tensor diag: :math:`\\mathrm{diag}(C)`, shape ``(M,)``.
    :param column: ``j -> C[:, j]``, shape ``(M,)``.
    :returns: ``(L (M, r), d (M,))``, or ``None`` if ``max_rank`` columns do not reach ``tol``.
    """
    d = diag.clone()
    L = diag.new_zeros(diag.shape[0], max_rank)
    for k in range(max_rank + 1):
        j = int(d.argmax())
        if float(d[j]) <= tol:
            return LowRankFactor(L[:, :k], d.clamp_min(0))
        if k == max_rank:
            return None
        c = (column(j) - L[:, :k] @ L[j, :k]) / math.sqrt(float(d[j]))
        L[:, k] = c
        d -= c * c
        d[j] = 0.0
    return None


def jittered_cholesky(cov: torch.Tensor, scale: torch.Tensor, jitters: Tuple[float, ...] = (1e-10, 1e-8, 1e-6, 1e-4)
                      ) -> torch.Tensor:
    """The Cholesky factor of :math:`C + \\epsilon\\,\\mathrm{scale}\\,I` for a batch of covariances
    that may be singular (a noise-free kernel matrix at clustered inputs), with the smallest
    :math:`\\epsilon` in ``jitters`` at which every one of them factorises.

    :param Tensor cov: :math:`C`, shape ``(..., M, M)``; ``scale``: the size of each one's entries,
        shape ``(...)`` (e.g. the kernel variances).
    :returns: the lower factors, shape ``(..., M, M)``.
    :raises RuntimeError: when even the largest jitter leaves one not positive definite.
    """
    eye = torch.eye(cov.shape[-1], dtype=cov.dtype)
    for eps in jitters:
        L, info = torch.linalg.cholesky_ex(cov + (eps * scale)[..., None, None] * eye)
        if not bool(info.any()):
            return L
    raise RuntimeError(f"covariance not positive definite even with {jitters[-1]:g} x its scale added to the "
                       f"diagonal; check the kernel's hyperparameters and inputs for NaN or infinite values")


def robust_factor(cov: torch.Tensor, scale: float) -> torch.Tensor:
    """A square factor :math:`L` with :math:`L L^\\top \\approx C` for a covariance that may be
    singular: Cholesky of :math:`C + \\epsilon\\,\\mathrm{scale}\\,I` with :math:`\\epsilon = 10^{-10}`,
    escalating to :math:`10^{-8}, 10^{-6}`, then the eigendecomposition with negative modes
    clipped to zero.

    :param Tensor cov: :math:`C`, shape ``(M, M)``.
    :param float scale: the size of :math:`C`'s entries (e.g. the kernel variance).
    :returns: :math:`L`, shape ``(M, M)``.
    """
    try:
        return jittered_cholesky(cov, torch.tensor(scale, dtype=cov.dtype), (1e-10, 1e-8, 1e-6))
    except RuntimeError:
        pass
    evals, evecs = torch.linalg.eigh(cov)
    return evecs * evals.clamp_min(0).sqrt()
