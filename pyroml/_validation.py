"""Argument checks shared by the library and the command line.

Every check raises before any work starts, with a message that names the argument, what was
expected, what came and, where there is one, the fix. One helper per kind of constraint, so a
constraint is declared once where the argument is taken and worded the same everywhere.
"""

from __future__ import annotations

import math
from typing import Any, Collection, Optional, Sequence, Tuple

__all__ = ["NotFittedError", "check_device", "check_int", "check_positive", "check_fraction", "check_choice",
           "check_sizes"]


class NotFittedError(ValueError):
    """A model was used before what it needs was there (e.g. its shape, taken from the data at
    the first fit)."""


def check_int(name: str, value: Any, low: int = 0, high: Optional[int] = None) -> int:
    """``value`` as an ``int`` in ``[low, high]`` (bools refused).

    :raises ValueError: naming ``name``, the range and the value that came.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        bound = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be an integer {bound}, got {value!r}")
    return int(value)


def check_positive(name: str, value: Any, allow_zero: bool = False) -> float:
    """``value`` as a finite ``float`` > 0 (``>= 0`` with ``allow_zero``).

    :raises ValueError: naming ``name`` and the value that came.
    """
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and \
        (value >= 0 if allow_zero else value > 0)
    if not ok:
        raise ValueError(f"{name} must be a finite number {'>= 0' if allow_zero else '> 0'}, got {value!r}")
    return float(value)


def check_fraction(name: str, value: Any) -> float:
    """``value`` as a ``float`` in ``[0, 1]``.

    :raises ValueError: naming ``name`` and the value that came.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
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
        out = tuple(int(h) for h in sizes)
    except (TypeError, ValueError):
        out = ()
    if not out or min(out) < 1:
        raise ValueError(f"{name} must be a non-empty sequence of positive sizes, got {sizes!r}")
    return out


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
