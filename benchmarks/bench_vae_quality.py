"""Test ELBO / MSE of VAE and ConvVAE configurations after the same training budget
(default: the study's 25 epochs, Adam 1e-3, batch 128, seed 0), with seconds per epoch.

    python benchmarks/bench_vae_quality.py                       # every configuration, 25 epochs
    python benchmarks/bench_vae_quality.py --configs vae-512-256 convvae-study
    python benchmarks/bench_vae_quality.py --quick               # 1 epoch on 5000 images

Prints a table and writes JSON (``--out``). Each configuration is trained and evaluated in its
own pass; run it on an otherwise idle machine for comparable seconds.
"""

from __future__ import annotations

import argparse

import torch

import pyroml
from common import add_args, out_path, machine_info, print_table, write_result

# vae-400: Pyro's example network; vae-default: pyroml's VAE(); "-mirrored": decoder = encoder reversed
CONFIGS = {
    "vae-400": lambda: pyroml.VAE(hidden=(400,), decoder_hidden=None),
    "vae-default": lambda: pyroml.VAE(),
    "vae-512-256-mirrored": lambda: pyroml.VAE(hidden=(512, 256), decoder_hidden=None),
    "vae-1024-512-mirrored": lambda: pyroml.VAE(hidden=(1024, 512), decoder_hidden=None),
    "vae-512-256/dec-128-256": lambda: pyroml.VAE(hidden=(512, 256), decoder_hidden=(128, 256)),
    "convvae-study": lambda: pyroml.ConvVAE(),
    "convvae-dense512": lambda: pyroml.ConvVAE(hidden=512),
    "convvae-32-64-dense256": lambda: pyroml.ConvVAE(channels=(32, 64), hidden=256),
    "convenc-dense512/mlp-dec-256-256": lambda: pyroml.ConvVAE(hidden=512, decoder_hidden=(256, 256)),
    "convenc-32-64-dense512-256/mlp-dec-256-256":
        lambda: pyroml.ConvVAE(channels=(32, 64), hidden=(512, 256), decoder_hidden=(256, 256)),
    "convvae-32-64-dense512-256": lambda: pyroml.ConvVAE(channels=(32, 64), hidden=(512, 256)),
}


def main(args):
    torch.set_num_threads(args.threads)
    train, test = pyroml.data.load_mnist(args.data_dir, subset=5000 if args.quick else None)
    epochs = 1 if args.quick else args.epochs
    rows = []
    for name in args.configs:
        torch.manual_seed(args.seed)
        model = CONFIGS[name]()
        h = pyroml.fit(model, train, epochs=epochs, seed=args.seed, progress=not args.no_progress)
        r = pyroml.evaluate(model, test, iwae_k=None, seed=args.seed)
        rows.append({"config": name, "epochs": epochs, "test_elbo": r.elbo, "test_mse": r.mse,
                     "s_per_epoch": sum(h.epoch_seconds) / len(h.epoch_seconds),
                     "params": sum(p.numel() for p in model.parameters())})
        print_table(rows[-1:], list(rows[-1]))
    print_table(rows, ["config", "epochs", "test_elbo", "test_mse", "s_per_epoch", "params"])
    write_result(out_path(args, "vae_quality"),
                 {"machine": machine_info(args.threads), "quick": args.quick, "rows": rows})


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_args(p)
    p.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS), metavar="CONFIG",
                   help=f"which configurations (default all): {', '.join(CONFIGS)}")
    p.add_argument("--epochs", type=int, default=25)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true")
    main(p.parse_args())
