"""Variational autoencoder on MNIST (the study's settings by default).

    python examples/vae_mnist.py --epochs 25 --out runs/vae

Trains :class:`pyroml.VAE` (2-d latent, MLP encoder 784-512-256-2, decoder 2-256-256-784, Bernoulli
likelihood on grey levels) with Adam 1e-3 and batches of 128, evaluates it on
the 10k test images and writes metrics.json, model.pt and the figures.
"""

import argparse
from functools import partial

import matplotlib

matplotlib.use("Agg")

import pyroml
from pyroml.cli.common import add_common_args
from pyroml.cli.experiment import train_and_report


def main(args):
    model = partial(pyroml.VAE, latent_dim=args.latent_dim, hidden=args.hidden, decoder_hidden=args.decoder_hidden,
                    likelihood=args.likelihood)
    return train_and_report(model, args, out=args.out or "runs/vae")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(parser, pyroml.VAE)
    parser.add_argument("--latent-dim", type=int, default=2)
    parser.add_argument("--hidden", type=int, nargs="+", default=[512, 256], help="encoder hidden sizes")
    parser.add_argument("--decoder-hidden", type=int, nargs="+", default=[256, 256],
                        help="decoder hidden sizes, latent to pixels")
    parser.add_argument("--likelihood", default="bernoulli", choices=["bernoulli", "continuous_bernoulli"])
    main(parser.parse_args())
