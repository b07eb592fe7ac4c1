"""Bayesian optimisation on standard test functions: pyroml's methods, random search, BoTorch.

    python benchmarks/bench_bo.py --quick                         # 3 functions x 3 seeds, a smoke run
    python benchmarks/bench_bo.py                                 # all functions, 10 seeds, all methods
    python benchmarks/bench_bo.py --functions branin hartmann6 --methods ei botorch --noise 0
    python benchmarks/bench_bo.py --summary                       # table and figures from the results so far
    python benchmarks/bench_bo.py --summary --seeds 40            # the same reading over seeds 0-39 (printed only)
    python benchmarks/bench_bo.py --drop ei thompson                # delete a method's rows (after a change)
    flock -x /tmp/pyroml-cpu.lock python benchmarks/bench_bo.py --timing   # ei vs botorch s/it, interleaved
    python benchmarks/bench_bo.py --timing --noise 1                # the same on the noisy problems

Functions (1-6 d, with their known minima): Forrester (1), the study's function (1), Branin (2),
six-hump camel (2), Hartmann-3 (3), Ackley (3), Levy (4), Rosenbrock (4), Styblinski-Tang (4),
Hartmann-6 (6); each noiseless, and noisy (Gaussian noise, standard deviation 5% of the
function's spread over the box). Budget: ``10 d`` evaluations (at least 10), from a uniform
random initial design of ``2d + 1`` points per seed shared by every method.

Methods: ``random`` (uniform random search), ``ei`` (pyroml's defaults, ``bo.minimize`` as a user
calls it: log-EI; unit cube, y standardised and Yeo-Johnson warped, noise learned; Matérn 5/2 or
RBF ARD chosen each round by leave-one-out predictive density; value-space MAP priors with the
signal variance pinned, a fitted constant mean, EI averaged over the MAP point and 15 draws of
the Laplace approximation around it, projected L-BFGS acquisition maximisation; see
docs/gp.md), ``ei-map`` (the same at the MAP point alone: the default until session 9),
``ei-nl`` (the same with ``noiseless=True``;
noiseless problems only), ``nei`` (``method="nei"``, noisy log-EI: EI below the best *latent*
value, Monte Carlo over the posterior at the evaluated inputs; noisy problems only), ``thompson``, ``ucb``,
``ei-q4`` (batches of 4), and ``botorch``: BoTorch's default loop (``SingleTaskGP`` with input
normalisation and output standardisation, ``fit_gpytorch_mll``, ``LogExpectedImprovement``,
``optimize_acqf`` with 10 restarts and 512 raw samples; seeded by ``torch.manual_seed(seed)``
per run, so its rows reproduce), a benchmark-only reference, skipped if
BoTorch cannot be imported (``pip install botorch``; never a pyroml dependency).

Reported per function, noise level and method: the median and interquartile range of the
log10 simple regret at the budget, :math:`\\log_{10}(f(x^+) - f^*)` with :math:`x^+` the input of
the best observed value (floored at -8), and the median seconds per iteration; ``--summary``
adds the issue's bars and, per cell, pyroml's median minus BoTorch's with a 95% paired bootstrap
interval over the seeds (:func:`median_gap`). Runs are appended
to ``results.jsonl`` in the output folder as they finish, each naming its environment in
``environment.json`` (:func:`record_environment`); a rerun skips the runs already there, so a
partial run is summarised honestly. One regret-curve figure per function.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import statistics
import time
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple

import torch
from common import machine_info

from pyroml import bo
from pyroml.io import write_json
from pyroml.studies.gp_problem import study_problem

Fn = Callable[[torch.Tensor], torch.Tensor]
#: the distributions whose versions ``environment.json`` records beside the rows (BoTorch's runs
#: reproduce within one environment, not across rebuilt ones)
PACKAGES = ("pyro-ppl", "numpy", "scipy", "botorch", "gpytorch", "linear_operator")
HERE = os.path.dirname(os.path.abspath(__file__))


class Problem(NamedTuple):
    f: Fn
    bounds: List[List[float]]
    f_min: float


def _hartmann(A, P, alpha) -> Fn:
    A, P, alpha = (torch.tensor(v, dtype=torch.float64) for v in (A, P, alpha))
    return lambda x: -(alpha * torch.exp(-(A * (x[:, None, :] - P) ** 2).sum(-1))).sum(-1)


H3 = _hartmann([[3, 10, 30], [0.1, 10, 35], [3, 10, 30], [0.1, 10, 35]],
               [[0.3689, 0.1170, 0.2673], [0.4699, 0.4387, 0.7470], [0.1091, 0.8732, 0.5547],
                [0.0381, 0.5743, 0.8828]], [1.0, 1.2, 3.0, 3.2])
H6 = _hartmann([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8],
                [17, 8, 0.05, 10, 0.1, 14]],
               [[0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886], [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
                [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650], [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381]],
               [1.0, 1.2, 3.0, 3.2])


def _ackley(x):
    d = x.shape[1]
    return (-20 * torch.exp(-0.2 * torch.sqrt((x ** 2).sum(-1) / d)) - torch.exp(torch.cos(2 * math.pi * x).sum(-1) / d)
            + 20 + math.e)


def _levy(x):
    w = 1 + (x - 1) / 4
    inner = ((w[:, :-1] - 1) ** 2 * (1 + 10 * torch.sin(math.pi * w[:, :-1] + 1) ** 2)).sum(-1)
    last = (w[:, -1] - 1) ** 2 * (1 + torch.sin(2 * math.pi * w[:, -1]) ** 2)
    return torch.sin(math.pi * w[:, 0]) ** 2 + inner + last


def _branin(x):
    a, b = x[:, 0], x[:, 1]
    return (b - 5.1 / (4 * math.pi ** 2) * a ** 2 + 5 / math.pi * a - 6) ** 2 + 10 * (1 - 1 / (8 * math.pi)) * \
        torch.cos(a) + 10


PROBLEMS: Dict[str, Problem] = {
    "forrester": Problem(lambda x: (6 * x[:, 0] - 2) ** 2 * torch.sin(12 * x[:, 0] - 4), [[0.0], [1.0]], -6.020740),
    "study": Problem(lambda x: study_problem().f(x)[:, 0], [[-1.0], [1.0]], -4.954402),
    "branin": Problem(_branin, [[-5.0, 0.0], [10.0, 15.0]], 0.397887),
    "sixhump": Problem(lambda x: (4 - 2.1 * x[:, 0] ** 2 + x[:, 0] ** 4 / 3) * x[:, 0] ** 2 + x[:, 0] * x[:, 1]
                       + (-4 + 4 * x[:, 1] ** 2) * x[:, 1] ** 2, [[-3.0, -2.0], [3.0, 2.0]], -1.0316284535),
    "hartmann3": Problem(H3, [[0.0] * 3, [1.0] * 3], -3.862782),
    "ackley3": Problem(_ackley, [[-32.768] * 3, [32.768] * 3], 0.0),
    "levy4": Problem(_levy, [[-10.0] * 4, [10.0] * 4], 0.0),
    "rosenbrock4": Problem(lambda x: (100 * (x[:, 1:] - x[:, :-1] ** 2) ** 2 + (1 - x[:, :-1]) ** 2).sum(-1),
                           [[-5.0] * 4, [10.0] * 4], 0.0),
    "styblinski4": Problem(lambda x: 0.5 * (x ** 4 - 16 * x ** 2 + 5 * x).sum(-1), [[-5.0] * 4, [5.0] * 4],
                           -39.16616570377142 * 4),
    "hartmann6": Problem(H6, [[0.0] * 6, [1.0] * 6], -3.322368),
}
METHODS = ["random", "ei", "ei-map", "ei-nl", "nei", "thompson", "ucb", "ei-q4", "botorch"]
#: the settings of a user who says what they know of the noise: ``noiseless=True`` on the
#: noiseless problems, ``method="nei"`` on the noisy ones (``--summary`` compares each with BoTorch)
INFORMED = ("ei-nl", "nei")


def spread(p: Problem) -> float:
    """The standard deviation of ``f`` over 2048 Sobol points of the box (sets the noise level)."""
    b = torch.tensor(p.bounds, dtype=torch.float64)
    return float(p.f(bo.optimize.sobol(b, 2048, seed=123)).std())


def _botorch_gp(X: torch.Tensor, Y: torch.Tensor, b: torch.Tensor):
    """BoTorch's default GP (``SingleTaskGP`` on :math:`-y`, inputs normalised by the box), fitted."""
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskGP
    from botorch.models.transforms import Normalize
    from gpytorch.mlls import ExactMarginalLogLikelihood
    model = SingleTaskGP(X, -Y[:, None], input_transform=Normalize(X.shape[1], bounds=b))
    fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
    return model


