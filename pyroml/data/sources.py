"""Where examples come from: MNIST through torchvision, and the data-directory convention.

The data directory is resolved in this order: the ``root`` argument, the
environment variable ``$PYROML_DATA_DIR``, then ``./data``. Inside it MNIST
lives in torchvision's layout, ``<root>/MNIST/raw/*-ubyte``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Tuple, Union

import torch

from pyroml.data.datasets import Dataset

__all__ = ["load_mnist", "data_dir", "MNIST_FILES", "ENV_VAR"]

ENV_VAR = "PYROML_DATA_DIR"
MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def data_dir(root: Optional[Union[str, os.PathLike]] = None) -> Path:
    """The data directory: ``root``, else ``$PYROML_DATA_DIR``, else ``./data``."""
    if root is None:
        root = os.environ.get(ENV_VAR) or "data"
    return Path(root).expanduser()


def _missing_message(root: Path) -> str:
    raw = root / "MNIST" / "raw"
    missing = [f for f in MNIST_FILES if not (raw / f).exists()]
    return (
        f"MNIST not found: searched {raw} and it lacks {', '.join(missing)}.\n"
        f"Expected the four uncompressed MNIST files ({', '.join(MNIST_FILES)}) in "
        f"torchvision's layout <data dir>/MNIST/raw/.\n"
        f"To fix: with internet, pass download=True (command line: --download) to fetch them "
        f"into {root}; without internet, copy the four files into {raw}, or point "
        f"${ENV_VAR} (or --data-dir / root=) at a directory that holds MNIST/raw/."
    )


def load_mnist(
    root: Optional[Union[str, os.PathLike]] = None,
    download: bool = False,
    subset: Optional[int] = None,
    seed: int = 0,
) -> Tuple[Dataset, Dataset]:
    """Load MNIST as float32 images in [0, 1].

    :param root: data directory (default ``$PYROML_DATA_DIR``, else ``./data``).
    :param bool download: fetch the files through torchvision when missing.
    :param int subset: keep a random ``subset`` of each split (handy for quick runs).
    :param int seed: seed of the subset draw.
    :returns: ``(train, test)``; ``x`` of shape ``(N, 1, 28, 28)`` float32 in [0, 1],
        ``y`` of shape ``(N,)`` int64. N = 60000 and 10000 for the full splits.
    :raises FileNotFoundError: when the files are missing and ``download`` is False.
    """
    from torchvision.datasets import MNIST

    path = data_dir(root)
    raw = path / "MNIST" / "raw"
    if not download and not all((raw / f).exists() for f in MNIST_FILES):
        raise FileNotFoundError(_missing_message(path))
    splits = []
    for train in (True, False):
        ds = MNIST(str(path), train=train, download=download)
        x = ds.data.unsqueeze(1).to(torch.float32).div_(255.0)
        split = Dataset(x, ds.targets.to(torch.int64))
        splits.append(split if subset is None else split.subset(subset, seed))
    return splits[0], splits[1]
