"""A lean No-U-Turn sampler in NumPy for the GP's closed-form potential (a handful of
hyperparameters, a potential that costs tens of microseconds).

It is the sampler of Stan, Pyro and NumPyro, written for small dense problems without tensors:

* leapfrog steps on :math:`H(z, r) = U(z) + \\tfrac12 r^\\top M^{-1} r` with a diagonal mass
  matrix :math:`M`;
* trajectories doubled in a random direction until the generalised no-U-turn criterion holds
  between the ends of the whole tree or of any subtree (with the sum of momenta :math:`\\rho`
  and :math:`p^\\sharp = M^{-1} r` at the ends, turning when
  :math:`p^\\sharp_\\pm \\cdot (\\rho - (r_- + r_+)/2) \\le 0`, as Pyro and NumPyro check it), at most
  ``max_tree_depth`` doublings, a divergence when the energy error exceeds 1000;
* multinomial sampling of the draw: uniform progressive sampling inside a new subtree and biased
  progressive sampling (:math:`\\min(1, w_{new}/w_{old})`) when it joins the tree (Betancourt 2017);
* warm-up as Stan's: dual-averaging step-size adaptation towards ``target_accept_prob``
  (:math:`\\gamma = 0.05, t_0 = 10, \\kappa = 0.75`, restarted at :math:`\\mu = \\log 10\\epsilon`) and a
  diagonal mass matrix estimated in doubling windows (75 initial, 25, 50, 100, ... slow, 50 final
  steps; 15% / 75% / 10% of a warm-up shorter than 150), regularised towards :math:`10^{-3}` as Stan's.

Per leapfrog step it costs the potential plus about ten NumPy calls on vectors of length
:math:`H`, against Pyro's NUTS, whose bookkeeping over small torch tensors costs several times
the potential on the study's GP. Tested against the exact moments of Gaussian targets and
against Pyro's NUTS on the study's GP.
"""

from __future__ import annotations

import math
from typing import Callable, List, NamedTuple, Optional, Tuple

import numpy as np

__all__ = ["LeanNUTS", "Potential"]

#: ``theta -> (U(theta), dU/dtheta)``: a float and a sequence of H floats (``inf`` where undefined)
Potential = Callable[[List[float]], Tuple[float, List[float]]]


class _State(NamedTuple):
    z: np.ndarray
    r: np.ndarray
    grad: np.ndarray
    U: float


class _Tree(NamedTuple):
    minus: _State
    plus: _State
    proposal: _State
    logw: float            # log of the summed weights exp(H0 - H) of the tree's states
    rho: np.ndarray        # sum of the momenta
    turning: bool
    diverging: bool
    accept: float          # sum of min(1, exp(H0 - H)) over the leapfrog steps
    steps: int


def _logaddexp(a: float, b: float) -> float:
    hi = max(a, b)
    return hi if hi == -math.inf else hi + math.log(math.exp(a - hi) + math.exp(b - hi))


