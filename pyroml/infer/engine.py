"""The training engine: one SVI loop for every pyroml model.

Each step draws a mini-batch of ``B`` of the ``N`` training examples and takes an Adam step on

.. math::

    \\hat L(\\theta, \\phi) = -\\Big[\\tfrac{N}{B} \\sum_{n \\in \\text{batch}}
        \\mathbb{E}_{q_\\phi(z_n \\mid x_n)} \\log \\frac{p_\\theta(x_n, z_n)}{q_\\phi(z_n \\mid x_n)}
        + (\\text{global terms})\\Big],

an unbiased estimate of the full-data negative ELBO (:class:`~pyroml.infer.DataScale`). The ELBO
object is the model's own (``model.elbo()``: ``Trace_ELBO``, a mean-field or an enumerating
ELBO); gradients come from its ``differentiable_loss`` and a ``torch.optim.Adam`` over the
model's parameter groups, so parameters never touch Pyro's global parameter store.

:func:`fit` is a short loop over named pieces: the batches (:mod:`pyroml.infer.sources`: which
examples each step sees, in memory or streamed), :class:`_Step` (loss, gradient, divergence
guard, optimiser step, projection, schedule), :class:`Checkpoints` (atomic saves and the resume)
and the progress bar.
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import pyro
import pyro.infer.util
import torch
from tqdm.auto import tqdm

from pyroml._validation import check_choice, check_device, check_fraction, check_int, check_output_file, check_positive
from pyroml.data.datasets import Data
from pyroml.infer.checkpoints import Checkpoints, History
from pyroml.infer.distributed import Distributed, fabric_flags
from pyroml.infer.guard import EXPLOSION, ExplosionGuard, diverged, grad_norm
from pyroml.infer.logs import MetricLog, make_loggers
from pyroml.infer.module import SVIModule
from pyroml.infer.scaling import DataScale
from pyroml.infer.sources import _Batches, _StreamBatches, check_shares_before_launch, data_elbo, training_batches

__all__ = ["fit", "History"]

SCHEDULES = (None, "cosine", "exponential")


def _lr_lambda(schedule: Optional[str], total_steps: int, final: float) -> Callable[[int], float]:
    """The learning-rate factor at a step: constant, cosine or exponential decay to ``final``."""
    if schedule == "cosine":
        return lambda step: final + (1 - final) * 0.5 * (1 + math.cos(math.pi * min(step, total_steps) / total_steps))
    if schedule == "exponential":
        return lambda step: final ** (min(step, total_steps) / total_steps)
    return lambda step: 1.0


def _adam(groups: List[Dict[str, Any]], lr: float) -> torch.optim.Optimizer:
    """Adam, fused where this torch supports it (one kernel for all parameters: ~15% faster
    per step than the default for-loop implementation on a 2-core CPU)."""
    try:
        return torch.optim.Adam(groups, lr=lr, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(groups, lr=lr)


class _Step:
    """One optimiser step on a mini-batch: the scaled loss, its gradient, the divergence guard,
    Adam, the model's projection and the learning-rate schedule."""

    def __init__(self, module: SVIModule, optimizer: torch.optim.Optimizer,
                 scheduler: torch.optim.lr_scheduler.LambdaLR, num_particles: int,
                 clip_norm: Optional[float], schedule: Optional[str], n: int, explosion: Optional[float] = None):
        self.module, self.optimizer, self.scheduler, self.n = module, optimizer, scheduler, n
        self.explosion = ExplosionGuard(explosion)
        self.loss_fn: Any = module.elbo(num_particles)
        self.scaler = DataScale()
        self.model_fn, self.guide_fn = self.scaler(module.model), self.scaler(module.guide)
        self.params = [p for g in optimizer.param_groups for p in g["params"]]
        self.clip_norm, self.schedule = clip_norm, schedule
        self.validate = pyro.infer.util.is_validation_enabled()
        #: the scaled loss of a batch, and its backward pass (both replaced under Fabric)
        self.forward: Callable[..., torch.Tensor] = \
            lambda *batch: self.loss_fn.differentiable_loss(self.model_fn, self.guide_fn, *batch)
        self.backward: Optional[Callable[[torch.Tensor], None]] = None
        #: check the loss before the backward pass (not under DDP: one rank stopping alone would hang the others)
        self.loss_checked_first = True

    def __call__(self, batch: Sequence[torch.Tensor], scale: float, epoch: int, step: int, first: bool) -> float:
        """Take the step; :returns: the mini-batch loss (a float)."""
        self.scaler.scale = scale
        try:
            # Pyro's argument/support checks run on the first step only: they cost a tensor
            # reduction per site per step, and the loss check below catches NaNs.
            with pyro.validation_enabled(self.validate and first):
                loss = self.forward(*batch)
        except ValueError as e:  # distribution validation caught NaN/inf parameters
            if "invalid values" not in str(e):
                raise
            diverged("a distribution parameter", "NaN/inf", epoch, step, e)
        value = float(loss.detach())
        if self.loss_checked_first:
            if not math.isfinite(value):
                diverged("the loss", value, epoch, step)
            self.explosion.check(value / self.n, epoch, step)
        self.optimizer.zero_grad(set_to_none=True)
        if self.backward is None:
            loss.backward()
        else:
            self.backward(loss)
        gnorm = grad_norm(self.params, self.clip_norm)
        if not math.isfinite(value):
            diverged("the loss", value, epoch, step)
        if not math.isfinite(gnorm):  # the step is not taken: the parameters stay the last finite ones
            diverged("the gradient norm", gnorm, epoch, step)
        self.optimizer.step()
        self.module.project_parameters()
        if self.schedule is not None:
            self.scheduler.step()
        return value


