"""Train -> evaluate -> write outputs: the path shared by the example scripts and the CLI.

An output folder receives ``metrics.json`` (flat: ``elbo``, ``mse``,
``log_likelihood`` with ``log_likelihood_method``, ...), ``model.pt`` (a safe
checkpoint, see :mod:`pyroml.checkpoint`) and the figures as PNG. Every file is
written atomically.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Dict, Optional

import pyro
import torch
from matplotlib.figure import Figure

from pyroml import plots
from pyroml.checkpoint import atomic_write, save, write_json
from pyroml.data import Dataset, load_mnist
from pyroml.evaluate import Report, evaluate
from pyroml.train import History, fit

class _ModelDefault:
    """Placeholder for a training setting taken from the model's ``fit_defaults``."""

    def __repr__(self) -> str:
        return "the model's default"

    __str__ = __repr__


MODEL_DEFAULT = _ModelDefault()

__all__ = ["add_data_args", "add_common_args", "training_defaults", "load_data", "train_and_report", "figures",
           "save_figures"]


def training_defaults(model) -> Dict[str, object]:
    """A model's (or model class's) default training settings: ``epochs``, ``batch_size``,
    ``lr`` and ``lr_schedule`` from its ``fit_defaults``, completed by the protocol's."""
    from pyroml.models.base import DensityModel
    return {**DensityModel.fit_defaults, **model.fit_defaults}


def add_data_args(parser: argparse.ArgumentParser) -> None:
    """``--data-dir`` and ``--no-download``: where MNIST is, and whether it may be downloaded."""
    parser.add_argument("--data-dir", default=None,
                        help="folder holding MNIST/raw/ (default: $PYROML_DATA_DIR, else ./data)")
    parser.add_argument("--no-download", action="store_true",
                        help="fail instead of downloading MNIST when the files are missing")


def add_common_args(parser: argparse.ArgumentParser, model_cls: Optional[type] = None) -> None:
    """The flags every density-model script shares; training defaults come from
    ``model_cls.fit_defaults`` (e.g. PPCA's learning-rate schedule)."""
    if model_cls is None:  # the model is chosen later: its fit_defaults fill what is not given
        from pyroml.models import MODELS
        per_model = {name: training_defaults(cls) for name, cls in MODELS.items() if cls.__name__.lower() == name}
        d = {k: MODEL_DEFAULT for k in ("epochs", "batch_size", "lr", "lr_schedule")}
        shown = {k: "per model: " + ", ".join(f"{name} {v[k]}" for name, v in per_model.items()) for k in d}
    else:
        d = shown = training_defaults(model_cls)
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


def load_data(args: argparse.Namespace):
    """MNIST as the flags ask (downloads unless ``--no-download``)."""
    return load_mnist(args.data_dir, download=not args.no_download, subset=args.subset, seed=args.seed)


def figures(model, test: Dataset, report: Report, history: Optional[History] = None,
            n: int = 10) -> Dict[str, Figure]:
    """The figures that make sense for ``model``: reconstructions (posterior mean and
    posterior sample), the decoded latent grid (2-d latents), the latent scatter and the
    training curve; models may add their own through ``model.figures(test)``."""
    name = type(model).__name__
    x = test.x[:n].to(model.device)
    torch.manual_seed(0)
    out = {"reconstructions": plots.reconstructions(
        x, {f"{name} mean": model.reconstruct(x), f"{name} sample": model.reconstruct(x, sample=True)},
        n=n, title=f"{name}: test images and reconstructions")}
    if getattr(model, "latent_dim", None) == 2:
        out["latent_grid"] = plots.latent_grid(model)
    if report.latents is not None and report.latents.shape[1] >= 2 and hasattr(model, "latent_dim"):
        out["latent_scatter"] = plots.latent_scatter(report.latents, report.labels, title=f"{name}: test-set latents")
    if history is not None and history.train_elbo:
        out["training_curve"] = plots.training_curve(history, title=f"{name}: ELBO per image")
    if hasattr(model, "figures"):
        out.update(model.figures(test))
    return out


def save_figures(figs: Dict[str, Figure], out: Path, dpi: int = 120) -> None:
    """Write each figure to ``out/<name>.png`` atomically."""
    for name, fig in figs.items():
        atomic_write(out / f"{name}.png", lambda tmp, fig=fig: fig.savefig(tmp, dpi=dpi, format="png",
                                                                            bbox_inches="tight"))


def train_and_report(model, args: argparse.Namespace, out: Optional[str] = None) -> Report:
    """Train ``model`` on MNIST as ``args`` say, evaluate it on the test set, print the
    metrics and write ``metrics.json``, ``model.pt`` and the figures to ``out``.

    :param model: a model, or a zero-argument callable building one; a callable is called
        after seeding with ``args.seed``, so the initial weights are reproducible too.
    """
    pyro.set_rng_seed(args.seed)
    if not isinstance(model, torch.nn.Module):
        model = model()
    for key, value in training_defaults(model).items():
        if getattr(args, key, None) is MODEL_DEFAULT:
            setattr(args, key, value)
    train, test = load_data(args)
    out_dir = Path(out or args.out or f"runs/{type(model).__name__.lower()}")
    t0 = time.perf_counter()
    history = fit(model, train, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                  device=args.device, progress=not args.no_progress, validation=test,
                  lr_schedule=args.lr_schedule, checkpoint=str(out_dir / "checkpoint.pt"),
                  resume=getattr(args, "resume", False))
    train_seconds = time.perf_counter() - t0
    report = evaluate(model, test, iwae_k=args.iwae_k, seed=args.seed)
    print(report)
    metrics = {**report.to_dict(), "epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
               "lr_schedule": args.lr_schedule,
               "seed": args.seed, "train_seconds": train_seconds,
               "seconds_per_epoch": train_seconds / max(args.epochs, 1), "n_train": len(train),
               "config": model.get_config()}
    save(model, out_dir / "model.pt", history)
    save_figures(figures(model, test, report, history), out_dir)
    write_json(out_dir / "metrics.json", metrics)
    print(f"wrote {out_dir}/metrics.json, model.pt and figures")
    return report
