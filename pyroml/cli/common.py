"""What the commands share: the user-error exception and the flags every density-model command takes."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Tuple, Type

from pyroml._validation import check_int
from pyroml.data import PATH_KINDS, Dataset, data_record, dataset_names, from_path, load
from pyroml.io import MODELS
from pyroml.models import DensityModel

__all__ = ["CLIError", "MODEL_DEFAULT", "add_data_args", "add_common_args", "fill_model_defaults", "load_data",
           "run_data_record", "output_folder", "int_at_least", "positive_float", "fraction", "add_scale_args",
           "scale_flags", "LOGGERS"]


class CLIError(Exception):
    """A user error: printed as one line without a traceback, exit status 2."""


def _number(text: str, kind: Callable[[str], Any], ok: Callable[[Any], bool], rule: str) -> Any:
    """``kind(text)`` when ``ok`` of it, else an argparse usage error saying ``rule``."""
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}, "
                                         f"got {text!r}") from None
    if not ok(value):
        raise argparse.ArgumentTypeError(f"must be {rule}, got {text}")
    return value


def int_at_least(low: int) -> Callable[[str], int]:
    """An argparse ``type``: an integer ``>= low``."""
    return lambda text: _number(text, int, lambda v: v >= low, f">= {low}")


def positive_float(text: str) -> float:
    """An argparse ``type``: a finite number ``> 0``."""
    return _number(text, float, lambda v: 0 < v < float("inf"), "a finite number > 0")


def fraction(text: str) -> float:
    """An argparse ``type``: a number strictly between 0 and 1."""
    return _number(text, float, lambda v: 0.0 < v < 1.0, "between 0 and 1")


def output_folder(path: Path, resume: bool = False, overwrite: bool = False) -> Path:
    """``path`` as an output folder that can be written now: created if missing; refused when it
    is a file, not writable, or holds an earlier run (unless ``resume`` or ``overwrite``).

    :raises CLIError: saying which, and the fix.
    """
    if path.exists() and not path.is_dir():
        raise CLIError(f"--out {path} is a file, not a folder; name a folder for the run's outputs")
    earlier = [f for f in RUN_FILES if (path / f).exists()]
    if earlier and not (resume or overwrite):
        raise CLIError(f"{path} holds an earlier run ({', '.join(earlier)}): pass --resume to continue it, "
                       f"--overwrite to replace it, or another --out")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".pyroml-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise CLIError(f"cannot write to {path} ({e.strerror}); choose another --out") from None
    return path


class _ModelDefault:
    """Placeholder for a training setting taken from the model's ``fit_defaults``."""

    def __repr__(self) -> str:
        return "the model's default"

    __str__ = __repr__


MODEL_DEFAULT = _ModelDefault()
#: the files a training run writes into its folder
RUN_FILES = ("model.pt", "checkpoint.pt", "metrics.json")
SETTINGS = ("epochs", "batch_size", "lr", "lr_schedule")


def add_data_args(parser: argparse.ArgumentParser, own_data: bool = True) -> None:
    """Which data: ``--dataset NAME`` (default MNIST) from ``--data-dir``, downloaded unless
    ``--no-download``; with ``own_data``, also ``--data PATH`` (a file or folder of one's own) and
    its options."""
    parser.add_argument("--dataset", default="mnist", choices=dataset_names(), metavar="NAME",
                        help=f"a data set by name: {', '.join(dataset_names())} (default mnist)")
    parser.add_argument("--data-dir", default=None,
                        help="folder holding the data sets in torchvision's layout, e.g. MNIST/raw/ "
                             "(default: $PYROML_DATA_DIR, else ./data)")
    parser.add_argument("--no-download", action="store_true",
                        help="fail instead of downloading the data set when its files are missing")
    if own_data:
        parser.add_argument("--data", default=None, metavar="PATH",
                            help="your own data instead of --dataset: " + "; ".join(PATH_KINDS))
        parser.add_argument("--label-column", default=None,
                            help="with a .csv --data: the column holding the labels (name or index)")
        parser.add_argument("--size", type=int_at_least(1), nargs=2, default=None, metavar=("H", "W"),
                            help="with an image-folder --data: resize every image to H x W")
        parser.add_argument("--greyscale", action="store_true",
                            help="with an image-folder --data: convert the images to greyscale")
        parser.add_argument("--test-fraction", type=fraction, default=0.1,
                            help="with --data without a given split: the fraction held out for testing (default 0.1)")


