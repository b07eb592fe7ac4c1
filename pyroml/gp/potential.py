"""The GP's NUTS potential with its exact gradient, in closed form, and the hook that hands
that gradient to Pyro's leapfrog integrator.

:class:`ClosedFormPotential` evaluates the negative log posterior of
:math:`\\theta = \\log` (hyperparameters) and its gradient in NumPy, float64, in one pass:

.. math::

    U(\\theta) = \\tfrac12 y^\\top K^{-1} y + \\tfrac12 \\log|K| + \\tfrac n2 \\log 2\\pi
        + \\sum_j \\Big[\\frac{(\\theta_j - m_j)^2}{2 s_j^2} + \\log s_j\\sqrt{2\\pi}\\Big],
    \\qquad
    \\frac{\\partial U}{\\partial \\theta_j} = \\tfrac12 \\operatorname{tr}\\big((K^{-1} - \\alpha\\alpha^\\top)
        \\,\\partial K / \\partial\\theta_j\\big) + \\frac{\\theta_j - m_j}{s_j^2},

with :math:`K = K_\\theta + \\sigma_n^2 W + \\text{jitter}\\, I` (:math:`W = \\operatorname{diag}(w)`, the
noise multipliers; :math:`I` by default), :math:`\\partial K / \\partial \\log\\sigma_n^2 = \\sigma_n^2 W`,
:math:`\\alpha = K^{-1}y` and
LogNormal(:math:`m_j, s_j`) priors, which together with the log-Jacobian of the exp are
Normal(:math:`m_j, s_j`) in :math:`\\theta_j`. :math:`K_\\theta` and
:math:`\\partial K_\\theta / \\partial\\theta_j` come from the kernel family's one formula
(:mod:`pyroml.gp.kernels`).
"""

from __future__ import annotations

import contextlib
import math
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import pyro.ops.integrator as integrator
import torch

from pyroml.gp.kernels import NUMPY, TORCH, KernelLike, get_kernel
from pyroml.gp.priors import LogNormalParams

__all__ = ["ClosedFormPotential", "NutsPotential", "ClosedFormGradient", "direct_gradients"]


class ClosedFormPotential:
    """NUTS's potential :math:`U(\\theta)` and :math:`\\nabla U` together, for LogNormal priors.

    For a handful of points the per-call overhead of autograd over small tensors is what costs,
    so value and gradient come from one NumPy pass (about 15 array calls). From
    :attr:`LARGE` points on, the cubic cost is what counts: the same formulas run in torch
    through one Cholesky factor, :math:`K^{-1}` from it by ``torch.cholesky_inverse`` (LAPACK
    ``potri``) and :math:`\\alpha` by ``torch.cholesky_solve``: about :math:`N^3` flops per
    evaluation instead of the :math:`5N^3` of a general inverse and a product. Outside
    :math:`|\\theta_j| < 30`, or where the Cholesky factorisation fails, the energy is infinite:
    NUTS records a divergence and rejects the move (L-BFGS backs off).

    :param kernel: a kernel name or spec, or a :class:`~pyroml.gp.kernels.Kernel`.
    :param Tensor X: inputs, shape ``(N, d)``; ``y``: targets, shape ``(N,)``.
    :param names: hyperparameter names in the order of :math:`\\theta` (``"noise"`` last if learned).
    :param priors: ``(loc, scale)`` of each LogNormal prior, in the same order.
    :param float noise: fixed noise variance (ignored when ``"noise"`` is among ``names``).
    :param float jitter: added to the diagonal.
    :param Tensor weights: the noise multipliers :math:`w` ``(N,)``; default ``None``: all 1.
    """

    #: from this many data points on, value and gradient are computed in torch
    LARGE = 64

    def __init__(self, kernel: KernelLike, X: torch.Tensor, y: torch.Tensor, names: Sequence[str],
                 priors: Sequence[LogNormalParams], noise: float, jitter: float,
                 weights: Optional[torch.Tensor] = None):
        self.family = get_kernel(kernel)
        Xt, yt = X.detach().cpu().double(), y.detach().cpu().double()
        self.large = len(yt) >= self.LARGE
        self.pairwise = self.family.pairwise(Xt, Xt) if self.large else self.family.pairwise(Xt.numpy(), Xt.numpy())
        self.y, self.y_t = yt.numpy(), yt
        self.kernel, self.names, self.noise, self.jitter = kernel, list(names), float(noise), float(jitter)
        self.loc = [float(m) for m, _ in priors]
        self.scale = [float(s) for _, s in priors]
        n = len(self.y)
        self.eye = np.eye(n if not self.large else 0)
        self.w_t = None if weights is None else weights.detach().cpu().double()
        self.w = None if self.w_t is None else self.w_t.numpy()
        self.const = 0.5 * n * math.log(2 * math.pi) + sum(math.log(s) + 0.5 * math.log(2 * math.pi)
                                                           for s in self.scale)

    def __call__(self, theta: Sequence[float]) -> Tuple[float, List[float]]:
        """:returns: ``(U(theta), dU/dtheta)`` as a float and a list of ``H`` floats."""
        H = len(self.names)
        if not all(abs(t) < 30.0 for t in theta):
            return math.inf, [0.0] * H
        h = {name: math.exp(t) for name, t in zip(self.names, theta)}
        if self.large:
            return self._large(theta, h)
        K, dK = self.family.evaluate(self.pairwise, h, NUMPY, grad=True)
        assert dK is not None
        noise = h.get("noise", self.noise)
        K = K + ((noise + self.jitter) * self.eye if self.w is None else np.diag(noise * self.w + self.jitter))
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
            tr = _noise_trace(noise, W.diagonal(), self.w) if name == "noise" else float(np.vdot(W, dK[name]))
            grad.append(0.5 * tr + z / self.scale[j])
        return value, grad

    def _large(self, theta: Sequence[float], h: Dict[str, float]) -> Tuple[float, List[float]]:
        """:meth:`__call__` in torch through one Cholesky factor (``potri`` for :math:`K^{-1}`)."""
        K, dK = self.family.evaluate(self.pairwise, h, TORCH, grad=True)
        assert dK is not None
        noise = h.get("noise", self.noise)
        K = K.clone()                                 # the kernel's dK/dlog(variance) may be K itself
        K.diagonal().add_(noise + self.jitter if self.w_t is None else noise * self.w_t + self.jitter)
        L, info = torch.linalg.cholesky_ex(K)
        if int(info) != 0:                            # numerically singular: an infinite energy
            return math.inf, [0.0] * len(self.names)
        del K
        alpha = torch.cholesky_solve(self.y_t[:, None], L)[:, 0]
        W = torch.cholesky_inverse(L)
        W.sub_(torch.outer(alpha, alpha))             # K^-1 - alpha alpha^T
        value = 0.5 * float(self.y_t @ alpha) + float(L.diagonal().log().sum()) + self.const
        flat, grad = W.reshape(-1), []
        for j, name in enumerate(self.names):
            z = (theta[j] - self.loc[j]) / self.scale[j]
            value += 0.5 * z * z
            tr = _noise_trace(noise, W.diagonal(), self.w_t) if name == "noise" else float(flat @ dK[name].reshape(-1))
            grad.append(0.5 * tr + z / self.scale[j])
        return value, grad

    def torch_fn(self) -> NutsPotential:
        """``potential_fn`` for ``pyro.infer.NUTS``: ``{"theta": Tensor (H,)} -> scalar`` whose
        autograd gradient is the closed-form :math:`\\nabla U`, with a direct
        ``value_and_grad`` that :func:`direct_gradients` hands to Pyro's integrator."""
        return NutsPotential(self)