def botorch_minimize(f: Fn, b: torch.Tensor, x0: torch.Tensor, iterations: int) -> torch.Tensor:
    """BoTorch's default loop (benchmark-only): returns every evaluated input and value."""
    from botorch.acquisition import LogExpectedImprovement
    from botorch.optim import optimize_acqf
    X, Y = x0, f(x0)
    for _ in range(iterations):
        acq = LogExpectedImprovement(_botorch_gp(X, Y, b), best_f=float((-Y).max()))
        x, _ = optimize_acqf(acq, b, q=1, num_restarts=10, raw_samples=512)
        X, Y = torch.cat([X, x]), torch.cat([Y, f(x)])
    return torch.cat([X, Y[:, None]], 1)


def botorch_recommend(X: torch.Tensor, Y: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The evaluated input of highest posterior mean (of :math:`-y`) under BoTorch's GP refitted to
    every evaluation, ``(d,)``: the rule of pyroml's ``x_recommended``, applied to BoTorch's run."""
    model = _botorch_gp(X, Y, b)
    with torch.no_grad():
        return X[int(model.posterior(X).mean[:, 0].argmax())]


def run(name: str, method: str, seed: int, noisy: bool, options: Optional[Dict] = None) -> Dict:
    """One run: the regret curve (best true value so far at each evaluation) and timings
    (``options``: extra keyword arguments for ``bo.minimize``, for experiments)."""
    p = PROBLEMS[name]
    b = torch.tensor(p.bounds, dtype=torch.float64)
    d = b.shape[1]
    budget, n0 = max(10, 10 * d), 2 * d + 1
    g = torch.Generator().manual_seed(1000 + seed)
    x0 = b[0] + (b[1] - b[0]) * torch.rand(n0, d, generator=g, dtype=torch.float64)
    sd = 0.05 * spread(p) if noisy else 0.0
    ng = torch.Generator().manual_seed(2000 + seed)

    def f(x: torch.Tensor) -> torch.Tensor:
        return p.f(x) + sd * torch.randn(x.shape[0], generator=ng, dtype=torch.float64)
    t0 = time.perf_counter()
    if method == "botorch":
        torch.manual_seed(seed)                  # BoTorch's raw samples and restarts draw from torch's global RNG
        XY = botorch_minimize(f, b, x0, budget - n0)
        X, Y = XY[:, :-1], XY[:, -1]
        seconds = time.perf_counter() - t0
        x_rec: Optional[torch.Tensor] = botorch_recommend(X, Y, b)
    elif method == "random":
        res = bo.random_search(f, b, x0, iterations=budget - n0, seed=seed)
        X, Y, x_rec = res.X, res.Y, None
        seconds = time.perf_counter() - t0
    else:
        per_method: Dict[str, Dict[str, Any]] = {
            "ei": {}, "ei-map": {"hyperparameters": "map"}, "ei-nl": {"noiseless": True}, "nei": {"method": "nei"},
            "thompson": {"method": "thompson"}, "ucb": {"method": "ucb"}, "ei-q4": {"q": 4}}
        kw = {**per_method[method], **(options or {})}
        q = kw.get("q", 1)
        res = bo.minimize(f, b, x0, iterations=-(-(budget - n0) // q), seed=seed, record=False, **kw)
        X, Y = res.X[:budget], res.Y[:budget]                       # the last batch may overshoot the budget
        x_rec, seconds = res.x_recommended, res.seconds            # the rounds' time, not the recommendation's
    true = p.f(X)
    incumbent = [int(Y[:i + 1].argmin()) for i in range(len(Y))]         # the best *observed* value's input
    regret = [max(float(true[i]) - p.f_min, 1e-8) for i in incumbent]
    row = {"function": name, "method": method, "seed": seed, "noisy": noisy, "dim": d, "budget": budget,
           "regret": regret, "log10_regret": math.log10(regret[-1]),
           "seconds_per_iteration": seconds / max(len(Y) - n0, 1)}
    if x_rec is not None:                      # the true f at the method's recommendation (not timed)
        row["log10_regret_recommended"] = math.log10(max(float(p.f(x_rec[None])[0]) - p.f_min, 1e-8))
    return row


def _quartiles(v: List[float]) -> str:
    q = statistics.quantiles(v, n=4) if len(v) > 1 else [v[0]] * 3
    return f"{q[1]:.2f} [{q[0]:.2f}, {q[2]:.2f}]"


def _complete(rows: List[Dict]) -> List[Dict]:
    """The runs that reached their budget (an earlier version's batch rounding stopped some short)."""
    return [r for r in rows if len(r["regret"]) == r["budget"]]


def summary(rows: List[Dict], out: Optional[str]) -> str:
    """The markdown table (median [IQR] of log10 regret at the budget, s/iteration) and, unless
    ``out`` is None, the figures in ``out`` (runs that stopped short of the budget, e.g. from an
    earlier version's batch rounding, are left out)."""
    rows = _complete(rows)
    keys = sorted({(r["function"], r["noisy"]) for r in rows}, key=lambda k: (list(PROBLEMS).index(k[0]), k[1]))
    methods = [m for m in METHODS if any(r["method"] == m for r in rows)]
    lines = ["| function | noise | " + " | ".join(methods) + " |", "|---|---|" + "---|" * len(methods)]
    for fn, noisy in keys:
        cells = []
        for m in methods:
            rs = [r for r in rows if (r["function"], r["noisy"], r["method"]) == (fn, noisy, m)]
            cells.append("–" if not rs else f"{_quartiles([r['log10_regret'] for r in rs])} "
                         f"({statistics.median(r['seconds_per_iteration'] for r in rs):.2f} s, n={len(rs)})")
        lines.append(f"| {fn} | {'5%' if noisy else '0'} | " + " | ".join(cells) + " |")
    if out is not None:
        _figures(rows, keys, methods, out)
    return "\n".join(lines)


def _sign_test(better: int, worse: int) -> float:
    """Two-sided sign-test p-value of ``better`` against ``worse`` paired outcomes (ties dropped):
    :math:`\\min(1, 2 P[B \\le \\min(b, w)])` for :math:`B \\sim \\mathrm{Binomial}(b + w, 1/2)`."""
    n, k = better + worse, min(better, worse)
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n) if n else 1.0


def _paired(rows: List[Dict], other: str) -> Tuple[int, int, int]:
    """``ei`` against ``other`` on the runs both made (same function and seed, i.e. the same initial
    design): ``(runs where ei's regret is lower, runs where it is higher, runs paired)``."""
    regret = {(r["function"], r["method"], r["seed"]): r["log10_regret"] for r in rows
              if r["method"] in ("ei", other)}
    keys = [(fn, s) for fn, m, s in regret if m == "ei" and (fn, other, s) in regret]
    better = sum(regret[fn, "ei", s] < regret[fn, other, s] for fn, s in keys)
    worse = sum(regret[fn, "ei", s] > regret[fn, other, s] for fn, s in keys)
    return better, worse, len(keys)


def median_gap(a: List[float], b: List[float], draws: int = 4000, seed: int = 0) -> Tuple[float, float, float]:
    """The difference of medians :math:`\\mathrm{med}(a) - \\mathrm{med}(b)` of paired samples ``a, b``
    (the same seeds, in order) and its 95% paired bootstrap interval (percentile; seeds resampled
    with replacement ``draws`` times, seeded): ``(difference, low, high)``. An interval wholly above
    zero says ``a``'s median is higher than chance alone explains."""
    if len(a) != len(b) or not a:
        raise ValueError(f"median_gap pairs the seeds: a and b need the same, non-zero length, "
                         f"got {len(a)} and {len(b)}")
    x, y = torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64)
    idx = torch.randint(len(a), (draws, len(a)), generator=torch.Generator().manual_seed(seed))
    gaps = x[idx].quantile(0.5, dim=1) - y[idx].quantile(0.5, dim=1)
    low, high = gaps.quantile(torch.tensor([0.025, 0.975], dtype=torch.float64)).tolist()
    return float(x.quantile(0.5) - y.quantile(0.5)), low, high


