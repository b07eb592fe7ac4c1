"""PPCA and GMM on real-valued tables (scikit-learn's bundled data sets), fitted by
``pyroml.fit`` against their classical solutions on the same data, one thread:

* PPCA, q = 2 and q = 5: ``pyroml.fit`` versus the closed-form maximum-likelihood solution
  ``PPCA.closed_form(train, q)`` (Tipping & Bishop, 1999); exact test log-likelihood per example,
  difference in nats (target: within 0.05).
* GMM, K = 3 and K = 5, the library's per-feature variance floor: EM of the same model (the same
  hard floor, ``model.floor``, the same k-means++ start from ``init_from_data``) versus
  ``pyroml.fit`` from that start; exact test log-likelihood per example, relative difference
  (target: within 1%), seconds for both. The EM optimum a start reaches is a local one, and so is
  SVI's: the training log-likelihood of both and the gain of EM run on from SVI's end point say
  whether a difference is the optimiser's or the start's basin.

Data: ``load_wine`` (178 x 13), ``load_breast_cancer`` (569 x 30), ``load_diabetes`` (442 x 10),
split 80/20 by ``pyroml.data.from_arrays(X).split(0.2, seed)`` for each seed (the seed also draws
the k-means++ start, PPCA's initial W and the shuffling), every feature standardised with the
**training** set's mean and standard deviation. The same splits on the **raw** scale are
information ("any scale"): for those the relative difference is taken against the log-likelihood
of the standardised data (the raw one plus :math:`\\sum_d \\log \\mathrm{sd}_d`, the log-Jacobian),
since the raw value's distance from zero depends on the units.

SVI settings (a rule, not tuning): full batch (``batch_size`` = the training set size),
``--steps`` optimiser steps (default 500), each model's ``fit_defaults`` learning rate and cosine
schedule. The ``fit_defaults`` column trains with ``Model.fit_defaults`` unchanged (epochs of
1000 or 2000 examples: 10 or 50 steps on these tables), for comparison.

    pip install -e .[bench]     # scikit-learn, for its bundled tables
    python benchmarks/bench_tables.py
    python benchmarks/bench_tables.py --quick
"""

from __future__ import annotations

import argparse
import time
from typing import Dict, List

import pyro
import torch
from bench_ppca_gmm import em_gmm
from common import add_args, machine_info, out_path, print_table, timed, write_result

import pyroml
from pyroml.models.gmm import component_log_density

TABLES = {"wine": "load_wine", "breast_cancer": "load_breast_cancer", "diabetes": "load_diabetes"}
PPCA_Q = (2, 5)
GMM_K = (3, 5)
PPCA_TARGET = 0.05        # nats per example
GMM_TARGET = 0.01         # relative
EM_TOL, EM_MAX_ITER = 1e-6, 10000


def load_table(name: str, seed: int, standardise: bool):
    """``(train_x, test_x, log_jacobian)``: an 80/20 split of the table, standardised with the
    training set's mean and standard deviation (a constant feature keeps sd 1) or raw;
    ``log_jacobian`` = :math:`\\sum_d \\log \\mathrm{sd}_d`, which turns a raw log-likelihood into the
    standardised data's."""
    from sklearn import datasets
    train, test = pyroml.data.from_arrays(getattr(datasets, TABLES[name])().data, name=name).split(0.2, seed)
    x, t = train.x, test.x
    mean, sd = x.mean(0), x.std(0)
    sd = torch.where(sd > 0, sd, torch.ones_like(sd))
    if standardise:
        x, t = (x - mean) / sd, (t - mean) / sd
    return x, t, float(sd.double().log().sum())


def mean_ll(model, x: torch.Tensor) -> float:
    return float(model.log_likelihood(x).double().mean())


