"""Bayesian optimisation on top of :class:`pyroml.gp.GP`.

Each iteration fits the GP's hyperparameters to the evaluations so far (MAP by L-BFGS, or a
NUTS posterior), scores a candidate set, evaluates the objective at the best candidate and
adds the point. Acquisitions, for minimisation with :math:`y_{\\min}` the best value so far
and :math:`\\mu, \\sigma` the posterior mean and standard deviation of :math:`f`:

* ``"ei"`` (default) — expected improvement
  :math:`\\mathbb E[\\max(y_{\\min} - f, 0)] = \\sigma\\,h(z)`, :math:`z = (y_{\\min} - \\mu)/\\sigma`,
  :math:`h(z) = z\\Phi(z) + \\varphi(z)`, maximised in log space (stable far into the tails,
  where plain EI underflows to a flat zero), averaged over hyperparameter samples;
* ``"thompson"`` — Thompson sampling as in the study: draw hyperparameters from their
  posterior, draw one joint function :math:`f^*` on the candidates, take its minimiser;
* ``"lcb"`` — lower confidence bound :math:`\\mu - \\kappa\\sigma`.

Candidates: a regular grid in 1-d, a scrambled Sobol set in d dimensions; a candidate already
evaluated is never proposed again (the study's Thompson sampling spent half its evaluations
re-picking points of D).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch

from pyroml.gp import GP, Posterior, study_problem

__all__ = ["minimize", "BOResult", "log_expected_improvement", "random_search"]

Bounds = Union[Tuple[float, float], Sequence[float], torch.Tensor]
METHODS = ("ei", "thompson", "lcb")


@dataclass
class BOResult:
    """Outcome of :func:`minimize`.

    :ivar x_best: the best input found, shape ``(d,)``.
    :ivar y_best: its objective value.
    :ivar X: every evaluated input, shape ``(n, d)`` (the initial points first).
    :ivar Y: every objective value, shape ``(n,)``.
    :ivar trace: one dict per iteration: ``x``, ``y``, ``best``, ``hypers``, ``seconds`` and, in
        1-d, ``candidates`` with the ``acquisition`` (or the drawn ``sample``) over them.
    """

    x_best: torch.Tensor
    y_best: float
    X: torch.Tensor
    Y: torch.Tensor
    trace: List[Dict[str, object]] = field(default_factory=list)
    seconds: float = 0.0

    def best_so_far(self) -> torch.Tensor:
        """Running minimum of ``Y``, shape ``(n,)``."""
        return torch.cummin(self.Y, 0).values


def _bounds(bounds: Bounds) -> torch.Tensor:
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


def _points(x: torch.Tensor, b: torch.Tensor, what: str) -> torch.Tensor:
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


def _evaluate(f: Callable, x: torch.Tensor) -> torch.Tensor:
    y = torch.as_tensor(f(x), dtype=torch.float64).reshape(-1)
    if y.numel() != x.shape[0]:
        raise ValueError(f"the objective returned {y.numel()} values for {x.shape[0]} points; it must map "
                         f"an (n, d) tensor to n values")
    bad = ~torch.isfinite(y)
    if bad.any():
        raise ValueError(f"the objective returned {y[bad].tolist()} at {x[bad].tolist()}: it must be finite "
                         f"everywhere inside the bounds")
    return y


def _candidates(b: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    if b.shape[1] == 1:
        return torch.linspace(float(b[0, 0]), float(b[1, 0]), n, dtype=torch.float64)[:, None]
    sobol = torch.quasirandom.SobolEngine(b.shape[1], scramble=True, seed=seed)
    return b[0] + (b[1] - b[0]) * sobol.draw(n, dtype=torch.float64)


def log_expected_improvement(mean: torch.Tensor, std: torch.Tensor, best: float) -> torch.Tensor:
    """:math:`\\log \\mathbb E[\\max(y_{\\min} - f, 0)]` for :math:`f \\sim \\mathcal N(\\mu, \\sigma^2)`,
    computed stably (via the scaled complementary error function) for any :math:`z`."""
    std = std.clamp_min(1e-12)
    z = (best - mean) / std
    log_phi = -0.5 * z * z - 0.5 * math.log(2 * math.pi)
    pos = z >= 0
    h_pos = z * torch.special.ndtr(z) + torch.exp(log_phi)
    # z < 0: h = phi(z) * (1 - |z| * Phi(z) / phi(z)), Phi(z) / phi(z) = sqrt(pi / 2) * erfcx(-z / sqrt 2)
    mills = math.sqrt(math.pi / 2) * torch.special.erfcx(-z / math.sqrt(2))
    log_h_neg = log_phi + torch.log1p(-(-z * mills).clamp(max=1 - 1e-16))
    log_h = torch.where(pos, torch.log(h_pos.clamp_min(1e-300)), log_h_neg)
    return torch.log(std) + log_h


def _fit_hypers(model: GP, hyperparameters: str, seed: int, nuts_samples: int, nuts_warmup: int,
                state: Optional[Dict[str, object]]) -> Posterior:
    """MAP, or a one-chain NUTS posterior warm-started from the previous iteration's last
    draw and step size (then with half the warm-up)."""
    if hyperparameters == "map":
        return model.map_estimate(seed=seed)
    if state is None:
        return model.sample_posterior(nuts_samples, nuts_warmup, num_chains=1, seed=seed)
    return model.sample_posterior(nuts_samples, max(nuts_warmup // 2, 1), num_chains=1, seed=seed,
                                  init=state["init"], step_size=state["step_size"])


def minimize(f: Callable[[torch.Tensor], torch.Tensor], bounds: Bounds, x0: Optional[torch.Tensor] = None,
             iterations: int = 10, method: str = "ei", hyperparameters: str = "map", kernel: str = "rbf",
             noise: float = 1e-4, n_candidates: int = 2000, kappa: float = 2.0, seed: int = 0,
             nuts_samples: int = 20, nuts_warmup: int = 60, record: bool = True) -> BOResult:
    """Minimise ``f`` over a box by Bayesian optimisation.

    :param f: objective mapping inputs of shape ``(n, d)`` to ``n`` finite values.
    :param bounds: ``(low, high)`` in 1-d, else a ``(2, d)`` tensor of lows and highs.
    :param Tensor x0: initial points, shape ``(n, d)`` (``(n,)`` in 1-d), inside the bounds;
        default ``2d + 1`` uniform random points.
    :param int iterations: evaluations after the initial points.
    :param str method: ``"ei"`` (default: log expected improvement), ``"thompson"`` or ``"lcb"``.
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
    :returns: a :class:`BOResult`.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if hyperparameters not in ("map", "nuts"):
        raise ValueError(f"hyperparameters must be 'map' or 'nuts', got {hyperparameters!r}")
    if not isinstance(iterations, int) or iterations < 0:
        raise ValueError(f"iterations must be a non-negative integer, got {iterations!r}")
    b = _bounds(bounds)
    gen = torch.Generator().manual_seed(seed)
    if x0 is None:
        x0 = b[0] + (b[1] - b[0]) * torch.rand(2 * b.shape[1] + 1, b.shape[1], generator=gen, dtype=torch.float64)
    X = _points(x0, b, "x0")
    Y = _evaluate(f, X)
    cand = _candidates(b, n_candidates, seed)
    trace: List[Dict[str, object]] = []
    state: Optional[Dict[str, object]] = None
    t_start = time.perf_counter()
    for it in range(iterations):
        t0 = time.perf_counter()
        model = GP(X, Y, kernel=kernel, noise=noise)
        post = _fit_hypers(model, hyperparameters, seed * 1000 + it, nuts_samples, nuts_warmup, state)
        if hyperparameters == "nuts":
            state = {"init": {k: float(v[-1]) for k, v in post.samples.items()},
                     "step_size": post.diagnostics["step_size"][0]}
        best = float(Y.min())
        entry: Dict[str, object] = {}
        # a deterministic objective gains nothing from a repeat: candidates already evaluated are out
        seen = (torch.cdist(cand, X) < 1e-9 * float((b[1] - b[0]).max())).any(-1)
        if method == "thompson":
            s = int(torch.randint(post.num_samples, (1,), generator=gen))
            hypers = {k: v[s:s + 1] for k, v in post.samples.items()}
            draw = model.sample_functions(cand, hypers, generator=gen)[0]
            idx = int(draw.masked_fill(seen, math.inf).argmin())
            entry["sample"] = draw
        else:
            hypers = post.samples
            mean, var, _ = model.conditional(cand, hypers)                    # (S, M) each
            std = var.sqrt()
            if method == "ei":
                acq = torch.logsumexp(log_expected_improvement(mean, std, best), 0) - math.log(mean.shape[0])
            else:
                acq = -(mean - kappa * std).mean(0)
            idx = int(acq.masked_fill(seen, -math.inf).argmax())
            entry["acquisition"] = acq
        x_new = cand[idx:idx + 1]
        y_new = _evaluate(f, x_new)
        X, Y = torch.cat([X, x_new]), torch.cat([Y, y_new])
        entry.update({"iteration": it + 1, "x": x_new[0].tolist(), "y": float(y_new), "best": float(Y.min()),
                      "hypers": {k: float(v.mean()) for k, v in hypers.items()},
                      "seconds": time.perf_counter() - t0})
        if record and b.shape[1] == 1:
            entry["candidates"] = cand[:, 0]
            m, v = model.predict(cand, post.samples, noiseless=True)
            entry["gp_mean"], entry["gp_std"] = m, v.sqrt()
            entry["X_before"], entry["Y_before"] = X[:-1, 0].clone(), Y[:-1].clone()
        else:
            entry.pop("sample", None)
            entry.pop("acquisition", None)
        trace.append(entry)
    i = int(Y.argmin())
    return BOResult(X[i], float(Y[i]), X, Y, trace, time.perf_counter() - t_start)


