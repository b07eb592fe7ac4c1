"""Out-of-core examples: a ``.npy`` file read lazily, and its writer.

:func:`write_memmap` writes any source of examples — a :class:`~pyroml.data.Dataset`, a tensor,
a map-style torch dataset, or any iterable of items — to a ``.npy`` file of shape
``(N, *event_shape)`` chunk by chunk (``numpy.lib.format.open_memmap``; into a temporary file
renamed over the target at the end, so a reader never sees half a file), its labels, if any,
to ``<name>.labels.npy`` beside it. :class:`MemmapDataset` reads such a file lazily: an item
or a batch touches only its own rows, so a training set larger than the memory trains
(``pyroml.fit(model, pyroml.data.MemmapDataset("train.npy"))``).

Rows are read with ``os.preadv`` (one call per row of a batch, in sorted order), not through a
memory map: mapped pages that were read count towards a process's resident memory until the
kernel reclaims them, while pages read this way stay in the page cache only, so the resident
memory stays far below the file's size. ``uint8`` files are read as ``x / 255`` (four times smaller than float32,
exact for 8-bit images).
"""

from __future__ import annotations

import itertools
import mmap
import os
from typing import Any, Iterable, Iterator, List, Optional, Tuple, Union

import numpy as np
import torch

from pyroml.data.datasets import Dataset
from pyroml.data.streaming import check_item
from pyroml.io.atomic import atomic_write

__all__ = ["MemmapDataset", "write_memmap", "labels_path"]


def labels_path(path: Union[str, os.PathLike]) -> str:
    """Where the labels of the examples in ``path`` live: ``x.npy`` → ``x.labels.npy``."""
    p = os.fspath(path)
    return (p[:-4] if p.endswith(".npy") else p) + ".labels.npy"


class MemmapDataset(torch.utils.data.Dataset):
    """Examples in a ``.npy`` file, read lazily: item ``i`` is ``x[i]`` as float32 (``uint8``
    as ``x / 255``), or ``(x[i], y[i])`` when the file has labels.

    :param path: the ``.npy`` file (e.g. from :func:`write_memmap`), shape ``(N, *event_shape)``.
    :param labels: the labels' ``.npy`` file, an array, or ``None`` for ``<name>.labels.npy`` when
        it exists; ``False`` ignores the labels.
    :raises FileNotFoundError: for a missing file; :raises ValueError: for a file whose array
        has no example dimension or is not numeric.
    """

    def __init__(self, path: Union[str, os.PathLike], labels: Any = None):
        self.path = os.fspath(path)
        if not os.path.exists(self.path):
            raise FileNotFoundError(f"no file {self.path}; write one with pyroml.data.write_memmap(data, path)")
        x = self._open()
        if x.ndim < 2 or x.dtype.kind not in "biuf":
            raise ValueError(f"{self.path} holds an array of shape {x.shape} and dtype {x.dtype}: MemmapDataset "
                             f"takes numeric examples of shape (N, *event_shape)")
        self.shape: Tuple[int, ...] = tuple(x.shape)
        self.dtype = x.dtype
        if labels is None and os.path.exists(labels_path(self.path)):
            labels = labels_path(self.path)
        self.labels: Optional[torch.Tensor] = None
        if labels is not None and labels is not False:
            y = np.load(labels) if isinstance(labels, (str, os.PathLike)) else np.asarray(labels)
            if y.shape[:1] != self.shape[:1]:
                raise ValueError(f"{len(y)} labels for the {self.shape[0]} examples of {self.path}")
            self.labels = torch.as_tensor(y)
        self._fd: Optional[int] = None
        self._offset = 0

    def _open(self) -> np.ndarray:
        return np.load(self.path, mmap_mode="r")

    def _header(self) -> int:
        """The byte offset of the first row (after the ``.npy`` header)."""
        try:
            m = self._open()
        except ValueError as e:  # numpy: "mmap length is greater than file size"
            raise ValueError(f"{self.path} is shorter than its header says ({e}): the file was truncated after "
                             f"it was opened; write it again with pyroml.data.write_memmap") from None
        offset = int(m.offset) if isinstance(m, np.memmap) else 0
        del m
        return offset

    def __getstate__(self) -> dict:  # the file is opened again in each worker process
        return {**self.__dict__, "_fd": None}

    @property
    def event_shape(self) -> Tuple[int, ...]:
        """The shape of one example."""
        return self.shape[1:]

    def __len__(self) -> int:
        return self.shape[0]

    def _rows(self, rows: np.ndarray, positions: Optional[np.ndarray] = None) -> torch.Tensor:
        """File rows ``rows`` (int64; sorted is best: the file is read in that order), row ``rows[k]``
        landing at row ``positions[k]`` of the result (default ``k``), as float32 (``uint8`` / 255).

        Each row is read by one ``os.preadv`` straight into the result's memory — no map, so the
        pages read stay in the page cache and out of this process's resident memory, and no
        intermediate copy."""
        if self._fd is None:
            self._fd, self._offset = os.open(self.path, os.O_RDONLY), self._header()
        size = self.dtype.itemsize * int(np.prod(self.event_shape))
        out = np.empty((len(rows), *self.event_shape), dtype=self.dtype)
        view = out.reshape(-1).view(np.uint8).data  # the result's bytes, as a memoryview
        fd, offset = self._fd, self._offset
        where = range(len(rows)) if positions is None else positions.tolist()
        for k, i in zip(where, rows.tolist()):
            if os.preadv(fd, [view[k * size: (k + 1) * size]], offset + i * size) != size:
                raise ValueError(f"{self.path} ends before row {i} of its {len(self)}: the file was truncated "
                                 f"after it was opened; write it again with pyroml.data.write_memmap")
        t = torch.from_numpy(out)
        return t.to(torch.float32).div_(255.0) if t.dtype == torch.uint8 else t.to(torch.float32)

    def release(self) -> None:
        """Close the file (it is opened again at the next read)."""
        if self._fd is not None:
            os.close(self._fd)
        self._fd = None

    def __del__(self) -> None:
        fd = getattr(self, "_fd", None)
        if fd is not None:
            os.close(fd)

    def __getitem__(self, i: int) -> Any:
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} is out of range for {len(self)} examples")
        x = self._rows(np.array([int(i) % len(self)], dtype=np.int64))[0]
        return x if self.labels is None else (x, self.labels[i])

    def get_batch(self, indices: List[int]) -> Any:
        """The examples at ``indices`` in one read (the rows in sorted order, then put back in the
        order asked): ``x`` of shape ``(len(indices), *event_shape)``, or ``(x, y)``."""
        idx = np.asarray(indices, dtype=np.int64)
        order = np.argsort(idx, kind="stable")
        x = self._rows(idx[order], positions=order)
        return x if self.labels is None else (x, self.labels[torch.from_numpy(idx)])