def gaps(rows: List[Dict], key: str = "log10_regret", method: str = "ei") -> str:
    """Per noise level, ``method``'s median ``key`` (log10 regret at the best observed input, or with
    ``"log10_regret_recommended"`` at the method's recommendation) minus ``botorch``'s on each
    function, over the seeds both ran (runs that have ``key``), with its 95% paired bootstrap
    interval (:func:`median_gap`); for the recommendation, and for a method other than the default
    ``ei``, also the functions where its median is no higher."""
    rows = _complete(rows)
    regret = {(r["function"], r["noisy"], r["method"], r["seed"]): r[key] for r in rows if key in r}
    what = "" if key == "log10_regret" else " at the recommended input"
    out = []
    for noisy in (False, True):
        cells, worse = [], []
        for fn in PROBLEMS:
            seeds = sorted(s for f, n, m, s in regret if (f, n, m) == (fn, noisy, method)
                           and (fn, noisy, "botorch", s) in regret)
            if seeds:
                gap, low, high = median_gap([regret[fn, noisy, method, s] for s in seeds],
                                            [regret[fn, noisy, "botorch", s] for s in seeds])
                cells.append(f"{fn} {gap:+.2f} [{low:+.2f}, {high:+.2f}]")
                worse += [fn] if gap > 0 else []
        count = f"{method} no worse than botorch on {len(cells) - len(worse)}/{len(cells)} (worse on {worse}); " \
            if what or method != "ei" else ""
        if cells:
            out.append(f"{'noisy' if noisy else 'noiseless'}{what}: {count}median log10 regret {method} - botorch, "
                       f"95% paired bootstrap interval: {', '.join(cells)}")
    return "\n".join(out)


