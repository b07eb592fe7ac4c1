"""The training engine: one SVI loop for every pyroml model.

Each step draws a mini-batch of ``B`` of the ``N`` training examples and
takes an Adam step on

.. math::

    \\hat L(\\theta, \\phi) = -\\Big[\\tfrac{N}{B} \\sum_{n \\in \\text{batch}}
        \\mathbb{E}_{q_\\phi(z_n \\mid x_n)} \\log \\frac{p_\\theta(x_n, z_n)}{q_\\phi(z_n \\mid x_n)}
        + (\\text{global terms})\\Big],

an unbiased estimate of the full-data negative ELBO: every sample site inside
``pyro.plate("data")`` is scaled by ``N / B``, global sites are not. The ELBO
object is the model's own (``model.elbo()``: ``Trace_ELBO``,
``TraceMeanField_ELBO`` or ``TraceEnum_ELBO``); gradients come from its
``differentiable_loss`` and a ``torch.optim.Adam`` over ``model.parameters()``,
so parameters never touch Pyro's global parameter store.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import pyro
import pyro.infer.util
import torch
from pyro.poutine.messenger import Messenger

from pyroml.checkpoint import read_checkpoint, save
from pyroml.data import Dataset

__all__ = ["fit", "History", "as_tensors", "DataScale", "elbo_per_example"]

Data = Union[Dataset, torch.Tensor, Sequence[torch.Tensor]]


@dataclass
class History:
    """What :func:`fit` measured.

    :ivar train_elbo: per epoch, the mean training ELBO per example (nats), averaged over the epoch's steps.
    :ivar val_elbo: per epoch, the ELBO per example on the validation data (empty without it).
    :ivar step_loss: per step, the mini-batch loss divided by N (negative ELBO per example).
    :ivar epoch_seconds: wall-clock seconds of each epoch's training steps.
    """

    train_elbo: List[float] = field(default_factory=list)
    val_elbo: List[float] = field(default_factory=list)
    step_loss: List[float] = field(default_factory=list)
    epoch_seconds: List[float] = field(default_factory=list)

    def to_dict(self) -> Dict[str, List[float]]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Optional[Dict[str, Any]]) -> "History":
        return cls(**{k: list(v) for k, v in (d or {}).items() if k in cls.__dataclass_fields__})


class DataScale(Messenger):
    """Scale the log-density of every sample site inside ``pyro.plate("data")`` by ``scale``.

    Set ``scale = N / B`` for a mini-batch of ``B`` of ``N`` examples; global sites keep scale 1.
    """

    def __init__(self, scale: float = 1.0, plate: str = "data"):
        super().__init__()
        self.scale = scale
        self.plate = plate

    def _process_message(self, msg) -> None:
        if self.scale != 1.0 and any(f.name == self.plate for f in msg["cond_indep_stack"]):
            msg["scale"] = self.scale * msg["scale"]


def as_tensors(data: Data) -> Tuple[torch.Tensor, ...]:
    """The tensors a model's ``model(*batch)`` takes: ``(x,)`` for a :class:`Dataset` or a
    tensor, the tuple itself for a tuple of tensors (e.g. a GP's ``(X, y)``)."""
    if isinstance(data, Dataset):
        return (data.x,)
    if isinstance(data, torch.Tensor):
        return (data,)
    if isinstance(data, (tuple, list)) and data and all(isinstance(t, torch.Tensor) for t in data):
        n = {t.shape[0] if t.dim() else None for t in data}
        if len(n) != 1 or None in n:
            raise ValueError(f"data tensors must share their first dimension, got shapes "
                             f"{[tuple(t.shape) for t in data]}")
        return tuple(data)
    raise TypeError(f"data must be a pyroml.data.Dataset, a Tensor or a tuple of Tensors, "
                    f"got {type(data).__name__}")


def _check(model: torch.nn.Module, tensors: Tuple[torch.Tensor, ...], what: str) -> None:
    if hasattr(model, "check_input"):
        model.check_input(*tensors, what=what)
    elif tensors[0].shape[0] == 0:
        raise ValueError(f"{what} is empty (0 examples)")


@torch.no_grad()
def elbo_per_example(model: torch.nn.Module, data: Data, num_particles: int = 1,
                     batch_size: int = 2000) -> float:
    """Mean ELBO per example (nats) of ``data`` under ``model.elbo(num_particles)``."""
    tensors = as_tensors(data)
    n = tensors[0].shape[0]
    loss_fn = model.elbo(num_particles)
    total = 0.0
    with pyro.settings.context(module_local_params=True), pyro.validation_enabled(False):
        for i in range(0, n, batch_size):
            batch = [t[i: i + batch_size] for t in tensors]
            total += float(loss_fn.loss(model.model, model.guide, *batch))
    return -total / n


def _lr_lambda(schedule: Optional[str], total_steps: int, final: float):
    if schedule is None:
        return lambda step: 1.0
    if schedule == "cosine":
        return lambda step: final + (1 - final) * 0.5 * (1 + math.cos(math.pi * min(step, total_steps) / total_steps))
    if schedule == "exponential":
        return lambda step: final ** (min(step, total_steps) / total_steps)
    raise ValueError(f"lr_schedule must be None, 'cosine' or 'exponential', got {schedule!r}")


def fit(
    model: torch.nn.Module,
    data: Data,
    *,
    epochs: int = 25,
    batch_size: int = 128,
    lr: float = 1e-3,
    seed: Optional[int] = 0,
    device: Optional[Union[str, torch.device]] = None,
    progress: bool = True,
    validation: Optional[Data] = None,
    num_particles: int = 1,
    lr_schedule: Optional[str] = None,
    final_lr_fraction: float = 0.01,
    clip_norm: Optional[float] = None,
    checkpoint: Optional[str] = None,
    resume: bool = False,
) -> History:
    """Train ``model`` by stochastic variational inference.

    :param model: a module with ``model(*batch)``, ``guide(*batch)`` and ``elbo(num_particles)``.
    :param data: a :class:`~pyroml.data.Dataset` (its ``x`` of shape ``(N, ...)``), a tensor,
        or a tuple of tensors sharing their first dimension N.
    :param int epochs: passes over the data (the total, counting epochs done before a resume).
    :param int batch_size: B; ``batch_size >= N`` gives full-batch steps.
    :param float lr: Adam's learning rate (scaled per parameter group by ``model.optim_groups``
        when the model defines it). A model's ``project_parameters()``, when it defines one, runs
        after every optimiser step (constraints kept by projection, e.g. the GMM's variance floor).
    :param int seed: seeds Pyro/torch and the shuffling; the same seed gives the same losses on CPU.
    :param device: ``"cpu"``, ``"cuda"``...; default: where the model is.
    :param bool progress: show a progress bar with the running ELBO per example.
    :param validation: data whose ELBO per example is recorded after each epoch.
    :param int num_particles: particles of the ELBO estimate (vectorised).
    :param str lr_schedule: ``None``, ``"cosine"`` or ``"exponential"`` decay to
        ``final_lr_fraction * lr`` over all steps.
    :param float clip_norm: clip the gradient norm to this value.
    :param str checkpoint: file to save model, optimiser, RNG state and history to after
        every epoch (atomically).
    :param bool resume: continue from ``checkpoint`` when it exists (same trajectory as an
        uninterrupted run).
    :returns: the :class:`History`.
    :raises FloatingPointError: when a loss or gradient turns NaN/infinite; the model keeps
        its last finite parameters.
    """
    for name, value, low in (("epochs", epochs, 0), ("batch_size", batch_size, 1),
                             ("num_particles", num_particles, 1)):
        if not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    if not (isinstance(lr, (int, float)) and lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    if resume and checkpoint is None:
        raise ValueError("resume=True needs checkpoint=<path> to resume from")
    tensors = as_tensors(data)
    _check(model, tensors, "training data")
    if validation is not None:
        _check(model, as_tensors(validation), "validation data")

    if device is not None:
        model.to(device)
    dev = next(model.parameters()).device if any(True for _ in model.parameters()) else torch.device("cpu")
    tensors = tuple(t.to(dev) for t in tensors)
    n = tensors[0].shape[0]
    steps_per_epoch = math.ceil(n / batch_size)

    groups = model.optim_groups(lr) if hasattr(model, "optim_groups") else [{"params": list(model.parameters())}]
    optimizer = _adam(groups, lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, _lr_lambda(lr_schedule, epochs * steps_per_epoch, final_lr_fraction))
    params = [p for g in optimizer.param_groups for p in g["params"]]
    project = getattr(model, "project_parameters", None)  # constraints kept by projection (GMM's floor)

    history, start = History(), 0
    if seed is not None:
        pyro.set_rng_seed(seed)
    if hasattr(model, "init_from_data") and not bool(getattr(model, "initialized", True)):
        model.init_from_data(tensors[0])  # data-dependent initialisation, once (e.g. GMM's k-means++)
    if resume and checkpoint is not None and _exists(checkpoint):
        start, history = _restore(checkpoint, model, optimizer, scheduler)

    loss_fn = model.elbo(num_particles)
    validate = pyro.infer.util.is_validation_enabled()
    scaler = DataScale()
    model_fn, guide_fn = scaler(model.model), scaler(model.guide)
    base_seed = 0 if seed is None else seed

    from tqdm.auto import tqdm
    bar = tqdm(total=epochs * steps_per_epoch, initial=start * steps_per_epoch, disable=not progress,
               desc=type(model).__name__, unit="step", mininterval=0.5, dynamic_ncols=True)
    model.train()
    try:
        with pyro.settings.context(module_local_params=True):
            for epoch in range(start, epochs):
                gen = torch.Generator().manual_seed(base_seed * 1_000_003 + epoch)
                perm = torch.randperm(n, generator=gen).to(dev)
                t0, epoch_sum = time.perf_counter(), 0.0
                for step in range(steps_per_epoch):
                    idx = perm[step * batch_size: (step + 1) * batch_size]
                    batch = [t[idx] for t in tensors]
                    scaler.scale = n / idx.shape[0]
                    try:
                        # Pyro's argument/support checks run on the first step only: they cost a
                        # tensor reduction per site per step, and the loss check below catches NaNs.
                        with pyro.validation_enabled(validate and step == 0 and epoch == start):
                            loss = loss_fn.differentiable_loss(model_fn, guide_fn, *batch)
                    except ValueError as e:  # distribution validation caught NaN/inf parameters
                        if "invalid values" not in str(e):
                            raise
                        _diverged("a distribution parameter", "NaN/inf", epoch, step, e)
                    value = float(loss.detach())
                    if not math.isfinite(value):
                        _diverged("the loss", value, epoch, step)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    if clip_norm is not None:  # the norm is computed anyway: check it too
                        gnorm = float(torch.nn.utils.clip_grad_norm_(params, clip_norm))
                        if not math.isfinite(gnorm):
                            _diverged("the gradient norm", gnorm, epoch, step)
                    optimizer.step()
                    if project is not None:
                        project()
                    if lr_schedule is not None:
                        scheduler.step()
                    history.step_loss.append(value / n)
                    epoch_sum += value * idx.shape[0] / n
                    if step % 20 == 0 or step == steps_per_epoch - 1:
                        bar.set_postfix(epoch=epoch + 1, elbo=f"{-epoch_sum / ((step * batch_size) + idx.shape[0]):.2f}",
                                        refresh=False)
                    bar.update(1)
                history.epoch_seconds.append(time.perf_counter() - t0)
                history.train_elbo.append(-epoch_sum / n)
                if validation is not None:
                    model.eval()
                    history.val_elbo.append(elbo_per_example(model, validation, num_particles))
                    model.train()
                if checkpoint is not None:
                    save(model, checkpoint, history, epoch=epoch + 1, optimizer=optimizer.state_dict(),
                         scheduler=scheduler.state_dict(), rng=torch.get_rng_state(),
                         fit_args={"epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": base_seed})
    finally:
        bar.close()
        model.eval()
    return history


def _adam(groups, lr: float) -> torch.optim.Optimizer:
    """Adam, fused where this torch supports it (one kernel for all parameters: ~15% faster
    per step than the default for-loop implementation on a 2-core CPU)."""
    try:
        return torch.optim.Adam(groups, lr=lr, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(groups, lr=lr)


def _diverged(what: str, value, epoch: int, step: int, cause: Optional[Exception] = None) -> None:
    raise FloatingPointError(
        f"{what} became {value} at epoch {epoch + 1}, step {step + 1}: training stopped and the model "
        f"keeps its last finite parameters; lower lr, set clip_norm, or check the data") from cause


def _exists(path: str) -> bool:
    import os
    return os.path.exists(path)


def _restore(path: str, model, optimizer, scheduler) -> Tuple[int, History]:
    state = read_checkpoint(path)
    config = {k: list(v) if isinstance(v, tuple) else v for k, v in model.get_config().items()}
    if state["config"] != config:
        raise ValueError(f"checkpoint {path} holds a model with config {state['config']}, "
                         f"not {config}: resume with the same model or a new checkpoint path")
    model.load_state_dict(state["state_dict"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["rng"])
    return int(state["epoch"]), History.from_dict(state["history"])
