"""``pyroml train MODEL``: train one density model on MNIST, evaluate it, save it."""

from __future__ import annotations

import argparse
import inspect
from typing import Any, Dict

from pyroml.cli.common import CLIError, add_common_args, int_at_least
from pyroml.cli.experiment import train_and_report
from pyroml.io import MODELS
from pyroml.models.likelihoods import LIKELIHOODS

__all__ = ["register", "run"]


def run(args: argparse.Namespace) -> int:
    """Build the model the flags name and run :func:`~pyroml.cli.experiment.train_and_report`."""
    cls = MODELS[args.model]
    kwargs: Dict[str, Any] = {}
    if args.latent_dim is not None:
        kwargs["latent_dim"] = args.latent_dim
    if args.components is not None:
        kwargs["n_components"] = args.components
    if args.likelihood is not None:
        kwargs["likelihood"] = args.likelihood
    bad = [k for k in kwargs if k not in inspect.signature(cls).parameters]
    if bad:
        raise CLIError(f"{cls.__name__} takes no {', '.join(bad)} "
                       f"(--latent-dim is for vae/convvae/ppca, --components for gmm, --likelihood for vae/convvae)")
    train_and_report(lambda: cls(**kwargs), args, out=args.out or f"runs/{args.model}")
    return 0


def register(sub: Any) -> None:
    """Add the ``train`` command to the subparsers ``sub``."""
    p = sub.add_parser("train", help="train one density model on a data set, evaluate it, save it",
                       description="Train MODEL on a data set (MNIST unless --dataset or --data says otherwise)\n"
                                   "with its default settings (override them with the flags),\n"
                                   "checkpointing every epoch to OUT/checkpoint.pt; then evaluate it on the test set\n"
                                   "and write OUT/metrics.json, OUT/model.pt and the figures. --resume continues an\n"
                                   "interrupted run on the same trajectory.",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="examples:\n"
                              "  pyroml train vae --out runs/vae               # the study's settings, ~5 min\n"
                              "  pyroml train gmm --components 20 --out runs/gmm20\n"
                              "  pyroml train vae --epochs 40 --resume --out runs/vae   # 15 more epochs\n"
                              "  pyroml train ppca --subset 2000 --epochs 1    # a quick try\n"
                              "  pyroml train convvae --dataset cifar10 --likelihood continuous_bernoulli\n"
                              "  pyroml train ppca --data table.csv --label-column species")
    p.add_argument("model", choices=sorted(MODELS), help="which model (cvae = convvae, the study's name)")
    p.add_argument("--latent-dim", type=int_at_least(1), default=None, help="latent dimension (vae, convvae, ppca)")
    p.add_argument("--components", type=int_at_least(1), default=None, help="mixture components K (gmm)")
    p.add_argument("--likelihood", default=None, choices=sorted(LIKELIHOODS),
                   help="observation model of vae/convvae (default bernoulli; gaussian for real-valued data)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt when it exists")
    add_common_args(p)
    p.set_defaults(func=run)
