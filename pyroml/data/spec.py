"""A small description of a data set that travels with it: what models, plots and reports read.

A :class:`DataSpec` says what one example looks like (its ``event_shape``), which values it
takes (its ``support``), what its classes are called and where it came from. It is inferred from
the examples (:meth:`DataSpec.infer`) whenever a :class:`~pyroml.data.Dataset` is built without
one, and it round-trips through JSON (:meth:`DataSpec.to_dict` / :meth:`DataSpec.from_dict`), so a
run's settings and a checkpoint can record it.

Supports, from the narrowest to the widest (:data:`SUPPORTS`):

- ``"binary"``: every value is 0 or 1 (binarised images);
- ``"unit"``: every value lies in the closed interval [0, 1] (grey levels, scaled pixels);
- ``"real"``: anything else (tables of measurements, standardised data).
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Any, Dict, Optional, Sequence, Tuple

import torch

from pyroml._validation import check_choice

__all__ = ["DataSpec", "SUPPORTS", "infer_support"]

#: the supports a :class:`DataSpec` can declare, from the narrowest to the widest
SUPPORTS: Tuple[str, ...] = ("binary", "unit", "real")


def infer_support(x: torch.Tensor) -> str:
    """The narrowest support of :data:`SUPPORTS` holding every value of ``x``.

    :param Tensor x: any numeric tensor (of any shape; an empty one is ``"binary"``, since every
        claim holds for no values).
    :returns: ``"binary"`` if every value is 0 or 1, else ``"unit"`` if every value lies in [0, 1],
        else ``"real"`` (NaN and infinite values make it ``"real"``).
    """
    if x.numel() == 0 or x.dtype == torch.bool:
        return "binary"
    if x.is_complex():
        return "real"
    lo, hi = torch.aminmax(x.detach())
    if not (bool(lo >= 0) and bool(hi <= 1)):  # NaN compares False: real
        return "real"
    if not x.is_floating_point():
        return "binary"  # integers within [0, 1]
    flat, start, size = x.detach().reshape(-1), 0, 1 << 12
    while start < flat.numel():  # in growing chunks: grey levels stop at the first, small ones
        chunk = flat[start:start + size]
        if not torch.equal(chunk, chunk.round()):  # within [0, 1]: integral means 0 or 1
            return "unit"
        start, size = start + size, min(size * 2, 1 << 16)
    return "binary"


def _clean_shape(event_shape: Any) -> Tuple[int, ...]:
    try:
        if isinstance(event_shape, (str, bytes)) or any(isinstance(s, bool) for s in event_shape):
            raise TypeError
        shape: Optional[Tuple[int, ...]] = tuple(operator.index(s) for s in event_shape)
    except TypeError:
        shape = None
    if shape is None or (shape and min(shape) < 0):
        raise ValueError(f"DataSpec.event_shape must be a sequence of non-negative integers such as (5,) or "
                         f"(1, 28, 28), got {event_shape!r}")
    return shape


@dataclass(frozen=True)
class DataSpec:
    """What one example of a data set looks like and which values it takes.

    :param event_shape: the shape of one example: ``(D,)`` for a table of D features,
        ``(C, H, W)`` for images (MNIST: ``(1, 28, 28)``, CIFAR-10: ``(3, 32, 32)``), ``()`` for
        scalar examples.
    :param str support: ``"binary"`` (values in {0, 1}), ``"unit"`` (values in [0, 1]) or
        ``"real"`` (anything else); see :data:`SUPPORTS`.
    :param class_names: the name of each class, label ``k`` being ``class_names[k]``, or ``None``.
    :param str name: the data set's name (``"fashion-mnist"``) or path, or ``None``.
    :param str fingerprint: a digest of the examples (:meth:`Dataset.fingerprint
        <pyroml.data.Dataset.fingerprint>`), or ``None`` when not computed.
    :raises ValueError: for a shape that is not a sequence of positive integers or an unknown support.
    """

    event_shape: Tuple[int, ...]
    support: str = "real"
    class_names: Optional[Tuple[str, ...]] = None
    name: Optional[str] = None
    fingerprint: Optional[str] = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "event_shape", _clean_shape(self.event_shape))
        check_choice("DataSpec.support", self.support, SUPPORTS)
        if self.class_names is not None:
            if isinstance(self.class_names, str):
                raise ValueError(f"DataSpec.class_names must be a sequence of names, got the string "
                                 f"{self.class_names!r}")
            object.__setattr__(self, "class_names", tuple(str(c) for c in self.class_names))
        if self.name is not None:
            object.__setattr__(self, "name", str(self.name))

    @property
    def is_image(self) -> bool:
        """Whether one example is an image ``(C, H, W)`` (a 3-d event shape)."""
        return len(self.event_shape) == 3

    @property
    def n_features(self) -> int:
        """The number of values in one example, the product of ``event_shape`` (784 for MNIST)."""
        return math.prod(self.event_shape)

    @property
    def n_classes(self) -> Optional[int]:
        """The number of classes, or ``None`` when the classes have no names."""
        return None if self.class_names is None else len(self.class_names)

    def fits(self, support: str) -> bool:
        """Whether this data's values lie within ``support`` (``"binary"`` data fit ``"unit"`` and
        ``"real"``; ``"unit"`` data fit ``"real"``).

        :raises ValueError: for a ``support`` not in :data:`SUPPORTS`.
        """
        check_choice("support", support, SUPPORTS)
        return SUPPORTS.index(self.support) <= SUPPORTS.index(support)

    @classmethod
    def infer(cls, x: torch.Tensor, class_names: Optional[Sequence[str]] = None,
              name: Optional[str] = None) -> DataSpec:
        """The spec of the examples ``x``.

        :param Tensor x: examples of shape ``(N, *event_shape)``, N >= 0 (``(N,)``: scalar examples,
            event shape ``()``).
        :param class_names: the name of each class, or ``None``.
        :param str name: the data set's name or path, or ``None``.
        :raises ValueError: when ``x`` is not a tensor with an example dimension.
        """
        if not isinstance(x, torch.Tensor) or x.dim() < 1:
            what = "a scalar tensor" if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"DataSpec.infer needs a tensor of examples of shape (N, *event_shape), e.g. (N, D) "
                             f"or (N, C, H, W), got {what}")
        return cls(tuple(x.shape[1:]), infer_support(x), None if class_names is None else tuple(class_names), name)

    def to_dict(self) -> Dict[str, Any]:
        """A JSON-ready dictionary (lists for tuples); :meth:`from_dict` reads it back."""
        return {
            "event_shape": list(self.event_shape),
            "support": self.support,
            "class_names": None if self.class_names is None else list(self.class_names),
            "name": self.name,
            "fingerprint": self.fingerprint,
        }

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> DataSpec:
        """The spec written by :meth:`to_dict` (keys it does not know are ignored, so a newer file loads).

        :raises ValueError: when ``event_shape`` is missing or a value is invalid.
        """
        if not isinstance(d, dict) or "event_shape" not in d:
            raise ValueError(f"a DataSpec dictionary needs at least 'event_shape' (and 'support'), got {d!r}")
        names = d.get("class_names")
        return cls(tuple(d["event_shape"]), d.get("support", "real"), None if names is None else tuple(names),
                   d.get("name"), d.get("fingerprint"))