def _noise_trace(noise: float, W_diag: Any, w: Any) -> float:
    """:math:`\\operatorname{tr}\\big((K^{-1} - \\alpha\\alpha^\\top)\\, \\partial K/\\partial\\log\\sigma_n^2\\big)
    = \\sigma_n^2 \\sum_i [K^{-1} - \\alpha\\alpha^\\top]_{ii}\\, w_i` from that diagonal ``W_diag`` ``(N,)``
    and the noise multipliers ``w`` ``(N,)`` (``None``: all 1), both NumPy or both torch."""
    return noise * float(W_diag.sum() if w is None else (W_diag * w).sum())


class ClosedFormGradient(torch.autograd.Function):
    """:math:`U(\\theta)` as a scalar tensor whose backward pass is the closed-form
    :math:`\\nabla U` of a :class:`ClosedFormPotential` (no graph of the NumPy computation)."""

    @staticmethod
    def forward(ctx: Any, theta: torch.Tensor, potential: ClosedFormPotential) -> torch.Tensor:
        value, grad = potential(theta.tolist())
        ctx.grad = grad
        return theta.new_tensor(value)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> Tuple[torch.Tensor, None]:
        return g * g.new_tensor(ctx.grad), None


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
        return ClosedFormGradient.apply(params["theta"], self.closed)

    def value_and_grad(self, params: Dict[str, torch.Tensor]) -> Tuple[Dict[str, torch.Tensor], torch.Tensor]:
        theta = params["theta"]
        value, grad = self.closed(theta.tolist())
        return {"theta": theta.new_tensor(grad)}, theta.new_tensor(value)


@contextlib.contextmanager
def direct_gradients() -> Iterator[None]:
    """Within this context, Pyro's leapfrog integrator (``pyro.ops.integrator``, which HMC and
    NUTS step with) takes the potential's value and gradient from
    ``potential_fn.value_and_grad`` where the potential has one (:class:`NutsPotential`),
    instead of differentiating it by autograd; every other potential goes the usual way.

    The same numbers either way (tested); it removes the per-step autograd overhead that
    dominates NUTS on a few data points. Not thread-safe: it swaps a module attribute for the
    duration, and restores it on exit, also on error.
    """
    original = integrator.potential_grad

    def potential_grad(potential_fn: Callable, z: Dict[str, torch.Tensor]) -> Any:
        value_and_grad = getattr(potential_fn, "value_and_grad", None)
        return value_and_grad(z) if value_and_grad is not None else original(potential_fn, z)

    integrator.potential_grad = potential_grad
    try:
        yield
    finally:
        integrator.potential_grad = original
