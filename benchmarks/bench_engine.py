"""Engine overhead: seconds per epoch of ``pyroml.fit`` versus a plain PyTorch loop of the
identical network and loss (analytic KL + Bernoulli log-likelihood, N/B scaling, Adam),
same batch size, threads and data; the two are interleaved and compared as ratios.

    python benchmarks/bench_engine.py --quick
    python benchmarks/bench_engine.py            # full epochs + final test ELBO of both

Prints a table and writes JSON (``--out``).
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import torch
import torch.nn.functional as F

import pyroml
from common import add_args, out_path, machine_info, print_table, synthetic_mnist, write_result

MODELS = {
    "VAE": lambda: pyroml.VAE(),
    "ConvVAE": lambda: pyroml.ConvVAE(),
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


def run(name: str, train: torch.Tensor, test: torch.Tensor, epochs: int, repeats: int, batch_size: int):
    torch.manual_seed(0)
    pyro_model, plain_model, fused_model = MODELS[name](), MODELS[name](), MODELS[name]()
    plain_model.load_state_dict(pyro_model.state_dict())
    fused_model.load_state_dict(pyro_model.state_dict())
    opt = torch.optim.Adam(plain_model.parameters(), lr=1e-3)
    opt_fused = torch.optim.Adam(fused_model.parameters(), lr=1e-3, fused=True)
    gen = torch.Generator().manual_seed(0)
    t_plain, t_fused, t_pyro = [], [], []
    for r in range(repeats):  # interleaved: plain, plain (fused Adam), pyroml, plain, ...
        for _ in range(epochs):
            t0 = time.perf_counter()
            plain_epoch(plain_model, train, batch_size, opt, gen)
            t_plain.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            plain_epoch(fused_model, train, batch_size, opt_fused, gen)
            t_fused.append(time.perf_counter() - t0)
        h = pyroml.fit(pyro_model, train, epochs=epochs, batch_size=batch_size, seed=r, progress=False)
        t_pyro.extend(h.epoch_seconds)
        pyro_model.train()
    ratio = statistics.median(t_pyro) / statistics.median(t_plain)
    return {
        "model": name, "n_train": int(train.shape[0]), "batch_size": batch_size,
        "plain_s_per_epoch": statistics.median(t_plain), "pyroml_s_per_epoch": statistics.median(t_pyro),
        "plain_fused_s_per_epoch": statistics.median(t_fused), "ratio": ratio,
        "ratio_vs_fused": statistics.median(t_pyro) / statistics.median(t_fused),
        "plain_test_elbo": plain_test_elbo(plain_model, test),
        "pyroml_test_elbo": pyroml.train.elbo_per_example(pyro_model, test),
    }


def main(args):
    torch.set_num_threads(args.threads)
    if args.quick:
        train, test = synthetic_mnist(args, n_train=4096, n_test=1000)
        epochs, repeats = 1, 3
    else:
        train, test = synthetic_mnist(args, n_train=None, n_test=None)
        epochs, repeats = 1, 3
    rows = [run(name, train, test, epochs, repeats, args.batch_size) for name in args.models]
    print_table(rows, ["model", "n_train", "plain_s_per_epoch", "plain_fused_s_per_epoch", "pyroml_s_per_epoch",
                       "ratio", "ratio_vs_fused",
                       "plain_test_elbo", "pyroml_test_elbo"])
    write_result(out_path(args, "engine"), {"machine": machine_info(args.threads),
                                                                  "quick": args.quick, "rows": rows})


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_args(p)
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--batch-size", type=int, default=128)
    main(p.parse_args())
