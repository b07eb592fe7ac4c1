"""Screen a BO variant against pyroml's default and BoTorch on seeds the recorded benchmark never ran.

    python benchmarks/bench_bo_variants.py --variant reported-ei --functions forrester levy4 --seeds 80 120
    python benchmarks/bench_bo_variants.py --variant reference-ei --functions forrester levy4 --seeds 80 120
    python benchmarks/bench_bo_variants.py --variant reference-botorch --functions forrester levy4 --seeds 80 120
    python benchmarks/bench_bo_variants.py --compare reported-ei --functions forrester levy4 --seeds 80 120

Each run is :func:`bench_bo.run` (the same problems, initial designs and noise draws as the
recorded benchmark for a given seed) with the variant's change patched in for the process; rows
are appended to ``--out`` (default ``benchmarks/results/bo/variants.jsonl``) with fields
``variant`` and ``session`` (``--session``, default 14: a later screen tags its own rows, and
``--compare`` reads one session's), and a rerun skips the rows already there. Choosing a variant
on the seeds that also judge it would flatter it (the noisy medians of methods this close moved
by up to 0.2 between 40 and 80 seeds, and the count of functions no worse than BoTorch with
them), so screens run on seeds 80 and up, beside ``reference-ei`` (the default, unpatched) and
``reference-botorch`` rows on the same seeds; ``--compare`` prints, per function, the medians of
the log10 regret at the budget, the paired counts, the default's median gap to BoTorch with its
95% interval, and pooled sign tests (:func:`compare`).

Variants:

``reported-ei``
    the acquisition is the one-step expected gain in the *true* value at the best observed input,
    the quantity the benchmark scores (:class:`ReportedImprovement`), instead of log-EI below the
    best observed value;
``map``, ``rbf``, ``nowarp``, ``botorch-like``
    one of the default's parts undone: EI at the MAP point alone (``hyperparameters="map"``), the
    RBF kernel only (``kernel="rbf"``), no warp of y (``warp=False``), and all three (BoTorch's
    configuration inside pyroml).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
from typing import Any, Callable, Dict, List, NamedTuple, Optional

import torch
from bench_bo import PROBLEMS, _sign_test, median_gap, run

from pyroml.bo import acquisition, loop
from pyroml.gp import GP
from pyroml.gp.kernels import Hypers, kernel_matrix

HERE = os.path.dirname(os.path.abspath(__file__))


class ReportedImprovement(acquisition.Acquisition):
    """The expected gain in the true value at the input of the lowest observation after one more
    evaluation at :math:`x` (for minimisation; the benchmark's score). With :math:`x^+` the input of
    the lowest observation :math:`y^*` (on the GP's working scale), :math:`f` and :math:`f^+ = f(x^+)`
    jointly Gaussian under the posterior (means :math:`\\mu, \\mu^+`, variance :math:`\\sigma^2`,
    covariance :math:`c`) and the new observation :math:`y = f + \\varepsilon`,
    :math:`\\varepsilon \\sim \\mathcal N(0, \\tau^2)`, :math:`s^2 = \\sigma^2 + \\tau^2`,
    :math:`z = (y^* - \\mu)/s`:

    .. math::

        \\mathbb E\\big[(f^+ - f)\\,\\mathbf 1\\{y < y^*\\}\\big]
        = (\\mu^+ - \\mu)\\,\\Phi(z) + \\frac{\\sigma^2 - c}{s}\\,\\varphi(z),

    averaged over the hyperparameter settings. Without noise (:math:`\\tau = 0`, :math:`\\mu^+ = y^*`,
    :math:`c = 0`) this is EI; with noise it is negative where a point could take the incumbent's
    place by a lucky draw while being worse. ``X`` of shape ``(b, 1, d)`` gives ``(b,)``.
    """

    def __init__(self, model: GP, hypers: Hypers, best: float):
        super().__init__(model, hypers)
        self.best = best
        with torch.no_grad():
            i = int(model.y.argmin())
            solved = model._solve(model.X[i:i + 1], hypers)
            self.x_inc, self.A_inc = solved.X_new, solved.A                        # (1, d), (S, n, 1)
            self.mean_inc = model.output_transform.inverse_mean(solved.mean)[:, 0]   # (S,)
            self.tau2 = model.output_transform.inverse_variance(solved.noise)       # (S,)

    def __call__(self, X: torch.Tensor) -> torch.Tensor:
        m, out = self.model, self.model.output_transform
        Xn, hp, _, mean, A = m._solve(self._points(X), self.hypers)
        var = (m.kernel.diag(hp)[:, None] - (A * A).sum(-2)).clamp_min(0)
        cross = kernel_matrix(m.kernel, Xn, self.x_inc, hp)[..., 0] - (A * self.A_inc).sum(-2)
        mu, var, cross = out.inverse_mean(mean), out.inverse_variance(var), out.inverse_variance(cross)
        s = (var + self.tau2[:, None]).clamp_min(1e-30).sqrt()
        z = (self.best - mu) / s
        gain = (self.mean_inc[:, None] - mu) * torch.special.ndtr(z) + (var - cross) / s * torch.exp(
            -0.5 * z * z - 0.5 * math.log(2 * math.pi))
        return gain.mean(0)


def _reported_ei() -> None:
    original = acquisition.make_acquisition

    def make(method: str, model: GP, hypers: Hypers, best: float, kappa: float = 2.0, seed: int = 0):
        return ReportedImprovement(model, hypers, best) if method == "ei" else original(
            method, model, hypers, best, kappa, seed)
    loop.make_acquisition = make


class Variant(NamedTuple):
    """A screened variant: the ``bench_bo`` method it runs, a patch applied before the runs, and
    keyword arguments for ``bo.minimize``."""

    method: str
    patch: Callable[[], None] = lambda: None
    options: Optional[Dict[str, Any]] = None


VARIANTS: Dict[str, Variant] = {
    "reference-ei": Variant("ei"), "reference-botorch": Variant("botorch"),
    "reported-ei": Variant("ei", _reported_ei),
    "map": Variant("ei", options={"hyperparameters": "map"}),                 # the MAP point alone
    "rbf": Variant("ei", options={"kernel": "rbf"}),                          # BoTorch's kernel, no choice
    "nowarp": Variant("ei", options={"warp": False}),                         # y standardised only
    "botorch-like": Variant("ei", options={"hyperparameters": "map", "kernel": "rbf", "warp": False})}


def _rows(path: str) -> List[Dict]:
    if not os.path.exists(path):
        return []
    with open(path) as fh:
        return [json.loads(line) for line in fh]


def compare(rows: List[Dict], variant: str, functions: List[str], seeds: range, noisy: bool, session: int = 14) -> str:
    """Per function: the medians of ``variant``, ``reference-ei`` and ``reference-botorch`` (the
    last two alone for ``variant="reference-ei"``) over the seeds all of them ran, for each pair
    how many of those runs the first ends at or below the second, and the default's median gap to
    BoTorch with its 95% paired bootstrap interval (:func:`bench_bo.median_gap`); then the pairs
    pooled over the functions, strictly lower against strictly higher, with the two-sided sign
    test's p (:func:`bench_bo._sign_test`, ties dropped)."""
    got = {(r["variant"], r["function"], r["seed"]): r["log10_regret"] for r in rows
           if r.get("session") == session and r["noisy"] == noisy}
    names = list(dict.fromkeys([variant, "reference-ei", "reference-botorch"]))     # reference-ei: the two alone
    pairs = [(i, j) for i in range(len(names)) for j in range(i + 1, len(names))]
    lines = [f"| function | n | {' | '.join(names)} | " + " | ".join(f"{names[i]} <= {names[j]}" for i, j in pairs)
             + " | reference-ei - reference-botorch [95%] |", "|---|---|" + "---|" * (len(names) + len(pairs) + 1)]
    pooled = [[0, 0] for _ in pairs]
    for fn in functions:
        s = [i for i in seeds if all((v, fn, i) in got for v in names)]
        if not s:
            continue
        runs = [[got[name, fn, i] for i in s] for name in names]
        counts = []
        for k, (i, j) in enumerate(pairs):
            counts.append(sum(a <= b for a, b in zip(runs[i], runs[j])))
            pooled[k][0] += sum(a < b for a, b in zip(runs[i], runs[j]))
            pooled[k][1] += sum(a > b for a, b in zip(runs[i], runs[j]))
        lines.append(f"| {fn} | {len(s)} | " + " | ".join(f"{statistics.median(r):+.2f}" for r in runs) + " | "
                     + " | ".join(str(c) for c in counts) + " | {:+.3f} [{:+.2f}, {:+.2f}] |".format(
                         *median_gap(runs[-2], runs[-1])))
    lines.append("pooled, lower/higher (sign test p): " + ", ".join(
        f"{names[i]} vs {names[j]} {lo}/{hi} (p={_sign_test(lo, hi):.2f})" for (i, j), (lo, hi) in zip(pairs, pooled)))
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--variant", choices=sorted(VARIANTS), help="run this variant")
    what.add_argument("--compare", choices=sorted(v for v in VARIANTS if v != "reference-botorch"),
                      help="print this variant against the references (reference-ei: the default against BoTorch)")
    p.add_argument("--functions", nargs="+", choices=sorted(PROBLEMS), required=True)
    p.add_argument("--seeds", nargs=2, type=int, default=[80, 120], metavar=("FIRST", "STOP"))
    p.add_argument("--noise", type=int, choices=[0, 1], default=1, help="noiseless (0) or noisy (1)")
    p.add_argument("--out", default=os.path.join(HERE, "results", "bo", "variants.jsonl"))
    p.add_argument("--session", type=int, default=14, help="the session that tags (and --compare reads) the rows")
    args = p.parse_args()
    first, stop = args.seeds
    if not 0 <= first < stop:
        p.error(f"--seeds FIRST STOP needs 0 <= FIRST < STOP, got {first} {stop}")
    seeds, noisy = range(first, stop), bool(args.noise)
    if args.compare:
        print(compare(_rows(args.out), args.compare, args.functions, seeds, noisy, args.session))
        return
    torch.set_num_threads(1)                   # as bench_bo.py's runs: the recorded rows reproduce
    variant = VARIANTS[args.variant]
    variant.patch()
    done = {(r["function"], r["seed"]) for r in _rows(args.out)
            if r.get("variant") == args.variant and r.get("session") == args.session and r["noisy"] == noisy}
    for s in seeds:
        for fn in args.functions:
            if (fn, s) not in done:
                row = {**run(fn, variant.method, s, noisy, variant.options), "variant": args.variant,
                       "session": args.session}
                with open(args.out, "a") as fh:
                    fh.write(json.dumps(row) + "\n")
                print(f"{fn} seed {s} {args.variant}: log10 regret {row['log10_regret']:.2f}", flush=True)


if __name__ == "__main__":
    main()
