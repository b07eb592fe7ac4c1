"""Gaussian mixture with enumerated discrete assignments.

Generative model, for each image :math:`x_n \\in \\mathbb R^D` (pixels on [0, 1]):

.. math::

    k_n \\sim \\mathrm{Categorical}(\\pi), \\qquad
    x_n \\mid k_n \\sim \\mathcal N\\big(\\mu_{k_n}, \\mathrm{diag}\\, v_{k_n}\\big), \\qquad
    v_{kd} = \\exp \\max(s_{kd}, \\log v_{\\min}).

The assignment :math:`k_n` is a discrete latent site enumerated in parallel by
``TraceEnum_ELBO``; the guide is empty (the globals are module parameters), so the ELBO is
the exact marginal log-likelihood :math:`\\log \\sum_k \\pi_k \\mathcal N(x_n; \\mu_k, v_k)`.

The variance floor :math:`v_{\\min, d}` scales with the data unless given
(``var_floor``): for data on [0, 1] (pixels, proportions) it is 0.01 for every feature, a
standard deviation of a tenth of the interval; for any other data it is
:math:`(0.1\\,\\mathrm{sd}_d)^2` for each feature :math:`d`, a feature that is constant in the
training data taking the pooled standard deviation instead. It keeps features that are
constant in the training data (MNIST's border pixels) from collapsing
to zero variance, which sends the likelihood to infinity on the training set and to minus
infinity on test pixels that differ (docs/comparison.md). The floor is **hard**,
as in a floored EM's M-step: :meth:`GMM.project_parameters`, which :func:`pyroml.fit` calls after
every optimiser step, clamps :math:`s \\ge \\log v_{\\min}`, so that a variance the data push
below the floor sits on it exactly and leaves it as soon as the gradient turns. (A soft floor such
as :math:`v_{\\min} + \\mathrm{softplus}(\\rho)` only approaches it: about 59% of MNIST's
component-pixel variances sit on the floor, and the median excess of 0.06–0.2% that SVI leaves
costs 0.15–0.48 nats per test image; ``benchmarks/bench_gmm_floor.py``.) Components start at
k-means++ picks from the data so that none starts collapsed or empty.

The K component log-densities of a batch are computed with two (K x D)(D x B) matrix
products, expanding :math:`\\sum_d (x_d - \\mu_{kd})^2 / v_{kd}` into
:math:`x^2 \\cdot v_k^{-1} - 2 x \\cdot (\\mu_k / v_k) + \\sum_d \\mu_{kd}^2 / v_{kd}`, never a
K x B x D tensor.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Dict, List, Optional, Sequence

import pyro
import pyro.distributions as dist
import torch
from pyro.infer import ELBO, TraceEnum_ELBO
from torch import nn
from torch.distributions import constraints
from torch.nn import functional as F

from pyroml._validation import check_int, check_positive
from pyroml.io.registry import register_model
from pyroml.models.base import DensityModel

_EMPTY = torch.Size()

__all__ = ["GMM", "component_log_density"]


def component_log_density(x: torch.Tensor, means: torch.Tensor, variances: torch.Tensor) -> torch.Tensor:
    """:math:`\\log \\mathcal N(x_b; \\mu_k, \\mathrm{diag}\\, v_k)` for every pair, by matrix products.

    The table is computed as ``(K, B)``, :math:`v_k^{-1} \\cdot x_b^2 - 2 (\\mu_k / v_k) \\cdot x_b +
    \\sum_d \\mu_{kd}^2 / v_{kd}`, with the K component rows on the left of each product: for
    K of about 10 that orientation runs the products about twice as fast as ``x @ W.T``.

    :param Tensor x: shape ``(B, D)``.
    :param Tensor means: shape ``(K, D)``.
    :param Tensor variances: shape ``(K, D)``, positive.
    :returns: shape ``(B, K)`` (the transpose of a contiguous ``(K, B)`` table).
    """
    prec = variances.reciprocal()
    quad = prec @ (x * x).T - 2.0 * (means * prec) @ x.T + (means * means * prec).sum(-1, keepdim=True)
    return (-0.5 * (quad + variances.log().sum(-1, keepdim=True) + x.shape[-1] * math.log(2 * math.pi))).T


class _GivenComponent(dist.TorchDistribution):
    """:math:`p(x \\mid k)` for a (possibly enumerated) assignment tensor ``k``; ``log_prob``
    computes the (B, K) table once by matrix products and gathers the entries ``k`` asks for."""

    arg_constraints: ClassVar[Dict[str, constraints.Constraint]] = {}
    support = constraints.real_vector

    def __init__(self, k: torch.Tensor, means: torch.Tensor, variances: torch.Tensor):
        self.k, self.means, self.variances = k, means, variances
        super().__init__(k.shape, means.shape[-1:], validate_args=False)

    def expand(self, batch_shape, _instance=None):
        return _GivenComponent(self.k.expand(batch_shape), self.means, self.variances)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        table = component_log_density(x, self.means, self.variances).T      # (K, B)
        shape = torch.broadcast_shapes(self.k.shape, x.shape[:1])
        k = self.k.expand(shape).reshape(-1, shape[-1])                       # (..., B) -> (M, B)
        return table.gather(0, k).reshape(shape)

    def sample(self, sample_shape: Any = _EMPTY) -> torch.Tensor:
        with torch.no_grad():
            loc = self.means[self.k]
            return loc + self.variances[self.k].sqrt() * torch.randn(sample_shape + loc.shape, device=loc.device)


@register_model("gmm")
class GMM(DensityModel):
    """Mixture of K diagonal Gaussians over flattened examples, assignments enumerated.

    :param int n_components: K.
    :param float var_floor: lower bound :math:`v_{\\min}` of every variance, on the data's scale;
        ``None`` (default) sets it from the training data at the first :func:`pyroml.fit` (see the
        module docstring: 0.01 for data on [0, 1], a tenth of each feature's standard deviation,
        squared, otherwise).
    :param event_shape: the shape of one example, any (D is its number of values); ``None``
        (default) takes it from the data at the first :func:`pyroml.fit`.
    """

    has_exact_log_likelihood = True
    fit_defaults: ClassVar[Dict[str, Any]] = {"epochs": 50, "batch_size": 2000, "lr": 0.1, "lr_schedule": "cosine"}

    def __init__(self, n_components: int = 10, var_floor: Optional[float] = None,
                 event_shape: Optional[Sequence[int]] = None):
        super().__init__(event_shape)
        self.n_components = check_int("n_components", n_components, 1)
        self.var_floor = None if var_floor is None else check_positive("var_floor", var_floor)
        if self.is_built:
            self._build()

    def _build(self) -> None:
        k, d = self.n_components, self.n_features
        self.logits = nn.Parameter(torch.zeros(k))
        self.means = nn.Parameter(0.5 + 0.01 * torch.randn(k, d))
        self.log_var = nn.Parameter(torch.zeros(k, d))
        floor = math.nan if self.var_floor is None else math.log(self.var_floor)
        self.register_buffer("_log_floor", torch.full((d,), floor))
        self.register_buffer("initialized", torch.tensor(False))

    @property
    def floor(self) -> torch.Tensor:
        """:math:`v_{\\min, d}`, the variance floor of each feature, shape ``(D,)`` (NaN until set
        from the data when ``var_floor`` is ``None``)."""
        return self._log_floor.exp()

    @torch.no_grad()
    def _floor_from_data(self, flat: torch.Tensor) -> torch.Tensor:
        """:math:`\\log v_{\\min, d}` for training data ``flat`` of shape ``(N, D)`` (module docstring)."""
        if self.var_floor is not None:
            return torch.full_like(self._log_floor, math.log(self.var_floor))
        if float(flat.min()) >= 0.0 and float(flat.max()) <= 1.0:
            return torch.full_like(self._log_floor, math.log(0.01))
        var = flat.var(0)
        pooled = float(var.mean()) or 1.0
        return (0.01 * torch.where(var > 0, var, pooled)).log().to(self._log_floor)

    @property
    def variances(self) -> torch.Tensor:
        """:math:`v = \\exp \\max(s, \\log v_{\\min})`, shape ``(K, D)``; the gradient reaches
        :math:`s` on the floor itself (``s == log v_min``), so a projected parameter can leave it."""
        s = self.log_var
        return torch.where(s < self._log_floor, self._log_floor, s).exp()

    @torch.no_grad()
    def project_parameters(self) -> None:
        """The projection of projected gradient ascent, :math:`s \\leftarrow \\max(s, \\log v_{\\min})`
        (EM's hard floor); :func:`pyroml.fit` calls it after every optimiser step."""
        self.log_var.clamp_(min=self._log_floor)

    def _load_from_state_dict(self, state_dict: Dict[str, Any], prefix: str, *args: Any, **kwargs: Any) -> None:
        # checkpoints written before the per-feature floor hold one number, var_floor
        if prefix + "_log_floor" not in state_dict and self.var_floor is not None:
            state_dict[prefix + "_log_floor"] = self._log_floor.new_full(self._log_floor.shape,
                                                                        math.log(self.var_floor))
        # checkpoints written before the hard floor hold rho, with v = v_min + softplus(rho)
        rho = state_dict.pop(prefix + "rho", None)
        if rho is not None and prefix + "log_var" not in state_dict and self.var_floor is not None:
            state_dict[prefix + "log_var"] = torch.log(self.var_floor + F.softplus(rho))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @torch.no_grad()
    def init_from_data(self, x: torch.Tensor, max_points: int = 20000) -> None:
        """k-means++ picks (Arthur & Vassilvitskii, 2007) from up to ``max_points`` examples for the
        means; every variance at the pooled feature variance (or the floor, if above it); equal weights;
        the variance floor from the data unless ``var_floor`` was given. Once: a model that is
        initialised already is left as it is."""
        if bool(self.initialized):
            return
        if x.shape[0] < 2:
            raise ValueError(f"GMM needs at least 2 examples to initialise from the data, got {x.shape[0]}")
        flat = x.reshape(x.shape[0], -1)
        if flat.shape[0] > max_points:
            flat = flat[torch.randperm(flat.shape[0], device=flat.device)[:max_points]]
        if flat.shape[0] < self.n_components:
            raise ValueError(f"need at least n_components={self.n_components} examples to initialise, "
                             f"got {flat.shape[0]}")
        sq = (flat * flat).sum(-1)
        centres = [flat[int(torch.randint(flat.shape[0], ()))]]
        d2 = (sq - 2 * flat @ centres[0] + centres[0] @ centres[0]).clamp_min(0)
        for _ in range(1, self.n_components):
            probs = d2 / d2.sum() if float(d2.sum()) > 0 else torch.full_like(d2, 1.0 / d2.numel())
            c = flat[int(torch.multinomial(probs, 1))]
            centres.append(c)
            d2 = torch.minimum(d2, (sq - 2 * flat @ c + c @ c).clamp_min(0))
        self.means.copy_(torch.stack(centres))
        self._log_floor.copy_(self._floor_from_data(flat))
        self.log_var.copy_(torch.maximum(flat.var(0).mean().log().expand_as(self.log_var), self._log_floor))
        self.logits.zero_()
        self.initialized.fill_(True)

    def optim_groups(self, lr: float) -> List[Dict[str, Any]]:
        """Adam's step per parameter group: the means (pixel units) at ``0.3 lr``, the variance
        log-variances :math:`s` at ``lr``, the weight logits at ``0.5 lr``. With one rate for all,
        large early steps on the means can knock the mixture off its k-means++ start into a basin
        several nats worse (measured in docs/benchmarks.md)."""
        return [{"params": [self.means], "lr": 0.3 * lr}, {"params": [self.log_var], "lr": lr},
                {"params": [self.logits], "lr": 0.5 * lr}]

    # ---- the Pyro programs ----------------------------------------------------------
    def elbo(self, num_particles: int = 1) -> ELBO:
        """``TraceEnum_ELBO``: the assignment site is summed out exactly, in parallel."""
        return TraceEnum_ELBO(num_particles=num_particles, vectorize_particles=num_particles > 1,
                              max_plate_nesting=1)

    def model(self, x: torch.Tensor) -> None:
        """:math:`k \\sim \\mathrm{Cat}(\\pi)`, :math:`x \\mid k \\sim \\mathcal N(\\mu_k, \\mathrm{diag}\\, v_k)`."""
        flat = x.reshape(x.shape[0], -1)
        variances = self.variances
        with pyro.plate("data", x.shape[0], dim=-1):
            k = pyro.sample("k", dist.Categorical(logits=self.logits), infer={"enumerate": "parallel"})
            pyro.sample("x", _GivenComponent(k, self.means, variances), obs=flat)

    def guide(self, x: torch.Tensor) -> None:
        """Empty: the assignments are enumerated in the model, the globals are parameters."""

    # ---- projections ----------------------------------------------------------------
    def _log_joint(self, x: torch.Tensor) -> torch.Tensor:
        """:math:`\\log \\pi_k + \\log \\mathcal N(x_b; \\mu_k, v_k)`, shape ``(B, K)``."""
        return component_log_density(x.reshape(x.shape[0], -1), self.means, self.variances) + \
            torch.log_softmax(self.logits, -1)

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Responsibilities :math:`p(k \\mid x)`, shape ``(N, K)``."""
        self._check_shape(x)
        return torch.softmax(self._log_joint(x), -1)

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Component means: ``z`` either integer component indices of any shape (result
        ``z.shape + event_shape``) or weights of shape ``(..., K)`` (one-hot: a component mean;
        result ``(...) + event_shape``)."""
        k = self.n_components
        if isinstance(z, torch.Tensor) and not z.is_floating_point():
            if z.numel() and (int(z.min()) < 0 or int(z.max()) >= k):
                raise ValueError(f"component indices must be in [0, {k - 1}], got {int(z.min())}..{int(z.max())}")
            return self.means[z].reshape(z.shape + self.event_shape)
        self._check_latents(z, k, "z (component weights)")
        return (z @ self.means).reshape(z.shape[:-1] + self.event_shape)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, sample: bool = False) -> torch.Tensor:
        """Mean of the most probable component (or of one drawn from the responsibilities)."""
        self._check_shape(x)
        logj = self._log_joint(x)
        k = dist.Categorical(logits=logj).sample() if sample else logj.argmax(-1)
        return self.means[k].reshape(x.shape)

    @torch.no_grad()
    def sample(self, n: int) -> torch.Tensor:
        """Means of the components of ``n`` draws :math:`k \\sim \\pi`, shape ``(n,) + event_shape``."""
        k = dist.Categorical(logits=self.logits).sample((check_int("n", n, 0),))
        return self.means[k].reshape((n,) + self.event_shape)

    @torch.no_grad()
    def log_likelihood(self, x: torch.Tensor) -> torch.Tensor:
        """Exact :math:`\\log \\sum_k \\pi_k \\mathcal N(x; \\mu_k, v_k)`, shape ``(N,)``."""
        self._check_shape(x)
        return torch.logsumexp(self._log_joint(x), -1)
