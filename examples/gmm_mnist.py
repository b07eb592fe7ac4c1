"""Gaussian mixture on MNIST with enumerated assignments (TraceEnum_ELBO).

    python examples/gmm_mnist.py --out runs/gmm

K = 10 diagonal Gaussians on [0, 1] pixels with a hard variance floor of 0.01 (so that MNIST's
constant border cannot collapse a variance to zero: the study's -1.07e7 nats per image),
k-means++ initialisation, SVI with Adam 0.1 (cosine decay; means at 0.3x, weights at 0.5x), 50 epochs
of batches of 2000 (``GMM.fit_defaults``).
"""

import argparse
from functools import partial

import matplotlib

matplotlib.use("Agg")

import pyroml
from pyroml.cli.common import add_common_args
from pyroml.cli.experiment import train_and_report


def main(args):
    model = partial(pyroml.GMM, n_components=args.components, var_floor=args.var_floor)
    return train_and_report(model, args, out=args.out or "runs/gmm")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(parser, pyroml.GMM)
    parser.add_argument("--components", type=int, default=10, help="number of mixture components K")
    parser.add_argument("--var-floor", type=float, default=0.01, help="lower bound of every variance")
    main(parser.parse_args())
