"""The scales a :class:`~pyroml.gp.GP` works on: inputs mapped to the unit cube, outputs standardised.

The default priors (:func:`pyroml.gp.default_priors`) are stated on these scales, so that they
transfer from one problem to the next whatever the units of ``x`` and ``y``:

.. math::

    z = (x - a) \\oslash (b - a) \\in [0, 1]^d, \\qquad
    \\tilde y = (y - \\bar y) / s_y,

with :math:`[a, b]` the box (given bounds, else the data's range per dimension; a dimension with
no spread gets width 1) and :math:`\\bar y, s_y` the mean and (unbiased) standard deviation of the
targets (:math:`s_y = 1` when the targets do not vary). Predictions come back on the original
scale: a mean :math:`m` as :math:`\\bar y + s_y m`, a variance :math:`v` as :math:`s_y^2 v`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch

__all__ = ["UnitCube", "Standardize", "as_bounds"]


def as_bounds(bounds: Any, d: int | None = None) -> torch.Tensor:
    """``bounds`` as a ``(2, d)`` float64 tensor of finite lows strictly below highs.

    :param bounds: ``(low, high)`` (one dimension) or a ``(2, d)`` tensor / nested sequence.
    :param int d: the expected number of dimensions (``None``: any).
    :raises ValueError: saying what was expected and what came.
    """
    b = torch.as_tensor(bounds, dtype=torch.float64)
    if b.dim() == 1:
        if b.numel() != 2:
            raise ValueError(f"1-d bounds must be (low, high), got {tuple(b.tolist())}")
        b = b[:, None]
    if b.dim() != 2 or b.shape[0] != 2:
        raise ValueError(f"bounds must be (low, high) or a (2, d) tensor of lows and highs, got shape {tuple(b.shape)}")
    if d is not None and b.shape[1] != d:
        raise ValueError(f"bounds cover {b.shape[1]} dimensions, the inputs have {d}")
    if not torch.isfinite(b).all() or not (b[0] < b[1]).all():
        raise ValueError(f"bounds need finite lows strictly below highs, got {b.tolist()}; "
                         f"write them as [[low_1, ..., low_d], [high_1, ..., high_d]]")
    return b


class UnitCube(NamedTuple):
    """The affine map of a box :math:`[a, b]` onto :math:`[0, 1]^d`: ``low`` :math:`a` and
    ``width`` :math:`b - a`, each of shape ``(d,)``."""

    low: torch.Tensor
    width: torch.Tensor

    @classmethod
    def from_bounds(cls, bounds: Any, d: int | None = None) -> UnitCube:
        """The map of the box ``bounds`` (``(2, d)``, see :func:`as_bounds`)."""
        b = as_bounds(bounds, d)
        return cls(b[0], b[1] - b[0])

    @classmethod
    def from_data(cls, X: torch.Tensor) -> UnitCube:
        """The map of the data's range ``X`` ``(N, d)`` per dimension (width 1 where it has none)."""
        low, high = X.min(0).values, X.max(0).values
        width = high - low
        return cls(low, torch.where(width > 0, width, torch.ones_like(width)))

    @classmethod
    def identity(cls, d: int) -> UnitCube:
        """No change: ``low = 0``, ``width = 1``."""
        return cls(torch.zeros(d, dtype=torch.float64), torch.ones(d, dtype=torch.float64))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """:math:`z = (x - a) / (b - a)`, shape of ``X`` ``(..., d)``."""
        return (X - self.low) / self.width

    def inverse(self, Z: torch.Tensor) -> torch.Tensor:
        """:math:`x = a + (b - a) z`, shape of ``Z`` ``(..., d)``."""
        return self.low + self.width * Z


class Standardize(NamedTuple):
    """:math:`\\tilde y = (y - \\bar y) / s_y`: ``shift`` :math:`\\bar y` and ``scale`` :math:`s_y`, floats."""

    shift: float
    scale: float

    @classmethod
    def from_data(cls, y: torch.Tensor) -> Standardize:
        """Mean and unbiased standard deviation of ``y`` ``(N,)`` (scale 1 if ``y`` does not vary)."""
        std = float(y.std()) if y.numel() > 1 else 0.0
        return cls(float(y.mean()), std if std > 0 and torch.isfinite(torch.tensor(std)) else 1.0)

    @classmethod
    def identity(cls) -> Standardize:
        """No change: ``shift = 0``, ``scale = 1``."""
        return cls(0.0, 1.0)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        """:math:`(y - \\bar y) / s_y`, any shape."""
        return (y - self.shift) / self.scale

    def inverse_mean(self, m: torch.Tensor) -> torch.Tensor:
        """A mean (or a function draw) back on the original scale: :math:`\\bar y + s_y m`."""
        return self.shift + self.scale * m

    def inverse_variance(self, v: torch.Tensor) -> torch.Tensor:
        """A variance (or covariance) back on the original scale: :math:`s_y^2 v`."""
        return (self.scale ** 2) * v
