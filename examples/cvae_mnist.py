"""Convolutional VAE on MNIST (the study's CVAE by default).

    python examples/cvae_mnist.py --epochs 25 --out runs/cvae
    python examples/cvae_mnist.py --channels 32 64 --hidden 512 256 --decoder-hidden 256 256 \
        --out runs/convenc                      # a convolutional encoder that beats the MLP VAE

Encoder: 3x3 stride-2 convolutions 1->16->32, linear heads to a 2-d Gaussian;
decoder: linear to 32x7x7, transposed convolutions 32->16->1. ``--hidden 512 256`` adds dense
layers (mirrored in the decoder); ``--decoder-hidden`` swaps the transposed convolutions for an
MLP decoder (see docs/benchmarks.md for what each buys).
"""

import argparse
from functools import partial

import matplotlib

matplotlib.use("Agg")

import pyroml
from pyroml.cli.common import add_common_args
from pyroml.cli.experiment import train_and_report


def main(args):
    model = partial(pyroml.ConvVAE, latent_dim=args.latent_dim, channels=args.channels, hidden=args.hidden,
                    likelihood=args.likelihood, decoder_hidden=args.decoder_hidden)
    return train_and_report(model, args, out=args.out or "runs/cvae")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(parser, pyroml.ConvVAE)
    parser.add_argument("--latent-dim", type=int, default=2)
    parser.add_argument("--channels", type=int, nargs="+", default=[16, 32])
    parser.add_argument("--hidden", type=int, nargs="+", default=None,
                        help="optional dense layer sizes after the convolutions (mirrored in the decoder)")
    parser.add_argument("--decoder-hidden", type=int, nargs="+", default=None,
                        help="use an MLP decoder with these hidden sizes instead of transposed convolutions")
    parser.add_argument("--likelihood", default="bernoulli", choices=["bernoulli", "continuous_bernoulli"])
    main(parser.parse_args())