def bars(rows: List[Dict]) -> str:
    """The issue's bars per noise level, from complete cells: functions where pyroml's default
    (``ei``) has a median log10 regret no worse than BoTorch's and better than random search's,
    and the ratio of their median seconds per iteration (over all runs of the level)."""
    rows = _complete(rows)
    out = []
    for noisy in (False, True):
        med: Dict[tuple, float] = {}
        for fn in PROBLEMS:
            for m in ("ei", "botorch", "random"):
                v = [r["log10_regret"] for r in rows if (r["function"], r["noisy"], r["method"]) == (fn, noisy, m)]
                if v:
                    med[fn, m] = statistics.median(v)
        both = [fn for fn in PROBLEMS if (fn, "ei") in med and (fn, "botorch") in med]
        rnd = [fn for fn in PROBLEMS if (fn, "ei") in med and (fn, "random") in med]
        if not both and not rnd:
            continue
        no_worse = [fn for fn in both if med[fn, "ei"] <= med[fn, "botorch"]]
        beats = [fn for fn in rnd if med[fn, "ei"] < med[fn, "random"]]
        sec = {m: statistics.median(r["seconds_per_iteration"] for r in rows
                                    if r["method"] == m and r["noisy"] == noisy)
               for m in ("ei", "botorch") if any(r["method"] == m and r["noisy"] == noisy for r in rows)}
        ratio = f"{sec['ei'] / sec['botorch']:.2f}" if len(sec) == 2 else "–"
        wins, pooled = [], [0, 0, 0]                      # better, worse, seeds
        for fn in both:
            better, worse, n = _paired([r for r in rows if r["function"] == fn and r["noisy"] == noisy], "botorch")
            wins.append(f"{fn} {n - worse}/{n} (p={_sign_test(better, worse):.2f})")
            pooled = [pooled[0] + better, pooled[1] + worse, pooled[2] + n]
        better, worse, n = _paired([r for r in rows if r["noisy"] == noisy], "ei-map")   # the earlier default
        versus = f"; ei at or below ei-map in {n - worse}/{n} paired runs (p={_sign_test(better, worse):.3f})" \
            if n else ""
        out.append(f"{'noisy' if noisy else 'noiseless'}: ei no worse than botorch on {len(no_worse)}/{len(both)} "
                   f"(worse on {sorted(set(both) - set(no_worse))}); better than random on {len(beats)}/{len(rnd)} "
                   f"(not on {sorted(set(rnd) - set(beats))}); median s/iteration ei/botorch = {ratio}; seeds (same "
                   f"initial design) where ei's regret <= botorch's, with the two-sided sign test's p over the "
                   f"untied seeds: {', '.join(wins)}; all functions pooled {pooled[2] - pooled[1]}/{pooled[2]} "
                   f"(p={_sign_test(pooled[0], pooled[1]):.3f}){versus}")
    return "\n".join(out)


