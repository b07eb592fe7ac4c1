"""Evaluator speed on the 10k MNIST test images, one thread.

    python benchmarks/bench_evaluate.py --checkpoint runs/vae/model.pt
    python benchmarks/bench_evaluate.py --quick

Times ``pyroml.evaluate`` without the bound (ELBO + MSE + latents), the importance-weighted
bound at K = 100 and K = 1000, and — on a subset, side by side — a straightforward
implementation of the same bound (Pyro's ``Bernoulli(...).to_event(3)``, one example's K
samples at a time), checking that both give the same value within Monte Carlo error.
"""

from __future__ import annotations

import argparse
import math

import pyro.distributions as dist
import torch
from common import MNIST_SHAPE, add_args, machine_info, out_path, print_table, synthetic_mnist, timed, write_result

import pyroml
from pyroml.evaluation import iwae_bound


@torch.no_grad()
def straightforward_iwae(model, x: torch.Tensor, k: int) -> torch.Tensor:
    """log (1/K) sum_k p(x, z_k) / q(z_k | x) example by example, with stock distributions."""
    out = []
    for xi in x:
        loc, scale = model.encoder(xi[None])
        q = dist.Normal(loc, scale).to_event(1)
        z = q.sample((k,))                                    # (K, 1, d)
        logits = model.decoder(z)                             # (K, 1, 1, 28, 28)
        log_px = dist.Bernoulli(logits=logits, validate_args=False).to_event(3).log_prob(xi[None])
        log_pz = dist.Normal(torch.zeros_like(z), 1.0).to_event(1).log_prob(z)
        logw = log_px + log_pz - q.log_prob(z)                # (K, 1)
        out.append(torch.logsumexp(logw, 0) - math.log(k))
    return torch.cat(out)


def main(args):
    torch.set_num_threads(args.threads)
    _, test = synthetic_mnist(args, n_train=1, n_test=2000 if args.quick else None)
    if args.checkpoint:
        model = pyroml.load(args.checkpoint)
    else:
        model = pyroml.VAE(event_shape=MNIST_SHAPE)
        print("no --checkpoint: timing an untrained VAE (same cost; values not meaningful)")
    model.eval()
    rows = []
    report, t = timed(lambda: pyroml.evaluate(model, test, iwae_k=None))
    rows.append({"what": "evaluate(): ELBO + MSE + latents", "n": len(test), "seconds": t, "value": report.elbo})
    for k in (100, 1000):
        if args.quick and k == 1000:
            continue
        torch.manual_seed(0)
        bound, t = timed(lambda: iwae_bound(model, test, k))
        rows.append({"what": f"IWAE bound K={k} (pyroml)", "n": len(test), "seconds": t,
                     "value": float(bound.mean()), "stderr": float(bound.std() / math.sqrt(len(bound)))})
    n_ref = 200 if args.quick else 1000
    sub = test[:n_ref]
    torch.manual_seed(1)
    ref, t_ref = timed(lambda: straightforward_iwae(model, sub, 100))
    torch.manual_seed(2)
    fast, t_fast = timed(lambda: iwae_bound(model, sub, 100))
    diff = fast - ref
    rows.append({"what": "IWAE K=100 straightforward (subset)", "n": n_ref, "seconds": t_ref,
                 "value": float(ref.mean())})
    rows.append({"what": "IWAE K=100 pyroml (same subset)", "n": n_ref, "seconds": t_fast,
                 "value": float(fast.mean()), "speedup": t_ref / t_fast,
                 "diff_over_stderr": float(diff.mean() / (diff.std() / math.sqrt(n_ref)))})
    print_table(rows, ["what", "n", "seconds", "value", "stderr", "speedup", "diff_over_stderr"])
    write_result(out_path(args, "evaluate"),
                 {"machine": machine_info(args.threads), "quick": args.quick, "checkpoint": args.checkpoint,
                  "rows": rows})


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_args(p)
    p.add_argument("--checkpoint", default=None, help="a trained model (pyroml.save); default: untrained VAE")
    main(p.parse_args())
