"""Examples that stream: torch datasets, iterable datasets and data loaders as a source of batches.

:func:`pyroml.fit` and :func:`pyroml.evaluate` take, besides tensors and a
:class:`~pyroml.data.Dataset` in memory, any ``torch.utils.data.Dataset``:

* a **map-style** dataset (``len`` and integer indexing; items a tensor or numpy array, or an
  ``(x, y)`` pair with a label) — shuffled per epoch by :class:`EpochPermutation`, the very
  permutation the in-memory path uses, so that with ``num_workers=0`` the same seed gives the
  same losses;
* an **iterable** dataset, with the number of examples it yields per epoch given
  (``num_examples=N``, needed for the :math:`N/B` scaling) unless it has a ``len``;
* a ready **DataLoader** (its own batch size, sampler, workers and collation; the seed does not
  reorder it).

:func:`as_stream` checks the source before any work and wraps it in a :class:`Stream`, whose
:meth:`Stream.epoch` yields the batches of one epoch through a ``DataLoader`` (workers, pinned
memory) without ever holding the whole data set. Labels of ``(x, y)`` items are carried
beside the examples (the engine trains on ``x``; the evaluator reports the labels). Integer
(``uint8``) examples are read as ``x / 255``, :func:`~pyroml.data.from_arrays`' rule.
"""

from __future__ import annotations

import math
from typing import Any, Iterator, List, Optional, Tuple

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, IterableDataset, Sampler

from pyroml.data.datasets import Dataset

__all__ = ["Stream", "EpochPermutation", "as_stream", "is_stream", "epoch_permutation"]


