"""Bayesian optimisation of the study's function with a GP surrogate.

    python examples/bayes_opt.py --out runs/bayes_opt                        # log-EI, MAP + Laplace draws (default)
    python examples/bayes_opt.py --method thompson --hyperparameters nuts    # the study's Thompson sampling

Starts from the five points x in {-1, -1/2, 0, 1/2, 1}, runs T = 10 iterations, prints the trace
(point, value, best so far, hyperparameters), writes a flat metrics.json and result.json (every
evaluation and the trace), and saves bo_iterations.png (one panel per iteration: GP mean and
band, the drawn sample or the acquisition, the chosen point) and bo_best_so_far.png. The global
minimum is f = -4.9544 at x = 0.23271.

The library calls, in pyroml.studies.gp_problem.run_bayes_opt:

    f, X0, bounds, x_min, f_min = study_problem()
    result = pyroml.bo.minimize(f, bounds, X0, iterations=10, method="ei", hyperparameters="laplace",
                                kernel="rbf", priors=study_priors(), **STUDY_GP)   # the study's pinned GP
    result.x_best, result.y_best, result.trace, result.best_so_far()
    figures = pyroml.plots.bo_figures(result, f, bounds)
"""

import argparse

import matplotlib

matplotlib.use("Agg")

from pyroml.cli.bo import add_arguments
from pyroml.studies.gp_problem import run_bayes_opt


def main(args: argparse.Namespace) -> int:
    run_bayes_opt(iterations=args.iterations, method=args.method, hyperparameters=args.hyperparameters,
                  seed=args.seed, out=args.out)
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    parser.set_defaults(out="runs/bayes_opt")
    raise SystemExit(main(parser.parse_args()))
