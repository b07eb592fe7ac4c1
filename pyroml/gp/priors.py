"""Priors over a GP's positive hyperparameters: the library's defaults, float64 copies, and the
LogNormal parameters that select the closed-form NUTS potential."""

from __future__ import annotations

import math
from typing import Callable, Dict, NamedTuple, Optional

import pyro.distributions as dist
import torch
from pyro.distributions.torch_distribution import TorchDistributionMixin

__all__ = ["Prior", "default_priors", "as_float64", "LogNormalParams", "lognormal_params"]

#: a prior over a positive hyperparameter: a Pyro distribution of batch shape ``()``
Prior = TorchDistributionMixin


def _lognormal(loc: float, scale: float) -> dist.LogNormal:
    return dist.LogNormal(torch.tensor(loc, dtype=torch.float64), torch.tensor(scale, dtype=torch.float64))


def default_priors(d: int = 1) -> Dict[str, Prior]:
    """The library's default priors (float64), stated on the scales the GP works on by default
    (inputs in the unit cube, targets standardised: :mod:`pyroml.gp.transforms`), used for every
    hyperparameter not given a prior:

    .. math::

        \\ell_k \\sim \\mathrm{LogNormal}\\big(\\sqrt2 + \\tfrac12\\log d,\\ \\sqrt3\\big), \\qquad
        \\sigma_f^2 \\sim \\mathrm{LogNormal}(0, 1), \\qquad
        p \\sim \\mathrm{LogNormal}(0, 1), \\qquad
        \\sigma_n^2 \\sim \\mathrm{LogNormal}(-4, 1)

    (each lengthscale, the signal variance, the period of the ``periodic`` kernel and the learned
    noise variance; batch shape ``()``). The lengthscale prior is the dimension-scaled LogNormal
    of Hvarfner et al. (2024), BoTorch's default since 0.12: its median, :math:`4.1\\sqrt d`
    cube widths, makes the prior function smooth and lets the data shorten it; the signal
    variance sits around 1, the variance of the standardised targets; the noise median is 2% of
    it, and its 95% interval :math:`(0.003, 0.13)`.

    :param int d: the input dimension.
    """
    return {"lengthscale": _lognormal(math.sqrt(2.0) + 0.5 * math.log(d), math.sqrt(3.0)),
            "variance": _lognormal(0.0, 1.0), "period": _lognormal(0.0, 1.0), "noise": _lognormal(-4.0, 1.0)}


def as_float64(prior: Prior) -> Prior:
    """A copy of ``prior`` with float64 parameters (the GP computes in float64), for a
    distribution built from its ``arg_constraints`` (LogNormal, Gamma, HalfNormal, ...);
    ``prior`` itself where it cannot be rebuilt that way."""
    try:
        args = {k: torch.as_tensor(getattr(prior, k), dtype=torch.float64) for k in prior.arg_constraints}
        rebuild: Callable[..., Prior] = type(prior)     # the distribution's own constructor
        return rebuild(**args)
    except (TypeError, AttributeError, ValueError, NotImplementedError):
        return prior


class LogNormalParams(NamedTuple):
    """``loc`` :math:`m` and ``scale`` :math:`s` of a LogNormal prior: Normal(:math:`m, s`) on the log scale."""

    loc: float
    scale: float


def lognormal_params(prior: Prior) -> Optional[LogNormalParams]:
    """``(loc, scale)`` of a scalar LogNormal prior (the closed-form NUTS potential), else ``None``."""
    if isinstance(prior, dist.LogNormal) and prior.loc.numel() == 1 and prior.scale.numel() == 1:
        return LogNormalParams(float(prior.loc), float(prior.scale))
    return None
