"""Examples in memory, with their labels and a :class:`~pyroml.data.DataSpec` describing them."""

from __future__ import annotations

import dataclasses
import hashlib
import os
from dataclasses import dataclass
from typing import Any, Dict, Optional, Sequence, Tuple, Union

import torch

from pyroml._validation import check_int
from pyroml.data.spec import DataSpec

__all__ = ["Dataset", "Data", "as_tensors", "data_record"]


@dataclass
class Dataset:
    """Examples with optional labels and a description of them.

    :param Tensor x: the examples, of shape ``(N, *event_shape)`` (MNIST: ``(N, 1, 28, 28)``
        float32 in [0, 1]; a table: ``(N, D)``).
    :param Tensor y: integer labels of shape ``(N,)``, or ``None``.
    :param DataSpec spec: what one example looks like (event shape, support, class names, name);
        inferred from ``x`` when not given (:meth:`DataSpec.infer`).
    :raises TypeError: when ``x`` is not a tensor.
    :raises ValueError: when ``x`` has no example dimension, when ``y`` has another length than
        ``x``, or when ``spec.event_shape`` is not the shape of one example of ``x``.
    """

    x: torch.Tensor
    y: Optional[torch.Tensor] = None
    spec: DataSpec = None  # type: ignore[assignment]  # None: inferred in __post_init__, so never None after

    def __post_init__(self) -> None:
        if not isinstance(self.x, torch.Tensor):
            raise TypeError(f"Dataset.x must be a torch.Tensor, got {type(self.x).__name__}; "
                            f"pyroml.data.from_arrays(x, y) converts numpy arrays")
        if self.x.dim() < 1:
            raise ValueError("Dataset.x must have a leading example dimension, got a scalar")
        if self.y is not None:
            if not isinstance(self.y, torch.Tensor):
                self.y = torch.as_tensor(self.y)
            if self.y.shape[:1] != self.x.shape[:1]:
                raise ValueError(
                    f"labels and examples differ in length: x has {self.x.shape[0]} examples, "
                    f"y has {self.y.shape[0] if self.y.dim() else 0} labels; pass one label per example"
                )
        if self.spec is None:
            self.spec = DataSpec.infer(self.x)
        elif not isinstance(self.spec, DataSpec):
            raise TypeError(f"Dataset.spec must be a pyroml.data.DataSpec or None, got {type(self.spec).__name__}")
        elif tuple(self.x.shape[1:]) != self.spec.event_shape:
            raise ValueError(f"Dataset.spec says one example has shape {self.spec.event_shape}, but x of shape "
                             f"{tuple(self.x.shape)} has examples of shape {tuple(self.x.shape[1:])}; pass a "
                             f"matching spec, or none to infer it")

    def __len__(self) -> int:
        return self.x.shape[0]

    def __getitem__(self, index: Any) -> Dataset:
        """The examples at ``index`` (a slice, an index tensor, a boolean mask; an integer gives a
        one-example Dataset), with the same spec less its fingerprint."""
        if isinstance(index, int) and not isinstance(index, bool):
            if not -len(self) <= index < len(self):
                raise IndexError(f"index {index} is out of range for a Dataset of {len(self)} examples")
            index = slice(index, index + 1 if index != -1 else None)
        spec = dataclasses.replace(self.spec, fingerprint=None)
        return Dataset(self.x[index], None if self.y is None else self.y[index], spec)

    @property
    def class_names(self) -> Optional[Tuple[str, ...]]:
        """The name of each class (label ``k`` is ``class_names[k]``), or ``None``."""
        return self.spec.class_names

    def subset(self, n: int, seed: int = 0) -> Dataset:
        """A random subset of ``n`` examples (all of them if ``n >= len(self)``), spec kept.

        :raises ValueError: for ``n`` < 1."""
        check_int("n", n, 1)
        if n >= len(self):
            return self
        g = torch.Generator().manual_seed(seed)
        return self[torch.randperm(len(self), generator=g)[:n]]

    def split(self, test_fraction: float = 0.1, seed: int = 0) -> Tuple[Dataset, Dataset]:
        """``(train, test)``: a random ``test_fraction`` of the examples held out (at least one
        in each part), the same for the same seed; specs kept.

        :raises ValueError: for a fraction outside (0, 1) or fewer than two examples.
        """
        if not (isinstance(test_fraction, float) and 0.0 < test_fraction < 1.0):
            raise ValueError(f"test_fraction must be a number in (0, 1), got {test_fraction!r}")
        if len(self) < 2:
            raise ValueError(f"cannot split {len(self)} example(s) into a training and a test part")
        n_test = min(max(1, round(test_fraction * len(self))), len(self) - 1)
        perm = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))
        return self[perm[n_test:]], self[perm[:n_test]]

    def to(self, device: Union[str, torch.device]) -> Dataset:
        """The same data on ``device``, spec kept."""
        return Dataset(self.x.to(device), None if self.y is None else self.y.to(device), self.spec)

    def fingerprint(self) -> str:
        """A short stable digest of the examples: the first 16 hex digits of the SHA-256 of their
        dtype, shape and bytes (labels and spec excluded).

        Equal examples give equal fingerprints on any machine (little-endian) and device; it reads
        every byte once (about 0.2 s for MNIST's 60000 x 1 x 28 x 28 float32 training set).
        """
        x = self.x.detach().cpu().contiguous()
        h = hashlib.sha256(f"{x.dtype}{tuple(x.shape)}".encode())
        if x.numel():
            h.update(x.reshape(-1).view(torch.uint8).numpy().data)
        return h.hexdigest()[:16]


def data_record(train: Dataset, test: Optional[Dataset] = None, source: Optional[str] = None) -> Dict[str, Any]:
    """What a run was trained on, as its settings record it: the source (a data set's name or a
    path; default ``train.spec.name``), the split sizes and the training examples' fingerprint
    (:meth:`Dataset.fingerprint`) — JSON-ready."""
    record: Dict[str, Any] = {"source": source if source is not None else train.spec.name, "n_train": len(train)}
    if test is not None:
        record["n_test"] = len(test)
    return {**record, "fingerprint": train.fingerprint()}


#: what :func:`pyroml.fit` and :func:`pyroml.evaluate` take as data
Data = Union[Dataset, torch.Tensor, Sequence[torch.Tensor]]


def as_tensors(data: Data) -> Tuple[torch.Tensor, ...]:
    """The tensors a model's ``model(*batch)`` takes: ``(x,)`` for a :class:`Dataset` or a
    tensor, the tuple itself for a tuple of tensors sharing their first dimension (e.g. a GP's
    ``(X, y)``).

    :raises TypeError, ValueError: for anything else, or tensors of different lengths.
    """
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
    hint = ""
    if type(data).__module__ == "numpy" or isinstance(data, (list, tuple)):
        hint = "; pyroml.data.from_arrays(x) converts numpy arrays and nested lists"
    elif isinstance(data, (str, os.PathLike)):
        hint = "; read a file with pyroml.data.from_path(path) (or from_csv, from_folder)"
    raise TypeError(f"data must be a pyroml.data.Dataset, a Tensor or a tuple of Tensors, "
                    f"got {type(data).__name__}{hint}")
