"""Acquisition functions for minimisation, scored over a candidate set.

With :math:`y_{\\min}` the best value so far and :math:`\\mu, \\sigma` the posterior mean and
standard deviation of :math:`f` under each hyperparameter sample:

* ``"ei"`` — expected improvement :math:`\\mathbb E[\\max(y_{\\min} - f, 0)] = \\sigma\\,h(z)`,
  :math:`z = (y_{\\min} - \\mu)/\\sigma`, :math:`h(z) = z\\Phi(z) + \\varphi(z)`, in log space
  (:func:`log_expected_improvement`, stable far into the tails where plain EI underflows to a
  flat zero), averaged over the hyperparameter samples;
* ``"thompson"`` — Thompson sampling: one hyperparameter sample drawn from the posterior, one
  joint function :math:`f^*` on the candidates, its minimiser;
* ``"lcb"`` — lower confidence bound :math:`\\mu - \\kappa\\sigma`, averaged (maximised negated).

Candidates marked ``seen`` (evaluated already) are never chosen.
"""

from __future__ import annotations

import math
from typing import Dict, NamedTuple

import torch

from pyroml.gp import GP, Posterior

__all__ = ["METHODS", "log_expected_improvement", "Choice", "choose"]

#: the acquisition methods :func:`choose` knows
METHODS = ("ei", "thompson", "lcb")


def log_expected_improvement(mean: torch.Tensor, std: torch.Tensor, best: float) -> torch.Tensor:
    """:math:`\\log \\mathbb E[\\max(y_{\\min} - f, 0)]` for :math:`f \\sim \\mathcal N(\\mu, \\sigma^2)`,
    computed stably (via the scaled complementary error function) for any :math:`z`.

    :param Tensor mean: :math:`\\mu`, any shape; ``std``: :math:`\\sigma`, the same shape.
    :param float best: :math:`y_{\\min}`.
    :returns: shaped like ``mean``.
    """
    std = std.clamp_min(1e-12)
    z = (best - mean) / std
    log_phi = -0.5 * z * z - 0.5 * math.log(2 * math.pi)
    pos = z >= 0
    h_pos = z * torch.special.ndtr(z) + torch.exp(log_phi)
    # z < 0: h = phi(z) * (1 - |z| * Phi(z) / phi(z)), Phi(z) / phi(z) = sqrt(pi / 2) * erfcx(-z / sqrt 2)
    mills = math.sqrt(math.pi / 2) * torch.special.erfcx(-z / math.sqrt(2))
    log_h_neg = log_phi + torch.log1p(-(-z * mills).clamp(max=1 - 1e-16))
    log_h = torch.where(pos, torch.log(h_pos.clamp_min(1e-300)), log_h_neg)
    return torch.log(std) + log_h


class Choice(NamedTuple):
    """The candidate :func:`choose` picks: its index ``candidate``, the ``hypers`` it used (name -> ``(S,)``)
    and, for the trace, ``scores``: ``{"sample": f* (M,)}`` (Thompson) or ``{"acquisition": (M,)}``."""

    candidate: int
    hypers: Dict[str, torch.Tensor]
    scores: Dict[str, torch.Tensor]


def choose(method: str, model: GP, post: Posterior, candidates: torch.Tensor, seen: torch.Tensor, best: float,
           kappa: float, generator: torch.Generator) -> Choice:
    """The best candidate under an acquisition.

    :param str method: one of :data:`METHODS`.
    :param model: the GP on the evaluations so far; ``post``: its hyperparameter posterior.
    :param Tensor candidates: shape ``(M, d)``; ``seen``: bool ``(M,)``, candidates never chosen.
    :param float best: :math:`y_{\\min}`; ``kappa``: the LCB's :math:`\\kappa`.
    :param generator: draws the Thompson sample.
    """
    if method == "thompson":
        s = int(torch.randint(post.num_samples, (1,), generator=generator))
        hypers = {k: v[s:s + 1] for k, v in post.samples.items()}
        draw = model.sample_functions(candidates, hypers, generator=generator)[0]
        return Choice(int(draw.masked_fill(seen, math.inf).argmin()), hypers, {"sample": draw})
    mean, var, _ = model.conditional(candidates, post.samples)                  # (S, M) each
    std = var.sqrt()
    if method == "ei":
        acq = torch.logsumexp(log_expected_improvement(mean, std, best), 0) - math.log(mean.shape[0])
    else:
        acq = -(mean - kappa * std).mean(0)
    return Choice(int(acq.masked_fill(seen, -math.inf).argmax()), post.samples, {"acquisition": acq})
