"""GP regression with a NUTS posterior over its kernel hyperparameters (the study's problem).

    python examples/gp_fit.py --out runs/gp_fit

f(x) = sin(20x) + 2 cos(14x) - 2 sin(6x) observed at x in {-1, -1/2, 0, 1/2, 1}; RBF kernel with
lengthscale ~ LogNormal(-1, 1), variance ~ LogNormal(0, 2), noise 1e-4. Runs NUTS (4 chains x
500 samples after 500 warm-up steps), prints split R-hat, effective sample sizes and
divergences, and saves the hyperparameter posterior beside prior samples and the posterior
predictive (mean, 95% band, function samples, target, data).
"""

import argparse

import matplotlib

matplotlib.use("Agg")

from pyroml import gp  # noqa: E402


def main(args):
    return gp.cli_main(args)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    gp.add_cli_args(parser)
    parser.set_defaults(out="runs/gp_fit")
    main(parser.parse_args())
