"""What a fitted density model is worth, metric by metric.

* the importance-weighted bound (IWAE, Burda et al. 2016)

  .. math:: \\mathcal{L}_K(x) = \\log \\frac1K \\sum_{k=1}^K
            \\frac{p(x, z_k)}{q(z_k \\mid x)}, \\quad z_k \\sim q(z \\mid x),

  with :math:`\\mathrm{ELBO} \\le \\mathcal{L}_K \\le \\log p(x)` in expectation, tightening as K grows;
* dequantisation of 8-bit data and bits per dimension, the unit in which densities of discrete
  data compare.
"""

from __future__ import annotations

import math
from typing import Any

import pyro
import torch
from pyro import poutine

from pyroml._validation import check_int

__all__ = ["iwae_log_weights", "iwae_bound", "dequantise", "bits_per_dim"]


@torch.no_grad()
def iwae_log_weights(model: Any, x: torch.Tensor, k: int) -> torch.Tensor:
    """Log importance weights :math:`\\log p(x, z_k) - \\log q(z_k \\mid x)`, shape ``(K, N)``.

    Generic over any model/guide pair whose per-example sites live in
    ``pyro.plate("data", N, dim=-1)`` (no enumerated sites).
    """
    # inputs are validated once up front (check_input); per-site argument checks would cost
    # more than a tenth of the bound's time
    with pyro.settings.context(module_local_params=True), pyro.validation_enabled(False), \
            pyro.plate("particles", k, dim=-2):
        guide_tr = poutine.trace(model.guide).get_trace(x)
        model_tr = poutine.trace(poutine.replay(model.model, trace=guide_tr)).get_trace(x)
    logw = x.new_zeros(k, x.shape[0])
    for tr, sign in ((model_tr, 1.0), (guide_tr, -1.0)):
        tr.compute_log_prob()
        for site in tr.nodes.values():
            if site["type"] == "sample":
                logw = logw + sign * site["log_prob"]
    return logw


@torch.no_grad()
def iwae_bound(model: Any, x: torch.Tensor, k: int = 100,
               max_samples_per_batch: int = 8192) -> torch.Tensor:
    """Per-example IWAE bound :math:`\\mathcal{L}_K(x)`, shape ``(N,)``, in batches of
    ``max_samples_per_batch // K`` examples.

    :raises ValueError: for ``k`` < 1."""
    check_int("k", k, 1)
    check_int("max_samples_per_batch", max_samples_per_batch, 1)
    b = max(1, max_samples_per_batch // k)
    out = [torch.logsumexp(iwae_log_weights(model, x[i: i + b], k), dim=0) - math.log(k)
           for i in range(0, x.shape[0], b)]
    return torch.cat(out)


def dequantise(x: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Uniformly dequantised 8-bit values :math:`u = (255 x + \\epsilon) / 256`,
    :math:`\\epsilon \\sim U(0, 1)`, each in its own bin of (0, 1).

    :param Tensor x: values on the [0, 1] scale (multiples of 1/255), any shape.
    :param int seed: seed of the noise (the same ``u`` for every model).
    :returns: a tensor shaped like ``x``.
    :raises ValueError: for values outside [0, 1] (not 8-bit data divided by 255).
    """
    if x.numel() and (float(x.min()) < 0.0 or float(x.max()) > 1.0):
        raise ValueError(f"dequantise takes 8-bit values divided by 255, on [0, 1]; got min {float(x.min()):g}, "
                         f"max {float(x.max()):g}")
    g = torch.Generator().manual_seed(seed)
    eps = torch.rand(x.shape, generator=g).to(x.device)
    return ((x * 255.0).round() + eps) / 256.0


def bits_per_dim(log_p: float, d: int) -> float:
    """Bits per dimension of 8-bit data from the log-density of its dequantised version on
    :math:`[0, 1]^d`: :math:`(-\\log p(u) + d \\ln 256) / (d \\ln 2)`.

    :param float log_p: :math:`\\log p(u)` per example, nats (exact, or a lower bound giving an
        upper-bound bpd).
    :param int d: dimensions per example (784 for MNIST).
    :raises ValueError: for ``d`` < 1 or a NaN ``log_p``.
    """
    check_int("d", d, 1)
    if math.isnan(log_p):
        raise ValueError("bits_per_dim got a NaN log-density; evaluate a model with finite parameters")
    return (-log_p + d * math.log(256.0)) / (d * math.log(2.0))
