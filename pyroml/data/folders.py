"""Image folders: one class per subfolder, images read with PIL."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from pyroml._validation import check_int
from pyroml.data.datasets import Dataset
from pyroml.data.spec import DataSpec

__all__ = ["from_folder", "IMAGE_EXTENSIONS"]

#: the file endings :func:`from_folder` reads by default (compared case-insensitively)
IMAGE_EXTENSIONS: Tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
#: PIL modes holding one grey channel (8-bit, 1-bit, 16/32-bit integer, float)
_GREY_MODES = ("L", "1", "I", "I;16", "I;16B", "I;16L", "F", "LA")


def _images_in(folder: Path, extensions: Tuple[str, ...]) -> List[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in extensions
                  and not p.name.startswith("."))


def _find(root: Path, extensions: Tuple[str, ...]) -> Tuple[List[Path], Optional[List[int]], Optional[List[str]]]:
    """The image files, their labels and the class names (labels and names ``None`` without subfolders)."""
    if not root.is_dir():
        raise FileNotFoundError(f"no folder at {root}" + (" (it is a file: from_csv reads CSV tables, from_arrays "
                                                           "numpy arrays)" if root.is_file() else ""))
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    top = _images_in(root, extensions)
    if not classes:
        if not top:
            raise ValueError(f"no images in {root}: expected one subfolder of images per class (or images directly "
                             f"in it), with endings {', '.join(extensions)}")
        return top, None, None
    if top:
        raise ValueError(f"{root} holds both class subfolders ({', '.join(classes[:3])}, ...) and images "
                         f"({top[0].name}, ...); move the images into their class's subfolder")
    files: List[Path] = []
    labels: List[int] = []
    empty = []
    for k, name in enumerate(classes):
        found = _images_in(root / name, extensions)
        if not found:
            empty.append(name)
        files += found
        labels += [k] * len(found)
    if empty:
        raise ValueError(f"no images in the class folder(s) {', '.join(empty)} of {root} (endings searched: "
                         f"{', '.join(extensions)}); every class subfolder needs at least one image, or remove it")
    return files, labels, classes


def _headers(files: List[Path]) -> List[Tuple[Tuple[int, int], str]]:
    """Each image's (width, height) and PIL mode, read from its header (no pixels decoded)."""
    from PIL import Image, UnidentifiedImageError

    out = []
    for f in files:
        try:
            with Image.open(f) as im:
                out.append((im.size, im.mode))
        except (UnidentifiedImageError, OSError) as e:
            raise ValueError(f"cannot read the image {f}: {e}; remove it or convert it to PNG") from None
    return out


def _pixels(path: Path, mode: str, size: Optional[Tuple[int, int]]) -> np.ndarray:
    """One image as a float32 array ``(H, W, C)`` in [0, 1] (16-bit grey scaled by 65535)."""
    from PIL import Image

    with Image.open(path) as im:
        if mode == "L" and (im.mode.startswith("I") or im.mode == "F"):  # 16/32-bit integer or float grey
            scale = 1.0 if im.mode == "F" else 65535.0
            im = im.convert("F")
        else:
            im, scale = im.convert(mode), 255.0
        if size is not None:
            im = im.resize((size[1], size[0]), Image.Resampling.BILINEAR)
        a = np.asarray(im, dtype=np.float32) / scale
    return np.clip(a, 0.0, 1.0)[:, :, None] if a.ndim == 2 else a


def _check_size(size: Any) -> Optional[Tuple[int, int]]:
    if size is None:
        return None
    if isinstance(size, int) and not isinstance(size, bool):
        size = (size, size)
    if not isinstance(size, (tuple, list)) or len(size) != 2:
        raise ValueError(f"size must be (height, width) or one integer for square images, got {size!r}")
    return check_int("size[0] (height)", size[0], low=1), check_int("size[1] (width)", size[1], low=1)


def from_folder(path: Union[str, os.PathLike], greyscale: bool = False, size: Union[int, Sequence[int], None] = None,
                extensions: Sequence[str] = IMAGE_EXTENSIONS) -> Dataset:
    """Images from a folder with one subfolder per class (or images directly in it, unlabelled).

    Classes are the subfolders' names in sorted order (label ``k`` is the ``k``-th name; hidden
    entries skipped); files with the given endings are read with PIL. Images become RGB
    (transparency dropped), unless ``greyscale`` or every image is greyscale, which keeps one
    channel. Pixels are divided by 255 (16-bit greyscale by 65535) into [0, 1]. All images must
    share one size, unless ``size`` resizes them (bilinear). Sizes and modes are read from the
    files' headers before any pixel is decoded, so a mismatch fails at once.

    :param path: the folder.
    :param bool greyscale: convert every image to one grey channel.
    :param size: ``(height, width)`` (or one integer for square images) to resize every image to.
    :param extensions: the file endings to read.
    :returns: a Dataset with ``x`` float32 of shape ``(N, C, H, W)`` (C = 1 or 3), ``y`` int64
        ``(N,)`` (``None`` without subfolders), and a spec carrying the class names and ``path``.
    :raises FileNotFoundError: when ``path`` is not a folder.
    :raises ValueError: for a folder without images, a class folder without images, an unreadable
        image, or images of different sizes without ``size`` (naming two files and their sizes).
    """
    hw = _check_size(size)
    ext = tuple(e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions)
    root = Path(path).expanduser()
    files, labels, classes = _find(root, ext)
    headers = _headers(files)
    if hw is None:
        first = headers[0][0]
        for f, (wh, _) in zip(files, headers):
            if wh != first:
                raise ValueError(f"images differ in size: {files[0]} is {first[1]}x{first[0]} (height x width) but "
                                 f"{f} is {wh[1]}x{wh[0]}; pass size=(height, width) to resize them all, e.g. "
                                 f"size=({first[1]}, {first[0]})")
        hw = (first[1], first[0])
    grey = greyscale or all(mode in _GREY_MODES for _, mode in headers)
    x = torch.empty(len(files), 1 if grey else 3, *hw, dtype=torch.float32)
    for i, f in enumerate(files):
        x[i] = torch.from_numpy(_pixels(f, "L" if grey else "RGB", None if hw == headers[i][0][::-1] else hw)
                                .transpose(2, 0, 1).copy())
    y = None if labels is None else torch.tensor(labels, dtype=torch.int64)
    return Dataset(x, y, DataSpec.infer(x, classes, str(root)))
