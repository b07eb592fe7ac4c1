"""A monotone warp of the observed values before BO's GP sees them (Yeo-Johnson, fitted by ML).

Objectives seldom have Gaussian-looking values: a few evaluations far up a steep wall
(Rosenbrock, Branin, the edge of Forrester's box) take the standardised scale, so that every
good value looks alike and one bad value can stretch the fitted lengthscale to the whole box.
Following HEBO (Cowen-Rivers et al., 2022), BO fits its GP to warped values
:math:`w = \\psi_\\lambda(\\tilde y)` of the standardised observations :math:`\\tilde y = (y - \\bar y)/s_y`,
with the Yeo-Johnson power transform

.. math::

    \\psi_\\lambda(u) = \\begin{cases}
        ((1 + u)^\\lambda - 1)/\\lambda & u \\ge 0,\\ \\lambda \\ne 0 \\\\
        \\log(1 + u) & u \\ge 0,\\ \\lambda = 0 \\\\
        -((1 - u)^{2 - \\lambda} - 1)/(2 - \\lambda) & u < 0
    \\end{cases}

and :math:`\\lambda` maximising the profile log-likelihood of a Gaussian for :math:`w`,

.. math::

    -\\tfrac n2 \\log \\hat\\sigma^2_w(\\lambda)
    + (\\lambda - 1)\\sum_i \\mathrm{sign}(\\tilde y_i)\\log(1 + |\\tilde y_i|),

over a grid of :math:`\\lambda \\in [0, 1]` (step 0.05). The upper limit :math:`\\lambda \\le 1` is
BO's own: :math:`\\lambda = 1` is the identity, and :math:`\\lambda < 1` compresses the *high*
(bad, for a minimisation) tail and stretches the low one, so the warp never hides differences
among the best values; a symmetric sample keeps :math:`\\lambda = 1`. The warp is strictly
increasing, so the order of the values, and with it the incumbent and the meaning of an
improvement, is unchanged; the acquisition is computed on the warped scale.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from pyroml.gp.transforms import Standardize

__all__ = ["YeoJohnson", "yeo_johnson"]

_LAMBDAS = torch.linspace(0.0, 1.0, 21, dtype=torch.float64)


def yeo_johnson(u: torch.Tensor, lam: torch.Tensor | float) -> torch.Tensor:
    """:math:`\\psi_\\lambda(u)` elementwise; ``lam`` broadcasts against ``u`` (e.g. ``(L, 1)`` with ``u`` ``(n,)``)."""
    lam = torch.as_tensor(lam, dtype=u.dtype)
    pos = u >= 0
    up, un = u.clamp_min(0), u.clamp_max(0)
    small = lam.abs() < 1e-8
    p = torch.where(small, torch.log1p(up), ((1 + up) ** lam - 1) / torch.where(small, torch.ones_like(lam), lam))
    two = 2 - lam                                     # >= 1 for lam <= 1: no singular case on the grid
    n = -((1 - un) ** two - 1) / two
    return torch.where(pos, p, n)


class YeoJohnson(NamedTuple):
    """A fitted warp :math:`y \\mapsto \\psi_\\lambda((y - \\bar y)/s_y)`: ``shift`` :math:`\\bar y`,
    ``scale`` :math:`s_y`, ``lam`` :math:`\\lambda`."""

    shift: float
    scale: float
    lam: float

    @classmethod
    def fit(cls, y: torch.Tensor) -> YeoJohnson:
        """The warp of the values ``y`` ``(n,)``: standardise, then :math:`\\lambda` by profile
        likelihood over the grid (module docstring); the identity :math:`\\lambda = 1` for fewer
        than three distinct values."""
        t = Standardize.from_data(y) if y.numel() else Standardize.identity()
        shift, scale = t.shift, t.scale
        if torch.unique(y).numel() < 3:
            return cls(shift, scale, 1.0)
        u = (y - shift) / scale
        w = yeo_johnson(u, _LAMBDAS[:, None])                           # (L, n)
        ll = -0.5 * u.numel() * torch.log(w.var(-1, unbiased=False).clamp_min(1e-300)) + \
            (_LAMBDAS - 1) * (torch.sign(u) * torch.log1p(u.abs())).sum()
        return cls(shift, scale, float(_LAMBDAS[int(ll.argmax())]))

    def __call__(self, y: torch.Tensor) -> torch.Tensor:
        """The warped values :math:`\\psi_\\lambda((y - \\bar y)/s_y)`, shaped like ``y``."""
        return yeo_johnson((y - self.shift) / self.scale, self.lam)

    def inverse(self, w: torch.Tensor) -> torch.Tensor:
        """:math:`y` with :math:`\\psi_\\lambda((y - \\bar y)/s_y) = w`, shaped like ``w`` (the warp
        maps the real line onto itself for :math:`0 \\le \\lambda \\le 1`)."""
        lam = self.lam
        pos = w >= 0
        wp, wn = w.clamp_min(0), w.clamp_max(0)
        up = torch.expm1(wp) if lam == 0 else (1 + lam * wp).clamp_min(0) ** (1 / lam) - 1
        un = 1 - (1 - (2 - lam) * wn) ** (1 / (2 - lam))
        return self.shift + self.scale * torch.where(pos, up, un)
