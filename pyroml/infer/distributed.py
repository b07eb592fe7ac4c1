"""The engine's step under Lightning Fabric: devices, precision and several processes (DDP).

:func:`fit` goes through Fabric only when asked — more than one device or node, a strategy, a
precision other than ``"32-true"``, or an accelerator other than ``"auto"``/``"cpu"`` — so the
single-process CPU path pays nothing. Under Fabric, as in Pyro's ``examples/svi_lightning.py``,
the model, guide and ELBO are one module's forward (:class:`ELBOModule`), so that DDP
all-reduces the gradients of the loss. Each of the ``W`` processes takes its share of every
global batch of ``B = batch_size`` examples (the same permutation on every rank) and scales its
data plate by :math:`N W / B`: DDP's gradient average is then the gradient of the one-process
loss :math:`\\tfrac NB \\sum_{n \\in \\text{batch}} \\ell_n + \\text{global terms}`, so the
:math:`N/B` scaling, the learning rate and the results are those of one process at the same
global batch. Losses are averaged across ranks once per epoch; rank 0 alone shows progress and
writes checkpoints.

Launch: ``devices=2`` from a script (Fabric starts the other processes by running the same
command again), under ``torchrun``, or under a cluster scheduler's environment (SLURM...).
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional

import torch

from pyroml._validation import check_int

__all__ = ["ELBOModule", "Distributed", "fabric_flags"]

_PLAIN_ACCELERATORS = ("auto", "cpu")
_PLAIN_PRECISIONS = ("32-true", "32", 32)


def fabric_flags(accelerator: str, devices: Any, strategy: Any, precision: Any, num_nodes: Any
                 ) -> Optional[Dict[str, Any]]:
    """``None`` when the plain single-process engine serves these flags, else Fabric's arguments.

    :raises ValueError: for ``devices``/``num_nodes`` below 1, or more devices than this machine has.
    """
    check_int("num_nodes", num_nodes, 1)
    if devices != "auto":
        check_int("devices", devices, 1)
    if (devices == 1 and num_nodes == 1 and strategy == "auto" and precision in _PLAIN_PRECISIONS
            and accelerator in _PLAIN_ACCELERATORS):
        return None
    if isinstance(devices, int):
        if accelerator in ("cuda", "gpu") and devices > torch.cuda.device_count():
            raise ValueError(f"devices={devices} but this machine has {torch.cuda.device_count()} CUDA device(s): "
                             f"ask for at most that many, or accelerator='cpu'")
        if accelerator == "cpu" and devices > (os.cpu_count() or 1):
            raise ValueError(f"devices={devices} CPU processes but this machine has {os.cpu_count()} cores: "
                             f"ask for at most that many")
    return {"accelerator": accelerator, "devices": devices, "strategy": strategy, "precision": precision,
            "num_nodes": num_nodes}


class ELBOModule(torch.nn.Module):
    """The model, guide and ELBO as one module: ``forward(*batch)`` is the scaled loss, so that a
    DDP wrapper all-reduces its gradients (Pyro's ``svi_lightning`` pattern)."""

    def __init__(self, model: torch.nn.Module, loss: Any):
        super().__init__()
        self.model = model
        self._loss = loss

    def forward(self, *batch: torch.Tensor) -> torch.Tensor:
        return self._loss(*batch)


class Distributed:
    """One run under Fabric: launch, the rank and world size, the wrapped step, the reductions."""

    def __init__(self, flags: Dict[str, Any]):
        from lightning_fabric import Fabric  # here: the plain path never imports Fabric

        if flags["strategy"] == "ddp":  # no buffer broadcast each step: the engine's buffers are fixed
            from lightning_fabric.strategies import DDPStrategy
            flags = {**flags, "strategy": DDPStrategy(forward_sync_buffers=False, gradient_as_bucket_view=True)}
        self.fabric = Fabric(**flags)
        self.fabric.launch()
        self.rank, self.world = self.fabric.global_rank, self.fabric.world_size
        self.device = self.fabric.device

    def setup(self, model: torch.nn.Module, step_fn: Any) -> None:
        """Wrap the step's loss and optimiser (DDP, precision) and route its backward through Fabric."""
        wrapped, optimizer = self.fabric.setup(ELBOModule(model, step_fn.forward), step_fn.optimizer,
                                               move_to_device=True)
        step_fn.forward, step_fn.optimizer, step_fn.backward = wrapped, optimizer, self.fabric.backward
        step_fn.loss_checked_first = self.world == 1  # a rank that stopped alone would hang the others

    def mean(self, values: List[float]) -> List[float]:
        """The element-wise mean of ``values`` over the ranks (one all-reduce)."""
        if self.world == 1 or not values:
            return values
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        return [float(v) for v in self.fabric.all_reduce(t, reduce_op="mean")]