def load_data(args: argparse.Namespace) -> Tuple[Dataset, Dataset]:
    """``(train, test)`` as the flags say: ``--data PATH`` when given, else ``--dataset`` from
    ``--data-dir`` (downloaded unless ``--no-download``); ``--subset`` keeps a random part of each."""
    subset, seed = getattr(args, "subset", None), getattr(args, "seed", 0)
    if subset is not None:
        check_int("--subset", subset, 1)
    path = getattr(args, "data", None)
    if path is None:
        return load(args.dataset, args.data_dir, download=not args.no_download, subset=subset, seed=seed)
    label = args.label_column
    label = int(label) if isinstance(label, str) and label.isdigit() else label
    train, test = from_path(path, label_column=label, size=args.size, greyscale=args.greyscale,
                            test_fraction=args.test_fraction, seed=seed)
    return (train, test) if subset is None else (train.subset(subset, seed), test.subset(subset, seed))


def run_data_record(args: argparse.Namespace, train: Dataset, test: Dataset) -> Dict[str, Any]:
    """:func:`pyroml.data.data_record` of the data the flags name (``--data``'s resolved path, or
    ``--dataset``)."""
    path = getattr(args, "data", None)
    return data_record(train, test, str(Path(path).resolve()) if path is not None else args.dataset)


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
    parser.add_argument("--epochs", type=int_at_least(0), default=d["epochs"],
                        help=f"passes over the training set (default {shown['epochs']})")
    parser.add_argument("--batch-size", type=int_at_least(1), default=d["batch_size"],
                        help=f"mini-batch size (default {shown['batch_size']})")
    parser.add_argument("--lr", type=positive_float, default=d["lr"],
                        help=f"Adam learning rate (default {shown['lr']})")
    parser.add_argument("--lr-schedule", default=d["lr_schedule"], choices=[None, "cosine", "exponential"],
                        type=lambda s: None if s.lower() == "none" else s, metavar="{none,cosine,exponential}",
                        help=f"learning-rate decay over training (default {shown['lr_schedule']})")
    add_data_args(parser)
    parser.add_argument("--out", default=None, help="output folder for metrics.json, model.pt and figures")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier run in --out")
    parser.add_argument("--seed", type=int_at_least(0), default=0, help="random seed (default 0)")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default cpu)")
    parser.add_argument("--subset", type=int_at_least(1), default=None,
                        help="use a random subset of this many training and test examples (quick runs)")
    parser.add_argument("--iwae-k", type=int_at_least(0), default=100,
                        help="importance samples for the log-likelihood bound of models without an exact one")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    add_scale_args(parser)


#: ``--strategy`` choices: one process, or DDP (Fabric re-runs the command for each extra process)
STRATEGIES = ("auto", "ddp")
#: ``--precision`` choices (Lightning Fabric's names)
PRECISIONS = ("32-true", "64-true", "bf16-mixed", "16-mixed", "bf16-true", "16-true")
#: ``--logger`` choices
LOGGERS = ("csv", "tensorboard")


def _devices(text: str) -> Any:
    return "auto" if text == "auto" else int_at_least(1)(text)


def add_scale_args(parser: argparse.ArgumentParser) -> None:
    """Lightning Fabric's flags (devices, precision, processes) and the metric logger."""
    g = parser.add_argument_group("devices and processes (Lightning Fabric; the defaults keep one plain process)")
    g.add_argument("--accelerator", default="auto", choices=("auto", "cpu", "cuda", "gpu", "mps"),
                   help="hardware to train on (default auto: --device's, cpu unless it says otherwise)")
    g.add_argument("--devices", type=_devices, default=1,
                   help="devices (GPUs, or CPU processes with --accelerator cpu) per node, or auto (default 1)")
    g.add_argument("--strategy", default="auto", choices=STRATEGIES,
                   help="ddp: one process per device, gradients all-reduced; --batch-size is the global batch")
    g.add_argument("--precision", default="32-true", choices=PRECISIONS, help="numeric precision (default 32-true)")
    g.add_argument("--num-nodes", type=int_at_least(1), default=1, help="machines taking part (default 1)")
    parser.add_argument("--logger", default=None, choices=LOGGERS,
                        help="also log per-step and per-epoch metrics to OUT/logs (csv, or tensorboard when installed)")


def scale_flags(args: argparse.Namespace) -> Dict[str, Any]:
    """``fit``'s keyword arguments for the flags of :func:`add_scale_args` (``device`` only
    without Fabric flags: then Fabric places the model)."""
    flags = {k: getattr(args, k) for k in ("accelerator", "devices", "strategy", "precision", "num_nodes")}
    plain = flags == {"accelerator": "auto", "devices": 1, "strategy": "auto", "precision": "32-true", "num_nodes": 1}
    return {"device": args.device} if plain else flags


def fill_model_defaults(args: argparse.Namespace, model: DensityModel) -> None:
    """Replace every setting left at :data:`MODEL_DEFAULT` by ``model``'s training default."""
    for key, value in model.training_defaults().items():
        if getattr(args, key, None) is MODEL_DEFAULT:
            setattr(args, key, value)
