"""Gradient averaging through shared memory, for DDP processes on one host (a DDP communication hook).

On CPUs, DDP averages every gradient bucket with gloo's all-reduce: a ring of TCP messages, each
handed between gloo's threads and the process's own, so a step pays several thread wake-ups — on
a two-core virtual machine 1-3 ms per bucket during training (0.1-0.2 ms in a tight loop), the
whole of what keeps a small convolutional model from scaling (docs/scaling.md). When every rank
runs on the same host, :func:`shared_memory_hook` averages a bucket instead through one block of
shared memory: each rank copies its bucket into its own slot, publishes a sequence number, waits
(spinning, then yielding) until every rank has published the same number, and sums the ``W``
slots in rank order,

.. math::

    \\bar g = \\frac1W \\sum_{r=0}^{W-1} g_r ,

so every rank computes the same bits. Two alternating halves of the block let a rank write the
next bucket while a slower rank still reads the last one, with one synchronisation per bucket.

DDP stays the engine (bucketing, the hook's place in the backward pass, the wrapper); this is its
documented extension point, as the compression hooks in ``torch.distributed.algorithms`` are.
:func:`shared_memory_supported` says where it applies: CPU gradients, ``x86_64`` (whose stores
are seen in program order by the other cores — the protocol's only memory-ordering assumption),
every rank on this host and no more ranks than the cores they may use (a spinning rank must
never take the core of the rank it waits for).
"""

import os
import platform
import socket
import tempfile
import threading
import time
from typing import Any, Optional

import torch
from lightning_fabric.strategies import DDPStrategy

__all__ = ["SharedMemoryAverage", "shared_memory_hook", "shared_memory_supported", "SharedMemoryDDPStrategy"]


def shared_memory_supported(group: Any = None) -> Optional[str]:
    """``None`` when :class:`SharedMemoryAverage` can serve the ranks of ``group`` (collective:
    every rank must call it), else the reason it cannot, the same on every rank.

    :param group: a ``torch.distributed`` process group; the default group when ``None``.
    """
    import torch.distributed as td

    world = td.get_world_size(group)
    here = (socket.gethostname(), _boot_id(), platform.machine(), len(os.sched_getaffinity(0)),
            os.path.isdir("/dev/shm"))
    everyone: list = [None] * world
    td.all_gather_object(everyone, here, group=group)
    if len({e[:2] for e in everyone}) > 1:
        return "the ranks run on more than one host"
    other = next((e[2] for e in everyone if e[2] not in ("x86_64", "AMD64")), None)
    if other is not None:
        return f"the protocol assumes x86_64's store order, a rank runs on {other}"
    if world > min(e[3] for e in everyone):
        return f"{world} ranks but only {min(e[3] for e in everyone)} cores to run them"
    if not all(e[4] for e in everyone):
        return "no /dev/shm"
    return None


