"""Observation distributions :math:`p(x \\mid h)` of the VAEs, :math:`h` the decoder's output.

===========================  ======================================================  ==============
``likelihood=``              :math:`\\log p(x \\mid h)`, summed over the features         data
===========================  ======================================================  ==============
``"bernoulli"``              :math:`x_i h_i - \\mathrm{softplus}(h_i)` (a cross-entropy  [0, 1]
                             on grey levels, a log-probability on binary data)
``"continuous_bernoulli"``   the normalised continuous Bernoulli, logits :math:`h`    [0, 1]
``"gaussian"``               :math:`\\log \\mathcal N(x_i; h_i, \\sigma_i^2)`, one learned  real
                             :math:`\\sigma_i` per feature
``"gaussian_shared"``        the same with one learned :math:`\\sigma` for all features   real
===========================  ======================================================  ==============

The Bernoulli-type likelihoods need data in [0, 1]; the Gaussian ones take any real values (for
data on very different scales, standardise the features first).
"""

from __future__ import annotations

from typing import Any, ClassVar, Dict, Optional, Tuple

import pyro.distributions as dist
import torch
from torch.distributions import constraints
from torch.nn import functional as F

_EMPTY = torch.Size()

__all__ = ["LIKELIHOODS", "GreyBernoulli", "softplus_sum", "observation", "log_scale_shape"]

#: the likelihoods a VAE takes, each with the support of the data it accepts ("unit": [0, 1])
LIKELIHOODS: Dict[str, str] = {"bernoulli": "unit", "continuous_bernoulli": "unit", "gaussian": "real",
                               "gaussian_shared": "real"}


class GreyBernoulli(dist.TorchDistribution):
    r"""Factorised Bernoulli over the last ``event_dim`` dimensions, scored on grey levels:

    .. math:: \log p(x \mid \ell) = \sum_i x_i \ell_i - \mathrm{softplus}(\ell_i),
              \quad x_i \in [0, 1],

    the same value as ``Bernoulli(logits=l).to_event(event_dim).log_prob(x)`` (a
    cross-entropy, not a density, when ``x`` is not binary), computed as one fused dot
    product and one softplus sum instead of an element-wise cross-entropy tensor.

    :param Tensor logits: shape ``batch_shape + event_shape``.
    """

    arg_constraints: ClassVar[Dict[str, constraints.Constraint]] = {"logits": constraints.real}
    support = constraints.unit_interval

    def __init__(self, logits: torch.Tensor, event_dim: int, validate_args=None):
        self.logits = logits
        self._event_dim = event_dim
        shape = logits.shape
        super().__init__(shape[: len(shape) - event_dim], shape[len(shape) - event_dim:],
                         validate_args=validate_args)

    @property
    def mean(self) -> torch.Tensor:
        return torch.sigmoid(self.logits)

    def expand(self, batch_shape, _instance=None):
        return GreyBernoulli(self.logits.expand(torch.Size(batch_shape) + self.event_shape), self._event_dim)

    def sample(self, sample_shape: Any = _EMPTY) -> torch.Tensor:
        with torch.no_grad():
            return torch.bernoulli(self.mean.expand(self.shape(sample_shape)))

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        logits = self.logits.flatten(-self._event_dim)
        value = value.flatten(-self._event_dim)
        return torch.linalg.vecdot(logits, value) - softplus_sum(logits)


def softplus_sum(logits: torch.Tensor) -> torch.Tensor:
    r""":math:`\sum_i \mathrm{softplus}(\ell_i)` over the last dimension.

    Under autograd, ``F.softplus``. Without it (evaluation, the importance-weighted bound) as
    :math:`\sum_i \max(\ell_i, 0) + \log(1 + e^{-|\ell_i|})`: ``torch.log1p`` is not
    vectorised in torch's CPU kernels (about 10 ns an element here, the largest single cost of
    the bound) while ``exp`` and ``log`` are; forming :math:`1 + e` in float32 costs at most
    6e-8 nats an element (5e-5 per 784-pixel image).
    """
    if torch.is_grad_enabled() and logits.requires_grad:
        return F.softplus(logits).sum(-1)
    return logits.clamp(min=0).sum(-1) + torch.exp(-logits.abs()).add_(1.0).log_().sum(-1)


def observation(likelihood: str, out: torch.Tensor, event_dim: int,
                log_scale: Optional[torch.Tensor] = None) -> dist.TorchDistribution:
    """:math:`p(x \\mid h)` for decoder outputs ``out`` of shape ``batch + event_shape``, with
    ``event_dim = len(event_shape)``; ``log_scale`` (shape ``event_shape`` or ``()``) is
    :math:`\\log \\sigma` of the Gaussian likelihoods. Its ``.mean`` is the decoded mean."""
    if likelihood == "bernoulli":
        return GreyBernoulli(out, event_dim, validate_args=False)
    if likelihood == "continuous_bernoulli":
        return dist.ContinuousBernoulli(logits=out, validate_args=False).to_event(event_dim)
    if log_scale is None:
        raise ValueError(f"the {likelihood} likelihood needs log_scale")
    return dist.Normal(out, log_scale.exp(), validate_args=False).to_event(event_dim)


def log_scale_shape(likelihood: str, event_shape: Tuple[int, ...]) -> Optional[Tuple[int, ...]]:
    """The shape of the learned :math:`\\log\\sigma` of a Gaussian likelihood (``None``: none)."""
    return {"gaussian": event_shape, "gaussian_shared": ()}.get(likelihood)
