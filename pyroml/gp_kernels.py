"""Stationary kernels in closed form, and the GP's NUTS potential with its exact gradient.

The kernels are those of ``pyro.contrib.gp.kernels`` with one (isotropic) lengthscale
:math:`\\ell`, variance :math:`\\sigma_f^2` and, for ``periodic``, period :math:`p`; with
:math:`r = \\lVert x - x' \\rVert / \\ell`:

=============  ==========================================================================
``rbf``         :math:`\\sigma_f^2 \\exp(-r^2/2)`
``matern32``    :math:`\\sigma_f^2 (1 + \\sqrt3 r) \\exp(-\\sqrt3 r)`
``matern52``    :math:`\\sigma_f^2 (1 + \\sqrt5 r + 5r^2/3) \\exp(-\\sqrt5 r)`
``exponential`` :math:`\\sigma_f^2 \\exp(-r)`
``periodic``    :math:`\\sigma_f^2 \\exp\\big(-2 \\sum_k \\sin^2(\\pi |x_k - x'_k| / p) / \\ell^2\\big)`
=============  ==========================================================================

:func:`kernel_matrix` evaluates them in torch for a batch of hyperparameter settings (the
predictive); :class:`ClosedFormPotential` evaluates the negative log posterior of
:math:`\\theta = \\log` (hyperparameters) and its gradient in NumPy, float64, in one pass:

.. math::

    U(\\theta) = \\tfrac12 y^\\top K^{-1} y + \\tfrac12 \\log|K| + \\tfrac n2 \\log 2\\pi
        + \\sum_j \\Big[\\frac{(\\theta_j - m_j)^2}{2 s_j^2} + \\log s_j\\sqrt{2\\pi}\\Big],
    \\qquad
    \\frac{\\partial U}{\\partial \\theta_j} = \\tfrac12 \\operatorname{tr}\\big((K^{-1} - \\alpha\\alpha^\\top)
        \\,\\partial K / \\partial\\theta_j\\big) + \\frac{\\theta_j - m_j}{s_j^2},

with :math:`K = K_\\theta + (\\sigma_n^2 + \\text{jitter}) I`, :math:`\\alpha = K^{-1}y` and
LogNormal(:math:`m_j, s_j`) priors, which together with the log-Jacobian of the exp are
Normal(:math:`m_j, s_j`) in :math:`\\theta_j`.
"""

from __future__ import annotations

import contextlib
import math
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import pyro.contrib.gp as gp
import torch

__all__ = ["KERNELS", "HYPERS", "kernel_matrix", "numpy_kernel", "ClosedFormPotential", "NutsPotential",
           "direct_gradients", "pivoted_cholesky"]

KERNELS = {"rbf": gp.kernels.RBF, "matern32": gp.kernels.Matern32, "matern52": gp.kernels.Matern52,
           "exponential": gp.kernels.Exponential, "periodic": gp.kernels.Periodic}
HYPERS = {name: ("lengthscale", "variance", "period") if name == "periodic" else ("lengthscale", "variance")
          for name in KERNELS}


def kernel_matrix(kernel: str, X1: torch.Tensor, X2: torch.Tensor, hypers: Dict[str, torch.Tensor]) -> torch.Tensor:
    """:math:`k_\\theta(X_1, X_2)` for a batch of hyperparameter settings.

    :param str kernel: one of :data:`KERNELS`.
    :param Tensor X1: shape ``(N, d)``; ``X2``: shape ``(M, d)``.
    :param dict hypers: name -> tensor of shape ``(S,)`` (S settings) or ``()``.
    :returns: shape ``(S, N, M)`` (``(N, M)`` for scalar hyperparameters).
    """
    ls, var = hypers["lengthscale"], hypers["variance"]
    diff = X1[:, None, :] - X2[None, :, :]                                  # (N, M, d)
    if kernel == "periodic":
        s = torch.sin(math.pi * diff.abs() / hypers["period"][..., None, None, None]).pow(2).sum(-1)
        return var[..., None, None] * torch.exp(-2.0 * s / ls[..., None, None] ** 2)
    d2 = (diff ** 2).sum(-1) / ls[..., None, None] ** 2
    if kernel == "rbf":
        return var[..., None, None] * torch.exp(-0.5 * d2)
    r = d2.clamp_min(1e-30).sqrt()
    if kernel == "exponential":
        return var[..., None, None] * torch.exp(-r)
    if kernel == "matern32":
        r = math.sqrt(3.0) * r
        return var[..., None, None] * (1 + r) * torch.exp(-r)
    if kernel == "matern52":
        r = math.sqrt(5.0) * r
        return var[..., None, None] * (1 + r + r * r / 3) * torch.exp(-r)
    raise ValueError(f"unknown kernel {kernel!r}; choose one of {sorted(KERNELS)}")


