"""One entry point for data in a file or folder, by its kind."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple, Union

import numpy as np

from pyroml.data.arrays import from_arrays
from pyroml.data.datasets import Dataset
from pyroml.data.folders import from_folder
from pyroml.data.tables import from_csv

__all__ = ["from_path", "PATH_KINDS"]

#: what :func:`from_path` reads
PATH_KINDS = ("a .npy file (examples)", "a .npz file (x[, y] or x_train, x_test[, y_train, y_test])",
              "a .csv file (a table)", "a folder of images (one subfolder per class)")


def from_path(path: Union[str, os.PathLike], label_column: Union[str, int, None] = None,
              size: Optional[Sequence[int]] = None, greyscale: bool = False, test_fraction: float = 0.1,
              seed: int = 0) -> Tuple[Dataset, Dataset]:
    """``(train, test)`` from a file or folder, by its kind:

    * ``.npy``: an array of examples (:func:`~pyroml.data.from_arrays`'s rules);
    * ``.npz``: arrays ``x`` (and ``y``), or ``x_train``, ``x_test`` (and ``y_train``, ``y_test``),
      the latter used as the given split;
    * ``.csv``: a table (:func:`~pyroml.data.from_csv`, labels from ``label_column``);
    * a folder: images, one subfolder per class (:func:`~pyroml.data.from_folder` with ``size``
      and ``greyscale``).

    Without a given split, a random ``test_fraction`` of the examples (seeded by ``seed``) is the
    test part (:meth:`Dataset.split`).

    :raises FileNotFoundError: when nothing is at ``path``.
    :raises ValueError: for a kind of file it does not read, or arrays it cannot use.
    """
    p = Path(path).expanduser()
    name = str(p)
    if not p.exists():
        raise FileNotFoundError(f"no data at {p}: expected {', '.join(PATH_KINDS)}")
    if p.is_dir():
        return from_folder(p, greyscale=greyscale, size=size).split(test_fraction, seed)
    suffix = p.suffix.lower()
    if suffix == ".csv":
        return from_csv(p, label_column=label_column).split(test_fraction, seed)
    if suffix == ".npy":
        return from_arrays(_load_npy(p), name=name).split(test_fraction, seed)
    if suffix == ".npz":
        arrays = _load_npz(p)
        keys = set(arrays)
        if {"x_train", "x_test"} <= keys:
            return (from_arrays(arrays["x_train"], arrays.get("y_train"), name=name),
                    from_arrays(arrays["x_test"], arrays.get("y_test"), name=name))
        if "x" in keys:
            return from_arrays(arrays["x"], arrays.get("y"), name=name).split(test_fraction, seed)
        raise ValueError(f"{p} holds arrays {sorted(keys)}; expected x (and y), or x_train and x_test "
                         f"(and y_train, y_test)")
    raise ValueError(f"cannot read {p}: expected {', '.join(PATH_KINDS)}")


def _unreadable(p: Path, e: Exception) -> ValueError:
    # numpy's own message advises allow_pickle=True, i.e. running the file's code: not repeated here
    why = "not a file numpy wrote, or one holding Python objects" if "pickle" in str(e).lower() else \
        " ".join(str(e).split())[:200]
    return ValueError(f"cannot read {p} as numeric arrays ({why}); write it with np.save / np.savez from "
                      f"numeric arrays (arrays of Python objects are refused: loading them could run code)")


def _load_npy(p: Path) -> np.ndarray:
    """The array in a ``.npy`` file, read without pickles; :raises ValueError: saying why not."""
    try:
        return np.load(p, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise _unreadable(p, e) from None


def _load_npz(p: Path) -> Dict[str, np.ndarray]:
    """Every array of a ``.npz`` file, read without pickles; :raises ValueError: saying why not."""
    try:
        with np.load(p, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise _unreadable(p, e) from None
