"""``pyroml compare``: the study's Table 1 and Figures 1-4 (trains or loads every model)."""

from __future__ import annotations

import argparse
from typing import Any

from pyroml._validation import check_device
from pyroml.cli.common import add_data_args, int_at_least
from pyroml.studies.comparison import compare

__all__ = ["register", "run"]


def run(args: argparse.Namespace) -> int:
    """Run :func:`pyroml.studies.comparison.compare` as the flags say."""
    check_device(args.device)
    compare(args.data_dir, args.out, dataset=args.dataset, quick=args.quick, retrain=args.retrain, seed=args.seed,
            device=args.device, iwae_k=args.iwae_k, download=not args.no_download, progress=not args.no_progress,
            models=args.models)
    return 0


def register(sub: Any) -> None:
    """Add the ``compare`` command to the subparsers ``sub``."""
    p = sub.add_parser("compare", help="the study's Table 1 and Figures 1-4 (trains or loads all models)",
                       description="Train (or load from OUT) the VAE, ConvVAE, PPCA, GMM and a continuous-Bernoulli "
                                   "VAE on an image data set (MNIST by default, --dataset NAME) with their default "
                                   "settings; write Table 1 (table.md, table.csv, table.json) with a fair "
                                   "bits-per-dimension column (on MNIST also the study's numbers converted to the "
                                   "same units), and Figures 1-4 as PNG.",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="examples:\n"
                              "  pyroml compare --quick                     # under a minute: runs/compare-quick/\n"
                              "  pyroml compare --data-dir ../shared/data   # the full run (about 20 min on 2 cores)\n"
                              "  pyroml compare --models vae ppca --retrain # retrain two rows\n"
                              "  pyroml compare --dataset fashion-mnist     # the same on Fashion-MNIST")
    add_data_args(p, own_data=False)
    p.add_argument("--out", default=None,
                   help="output folder (default runs/compare[-DATASET][-quick])")
    p.add_argument("--quick", action="store_true",
                   help="one epoch on 2000 training / 1000 test images, K<=10: under a minute")
    p.add_argument("--retrain", action="store_true",
                   help="train even when OUT/<model>/model.pt exists with the same settings (else it is loaded)")
    p.add_argument("--models", nargs="+", default=None, choices=["vae", "convvae", "ppca", "gmm", "vae_cb"],
                   help="only these rows")
    p.add_argument("--iwae-k", type=int_at_least(1), default=100,
                   help="importance samples for the VAEs' bound (default 100)")
    p.add_argument("--seed", type=int_at_least(0), default=0, help="random seed (default 0)")
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default cpu)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    p.set_defaults(func=run)