def _epoch(step_fn: _Step, batches: Union[_Batches, _StreamBatches], epoch: int, first: bool, history: History,
           bar: Any, dist: Optional[Distributed] = None, log: Optional[MetricLog] = None) -> float:
    """One pass over the data; records each step's loss and :returns: the epoch's mean ELBO per example.

    Each of the ``W`` processes scales its share of a global batch of ``B`` by ``N W / B``
    (``N / B`` in one process); their losses are averaged once per epoch."""
    n, world, epoch_sum, seen = batches.n, batches.world, 0.0, 0
    values: List[Tuple[float, int]] = []
    for step, batch, b in batches.epoch(epoch):
        lr = step_fn.optimizer.param_groups[0]["lr"] if log else 0.0  # the step's own (the schedule moves it after)
        value = step_fn(batch, n * world / b, epoch, step, first=first and step == 0)
        values.append((value, b))
        epoch_sum, seen = epoch_sum + value * b / n, seen + b
        if log:
            log.step(epoch, step, value / n, lr)
        if step % 20 == 0 or step == batches.steps_per_epoch - 1:
            bar.set_postfix(epoch=epoch + 1, elbo=f"{-epoch_sum / seen:.2f}", refresh=False)
        bar.update(1)
    if dist is not None and dist.world > 1:  # the loss checks on the mean over the ranks: all stop together
        means = dist.mean([v for v, _ in values])
        values = [(v, b) for v, (_, b) in zip(means, values)]
        epoch_sum = sum(v * b / n for v, b in values)
        if not math.isfinite(epoch_sum):
            diverged("the epoch's mean loss", epoch_sum, epoch, batches.steps_per_epoch - 1)
        step_fn.explosion.check(epoch_sum / max(seen, 1), epoch, batches.steps_per_epoch - 1)
    history.step_loss.extend(v / n for v, _ in values)
    return -epoch_sum / max(seen, 1)  # seen == N but for an iterable source that yields another count


def _check_settings(model: Any, epochs: Any, batch_size: Any, lr: Any, num_particles: Any, lr_schedule: Any,
                    final_lr_fraction: Any, clip_norm: Any, seed: Any, device: Any, checkpoint: Optional[str],
                    resume: bool, num_workers: Any, explosion: Any) -> Dict[str, Any]:
    """Every argument's range, before any work; :returns: the settings a resume must share."""
    if not isinstance(model, SVIModule):
        raise TypeError(f"fit trains a pyroml model (a pyroml.infer.SVIModule: VAE, ConvVAE, PPCA, GMM or your "
                        f"own subclass), got {type(model).__name__}")
    check_int("epochs", epochs, 0)
    check_int("batch_size", batch_size, 1)
    check_int("num_particles", num_particles, 1)
    check_int("num_workers", num_workers, 0)
    check_positive("lr", lr)
    check_choice("lr_schedule", lr_schedule, SCHEDULES)
    check_fraction("final_lr_fraction", final_lr_fraction)
    if clip_norm is not None:
        check_positive("clip_norm", clip_norm)
    if explosion is not None and check_positive("explosion", explosion) <= 1:
        raise ValueError(f"explosion must be > 1 (how far the loss may rise, in units of the first loss), "
                         f"got {explosion!r}; None switches the check off")
    if seed is not None:
        check_int("seed", seed, 0)
    if device is not None:
        check_device(device)
    if checkpoint is not None:
        check_output_file("checkpoint", checkpoint)
    if resume and checkpoint is None:
        raise ValueError("resume=True needs checkpoint=<path> to resume from")
    return {"batch_size": batch_size, "lr": float(lr), "lr_schedule": lr_schedule,
            "final_lr_fraction": float(final_lr_fraction), "clip_norm": clip_norm, "num_particles": num_particles,
            "seed": seed}


