"""GP hyperparameter posterior by NUTS, and Bayesian optimisation, on the study's problem.

    python benchmarks/bench_gp.py            # NUTS 4 x (500 + 500) both ways; BO over 20 seeds (~9 min)
    python benchmarks/bench_gp.py --quick    # NUTS 4 x (100 + 100); BO over 3 seeds (~2 min)

The sparse GP against the exact GP is ``benchmarks/bench_sparse_gp.py``; pyroml's NUTS against
NumPyro's is ``benchmarks/bench_nuts.py``.

1. NUTS speed, side by side in one process, chain by chain interleaved (ours, then the
   reference, with the same seed), so that a load change on a shared machine hits both:
   ``pyroml.GP.sample_posterior`` (closed-form potential and gradient in NumPy) versus the same
   model through ``pyro.contrib.gp.models.GPRegression`` + NUTS without JIT, same chains,
   warm-up and samples, one thread. Reported: seconds and their ratio, gradient evaluations
   (leapfrog steps) and ms per evaluation, split R-hat, ESS, ESS per second, and the posterior
   means of log lengthscale and log variance with Monte Carlo standard errors.
2. BO success: for each seed, does T = 10 iterations from D = {-1, -1/2, 0, 1/2, 1} find
   f <= f_min + 0.01? Thompson sampling and log-EI, each with NUTS (fully Bayesian) and MAP
   hyperparameters, and uniform random search with the same number of evaluations; median
   seconds per run, and how many evaluations land within 0.005 of an earlier one (repeats).
   With D fixed, EI with MAP hyperparameters is nearly deterministic (the seed moves only the
   MAP restarts), so the same methods also run from a random 5-point design per seed (seed
   10000 + s): that table says how much each method depends on the luck of the start.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import pyro
import pyro.contrib.gp as gp
import pyro.ops.integrator as integrator
import torch
from common import add_args, machine_info, out_path, print_table, write_result
from pyro.infer import MCMC, NUTS
from pyro.nn import PyroSample
from pyro.ops.stats import effective_sample_size, split_gelman_rubin

from pyroml import bo
from pyroml.studies.gp_problem import NOISE, STUDY_GP, study_gp, study_priors, study_problem

_GRADS = [0]
_verlet_step = integrator._single_step_verlet


def _counting_verlet_step(*args, **kwargs):
    """One leapfrog step = one gradient evaluation, whichever way the gradient is computed."""
    _GRADS[0] += 1
    return _verlet_step(*args, **kwargs)


def contrib_gp_chain(X, y, num_samples, warmup, seed):
    """The reference, one chain: GPRegression with PyroSample priors, NUTS on its model, no JIT.
    :returns: log (lengthscale, variance) samples of shape (S, 2)."""
    pyro.clear_param_store()
    pyro.set_rng_seed(seed)
    priors = study_priors()
    k = gp.kernels.RBF(input_dim=1)
    k.lengthscale = PyroSample(priors["lengthscale"])
    k.variance = PyroSample(priors["variance"])
    model = gp.models.GPRegression(X, y, k, noise=torch.tensor(NOISE, dtype=torch.float64), jitter=1e-10)
    mcmc = MCMC(NUTS(model.model, jit_compile=False), num_samples=num_samples, warmup_steps=warmup,
                disable_progbar=True)
    mcmc.run()
    s = mcmc.get_samples()
    return torch.stack([s["kernel.lengthscale"].log(), s["kernel.variance"].log()], -1)


def ours_chain(X, y, num_samples, warmup, seed):
    post = study_gp(X, y).sample_posterior(num_samples, warmup, num_chains=1, seed=seed)
    return torch.stack([post.samples["lengthscale"].log(), post.samples["variance"].log()], -1)


def summarise(theta, seconds, grads):
    """theta: (chains, samples, 2) log lengthscale, log variance."""
    out = {"seconds": seconds, "grad_evals": grads, "ms_per_grad": 1e3 * seconds / grads}
    for i, name in enumerate(("log_lengthscale", "log_variance")):
        x = theta[..., i]
        ess = float(effective_sample_size(x))
        out.update({f"{name}_mean": float(x.mean()), f"{name}_mc_se": float(x.std() / math.sqrt(ess)),
                    f"{name}_r_hat": float(split_gelman_rubin(x)), f"{name}_ess": ess,
                    f"{name}_ess_per_s": ess / seconds})
    return out


def nuts_side_by_side(X, y, num_samples, warmup, chains):
    integrator._single_step_verlet = _counting_verlet_step
    runs = {"pyroml GP.sample_posterior": (ours_chain, [], [0.0], [0]),
            "contrib.gp + NUTS (no JIT)": (contrib_gp_chain, [], [0.0], [0])}
    try:
        for c in range(chains):
            for fn, thetas, secs, grads in runs.values():
                _GRADS[0] = 0
                t0 = time.perf_counter()
                thetas.append(fn(X, y, num_samples, warmup, seed=c))
                secs[0] += time.perf_counter() - t0
                grads[0] += _GRADS[0]
    finally:
        integrator._single_step_verlet = _verlet_step
    rows = [{"method": name, **summarise(torch.stack(thetas), secs[0], grads[0])}
            for name, (_, thetas, secs, grads) in runs.items()]
    ref = rows[1]
    for r in rows:
        r["speedup"] = ref["seconds"] / r["seconds"]
        r["speedup_per_grad"] = ref["ms_per_grad"] / r["ms_per_grad"]
    diff = {k: (rows[0][f"{k}_mean"] - ref[f"{k}_mean"]) / math.hypot(rows[0][f"{k}_mc_se"], ref[f"{k}_mc_se"])
            for k in ("log_lengthscale", "log_variance")}
    return rows, diff


def repeats(X: torch.Tensor, n0: int, tol: float = 0.005) -> int:
    """Evaluations after the first ``n0`` within ``tol`` of an earlier one."""
    return sum(int((torch.cdist(X[i:i + 1], X[:i]) < tol).any()) for i in range(n0, len(X)))


def bo_table(f, bounds, f_min, designs, configs, iterations=10):
    rows = []
    for name, kw in configs.items():
        found, times, bests, reps = 0, [], [], []
        for seed, x0 in designs:
            t0 = time.perf_counter()
            if kw is None:
                res = bo.random_search(f, bounds, x0, iterations=iterations, seed=seed)
            else:
                res = bo.minimize(f, bounds, x0, iterations=iterations, seed=seed, record=False, kernel="rbf",
                                  priors=study_priors(), **STUDY_GP, **kw)
            times.append(time.perf_counter() - t0)
            found += res.y_best - f_min <= 0.01
            bests.append(res.y_best)
            reps.append(repeats(res.X, len(x0)))
        rows.append({"method": name, "found": f"{found}/{len(designs)}", "found_count": found, "runs": len(designs),
                     "median_seconds": statistics.median(times), "median_best": statistics.median(bests),
                     "repeats_per_run": statistics.mean(reps)})
        print_table(rows[-1:], ["method", "found", "median_seconds", "median_best", "repeats_per_run"])
    return rows


def main(args):
    torch.set_num_threads(args.threads)
    f, X, bounds, _, f_min = study_problem()
    y = f(X).reshape(-1)
    n, w = (100, 100) if args.quick else (500, 500)
    nuts_rows, diff = nuts_side_by_side(X, y, n, w, 4)
    print(f"NUTS, 4 chains x ({w} warm-up + {n} samples), interleaved chain by chain:")
    print_table(nuts_rows, ["method", "seconds", "speedup", "grad_evals", "ms_per_grad", "log_lengthscale_mean",
                            "log_lengthscale_mc_se", "log_lengthscale_r_hat", "log_lengthscale_ess_per_s",
                            "log_variance_mean", "log_variance_mc_se", "log_variance_r_hat"])
    print("difference of posterior means in combined MC standard errors:", {k: round(v, 2) for k, v in diff.items()})

    seeds = range(3 if args.quick else args.seeds)
    configs = {
        "thompson, NUTS hyperparameters (the study's method)": {"method": "thompson", "hyperparameters": "nuts"},
        "thompson, MAP hyperparameters": {"method": "thompson", "hyperparameters": "map"},
        "log-EI, NUTS hyperparameters": {"method": "ei", "hyperparameters": "nuts"},
        "log-EI, MAP hyperparameters (default)": {"method": "ei", "hyperparameters": "map"},
        "random search": None,
    }
    print("BO, T = 10 from D = {-1, -1/2, 0, 1/2, 1}; found = within 0.01 of f_min = -4.9544:")
    bo_rows = bo_table(f, bounds, f_min, [(s, X) for s in seeds], configs)
    random_designs = [(s, -1 + 2 * torch.rand(5, 1, generator=torch.Generator().manual_seed(10_000 + s),
                                              dtype=torch.float64)) for s in seeds]
    print("BO, T = 10 from a random 5-point design per seed:")
    random_rows = bo_table(f, bounds, f_min, random_designs, configs)
    print("BO summary, D fixed:")
    print_table(bo_rows, ["method", "found", "median_seconds", "median_best", "repeats_per_run"])
    print("BO summary, random designs:")
    print_table(random_rows, ["method", "found", "median_seconds", "median_best", "repeats_per_run"])
    write_result(out_path(args, "gp"), {"machine": machine_info(args.threads), "quick": args.quick,
                                        "nuts_chains": 4, "nuts_warmup": w, "nuts_samples": n,
                                        "nuts": nuts_rows, "nuts_mean_difference_in_se": diff,
                                        "bo_iterations": 10, "bo": bo_rows, "bo_random_designs": random_rows})


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_args(p)
    p.add_argument("--seeds", type=int, default=20, help="BO seeds in full mode (default 20)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    main(a)
