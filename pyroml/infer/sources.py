"""Where the engine's batches come from: tensors in memory, or a stream of a torch dataset.

Both give the engine the same face — ``n`` (N), ``steps_per_epoch``, ``epoch(epoch)`` yielding
``(step, batch)`` with ``batch`` the list of tensors ``model(*batch)`` takes, and ``init_x``, the
examples the model's shape adaption, input check and data-dependent initialisation see:

* :class:`_Batches` (in memory): a fresh permutation per epoch
  (:func:`~pyroml.data.streaming.epoch_permutation` of ``(seed, epoch)``), indexing the tensors
  on the model's device; ``init_x`` is every training example.
* :class:`_StreamBatches`: a :class:`~pyroml.data.streaming.Stream` through a ``DataLoader``,
  each batch moved to the model's device as it comes; ``init_x`` is the stream's
  :meth:`~pyroml.data.streaming.Stream.head` — all examples of a map-style dataset of at most
  :data:`INIT_EXAMPLES` (then exactly what the in-memory path sees), else a seeded random
  :data:`INIT_EXAMPLES` of them, or the first batches of an iterable source or a loader.
"""

from __future__ import annotations

import math
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

import pyro
import torch
from torch.utils.data import DataLoader, IterableDataset

from pyroml.data.datasets import as_tensors
from pyroml.data.streaming import Stream, as_stream, epoch_permutation, is_stream
from pyroml.infer.distributed import all_sum, block, process_group
from pyroml.infer.elbo import elbo_per_example, elbo_sum
from pyroml.infer.module import SVIModule

__all__ = ["INIT_EXAMPLES", "training_batches", "data_elbo"]

#: the most examples a streamed fit reads up front for the model's shape, checks and initialisation
INIT_EXAMPLES = 20000


class _Batches:
    """Which examples each step sees: a fresh permutation per epoch from a generator seeded by
    ``(seed, epoch)``, so that a resumed run sees the batches an uninterrupted one would; of each
    global batch, process ``rank`` of ``world`` takes every ``world``-th example."""

    def __init__(self, tensors: Tuple[torch.Tensor, ...], batch_size: int, seed: int, rank: int = 0, world: int = 1):
        self.tensors, self.batch_size, self.seed, self.rank, self.world = tensors, batch_size, seed, rank, world
        self.n = tensors[0].shape[0]
        self.steps_per_epoch = math.ceil(self.n / batch_size)
        self.init_x = tensors[0]
        _check_shares(self.n, batch_size, world)

    def epoch(self, epoch: int) -> Iterator[Tuple[int, List[torch.Tensor], int]]:
        """``(step, batch, B)``: the step's tensors (this process's share) and the global batch size."""
        perm = epoch_permutation(self.n, self.seed, epoch).to(self.tensors[0].device)
        for step in range(self.steps_per_epoch):
            idx = perm[step * self.batch_size: (step + 1) * self.batch_size]
            b = idx.shape[0]
            if self.world > 1:
                idx = idx[self.rank::self.world]
            yield step, [t[idx] for t in self.tensors], b


def check_shares_before_launch(data: Any, batch_size: int, flags: Dict[str, Any]) -> None:
    """Refuse, before any process starts, a global batch that cannot give each of the
    ``devices x num_nodes`` processes of Fabric's (checked) ``flags`` an example — for tensors and
    sized map-style datasets (a ``DataLoader`` or an iterable is checked by each process once it
    runs; ``devices="auto"`` too)."""
    if not isinstance(flags["devices"], int) or isinstance(data, (DataLoader, IterableDataset)):
        return
    world = flags["devices"] * flags["num_nodes"]
    first = data[0] if isinstance(data, (tuple, list)) and data else data
    if isinstance(first, torch.Tensor):
        n = first.shape[0] if first.dim() else 0
    elif hasattr(data, "__len__") and hasattr(data, "__getitem__"):
        n = len(data)
    else:
        return
    if n:
        _check_shares(n, batch_size, world)


def _check_shares(n: int, batch_size: int, world: int) -> None:
    if world > 1 and (batch_size < world or 0 < n % batch_size < world):
        raise ValueError(f"{world} processes cannot share batches of {batch_size} of {n} examples (the last batch "
                         f"holds {n % batch_size or batch_size}): every batch needs at least one example per "
                         f"process; choose another batch_size")