class LeanNUTS:
    """NUTS with Stan's warm-up over a NumPy potential (see the module docstring).

    :param potential: ``theta -> (U, grad U)``.
    :param float target_accept_prob: the step size's target mean acceptance statistic.
    :param int max_tree_depth: at most :math:`2^{depth}` leapfrog steps per draw.
    :param float step_size: the initial step size (default: found by the usual doubling heuristic).
    :param rng: a ``numpy.random.Generator``.
    """

    def __init__(self, potential: Potential, target_accept_prob: float = 0.8, max_tree_depth: int = 10,
                 step_size: Optional[float] = None, rng: Optional[np.random.Generator] = None):
        self.potential, self.delta, self.max_depth = potential, float(target_accept_prob), int(max_tree_depth)
        self.step_size = step_size
        self.rng = rng if rng is not None else np.random.default_rng()
        self.minv: np.ndarray = np.ones(0)
        self.divergences: List[int] = []

    # ---- dynamics -------------------------------------------------------------------
    def _state(self, z: np.ndarray, r: np.ndarray) -> _State:
        U, g = self.potential(z.tolist())
        return _State(z, r, np.asarray(g, dtype=float), U)

    def _leapfrog(self, s: _State, eps: float) -> _State:
        r = s.r - 0.5 * eps * s.grad
        z = s.z + eps * self.minv * r
        U, g = self.potential(z.tolist())
        grad = np.asarray(g, dtype=float)
        return _State(z, r - 0.5 * eps * grad, grad, U)

    def _energy(self, s: _State) -> float:
        return s.U + 0.5 * float(s.r @ (self.minv * s.r))

    def _turning(self, minus: _State, plus: _State, rho: np.ndarray) -> bool:
        rho = rho - 0.5 * (minus.r + plus.r)
        return float((self.minv * minus.r) @ rho) <= 0 or float((self.minv * plus.r) @ rho) <= 0

    def _leaf(self, s: _State, eps: float, H0: float) -> _Tree:
        new = self._leapfrog(s, eps)
        H = self._energy(new)
        dH = H - H0 if math.isfinite(H) else math.inf
        return _Tree(new, new, new, -dH, new.r, False, dH > 1000.0, min(1.0, math.exp(-dH)) if dH > 0 else 1.0, 1)

    def _build(self, s: _State, v: int, depth: int, eps: float, H0: float) -> _Tree:
        """A subtree of :math:`2^{depth}` steps from ``s`` in direction ``v``."""
        if depth == 0:
            return self._leaf(s, v * eps, H0)
        first = self._build(s, v, depth - 1, eps, H0)
        if first.turning or first.diverging:
            return first
        second = self._build(first.plus if v > 0 else first.minus, v, depth - 1, eps, H0)
        logw = _logaddexp(first.logw, second.logw)
        take = second.logw > -math.inf and self.rng.random() < math.exp(second.logw - logw)
        minus, plus = (first.minus, second.plus) if v > 0 else (second.minus, first.plus)
        rho = first.rho + second.rho
        turning = second.turning or self._turning(minus, plus, rho)
        return _Tree(minus, plus, second.proposal if take else first.proposal, logw, rho, turning,
                     second.diverging, first.accept + second.accept, first.steps + second.steps)

    def transition(self, s: _State, eps: float) -> Tuple[_State, float, bool]:
        """One NUTS draw from ``s``: ``(new state, mean acceptance statistic, diverged)``."""
        r = self.rng.standard_normal(s.z.shape[0]) / np.sqrt(self.minv)
        s = s._replace(r=r)
        H0 = self._energy(s)
        tree = _Tree(s, s, s, 0.0, r, False, False, 0.0, 0)
        for depth in range(self.max_depth):
            v = 1 if self.rng.random() < 0.5 else -1
            new = self._build(tree.plus if v > 0 else tree.minus, v, depth, eps, H0)
            accept, steps = tree.accept + new.accept, tree.steps + new.steps
            if new.diverging or new.turning:
                return tree.proposal, accept / steps, new.diverging
            take = self.rng.random() < math.exp(min(0.0, new.logw - tree.logw))
            minus, plus = (tree.minus, new.plus) if v > 0 else (new.minus, tree.plus)
            rho = tree.rho + new.rho
            tree = _Tree(minus, plus, new.proposal if take else tree.proposal, _logaddexp(tree.logw, new.logw),
                         rho, False, False, accept, steps)
            if self._turning(minus, plus, rho):
                break
        return tree.proposal, tree.accept / max(tree.steps, 1), False

    # ---- warm-up ----------------------------------------------------------------------
    def _reasonable_step_size(self, s: _State, eps: float) -> float:
        """Double or halve ``eps`` until one leapfrog step's acceptance crosses 1/2 (Hoffman & Gelman)."""
        r = self.rng.standard_normal(s.z.shape[0]) / np.sqrt(self.minv)
        s = s._replace(r=r)
        H0 = self._energy(s)

        def log_accept(e: float) -> float:
            H = self._energy(self._leapfrog(s, e))
            return H0 - H if math.isfinite(H) else -math.inf
        direction = 1.0 if log_accept(eps) > math.log(0.5) else -1.0
        for _ in range(100):                      # as Pyro: the first step size past the crossing
            eps = eps * 2.0 ** direction
            if (log_accept(eps) > math.log(0.5)) != (direction > 0) or not 1e-10 < eps < 1e7:
                break
        return eps


