"""NUTS on the study's GP: pyroml against NumPyro's NUTS with vectorised chains, side by side.

    python benchmarks/bench_nuts.py              # 4 x (500 warm-up + 500 samples), 3 rounds (~3 min)
    python benchmarks/bench_nuts.py --quick      # 4 x (100 + 100), 2 rounds
    python benchmarks/bench_nuts.py --rhat-seeds 10   # R-hat / ESS of pyroml's two samplers over seeds

The model (the study's, :func:`pyroml.studies.gp_problem.study_gp`): five points of
f(x) = sin 20x + 2 cos 14x - 2 sin 6x on [-1, 1], RBF kernel, lengthscale ~ LogNormal(-1, 1),
variance ~ LogNormal(0, 2), noise variance 1e-4 fixed (+ jitter 1e-10), raw scales, float64.

* pyroml: ``study_gp(X, y).sample_posterior(500, 500, num_chains=4, target_accept_prob=0.9)``
  (the NumPy NUTS, :class:`pyroml.gp.LeanNUTS`), and the same with ``sampler="pyro"`` (Pyro's
  NUTS kernel on the same closed-form potential, the sampler before issue 14);
* NumPyro (benchmark-only extra, ``pip install numpyro``): the same model written here with
  ``numpyro.sample`` sites and ``MultivariateNormal(0, K)``, ``NUTS(target_accept_prob=0.9)``,
  ``MCMC(num_chains=4, chain_method="vectorized")``, float64 (``jax_enable_x64``). Its first run
  compiles; the timed runs reuse the compiled sampler (warm), new random key each round.

Both run in this one process on one thread (torch: ``set_num_threads(1)``; XLA:
``--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1``, set before jax is
imported), interleaved round by round with the order alternating, so that a load change on the
shared machine hits both. Reported per method: median seconds over the rounds, the ratio to
NumPyro, and from the last round split R-hat, ESS and ESS per second of log lengthscale and log
variance (``pyro.ops.stats`` for both) and the posterior means.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

import torch
from common import add_args, machine_info, out_path, print_table, write_result
from pyro.ops.stats import effective_sample_size, split_gelman_rubin

from pyroml.studies.gp_problem import NOISE, study_gp, study_problem


def numpyro_sampler(X: torch.Tensor, y: torch.Tensor, num_samples: int, warmup: int, chains: int, accept: float):
    """A function ``seed -> (C, S, 2)`` log (lengthscale, variance) draws by NumPyro (compiled once)."""
    try:
        import jax
    except ImportError:
        raise SystemExit("bench_nuts.py compares against NumPyro, a benchmark-only extra: "
                         "pip install numpyro (or pip install -e .[bench])") from None
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist
    from numpyro.infer import MCMC, NUTS

    Xj, yj = jnp.asarray(X.numpy()[:, 0]), jnp.asarray(y.numpy())

    def model(X, y):
        ls = numpyro.sample("lengthscale", dist.LogNormal(-1.0, 1.0))
        var = numpyro.sample("variance", dist.LogNormal(0.0, 2.0))
        K = var * jnp.exp(-0.5 * (X[:, None] - X[None, :]) ** 2 / ls ** 2) + (NOISE + 1e-10) * jnp.eye(X.shape[0])
        numpyro.sample("y", dist.MultivariateNormal(jnp.zeros(X.shape[0]), covariance_matrix=K), obs=y)

    mcmc = MCMC(NUTS(model, target_accept_prob=accept), num_warmup=warmup, num_samples=num_samples,
                num_chains=chains, chain_method="vectorized", progress_bar=False)

    def run(seed: int) -> torch.Tensor:
        mcmc.run(jax.random.PRNGKey(seed), Xj, yj)
        s = mcmc.get_samples(group_by_chain=True)
        out = jnp.stack([jnp.log(s["lengthscale"]), jnp.log(s["variance"])], -1)
        return torch.from_numpy(jax.device_get(out).copy())
    return run


def pyroml_sampler(X: torch.Tensor, y: torch.Tensor, num_samples: int, warmup: int, chains: int, accept: float,
                   sampler: str = "auto"):
    """A function ``seed -> (C, S, 2)`` log (lengthscale, variance) draws by pyroml's NUTS
    (``sampler="auto"``: the NumPy sampler; ``"pyro"``: Pyro's NUTS kernel on the same potential)."""
    gp = study_gp(X, y)

    def run(seed: int) -> torch.Tensor:
        post = gp.sample_posterior(num_samples, warmup, num_chains=chains, seed=seed, target_accept_prob=accept,
                                   sampler=sampler)
        return torch.stack([post.chains["lengthscale"].log(), post.chains["variance"].log()], -1)
    return run


def summarise(theta: torch.Tensor, seconds: float) -> dict:
    out = {"seconds": seconds}
    for i, name in enumerate(("log_lengthscale", "log_variance")):
        x = theta[..., i]
        ess = float(effective_sample_size(x))
        out.update({f"{name}_mean": float(x.mean()), f"{name}_r_hat": float(split_gelman_rubin(x)),
                    f"{name}_ess": ess, f"{name}_ess_per_s": ess / seconds})
    return out


def main(args) -> None:
    torch.set_num_threads(1)
    problem = study_problem()
    X, y = problem.X, problem.f(problem.X).reshape(-1)
    n, w = (100, 100) if args.quick else (args.samples, args.warmup)
    samplers = {"pyroml (NumPy NUTS, default)": pyroml_sampler(X, y, n, w, args.chains, args.target_accept),
                "numpyro (vectorized)": numpyro_sampler(X, y, n, w, args.chains, args.target_accept)}
    if not args.no_pyro_sampler:
        samplers["pyroml, Pyro's NUTS kernel"] = pyroml_sampler(X, y, n, w, args.chains, args.target_accept, "pyro")
    t0 = time.perf_counter()
    samplers["numpyro (vectorized)"](10_000)                          # compile (and a first run)
    compile_s = time.perf_counter() - t0
    times = {k: [] for k in samplers}
    last = {}
    rounds = 2 if args.quick else args.rounds
    for r in range(rounds):
        order = list(samplers) if r % 2 == 0 else list(samplers)[::-1]     # alternate the order
        for name in order:
            t0 = time.perf_counter()
            last[name] = samplers[name](r)
            times[name].append(time.perf_counter() - t0)
            print(f"round {r}: {name} {times[name][-1]:.2f} s", flush=True)
    ref = statistics.median(times["numpyro (vectorized)"])
    rows = []
    for name in samplers:
        sec = statistics.median(times[name])
        rows.append({"method": name, "median_seconds": sec, "ratio_to_numpyro": sec / ref,
                     "all_seconds": times[name], **summarise(last[name], times[name][-1])})
    print(f"NUTS, {args.chains} chains x ({w} warm-up + {n} samples), target acceptance {args.target_accept}, "
          f"{rounds} interleaved rounds; NumPyro's first run with compilation: {compile_s:.1f} s")
    print_table(rows, ["method", "median_seconds", "ratio_to_numpyro", "log_lengthscale_r_hat", "log_variance_r_hat",
                       "log_lengthscale_ess", "log_variance_ess", "log_lengthscale_ess_per_s",
                       "log_variance_ess_per_s", "log_lengthscale_mean", "log_variance_mean"])
    write_result(out_path(args, "gp_nuts_numpyro"), {"machine": machine_info(1), "chains": args.chains,
                                                     "warmup": w, "samples": n, "target_accept": args.target_accept,
                                                     "numpyro_first_run_seconds": compile_s, "rows": rows})


def rhat_over_seeds(args) -> None:
    """``--rhat-seeds K``: pyroml's two samplers (not timed) over seeds 0..K-1: split R-hat, ESS and
    divergences of log lengthscale and log variance, and how many seeds meet R-hat <= 1.01."""
    torch.set_num_threads(1)
    problem = study_problem()
    gp = study_gp(problem.X, problem.f(problem.X).reshape(-1))
    rows = []
    for sampler in ("auto", "pyro"):
        for seed in range(args.rhat_seeds):
            post = gp.sample_posterior(args.samples, args.warmup, num_chains=args.chains, seed=seed,
                                       target_accept_prob=args.target_accept, sampler=sampler)
            d = post.diagnostics
            rows.append({"sampler": d["sampler"], "seed": seed, "r_hat_ls": d["lengthscale"]["r_hat"],
                         "r_hat_var": d["variance"]["r_hat"], "ess_ls": d["lengthscale"]["ess"],
                         "ess_var": d["variance"]["ess"], "divergences": sum(d["divergences"])})
            print(rows[-1], flush=True)
    print_table(rows, ["sampler", "seed", "r_hat_ls", "r_hat_var", "ess_ls", "ess_var", "divergences"])
    for sampler in ("numpy", "pyro"):
        mine = [r for r in rows if r["sampler"] == sampler]
        ok = sum(max(r["r_hat_ls"], r["r_hat_var"]) <= 1.01 for r in mine)
        worst = sorted(max(r["r_hat_ls"], r["r_hat_var"]) for r in mine)
        print(f"{sampler}: R-hat <= 1.01 for both in {ok}/{len(mine)} seeds; median of the larger R-hat "
              f"{statistics.median(worst):.4f}; median ESS {statistics.median(r['ess_ls'] for r in mine):.0f} / "
              f"{statistics.median(r['ess_var'] for r in mine):.0f}")
    write_result(out_path(args, "gp_nuts_rhat_seeds"), {"machine": machine_info(1), "rows": rows})


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_args(p)
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--samples", type=int, default=500)
    p.add_argument("--warmup", type=int, default=500)
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    p.add_argument("--target-accept", type=float, default=0.9, help="every sampler (default 0.9, as `pyroml gp`)")
    p.add_argument("--no-pyro-sampler", action="store_true", help="leave out pyroml with Pyro's NUTS kernel")
    p.add_argument("--rhat-seeds", type=int, default=0,
                   help="instead: pyroml's two samplers over this many seeds, R-hat and ESS (not timed)")
    a = p.parse_args()
    rhat_over_seeds(a) if a.rhat_seeds else main(a)
