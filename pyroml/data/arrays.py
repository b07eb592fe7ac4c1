"""Your own data in memory: numpy arrays, torch tensors and map-style torch datasets.

One rule turns values into the float32 examples every model takes, and one rule turns shapes into
``(N, D)`` tables or ``(N, C, H, W)`` images (see :func:`from_arrays`); the loaders of files
(:func:`~pyroml.data.from_csv`, :func:`~pyroml.data.from_folder`) and of named data sets end here.
"""

from __future__ import annotations

from typing import Any, List, Optional, Sequence, Tuple

import numpy as np
import torch

from pyroml.data.datasets import Dataset
from pyroml.data.spec import DataSpec

__all__ = ["from_arrays", "from_dataset", "encode_labels"]

#: channel counts recognised at the end of a 4-d array: greyscale, RGB, RGBA
_CHANNELS = (1, 3, 4)


def _as_array(v: Any, what: str) -> Any:
    """A tensor or a numpy array, numeric, real-valued; object and string arrays refused."""
    if isinstance(v, torch.Tensor):
        if v.is_complex():
            raise TypeError(f"{what} must hold real numbers, got a complex tensor ({v.dtype}); pass its real part "
                            f"or its absolute value")
        return v.detach()
    try:
        a = np.asarray(v)
    except ValueError as e:  # ragged nested lists
        raise ValueError(f"{what} must be a rectangular array, got {type(v).__name__} that numpy cannot stack: "
                         f"{e}") from None
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{what} must be numeric (bool, integer or float), got numpy dtype {a.dtype} "
                        f"({'strings' if a.dtype.kind in 'SU' else 'objects' if a.dtype.kind == 'O' else 'other'}); "
                        f"convert it with np.asarray(x, dtype=np.float32), or read a table with from_csv")
    return a


def _to_float(a: Any) -> torch.Tensor:
    """float32 values by the stated rule: uint8 / 255; bool and other integers as they are."""
    if isinstance(a, np.ndarray):
        if a.dtype == np.uint8:
            return torch.from_numpy(a.astype(np.float32)).div_(255.0)
        if a.dtype == np.float32 and a.dtype.isnative and a.flags.writeable:
            return torch.from_numpy(a)
        with np.errstate(over="ignore"):  # values beyond float32's range are refused by the caller
            return torch.from_numpy(a.astype(np.float32))  # also makes big-endian data native
    if a.dtype == torch.uint8:
        return a.to(torch.float32).div_(255.0)
    return a.to(torch.float32)


def _to_layout(x: torch.Tensor) -> torch.Tensor:
    """``(N,)`` → ``(N, 1)``; ``(N, H, W)`` → ``(N, 1, H, W)``; channels-last ``(N, H, W, C)`` →
    ``(N, C, H, W)``; ``(N, D)`` and ``(N, C, H, W)`` kept."""
    if x.dim() == 1:
        return x.unsqueeze(1)
    if x.dim() == 3:
        return x.unsqueeze(1)
    if x.dim() == 4 and x.shape[1] not in _CHANNELS and x.shape[3] in _CHANNELS:
        return x.permute(0, 3, 1, 2).contiguous()
    return x


