"""GP regression with a NUTS posterior over its kernel hyperparameters (the study's problem).

    python examples/gp_fit.py --out runs/gp_fit            # 4 chains x (500 warm-up + 500 samples)

f(x) = sin(20x) + 2 cos(14x) - 2 sin(6x) observed at x in {-1, -1/2, 0, 1/2, 1}; RBF kernel with
lengthscale ~ LogNormal(-1, 1), variance ~ LogNormal(0, 2), noise 1e-4. Runs NUTS, prints split
R-hat, effective sample sizes and divergences per chain, writes a flat metrics.json and saves
gp_hyperparameters.png (posterior samples beside prior samples, log-log) and gp_predictive.png
(posterior predictive mean, 95% band, function samples, the target, the data).

The library calls, in pyroml.studies.gp_problem.run_gp_fit:

    problem = study_problem()
    y = problem.f(problem.X).reshape(-1)
    gp = study_gp(problem.X, y)       # = pyroml.GP(X, y, kernel="rbf", priors=study_priors(), noise=1e-4,
                                      #                 normalize=False, standardize=False): the study's pinned GP
    post = gp.sample_posterior(num_samples=500, warmup_steps=500, num_chains=4)
    print(post.table())
    mean, var = post.predict(problem.X)
    figures = pyroml.plots.gp_figures(post, problem.f, problem.bounds)
"""

import argparse

import matplotlib

matplotlib.use("Agg")

from pyroml.cli.gp import add_arguments
from pyroml.studies.gp_problem import run_gp_fit


def main(args: argparse.Namespace) -> int:
    run_gp_fit(kernel=args.kernel, num_samples=args.num_samples, warmup=args.warmup, chains=args.chains,
               target_accept=args.target_accept,
               seed=args.seed, out=args.out)
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    parser.set_defaults(out="runs/gp_fit")
    raise SystemExit(main(parser.parse_args()))
