"""Train -> evaluate -> write outputs: the path shared by ``pyroml train`` and the example scripts.

An output folder receives ``metrics.json`` (flat: ``elbo``, ``mse``, ``log_likelihood`` with
``log_likelihood_method``, ...), ``model.pt`` (a safe checkpoint, see :mod:`pyroml.io`) and the
figures as PNG. Every file is written atomically.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path
from typing import Callable, Optional, Union

import pyro

from pyroml import plots
from pyroml.cli.common import MODEL_DEFAULT, fill_model_defaults, load_data, output_folder, run_data_record, scale_flags
from pyroml.evaluation import Report, evaluate
from pyroml.infer import fit
from pyroml.infer.distributed import process_group
from pyroml.io import save, write_json
from pyroml.models import DensityModel

__all__ = ["train_and_report", "MIN_STEPS"]

#: optimiser steps a run with the model's default epochs takes at least (on small data sets the
#: defaults, sized for MNIST's 60,000 images, would take only tens of steps)
MIN_STEPS = 500


def train_and_report(model: Union[DensityModel, Callable[[], DensityModel]], args: argparse.Namespace,
                     out: Optional[str] = None) -> Report:
    """Train ``model`` on the data ``args`` name (MNIST by default), evaluate it on the test set,
    print the metrics and write ``metrics.json`` (with the data's record: source, split sizes,
    fingerprint), ``model.pt`` and the figures to ``out``.

    :param model: a model, or a zero-argument callable building one; a callable is called
        after seeding with ``args.seed``, so the initial weights are reproducible too.
    """
    pyro.set_rng_seed(args.seed)
    if not isinstance(model, DensityModel):
        model = model()
    epochs_defaulted = args.epochs is MODEL_DEFAULT
    fill_model_defaults(args, model)
    out_dir = output_folder(Path(out or args.out or f"runs/{type(model).__name__.lower()}"),
                            resume=getattr(args, "resume", False), overwrite=getattr(args, "overwrite", False))
    if getattr(args, "overwrite", False):
        (out_dir / "checkpoint.pt").unlink(missing_ok=True)  # a fresh run, not a resume of the old one
    train, test = load_data(args)
    if epochs_defaulted:  # the model's default epochs are sized for MNIST: small data get enough steps
        args.epochs = max(args.epochs, math.ceil(MIN_STEPS / math.ceil(len(train) / args.batch_size)))
    t0 = time.perf_counter()
    history = fit(model, train, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                  progress=not args.no_progress, validation=test, lr_schedule=args.lr_schedule,
                  checkpoint=str(out_dir / "checkpoint.pt"), resume=getattr(args, "resume", False),
                  logger=args.logger, log_dir=str(out_dir / "logs"), **scale_flags(args))
    train_seconds = time.perf_counter() - t0
    report = evaluate(model, test, iwae_k=args.iwae_k, seed=args.seed)  # under DDP: every rank its share
    if process_group()[0] != 0:
        return report  # rank 0 alone prints and writes
    print(report)
    metrics = {**report.to_dict(), "epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
               "lr_schedule": args.lr_schedule, "seed": args.seed, "train_seconds": train_seconds,
               **{k: v for k, v in scale_flags(args).items() if k != "device"},
               "seconds_per_epoch": train_seconds / max(args.epochs, 1), "n_train": len(train),
               "config": model.get_config(), "data": run_data_record(args, train, test)}
    save(model, out_dir / "model.pt", history)
    plots.save_figures(plots.model_figures(model, test, report, history), out_dir)
    write_json(out_dir / "metrics.json", metrics)
    print(f"wrote {out_dir}/metrics.json, model.pt and figures")
    return report