def _chunks(data: Any, chunk: int) -> Iterator[Tuple[np.ndarray, Optional[np.ndarray]]]:
    """``(examples, labels or None)`` of ``data`` in chunks of up to ``chunk`` examples."""
    if isinstance(data, (Dataset, torch.Tensor)):
        x, y = (data.x, data.y) if isinstance(data, Dataset) else (data, None)
        for i in range(0, x.shape[0], chunk):
            yield x[i: i + chunk].detach().cpu().numpy(), None if y is None else y[i: i + chunk].cpu().numpy()
        return
    items: Iterable[Any]
    map_style = hasattr(data, "__len__") and hasattr(data, "__getitem__")
    if map_style and not isinstance(data, torch.utils.data.IterableDataset):
        items = (data[i] for i in range(len(data)))
    else:
        items = iter(data)
    it = iter(items)
    start = 0
    while True:
        block = list(itertools.islice(it, chunk))
        if not block:
            return
        xs: List[np.ndarray] = []
        ys: List[Any] = []
        for j, item in enumerate(block):
            check_item(item, f"item {start + j}")
            xi: Any = item if isinstance(item, (torch.Tensor, np.ndarray)) else item[0]
            xs.append(np.asarray(xi.detach().cpu() if isinstance(xi, torch.Tensor) else xi))
            ys.append(None if isinstance(item, (torch.Tensor, np.ndarray)) or len(item) < 2 else item[1])
        if len({a.shape for a in xs}) != 1:
            raise ValueError(f"items {start}..{start + len(xs) - 1} differ in shape: {sorted({a.shape for a in xs})}")
        has_y = [v is not None for v in ys]
        labels = np.asarray([int(v) for v in ys], dtype=np.int64) if all(has_y) else None
        if any(has_y) and not all(has_y):
            raise TypeError(f"some of items {start}..{start + len(xs) - 1} have labels and some not")
        start += len(block)
        yield np.stack(xs), labels


