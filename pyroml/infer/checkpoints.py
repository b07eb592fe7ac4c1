"""What a run keeps: the :class:`History` of its losses, and :class:`Checkpoints`, the atomic
per-epoch saves of model, optimiser, scheduler, RNG state(s) and history, and the resume from them."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import torch

from pyroml.infer.distributed import all_gather
from pyroml.infer.module import SVIModule
from pyroml.io.checkpoint import read_checkpoint, save

__all__ = ["History", "Checkpoints"]


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
        """The lists, JSON-ready."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Optional[Dict[str, Any]]) -> History:
        """Rebuild from :meth:`to_dict` (unknown keys ignored)."""
        return cls(**{k: list(v) for k, v in (d or {}).items() if k in cls.__dataclass_fields__})


class Checkpoints:
    """Atomic saves of model, optimiser, scheduler, RNG state and history after each epoch,
    and the resume from them."""

    def __init__(self, path: Optional[str], module: SVIModule, optimizer: torch.optim.Optimizer,
                 scheduler: torch.optim.lr_scheduler.LambdaLR, rank: int = 0, world: int = 1):
        self.path, self.module, self.optimizer, self.scheduler = path, module, optimizer, scheduler
        self.rank, self.world = rank, world  # under several processes, rank 0 alone writes

    def save(self, history: History, epoch: int, settings: Dict[str, Any]) -> None:
        """Write the checkpoint — never of a model with a non-finite parameter (:raises
        FloatingPointError: then, on every rank, and the file on disk keeps the last good state).
        Under several processes it holds every rank's RNG state, so that a resume continues each
        rank's draws."""
        if self.path is None:
            return
        bad = [name for name, p in self.module.named_parameters() if not bool(torch.isfinite(p).all())]
        if bad:
            raise FloatingPointError(f"parameters {bad[:3]} are not finite after epoch {epoch}: the checkpoint "
                                     f"{self.path} was not overwritten; lower lr or set clip_norm")
        rng: Any = torch.get_rng_state() if self.world == 1 else all_gather(torch.get_rng_state())
        if self.rank == 0:
            save(self.module, self.path, history, epoch=epoch, optimizer=self.optimizer.state_dict(),
                 scheduler=self.scheduler.state_dict(), rng=rng, settings=settings)

    def restore(self, settings: Dict[str, Any]) -> Optional[Tuple[int, History]]:
        """``(epochs done, history)`` from the checkpoint, or ``None`` without one.

        :raises ValueError: when the checkpoint holds another model, or was trained with other
            settings (learning rate, batch size, schedule...): a resume continues the same run.
        """
        if self.path is None or not os.path.exists(self.path):
            return None
        state = read_checkpoint(self.path)
        config = self.module.get_config()  # type: ignore[operator]
        if state["config"] != config:
            raise ValueError(f"checkpoint {self.path} holds a model with config {state['config']}, "
                             f"not {config}: resume with the same model or a new checkpoint path")
        stored = state.get("settings") or {}
        changed = {k: (stored[k], v) for k, v in settings.items() if k in stored and stored[k] != v}
        if changed:
            said = ", ".join(f"{k}={old!r} (now {new!r})" for k, (old, new) in changed.items())
            raise ValueError(f"checkpoint {self.path} was trained with {said}: resume with the same settings "
                             f"(only epochs may grow), or train into a new checkpoint path")
        rng = state["rng"]
        if isinstance(rng, list):  # one state per rank (several processes)
            if len(rng) != self.world:
                raise ValueError(f"checkpoint {self.path} was written by {len(rng)} processes; resume it with "
                                 f"devices x num_nodes = {len(rng)} (now {self.world})")
            rng = rng[self.rank]
        self.module.load_state_dict(state["state_dict"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(rng)
        return int(state["epoch"]), History.from_dict(state["history"])
