"""Probabilistic PCA (Tipping & Bishop, 1999) as a Pyro model/guide pair.

Generative model, for each example :math:`x_n \\in \\mathbb R^D`:

.. math::

    z_n \\sim \\mathcal N(0, I_q), \\qquad
    x_n \\mid z_n \\sim \\mathcal N(W z_n + \\mu, \\sigma^2 I_D),

so that :math:`x_n \\sim \\mathcal N(\\mu, W W^\\top + \\sigma^2 I_D)` exactly.

Guide: the exact posterior given the current parameters,

.. math::

    q(z_n \\mid x_n) = \\mathcal N\\big(M^{-1} W^\\top (x_n - \\mu),\\; \\sigma^2 M^{-1}\\big),
    \\qquad M = W^\\top W + \\sigma^2 I_q,

for which :math:`\\log p(x, z) - \\log q(z \\mid x) = \\log p(x)` for *every* z: the
single-sample ELBO estimate equals the log-likelihood and its gradient is exact, so SVI is
maximum likelihood with mini-batch noise only. ``log_likelihood`` evaluates the low-rank
Gaussian marginal with the Woodbury identity in :math:`O(D q^2)` per image.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Dict, List, NamedTuple, Optional, Sequence

import pyro
import pyro.distributions as dist
import torch
from pyro.infer import ELBO, Trace_ELBO
from torch import nn

from pyroml._validation import check_int
from pyroml.io.registry import register_model
from pyroml.models.base import DensityModel, check_latent_dim

__all__ = ["PPCA"]


class _Posterior(NamedTuple):
    """:math:`q(z \\mid x)`: ``loc`` of shape ``(N, q)``, ``scale_tril`` of shape ``(q, q)``."""

    loc: torch.Tensor
    scale_tril: torch.Tensor


@register_model("ppca")
class PPCA(DensityModel):
    """Probabilistic PCA with q latent dimensions.

    Parameters: the loading matrix :math:`W` (D x q), the mean :math:`\\mu` (D) and the noise
    scale :math:`\\sigma` (stored as :math:`\\log\\sigma`). They are initialised from the data at
    the first :func:`pyroml.fit` (:meth:`init_from_data`): :math:`\\mu` at the feature means,
    :math:`\\sigma` at the overall feature standard deviation, :math:`W` small and random.

    :param int latent_dim: q, smaller than D.
    :param event_shape: the shape of one example, any (D is its number of values); ``None``
        (default) takes it from the data at the first :func:`pyroml.fit`.
    """

    has_exact_log_likelihood = True
    fit_defaults: ClassVar[Dict[str, Any]] = {"epochs": 10, "batch_size": 1000, "lr": 0.02, "lr_schedule": "cosine"}

    def __init__(self, latent_dim: int = 2, event_shape: Optional[Sequence[int]] = None):
        super().__init__(event_shape)
        self.latent_dim = check_latent_dim(latent_dim)
        if self.is_built:
            self._build()

    def _build(self) -> None:
        d, latent_dim = self.n_features, self.latent_dim
        if latent_dim >= d:
            raise ValueError(f"latent_dim must be smaller than the data dimension {d}, got {latent_dim}")
        self.W = nn.Parameter(0.01 * torch.randn(d, latent_dim))
        self.mu = nn.Parameter(torch.zeros(d))
        self.log_sigma = nn.Parameter(torch.zeros(()))
        self.register_buffer("initialized", torch.tensor(False))

    # ---- data-dependent initialisation and optimiser groups ---------------------------
    @torch.no_grad()
    def init_from_data(self, x: torch.Tensor) -> None:
        """Mean at the feature means, :math:`\\sigma` at the root mean feature variance (once:
        a model that is initialised already is left as it is)."""
        if bool(self.initialized):
            return
        if x.shape[0] < 2:
            raise ValueError(f"PPCA needs at least 2 examples to initialise from the data, got {x.shape[0]}")
        flat = x.reshape(x.shape[0], -1)
        self.mu.copy_(flat.mean(0))
        self.log_sigma.fill_(float(flat.std(0).pow(2).mean().sqrt().clamp_min(1e-3).log()))
        self.initialized.fill_(True)

    def optim_groups(self, lr: float) -> List[Dict[str, Any]]:
        """:math:`\\mu` and :math:`\\log\\sigma` live on larger scales than the entries of W
        (about 0.1): they step 3x faster."""
        return [{"params": [self.W], "lr": lr}, {"params": [self.mu, self.log_sigma], "lr": 3 * lr}]

    # ---- the Pyro programs ----------------------------------------------------------
    def elbo(self, num_particles: int = 1) -> ELBO:
        """``Trace_ELBO``: with the exact-posterior guide its estimate has zero variance."""
        return Trace_ELBO(num_particles=num_particles, vectorize_particles=num_particles > 1,
                          max_plate_nesting=1)

    def _posterior(self, x: torch.Tensor) -> _Posterior:
        """The exact posterior of z given x (mean ``(N, q)``, scale_tril ``(q, q)``)."""
        sigma2 = (2 * self.log_sigma).exp()
        M = self.W.T @ self.W + sigma2 * torch.eye(self.latent_dim, dtype=x.dtype, device=x.device)
        L = torch.linalg.cholesky(M)
        centred = x.reshape(x.shape[0], -1) - self.mu
        loc = torch.cholesky_solve((centred @ self.W).T, L).T
        # Cov = sigma^2 M^{-1}: scale_tril = sigma * L^{-T} made lower-triangular via Cholesky
        cov = sigma2 * torch.cholesky_inverse(L)
        return _Posterior(loc, torch.linalg.cholesky(cov))

    def model(self, x: torch.Tensor) -> None:
        """:math:`z \\sim \\mathcal N(0, I_q)`, :math:`x \\mid z \\sim \\mathcal N(Wz + \\mu, \\sigma^2 I)`."""
        flat = x.reshape(x.shape[0], -1)
        with pyro.plate("data", x.shape[0], dim=-1):
            z = pyro.sample("z", dist.Normal(flat.new_zeros(x.shape[0], self.latent_dim), 1.0).to_event(1))
            mean = z @ self.W.T + self.mu
            pyro.sample("x", dist.Normal(mean, self.log_sigma.exp()).to_event(1), obs=flat)

    def guide(self, x: torch.Tensor) -> None:
        """The exact Gaussian posterior :math:`q(z \\mid x) = p(z \\mid x; W, \\mu, \\sigma)`."""
        loc, scale_tril = self._posterior(x)
        with pyro.plate("data", x.shape[0], dim=-1):
            pyro.sample("z", dist.MultivariateNormal(loc, scale_tril=scale_tril))

    # ---- projections ----------------------------------------------------------------
    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Posterior mean :math:`M^{-1} W^\\top (x - \\mu)`, shape ``(N, q)``."""
        self._check_shape(x)
        return self._posterior(x).loc

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """:math:`W z + \\mu`, shape ``z.shape[:-1] + event_shape``."""
        self._check_latents(z, self.latent_dim)
        return (z @ self.W.T + self.mu).reshape(z.shape[:-1] + self.event_shape)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, sample: bool = False) -> torch.Tensor:
        """:meth:`decode` of the posterior mean (or of one posterior draw)."""
        self._check_shape(x)
        loc, scale_tril = self._posterior(x)
        z = dist.MultivariateNormal(loc, scale_tril=scale_tril).sample() if sample else loc
        return self.decode(z)

    @torch.no_grad()
    def sample(self, n: int) -> torch.Tensor:
        """Means :math:`W z + \\mu` of p(x given z) for ``n`` prior draws, ``(n,) + event_shape``."""
        return self.decode(torch.randn(check_int("n", n, 0), self.latent_dim, device=self.device))

    @torch.no_grad()
    def log_likelihood(self, x: torch.Tensor) -> torch.Tensor:
        """Exact :math:`\\log \\mathcal N(x; \\mu, W W^\\top + \\sigma^2 I)`, shape ``(N,)``."""
        self._check_shape(x)
        sigma2 = (2 * self.log_sigma).exp()
        d = dist.LowRankMultivariateNormal(self.mu, self.W, sigma2.expand(self.mu.shape))
        return d.log_prob(x.reshape(x.shape[0], -1))

    # ---- the closed-form maximum-likelihood solution ------------------------------------
    @classmethod
    @torch.no_grad()
    def closed_form(cls, x: torch.Tensor, latent_dim: int = 2) -> PPCA:
        """Tipping & Bishop's maximum-likelihood PPCA of ``x`` (shape ``(N,) + event_shape``):

        :math:`\\mu = \\bar x`, :math:`\\sigma^2 = \\frac{1}{D-q}\\sum_{j>q} \\lambda_j`,
        :math:`W = U_q (\\Lambda_q - \\sigma^2 I)^{1/2}` from the eigendecomposition of the
        sample covariance (computed in float64).
        """
        model = cls(latent_dim, event_shape=tuple(x.shape[1:]))
        model.check_input(x.float() if x.dtype == torch.float64 else x, what="x")
        if x.shape[0] < 2:
            raise ValueError(f"PPCA.closed_form needs at least 2 examples, got {x.shape[0]}")
        flat = x.reshape(x.shape[0], -1).double()
        mean = flat.mean(0)
        centred = flat - mean
        cov = centred.T @ centred / flat.shape[0]
        evals, evecs = torch.linalg.eigh(cov)                     # ascending
        evals, evecs = evals.flip(0), evecs.flip(1)
        sigma2 = evals[latent_dim:].mean()
        W = evecs[:, :latent_dim] * (evals[:latent_dim] - sigma2).clamp_min(0).sqrt()
        model.W.copy_(W.float())
        model.mu.copy_(mean.float())
        model.log_sigma.fill_(0.5 * math.log(float(sigma2)))
        model.initialized.fill_(True)
        return model
