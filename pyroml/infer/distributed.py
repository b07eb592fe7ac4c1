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

With ``strategy="ddp"`` on CPUs whose ranks share one host, the gradients are averaged through
shared memory (:mod:`pyroml.infer.comm`, a DDP communication hook) instead of gloo's all-reduce.

Launch: ``devices=2`` from a script (Fabric starts the other processes by running the same
command again), under ``torchrun``, or under a cluster scheduler's environment (SLURM...).
"""

from __future__ import annotations

import atexit
import logging
import os
from typing import Any, Dict, List, Optional, Tuple

import torch

from pyroml._validation import check_int

__all__ = ["ELBOModule", "Distributed", "fabric_flags", "DDP_SETTINGS", "process_group", "block", "all_sum",
           "all_gather"]

#: how ``strategy="ddp"`` is set up (``torch.nn.parallel.DistributedDataParallel``'s arguments):
#: no buffer broadcast before each forward (the engine's buffers never change), gradients as
#: views into the communication buckets (no copy in or out), and a static graph (every step
#: uses every parameter, so DDP skips its search for unused ones)
DDP_SETTINGS: Dict[str, Any] = {"forward_sync_buffers": False, "gradient_as_bucket_view": True, "static_graph": True}

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
        kind = accelerator  # "auto" is checked as what it picks here: CUDA where there is one, else the CPU
        if kind == "auto" and not torch.backends.mps.is_available():
            kind = "cuda" if torch.cuda.is_available() else "cpu"
        if kind in ("cuda", "gpu") and devices > torch.cuda.device_count():
            raise ValueError(f"devices={devices} but this machine has {torch.cuda.device_count()} CUDA device(s): "
                             f"ask for at most that many, or accelerator='cpu'")
        if kind == "cpu" and devices > (os.cpu_count() or 1):
            raise ValueError(f"devices={devices} CPU processes but this machine has {os.cpu_count()} cores: "
                             f"ask for at most that many")
    return {"accelerator": accelerator, "devices": devices, "strategy": strategy, "precision": precision,
            "num_nodes": num_nodes}


def process_group() -> Tuple[int, int]:
    """``(rank, world size)`` of this process in the running ``torch.distributed`` group, ``(0, 1)``
    without one (e.g. after :func:`~pyroml.fit` with ``devices=2``, the group is still up)."""
    import torch.distributed as td

    if td.is_available() and td.is_initialized():
        return td.get_rank(), td.get_world_size()
    return 0, 1


def block(n: int, rank: int, world: int) -> range:
    """Rank ``rank``'s contiguous block of ``n`` examples (the blocks in rank order tile ``range(n)``)."""
    return range(rank * n // world, (rank + 1) * n // world)


def all_sum(values: List[float], device: torch.device) -> List[float]:
    """The element-wise sum of ``values`` over the ranks (one all-reduce in float64); as given in one process."""
    if process_group()[1] == 1:
        return values
    import torch.distributed as td

    t = torch.tensor(values, dtype=torch.float64, device=device)
    td.all_reduce(t)
    return t.tolist()


def all_gather(obj: Any) -> List[Any]:
    """Every rank's ``obj`` in rank order (``[obj]`` in one process)."""
    world = process_group()[1]
    if world == 1:
        return [obj]
    import torch.distributed as td

    out: List[Any] = [None] * world
    td.all_gather_object(out, obj)
    return out


def _destroy_group() -> None:
    """Tear the ``torch.distributed`` group down at interpreter exit, if it is still up: its
    communication threads would otherwise be killed mid-flight and abort the process."""
    import gc

    import torch.distributed as td

    if td.is_available() and td.is_initialized():
        gc.collect()  # first the DDP wrappers (in reference cycles) that still hold the group
        td.destroy_process_group()


def _drop_futile_nvml_check() -> None:
    """Lightning sets ``PYTORCH_NVML_BASED_CUDA_CHECK=1`` when imported, so that
    ``torch.cuda.is_available()`` asks NVML instead of initialising CUDA. Where NVML's library is
    missing, torch tries to load it, fails and asks CUDA anyway — on every call, and Adam calls it
    at every step (0.04 ms a call, 0.09 ms of a 0.13 ms Adam step on this project's CPU machine
    with a CUDA build of torch). There the variable buys nothing and is removed; where NVML
    loads, it stays."""
    import ctypes

    if os.environ.get("PYTORCH_NVML_BASED_CUDA_CHECK") != "1":
        return
    try:
        ctypes.CDLL("libnvidia-ml.so.1")
    except OSError:
        del os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"]


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

        _drop_futile_nvml_check()
        if flags["strategy"] == "ddp":
            from pyroml.infer.comm import SharedMemoryDDPStrategy
            flags = {**flags, "strategy": SharedMemoryDDPStrategy(**DDP_SETTINGS)}
        self.fabric = Fabric(**flags)
        self.fabric.launch()
        atexit.register(_destroy_group)  # a gloo group alive at exit aborts ("terminate called ...")
        self.rank, self.world = self.fabric.global_rank, self.fabric.world_size
        self.device = self.fabric.device
        self.communication = "all-reduce"

    def setup(self, model: torch.nn.Module, step_fn: Any) -> None:
        """Wrap the step's loss and optimiser (DDP, precision) and route its backward through Fabric."""
        wrapped, optimizer = self.fabric.setup(ELBOModule(model, step_fn.forward), step_fn.optimizer,
                                               move_to_device=True)
        step_fn.forward, step_fn.optimizer, step_fn.backward = wrapped, optimizer, self.fabric.backward
        step_fn.loss_checked_first = self.world == 1  # a rank that stopped alone would hang the others
        #: how the gradients are averaged: "shared-memory" (pyroml.infer.comm) or "all-reduce (<why>)"
        self.communication = getattr(self.fabric.strategy, "communication", "all-reduce")
        if self.world > 1 and self.rank == 0:
            logging.getLogger("pyroml").info("DDP over %d processes: gradients averaged by %s",
                                             self.world, self.communication)

    def mean(self, values: List[float]) -> List[float]:
        """The element-wise mean of ``values`` over the ranks (one all-reduce)."""
        if self.world == 1 or not values:
            return values
        return [v / self.world for v in all_sum(values, self.device)]
