"""Readers of the named data sets' files, each in torchvision's layout, without any network.

Each reader takes the folder holding a data set's files and the split, and returns the raw
examples as uint8 ``(N, H, W)`` or ``(N, C, H, W)`` and the labels as int64 ``(N,)``, numbered
from 0. The MNIST-likes are read by torchvision's own classes (which check only that the files
exist); CIFAR-10 and SVHN are read here, because torchvision refuses any file whose MD5 is not the
published one (so it could not read the small files the tests write) and CIFAR-10's batches are
pickles, read here by an unpickler that rebuilds numpy arrays and nothing else.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any, Dict, Tuple

import numpy as np
import torch

__all__ = ["read_idx", "read_cifar10", "cifar10_classes", "read_svhn", "require_scipy", "CIFAR10_CLASSES"]

#: CIFAR-10's classes, as its ``batches.meta`` lists them
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

_NUMPY_CORE = "numpy._core" if int(np.__version__.split(".")[0]) >= 2 else "numpy.core"
#: the globals a pickle of plain numpy arrays needs (Python 2 and 3 pickles, numpy 1 and 2)
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
}


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles dictionaries, lists, strings, numbers and numpy arrays; refuses any other global,
    so a crafted file cannot run code."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: a CIFAR-10 batch holds only numpy "
                                         f"arrays and lists")
        if module.startswith("numpy.core") or module.startswith("numpy._core"):
            module = _NUMPY_CORE + module.split("core", 1)[1]
        return super().find_class(module, name)


def _unpickle(path: Path) -> Dict[str, Any]:
    try:
        with open(path, "rb") as f:
            d = _ArrayUnpickler(f, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as e:
        raise ValueError(f"{path} is not a CIFAR-10 batch ({e}); download the files again") from None
    if not isinstance(d, dict):
        raise ValueError(f"{path} is not a CIFAR-10 batch (it holds a {type(d).__name__}, not a dictionary)")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in d.items()}


def read_idx(cls_name: str, root: Path, train: bool, **kwargs: Any) -> Tuple[torch.Tensor, torch.Tensor]:
    """An MNIST-like split through ``torchvision.datasets.<cls_name>(root, train, download=False)``.

    :param str cls_name: ``"MNIST"``, ``"FashionMNIST"``, ``"KMNIST"`` or ``"EMNIST"``.
    :param Path root: the data directory (holding ``<cls_name>/raw/``).
    :returns: images uint8 ``(N, 28, 28)`` as stored, labels int64 ``(N,)`` as stored.
    """
    import torchvision.datasets as tvd

    ds = getattr(tvd, cls_name)(str(root), train=train, download=False, **kwargs)
    return ds.data, ds.targets.to(torch.int64)


def read_cifar10(folder: Path, train: bool) -> Tuple[torch.Tensor, torch.Tensor]:
    """A CIFAR-10 split from the python batches in ``folder`` (``cifar-10-batches-py/``).

    :returns: images uint8 ``(N, 3, 32, 32)``, labels int64 ``(N,)`` in 0..9.
    :raises ValueError: for a file that is not a batch of 32x32 RGB images with labels.
    """
    names = [f"data_batch_{i}" for i in range(1, 6)] if train else ["test_batch"]
    xs, ys = [], []
    for name in names:
        d = _unpickle(folder / name)
        data, labels = np.asarray(d.get("data")), d.get("labels")
        if labels is None or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32 \
                or len(labels) != data.shape[0]:
            raise ValueError(f"{folder / name} is not a CIFAR-10 batch: expected 'data' uint8 of shape (N, 3072) and "
                             f"N 'labels', got data {data.dtype} {data.shape}; download the files again")
        xs.append(data.reshape(-1, 3, 32, 32))
        ys.append(np.asarray(labels, dtype=np.int64))
    return torch.from_numpy(np.concatenate(xs)), torch.from_numpy(np.concatenate(ys))


def cifar10_classes(folder: Path) -> Tuple[str, ...]:
    """The class names in ``batches.meta`` (CIFAR-10's own list)."""
    names = _unpickle(folder / "batches.meta").get("label_names")
    if not isinstance(names, list) or len(names) != 10:
        raise ValueError(f"{folder / 'batches.meta'} does not list CIFAR-10's ten class names; download it again")
    return tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)


def require_scipy(what: str = "SVHN") -> None:
    """Raise a clear ImportError when scipy (which reads MATLAB ``.mat`` files) is missing."""
    try:
        import scipy.io  # noqa: F401
    except ImportError:
        raise ImportError(f"{what} is stored in MATLAB .mat files, which need scipy: pip install scipy") from None


def read_svhn(folder: Path, train: bool) -> Tuple[torch.Tensor, torch.Tensor]:
    """An SVHN split from ``train_32x32.mat`` / ``test_32x32.mat`` in ``folder``, as torchvision reads it.

    :returns: images uint8 ``(N, 3, 32, 32)``, labels int64 ``(N,)`` in 0..9 (the files' label 10,
        the digit 0, becomes 0 as in torchvision).
    :raises ImportError: without scipy.
    """
    require_scipy()
    import scipy.io

    path = folder / ("train_32x32.mat" if train else "test_32x32.mat")
    try:
        mat = scipy.io.loadmat(str(path))
        x, y = np.asarray(mat["X"]), np.asarray(mat["y"]).astype(np.int64).reshape(-1)
    except (KeyError, ValueError, OSError) as e:
        raise ValueError(f"{path} is not an SVHN file ({type(e).__name__}: {e}); download it again") from None
    if x.ndim != 4 or x.shape[:3] != (32, 32, 3) or x.shape[3] != y.shape[0]:
        raise ValueError(f"{path} is not an SVHN file: expected X of shape (32, 32, 3, N) and N labels y, got X "
                         f"{x.shape} and {y.shape[0]} labels; download it again")
    y[y == 10] = 0
    return torch.from_numpy(np.ascontiguousarray(x.transpose(3, 2, 0, 1)).astype(np.uint8)), torch.from_numpy(y)
