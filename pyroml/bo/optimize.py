"""Multi-start maximisation of an acquisition over a box.

:func:`maximize` scores ``raw_samples`` starting points (scrambled Sobol points of the box, plus
Gaussian perturbations of given ``anchors`` such as the best evaluated inputs), keeps the best
``restarts`` of them (or, with ``eta``, draws them by :func:`boltzmann_starts`, BoTorch's rule),
and refines each to convergence by projected gradient ascent on the unit-cube coordinates
:math:`z = (x - a)/(b - a) \\in [0, 1]^d` (:func:`projected_ascent`: projected L-BFGS with an
Armijo backtracking line search, per restart, each step projected onto the cube, so that maxima
on the faces of the box are reached exactly). The best end point wins; end points closer than
``min_distance`` (in unit-cube units) to an ``avoid`` point are passed over (a deterministic
objective gains nothing from a repeat), falling back to the best raw point that is not.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Optional, Tuple

import torch

__all__ = ["maximize", "Maximum", "sobol", "projected_ascent", "boltzmann_starts"]

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
    """``acq`` at each row of ``X`` ``(n, d)``, in chunks, without gradients; ``(n,)``, non-finite as ``-inf``."""
    with torch.no_grad():
        v = torch.cat([acq(X[i:i + chunk, None, :]) for i in range(0, X.shape[0], chunk)])
    return torch.where(torch.isfinite(v), v, torch.full_like(v, -torch.inf))


def boltzmann_starts(values: torch.Tensor, k: int, eta: Optional[float] = 1.0,
                     generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Indices of ``k`` distinct starting points among candidates scored ``values`` ``(n,)``
    (``-inf`` for unusable ones): drawn without replacement with probability
    :math:`\\propto \\exp(\\eta z_i)`, :math:`z_i = (v_i - \\bar v)/s_v` the standardised finite
    scores, and the best candidate always among them (it replaces the last draw if it was not
    drawn). A high score is favoured, but not every start lands in the same basin as the best
    ones: the top ``k`` of a smooth acquisition are often neighbours on one peak, and the
    refinement then never looks at the second. ``eta=None`` (or all scores equal): the top ``k``.

    :returns: ``(min(k, number of finite scores),)`` long indices into ``values``, distinct (one
        index when no score is finite).
    """
    finite = torch.isfinite(values)
    k = min(k, int(finite.sum()))
    if k == 0:
        return values.topk(min(1, values.numel())).indices
    v = values[finite]
    spread = float(v.std()) if v.numel() > 1 else 0.0
    if eta is None or not spread > 0:
        return values.topk(k).indices
    z = (v - v.mean()) / spread
    weights = torch.zeros_like(values)
    weights[finite] = torch.exp(eta * (z - z.max()))
    idx = torch.multinomial(weights, k, replacement=False, generator=generator)
    best = int(values.argmax())
    if not (idx == best).any():
        idx[-1] = best
    return idx


def _far(X: torch.Tensor, avoid: Optional[torch.Tensor], width: torch.Tensor, tol: float) -> torch.Tensor:
    """Bool ``(n,)``: rows of ``X`` farther than ``tol`` (unit-cube units) from every ``avoid`` row."""
    if avoid is None or avoid.shape[0] == 0:
        return torch.ones(X.shape[0], dtype=torch.bool)
    return torch.cdist(X / width, avoid / width).min(-1).values > tol


