"""The engine's guards against divergence: non-finite losses and gradients, and explosions.

* **Non-finite**: the loss and the gradients' total norm (one fused ``foreach`` kernel) are
  checked every step; on a NaN or an infinity the optimiser step is not taken, so the model keeps
  its last finite parameters, and training stops with the epoch and step
  (:func:`diverged`, a ``FloatingPointError``).
* **Explosion** (``fit(..., explosion=F)``, default :data:`EXPLOSION` = 100; ``None`` switches it
  off): the loss per example :math:`\\ell_t` (the negative ELBO) running off while staying finite —
  e.g. a learning rate far too large, where the ELBO reaches :math:`-10^{12}`. With
  :math:`s = \\max(|\\ell_0|, 1)` the size of the first step's loss (a fresh model's), :math:`m_t`
  an exponential moving average of :math:`\\ell_t` (weight 0.1 on the newest step) and
  :math:`b_t = \\min_{u < t} m_u` the best level so far, training stops before step :math:`t` when

  .. math:: \\ell_t > b_t + F s,

  a rise above the best level of F times the first loss. Only a rise counts: a loss falling far
  below zero (an ELBO above zero, as real-valued data give) is not an explosion. Under several
  processes it is checked on the epoch's mean over the ranks.
"""

from __future__ import annotations

import math
from typing import Any, List, NoReturn, Optional

import torch

__all__ = ["diverged", "grad_norm", "ExplosionGuard", "EXPLOSION"]

#: the default of ``fit(..., explosion=)``
EXPLOSION = 100.0


def diverged(what: str, value: Any, epoch: int, step: int, cause: Optional[Exception] = None) -> NoReturn:
    """:raises FloatingPointError: ``what`` became ``value`` at ``epoch``/``step`` (0-based, said 1-based)."""
    raise FloatingPointError(
        f"{what} became {value} at epoch {epoch + 1}, step {step + 1}: training stopped and the model "
        f"keeps its last finite parameters; lower lr, set clip_norm, or check the data") from cause


def grad_norm(params: List[torch.Tensor], clip_norm: Optional[float]) -> float:
    """The gradients' total 2-norm — clipped to ``clip_norm`` when set — by one fused
    ``foreach`` kernel: NaN or infinite when any gradient is."""
    if clip_norm is not None:
        return float(torch.nn.utils.clip_grad_norm_(params, clip_norm))
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return 0.0
    return float(torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads))))


class ExplosionGuard:
    """Stops training when the loss per example rises more than ``factor`` times the first loss's
    size above the best level so far (see the module docstring); ``factor=None`` switches it off."""

    def __init__(self, factor: Optional[float]):
        self.factor = factor
        self.scale: Optional[float] = None
        self.ema = math.inf
        self.best = math.inf

    def check(self, loss_per_example: float, epoch: int, step: int) -> None:
        """Compare a step's loss per example with the best level so far, then update the level.

        :raises FloatingPointError: on an explosion, before the step is taken."""
        if self.factor is None or not math.isfinite(loss_per_example):
            return
        if self.scale is None:
            self.scale, self.ema = max(abs(loss_per_example), 1.0), loss_per_example
        elif loss_per_example > self.best + self.factor * self.scale:
            raise FloatingPointError(
                f"the loss per example rose to {loss_per_example:.4g} at epoch {epoch + 1}, step {step + 1}, from a "
                f"best level of {self.best:.4g}: more than explosion={self.factor:g} times the first loss "
                f"({self.scale:.4g}); training stopped before this step; lower lr or set clip_norm "
                f"(explosion=None switches this check off)")
        else:
            self.ema = 0.9 * self.ema + 0.1 * loss_per_example
        self.best = min(self.best, self.ema)
