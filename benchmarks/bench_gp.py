"""GP hyperparameter posterior by NUTS, and Bayesian optimisation, on the study's problem.

    python benchmarks/bench_gp.py            # NUTS 4 x (500 + 500) both ways; BO over 20 seeds
    python benchmarks/bench_gp.py --quick    # NUTS 4 x (100 + 100); BO over 3 seeds

1. NUTS speed, side by side in one process: ``pyroml.GP.sample_posterior`` (closed-form potential
   and gradient) versus the same model through ``pyro.contrib.gp.models.GPRegression`` + NUTS
   without JIT (Pyro's documented route), same chains, warm-up and samples; split R-hat, ESS and
   posterior means of log lengthscale and log variance (with Monte Carlo standard errors).
2. BO success: for each seed, does T = 10 iterations from D = {-1, -1/2, 0, 1/2, 1} find
   f <= f_min + 0.01? Thompson sampling with NUTS hyperparameters (the study's method), Thompson
   with MAP hyperparameters, log-EI with MAP hyperparameters (``pyroml.bo.minimize``'s default),
   and uniform random search with the same number of evaluations; median seconds per run.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import pyro
import pyro.contrib.gp as gp
import pyro.distributions as dist
import torch
from pyro.infer import MCMC, NUTS
from pyro.nn import PyroSample
from pyro.ops.stats import effective_sample_size, split_gelman_rubin

from common import add_args, machine_info, out_path, print_table, write_result
from pyroml import bo
from pyroml.gp import GP, study_problem


def contrib_gp_nuts(X, y, num_samples, warmup, chains, seed):
    """The reference: GPRegression with PyroSample priors, NUTS on its model, no JIT."""
    draws = []
    t0 = time.perf_counter()
    for c in range(chains):
        pyro.clear_param_store()
        pyro.set_rng_seed(seed * 1000 + c)
        k = gp.kernels.RBF(input_dim=1)
        k.lengthscale = PyroSample(dist.LogNormal(torch.tensor(-1.0, dtype=torch.float64),
                                                  torch.tensor(1.0, dtype=torch.float64)))
        k.variance = PyroSample(dist.LogNormal(torch.tensor(0.0, dtype=torch.float64),
                                               torch.tensor(2.0, dtype=torch.float64)))
        model = gp.models.GPRegression(X, y, k, noise=torch.tensor(1e-4, dtype=torch.float64), jitter=1e-10)
        mcmc = MCMC(NUTS(model.model, jit_compile=False), num_samples=num_samples, warmup_steps=warmup,
                    disable_progbar=True)
        mcmc.run()
        s = mcmc.get_samples()
        draws.append(torch.stack([s["kernel.lengthscale"].log(), s["kernel.variance"].log()], -1))
    return torch.stack(draws), time.perf_counter() - t0


def summarise(theta):
    """theta: (chains, samples, 2) log lengthscale, log variance."""
    out = {}
    for i, name in enumerate(("log_lengthscale", "log_variance")):
        x = theta[..., i]
        ess = float(effective_sample_size(x))
        out[name] = {"mean": float(x.mean()), "mc_se": float(x.std() / math.sqrt(ess)),
                     "r_hat": float(split_gelman_rubin(x)), "ess": ess}
    return out


def main(args):
    torch.set_num_threads(args.threads)
    f, X, bounds, x_min, f_min = study_problem()
    y = f(X).reshape(-1)
    n, w = (100, 100) if args.quick else (500, 500)
    ours_post = GP(X, y).sample_posterior(n, w, 4, seed=0)
    t_ours = ours_post.diagnostics["seconds"]
    ours = summarise(torch.stack([ours_post.chains["lengthscale"].log(), ours_post.chains["variance"].log()], -1))
    ref_theta, t_ref = contrib_gp_nuts(X, y, n, w, 4, seed=0)
    ref = summarise(ref_theta)
    nuts_rows = []
    for name, s, t in (("pyroml GP.sample_posterior", ours, t_ours), ("contrib.gp + NUTS (no JIT)", ref, t_ref)):
        nuts_rows.append({"method": name, "seconds": t, "speedup": t_ref / t,
                          **{f"{k}_{m}": v[m] for k, v in s.items() for m in ("mean", "mc_se", "r_hat", "ess")}})
    print(f"NUTS, 4 chains x ({w} warm-up + {n} samples):")
    print_table(nuts_rows, ["method", "seconds", "speedup", "log_lengthscale_mean", "log_lengthscale_mc_se",
                            "log_lengthscale_r_hat", "log_variance_mean", "log_variance_mc_se", "log_variance_r_hat"])
    diff = {k: (ours[k]["mean"] - ref[k]["mean"]) / math.hypot(ours[k]["mc_se"], ref[k]["mc_se"]) for k in ours}
    print("difference of posterior means in combined MC standard errors:", {k: round(v, 2) for k, v in diff.items()})

    seeds = range(3 if args.quick else args.seeds)
    configs = {
        "thompson, NUTS hyperparameters (study)": dict(method="thompson", hyperparameters="nuts",
                                                       nuts_samples=50 if args.quick else 100,
                                                       nuts_warmup=50 if args.quick else 100),
        "thompson, MAP hyperparameters": dict(method="thompson", hyperparameters="map"),
        "log-EI, MAP hyperparameters (default)": dict(method="ei", hyperparameters="map"),
        "random search": None,
    }
    bo_rows = []
    for name, kw in configs.items():
        found, times, bests = 0, [], []
        for seed in seeds:
            t0 = time.perf_counter()
            if kw is None:
                res = bo.random_search(f, bounds, X, iterations=10, seed=seed)
            else:
                res = bo.minimize(f, bounds, X, iterations=10, seed=seed, record=False, **kw)
            times.append(time.perf_counter() - t0)
            found += res.y_best - f_min <= 0.01
            bests.append(res.y_best)
        bo_rows.append({"method": name, "found": f"{found}/{len(seeds)}", "found_count": found, "runs": len(seeds),
                        "median_seconds": statistics.median(times), "median_best": statistics.median(bests)})
        print_table(bo_rows[-1:], ["method", "found", "median_seconds", "median_best"])
    print("BO, T = 10 from D = {-1, -1/2, 0, 1/2, 1}; found = within 0.01 of f_min = -4.9544:")
    print_table(bo_rows, ["method", "found", "median_seconds", "median_best"])
    write_result(out_path(args, "gp"), {"machine": machine_info(args.threads), "quick": args.quick,
                                        "nuts": nuts_rows, "nuts_mean_difference_in_se": diff, "bo": bo_rows})


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_args(p)
    p.add_argument("--seeds", type=int, default=20, help="BO seeds in full mode (default 20)")
    main(p.parse_args())