def _length(data: Any, num_examples: Optional[int]) -> int:
    if num_examples is not None:
        return int(num_examples)
    if isinstance(data, Dataset):
        return len(data)
    if isinstance(data, torch.Tensor):
        return data.shape[0]
    try:
        return len(data)
    except TypeError:
        raise ValueError(f"write_memmap needs the number of examples of a {type(data).__name__} without a length: "
                         f"pass num_examples=N") from None


def _encode(x: np.ndarray, dtype: np.dtype, done: int) -> np.ndarray:
    if dtype != np.uint8 or x.dtype == np.uint8:
        return x.astype(dtype, copy=False)
    if x.size and (np.nanmin(x) < 0 or np.nanmax(x) > 1):
        raise ValueError(f"examples from {done} on are outside [0, 1]: dtype='uint8' stores round(255 x) of values "
                         f"on [0, 1]; write float32 instead")
    return np.rint(x * 255.0).astype(np.uint8)


def _write_rows(data: Any, path: str, n: int, np_dtype: np.dtype, chunk: int) -> Optional[np.ndarray]:
    """The ``n`` examples of ``data`` into a new ``.npy`` at ``path``, ``chunk`` at a time;
    :returns: their labels, or ``None``."""
    out: Any = None
    labels: Optional[np.ndarray] = None
    done = 0
    for x, y in _chunks(data, chunk):
        if out is None:
            out = np.lib.format.open_memmap(path, mode="w+", dtype=np_dtype, shape=(n, *x.shape[1:]))
            labels = None if y is None else np.empty(n, dtype=np.int64)
        if done + len(x) > n or x.shape[1:] != out.shape[1:]:
            raise ValueError(f"the data yielded more than {n} examples, or examples of another shape than "
                             f"{out.shape[1:]} (got {x.shape[1:]} at example {done})")
        out[done: done + len(x)] = _encode(x, np_dtype, done)
        if labels is not None and y is not None:
            labels[done: done + len(x)] = y
        done += len(x)
        out.flush()
        if hasattr(mmap, "MADV_DONTNEED"):  # written pages leave the resident memory
            out._mmap.madvise(mmap.MADV_DONTNEED)
    if out is None or done != n:
        raise ValueError(f"the data yielded {done} examples, not {n}")
    del out
    return labels


def write_memmap(data: Any, path: Union[str, os.PathLike], *, chunk: int = 4096, dtype: str = "float32",
                 num_examples: Optional[int] = None) -> MemmapDataset:
    """Write the examples of ``data`` to the ``.npy`` file ``path``, ``chunk`` examples at a time,
    atomically (a temporary file, then ``os.replace``); labels, if the items have them, to
    :func:`labels_path` ``(path)``.

    :param data: a :class:`~pyroml.data.Dataset`, a tensor ``(N, ...)``, a map-style torch
        dataset, or any iterable of items (a tensor / numpy array, or an ``(x, y)`` pair).
    :param int chunk: examples held in memory at once.
    :param str dtype: ``"float32"``, or ``"uint8"`` for values on [0, 1] stored as ``round(255 x)``.
    :param int num_examples: N, for an iterable without a length.
    :returns: the :class:`MemmapDataset` over the new file.
    :raises ValueError: for a source without a length and no ``num_examples``, one that yields
        another number of examples, or values a ``uint8`` file cannot hold.
    :raises TypeError: for items that are not tensors (naming their type).
    """
    if not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk must be an integer >= 1, got {chunk!r}")
    np_dtype = np.dtype(dtype)
    if np_dtype not in (np.dtype(np.float32), np.dtype(np.uint8)):
        raise ValueError(f"dtype must be 'float32' or 'uint8', got {dtype!r}")
    n = _length(data, num_examples)
    path = os.fspath(path)

    def write(tmp: str) -> None:
        labels = _write_rows(data, tmp, n, np_dtype, chunk)
        if labels is not None:  # the labels land before the examples they belong to

            def write_labels(tmp_labels: str) -> None:
                with open(tmp_labels, "wb") as f:
                    np.save(f, labels)

            atomic_write(labels_path(path), write_labels)
        elif os.path.exists(labels_path(path)):  # the labels of an older file of that name
            os.remove(labels_path(path))

    atomic_write(path, write)
    return MemmapDataset(path)
