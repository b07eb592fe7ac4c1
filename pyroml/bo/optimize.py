"""Multi-start maximisation of an acquisition over a box.

:func:`maximize` scores ``raw_samples`` starting points (scrambled Sobol points of the box, plus
Gaussian perturbations of given ``anchors`` such as the best evaluated inputs), keeps the best
``restarts`` of them, and refines those together by projected gradient ascent: Adam steps on
the unit-cube coordinates :math:`z = (x - a)/(b - a)`, each followed by clamping to
:math:`[0, 1]^d`. The best end point wins; end points closer than ``min_distance`` (in unit-cube
units) to an ``avoid`` point are passed over (a deterministic objective gains nothing from a
repeat), falling back to the best raw point that is not.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Optional

import torch

__all__ = ["maximize", "Maximum", "sobol"]

#: ``X (b, 1, d) -> (b,)``, the value to maximise
AcquisitionFn = Callable[[torch.Tensor], torch.Tensor]


class Maximum(NamedTuple):
    """The point :func:`maximize` found, ``x`` of shape ``(d,)``, and its acquisition ``value``."""

    x: torch.Tensor
    value: float


def sobol(bounds: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """``n`` scrambled Sobol points in the box ``bounds`` ``(2, d)``; shape ``(n, d)``, float64."""
    engine = torch.quasirandom.SobolEngine(bounds.shape[1], scramble=True, seed=seed)
    return bounds[0] + (bounds[1] - bounds[0]) * engine.draw(n, dtype=torch.float64)


def _score(acq: AcquisitionFn, X: torch.Tensor, chunk: int = 1024) -> torch.Tensor:
    """``acq`` at each row of ``X`` ``(n, d)``, in chunks, without gradients; ``(n,)``."""
    with torch.no_grad():
        return torch.cat([acq(X[i:i + chunk, None, :]) for i in range(0, X.shape[0], chunk)])


def _far(X: torch.Tensor, avoid: Optional[torch.Tensor], width: torch.Tensor, tol: float) -> torch.Tensor:
    """Bool ``(n,)``: rows of ``X`` farther than ``tol`` (unit-cube units) from every ``avoid`` row."""
    if avoid is None or avoid.shape[0] == 0:
        return torch.ones(X.shape[0], dtype=torch.bool)
    return torch.cdist(X / width, avoid / width).min(-1).values > tol


def maximize(acq: AcquisitionFn, bounds: torch.Tensor, raw_samples: int = 1024, restarts: int = 8,
             steps: int = 60, lr: float = 0.03, seed: int = 0, anchors: Optional[torch.Tensor] = None,
             avoid: Optional[torch.Tensor] = None, min_distance: float = 1e-6,
             generator: Optional[torch.Generator] = None) -> Maximum:
    """The maximiser of ``acq`` over the box ``bounds`` ``(2, d)`` by multi-start projected gradient ascent.

    :param acq: maps ``(b, 1, d)`` to ``(b,)``, differentiable in its input.
    :param int raw_samples: Sobol starting candidates scored before refinement.
    :param int restarts: the best candidates refined (all at once) for ``steps`` Adam steps of
        size ``lr`` in unit-cube units.
    :param Tensor anchors: points ``(m, d)`` around which 64 perturbed candidates each are added
        (standard deviation 5% of the box); e.g. the best evaluated inputs.
    :param Tensor avoid: points ``(n, d)`` not to return (within ``min_distance`` of the unit cube).
    :returns: a :class:`Maximum`: ``(x (d,), value)``.
    """
    low, width = bounds[0], bounds[1] - bounds[0]
    raw = sobol(bounds, raw_samples, seed)
    if anchors is not None and anchors.shape[0] > 0:
        noise = 0.05 * torch.randn(anchors.shape[0], 64, bounds.shape[1], generator=generator, dtype=torch.float64)
        local = (anchors[:, None, :] + noise * width).reshape(-1, bounds.shape[1])
        raw = torch.cat([raw, torch.minimum(torch.maximum(local, bounds[0]), bounds[1])])
    values = _score(acq, raw)
    values = torch.where(torch.isfinite(values), values, torch.full_like(values, -torch.inf))
    starts = raw[values.topk(min(restarts, raw.shape[0])).indices]
    z = ((starts - low) / width).clone().requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        loss = -acq((low + width * z)[:, None, :])
        if not torch.isfinite(loss).all():
            break
        loss.sum().backward()
        opt.step()
        with torch.no_grad():
            z.clamp_(0.0, 1.0)
    ends = (low + width * z.detach()).clamp(bounds[0], bounds[1])
    cand = torch.cat([ends, raw])
    scores = torch.cat([_score(acq, ends), values])
    scores = torch.where(torch.isfinite(scores), scores, torch.full_like(scores, -torch.inf))
    scores = scores.masked_fill(~_far(cand, avoid, width, min_distance), -torch.inf)
    i = int(scores.argmax())
    return Maximum(cand[i], float(scores[i]))