def random_search(f: Callable, bounds: Bounds, x0: torch.Tensor, iterations: int = 10, seed: int = 0) -> BOResult:
    """Uniform random search with the same budget (a baseline for the benchmarks)."""
    b = _bounds(bounds)
    gen = torch.Generator().manual_seed(seed)
    X = _points(x0, b, "x0")
    new = b[0] + (b[1] - b[0]) * torch.rand(iterations, b.shape[1], generator=gen, dtype=torch.float64)
    X = torch.cat([X, new])
    Y = _evaluate(f, X)
    i = int(Y.argmin())
    return BOResult(X[i], float(Y[i]), X, Y)


def add_cli_args(p) -> None:
    """Flags of ``pyroml bo``."""
    p.add_argument("--iterations", type=int, default=10, help="evaluations after the 5 initial points (default 10)")
    p.add_argument("--method", default="ei", choices=METHODS, help="acquisition (default ei)")
    p.add_argument("--hyperparameters", default="map", choices=["map", "nuts"],
                   help="MAP (default) or a NUTS posterior each iteration")
    p.add_argument("--out", default="runs/bo", help="output folder (default runs/bo)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="accepted for symmetry; GP work runs on the CPU in float64")
    p.add_argument("--data-dir", default=None, help="unused: the study's problem is built in")


def cli_main(args) -> int:
    """Optimise the study's function from its five points: prints the trace, writes a flat
    ``metrics.json``, ``result.json`` (every evaluation and the trace) and the figures."""
    from pathlib import Path

    from pyroml.checkpoint import write_json
    from pyroml.experiment import save_figures
    from pyroml.plots import bo_figures
    torch.set_num_threads(1)
    f, X0, bounds, x_min, f_min = study_problem()
    res = minimize(f, bounds, X0, iterations=args.iterations, method=args.method,
                   hyperparameters=args.hyperparameters, seed=args.seed)
    print(f"{'it':>3} {'x':>9} {'f(x)':>9} {'best':>9} {'lengthscale':>12} {'variance':>9} {'s':>6}")
    for t in res.trace:
        print(f"{t['iteration']:>3} {t['x'][0]:>9.4f} {t['y']:>9.4f} {t['best']:>9.4f} "
              f"{t['hypers']['lengthscale']:>12.4f} {t['hypers']['variance']:>9.3f} {t['seconds']:>6.2f}")
    found = res.y_best - f_min <= 0.01
    print(f"best f = {res.y_best:.4f} at x = {float(res.x_best[0]):.4f} (global minimum {f_min} at {x_min}): "
          f"{'found' if found else 'not found'}; {res.seconds:.1f} s")
    out = Path(args.out)
    write_json(out / "metrics.json", {"method": args.method, "hyperparameters": args.hyperparameters,
                                       "iterations": args.iterations, "seed": args.seed,
                                       "x_best": float(res.x_best[0]), "y_best": res.y_best, "f_min": f_min,
                                       "found_global": bool(found), "evaluations": len(res.Y), "seconds": res.seconds})
    write_json(out / "result.json", {"x_best": res.x_best.tolist(), "y_best": res.y_best, "found_global": bool(found),
                                      "X": res.X.tolist(), "Y": res.Y.tolist(), "seconds": res.seconds,
                                      "trace": [{k: v for k, v in t.items() if not torch.is_tensor(v)}
                                                for t in res.trace]})
    save_figures(bo_figures(res, f, bounds), out)
    print(f"wrote {out}/metrics.json, result.json and figures")
    return 0
