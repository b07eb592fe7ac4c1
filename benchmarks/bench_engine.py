"""Engine overhead: seconds per epoch of ``pyroml.fit`` versus a plain PyTorch loop of the
identical network and loss (analytic KL + Bernoulli log-likelihood, N/B scaling, Adam),
same batch size, threads and data; the two are interleaved and compared as ratios.

    python benchmarks/bench_engine.py --quick
    python benchmarks/bench_engine.py            # 28 rounds of 50 steps (~3 epochs) + test ELBOs

Prints a table and writes JSON (``--out``).
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import tempfile
import time

import torch
import torch.nn.functional as F
from common import MNIST_SHAPE, add_args, machine_info, out_path, print_table, synthetic_mnist, write_result

import pyroml

MODELS = {
    "VAE": lambda: pyroml.VAE(event_shape=MNIST_SHAPE),
    "ConvVAE": lambda: pyroml.ConvVAE(event_shape=MNIST_SHAPE),
}


def plain_epoch(model, x: torch.Tensor, batch_size: int, optimizer, gen: torch.Generator) -> float:
    """One epoch of hand-written PyTorch: the same encoder/decoder modules, the same loss."""
    n = x.shape[0]
    perm = torch.randperm(n, generator=gen)
    total = 0.0
    for i in range(0, n, batch_size):
        xb = x[perm[i: i + batch_size]]
        loc, scale = model.encoder(xb)
        z = loc + scale * torch.randn_like(scale)
        logits = model.decoder(z)
        nll = F.binary_cross_entropy_with_logits(logits, xb, reduction="sum")
        kl = (0.5 * (loc ** 2 + scale ** 2 - 1.0) - scale.log()).sum()
        loss = (nll + kl) * (n / xb.shape[0])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += float(loss.detach()) * xb.shape[0] / n
    return -total / n


@torch.no_grad()
def plain_test_elbo(model, x: torch.Tensor) -> float:
    loc, scale = model.encoder(x)
    z = loc + scale * torch.randn_like(scale)
    nll = F.binary_cross_entropy_with_logits(model.decoder(z), x, reduction="sum")
    kl = (0.5 * (loc ** 2 + scale ** 2 - 1.0) - scale.log()).sum()
    return -float(nll + kl) / x.shape[0]


def run(name: str, train: torch.Tensor, test: torch.Tensor, rounds: int, block: int, batch_size: int,
        workdir: str):
    """Interleave blocks of ``block`` images (``block / batch_size`` steps): plain loop, plain loop
    with fused Adam, ``pyroml.fit`` (resuming its own checkpoint, so Adam's state carries over).
    Each round sees the next block of the shuffled training set; the per-round time ratios are
    summarised by their median, so load that changes between rounds cancels out."""
    torch.manual_seed(0)
    pyro_model, plain_model, fused_model = MODELS[name](), MODELS[name](), MODELS[name]()
    plain_model.load_state_dict(pyro_model.state_dict())
    fused_model.load_state_dict(pyro_model.state_dict())
    opt = torch.optim.Adam(plain_model.parameters(), lr=1e-3)
    opt_fused = torch.optim.Adam(fused_model.parameters(), lr=1e-3, fused=True)
    gen = torch.Generator().manual_seed(0)
    order = torch.randperm(train.shape[0], generator=gen)
    ck = os.path.join(workdir, f"{name}.pt")
    t_plain, t_fused, t_pyro = [], [], []
    for r in range(rounds):
        idx = order[(r * block) % train.shape[0]:][:block]
        xb = train[idx]
        t0 = time.perf_counter()
        plain_epoch(plain_model, xb, batch_size, opt, gen)
        t_plain.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        plain_epoch(fused_model, xb, batch_size, opt_fused, gen)
        t_fused.append(time.perf_counter() - t0)
        h = pyroml.fit(pyro_model, xb, epochs=r + 1, batch_size=batch_size, seed=0, progress=False,
                       checkpoint=ck, resume=True)
        t_pyro.append(h.epoch_seconds[-1])
    steps = math.ceil(block / batch_size)
    return {
        "model": name, "block_images": block, "rounds": rounds, "batch_size": batch_size,
        "plain_ms_per_step": 1e3 * statistics.median(t_plain) / steps,
        "plain_fused_ms_per_step": 1e3 * statistics.median(t_fused) / steps,
        "pyroml_ms_per_step": 1e3 * statistics.median(t_pyro) / steps,
        "ratio": statistics.median(p / q for p, q in zip(t_pyro, t_plain)),
        "ratio_vs_fused": statistics.median(p / q for p, q in zip(t_pyro, t_fused)),
        "plain_test_elbo": plain_test_elbo(plain_model, test),
        "plain_fused_test_elbo": plain_test_elbo(fused_model, test),
        "pyroml_test_elbo": pyroml.infer.elbo_per_example(pyro_model, test),
    }


def main(args):
    torch.set_num_threads(args.threads)
    train, test = synthetic_mnist(args, n_train=None, n_test=2000 if args.quick else None)
    rounds = 4 if args.quick else args.rounds
    with tempfile.TemporaryDirectory() as tmp:
        rows = [run(name, train, test, rounds, args.block, args.batch_size, tmp) for name in args.models]
    print_table(rows, ["model", "rounds", "plain_ms_per_step", "plain_fused_ms_per_step", "pyroml_ms_per_step",
                       "ratio", "ratio_vs_fused", "plain_test_elbo", "plain_fused_test_elbo", "pyroml_test_elbo"])
    write_result(out_path(args, "engine"), {"machine": machine_info(args.threads), "quick": args.quick,
                                            "rows": rows})


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_args(p)
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--block", type=int, default=6400, help="images per timed block (default 6400 = 50 steps)")
    p.add_argument("--rounds", type=int, default=28,
                   help="interleaved rounds in full mode (default 28, about 3 epochs of training each)")
    main(p.parse_args())