def encode_labels(y: Any, n: int, class_names: Optional[Sequence[str]] = None
                  ) -> Tuple[torch.Tensor, Optional[Tuple[str, ...]]]:
    """Labels as int64 class indices of shape ``(n,)``, and the class names.

    Integer labels (or floats with integral values) are kept, ``class_names`` naming them; string
    labels become indices into ``class_names`` when given, else into their sorted unique values,
    which then are the class names.

    :param y: ``n`` labels (numpy, tensor or sequence; shape ``(n,)`` or ``(n, 1)``).
    :param int n: the number of examples the labels go with.
    :param class_names: the name of each class, or ``None``.
    :raises ValueError: for labels of another length, negative or non-integral labels, a label not
        among ``class_names``, or more classes than ``class_names`` names.
    """
    a = y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 1 or a.shape[0] != n:
        raise ValueError(f"labels and examples differ in length: x has {n} examples, y has shape {a.shape}; "
                         f"pass one label per example, of shape ({n},)")
    names = None if class_names is None else tuple(str(c) for c in class_names)
    if a.dtype.kind in "USO":
        strings = a.astype(str)
        names = names if names is not None else tuple(sorted(set(strings.tolist())))
        index = {c: i for i, c in enumerate(names)}
        unknown = sorted(set(strings.tolist()) - set(index))
        if unknown:
            raise ValueError(f"labels {unknown[:5]} are not among class_names {list(names)}; add them to "
                             f"class_names or leave class_names out to use the labels' sorted values")
        return torch.tensor([index[s] for s in strings.tolist()], dtype=torch.int64), names
    if a.dtype.kind not in "biuf":
        raise TypeError(f"labels must be integers or strings, got dtype {a.dtype}")
    if a.dtype.kind == "f" and not (np.isfinite(a).all() and (a == np.round(a)).all()):
        raise ValueError("labels must be class indices (integers), got non-integral values; for a real-valued "
                         "target, keep it among the features")
    labels = torch.from_numpy(a.astype(np.int64))
    if labels.numel() and int(labels.min()) < 0:
        raise ValueError(f"labels must be class indices >= 0, got {int(labels.min())}")
    if names is not None and labels.numel() and int(labels.max()) >= len(names):
        raise ValueError(f"label {int(labels.max())} has no name: class_names has {len(names)} names; "
                         f"pass one name per class")
    return labels, names


def from_arrays(x: Any, y: Any = None, class_names: Optional[Sequence[str]] = None,
                name: Optional[str] = None) -> Dataset:
    """A :class:`~pyroml.data.Dataset` from numpy arrays or torch tensors.

    **Values.** ``uint8`` data are 8-bit images (or values) and are divided by 255 into [0, 1];
    ``bool`` and other integer dtypes become float32 as they are (0/1 masks stay 0/1); float64,
    float16 and bfloat16 become float32; float32 is kept (sharing memory with a tensor or a
    writeable array).

    **Shapes.** ``(N,)`` → ``(N, 1)``; ``(N, D)``: a table, kept; ``(N, H, W)``: greyscale images
    → ``(N, 1, H, W)``; ``(N, C, H, W)`` kept; ``(N, H, W, C)`` with ``C`` in {1, 3, 4} and the
    second dimension not in {1, 3, 4}: channels-last images, → ``(N, C, H, W)``. Any other 4-d
    array is read as ``(N, C, H, W)``.

    :param x: ``N`` examples (numpy array, tensor or nested sequence), N >= 1.
    :param y: ``N`` labels (integers, or strings mapped to classes, see :func:`encode_labels`), or ``None``.
    :param class_names: the name of each class, or ``None``.
    :param str name: the data's name or path, recorded in the spec.
    :returns: a Dataset with ``x`` float32 of shape ``(N, D)`` or ``(N, C, H, W)``, ``y`` int64
        ``(N,)`` or ``None``, and its spec.
    :raises TypeError: for non-numeric (string, object, complex) data.
    :raises ValueError: for empty data, more than 4 dimensions, labels of another length, NaN or
        infinite values — all before any conversion — or values beyond float32's range.
    """
    a = _as_array(x, "x")
    shape = tuple(a.shape)
    if len(shape) == 0 or shape[0] == 0 or 0 in shape:
        raise ValueError(f"x is empty (shape {shape}); pass at least one example, of shape (N, D) or (N, C, H, W)")
    if len(shape) > 4:
        raise ValueError(f"x has {len(shape)} dimensions (shape {shape}); expected (N,), (N, D), (N, H, W), "
                         f"(N, C, H, W) or (N, H, W, C): flatten each example to (N, D) with x.reshape(N, -1)")
    labels, names = None, None if class_names is None else tuple(class_names)
    if y is not None:
        labels, names = encode_labels(y, shape[0], class_names)
    finite = torch.isfinite(a).all() if isinstance(a, torch.Tensor) else np.isfinite(a).all()
    if not bool(finite):
        n_bad = int((~torch.isfinite(a)).sum()) if isinstance(a, torch.Tensor) else int((~np.isfinite(a)).sum())
        raise ValueError(f"x has {n_bad} NaN or infinite values; models need finite data: drop or impute "
                         f"them first (e.g. x[~np.isfinite(x)] = 0, or keep the rows where np.isfinite(x).all(1))")
    t = _to_layout(_to_float(a))
    if not bool(torch.isfinite(t).all()):  # finite in float64, beyond float32's range (|x| > 3.4e38)
        raise ValueError(f"x has {int((~torch.isfinite(t)).sum())} values beyond float32's range (about ±3.4e38), "
                         f"which would become infinite; rescale the data (e.g. divide by its largest absolute value)")
    return Dataset(t, labels, DataSpec.infer(t, names, name))


