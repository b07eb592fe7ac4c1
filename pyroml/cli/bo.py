"""``pyroml bo``: Bayesian optimisation of the study's function
(:func:`pyroml.studies.gp_problem.run_bayes_opt`)."""

from __future__ import annotations

import argparse
from typing import Any

from pyroml.bo import METHODS
from pyroml.studies.gp_problem import run_bayes_opt

__all__ = ["add_arguments", "register", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of ``pyroml bo`` and ``examples/bayes_opt.py``."""
    p.add_argument("--iterations", type=int, default=10, help="evaluations after the 5 initial points (default 10)")
    p.add_argument("--method", default="ei", choices=METHODS, help="acquisition (default ei)")
    p.add_argument("--hyperparameters", default="map", choices=["map", "nuts"],
                   help="MAP (default) or a NUTS posterior each iteration")
    p.add_argument("--out", default="runs/bo", help="output folder (default runs/bo)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="accepted for symmetry; GP work runs on the CPU in float64")
    p.add_argument("--data-dir", default=None, help="unused: the study's problem is built in")


def run(args: argparse.Namespace) -> int:
    """Run :func:`~pyroml.studies.gp_problem.run_bayes_opt` as the flags say."""
    run_bayes_opt(iterations=args.iterations, method=args.method, hyperparameters=args.hyperparameters,
                  seed=args.seed, out=args.out)
    return 0


def register(sub: Any) -> None:
    """Add the ``bo`` command to the subparsers ``sub``."""
    p = sub.add_parser("bo", help="Bayesian optimisation of the study's function",
                       description="Bayesian optimisation of the study's function with a GP surrogate\n"
                                   "(pyroml.bo.minimize).",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    p.set_defaults(func=run)
