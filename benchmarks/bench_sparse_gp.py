"""The sparse GP (VFE, learned inducing inputs) against the exact GP, N = 10^3 .. 10^5.

    python benchmarks/bench_sparse_gp.py                  # exact at N <= 5000, sparse up to 10^5
    python benchmarks/bench_sparse_gp.py --quick          # N = 1000, 2000 (a minute)
    python benchmarks/bench_sparse_gp.py --sizes 100000 --exact-max 0   # one size, sparse only
    python benchmarks/bench_sparse_gp.py --compare-starts  # k-means++ against random inducing inputs

Data: y = sin 3x1 + 0.5 cos 5x2 + N(0, 0.1^2) on [0, 1]^2, N training points (one seeded stream
per N), 2,000 test points. Both models use the library defaults (unit cube, standardised y,
learned noise, default priors) with an ARD RBF kernel:

* exact: ``GP(X, y, kernel="rbf").map_estimate(restarts, steps)``: L-BFGS on the closed-form
  potential (one Cholesky factor per evaluation, the gradient from ``cholesky_inverse``);
* sparse: ``SparseGP(X, y, num_inducing=128, kernel="rbf").fit(max_iter=500, tol=1e-9)``: L-BFGS
  (strong-Wolfe line search) on the collapsed bound over the log hyperparameters and the inducing
  inputs (started by k-means++ seeding), the gradient chained by hand through the bound's
  M x M statistics, to convergence (iterations and evaluations reported).

Reported per N and model: seconds (fit + predict; one thread), test RMSE against the noisy test
targets (noise floor 0.1) and against the noise-free f, test NLPD (mean negative log predictive
density of the noisy targets), and for the sparse GP the ratios of its RMSEs, NLPD and seconds to
the exact GP's (the two run back to back in the same process, so the seconds ratio is the one to read
on a shared machine; the load average before and after each fit is recorded).
"""

from __future__ import annotations

import argparse
import math
import os
import time

import torch
from common import add_args, machine_info, out_path, print_table, write_result

from pyroml.gp import GP, SparseGP


def f(X: torch.Tensor) -> torch.Tensor:
    return torch.sin(3 * X[:, 0]) + 0.5 * torch.cos(5 * X[:, 1])


def draw(n: int, seed: int) -> tuple:
    g = torch.Generator().manual_seed(seed)
    X = torch.rand(n, 2, generator=g, dtype=torch.float64)
    return X, f(X) + 0.1 * torch.randn(n, generator=g, dtype=torch.float64)


def scores(m: torch.Tensor, v: torch.Tensor, Xt: torch.Tensor, yt: torch.Tensor) -> dict:
    return {"test_rmse": float(((m - yt) ** 2).mean().sqrt()), "f_rmse": float(((m - f(Xt)) ** 2).mean().sqrt()),
            "test_nlpd": float((0.5 * torch.log(2 * math.pi * v) + 0.5 * (yt - m) ** 2 / v).mean())}


def fit_one(name: str, X, y, Xt, args) -> tuple:
    """``(mean, var, seconds, extras)`` of one model on one data set."""
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    if name == "exact":
        post = GP(X, y, kernel="rbf").map_estimate(restarts=args.restarts, steps=args.steps)
        m, v = post.predict(Xt)
        extra = {"noise": float(post.samples["noise"][0])}
    else:
        sp = SparseGP(X, y, num_inducing=args.inducing, kernel="rbf").fit(max_iter=args.max_iter, tol=args.tol)
        m, v = sp.predict(Xt)
        info = ("iterations", "evaluations", "failed_evaluations", "converged")
        extra = {"noise": float(sp.log_hypers["noise"].exp()), **{k: sp.fit_info[k] for k in info}}
    secs = time.perf_counter() - t0
    return m, v, secs, {**extra, "load_before": load, "load_after": os.getloadavg()[0]}