def _item_parts(item: Any, i: int) -> Tuple[Any, Any]:
    """``(x, y)`` of one item of a torch dataset (``y`` None for a bare example)."""
    if isinstance(item, (torch.Tensor, np.ndarray)):
        return item, None
    if isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[0], (torch.Tensor, np.ndarray)):
        return item[0], item[1]
    kind = type(item).__name__
    if isinstance(item, (tuple, list)):
        kind = f"{kind} of {len(item)} ({', '.join(type(v).__name__ for v in item)})"
    hint = " (a PIL image: give the torchvision dataset transform=torchvision.transforms.ToTensor())" \
        if type(item).__module__.startswith("PIL") or (isinstance(item, (tuple, list)) and item
                                                       and type(item[0]).__module__.startswith("PIL")) else ""
    raise TypeError(f"item {i} of the dataset is a {kind}; from_dataset takes items that are a tensor (or "
                    f"numpy array) or an (x, y) pair with x a tensor{hint}")


def from_dataset(ds: Any, name: Optional[str] = None, class_names: Optional[Sequence[str]] = None) -> Dataset:
    """Materialise a map-style ``torch.utils.data.Dataset`` (anything with ``len`` and integer
    indexing) in memory.

    Each item is an example (a tensor or numpy array, all of one shape) or an ``(x, y)`` pair with
    ``y`` a label. The stacked examples go through :func:`from_arrays`' rules (uint8 / 255,
    channels-last images transposed). Class names come from ``class_names``, else from the
    dataset's ``classes`` attribute (as torchvision's datasets have), else none.

    :param ds: the dataset (``len(ds)`` >= 1).
    :param str name: the data's name, recorded in the spec.
    :returns: a Dataset as :func:`from_arrays` returns it.
    :raises TypeError: for items of another kind (naming the type), or a dataset without ``len``.
    :raises ValueError: for an empty dataset, or items of different shapes (naming both).
    """
    if not hasattr(ds, "__len__") or not hasattr(ds, "__getitem__"):
        raise TypeError(f"from_dataset takes a map-style torch Dataset (with __len__ and __getitem__), got "
                        f"{type(ds).__name__}; materialise an iterable one with list(...) first")
    n = len(ds)
    if n == 0:
        raise ValueError("the dataset is empty; pass one with at least one item")
    xs: List[torch.Tensor] = []
    ys: List[Any] = []
    for i in range(n):
        xi, yi = _item_parts(ds[i], i)
        xi = torch.as_tensor(xi)
        if xs and xi.shape != xs[0].shape:
            raise ValueError(f"items differ in shape: item 0 is {tuple(xs[0].shape)}, item {i} is "
                             f"{tuple(xi.shape)}; resize them to one shape (e.g. a transform in the dataset)")
        xs.append(xi)
        ys.append(yi)
    has_y = [v is not None for v in ys]
    if any(has_y) and not all(has_y):
        raise TypeError(f"item {has_y.index(not has_y[0])} differs from item 0 in having a label; give every item "
                        f"a label, or none")
    labels = None
    if all(has_y):
        labels = [v.item() if isinstance(v, (torch.Tensor, np.ndarray)) else v for v in ys]
    if class_names is None:
        classes = getattr(ds, "classes", None)
        if isinstance(classes, (list, tuple)) and all(isinstance(c, str) for c in classes):
            class_names = classes
    return from_arrays(torch.stack(xs), labels, class_names, name)