def _value_and_grad(fn: Callable[[torch.Tensor], torch.Tensor], z: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """``fn(z)`` ``(r,)`` and its gradient in each row of ``z`` ``(r, d)`` (rows are independent)."""
    z = z.detach().requires_grad_(True)
    v = fn(z)
    (g,) = torch.autograd.grad(torch.where(torch.isfinite(v), v, torch.zeros_like(v)).sum(), z)
    return v.detach(), torch.nan_to_num(g.detach(), nan=0.0, posinf=0.0, neginf=0.0)


def _direction(g: torch.Tensor, free: torch.Tensor, S: torch.Tensor, Y: torch.Tensor, rho: torch.Tensor,
               gamma: torch.Tensor, newest: int) -> torch.Tensor:
    """The L-BFGS descent direction :math:`-H g` per row (two-loop recursion over the pairs
    ``S, Y`` ``(r, m, d)`` with weights ``rho`` ``(r, m)``, zero for an empty pair), on the free
    coordinates only; the steepest descent where that is not a descent direction."""
    m = S.shape[1]
    q = g * free
    used = (rho != 0).any(0).tolist()              # an empty pair changes nothing: skipped
    order = [j for j in ((newest - i) % m for i in range(m)) if used[j]]
    a = torch.zeros_like(rho)
    for j in order:
        a[:, j] = rho[:, j] * (S[:, j] * q).sum(-1)
        q = q - a[:, j, None] * Y[:, j] * free
    r = gamma[:, None] * q
    for j in reversed(order):
        b = rho[:, j] * (Y[:, j] * r).sum(-1)
        r = r + (a[:, j] - b)[:, None] * S[:, j] * free
    p = -r * free
    bad = (p * g).sum(-1) >= 0
    return torch.where(bad[:, None], -g * free, p)


def projected_ascent(fn: Callable[[torch.Tensor], torch.Tensor], z: torch.Tensor, max_iter: int = 100,
                     tol: float = 1e-9, memory: int = 10, backtracks: int = 20) -> Tuple[torch.Tensor, torch.Tensor]:
    """Maximise ``fn`` over :math:`[0, 1]^d` from each row of ``z`` ``(r, d)`` independently, by
    projected L-BFGS (each row its own curvature pairs and line search).

    Per iteration and row, with :math:`g` the gradient of :math:`F = -f`: coordinates on a face
    of the cube whose gradient points out of it are held; the others move along the L-BFGS
    direction :math:`p = -Hg` (``memory`` pairs, :math:`H_0 = s^\\top y / y^\\top y`), projected
    onto the cube, the step halved from 1 until the Armijo condition
    :math:`F(z^+) \\le F(z) + 10^{-4} g^\\top (z^+ - z)` holds. A row stops when its projected
    gradient vanishes, when the step changes :math:`F` by less than ``tol`` (relative), or when
    no step ascends.

    :param fn: maps ``(r, d)`` to ``(r,)`` (the rows' values), differentiable.
    :returns: the end points ``(r, d)`` and their values ``(r,)``.
    """
    r, d = z.shape
    z = z.detach().clamp(0.0, 1.0)
    F, g = _value_and_grad(lambda u: -fn(u), z)
    S, Y = z.new_zeros(r, memory, d), z.new_zeros(r, memory, d)
    rho, gamma = z.new_zeros(r, memory), z.new_ones(r)
    active = torch.isfinite(F)
    first = torch.ones_like(active)
    for k in range(max_iter):
        free = ~(((z <= 0) & (g > 0)) | ((z >= 1) & (g < 0)))
        active &= (g * free).abs().amax(-1) > 1e-12
        if not active.any():
            break
        p = _direction(g, free, S, Y, rho, gamma, (k - 1) % memory)
        t = torch.where(first, 0.1 / p.abs().amax(-1).clamp_min(1e-12), torch.ones_like(F)).clamp(max=1.0)
        trial, Ft, ok = z.clone(), F.clone(), torch.zeros_like(active)
        for _ in range(backtracks):
            todo = active & ~ok
            if not todo.any():
                break
            cand = (z[todo] + t[todo, None] * p[todo]).clamp(0.0, 1.0)
            with torch.no_grad():
                fc = -fn(cand)
            good = torch.isfinite(fc) & (fc <= F[todo] + 1e-4 * (g[todo] * (cand - z[todo])).sum(-1))
            idx = todo.nonzero().squeeze(-1)
            trial[idx[good]], Ft[idx[good]], ok[idx[good]] = cand[good], fc[good], True
            t[idx[~good]] *= 0.5
        moved = active & ok
        if not moved.any():
            break
        F_new, g_new = _value_and_grad(lambda u: -fn(u), trial[moved])
        s_, y_ = trial[moved] - z[moved], g_new - g[moved]
        sy = (s_ * y_).sum(-1)
        slot = k % memory
        good = sy > 1e-12 * (y_ * y_).sum(-1).sqrt() * (s_ * s_).sum(-1).sqrt()
        S[:, slot], Y[:, slot], rho[:, slot] = 0.0, 0.0, 0.0
        S[moved, slot] = torch.where(good[:, None], s_, torch.zeros_like(s_))
        Y[moved, slot] = torch.where(good[:, None], y_, torch.zeros_like(y_))
        rho[moved, slot] = torch.where(good, 1 / sy.clamp_min(1e-300), torch.zeros_like(sy))
        gamma[moved] = torch.where(good, sy / (y_ * y_).sum(-1).clamp_min(1e-300), gamma[moved])
        converged = (F[moved] - F_new).abs() <= tol * (1 + F[moved].abs())
        z[moved], F[moved], g[moved] = trial[moved], F_new, g_new
        first[moved] = False
        idx = moved.nonzero().squeeze(-1)
        active[idx[converged]] = False
        active &= moved
    return z, -F


def maximize(acq: AcquisitionFn, bounds: torch.Tensor, raw_samples: int = 1024, restarts: int = 10,
             steps: int = 100, seed: int = 0, anchors: Optional[torch.Tensor] = None,
             avoid: Optional[torch.Tensor] = None, min_distance: float = 1e-6,
             generator: Optional[torch.Generator] = None, eta: Optional[float] = None) -> Maximum:
    """The maximiser of ``acq`` over the box ``bounds`` ``(2, d)`` by multi-start projected gradient ascent.

    :param acq: maps ``(b, 1, d)`` to ``(b,)``, differentiable in its input.
    :param int raw_samples: Sobol starting candidates scored before refinement.
    :param int restarts: the candidates refined, each by at most ``steps`` iterations of
        :func:`projected_ascent` in unit-cube coordinates: the best ``restarts`` (``eta=None``,
        the default), or drawn by :func:`boltzmann_starts` at temperature ``eta`` (the best
        always among them; BoTorch's ``initialize_q_batch`` uses ``eta=1``: no better on the BO
        benchmark, ``docs/benchmarks.md``).
    :param Tensor anchors: points ``(m, d)`` around which 64 perturbed candidates each are added
        (standard deviation 5% of the box); e.g. the best evaluated inputs.
    :param Tensor avoid: points ``(n, d)`` not to return (within ``min_distance`` of the unit cube).
    :param generator: for the perturbations and the draw of the starts (default: seeded by ``seed``).
    :returns: a :class:`Maximum`: ``(x (d,), value)``.
    """
    low, width = bounds[0], bounds[1] - bounds[0]
    generator = torch.Generator().manual_seed(seed) if generator is None else generator
    raw = sobol(bounds, raw_samples, seed)
    if anchors is not None and anchors.shape[0] > 0:
        noise = 0.05 * torch.randn(anchors.shape[0], 64, bounds.shape[1], generator=generator, dtype=torch.float64)
        local = (anchors[:, None, :] + noise * width).reshape(-1, bounds.shape[1])
        raw = torch.cat([raw, torch.minimum(torch.maximum(local, bounds[0]), bounds[1])])
    values = _score(acq, raw)
    starts = raw[boltzmann_starts(values, restarts, eta, generator)]
    z, _ = projected_ascent(lambda u: acq((low + width * u)[:, None, :]), (starts - low) / width, max_iter=steps)
    ends = (low + width * z).clamp(bounds[0], bounds[1])
    cand = torch.cat([ends, raw])
    scores = torch.cat([_score(acq, ends), values])
    scores = scores.masked_fill(~_far(cand, avoid, width, min_distance), -torch.inf)
    i = int(scores.argmax())
    return Maximum(cand[i], float(scores[i]))