def numpy_kernel(kernel: str, D: np.ndarray, A: np.ndarray, h: Dict[str, float]
                 ) -> Tuple[np.ndarray, Dict[str, np.ndarray]]:
    """Gram matrix and its derivatives with respect to the log hyperparameters, in NumPy.

    :param D: pairwise squared distances, shape ``(N, N)``.
    :param A: pairwise absolute differences, shape ``(N, N, d)`` (used by ``periodic`` only).
    :param dict h: hyperparameter name -> positive value (a float).
    :returns: ``(K_f, {name: dK_f / d log name})``, each of shape ``(N, N)``.
    """
    ls, var = h["lengthscale"], h["variance"]
    if kernel == "periodic":
        u = (np.pi / h["period"]) * A
        S = (np.sin(u) ** 2).sum(-1)
        K = var * np.exp((-2.0 / ls ** 2) * S)
        return K, {"lengthscale": (4.0 / ls ** 2) * K * S, "variance": K,
                   "period": (2.0 / ls ** 2) * K * (u * np.sin(2 * u)).sum(-1)}
    s = D * (1.0 / ls ** 2)
    if kernel == "rbf":
        K = var * np.exp(-0.5 * s)
        return K, {"lengthscale": K * s, "variance": K}
    r = np.sqrt(s)
    if kernel == "exponential":
        K = var * np.exp(-r)
        return K, {"lengthscale": K * r, "variance": K}
    if kernel == "matern32":
        r = math.sqrt(3.0) * r
        e = var * np.exp(-r)
        return (1 + r) * e, {"lengthscale": r * r * e, "variance": (1 + r) * e}
    if kernel == "matern52":
        r = math.sqrt(5.0) * r
        e = var * np.exp(-r)
        K = (1 + r + r * r / 3) * e
        return K, {"lengthscale": (r * r / 3) * (1 + r) * e, "variance": K}
    raise ValueError(f"unknown kernel {kernel!r}; choose one of {sorted(KERNELS)}")


class ClosedFormPotential:
    """NUTS's potential :math:`U(\\theta)` and :math:`\\nabla U` together, for LogNormal priors.

    For a handful of points the per-call overhead of autograd over small tensors is what costs,
    so value and gradient come from one NumPy pass (about 15 array calls). Outside
    :math:`|\\theta_j| < 30`, or where the Cholesky factorisation fails, the energy is infinite:
    NUTS records a divergence and rejects the move.

    :param str kernel: one of :data:`KERNELS`.
    :param Tensor X: inputs, shape ``(N, d)``; ``y``: targets, shape ``(N,)``.
    :param names: hyperparameter names in the order of :math:`\\theta` (``"noise"`` last if learned).
    :param priors: ``(loc, scale)`` of each LogNormal prior, in the same order.
    :param float noise: fixed noise variance (ignored when ``"noise"`` is among ``names``).
    :param float jitter: added to the diagonal.
    """

    def __init__(self, kernel: str, X: torch.Tensor, y: torch.Tensor, names: Sequence[str],
                 priors: Sequence[Tuple[float, float]], noise: float, jitter: float):
        Xn = X.detach().cpu().double().numpy()
        self.A = np.abs(Xn[:, None, :] - Xn[None, :, :])
        self.D = (self.A ** 2).sum(-1)
        self.y = y.detach().cpu().double().numpy()
        self.kernel, self.names, self.noise, self.jitter = kernel, list(names), float(noise), float(jitter)
        self.loc = [float(m) for m, _ in priors]
        self.scale = [float(s) for _, s in priors]
        n = len(self.y)
        self.eye = np.eye(n)
        self.const = 0.5 * n * math.log(2 * math.pi) + sum(math.log(s) + 0.5 * math.log(2 * math.pi)
                                                           for s in self.scale)

    def __call__(self, theta: Sequence[float]) -> Tuple[float, List[float]]:
        """:returns: ``(U(theta), dU/dtheta)`` as a float and a list of floats."""
        H = len(self.names)
        if not all(abs(t) < 30.0 for t in theta):
            return math.inf, [0.0] * H
        h = {name: math.exp(t) for name, t in zip(self.names, theta)}
        K, dK = numpy_kernel(self.kernel, self.D, self.A, h)
        noise = h.get("noise", self.noise)
        K = K + (noise + self.jitter) * self.eye
        try:
            L = np.linalg.cholesky(K)
            Linv = np.linalg.inv(L)
        except np.linalg.LinAlgError:                 # numerically singular: an infinite energy
            return math.inf, [0.0] * H
        Kinv = Linv.T @ Linv
        alpha = Kinv @ self.y
        W = Kinv - np.multiply.outer(alpha, alpha)
        value = 0.5 * float(self.y @ alpha) + float(np.log(L.diagonal()).sum()) + self.const
        grad = []
        for j, name in enumerate(self.names):
            z = (theta[j] - self.loc[j]) / self.scale[j]
            value += 0.5 * z * z
            tr = noise * float(np.trace(W)) if name == "noise" else float(np.vdot(W, dK[name]))
            grad.append(0.5 * tr + z / self.scale[j])
        return value, grad

    def torch_fn(self) -> "NutsPotential":
        """``potential_fn`` for ``pyro.infer.NUTS``: ``{"theta": Tensor (H,)} -> scalar`` whose
        autograd gradient is the closed-form :math:`\\nabla U`, with a direct
        ``value_and_grad`` that :func:`direct_gradients` hands to Pyro's integrator."""
        return NutsPotential(self)