def _distributed(flags: Optional[Dict[str, Any]]) -> Tuple[Optional[Distributed], int, int]:
    """``(Fabric's runner or None for the plain engine, this process's rank, the world size)``
    for :func:`~pyroml.infer.distributed.fabric_flags`' answer ``flags`` (Fabric launches here)."""
    dist = None if flags is None else Distributed(flags)
    return (dist, 0, 1) if dist is None else (dist, dist.rank, dist.world)


def _progress_bar(model: SVIModule, epochs: int, start: int, steps_per_epoch: int, show: bool) -> Any:
    """The progress bar over all steps, named by the model (its likelihood too, where it has one)."""
    name = type(model).__name__
    likelihood = getattr(model, "likelihood", None)
    if isinstance(likelihood, str) and likelihood != "bernoulli":
        name = f"{name} ({likelihood})"
    return tqdm(total=epochs * steps_per_epoch, initial=start * steps_per_epoch, disable=not show, desc=name,
                unit="step", mininterval=0.5, dynamic_ncols=True)


def fit(
    model: SVIModule, data: Data, *, epochs: int = 25, batch_size: int = 128, lr: float = 1e-3,
    seed: Optional[int] = 0, device: Optional[Union[str, torch.device]] = None, progress: bool = True,
    validation: Optional[Data] = None, num_particles: int = 1, lr_schedule: Optional[str] = None,
    final_lr_fraction: float = 0.01, clip_norm: Optional[float] = None, checkpoint: Optional[str] = None,
    resume: bool = False, num_examples: Optional[int] = None, num_workers: int = 0,
    accelerator: str = "auto", devices: Union[int, str] = 1, strategy: Any = "auto", precision: Any = "32-true",
    num_nodes: int = 1, explosion: Optional[float] = EXPLOSION, logger: Any = None, log_dir: Optional[str] = None,
) -> History:
    """Train ``model`` by stochastic variational inference.

    :param model: an :class:`~pyroml.infer.SVIModule` (every pyroml model; the engine calls its
        hooks, see :mod:`pyroml.infer.module`).
    :param data: in memory, a :class:`~pyroml.data.Dataset`, a tensor ``(N, ...)`` or a tuple of
        tensors sharing N; streamed (:mod:`pyroml.data.streaming`), any map-style torch
        ``Dataset`` (items a tensor or ``(x, y)``), an ``IterableDataset`` (with ``num_examples``)
        or a ``DataLoader``.
    :param int epochs: passes over the data (the total, counting epochs done before a resume).
    :param int batch_size: B; ``batch_size >= N`` gives full-batch steps.
    :param float lr: Adam's base learning rate (scaled per parameter group by ``model.optim_groups``).
    :param int seed: seeds Pyro/torch and the shuffling; the same seed gives the same losses on CPU.
    :param device: ``"cpu"``, ``"cuda"``...; default: where the model is.
    :param bool progress: show a progress bar with the running ELBO per example.
    :param validation: data whose ELBO per example is recorded after each epoch.
    :param int num_particles: particles of the ELBO estimate (vectorised).
    :param str lr_schedule: ``None``, ``"cosine"`` or ``"exponential"`` decay to ``final_lr_fraction * lr``.
    :param float clip_norm: clip the gradient norm to this value.
    :param str checkpoint: file for model, optimiser, RNG state and history, after every epoch (atomic).
    :param bool resume: continue from ``checkpoint`` when it exists (the uninterrupted trajectory).
    :param int num_examples: N of an ``IterableDataset`` without a length (the :math:`N/B` scaling's N).
    :param int num_workers: worker processes of the ``DataLoader`` of a streamed source.
    :param accelerator, devices, strategy, precision, num_nodes: Lightning Fabric's flags (see
        :mod:`pyroml.infer.distributed`): e.g. ``devices=2, strategy="ddp"`` trains in two processes
        with ``batch_size`` the global batch (the same N/B scaling and results as one process);
        the defaults keep the plain single-process engine, without Fabric.
    :param float explosion: stop when the loss per example rises above its best level by more than
        ``explosion`` times the first step's loss (see :mod:`pyroml.infer.guard`); ``None``: no such check.
    :param logger: ``"csv"``, ``"tensorboard"``, a Lightning Fabric ``Logger`` or a list of them:
        per-step and per-epoch metrics (:mod:`pyroml.infer.logs`), written by rank 0 into ``log_dir``
        (default ``pyroml_logs``).
    :returns: the :class:`History` (the same on every process).
    :raises FloatingPointError: when a loss or gradient turns NaN/infinite, or the loss explodes
        (with ``explosion``): the step is not taken, the model keeps its last finite parameters,
        and no checkpoint is written over.
    :raises ValueError: for an argument out of range (before any work), or a resume whose
        checkpoint was trained with other settings.
    """
    settings = _check_settings(model, epochs, batch_size, lr, num_particles, lr_schedule, final_lr_fraction,
                               clip_norm, seed, device, checkpoint, resume, num_workers, explosion)
    loggers = make_loggers(logger, log_dir)
    flags = fabric_flags(accelerator, devices, strategy, precision, num_nodes)
    if flags is not None:
        check_shares_before_launch(data, batch_size, flags)
    dist, rank, world = _distributed(flags)
    batches = training_batches(model, data, validation, device if dist is None else dist.device, seed, batch_size,
                               num_examples, num_workers, rank, world)
    optimizer = _adam(model.optim_groups(lr), lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, _lr_lambda(lr_schedule, epochs * batches.steps_per_epoch, final_lr_fraction))
    checkpoints = Checkpoints(checkpoint, model, optimizer, scheduler, rank, world)
    start, history = _start(model, batches, checkpoints, settings, resume, seed, rank, world)
    step_fn = _Step(model, optimizer, scheduler, num_particles, clip_norm, lr_schedule, batches.n, explosion)
    if dist is not None:
        dist.setup(model, step_fn)
    bar = _progress_bar(model, epochs, start, batches.steps_per_epoch, progress and rank == 0)
    log = MetricLog(loggers, batches.steps_per_epoch, rank)
    log.hyperparams({**settings, "epochs": epochs, "world_size": world,
                     **({"communication": dist.communication} if dist is not None else {})})
    status = "failed"
    try:
        _train(model, step_fn, batches, checkpoints, history, range(start, epochs), bar, validation, num_particles,
               settings, dist, log)
        status = "success"
    finally:
        bar.close()
        log.close(status)
        model.eval()
    return history


