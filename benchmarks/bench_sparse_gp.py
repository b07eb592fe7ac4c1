"""The sparse GP (VFE, learned inducing inputs) against the exact GP, N = 10^3 .. 10^5.

    python benchmarks/bench_sparse_gp.py                  # exact at N <= 5000, sparse up to 10^5
    python benchmarks/bench_sparse_gp.py --quick          # N = 1000, 2000 (a minute)
    python benchmarks/bench_sparse_gp.py --sizes 100000 --exact-max 0   # one size, sparse only

Data: y = sin 3x1 + 0.5 cos 5x2 + N(0, 0.1^2) on [0, 1]^2, N training points (one seeded stream
per N), 2,000 test points. Both models use the library defaults (unit cube, standardised y,
learned noise, default priors) with an ARD RBF kernel:

* exact: ``GP(X, y, kernel="rbf").map_estimate(restarts, steps)``: L-BFGS on the closed-form
  potential (one Cholesky factor per evaluation, the gradient from ``cholesky_inverse``);
* sparse: ``SparseGP(X, y, num_inducing=128, kernel="rbf").fit(steps=300, lr=0.03)``: Adam on
  the collapsed bound over the log hyperparameters and the inducing inputs.

Reported per N and model: seconds (fit + predict; one thread), test RMSE against the noisy test
targets (noise floor 0.1) and against the noise-free f, test NLPD (mean negative log predictive
density of the noisy targets), and for the sparse GP the ratio of its RMSEs to the exact GP's.
"""

from __future__ import annotations

import argparse
import math
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
    t0 = time.perf_counter()
    if name == "exact":
        post = GP(X, y, kernel="rbf").map_estimate(restarts=args.restarts, steps=args.steps)
        m, v = post.predict(Xt)
        extra = {"noise": float(post.samples["noise"][0])}
    else:
        sp = SparseGP(X, y, num_inducing=args.inducing, kernel="rbf").fit(steps=args.sparse_steps, lr=0.03)
        m, v = sp.predict(Xt)
        extra = {"noise": float(sp.log_hypers["noise"].exp())}
    return m, v, time.perf_counter() - t0, extra


def main(args) -> None:
    torch.set_num_threads(args.threads)
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
            rows.append(row)
            print({k: (round(x, 5) if isinstance(x, float) else x) for k, x in row.items()}, flush=True)
    print_table(rows, ["N", "model", "seconds", "test_rmse", "f_rmse", "test_nlpd", "noise", "rmse_ratio",
                       "f_rmse_ratio"])
    write_result(out_path(args, "gp_sparse"), {"machine": machine_info(args.threads), "inducing": args.inducing,
                                               "sparse_steps": args.sparse_steps, "exact_restarts": args.restarts,
                                               "exact_steps": args.steps, "rows": rows})


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_args(p)
    p.add_argument("--sizes", type=int, nargs="+", default=None, help="training-set sizes (default by mode)")
    p.add_argument("--exact-max", type=int, default=5000, help="largest N for the exact GP (default 5000)")
    p.add_argument("--restarts", type=int, default=2, help="exact GP: L-BFGS starts (default 2)")
    p.add_argument("--steps", type=int, default=50, help="exact GP: L-BFGS iterations per start (default 50)")
    p.add_argument("--inducing", type=int, default=128, help="sparse GP: inducing inputs M (default 128)")
    p.add_argument("--sparse-steps", type=int, default=300, help="sparse GP: Adam steps (default 300)")
    main(p.parse_args())