class _StreamBatches:
    """A stream's batches of examples (labels dropped, as for an in-memory Dataset) on ``device``."""

    def __init__(self, stream: Stream, init_x: torch.Tensor, device: torch.device, rank: int = 0, world: int = 1):
        self.stream, self.device, self.rank, self.world = stream, device, rank, world
        self.n, self.steps_per_epoch = stream.n, stream.steps_per_epoch
        self.init_x = init_x
        if stream.map_style:
            _check_shares(self.n, stream.batch_size, world)

    def epoch(self, epoch: int) -> Iterator[Tuple[int, List[torch.Tensor], int]]:
        """``(step, batch, B)`` as :meth:`_Batches.epoch`. A map-style dataset is read in shares
        (each process loads only its examples); an iterable dataset or a loader is read whole by
        every process, which keeps every ``world``-th example of each batch — so it must yield the
        same batches in every process (a deterministic order, or a seeded sampler)."""
        bs, world = self.stream.batch_size, self.world
        shares = world > 1 and self.stream.map_style
        for step, (x, _) in enumerate(self.stream.batches(epoch, rank=self.rank, world=world if shares else 1)):
            b = min(bs, self.n - step * bs) if shares else x.shape[0]
            if world > 1 and not shares:
                if b < world:
                    raise ValueError(f"a batch of {b} examples from the {type(self.stream.source).__name__} "
                                     f"cannot be shared by {world} processes; give it larger batches")
                x = x[self.rank::world]
            yield step, [x.to(self.device, non_blocking=True)], b


def _target_device(model: SVIModule, device: Optional[Union[str, torch.device]]) -> torch.device:
    if device is not None:
        return torch.device(device)
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def _seeded(seed: Optional[int], fn: Any, *args: Any) -> None:
    """``fn(*args)`` after seeding, and seed again, so that a model built from the data here
    starts as if built after seeding."""
    if seed is not None:
        pyro.set_rng_seed(seed)
    fn(*args)
    if seed is not None:
        pyro.set_rng_seed(seed)


def _check_validation(model: SVIModule, validation: Optional[Any]) -> None:
    if validation is None:
        return
    if is_stream(validation):
        as_stream(validation, 2000)  # refuses a bad source before any work
    else:
        model.check_input(*as_tensors(validation), what="validation data")


def training_batches(model: SVIModule, data: Any, validation: Optional[Any], device: Optional[Union[str, torch.device]],
                     seed: Optional[int], batch_size: int, num_examples: Optional[int] = None,
                     num_workers: int = 0, rank: int = 0, world: int = 1) -> Union[_Batches, _StreamBatches]:
    """Adapt the model to the data (seeded), check the data, move the model to ``device``, and
    :returns: the batches of the training data on the model's device.

    :raises ValueError, TypeError: for data the model or the stream refuses, before any step.
    """
    shuffle_seed = 0 if seed is None else seed
    stream: Optional[Stream] = None
    if is_stream(data):
        stream = as_stream(data, batch_size, num_examples=num_examples, seed=shuffle_seed, num_workers=num_workers,
                           pin_memory=_target_device(model, device).type == "cuda")
        examples: Tuple[torch.Tensor, ...] = (stream.head(INIT_EXAMPLES, shuffle_seed),)
    elif num_examples is not None:
        raise ValueError("num_examples is for a streamed source (an IterableDataset); tensors and "
                         "pyroml Datasets give their own length")
    else:
        examples = as_tensors(data)
    _seeded(seed, model.adapt_to_data, *examples)
    model.check_input(*examples, what="training data")
    _check_validation(model, validation)
    if device is not None:
        model.to(device)
    dev = _target_device(model, None)
    if stream is None:
        return _Batches(tuple(t.to(dev) for t in examples), batch_size, shuffle_seed, rank, world)
    return _StreamBatches(stream, examples[0].to(dev), dev, rank, world)


@torch.no_grad()
def data_elbo(model: SVIModule, data: Any, num_particles: int = 1, batch_size: int = 2000) -> float:
    """Mean ELBO per example of tensors, a Dataset or a stream (see :func:`~pyroml.infer.elbo_per_example`):
    a stream is read in order, in batches of ``batch_size`` (a DataLoader in its own). In a
    ``torch.distributed`` group each rank scores its block of tensors or of a map-style dataset
    and the sums are added across the ranks."""
    rank, world = process_group()
    dev = _target_device(model, None)
    if not is_stream(data):
        if world == 1:
            return elbo_per_example(model, data, num_particles, batch_size)
        tensors = as_tensors(data)
        n = tensors[0].shape[0]
        mine = block(n, rank, world)
        part = [t[mine.start: mine.stop] for t in tensors]
        batches: Any = ([t[i: i + batch_size].to(dev) for t in part] for i in range(0, part[0].shape[0], batch_size))
    else:
        stream = as_stream(data, batch_size)
        if world > 1 and stream.map_style:  # each rank its block; the sums added below
            n = stream.n
            stream = as_stream(torch.utils.data.Subset(data, block(n, rank, world)), batch_size)
        else:
            world = 1
        batches = ([x.to(dev)] for x, _ in stream.batches(shuffle=False))
    total, count = elbo_sum(model, batches, num_particles)
    sums = all_sum([total, float(count)], dev) if world > 1 else [total, float(count)]
    return sums[0] / max(sums[1], 1.0)
