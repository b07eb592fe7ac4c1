"""``pyroml gp``: NUTS on the study's GP problem (:func:`pyroml.studies.gp_problem.run_gp_fit`)."""

from __future__ import annotations

import argparse
from typing import Any

from pyroml.gp import KERNELS
from pyroml.studies.gp_problem import run_gp_fit

__all__ = ["add_arguments", "register", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of ``pyroml gp`` and ``examples/gp_fit.py``."""
    p.add_argument("--num-samples", type=int, default=500, help="NUTS samples per chain (default 500)")
    p.add_argument("--warmup", type=int, default=500, help="NUTS warm-up steps per chain (default 500)")
    p.add_argument("--chains", type=int, default=4, help="chains (default 4)")
    p.add_argument("--kernel", default="rbf", choices=sorted(KERNELS))
    p.add_argument("--out", default="runs/gp", help="output folder (default runs/gp)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--target-accept", type=float, default=0.9,
                   help="NUTS target acceptance probability (default 0.9: no divergences on the study's posterior)")
    p.add_argument("--device", default="cpu", help="accepted for symmetry; GP work runs on the CPU in float64")
    p.add_argument("--data-dir", default=None, help="unused: the study's problem is built in")


def run(args: argparse.Namespace) -> int:
    """Run :func:`~pyroml.studies.gp_problem.run_gp_fit` as the flags say."""
    run_gp_fit(kernel=args.kernel, num_samples=args.num_samples, warmup=args.warmup, chains=args.chains,
               seed=args.seed, out=args.out, target_accept=args.target_accept)
    return 0


def register(sub: Any) -> None:
    """Add the ``gp`` command to the subparsers ``sub``."""
    p = sub.add_parser("gp", help="GP with a hyperparameter posterior by NUTS on the study's problem",
                       description="Gaussian-process regression with a posterior over kernel hyperparameters.",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    p.set_defaults(func=run)
