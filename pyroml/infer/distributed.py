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

import atexit
import os
from typing import Any, Dict, List, Optional, Tuple

import torch

from pyroml._validation import check_int

__all__ = ["ELBOModule", "Distributed", "fabric_flags", "DDP_SETTINGS", "process_group", "block", "all_sum",
           "all_gather", "exchange_hook", "EXCHANGE_MAX_BYTES"]

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
        if accelerator in ("cuda", "gpu") and devices > torch.cuda.device_count():
            raise ValueError(f"devices={devices} but this machine has {torch.cuda.device_count()} CUDA device(s): "
                             f"ask for at most that many, or accelerator='cpu'")
        if accelerator == "cpu" and devices > (os.cpu_count() or 1):
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


#: buckets up to this size are averaged by :func:`exchange_hook`'s pairwise exchanges whatever the
#: number of processes; larger ones too with two processes (the same bytes as a ring all-reduce)
EXCHANGE_MAX_BYTES = 1 << 20


def exchange_hook(group: Any, bucket: Any) -> torch.futures.Future:
    """A DDP communication hook: the mean of a gradient bucket over the :math:`W` ranks by
    recursive doubling — in round :math:`k = 0, 1, \\dots, \\log_2 W - 1` rank :math:`r` swaps its
    partial sum with rank :math:`r \\oplus 2^k` (one send and one receive) and adds the two:

    .. math::

        g^{(k+1)}_r = g^{(k)}_r + g^{(k)}_{r \\oplus 2^k}, \\qquad
        \\bar g = g^{(\\log_2 W)}_r / W.

    Float addition commutes, so every rank ends with the same bits (the replicas stay identical).
    On CPU (gloo) this is one round trip per round: between two processes on this project's
    2-core machine an 82 KB bucket takes ~0.1 ms, where gloo's all-reduce, whose ring moves the
    bucket in many small messages, takes ~1 ms (``benchmarks/bench_ddp.py``). Used by
    :class:`Distributed` for gloo groups whose size is a power of two; a bucket over
    :data:`EXCHANGE_MAX_BYTES` on more than two ranks (where a ring moves fewer bytes), or any
    bucket on another group size, goes through the ordinary all-reduce.

    :param group: the process group (``None``: the default group), DDP's hook ``state``.
    :param bucket: DDP's ``GradBucket``; its ``buffer()`` is the flat gradient tensor ``(n,)``.
    :returns: a completed future holding the averaged buffer ``(n,)``.
    """
    import torch.distributed as td

    group = group if group is not None else td.group.WORLD
    world, rank = td.get_world_size(group), td.get_rank(group)
    buf = bucket.buffer()
    if world & (world - 1) or (world > 2 and buf.numel() * buf.element_size() > EXCHANGE_MAX_BYTES):
        work = td.all_reduce(buf, group=group, async_op=True)
        return work.get_future().then(lambda fut: fut.value()[0].div_(world))
    other = torch.empty_like(buf)
    step = 1
    while step < world:
        peer = td.get_global_rank(group, rank ^ step)
        sent = td.isend(buf, peer, group=group)
        assert sent is not None  # None only for a rank outside the group
        td.recv(other, peer, group=group)
        sent.wait()
        buf.add_(other)
        step <<= 1
    out: torch.futures.Future = torch.futures.Future()
    out.set_result(buf.div_(world))
    return out


def _destroy_group() -> None:
    """Tear the ``torch.distributed`` group down at interpreter exit, if it is still up: its
    communication threads would otherwise be killed mid-flight and abort the process."""
    import torch.distributed as td

    if td.is_available() and td.is_initialized():
        td.destroy_process_group()


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

        if flags["strategy"] == "ddp":
            from lightning_fabric.strategies import DDPStrategy
            flags = {**flags, "strategy": DDPStrategy(**DDP_SETTINGS)}
        self.fabric = Fabric(**flags)
        self.fabric.launch()
        atexit.register(_destroy_group)  # a gloo group alive at exit aborts ("terminate called ...")
        self.rank, self.world = self.fabric.global_rank, self.fabric.world_size
        self.device = self.fabric.device
        import torch.distributed as td
        #: whether DDP averages gradients by :func:`exchange_hook` (gloo groups; NCCL keeps its all-reduce)
        self.comm_hook = td.is_available() and td.is_initialized() and td.get_backend() == "gloo"

    def setup(self, model: torch.nn.Module, step_fn: Any) -> None:
        """Wrap the step's loss and optimiser (DDP, precision) and route its backward through Fabric."""
        wrapped, optimizer = self.fabric.setup(ELBOModule(model, step_fn.forward), step_fn.optimizer,
                                               move_to_device=True)
        ddp = getattr(wrapped, "_forward_module", None)
        if isinstance(ddp, torch.nn.parallel.DistributedDataParallel) and self.comm_hook:
            # unannotated: DDP compares the hook's annotations with its classes, which postponed
            # evaluation (``from __future__ import annotations``) turns into strings
            ddp.register_comm_hook(None, lambda group, bucket: exchange_hook(group, bucket))
        step_fn.forward, step_fn.optimizer, step_fn.backward = wrapped, optimizer, self.fabric.backward
        step_fn.loss_checked_first = self.world == 1  # a rank that stopped alone would hang the others

    def mean(self, values: List[float]) -> List[float]:
        """The element-wise mean of ``values`` over the ranks (one all-reduce)."""
        if self.world == 1 or not values:
            return values
        return [v / self.world for v in all_sum(values, self.device)]