def epoch_permutation(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The order of the ``n`` examples in ``epoch``: ``randperm(n)`` from a generator seeded by
    ``seed * 1_000_003 + epoch`` (the engine's in-memory batches and :class:`EpochPermutation` share it)."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))


class EpochPermutation(Sampler):
    """A sampler yielding :func:`epoch_permutation` of the current epoch (:meth:`set_epoch`)."""

    def __init__(self, n: int, seed: int = 0):
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        return iter(epoch_permutation(self.n, self.seed, self.epoch).tolist())

    def __len__(self) -> int:
        return self.n


def is_stream(data: Any) -> bool:
    """Whether ``data`` is a torch ``Dataset`` or ``DataLoader`` (a stream), rather than tensors
    or a :class:`~pyroml.data.Dataset` in memory."""
    return isinstance(data, (torch.utils.data.Dataset, DataLoader)) and not isinstance(data, Dataset)


def _kind(v: Any) -> str:
    if isinstance(v, (tuple, list)):
        return f"{type(v).__name__} of {len(v)} ({', '.join(type(e).__name__ for e in v)})"
    return type(v).__name__


def _hint(v: Any) -> str:
    first = v[0] if isinstance(v, (tuple, list)) and v else v
    return (" (a PIL image: give the torchvision dataset transform=torchvision.transforms.ToTensor())"
            if type(first).__module__.startswith("PIL") else "")


def check_item(item: Any, what: str) -> None:
    """Refuse an item (or a batch) that is not a tensor / numpy array or an ``(x, y)`` pair with
    ``x`` one, naming its type."""
    if isinstance(item, (torch.Tensor, np.ndarray)):
        return
    if isinstance(item, (tuple, list)) and len(item) in (1, 2) and isinstance(item[0], (torch.Tensor, np.ndarray)):
        return
    raise TypeError(f"{what} is a {_kind(item)}; pyroml takes examples that are tensors (or numpy arrays), "
                    f"or (x, y) pairs with x a tensor{_hint(item)}")


def _as_float(x: torch.Tensor) -> torch.Tensor:
    """``uint8`` as ``x / 255`` (the rule of :func:`~pyroml.data.from_arrays`); others unchanged."""
    return x.to(torch.float32).div_(255.0) if x.dtype == torch.uint8 else x


def _split(batch: Any) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """``(x, labels or None)`` of a collated batch."""
    if isinstance(batch, (tuple, list)):
        x, y = batch[0], (batch[1] if len(batch) > 1 else None)
    else:
        x, y = batch, None
    x = torch.as_tensor(x)
    return _as_float(x), (None if y is None else torch.as_tensor(y))


class _Batched(torch.utils.data.Dataset):
    """A dataset with ``get_batch(indices)`` seen through a batch sampler: one read per batch."""

    def __init__(self, dataset: Any):
        self.dataset = dataset

    def __getitem__(self, indices: List[int]) -> Any:
        return self.dataset.get_batch(indices)

    def __len__(self) -> int:
        return len(self.dataset)


def _batch_reader(dataset: Any) -> Any:
    """``get_batch(indices)`` of datasets that can read a batch at once (a ``TensorDataset``,
    :class:`~pyroml.data.MemmapDataset`), else ``None`` (items are read one by one and collated)."""
    if hasattr(dataset, "get_batch"):
        return dataset
    if type(dataset) is torch.utils.data.TensorDataset:
        return _TensorBatches(dataset.tensors)
    return None


class _TensorBatches:
    def __init__(self, tensors: Tuple[torch.Tensor, ...]):
        self.tensors = tensors

    def get_batch(self, indices: List[int]) -> Any:
        idx = torch.as_tensor(indices)
        return tuple(t[idx] for t in self.tensors) if len(self.tensors) > 1 else self.tensors[0][idx]

    def __len__(self) -> int:
        return self.tensors[0].shape[0]


class Stream:
    """Batches of a torch dataset or data loader, epoch by epoch (see the module docstring).

    :ivar int n: N, the examples per epoch (the :math:`N/B` scaling's N).
    :ivar int steps_per_epoch: batches per epoch (for an iterable dataset, ``ceil(N / B)``).
    """

    def __init__(self, source: Any, n: int, batch_size: int, seed: int, num_workers: int, pin_memory: bool):
        self.source, self.n, self.batch_size, self.seed = source, n, batch_size, seed
        self.num_workers, self.pin_memory = num_workers, pin_memory
        self.map_style = not isinstance(source, (DataLoader, IterableDataset))
        if isinstance(source, DataLoader):
            self.batch_size = source.batch_size or batch_size
        try:
            steps = len(source) if isinstance(source, DataLoader) else -1
        except TypeError:
            steps = -1
        self.steps_per_epoch = steps if steps > 0 else math.ceil(n / self.batch_size)

    def loader(self, epoch: int, sampler: Optional[Sampler] = None, shuffle: bool = True, rank: int = 0,
               world: int = 1) -> DataLoader:
        """The ``DataLoader`` of ``epoch``: the permutation of the epoch (or ``sampler``, or the
        index order when not ``shuffle``) for a map-style dataset, the source's own order otherwise.
        Its private generator keeps the global RNG untouched (so the losses match the in-memory path).
        Process ``rank`` of ``world`` reads every ``world``-th example of each batch of the permutation."""
        if isinstance(self.source, DataLoader):
            if hasattr(self.source.sampler, "set_epoch"):
                self.source.sampler.set_epoch(epoch)
            return self.source
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        kw: Any = {"num_workers": self.num_workers, "pin_memory": self.pin_memory, "generator": gen}
        if not self.map_style:
            return DataLoader(self.source, batch_size=self.batch_size, **kw)
        if sampler is None:
            if shuffle:
                sampler = EpochPermutation(self.n, self.seed)
                sampler.set_epoch(epoch)
            else:
                sampler = torch.utils.data.SequentialSampler(range(self.n))
        batches: Any = BatchSampler(sampler, self.batch_size, drop_last=False)
        if world > 1:
            batches = [b[rank::world] for b in batches]
        reader = _batch_reader(self.source)
        if reader is not None:
            return DataLoader(_Batched(reader), sampler=batches, batch_size=None, **kw)
        return DataLoader(self.source, batch_sampler=batches, **kw)

    def batches(self, epoch: int = 0, sampler: Optional[Sampler] = None, shuffle: bool = True, rank: int = 0,
                world: int = 1) -> Iterator[Tuple[torch.Tensor, Optional[torch.Tensor]]]:
        """``(x, labels or None)`` of each batch of ``epoch`` (``rank``'s share), checked to be tensors.

        :raises ValueError: at the end of a full pass over an ``IterableDataset`` that yielded
            another number of examples than :attr:`n` (the ``num_examples`` given): the N/B scaling
            would weigh the data wrongly against the prior.
        """
        loader = self.loader(epoch, sampler, shuffle, rank, world)
        seen = 0
        for i, batch in enumerate(loader):
            if i == 0:
                check_item(batch, "a batch of the data loader")
            x, y = _split(batch)
            seen += x.shape[0] if x.dim() else 1
            yield x, y
        self._check_count(seen, getattr(loader, "drop_last", False))

    def _check_count(self, seen: int, drop_last: bool) -> None:
        source = self.source.dataset if isinstance(self.source, DataLoader) else self.source
        if not isinstance(source, IterableDataset) or seen == self.n or \
                (drop_last and self.n - self.batch_size < seen < self.n):
            return
        if seen == 0:
            raise ValueError(f"the {type(source).__name__} yielded no examples; pass one with at least one")
        raise ValueError(f"the {type(source).__name__} yielded {seen} examples in one pass, but num_examples "
                         f"(or its len) says {self.n}: pass num_examples={seen} (an IterableDataset read by "
                         f"several workers yields its examples once per worker unless it shards them)")

    def head(self, max_examples: int, seed: int = 0) -> torch.Tensor:
        """Up to ``max_examples`` examples for the model's shape, checks and data-dependent
        initialisation: all of a map-style dataset in index order when ``N <= max_examples`` (so
        the model sees what the in-memory path shows it), else a random ``max_examples`` of them
        (a private generator seeded by ``seed``); the first batches of any other source."""
        if self.map_style:
            if self.n <= max_examples:
                idx = torch.arange(self.n)
            else:
                idx = torch.randperm(self.n, generator=torch.Generator().manual_seed(seed))[:max_examples]
            sampler: Any = idx.tolist()
            parts = [x for x, _ in self.batches(0, sampler=sampler)]
        else:
            parts, seen = [], 0
            for x, _ in self.batches(0):
                parts.append(x)
                seen += x.shape[0]
                if seen >= max_examples:
                    break
        if not parts:
            raise ValueError("the data yielded no examples; pass a dataset with at least one")
        return torch.cat(parts)[:max_examples]


def as_stream(data: Any, batch_size: int, *, num_examples: Optional[int] = None, seed: int = 0,
              num_workers: int = 0, pin_memory: bool = False) -> Stream:
    """Check a torch dataset or data loader and wrap it in a :class:`Stream`, before any work.

    :param data: a map-style ``Dataset``, an ``IterableDataset`` or a ``DataLoader``.
    :param int batch_size: B (a ``DataLoader`` keeps its own).
    :param int num_examples: N, the examples per epoch; needed for an iterable source without
        ``len``, and otherwise checked against it.
    :param int seed: seeds the per-epoch permutation of a map-style dataset.
    :param int num_workers: the loader's worker processes; ``pin_memory``: page-locked batches (GPU).
    :raises ValueError: for an iterable source without ``num_examples``, an empty dataset, or a
        ``num_examples`` that disagrees with ``len(data)``.
    :raises TypeError: when the items are not tensors (naming their type).
    """
    source: Any = data.dataset if isinstance(data, DataLoader) else data
    try:
        n_len: Optional[int] = len(source)
    except TypeError:
        n_len = None
    if isinstance(source, IterableDataset) and num_examples is None and n_len is None:
        raise ValueError(f"{type(source).__name__} is an IterableDataset without a length: pass "
                         f"num_examples=N (the examples it yields per epoch, for the N/B scaling)")
    if num_examples is not None:
        if not isinstance(num_examples, int) or isinstance(num_examples, bool) or num_examples < 1:
            raise ValueError(f"num_examples must be an integer >= 1, got {num_examples!r}")
        if n_len is not None and not isinstance(source, IterableDataset) and n_len != num_examples:
            raise ValueError(f"num_examples={num_examples} but the dataset has {n_len} examples: leave "
                             f"num_examples out for a dataset with a length")
    n = num_examples if num_examples is not None else n_len
    if not n:
        raise ValueError(f"the {type(source).__name__} is empty; pass one with at least one example")
    if not isinstance(data, DataLoader) and not isinstance(source, IterableDataset):
        check_item(source[0], f"item 0 of the {type(source).__name__}")
    return Stream(data, int(n), batch_size, seed, num_workers, pin_memory)