class NutsPotential:
    """A ``potential_fn`` over ``{"theta": Tensor (H,)}`` that also gives its value and
    gradient without autograd.

    Calling it returns :math:`U(\\theta)` as a scalar tensor whose autograd gradient is the
    closed-form :math:`\\nabla U` (what Pyro's ``potential_grad`` differentiates);
    :meth:`value_and_grad` returns ``({"theta": grad (H,)}, U)`` directly, as
    ``pyro.ops.integrator.potential_grad`` does, but without building a graph: for a
    handful of data points the autograd round trip costs more than the potential itself.
    """

    def __init__(self, closed: ClosedFormPotential):
        self.closed = closed

    def __call__(self, params: Dict[str, torch.Tensor]) -> torch.Tensor:
        return _Apply.apply(params["theta"], self.closed)

    def value_and_grad(self, params: Dict[str, torch.Tensor]) -> Tuple[Dict[str, torch.Tensor], torch.Tensor]:
        theta = params["theta"]
        value, grad = self.closed(theta.tolist())
        return {"theta": theta.new_tensor(grad)}, theta.new_tensor(value)


@contextlib.contextmanager
def direct_gradients():
    """Within this context, Pyro's leapfrog integrator (``pyro.ops.integrator``, which HMC and
    NUTS step with) takes the potential's value and gradient from
    ``potential_fn.value_and_grad`` where the potential has one (:class:`NutsPotential`),
    instead of differentiating it by autograd; every other potential goes the usual way.

    The same numbers either way (tested); it removes the per-step autograd overhead that
    dominates NUTS on a few data points. Not thread-safe: it swaps a module attribute for the
    duration, and restores it on exit, also on error.
    """
    import pyro.ops.integrator as integrator
    original = integrator.potential_grad

    def potential_grad(potential_fn, z):
        value_and_grad = getattr(potential_fn, "value_and_grad", None)
        return value_and_grad(z) if value_and_grad is not None else original(potential_fn, z)

    integrator.potential_grad = potential_grad
    try:
        yield
    finally:
        integrator.potential_grad = original


class _Apply(torch.autograd.Function):
    @staticmethod
    def forward(ctx, theta: torch.Tensor, potential: ClosedFormPotential):
        value, grad = potential(theta.tolist())
        ctx.grad = grad
        return theta.new_tensor(value)

    @staticmethod
    def backward(ctx, g):
        return g * g.new_tensor(ctx.grad), None


def positive_prior_params(prior) -> Optional[Tuple[float, float]]:
    """``(loc, scale)`` of a LogNormal prior (the closed-form path), else ``None``."""
    import pyro.distributions as dist
    if isinstance(prior, dist.LogNormal) and prior.loc.numel() == 1 and prior.scale.numel() == 1:
        return float(prior.loc), float(prior.scale)
    return None


def pivoted_cholesky(diag: torch.Tensor, column: Callable[[int], torch.Tensor], tol: float, max_rank: int
                     ) -> Optional[Tuple[torch.Tensor, torch.Tensor]]:
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
            return L[:, :k], d.clamp_min(0)
        if k == max_rank:
            return None
        c = (column(j) - L[:, :k] @ L[j, :k]) / math.sqrt(float(d[j]))
        L[:, k] = c
        d -= c * c
        d[j] = 0.0
    return None