def _boot_id() -> str:
    """This boot of this machine (two containers may share a host name, not a kernel)."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie — dead, not yet reaped by its parent — does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X", "x")


class SharedMemoryAverage:
    """The state of :func:`shared_memory_hook`: a shared block with two halves of ``W`` slots of
    ``slot_bytes`` each and ``W`` sequence numbers. Creating it is collective (rank 0 creates the
    file in ``/dev/shm``, the others map it, and the name is removed once all have mapped it, so
    nothing is left behind whatever happens to the processes).

    :param int slot_bytes: the largest bucket in bytes (e.g. the bytes of all the gradients).
    :param group: the ``torch.distributed`` process group; the default group when ``None``.
    :param float spin_seconds: how long a rank spins on the others' sequence numbers before it
        sleeps 0.05 ms (plus the kernel's timer slack) between looks (ranks doing the same work
        arrive within a fraction of a millisecond; one further behind was descheduled, or is evaluating or writing a
        checkpoint, and a sleeping rank leaves it the core).
    :param float timeout_seconds: a rank that has not arrived after this long is taken to be dead:
        :class:`RuntimeError` instead of a hang.
    """

    _FLAG_BYTES = 64  # one cache line per rank's sequence number

    def __init__(self, slot_bytes: int, group: Any = None, spin_seconds: float = 0.002,
                 timeout_seconds: float = 1800.0):
        import torch.distributed as td

        self.rank, self.world = td.get_rank(group), td.get_world_size(group)
        self.slot_bytes = -(-int(slot_bytes) // self._FLAG_BYTES) * self._FLAG_BYTES
        self.spin_seconds, self.timeout_seconds = spin_seconds, timeout_seconds
        flags, half = self._FLAG_BYTES * self.world, self.slot_bytes * self.world
        size = flags + 2 * half
        path: list = [None]
        if self.rank == 0:
            fd, path[0] = tempfile.mkstemp(prefix="pyroml-ddp-", dir="/dev/shm")
            os.ftruncate(fd, size)
            os.close(fd)
        td.broadcast_object_list(path, src=td.get_global_rank(group, 0) if group is not None else 0, group=group)
        self._pids: list = [None] * self.world  # to tell a dead rank from a slow one while waiting
        td.all_gather_object(self._pids, os.getpid(), group=group)
        block = torch.from_file(path[0], shared=True, size=size, dtype=torch.uint8)
        td.barrier(group=group)
        if self.rank == 0:
            os.unlink(path[0])
        #: the sequence numbers, one cache line each (numpy: a look costs ~0.1 µs, not a torch op)
        self._flags = block[:flags].view(torch.int64).numpy()[:: self._FLAG_BYTES // 8]
        self._halves = [block[flags + i * half: flags + (i + 1) * half].view(self.world, self.slot_bytes)
                        for i in range(2)]
        self._block = block  # keeps the mapping alive
        self._seq = int(self._flags[self.rank])  # 0: the file starts zeroed
        self._fence = threading.Lock()

    def average_(self, grad: torch.Tensor) -> torch.Tensor:
        """Replace ``grad`` (any shape, a CPU tensor of the same numel on every rank) by its mean
        over the ranks, in place; :returns: ``grad``."""
        nbytes = grad.numel() * grad.element_size()
        if nbytes > self.slot_bytes:
            raise ValueError(f"a gradient bucket of {nbytes} bytes does not fit the shared slots of "
                             f"{self.slot_bytes} bytes: create SharedMemoryAverage with a larger slot_bytes")
        self._seq += 1
        slots = self._halves[self._seq % 2][:, :nbytes].view(grad.dtype)
        flat = grad.view(-1)
        slots[self.rank].copy_(flat)
        with self._fence:  # a locked instruction: the copy is visible before the sequence number
            self._flags[self.rank] = self._seq
        self._wait(self._seq)
        flat.copy_(slots[0])
        for r in range(1, self.world):  # rank order: the same sum, bit for bit, on every rank
            flat.add_(slots[r])
        return grad.div_(self.world)

    def _wait(self, seq: int) -> None:
        """Until every rank has published ``seq``: spin for ``spin_seconds``, then sleep between
        looks, checking every ~0.2 s that the late ranks' processes still live.

        :raises RuntimeError: when a late rank's process has died, or after ``timeout_seconds``."""
        flags = self._flags
        if flags.min() >= seq:
            return
        start = time.monotonic()
        checked = start
        while flags.min() < seq:
            now = time.monotonic()
            if now - start <= self.spin_seconds:
                continue
            if now - checked > 0.2:
                checked = now
                late = [r for r in range(self.world) if flags[r] < seq]
                dead = [r for r in late if not _alive(self._pids[r])]
                if dead:
                    raise RuntimeError(f"rank(s) {dead} (process {[self._pids[r] for r in dead]}) died before "
                                       f"gradient average {seq}: this rank stops too")
                if now - start > self.timeout_seconds:
                    raise RuntimeError(f"rank(s) {late} did not reach gradient average {seq} within "
                                       f"{self.timeout_seconds:.0f} s: a process hangs")
            time.sleep(5e-5)


def shared_memory_hook(state: SharedMemoryAverage, bucket: torch.distributed.GradBucket
                       ) -> torch.futures.Future[torch.Tensor]:
    """A DDP communication hook (``ddp.register_comm_hook(state, shared_memory_hook)``): the
    bucket's gradients averaged over the ranks through ``state``'s shared memory, done when it returns."""
    out: torch.futures.Future[torch.Tensor] = torch.futures.Future()
    out.set_result(state.average_(bucket.buffer()))
    return out


class SharedMemoryDDPStrategy(DDPStrategy):
    """Fabric's DDP strategy that averages CPU gradients through :class:`SharedMemoryAverage`
    wherever :func:`shared_memory_supported` allows, and by DDP's own all-reduce elsewhere (GPUs,
    several hosts). What it chose is :attr:`communication` after set-up.

    :param bool shared_memory: ``False`` keeps DDP's all-reduce everywhere.
    :param kwargs: Fabric's ``DDPStrategy`` arguments, and through them DDP's.
    """

    def __init__(self, shared_memory: bool = True, **kwargs: Any):
        super().__init__(**kwargs)
        self.shared_memory = shared_memory
        #: ``"shared-memory"`` or ``"all-reduce (<why>)"``, set by :meth:`setup_module`
        self.communication = "all-reduce"

    def setup_module(self, module: torch.nn.Module) -> torch.nn.parallel.DistributedDataParallel:
        ddp = super().setup_module(module)
        if not self.shared_memory:
            self.communication = "all-reduce (shared_memory=False)"
            return ddp
        grads = [p for p in module.parameters() if p.requires_grad]
        if any(p.device.type != "cpu" for p in grads):
            self.communication = "all-reduce (gradients not on the CPU)"
            return ddp
        why = shared_memory_supported()
        if why is not None:
            self.communication = f"all-reduce ({why})"
            return ddp
        state = SharedMemoryAverage(sum(p.numel() * p.element_size() for p in grads))
        ddp.register_comm_hook(state, shared_memory_hook)
        self.communication = "shared-memory"
        return ddp