def adaptation_windows(warmup: int) -> List[int]:
    """The warm-up steps after which the mass matrix is updated: Stan's windows (for a warm-up of
    500: after 100, 150, 250 and 450 steps; one window over the middle 75% below 150; none below 20)."""
    if warmup < 20:
        return []
    init, term, base = (75, 50, 25) if warmup >= 150 else (int(0.15 * warmup), int(0.1 * warmup), 0)
    last = warmup - term
    base = base or last - init
    ends, end, size = [], init + base, base
    while True:
        if end + 2 * size > last:                 # the next window would not fit: stretch this one
            end = last
        ends.append(end)
        if end >= last:
            return ends
        size *= 2
        end += size


class _DualAveraging:
    """Nesterov dual averaging of :math:`\\log\\epsilon` (Hoffman & Gelman 2014, Algorithm 5)."""

    def __init__(self, eps: float, delta: float):
        self.mu, self.delta = math.log(10.0 * eps), delta
        self.t, self.h_bar, self.x_bar, self.x = 0, 0.0, 0.0, math.log(eps)

    def update(self, accept: float) -> float:
        self.t += 1
        eta = 1.0 / (self.t + 10.0)
        self.h_bar = (1 - eta) * self.h_bar + eta * (self.delta - accept)
        self.x = self.mu - math.sqrt(self.t) / 0.05 * self.h_bar
        w = self.t ** -0.75
        self.x_bar = w * self.x + (1 - w) * self.x_bar
        return math.exp(self.x)

    @property
    def final(self) -> float:
        return math.exp(self.x_bar)


def run_lean_chain(sampler: LeanNUTS, z0: np.ndarray, num_samples: int, warmup: int,
                   on_draw: Optional[Callable[[int, np.ndarray], None]] = None) -> np.ndarray:
    """``num_samples`` draws after ``warmup`` adaptation steps from ``z0`` ``(H,)``; shape ``(S, H)``.

    ``on_draw(i, z)`` is called after every step ``i`` (warm-up included), e.g. to keep the draws
    made so far when the run is interrupted. Sets ``sampler.step_size``, ``sampler.minv`` and
    ``sampler.divergences`` (indices of divergent draws after the warm-up).
    """
    H = z0.shape[0]
    sampler.minv, sampler.divergences = np.ones(H), []
    s = sampler._state(np.asarray(z0, dtype=float), np.zeros(H))
    if not math.isfinite(s.U):
        raise ValueError(f"the potential is not finite at the chain's start {z0.tolist()}; pass another init")
    eps = sampler.step_size or sampler._reasonable_step_size(s, 1.0)
    dual, windows = _DualAveraging(eps, sampler.delta), set(adaptation_windows(warmup))
    start = int(0.15 * warmup) if warmup < 150 else 75
    window: List[np.ndarray] = []
    out = np.empty((num_samples, H))
    for i in range(warmup + num_samples):
        s, accept, diverged = sampler.transition(s, eps)
        if i < warmup:
            eps = dual.update(accept)
            if i >= start:
                window.append(s.z)
            if i + 1 in windows and len(window) > 1:
                n, var = len(window), np.var(np.stack(window), axis=0, ddof=1)
                sampler.minv = (n / (n + 5.0)) * var + 1e-3 * (5.0 / (n + 5.0))
                window = []
                eps = sampler._reasonable_step_size(s, eps)
                dual = _DualAveraging(eps, sampler.delta)
            if i + 1 == warmup:
                eps = dual.final
        else:
            out[i - warmup] = s.z
            if diverged:
                sampler.divergences.append(i - warmup)
        if on_draw is not None:
            on_draw(i, s.z)
    sampler.step_size = eps
    return out