def compare_starts(args) -> None:
    """``--compare-starts``: the inducing inputs started by k-means++ seeding (the default) against a
    random subset of the data, M = 8, 16, 32, three seeds each, on 3,000 points; Z held fixed
    (``learn_inducing=False``, where the start is the answer) and learned."""
    Xt, yt = draw(2000, 12345)
    X, y = draw(3000, 3000)
    rows = []
    for M in (8, 16, 32):
        for learn in (False, True):
            for seed in range(3):
                for start in ("kmeans++", "random"):
                    sp = SparseGP(X, y, num_inducing=M, kernel="rbf", seed=seed)
                    if start == "random":
                        pick = torch.randperm(3000, generator=torch.Generator().manual_seed(seed))[:M]
                        sp.Z = sp.Xt[pick].clone()
                    sp.fit(max_iter=args.max_iter, tol=args.tol, learn_inducing=learn)
                    row = {"M": M, "learn_inducing": learn, "seed": seed, "start": start,
                           "bound_per_point": float(sp.bound()) / 3000, **scores(*sp.predict(Xt), Xt, yt)}
                    rows.append(row)
                    print({k: (round(x, 5) if isinstance(x, float) else x) for k, x in row.items()}, flush=True)
    print_table(rows, ["M", "learn_inducing", "seed", "start", "bound_per_point", "f_rmse", "test_nlpd"])
    write_result(out_path(args, "gp_sparse_starts"), {"machine": machine_info(args.threads), "rows": rows})


def main(args) -> None:
    torch.set_num_threads(args.threads)
    if args.compare_starts:
        compare_starts(args)
        return
    Xt, yt = draw(2000, 12345)
    sizes = args.sizes or ([1000, 2000] if args.quick else [1000, 2000, 5000, 10_000, 100_000])
    rows = []
    for n in sizes:
        X, y = draw(n, n)
        exact = None
        for name in ["exact", "sparse"] if n <= args.exact_max else ["sparse"]:
            m, v, secs, extra = fit_one(name, X, y, Xt, args)
            row = {"N": n, "model": name, "seconds": secs, **scores(m, v, Xt, yt), **extra}
            if name == "exact":
                exact = row
            elif exact is not None:
                row["rmse_ratio"] = row["test_rmse"] / exact["test_rmse"]
                row["f_rmse_ratio"] = row["f_rmse"] / exact["f_rmse"]
                row["nlpd_diff"] = row["test_nlpd"] - exact["test_nlpd"]
                row["seconds_ratio"] = row["seconds"] / exact["seconds"]
            rows.append(row)
            print({k: (round(x, 5) if isinstance(x, float) else x) for k, x in row.items()}, flush=True)
    print_table(rows, ["N", "model", "seconds", "test_rmse", "f_rmse", "test_nlpd", "noise", "iterations",
                       "evaluations", "rmse_ratio", "f_rmse_ratio", "nlpd_diff", "seconds_ratio", "load_before"])
    write_result(out_path(args, "gp_sparse"), {"machine": machine_info(args.threads), "inducing": args.inducing,
                                               "sparse_max_iter": args.max_iter, "sparse_tol": args.tol,
                                               "exact_restarts": args.restarts, "exact_steps": args.steps,
                                               "rows": rows})


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_args(p)
    p.add_argument("--sizes", type=int, nargs="+", default=None, help="training-set sizes (default by mode)")
    p.add_argument("--exact-max", type=int, default=5000, help="largest N for the exact GP (default 5000)")
    p.add_argument("--restarts", type=int, default=2, help="exact GP: L-BFGS starts (default 2)")
    p.add_argument("--steps", type=int, default=50, help="exact GP: L-BFGS iterations per start (default 50)")
    p.add_argument("--inducing", type=int, default=128, help="sparse GP: inducing inputs M (default 128)")
    p.add_argument("--max-iter", type=int, default=500, help="sparse GP: L-BFGS iteration cap (default 500)")
    p.add_argument("--tol", type=float, default=1e-9, help="sparse GP: L-BFGS tolerance (default 1e-9)")
    p.add_argument("--compare-starts", action="store_true",
                   help="instead: k-means++ against random inducing-input starts (gp_sparse_starts.json)")
    main(p.parse_args())