def _figures(rows: List[Dict], keys, methods: List[str], out: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    for fn in dict.fromkeys(k[0] for k in keys):
        fig = Figure(figsize=(9, 3.5))
        axes = fig.subplots(1, 2)
        for ax, noisy in zip(axes, (False, True)):
            for m in methods:
                rs = [r["regret"] for r in rows if (r["function"], r["noisy"], r["method"]) == (fn, noisy, m)]
                if rs:
                    curve = torch.tensor(rs).log10().median(0).values
                    ax.plot(range(1, len(curve) + 1), curve.numpy(), label=m, color=f"C{methods.index(m)}")
            ax.set_title(f"{fn}, {'noisy' if noisy else 'noiseless'}")
            ax.set_xlabel("evaluation")
            ax.set_ylabel("median log10 simple regret")
        for ax in axes:
            ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(os.path.join(out, f"bo_regret_{fn}.png"), dpi=80)


def record_environment(out: str, info: Dict[str, Any]) -> str:
    """Add the environment ``info`` (:func:`common.machine_info`) to ``environment.json`` in ``out``,
    a map from a short name — a hash of its torch, Python and package versions, what the rows'
    numbers depend on — to its description, and return the name (each new row carries it as
    ``"environment"``). An older file holding a single description is kept, under its own name."""
    def name(e: Dict[str, Any]) -> str:
        key = json.dumps({k: e.get(k) for k in ("torch", "python", "versions")}, sort_keys=True)
        return hashlib.sha1(key.encode()).hexdigest()[:10]
    path = os.path.join(out, "environment.json")
    known: Dict[str, Any] = {}
    if os.path.exists(path):
        with open(path) as fh:
            known = json.load(fh)
        if "versions" in known:                 # the one-environment format (session 11)
            known = {name(known): known}
    known[name(info)] = info
    write_json(path, known)
    return name(info)


def timing(fns: List[str], seeds: int, out: str, noisy: bool = False) -> str:
    """Seconds per iteration of ``ei``, ``ei-map`` and ``botorch`` (and, on the noisy problems,
    ``nei``), runs interleaved (ei, ei-map, botorch, ei, ...) on the same problems (noiseless, or
    with ``noisy`` the noisy ones) and seeds, for a run with the machine to itself; writes
    ``timing.json`` (``timing_noisy.json``) with the medians and their ratios per function."""
    res: Dict[str, Dict[str, float]] = {}
    for fn in fns:
        secs: Dict[str, List[float]] = {m: [] for m in ["ei", "ei-map", "botorch"] + (["nei"] if noisy else [])}
        for s in range(seeds):
            for m in secs:
                secs[m].append(run(fn, m, s, noisy)["seconds_per_iteration"])
        res[fn] = {m: statistics.median(v) for m, v in secs.items()}
        res[fn]["ratio"] = res[fn]["ei"] / res[fn]["botorch"]
        res[fn]["ratio_ei_map"] = res[fn]["ei"] / res[fn]["ei-map"]
        if noisy:
            res[fn]["ratio_nei"] = res[fn]["nei"] / res[fn]["botorch"]
    with open(os.path.join(out, "timing_noisy.json" if noisy else "timing.json"), "w") as fh:
        json.dump(res, fh, indent=2)
    return "\n".join(f"{fn}: " + ", ".join(f"{m} {r[m]:.3f} s/it" for m in ("ei", "ei-map", "nei", "botorch") if m in r)
                     + f", ratio ei/botorch {r['ratio']:.2f}, ei/ei-map {r['ratio_ei_map']:.2f}"
                     + (f", nei/botorch {r['ratio_nei']:.2f}" if "ratio_nei" in r else "") for fn, r in res.items())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="forrester, branin, hartmann3; 3 seeds; random, ei")
    p.add_argument("--functions", nargs="*", default=None, choices=list(PROBLEMS))
    p.add_argument("--methods", nargs="*", default=None, choices=METHODS)
    p.add_argument("--seeds", type=int, default=None,
                   help="seeds per cell (default 10; 3 with --quick); with --summary, summarise seeds "
                        "0..N-1 only (printed; table.md and the figures keep every seed)")
    p.add_argument("--noise", type=int, choices=[0, 1], default=None, help="only noiseless (0) or noisy (1)")
    p.add_argument("--out", default=None, help="output folder (default benchmarks/results/bo[/quick])")
    p.add_argument("--summary", action="store_true", help="only summarise the results so far")
    p.add_argument("--timing", action="store_true",
                   help="only time ei against botorch, interleaved (timing.json; with --noise 1 timing_noisy.json)")
    p.add_argument("--drop", nargs="*", default=None, choices=METHODS, help="delete these methods' rows first")
    args = p.parse_args()
    if args.seeds is not None and args.seeds < 1:
        p.error(f"--seeds must be at least 1, got {args.seeds}")
    torch.set_num_threads(1)
    out = args.out or os.path.join(HERE, "results", "bo", *(["quick"] if args.quick else []))
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "results.jsonl")
    rows: List[Dict] = []
    if os.path.exists(path):
        with open(path) as fh:
            rows = [json.loads(line) for line in fh]
    if args.timing:
        print(timing(args.functions or ["branin", "hartmann3", "levy4", "hartmann6"], args.seeds or 2, out,
                     noisy=args.noise == 1))
        return
    if args.drop:
        rows = [r for r in rows if r["method"] not in args.drop]
        with open(path + ".tmp", "w") as fh:
            fh.writelines(json.dumps(r) + "\n" for r in rows)
        os.replace(path + ".tmp", path)
    if not args.summary:                    # the environment of the rows about to be written
        env = record_environment(out, machine_info(1, PACKAGES))
        fns = args.functions or (["forrester", "branin", "hartmann3"] if args.quick else list(PROBLEMS))
        methods = args.methods or (["random", "ei"] if args.quick else METHODS)
        seeds = args.seeds or (3 if args.quick else 10)
        done = {(r["function"], r["method"], r["seed"], r["noisy"]) for r in rows}
        for noisy in ([False, True] if args.noise is None else [bool(args.noise)]):
            for fn in fns:
                for m in methods:
                    if (m == "ei-nl" and noisy) or (m == "nei" and not noisy):
                        continue
                    for s in range(seeds):
                        if (fn, m, s, noisy) in done:
                            continue
                        try:
                            r = run(fn, m, s, noisy)
                        except ImportError as e:
                            print(f"skipping {m}: {e}")
                            break
                        r["environment"] = env
                        rows.append(r)
                        with open(path, "a") as fh:
                            fh.write(json.dumps(r) + "\n")
                        print(f"{fn:12s} {'noisy' if noisy else 'clean':5s} {m:8s} seed {s}: log10 regret "
                              f"{r['log10_regret']:.2f}, {r['seconds_per_iteration']:.2f} s/it", flush=True)
    view = args.summary and args.seeds is not None          # an earlier stage of the runs, printed only
    if view:
        rows = [r for r in rows if r["seed"] < args.seeds]
    lines = [bars(rows), gaps(rows), gaps(rows, "log10_regret_recommended")]
    lines += [gaps(rows, key, m) for m in INFORMED for key in ("log10_regret", "log10_regret_recommended")]
    table = summary(rows, None if view else out) + "\n\n" + "\n".join(line for line in lines if line)
    if not view:
        with open(os.path.join(out, "table.md"), "w") as fh:
            fh.write(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
