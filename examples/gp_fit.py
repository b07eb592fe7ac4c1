"""GP regression with a NUTS posterior over its kernel hyperparameters (the study's problem).

    python examples/gp_fit.py --out runs/gp_fit            # 4 chains x (500 warm-up + 500 samples)

f(x) = sin(20x) + 2 cos(14x) - 2 sin(6x) observed at x in {-1, -1/2, 0, 1/2, 1}; RBF kernel with
lengthscale ~ LogNormal(-1, 1), variance ~ LogNormal(0, 2), noise 1e-4. Runs NUTS, prints split
R-hat, effective sample sizes and divergences per chain, writes a flat metrics.json and saves
gp_hyperparameters.png (posterior samples beside prior samples, log-log) and gp_predictive.png
(posterior predictive mean, 95% band, function samples, the target, the data).
"""

import argparse

import matplotlib

matplotlib.use("Agg")

from pyroml import gp  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    gp.add_cli_args(parser)
    parser.set_defaults(out="runs/gp_fit")
    return parser


def main(args: argparse.Namespace) -> int:
    return gp.cli_main(args)


if __name__ == "__main__":
    raise SystemExit(main(build_parser().parse_args()))
