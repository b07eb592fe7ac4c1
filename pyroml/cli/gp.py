"""``pyroml gp``: NUTS on the study's GP problem (:func:`pyroml.studies.gp_problem.run_gp_fit`).

Nothing is lost when a run is interrupted: on Ctrl-C the draws made so far (every complete chain
and the kept draws of the interrupted one) are written atomically (:func:`pyroml.io.write_json`)
to ``<out>/metrics.json`` with ``"partial": true``, their diagnostics and the draws themselves,
and the command says so in one line and exits with status 130.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Dict

from pyroml.cli.common import fraction, int_at_least, output_folder
from pyroml.gp import KERNELS, NUTSInterrupted, Posterior, get_kernel
from pyroml.io import write_json
from pyroml.studies.gp_problem import run_gp_fit

__all__ = ["add_arguments", "register", "run", "partial_metrics"]


def _kernel(spec: str) -> str:
    """``--kernel``: a family name or a sum/product of them, checked up front."""
    try:
        return get_kernel(spec).name
    except (ValueError, TypeError) as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of ``pyroml gp`` and ``examples/gp_fit.py``."""
    p.add_argument("--num-samples", type=int_at_least(1), default=500, help="NUTS samples per chain (default 500)")
    p.add_argument("--warmup", type=int_at_least(0), default=500, help="NUTS warm-up steps per chain (default 500)")
    p.add_argument("--chains", type=int_at_least(1), default=4, help="chains (default 4)")
    p.add_argument("--kernel", default="rbf", type=_kernel,
                   help=f"one of {', '.join(sorted(KERNELS))}, or sums and products of them such as "
                        f"'rbf+periodic' (default rbf)")
    p.add_argument("--out", default="runs/gp", help="output folder (default runs/gp)")
    p.add_argument("--seed", type=int_at_least(0), default=0, help="random seed (default 0)")
    p.add_argument("--target-accept", type=fraction, default=0.9,
                   help="NUTS target acceptance probability (default 0.9: no divergences on the study's posterior)")
    p.add_argument("--device", default="cpu", help="accepted for symmetry; GP work runs on the CPU in float64")
    p.add_argument("--data-dir", default=None, help="unused: the study's problem is built in")


def partial_metrics(e: NUTSInterrupted, args: argparse.Namespace) -> Dict[str, Any]:
    """What an interrupted run writes: its settings, ``"partial": true``, the chains completed,
    the summary of the kept draws (:meth:`Posterior.summary`) and the draws (name -> list)."""
    post: Posterior = e.posterior  # type: ignore[assignment]
    return {"partial": True, "kernel": args.kernel, "chains": args.chains, "completed_chains": e.completed_chains,
            "num_samples": args.num_samples, "warmup_steps": args.warmup, "seed": args.seed,
            "target_accept": args.target_accept, "draws": post.num_samples, **post.summary(),
            "samples": {h: v.tolist() for h, v in post.samples.items()}}


def run(args: argparse.Namespace) -> int:
    """Run :func:`~pyroml.studies.gp_problem.run_gp_fit` as the flags say; on Ctrl-C write the
    draws made so far and return 130 (see the module docstring)."""
    output_folder(Path(args.out), overwrite=True)  # a file, or no permission: said before any sampling
    try:
        run_gp_fit(kernel=args.kernel, num_samples=args.num_samples, warmup=args.warmup, chains=args.chains,
                   seed=args.seed, out=args.out, target_accept=args.target_accept)
    except NUTSInterrupted as e:
        if e.posterior is None:
            print("pyroml gp: interrupted in the first chain's warm-up, before any draw was kept; nothing written",
                  file=sys.stderr)
            return 130
        path = Path(args.out) / "metrics.json"
        write_json(path, partial_metrics(e, args))
        print(f"pyroml gp: interrupted after {e.completed_chains} of {e.num_chains} chains; the "
              f"{e.posterior.num_samples} draws kept so far (partial) are in {path}", file=sys.stderr)
        return 130
    return 0


def register(sub: Any) -> None:
    """Add the ``gp`` command to the subparsers ``sub``."""
    p = sub.add_parser("gp", help="GP with a hyperparameter posterior by NUTS on the study's problem",
                       description="Gaussian-process regression with a posterior over kernel hyperparameters.",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    p.set_defaults(func=run)
