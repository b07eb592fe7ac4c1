"""Test ELBO / MSE of VAE and ConvVAE configurations after the same training budget
(default: the study's 25 epochs, Adam 1e-3, batch 128, seed 0; ``--seeds`` for several), with
seconds per epoch, and per configuration the mean and spread over the seeds.

    python benchmarks/bench_vae_quality.py                       # every configuration, 25 epochs
    python benchmarks/bench_vae_quality.py --configs vae-512-256 convvae-study
    python benchmarks/bench_vae_quality.py --quick               # 1 epoch on 5000 images

Prints a table and writes JSON (``--out``). Each configuration is trained and evaluated in its
own pass; run it on an otherwise idle machine for comparable seconds.
"""

from __future__ import annotations

import argparse
import functools
import statistics

import torch
from common import MNIST_SHAPE, add_args, machine_info, mnist_for_quality, out_path, print_table, write_result

import pyroml

# built for MNIST up front (not from the data at the first fit), as when these were recorded
VAE = functools.partial(pyroml.VAE, event_shape=MNIST_SHAPE)
ConvVAE = functools.partial(pyroml.ConvVAE, event_shape=MNIST_SHAPE)

# vae-400: Pyro's example network; vae-default: pyroml's VAE(); "-mirrored": decoder = encoder reversed
CONFIGS = {
    "vae-400": lambda: VAE(hidden=(400,), decoder_hidden=None),
    "vae-default": lambda: VAE(),
    "vae-512-256-mirrored": lambda: VAE(hidden=(512, 256), decoder_hidden=None),
    "vae-1024-512-mirrored": lambda: VAE(hidden=(1024, 512), decoder_hidden=None),
    "vae-512-256/dec-128-256": lambda: VAE(hidden=(512, 256), decoder_hidden=(128, 256)),
    "convvae-study": lambda: ConvVAE(),
    "convvae-dense512": lambda: ConvVAE(hidden=512),
    "convvae-32-64-dense256": lambda: ConvVAE(channels=(32, 64), hidden=256),
    "convenc-dense512/mlp-dec-256-256": lambda: ConvVAE(hidden=512, decoder_hidden=(256, 256)),
    "convenc-32-64-dense512-256/mlp-dec-256-256":
        lambda: ConvVAE(channels=(32, 64), hidden=(512, 256), decoder_hidden=(256, 256)),
    "convvae-32-64-dense512-256": lambda: ConvVAE(channels=(32, 64), hidden=(512, 256)),
}


def main(args):
    torch.set_num_threads(args.threads)
    train, test = mnist_for_quality(args, quick_subset=5000)
    epochs = 1 if args.quick else args.epochs
    rows, summary = [], []
    for name in args.configs:
        for seed in args.seeds:
            torch.manual_seed(seed)
            model = CONFIGS[name]()
            h = pyroml.fit(model, train, epochs=epochs, seed=seed, progress=not args.no_progress)
            r = pyroml.evaluate(model, test, iwae_k=None, seed=seed)
            rows.append({"config": name, "seed": seed, "epochs": epochs, "test_elbo": r.elbo, "test_mse": r.mse,
                         "s_per_epoch": sum(h.epoch_seconds) / len(h.epoch_seconds),
                         "params": sum(p.numel() for p in model.parameters())})
            print_table(rows[-1:], list(rows[-1]))
        elbos = [r["test_elbo"] for r in rows if r["config"] == name]
        summary.append({"config": name, "seeds": len(elbos), "mean_test_elbo": statistics.mean(elbos),
                        "sd": statistics.stdev(elbos) if len(elbos) > 1 else 0.0,
                        "min": min(elbos), "max": max(elbos)})
    print_table(rows, ["config", "seed", "epochs", "test_elbo", "test_mse", "s_per_epoch", "params"])
    print_table(summary, list(summary[0]))
    write_result(out_path(args, "vae_quality"),
                 {"machine": machine_info(args.threads), "quick": args.quick, "rows": rows, "summary": summary})


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_args(p)
    p.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS), metavar="CONFIG",
                   help=f"which configurations (default all): {', '.join(CONFIGS)}")
    p.add_argument("--epochs", type=int, default=25)
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds, each a separate run (default 0)")
    p.add_argument("--no-progress", action="store_true")
    main(p.parse_args())