def _start(model: SVIModule, batches: Union[_Batches, _StreamBatches], checkpoints: Checkpoints,
           settings: Dict[str, Any], resume: bool, seed: Optional[int], rank: int, world: int) -> Tuple[int, History]:
    """``(epochs done, history)``: restored from the checkpoint of a resume (refused before the
    model is touched when it holds another model or settings), else ``(0, History())`` after the
    model's data-dependent initialisation; then each of several ranks draws its own Monte Carlo
    samples (seed + rank; the parameters stay synchronised by DDP)."""
    restored = checkpoints.restore(settings) if resume else None
    if restored is not None:
        return restored
    model.init_from_data(batches.init_x)
    if world > 1 and seed is not None:
        pyro.set_rng_seed(seed + rank)
    return 0, History()


def _train(model: SVIModule, step_fn: _Step, batches: Union[_Batches, _StreamBatches], checkpoints: Checkpoints,
           history: History, epochs: range, bar: Any, validation: Any, num_particles: int, settings: Dict[str, Any],
           dist: Optional[Distributed], log: MetricLog) -> None:
    """The epochs: train, validate, checkpoint, log."""
    model.train()
    with pyro.settings.context(module_local_params=True):
        for epoch in epochs:
            t0 = time.perf_counter()
            history.train_elbo.append(_epoch(step_fn, batches, epoch, epoch == epochs.start, history, bar, dist, log))
            history.epoch_seconds.append(time.perf_counter() - t0)
            if validation is not None:
                model.eval()
                history.val_elbo.append(data_elbo(model, validation, num_particles))
                model.train()
            checkpoints.save(history, epoch + 1, settings)
            log.epoch(epoch, history.train_elbo[-1], history.val_elbo[-1] if validation is not None else None,
                      history.epoch_seconds[-1])
