"""Bayesian optimisation of a black-box function over a box, with a :class:`~pyroml.gp.GP` surrogate.

Each iteration fits the GP's hyperparameters to the evaluations so far (MAP by L-BFGS, or a
NUTS posterior), scores a candidate set with an acquisition (:mod:`pyroml.bo.acquisition`:
log expected improvement, Thompson sampling or a lower confidence bound), evaluates the
objective at the best candidate and adds the point.

Candidates: a regular grid in 1-d, a scrambled Sobol set in d dimensions; a candidate already
evaluated is never proposed again (the study's Thompson sampling spent half its evaluations
re-picking points of D).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch

from pyroml._validation import check_choice, check_int
from pyroml.bo.acquisition import METHODS, choose
from pyroml.gp import GP, Posterior
from pyroml.gp.priors import Prior

__all__ = ["minimize", "BOResult", "random_search", "Bounds"]

#: ``(low, high)`` in 1-d, or a ``(2, d)`` tensor (or nested sequence) of lows and highs
Bounds = Union[Tuple[float, float], Sequence[float], Sequence[Sequence[float]], torch.Tensor]
Objective = Callable[[torch.Tensor], Any]


@dataclass
class BOResult:
    """Outcome of :func:`minimize`.

    :ivar x_best: the best input found, shape ``(d,)``.
    :ivar y_best: its objective value.
    :ivar X: every evaluated input, shape ``(n, d)`` (the initial points first).
    :ivar Y: every objective value, shape ``(n,)``.
    :ivar trace: one dict per iteration: ``x``, ``y``, ``best``, ``hypers``, ``seconds`` and, in
        1-d, ``candidates`` with the ``acquisition`` (or the drawn ``sample``) over them.
    :ivar seconds: wall time of the iterations.
    """

    x_best: torch.Tensor
    y_best: float
    X: torch.Tensor
    Y: torch.Tensor
    trace: List[Dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def best_so_far(self) -> torch.Tensor:
        """Running minimum of ``Y``, shape ``(n,)``."""
        return torch.cummin(self.Y, 0).values

    @classmethod
    def from_evaluations(cls, X: torch.Tensor, Y: torch.Tensor, trace: Optional[List[Dict[str, Any]]] = None,
                         seconds: float = 0.0) -> BOResult:
        """The result whose best point is the minimiser of ``Y`` (shape ``(n,)``) among ``X`` ``(n, d)``."""
        i = int(Y.argmin())
        return cls(X[i], float(Y[i]), X, Y, trace or [], seconds)


def _bounds(bounds: Bounds) -> torch.Tensor:
    """``bounds`` as a ``(2, d)`` float64 tensor of finite lows strictly below highs."""
    b = torch.as_tensor(bounds, dtype=torch.float64)
    if b.dim() == 1:
        if b.numel() != 2:
            raise ValueError(f"1-d bounds must be (low, high), got {tuple(b.tolist())}")
        b = b[:, None]
    if b.dim() != 2 or b.shape[0] != 2:
        raise ValueError(f"bounds must be (low, high) or a (2, d) tensor of lows and highs, got shape {tuple(b.shape)}")
    if not torch.isfinite(b).all() or not (b[0] < b[1]).all():
        raise ValueError(f"bounds need finite lows strictly below highs, got {b.tolist()}")
    return b


def _points(x: Any, b: torch.Tensor, what: str) -> torch.Tensor:
    """``x`` as an ``(n, d)`` float64 tensor inside the bounds ``b`` ``(2, d)``."""
    x = torch.as_tensor(x, dtype=torch.float64)
    if x.dim() == 1:
        x = x[:, None] if b.shape[1] == 1 else x[None, :]
    if x.dim() != 2 or x.shape[1] != b.shape[1]:
        raise ValueError(f"{what} must have shape (n, {b.shape[1]}), got {tuple(x.shape)}")
    outside = ((x < b[0]) | (x > b[1])).any(-1)
    if outside.any():
        raise ValueError(f"{what} has points outside the bounds {b.T.tolist()}: {x[outside].tolist()}; "
                         f"clip them or widen the bounds")
    return x


def _evaluate(f: Objective, x: torch.Tensor) -> torch.Tensor:
    """``f(x)`` as ``n`` finite float64 values for ``x`` of shape ``(n, d)``."""
    y = torch.as_tensor(f(x), dtype=torch.float64).reshape(-1)
    if y.numel() != x.shape[0]:
        raise ValueError(f"the objective returned {y.numel()} values for {x.shape[0]} points; it must map "
                         f"an (n, d) tensor to n values")
    bad = ~torch.isfinite(y)
    if bad.any():
        raise ValueError(f"the objective returned {y[bad].tolist()} at {x[bad].tolist()}: it must be finite "
                         f"everywhere inside the bounds")
    return y


def _uniform(b: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` uniform points in the box ``b`` ``(2, d)``; shape ``(n, d)``."""
    return b[0] + (b[1] - b[0]) * torch.rand(n, b.shape[1], generator=generator, dtype=torch.float64)


