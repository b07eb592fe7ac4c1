"""Bayesian optimisation of the study's function with a GP surrogate.

    python examples/bayes_opt.py --out runs/bayes_opt                        # log-EI, MAP hyperparameters (default)
    python examples/bayes_opt.py --method thompson --hyperparameters nuts    # the study's Thompson sampling

Starts from the five points x in {-1, -1/2, 0, 1/2, 1}, runs T = 10 iterations, prints the trace
(point, value, best so far, hyperparameters), writes a flat metrics.json and result.json (every
evaluation and the trace), and saves bo_iterations.png (one panel per iteration: GP mean and
band, the drawn sample or the acquisition, the chosen point) and bo_best_so_far.png. The global
minimum is f = -4.9544 at x = 0.23271.
"""

import argparse

import matplotlib

matplotlib.use("Agg")

from pyroml import bo  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    bo.add_cli_args(parser)
    parser.set_defaults(out="runs/bayes_opt")
    return parser


def main(args: argparse.Namespace) -> int:
    return bo.cli_main(args)


if __name__ == "__main__":
    raise SystemExit(main(build_parser().parse_args()))
