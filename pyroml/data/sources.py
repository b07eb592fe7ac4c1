"""Data sets by name, through torchvision's file layouts, offline first; and the data-directory convention.

The data directory is resolved in this order: the ``root`` argument, the environment variable
``$PYROML_DATA_DIR``, then ``./data``. Inside it each data set lives in torchvision's layout
(``<data dir>/MNIST/raw/*-ubyte``, ``<data dir>/cifar-10-batches-py/``, ...). :func:`load` looks
for the files first and touches the network only when they are missing and ``download=True``.
"""

from __future__ import annotations

import contextlib
import os
import string
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import torch

from pyroml._validation import check_int
from pyroml.data import formats
from pyroml.data.arrays import from_arrays
from pyroml.data.datasets import Dataset

__all__ = ["load", "load_mnist", "data_dir", "dataset_names", "DATASETS", "DownloadError", "MNIST_FILES",
           "ENV_VAR"]

ENV_VAR = "PYROML_DATA_DIR"
MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
_EMNIST_LETTERS_FILES = tuple(f"emnist-letters-{split}-{kind}" for split in ("train", "test")
                              for kind in ("images-idx3-ubyte", "labels-idx1-ubyte"))
_DIGITS = tuple(string.digits)


class DownloadError(ConnectionError):
    """A data set's download failed (no internet, a mirror down, a corrupted file)."""


@dataclass(frozen=True)
class _Source:
    """Where a named data set's files are and how to read and fetch them."""

    title: str                      #: its usual name, first word of the messages
    description: str                #: one line for listings
    folders: Tuple[str, ...]        #: where its files may be, relative to the data dir; the first is the usual one
    files: Tuple[str, ...]          #: the files that must all be there
    class_names: Tuple[str, ...]
    torchvision: str                #: the torchvision.datasets class
    kind: str = "idx"               #: the file format: "idx", "cifar10" or "svhn"