def _candidates(b: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """``n`` candidates in the box: a regular grid in 1-d, else scrambled Sobol points; ``(n, d)``."""
    if b.shape[1] == 1:
        return torch.linspace(float(b[0, 0]), float(b[1, 0]), n, dtype=torch.float64)[:, None]
    sobol = torch.quasirandom.SobolEngine(b.shape[1], scramble=True, seed=seed)
    return b[0] + (b[1] - b[0]) * sobol.draw(n, dtype=torch.float64)


def _fit_hypers(model: GP, hyperparameters: str, seed: int, nuts_samples: int, nuts_warmup: int,
                state: Optional[Dict[str, Any]]) -> Posterior:
    """MAP, or a one-chain NUTS posterior warm-started from the previous iteration's last
    draw and step size (then with half the warm-up)."""
    if hyperparameters == "map":
        return model.map_estimate(seed=seed)
    if state is None:
        return model.sample_posterior(nuts_samples, nuts_warmup, num_chains=1, seed=seed)
    return model.sample_posterior(nuts_samples, max(nuts_warmup // 2, 1), num_chains=1, seed=seed,
                                  init=state["init"], step_size=state["step_size"])


def _record(entry: Dict[str, Any], model: GP, post: Posterior, cand: torch.Tensor, X: torch.Tensor,
            Y: torch.Tensor, keep: bool) -> None:
    """Add to a 1-d trace entry (``keep``) the GP over the candidates and the data before the
    step; otherwise drop its per-candidate scores."""
    if keep:
        entry["candidates"] = cand[:, 0]
        m, v = model.predict(cand, post.samples, noiseless=True)
        entry["gp_mean"], entry["gp_std"] = m, v.sqrt()
        entry["X_before"], entry["Y_before"] = X[:-1, 0].clone(), Y[:-1].clone()
    else:
        entry.pop("sample", None)
        entry.pop("acquisition", None)


def minimize(f: Objective, bounds: Bounds, x0: Optional[torch.Tensor] = None,
             iterations: int = 10, method: str = "ei", hyperparameters: str = "map", kernel: str = "rbf",
             noise: float = 1e-4, n_candidates: int = 2000, kappa: float = 2.0, seed: int = 0,
             nuts_samples: int = 20, nuts_warmup: int = 60, record: bool = True,
             priors: Optional[Mapping[str, Prior]] = None) -> BOResult:
    """Minimise ``f`` over a box by Bayesian optimisation.

    :param f: objective mapping inputs of shape ``(n, d)`` to ``n`` finite values.
    :param bounds: ``(low, high)`` in 1-d, else a ``(2, d)`` tensor of lows and highs.
    :param Tensor x0: initial points, shape ``(n, d)`` (``(n,)`` in 1-d), inside the bounds;
        default ``2d + 1`` uniform random points.
    :param int iterations: evaluations after the initial points.
    :param str method: ``"ei"`` (default: log expected improvement), ``"thompson"`` or ``"lcb"``
        (:mod:`pyroml.bo.acquisition`).
    :param str hyperparameters: ``"map"`` (default: L-BFGS on the log posterior, restarts from the
        prior) or ``"nuts"`` (fully Bayesian: a NUTS posterior each iteration, one chain of
        ``nuts_warmup + nuts_samples`` steps, later iterations warm-started from the previous
        posterior with half the warm-up; Thompson sampling uses one of its draws, EI and LCB
        average over all of them).
    :param str kernel: GP kernel name (see :data:`pyroml.gp.KERNELS`).
    :param float noise: the GP's fixed observation-noise variance.
    :param int n_candidates: candidate points scored per iteration (a grid in 1-d, scrambled
        Sobol points otherwise).
    :param float kappa: the LCB's :math:`\\kappa`.
    :param int seed: makes a run repeatable.
    :param bool record: keep, in 1-d, the GP and the acquisition over the candidates in the trace.
    :param dict priors: the GP's hyperparameter priors (default: :func:`pyroml.gp.default_priors`).
    :returns: a :class:`BOResult`.
    """
    check_choice("method", method, METHODS)
    check_choice("hyperparameters", hyperparameters, ("map", "nuts"))
    check_int("iterations", iterations, 0)
    b = _bounds(bounds)
    gen = torch.Generator().manual_seed(seed)
    X = _points(_uniform(b, 2 * b.shape[1] + 1, gen) if x0 is None else x0, b, "x0")
    Y = _evaluate(f, X)
    cand = _candidates(b, n_candidates, seed)
    trace: List[Dict[str, Any]] = []
    state: Optional[Dict[str, Any]] = None
    t_start = time.perf_counter()
    for it in range(iterations):
        t0 = time.perf_counter()
        model = GP(X, Y, kernel=kernel, noise=noise, priors=priors)
        post = _fit_hypers(model, hyperparameters, seed * 1000 + it, nuts_samples, nuts_warmup, state)
        if hyperparameters == "nuts":
            state = {"init": {k: float(v[-1]) for k, v in post.samples.items()},
                     "step_size": post.diagnostics["step_size"][0]}
        # a deterministic objective gains nothing from a repeat: candidates already evaluated are out
        seen = (torch.cdist(cand, X) < 1e-9 * float((b[1] - b[0]).max())).any(-1)
        choice = choose(method, model, post, cand, seen, float(Y.min()), kappa, gen)
        x_new = cand[choice.candidate:choice.candidate + 1]
        y_new = _evaluate(f, x_new)
        X, Y = torch.cat([X, x_new]), torch.cat([Y, y_new])
        entry: Dict[str, Any] = {**choice.scores, "iteration": it + 1, "x": x_new[0].tolist(), "y": float(y_new),
                                 "best": float(Y.min()),
                                 "hypers": {k: float(v.mean()) for k, v in choice.hypers.items()},
                                 "seconds": time.perf_counter() - t0}
        _record(entry, model, post, cand, X, Y, record and b.shape[1] == 1)
        trace.append(entry)
    return BOResult.from_evaluations(X, Y, trace, time.perf_counter() - t_start)


def random_search(f: Objective, bounds: Bounds, x0: torch.Tensor, iterations: int = 10, seed: int = 0) -> BOResult:
    """Uniform random search with the same budget (a baseline for the benchmarks): ``x0``, then
    ``iterations`` uniform points in the box."""
    b = _bounds(bounds)
    gen = torch.Generator().manual_seed(seed)
    X = torch.cat([_points(x0, b, "x0"), _uniform(b, iterations, gen)])
    return BOResult.from_evaluations(X, _evaluate(f, X))
