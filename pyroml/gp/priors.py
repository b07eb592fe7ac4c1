"""Priors over a GP's positive hyperparameters: the library's defaults, float64 copies, and the
LogNormal parameters that select the closed-form NUTS potential."""

from __future__ import annotations

from typing import Callable, Dict, NamedTuple, Optional

import pyro.distributions as dist
import torch
from pyro.distributions.torch_distribution import TorchDistributionMixin

__all__ = ["Prior", "default_priors", "as_float64", "LogNormalParams", "lognormal_params"]

#: a prior over a positive hyperparameter: a Pyro distribution of batch shape ``()``
Prior = TorchDistributionMixin


def default_priors() -> Dict[str, Prior]:
    """The library's default priors (float64), used for every hyperparameter not given a prior:

    .. math::

        \\ell \\sim \\mathrm{LogNormal}(-1, 1), \\qquad
        \\sigma_f^2 \\sim \\mathrm{LogNormal}(0, 2), \\qquad
        p \\sim \\mathrm{LogNormal}(0, 1)

    (lengthscale, variance, and the period of the ``periodic`` kernel; each of batch shape ``()``).
    """
    def lognormal(loc: float, scale: float) -> dist.LogNormal:
        return dist.LogNormal(torch.tensor(loc, dtype=torch.float64), torch.tensor(scale, dtype=torch.float64))
    return {"lengthscale": lognormal(-1.0, 1.0), "variance": lognormal(0.0, 2.0), "period": lognormal(0.0, 1.0)}


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
