"""The engine's guards against divergence: non-finite losses and gradients, and explosions.

* **Non-finite**: the loss and the gradients' total norm (one fused ``foreach`` kernel) are
  checked every step; on a NaN or an infinity the optimiser step is not taken, so the model keeps
  its last finite parameters, and training stops with the epoch and step
  (:func:`diverged`, a ``FloatingPointError``).
* **Explosion** (optional, ``fit(..., explosion=F)``): the loss per example :math:`\\ell_t`
  growing by orders of magnitude while staying finite (e.g. a learning rate far too large, where
  the ELBO runs off to :math:`-10^{12}`). With :math:`m_t` an exponential moving average of
  :math:`|\\ell_t|` (weight 0.1 on the newest step) and :math:`r_t = \\min_{s < t} \\max(m_s, 1)`
  the lowest level reached so far (1 nat at least, so losses near 0 do not trip it), training
  stops before the step when :math:`|\\ell_t| > F\\, r_t` (from the second step on: the first
  step's loss, a fresh model's, is the first level).
"""

from __future__ import annotations

import math
from typing import Any, List, NoReturn, Optional

import torch

__all__ = ["diverged", "grad_norm", "ExplosionGuard", "WARMUP"]

#: steps that set the first level before the explosion guard compares (a fresh model's loss is the first level)
WARMUP = 1


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
    """Stops training when the loss per example exceeds ``factor`` times the lowest level it
    reached (see the module docstring); ``factor=None`` switches it off."""

    def __init__(self, factor: Optional[float]):
        self.factor = factor
        self.ema: Optional[float] = None
        self.level = math.inf
        self.seen = 0

    def check(self, loss_per_example: float, epoch: int, step: int) -> None:
        """Compare a step's loss per example with the level so far, then update the level.

        :raises FloatingPointError: on an explosion, before the step is taken."""
        if self.factor is None or not math.isfinite(loss_per_example):
            return
        size = abs(loss_per_example)
        if self.seen >= WARMUP and size > self.factor * self.level:
            raise FloatingPointError(
                f"the loss per example grew to {loss_per_example:.4g} at epoch {epoch + 1}, step {step + 1}, "
                f"more than explosion={self.factor:g} times the lowest level it reached ({self.level:.4g}): "
                f"training stopped before this step; lower lr or set clip_norm")
        self.ema = size if self.ema is None else 0.9 * self.ema + 0.1 * size
        self.seen += 1
        if self.seen >= WARMUP:
            self.level = min(self.level, max(self.ema, 1.0))
