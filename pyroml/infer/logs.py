"""Metric logging for :func:`pyroml.fit`: per-step and per-epoch metrics through Lightning Fabric's loggers.

``fit(..., logger="csv")`` writes ``metrics.csv`` (Fabric's :class:`~lightning_fabric.loggers.CSVLogger`),
``logger="tensorboard"`` TensorBoard event files (Fabric's
:class:`~lightning_fabric.loggers.TensorBoardLogger`; needs ``pip install tensorboard``, the
``tensorboard`` extra), into ``log_dir`` (default ``pyroml_logs``; ``pyroml train`` uses
``OUT/logs``), each run in a new ``version_<k>`` folder. Any Fabric ``Logger`` instance, or a
list of them, is taken as it is. Logged, with the global step (``epoch * steps_per_epoch + step``):

* every step: ``train/loss`` — the mini-batch loss divided by N, the negative ELBO per example
  estimated from the batch (under DDP, rank 0's share of the global batch) — and ``train/lr``;
* every epoch: ``epoch``, ``epoch/train_elbo`` (the epoch's mean, averaged over the ranks),
  ``epoch/val_elbo`` (with validation data) and ``epoch/seconds``.

Only rank 0 writes. Without a logger nothing here is imported or called.
"""

from __future__ import annotations

import contextlib
from typing import Any, Dict, List, Optional, Sequence

__all__ = ["MetricLog", "make_loggers", "LOGGER_NAMES"]

LOGGER_NAMES = ("csv", "tensorboard")


def make_loggers(logger: Any, log_dir: Optional[str]) -> List[Any]:
    """Fabric loggers for ``logger``: ``None`` (none), ``"csv"``, ``"tensorboard"``, a Fabric
    ``Logger`` or a list of these.

    :raises ValueError: for another name; :raises ImportError: for TensorBoard when neither
        ``tensorboard`` nor ``tensorboardX`` is installed (with the install command).
    """
    if logger is None:
        return []
    items: Sequence[Any] = logger if isinstance(logger, (list, tuple)) else [logger]
    from lightning_fabric.loggers import CSVLogger, Logger, TensorBoardLogger

    root = log_dir or "pyroml_logs"
    out: List[Any] = []
    for item in items:
        if isinstance(item, Logger):
            out.append(item)
        elif item == "csv":
            out.append(CSVLogger(root, name="csv", flush_logs_every_n_steps=100))
        elif item == "tensorboard":
            _check_tensorboard()
            out.append(TensorBoardLogger(root, name="tensorboard", default_hp_metric=False))
        else:
            raise ValueError(f"logger={item!r}: expected one of {LOGGER_NAMES}, a lightning_fabric.loggers.Logger "
                             f"or a list of them")
    return out


def _check_tensorboard() -> None:
    import importlib.util

    if importlib.util.find_spec("tensorboard") is None and importlib.util.find_spec("tensorboardX") is None:
        raise ImportError("logger='tensorboard' needs TensorBoard: pip install tensorboard "
                          "(or pyroml[tensorboard]); logger='csv' needs nothing more")


class MetricLog:
    """The run's loggers with the engine's vocabulary (a no-op without loggers or off rank 0)."""

    def __init__(self, loggers: List[Any], steps_per_epoch: int, rank: int = 0):
        self.loggers = loggers if rank == 0 else []
        self.steps_per_epoch = steps_per_epoch

    def __bool__(self) -> bool:
        return bool(self.loggers)

    def _log(self, metrics: Dict[str, float], step: int) -> None:
        for logger in self.loggers:
            logger.log_metrics(metrics, step=step)

    def step(self, epoch: int, step: int, loss_per_example: float, lr: float) -> None:
        """One optimiser step's loss (negative ELBO per example) and learning rate."""
        self._log({"train/loss": loss_per_example, "train/lr": lr}, epoch * self.steps_per_epoch + step)

    def epoch(self, epoch: int, train_elbo: float, val_elbo: Optional[float], seconds: float) -> None:
        """An epoch's mean training ELBO, its validation ELBO (or ``None``) and its seconds."""
        metrics: Dict[str, float] = {"epoch": float(epoch + 1), "epoch/train_elbo": train_elbo,
                                     "epoch/seconds": seconds}
        if val_elbo is not None:
            metrics["epoch/val_elbo"] = val_elbo
        self._log(metrics, (epoch + 1) * self.steps_per_epoch - 1)

    def hyperparams(self, settings: Dict[str, Any]) -> None:
        """The run's settings (learning rate, batch size...), to the loggers that keep them (Fabric's
        CSV logger does not)."""
        for logger in self.loggers:
            with contextlib.suppress(NotImplementedError):
                logger.log_hyperparams(settings)

    def close(self, status: str) -> None:
        """Flush and close every logger (``status``: ``"success"`` or ``"failed"``)."""
        for logger in self.loggers:
            logger.finalize(status)

