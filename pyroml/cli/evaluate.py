"""``pyroml evaluate CHECKPOINT``: rebuild a saved model and score it on a test set (MNIST's by default)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from pyroml import plots
from pyroml._validation import check_device
from pyroml.cli.common import CLIError, add_data_args, int_at_least, load_data
from pyroml.evaluation import evaluate
from pyroml.io import load, write_json

__all__ = ["register", "run"]


def run(args: argparse.Namespace) -> int:
    """Load the checkpoint, evaluate, print the report and write ``metrics.json`` and figures."""
    path = Path(args.checkpoint)
    if not path.exists():
        raise CLIError(f"no checkpoint at {path}; train one with `pyroml train MODEL --out DIR` "
                       f"(it writes DIR/model.pt)")
    check_device(args.device)
    try:
        model = load(path, device=args.device)
    except ValueError as e:
        raise CLIError(str(e)) from None
    _, test = load_data(args)
    report = evaluate(model, test, iwae_k=args.iwae_k, seed=args.seed)
    print(report)
    out = Path(args.out or path.parent / "evaluation")
    write_json(out / "metrics.json", report.to_dict())
    plots.save_figures(plots.model_figures(model, test, report), out)
    print(json.dumps(report.to_dict(), indent=2))
    print(f"wrote {out}/metrics.json and figures")
    return 0


def register(sub: Any) -> None:
    """Add the ``evaluate`` command to the subparsers ``sub``."""
    p = sub.add_parser("evaluate", help="score a saved model (model.pt) on a test set",
                       description="Rebuild a model saved by `pyroml train` (or pyroml.save) without its training "
                                   "code, evaluate it on the test set of --dataset (MNIST by default) or --data "
                                   "(ELBO, log-likelihood, MSE, latents) and write metrics.json and figures.",
                       epilog="example: pyroml evaluate runs/vae/model.pt --iwae-k 1000")
    p.add_argument("checkpoint", help="path of a model.pt")
    add_data_args(p)
    p.add_argument("--out", default=None, help="output folder (default: next to the checkpoint, evaluation/)")
    p.add_argument("--iwae-k", type=int_at_least(0), default=100, help="importance samples for the bound (default 100)")
    p.add_argument("--subset", type=int_at_least(1), default=None, help="evaluate on a random subset of the test set")
    p.add_argument("--seed", type=int_at_least(0), default=0, help="random seed (default 0)")
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default cpu)")
    p.set_defaults(func=run)
