"""What the commands share: the user-error exception and the flags every density-model command takes."""

from __future__ import annotations

import argparse
from typing import Any, Dict, Optional, Type

from pyroml.io import MODELS
from pyroml.models import DensityModel

__all__ = ["CLIError", "MODEL_DEFAULT", "add_data_args", "add_common_args", "fill_model_defaults"]


class CLIError(Exception):
    """A user error: printed as one line without a traceback, exit status 2."""


class _ModelDefault:
    """Placeholder for a training setting taken from the model's ``fit_defaults``."""

    def __repr__(self) -> str:
        return "the model's default"

    __str__ = __repr__


MODEL_DEFAULT = _ModelDefault()
SETTINGS = ("epochs", "batch_size", "lr", "lr_schedule")


def add_data_args(parser: argparse.ArgumentParser) -> None:
    """``--data-dir`` and ``--no-download``: where MNIST is, and whether it may be downloaded."""
    parser.add_argument("--data-dir", default=None,
                        help="folder holding MNIST/raw/ (default: $PYROML_DATA_DIR, else ./data)")
    parser.add_argument("--no-download", action="store_true",
                        help="fail instead of downloading MNIST when the files are missing")


def add_common_args(parser: argparse.ArgumentParser, model_cls: Optional[Type[DensityModel]] = None) -> None:
    """The flags every density-model script shares; training defaults come from
    ``model_cls.fit_defaults`` (e.g. PPCA's learning-rate schedule), or, without a class, from
    the model chosen later (:func:`fill_model_defaults`)."""
    d: Dict[str, Any]
    if model_cls is None:
        per_model = {name: cls.training_defaults() for name, cls in MODELS.items() if cls.__name__.lower() == name}
        d = dict.fromkeys(SETTINGS, MODEL_DEFAULT)
        shown = {k: "per model: " + ", ".join(f"{name} {v[k]}" for name, v in per_model.items()) for k in d}
    else:
        d = shown = model_cls.training_defaults()
    parser.add_argument("--epochs", type=int, default=d["epochs"],
                        help=f"passes over the training set (default {shown['epochs']})")
    parser.add_argument("--batch-size", type=int, default=d["batch_size"],
                        help=f"mini-batch size (default {shown['batch_size']})")
    parser.add_argument("--lr", type=float, default=d["lr"], help=f"Adam learning rate (default {shown['lr']})")
    parser.add_argument("--lr-schedule", default=d["lr_schedule"], choices=[None, "cosine", "exponential"],
                        type=lambda s: None if s.lower() == "none" else s, metavar="{none,cosine,exponential}",
                        help=f"learning-rate decay over training (default {shown['lr_schedule']})")
    add_data_args(parser)
    parser.add_argument("--out", default=None, help="output folder for metrics.json, model.pt and figures")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default cpu)")
    parser.add_argument("--subset", type=int, default=None,
                        help="use a random subset of this many train and test images (quick runs)")
    parser.add_argument("--iwae-k", type=int, default=100,
                        help="importance samples for the log-likelihood bound of models without an exact one")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def fill_model_defaults(args: argparse.Namespace, model: DensityModel) -> None:
    """Replace every setting left at :data:`MODEL_DEFAULT` by ``model``'s training default."""
    for key, value in model.training_defaults().items():
        if getattr(args, key, None) is MODEL_DEFAULT:
            setattr(args, key, value)