_SOURCES: Dict[str, _Source] = {
    "mnist": _Source("MNIST", "handwritten digits 0-9, 1x28x28 grey, 60000 train / 10000 test",
                     ("MNIST/raw",), MNIST_FILES, _DIGITS, "MNIST"),
    "fashion-mnist": _Source(
        "Fashion-MNIST", "Zalando's clothing images in 10 classes, 1x28x28 grey, 60000 train / 10000 test",
        ("FashionMNIST/raw",), MNIST_FILES,
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        "FashionMNIST"),
    "kmnist": _Source("KMNIST", "Kuzushiji-MNIST, cursive Japanese characters in 10 classes, 1x28x28 grey, "
                      "60000 train / 10000 test", ("KMNIST/raw",), MNIST_FILES,
                      ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"), "KMNIST"),
    "emnist-letters": _Source("EMNIST letters", "handwritten letters a-z (upper and lower case merged), 1x28x28 "
                              "grey, 124800 train / 20800 test", ("EMNIST/raw",), _EMNIST_LETTERS_FILES,
                              tuple(string.ascii_lowercase), "EMNIST"),
    "cifar10": _Source("CIFAR-10", "small photos in 10 classes, 3x32x32 RGB, 50000 train / 10000 test",
                       ("cifar-10-batches-py",),
                       tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch", "batches.meta"),
                       formats.CIFAR10_CLASSES, "CIFAR10", "cifar10"),
    "svhn": _Source("SVHN", "street-view house-number digits 0-9, 3x32x32 RGB, 73257 train / 26032 test "
                    "(needs scipy)", ("SVHN", "."), ("train_32x32.mat", "test_32x32.mat"), _DIGITS, "SVHN", "svhn"),
}
_ALIASES = {"fashionmnist": "fashion-mnist", "fmnist": "fashion-mnist", "cifar-10": "cifar10",
            "emnistletters": "emnist-letters", "emnist": "emnist-letters"}

#: the data sets :func:`load` knows, name -> one-line description
DATASETS: Dict[str, str] = {name: f"{src.title}: {src.description}" for name, src in _SOURCES.items()}


def dataset_names() -> Tuple[str, ...]:
    """The names :func:`load` takes, e.g. for a command line's choices: ``("mnist", "fashion-mnist", ...)``."""
    return tuple(_SOURCES)


def data_dir(root: Optional[Union[str, os.PathLike]] = None) -> Path:
    """The data directory: ``root``, else ``$PYROML_DATA_DIR``, else ``./data``."""
    if root is None:
        root = os.environ.get(ENV_VAR) or "data"
    return Path(root).expanduser()


def _canonical(name: Any) -> str:
    key = name.strip().lower().replace("_", "-") if isinstance(name, str) else None
    key = _ALIASES.get(key or "", key)
    if key not in _SOURCES:
        raise ValueError(f"unknown dataset {name!r}; pyroml.data.load knows {', '.join(_SOURCES)}. For your own "
                         f"data use pyroml.data.from_arrays, from_csv or from_folder")
    return key


def _locate(src: _Source, root: Path) -> Optional[Path]:
    """The first of the source's folders under ``root`` that holds all its files."""
    for folder in src.folders:
        if all((root / folder / f).is_file() for f in src.files):
            return root / folder  # pathlib drops a "." component
    return None


def _missing_message(name: str, src: _Source, root: Path) -> str:
    folder = root / src.folders[0]
    missing = [f for f in src.files if not (folder / f).exists()]
    if len(src.folders) == 1:
        searched = f"searched {folder} and it lacks {', '.join(missing)}"
    else:
        searched = f"searched {' and '.join(str(root / f) for f in src.folders)}, and neither holds them all"
    return (
        f"{src.title} not found: {searched}.\n"
        f"Expected the files {', '.join(src.files)} in torchvision's layout <data dir>/{src.folders[0]}/.\n"
        f"To fix: with internet, pass download=True to fetch them into {root} (the command line downloads unless "
        f"--no-download: pyroml train MODEL --dataset {name} --data-dir {root}); without internet, fetch them "
        f"that way on a machine with internet and copy them into {folder}, or point ${ENV_VAR} (or --data-dir / "
        f"root=) at a directory that holds {src.folders[0]}/."
    )


def _fetch(name: str, src: _Source, root: Path) -> Path:
    """Download through torchvision into ``root`` and return the folder holding the files; on
    failure remove the empty folders it created and raise one :class:`DownloadError` with the two fixes."""
    target = root / src.folders[0]
    created: List[Path] = []
    p = target
    while not p.exists() and p != p.parent:
        created.append(p)
        p = p.parent
    try:
        _download(src, root)
        folder = _locate(src, root)
        if folder is None:
            raise FileNotFoundError(f"after the download {target} still lacks some of {', '.join(src.files)}")
        return folder
    except Exception as e:
        if created:
            for dirpath, _, _ in sorted(os.walk(created[-1]), key=lambda t: -len(t[0])):
                with contextlib.suppress(OSError):
                    os.rmdir(dirpath)  # only empty folders go
        raise DownloadError(
            f"downloading {src.title} into {root} failed ({type(e).__name__}: {' '.join(str(e).split())}).\n"
            f"To fix: on a machine with internet, run pyroml.data.load({name!r}, root=DIR, download=True) (or "
            f"pyroml train MODEL --dataset {name} --data-dir DIR) and copy DIR/{src.folders[0]}/ to {target}; "
            f"or copy the files {', '.join(src.files)} into {target} yourself, or point ${ENV_VAR} (or "
            f"--data-dir / root=) at a directory that holds {src.folders[0]}/."
        ) from e


def _download(src: _Source, root: Path) -> None:
    """Fetch the files with torchvision's URLs and checksums."""
    import torchvision.datasets as tvd
    from torchvision.datasets.utils import download_and_extract_archive, download_url

    if src.kind == "cifar10":
        c = tvd.CIFAR10
        download_and_extract_archive(c.url, str(root), filename=c.filename, md5=c.tgz_md5)
    elif src.kind == "svhn":
        for split in ("train", "test"):
            url, filename, md5 = tvd.SVHN.split_list[split]
            download_url(url, str(root / src.folders[0]), filename, md5)
    else:
        extra = {"split": "letters"} if src.torchvision == "EMNIST" else {}
        getattr(tvd, src.torchvision)(str(root), train=True, download=True, **extra)


def _read(src: _Source, root: Path, folder: Path, train: bool) -> Tuple[torch.Tensor, torch.Tensor]:
    """One split's raw images (uint8) and labels (int64, from 0), upright.

    :raises ValueError: for a truncated or corrupt file, naming the folder.
    """
    try:
        return _read_files(src, root, folder, train)
    except (RuntimeError, EOFError, struct.error, OSError) as e:
        split = "training" if train else "test"
        raise ValueError(f"the {src.title} {split} files in {folder} are truncated or corrupt ({e}); replace them "
                         f"with complete copies (or delete them and download again)") from None


def _read_files(src: _Source, root: Path, folder: Path, train: bool) -> Tuple[torch.Tensor, torch.Tensor]:
    if src.kind == "cifar10":
        return formats.read_cifar10(folder, train)
    if src.kind == "svhn":
        return formats.read_svhn(folder, train)
    if src.torchvision == "EMNIST":  # stored transposed, labels 1..26
        x, y = formats.read_idx("EMNIST", root, train, split="letters")
        return x.transpose(1, 2).contiguous(), y - 1
    return formats.read_idx(src.torchvision, root, train)


def load(
    name: str,
    root: Optional[Union[str, os.PathLike]] = None,
    download: bool = False,
    subset: Optional[int] = None,
    seed: int = 0,
) -> Tuple[Dataset, Dataset]:
    """A data set by name, as float32 images in [0, 1] with integer labels and class names.

    Offline first: the files are looked for in the data directory, in torchvision's layout
    (``MNIST/raw/``, ``FashionMNIST/raw/``, ``KMNIST/raw/``, ``EMNIST/raw/`` with the
    ``emnist-letters-*`` files, ``cifar-10-batches-py/``, ``SVHN/`` or the directory itself for
    SVHN's ``.mat`` files); the network is used only when they are missing and ``download`` is True.
    EMNIST letters are turned upright and labelled 0..25 for a..z; SVHN's label 10 (the digit 0)
    is 0, as in torchvision.

    :param str name: one of :func:`dataset_names` (see :data:`DATASETS`): ``"mnist"``,
        ``"fashion-mnist"``, ``"kmnist"``, ``"emnist-letters"``, ``"cifar10"``, ``"svhn"``.
    :param root: data directory (default ``$PYROML_DATA_DIR``, else ``./data``).
    :param bool download: fetch the files through torchvision when missing.
    :param int subset: keep a random ``subset`` of each split (handy for quick runs).
    :param int seed: seed of the subset draw.
    :returns: ``(train, test)``; ``x`` float32 in [0, 1] of shape ``(N, 1, 28, 28)`` for the
        MNIST-likes and ``(N, 3, 32, 32)`` for CIFAR-10 and SVHN, ``y`` int64 ``(N,)``, and a spec
        naming the data set and its classes.
    :raises ValueError: for an unknown name or a bad ``subset``.
    :raises FileNotFoundError: when the files are missing and ``download`` is False (naming the
        directory searched, the files expected and the fixes).
    :raises DownloadError: when ``download`` is True and the download fails.
    :raises ImportError: for SVHN without scipy.
    """
    key = _canonical(name)
    src = _SOURCES[key]
    if subset is not None:
        check_int("subset", subset, low=1)
    if src.kind == "svhn":
        formats.require_scipy()
    path = data_dir(root)
    folder = _locate(src, path)
    if folder is None:
        if not download:
            raise FileNotFoundError(_missing_message(key, src, path))
        folder = _fetch(key, src, path)
    names = formats.cifar10_classes(folder) if src.kind == "cifar10" else src.class_names
    splits = []
    for train in (True, False):
        x, y = _read(src, path, folder, train)
        split = from_arrays(x, y, names, key)
        splits.append(split if subset is None else split.subset(subset, seed))
    return splits[0], splits[1]


def load_mnist(
    root: Optional[Union[str, os.PathLike]] = None,
    download: bool = False,
    subset: Optional[int] = None,
    seed: int = 0,
) -> Tuple[Dataset, Dataset]:
    """Load MNIST as float32 images in [0, 1]: ``load("mnist", root, download, subset, seed)``.

    :param root: data directory (default ``$PYROML_DATA_DIR``, else ``./data``).
    :param bool download: fetch the files through torchvision when missing.
    :param int subset: keep a random ``subset`` of each split (handy for quick runs).
    :param int seed: seed of the subset draw.
    :returns: ``(train, test)``; ``x`` of shape ``(N, 1, 28, 28)`` float32 in [0, 1],
        ``y`` of shape ``(N,)`` int64, class names ``"0"`` .. ``"9"``. N = 60000 and 10000 for
        the full splits.
    :raises FileNotFoundError: when the files are missing and ``download`` is False.
    """
    return load("mnist", root, download, subset, seed)
