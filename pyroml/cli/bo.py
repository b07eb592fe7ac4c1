"""``pyroml bo``: Bayesian optimisation of the study's function
(:func:`pyroml.studies.gp_problem.run_bayes_opt`).

Nothing is lost when a run stops early: on Ctrl-C the evaluations so far are written
(atomically, :func:`pyroml.io.write_json`) to ``<out>/result.json`` with ``"partial": true`` and
the command exits with status 130, saying so; a run that an objective failure ended early
writes its result as usual and says that it stopped early (status 1).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Dict

import torch

from pyroml.bo import METHODS, BOInterrupted, BOResult
from pyroml.bo.loop import HYPERPARAMETERS
from pyroml.cli.common import int_at_least, output_folder
from pyroml.io import write_json
from pyroml.studies.gp_problem import run_bayes_opt, study_problem

__all__ = ["add_arguments", "register", "run", "partial_result"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of ``pyroml bo`` and ``examples/bayes_opt.py``."""
    p.add_argument("--iterations", type=int_at_least(0), default=10,
                   help="evaluations after the 5 initial points (default 10)")
    p.add_argument("--method", default="ei", choices=METHODS, help="acquisition (default ei)")
    p.add_argument("--hyperparameters", default="laplace", choices=list(HYPERPARAMETERS),
                   help="laplace (default: MAP and draws around it), map, or a NUTS posterior each iteration")
    p.add_argument("--out", default="runs/bo", help="output folder (default runs/bo)")
    p.add_argument("--seed", type=int_at_least(0), default=0, help="random seed (default 0)")
    p.add_argument("--device", default="cpu", help="accepted for symmetry; GP work runs on the CPU in float64")
    p.add_argument("--data-dir", default=None, help="unused: the study's problem is built in")


def partial_result(result: BOResult) -> Dict[str, Any]:
    """The JSON written for a run that stopped early: the best point, every evaluation
    (``X`` ``(n, d)``, ``Y`` ``(n,)``), the failures, and the trace without its tensors."""
    return {"partial": True, "x_best": result.x_best.tolist(), "y_best": result.y_best, "X": result.X.tolist(),
            "Y": result.Y.tolist(), "failures": result.failures, "seconds": result.seconds,
            "trace": [{k: v for k, v in t.items() if not torch.is_tensor(v)} for t in result.trace]}


def run(args: argparse.Namespace) -> int:
    """Run :func:`~pyroml.studies.gp_problem.run_bayes_opt` as the flags say; on Ctrl-C write the
    partial result and return 130, after an early stop return 1 (see the module docstring)."""
    output_folder(Path(args.out), overwrite=True)  # a file, or no permission: said before any evaluation
    planned = study_problem().X.shape[0] + args.iterations
    try:
        metrics = run_bayes_opt(iterations=args.iterations, method=args.method, hyperparameters=args.hyperparameters,
                                seed=args.seed, out=args.out)
    except BOInterrupted as e:
        path = Path(args.out) / "result.json"
        write_json(path, partial_result(e.result))
        print(f"pyroml bo: interrupted after {e.result.Y.numel()} of {planned} evaluations; the partial result "
              f"(best f = {e.result.y_best:.6g}) is in {path}", file=sys.stderr)
        return 130
    if metrics["evaluations"] < planned:
        print(f"pyroml bo: stopped early, after {metrics['evaluations']} of {planned} evaluations (an evaluation "
              f"of the objective failed); the result so far is in {Path(args.out) / 'result.json'}", file=sys.stderr)
        return 1
    return 0


def register(sub: Any) -> None:
    """Add the ``bo`` command to the subparsers ``sub``."""
    p = sub.add_parser("bo", help="Bayesian optimisation of the study's function",
                       description="Bayesian optimisation of the study's function with a GP surrogate\n"
                                   "(pyroml.bo.minimize).",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    p.set_defaults(func=run)
