"""A leaner mean-field ELBO for the engine's hot loop, and the ELBO of a dataset.

:class:`LeanTraceMeanField_ELBO` computes exactly what :class:`pyro.infer.TraceMeanField_ELBO`
computes for a single particle,

.. math::

    \\mathrm{ELBO} = \\sum_{\\text{observed } x} s_x \\log p(x \\mid \\cdot)
    - \\sum_{\\text{latent } z} s_z\\, \\mathrm{KL}\\big(q(z) \\,\\|\\, p(z)\\big),

(with :math:`s` the site scales, e.g. the engine's N/B), falling back to
:math:`\\log p(z) - \\log q(z)` at the sampled :math:`z` where no analytic KL is registered.
It runs the same guide trace and replayed model trace, but skips what the engine does not
need on every step: copying both traces to prune subsample sites, computing
``log_prob``/score parts of latent sites whose KL is analytic, and the per-step shape checks
(which the engine runs on the first step, through the stock implementation, with Pyro's
validation on). Anything outside its scope — several particles, a guide site without
``rsample``, guide-only auxiliary sites, Pyro validation switched on — goes to
``TraceMeanField_ELBO`` unchanged.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence, Tuple

import pyro
import torch
from pyro import poutine
from pyro.distributions.kl import kl_divergence
from pyro.distributions.util import scale_and_mask
from pyro.infer import TraceMeanField_ELBO
from pyro.infer.util import is_validation_enabled
from pyro.poutine.subsample_messenger import _Subsample

from pyroml.data.datasets import Data, as_tensors

__all__ = ["LeanTraceMeanField_ELBO", "elbo_per_example", "elbo_sum"]


class LeanTraceMeanField_ELBO(TraceMeanField_ELBO):
    """Drop-in :class:`~pyro.infer.TraceMeanField_ELBO` with a lean single-particle
    ``differentiable_loss`` (same value, same gradients; see the module docstring)."""

    def differentiable_loss(self, model: Any, guide: Any, *args: Any, **kwargs: Any) -> torch.Tensor:
        if self.num_particles != 1 or is_validation_enabled():
            return super().differentiable_loss(model, guide, *args, **kwargs)
        guide_tr = poutine.trace(guide).get_trace(*args, **kwargs)
        model_tr = poutine.trace(poutine.replay(model, trace=guide_tr)).get_trace(*args, **kwargs)
        elbo: Any = 0.0
        n_latent = 0
        for name, site in model_tr.nodes.items():
            if site["type"] != "sample" or isinstance(site["fn"], _Subsample):
                continue
            if site["is_observed"]:
                lp = scale_and_mask(site["fn"].log_prob(site["value"]), site["scale"], site["mask"])
                elbo = elbo + lp.sum()
                continue
            g = guide_tr.nodes.get(name)
            if g is None or not g["fn"].has_rsample:
                return super().differentiable_loss(model, guide, *args, **kwargs)
            n_latent += 1
            try:
                kl = scale_and_mask(kl_divergence(g["fn"], site["fn"]), g["scale"], g["mask"])
                elbo = elbo - kl.sum()
            except NotImplementedError:
                z = site["value"]
                elbo = elbo + scale_and_mask(site["fn"].log_prob(z), site["scale"], site["mask"]).sum() \
                    - scale_and_mask(g["fn"].log_prob(z), g["scale"], g["mask"]).sum()
        guide_latent = sum(1 for s in guide_tr.nodes.values()
                           if s["type"] == "sample" and not s["is_observed"] and not isinstance(s["fn"], _Subsample))
        if guide_latent != n_latent:  # auxiliary guide sites: let Pyro handle them
            return super().differentiable_loss(model, guide, *args, **kwargs)
        return -elbo


@torch.no_grad()
def elbo_per_example(model: Any, data: Data, num_particles: int = 1, batch_size: int = 2000) -> float:
    """Mean ELBO per example (nats) of ``data`` under ``model.elbo(num_particles)``,

    .. math:: \\frac1N \\sum_n \\mathbb{E}_q\\big[\\log p(x_n, z) - \\log q(z \\mid x_n)\\big],

    in batches of ``batch_size`` examples (global terms, if any, counted once per batch).

    :param model: an :class:`~pyroml.infer.SVIModule`.
    :param data: tensors of first dimension N (see :func:`pyroml.data.as_tensors`).
    """
    tensors = as_tensors(data)
    n = tensors[0].shape[0]
    total, _ = elbo_sum(model, ([t[i: i + batch_size] for t in tensors] for i in range(0, n, batch_size)),
                        num_particles)
    return total / n


@torch.no_grad()
def elbo_sum(model: Any, batches: Iterable[Sequence[torch.Tensor]], num_particles: int = 1) -> Tuple[float, int]:
    """:math:`\\sum_b \\mathrm{ELBO}(\\text{batch}_b)` over ``batches`` (each the tensors ``model(*batch)``
    takes) under ``model.elbo(num_particles)``, and the number of examples they held — the one
    loop behind :func:`elbo_per_example`, the engine's validation ELBO and the evaluator."""
    loss_fn = model.elbo(num_particles)
    total, n = 0.0, 0
    with pyro.settings.context(module_local_params=True), pyro.validation_enabled(False):
        for batch in batches:
            total -= float(loss_fn.loss(model.model, model.guide, *batch))
            n += batch[0].shape[0]
    return total, n
