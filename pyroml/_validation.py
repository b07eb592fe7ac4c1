"""Argument checks shared by the library and the command line.

Every check raises before any work starts, with a message that names the argument, what was
expected, what came and, where there is one, the fix. One helper per kind of constraint, so a
constraint is declared once where the argument is taken and worded the same everywhere.
"""

from __future__ import annotations

import math
import numbers
import os
from pathlib import Path
from typing import Any, Collection, Optional, Sequence, Tuple

__all__ = ["NotFittedError", "check_device", "check_int", "check_positive", "check_fraction", "check_choice",
           "check_sizes", "check_output_file"]


class NotFittedError(ValueError):
    """A model was used before what it needs was there (e.g. its shape, taken from the data at
    the first fit)."""


def check_int(name: str, value: Any, low: int = 0, high: Optional[int] = None) -> int:
    """``value`` as an ``int`` in ``[low, high]`` (Python or NumPy integers; bools and floats refused).

    :raises ValueError: naming ``name``, the range and the value that came.
    """
    if not _is_int(value) or value < low or (high is not None and value > high):
        bound = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be an integer {bound}, got {value!r}")
    return int(value)


def check_positive(name: str, value: Any, allow_zero: bool = False) -> float:
    """``value`` as a finite ``float`` > 0 (``>= 0`` with ``allow_zero``).

    :raises ValueError: naming ``name`` and the value that came.
    """
    ok = _is_real(value) and math.isfinite(value) and \
        (value >= 0 if allow_zero else value > 0)
    if not ok:
        raise ValueError(f"{name} must be a finite number {'>= 0' if allow_zero else '> 0'}, got {value!r}")
    return float(value)


def check_fraction(name: str, value: Any) -> float:
    """``value`` as a ``float`` in ``[0, 1]``.

    :raises ValueError: naming ``name`` and the value that came.
    """
    if not _is_real(value) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
    return float(value)


def check_choice(name: str, value: Any, choices: Collection[Any]) -> Any:
    """``value`` if it is one of ``choices``.

    :raises ValueError: listing the choices.
    """
    if value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices, key=repr)}, got {value!r}")
    return value


def check_sizes(name: str, sizes: Sequence[int]) -> Tuple[int, ...]:
    """A non-empty sequence of positive layer sizes as a tuple of ints.

    :raises ValueError: naming ``name`` and what came.
    """
    try:
        items = tuple(sizes)
    except TypeError:
        items = ()
    # ints only: int(8.5) would silently truncate a size to 8, int(True) make a size of 1
    out = tuple(int(h) for h in items if _is_int(h))
    if not out or len(out) != len(items) or min(out) < 1:
        raise ValueError(f"{name} must be a non-empty sequence of positive sizes (whole numbers >= 1), got {sizes!r}")
    return out


def _is_int(value: Any) -> bool:
    """Whether ``value`` is an integer (a Python or NumPy integer), not a bool."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return type(value).__module__ == "numpy" and hasattr(value, "dtype") and value.dtype.kind in "iu"


def check_output_file(name: str, path: Any) -> Path:
    """``path`` as a file that can be written later, checked now (nothing is created): not a
    folder, under no file, and its nearest existing folder writable.

    :raises ValueError: naming ``name``, the path and what is in the way.
    """
    p = Path(os.fspath(path)).expanduser()
    if p.is_dir():
        raise ValueError(f"{name}={str(p)!r} is a folder; name a file in it, e.g. {str(p / 'checkpoint.pt')!r}")
    parent = p.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise ValueError(f"{name}={str(p)!r} cannot be written: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"{name}={str(p)!r} cannot be written: no permission to write in {parent}")
    return p


def _is_real(value: Any) -> bool:
    """Whether ``value`` is a real number (Python or NumPy; not a bool, not a tensor)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_device(device: Any) -> Any:
    """``device`` if torch can use it here.

    :raises ValueError: for a name torch does not know, or a CUDA/MPS device this machine lacks.
    """
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise ValueError(f"device must be a torch device such as 'cpu' or 'cuda', got {device!r} ({e})") from None
    if dev.type == "cuda" and (not torch.cuda.is_available() or (dev.index or 0) >= torch.cuda.device_count()):
        raise ValueError(f"device {device!r} is not available: this machine has {torch.cuda.device_count()} CUDA "
                         f"device(s); use device='cpu'")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {device!r} is not available here; use device='cpu'")
    return device