def ppca_run(x, t, q: int, seed: int, steps: int) -> Dict:
    d = pyroml.PPCA.fit_defaults
    cf, t_cf = timed(lambda: pyroml.PPCA.closed_form(x, q))
    svi = pyroml.PPCA(q)
    _, t_svi = timed(lambda: pyroml.fit(svi, x, epochs=steps, batch_size=len(x), lr=d["lr"],
                                        lr_schedule=d["lr_schedule"], seed=seed, progress=False))
    dflt = pyroml.PPCA(q)
    pyroml.fit(dflt, x, seed=seed, progress=False, **d)
    ref = mean_ll(cf, t)
    return {"ref_test_ll": ref, "svi_test_ll": mean_ll(svi, t), "diff": mean_ll(svi, t) - ref,
            "defaults_diff": mean_ll(dflt, t) - ref, "ref_seconds": t_cf, "svi_seconds": t_svi}


def gmm_run(x, t, k: int, seed: int, steps: int) -> Dict:
    d = pyroml.GMM.fit_defaults
    pyro.set_rng_seed(seed)
    start = pyroml.GMM(k, event_shape=x.shape[1:])
    start.init_from_data(x)                    # k-means++ means, pooled variance, the per-feature floor

    def from_start():
        g = pyroml.GMM(k, event_shape=x.shape[1:])
        g.load_state_dict(start.state_dict())
        return g

    def ll(data, means, var, logw):
        return float(torch.logsumexp(component_log_density(data, means, var) + logw, -1).double().mean())

    (means, var, logw, iters), t_em = timed(lambda: em_gmm(x, start, start.floor, EM_MAX_ITER, EM_TOL))
    svi = from_start()
    _, t_svi = timed(lambda: pyroml.fit(svi, x, epochs=steps, batch_size=len(x), lr=d["lr"],
                                        lr_schedule=d["lr_schedule"], seed=seed, progress=False))
    dflt = from_start()
    pyroml.fit(dflt, x, seed=seed, progress=False, **d)
    # EM run on from SVI's end point: ~0 when SVI ended at a stationary point of the likelihood
    pm, pv, pw, _ = em_gmm(x, svi, start.floor, EM_MAX_ITER, EM_TOL)
    ref, ref_train = ll(t, means, var, logw), ll(x, means, var, logw)
    return {"ref_test_ll": ref, "svi_test_ll": mean_ll(svi, t), "diff": mean_ll(svi, t) - ref,
            "defaults_diff": mean_ll(dflt, t) - ref, "ref_seconds": t_em, "svi_seconds": t_svi,
            "em_iterations": iters, "ref_train_ll": ref_train, "svi_train_ll": mean_ll(svi, x),
            "train_diff": mean_ll(svi, x) - ref_train, "em_polish_train_gain": ll(x, pm, pv, pw) - mean_ll(svi, x)}


def summarise(runs: List[Dict]) -> List[Dict]:
    groups: Dict[tuple, List[Dict]] = {}
    for r in runs:
        groups.setdefault((r["table"], r["scale"], r["model"]), []).append(r)
    rows = []
    for (table, scale, model), rs in groups.items():
        n = len(rs)
        mean = lambda key: sum(r[key] for r in rs) / n  # noqa: E731
        row = {"table": table, "scale": scale, "model": model, "seeds": n,
               "ref_test_ll": mean("ref_test_ll"), "svi_test_ll": mean("svi_test_ll"), "diff": mean("diff"),
               "worst_diff": max((r["diff"] for r in rs), key=abs), "defaults_diff": mean("defaults_diff"),
               "ref_seconds": mean("ref_seconds"), "svi_seconds": mean("svi_seconds")}
        if model.startswith("PPCA"):
            row["met"] = all(abs(r["diff"]) <= PPCA_TARGET for r in rs)
        else:
            # relative to the standardised data's log-likelihood (raw: plus the log-Jacobian)
            denom = abs(row["ref_test_ll"] + (rs[0]["log_jacobian"] if scale == "raw" else 0.0))
            row["rel_diff_pct"] = 100 * row["diff"] / denom
            row["seeds_within_1pct"] = sum(abs(r["rel_diff_pct"]) <= 100 * GMM_TARGET for r in rs)
            row["rel_range_pct"] = f"{min(r['rel_diff_pct'] for r in rs):+.2f}..{max(r['rel_diff_pct'] for r in rs):+.2f}"
            row["train_diff"] = mean("train_diff")
            row["seeds_svi_train_worse"] = sum(r["train_diff"] < -1e-3 for r in rs)
            row["max_em_polish_gain"] = max(r["em_polish_train_gain"] for r in rs)
            row["em_iterations"] = mean("em_iterations")
            row["met"] = abs(row["rel_diff_pct"]) <= 100 * GMM_TARGET
        rows.append(row)
    return rows


