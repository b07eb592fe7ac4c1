"""What a BO run returns: :class:`BOResult` (the evaluations, the best point, the per-round
trace and the failures), and :class:`BOInterrupted`, the ``KeyboardInterrupt`` that carries one."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import torch

__all__ = ["BOResult", "BOInterrupted"]


@dataclass
class BOResult:
    """Outcome of :func:`minimize`.

    :ivar x_best: the input of the best *observed* value, shape ``(d,)``; ``y_best``: that value
        (for a noisy objective, the luckiest observation as much as the best input).
    :ivar x_recommended: the evaluated input with the lowest posterior mean of the final model,
        shape ``(d,)`` (:meth:`BayesOpt.recommend`; ``None`` if no rounds ran);
        ``y_recommended``: that posterior mean (the median under the warp), in ``y``'s units. For
        a noisy objective, the point to use: it does not reward a lucky draw of the noise.
    :ivar X: every evaluated input, shape ``(n, d)`` (the initial points first); ``Y``: ``(n,)``.
    :ivar trace: one dict per round: ``iteration``, ``x`` (the first proposal), ``batch`` (all
        ``q``), ``y``, ``best``, ``hypers`` (working scales; the MAP point, or the mean of the NUTS
        draws), ``seconds`` and, in 1-d with ``record``, ``candidates`` with the GP (``gp_mean``,
        ``gp_std``) and the ``acquisition`` (or the drawn ``sample``) over them.
    :ivar failures: ``{"iteration", "x", "error"}`` for each failed evaluation (it ended the run).
    :ivar seconds: wall time of the rounds.
    """

    x_best: torch.Tensor
    y_best: float
    X: torch.Tensor
    Y: torch.Tensor
    trace: List[Dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    failures: List[Dict[str, Any]] = field(default_factory=list)
    x_recommended: Optional[torch.Tensor] = None
    y_recommended: Optional[float] = None

    def best_so_far(self) -> torch.Tensor:
        """Running minimum of ``Y``, shape ``(n,)``."""
        return torch.cummin(self.Y, 0).values

    @classmethod
    def from_evaluations(cls, X: torch.Tensor, Y: torch.Tensor, trace: Optional[List[Dict[str, Any]]] = None,
                         seconds: float = 0.0, failures: Optional[List[Dict[str, Any]]] = None) -> BOResult:
        """The result whose best point is the minimiser of ``Y`` (shape ``(n,)``) among ``X`` ``(n, d)``;
        ``trace`` and ``failures`` are kept as given (the same lists, empty ones included)."""
        i = int(Y.argmin())
        return cls(X[i], float(Y[i]), X, Y, [] if trace is None else trace, seconds,
                   [] if failures is None else failures)


class BOInterrupted(KeyboardInterrupt):
    """Raised by :func:`minimize` when interrupted (Ctrl-C) during its rounds: still a
    ``KeyboardInterrupt`` (a script stops), carrying the evaluations so far as :attr:`result`, a
    :class:`BOResult` whose ``failures`` end with ``{"error": "KeyboardInterrupt"}``."""

    def __init__(self, result: BOResult):
        super().__init__(f"interrupted after {result.Y.numel()} evaluations (best {result.y_best:.6g})")
        self.result = result