def main(args):
    torch.set_num_threads(args.threads)
    seeds = range(1 if args.quick else args.seeds)
    steps = 50 if args.quick else args.steps
    t_start = time.perf_counter()
    runs, shapes = [], {}
    for name in args.tables:
        for scale in ("standardised", "raw"):
            for seed in seeds:
                x, t, log_jac = load_table(name, seed, scale == "standardised")
                shapes[name] = {"n_train": x.shape[0], "n_test": t.shape[0], "features": x.shape[1]}
                common = {"table": name, "scale": scale, "seed": seed, "log_jacobian": log_jac}
                for q in PPCA_Q:
                    runs.append({**common, "model": f"PPCA q={q}", **ppca_run(x, t, q, seed, steps)})
                for k in GMM_K:
                    r = {**common, "model": f"GMM K={k}", **gmm_run(x, t, k, seed, steps)}
                    denom = abs(r["ref_test_ll"] + (log_jac if scale == "raw" else 0.0))
                    r["rel_diff_pct"] = 100 * r["diff"] / denom
                    runs.append(r)
            print(f"{name}, {scale}: {len(seeds)} seeds done ({time.perf_counter() - t_start:.0f} s)", flush=True)
    rows = summarise(runs)
    print("\nPPCA: pyroml.fit vs the closed form (test nats per example; mean over seeds)")
    print_table([r for r in rows if r["model"].startswith("PPCA")],
                ["table", "scale", "model", "seeds", "ref_test_ll", "svi_test_ll", "diff", "worst_diff",
                 "defaults_diff", "ref_seconds", "svi_seconds", "met"])
    print("\nGMM: pyroml.fit vs EM from the same start (test nats per example; mean over seeds)")
    print_table([r for r in rows if r["model"].startswith("GMM")],
                ["table", "scale", "model", "seeds", "ref_test_ll", "svi_test_ll", "diff", "rel_diff_pct",
                 "rel_range_pct", "seeds_within_1pct", "train_diff", "seeds_svi_train_worse", "max_em_polish_gain",
                 "defaults_diff", "em_iterations", "ref_seconds", "svi_seconds", "met"])
    total = time.perf_counter() - t_start
    print(f"\ntotal {total:.0f} s")
    write_result(out_path(args, "tables"), {
        "machine": machine_info(args.threads), "quick": args.quick, "seconds": total,
        "settings": {"split": "from_arrays(X).split(0.2, seed)", "standardised_with": "training mean and sd",
                     "svi": {"steps": steps, "batch_size": "full (n_train)", "ppca_lr": pyroml.PPCA.fit_defaults["lr"],
                             "gmm_lr": pyroml.GMM.fit_defaults["lr"], "lr_schedule": "cosine"},
                     "em": {"tol": EM_TOL, "max_iter": EM_MAX_ITER, "floor": "GMM.floor (per feature)"},
                     "targets": {"ppca_nats": PPCA_TARGET, "gmm_relative": GMM_TARGET}},
        "tables": shapes, "summary": rows, "runs": runs})


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_args(p)
    p.add_argument("--tables", nargs="+", choices=list(TABLES), default=list(TABLES), help="tables (default all)")
    p.add_argument("--seeds", type=int, default=10, help="splits/starts 0..N-1 in full mode (default 10)")
    p.add_argument("--steps", type=int, default=500, help="full-batch SVI steps in full mode (default 500)")
    main(p.parse_args())
