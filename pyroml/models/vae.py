"""Variational autoencoders: one model/guide pair, swappable networks.

Generative model, for each example :math:`n`:

.. math::

    z_n \\sim \\mathcal{N}(0, I_d), \\qquad
    x_n \\mid z_n \\sim \\prod_{i=1}^{D} \\mathrm{Bernoulli}(x_{ni} \\mid \\pi_i(z_n)),
    \\quad \\pi(z) = \\mathrm{sigmoid}(\\mathrm{decoder}(z)).

Guide: :math:`q(z_n \\mid x_n) = \\mathcal{N}(\\mu(x_n), \\mathrm{diag}\\,\\sigma^2(x_n))`
from the encoder. The Bernoulli is scored on continuous grey levels (as the
study did: its "log-likelihood" is then a cross-entropy, not a density); pass
``likelihood="continuous_bernoulli"`` for a normalised density on [0, 1].

:class:`VAE` uses MLPs, :class:`ConvVAE` convolutions; nothing else differs.
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple, Union, cast

import pyro
import pyro.distributions as dist
import torch
from pyro.infer import ELBO
from torch import nn

from pyroml._validation import check_choice, check_int, check_sizes
from pyroml.infer.elbo import LeanTraceMeanField_ELBO
from pyroml.io.registry import register_model
from pyroml.models.base import DensityModel, check_latent_dim
from pyroml.models.likelihoods import LIKELIHOODS, log_scale_shape, observation
from pyroml.models.networks import ConvDecoder, ConvEncoder, MLPDecoder, MLPEncoder

__all__ = ["VAE", "ConvVAE"]

class _VAEBase(DensityModel):
    """Model, guide and projections shared by every VAE; subclasses build the networks."""

    def __init__(self, latent_dim: int, likelihood: str, event_shape: Optional[Sequence[int]]):
        super().__init__(event_shape)
        self.latent_dim = check_latent_dim(latent_dim)
        self.likelihood = check_choice("likelihood", likelihood, LIKELIHOODS)
        self.unit_interval = LIKELIHOODS[likelihood] == "unit"

    def _build(self) -> None:
        self._build_networks()
        shape = log_scale_shape(self.likelihood, self.event_shape)
        if shape is not None:  # log sigma of a Gaussian likelihood
            self.log_scale = nn.Parameter(torch.zeros(shape))

    def _build_networks(self) -> None:
        raise NotImplementedError

    def _observation(self, out: torch.Tensor) -> dist.TorchDistribution:
        """:math:`p(x \\mid z)` from decoder outputs of shape ``batch + event_shape``."""
        return observation(self.likelihood, out, len(self.event_shape), getattr(self, "log_scale", None))

    def model(self, x: torch.Tensor) -> None:
        """:math:`z \\sim \\mathcal{N}(0, I)`, :math:`x \\mid z \\sim p(x \\mid \\mathrm{decoder}(z))`;
        ``x`` of shape ``(N,) + event_shape``."""
        loc = x.new_zeros(x.shape[0], self.latent_dim)
        with pyro.plate("data", x.shape[0], dim=-1):
            z = pyro.sample("z", dist.Normal(loc, 1.0).to_event(1))
            pyro.sample("x", self._observation(self.decoder(z)), obs=x)

    def guide(self, x: torch.Tensor) -> None:
        """:math:`q(z \\mid x) = \\mathcal{N}(\\mu(x), \\mathrm{diag}\\,\\sigma^2(x))`."""
        loc, scale = self.encoder(x)
        with pyro.plate("data", x.shape[0], dim=-1):
            pyro.sample("z", dist.Normal(loc, scale).to_event(1))

    def elbo(self, num_particles: int = 1) -> ELBO:
        """Mean-field ELBO with the analytic KL of the Gaussian guide to the prior
        (:class:`~pyroml.infer.LeanTraceMeanField_ELBO`, a lean ``TraceMeanField_ELBO``)."""
        return LeanTraceMeanField_ELBO(num_particles=num_particles, vectorize_particles=num_particles > 1,
                                       max_plate_nesting=1)

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Posterior mean :math:`\\mu(x)`, of shape ``(N, latent_dim)``."""
        self._check_shape(x)
        return self.encoder(x)[0]

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Mean of :math:`p(x \\mid z)`, of shape ``z.shape[:-1] + event_shape``."""
        self._check_latents(z, self.latent_dim)
        return self._observation(self.decoder(z)).mean

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, sample: bool = False) -> torch.Tensor:
        """:meth:`decode` of the posterior mean, or of one draw :math:`z \\sim q(z \\mid x)`."""
        self._check_shape(x)
        loc, scale = self.encoder(x)
        return self.decode(loc + scale * torch.randn_like(scale) if sample else loc)

    @torch.no_grad()
    def sample(self, n: int) -> torch.Tensor:
        """Means of :math:`p(x \\mid z)` for ``n`` prior draws; shape ``(n,) + event_shape``."""
        return self.decode(torch.randn(check_int("n", n, 0), self.latent_dim, device=self.device))


@register_model("vae")
class VAE(_VAEBase):
    """Variational autoencoder with MLP encoder and decoder.

    :param int latent_dim: dimension d of z.
    :param hidden: encoder hidden sizes (input to output). Default ``(512, 256)``.
    :param decoder_hidden: decoder hidden sizes (latent to output); ``None`` mirrors
        ``hidden``. Default ``(256, 256)``: the decoder runs K times per example in the
        importance-weighted bound and once per particle in training, the encoder once, so the
        decoder is kept light (half the evaluation cost of the mirrored decoder for under a nat
        of log-likelihood on MNIST; docs/benchmarks.md).
    :param str likelihood: ``"bernoulli"`` (grey levels), ``"continuous_bernoulli"`` (both for
        data in [0, 1]), ``"gaussian"`` or ``"gaussian_shared"`` (real-valued data;
        :mod:`pyroml.models.likelihoods`).
    :param event_shape: the shape of one example, any: ``(D,)`` for a table, ``(C, H, W)`` for
        images; ``None`` (default) takes it from the data at the first :func:`pyroml.fit`.
    """

    def __init__(self, latent_dim: int = 2, hidden: Sequence[int] = (512, 256),
                 decoder_hidden: Optional[Sequence[int]] = (256, 256), likelihood: str = "bernoulli",
                 event_shape: Optional[Sequence[int]] = None):
        super().__init__(latent_dim, likelihood, event_shape)
        self.hidden = check_sizes("hidden", hidden)
        self.decoder_hidden = None if decoder_hidden is None else check_sizes("decoder_hidden", decoder_hidden)
        if self.is_built:
            self._build()

    def _build_networks(self) -> None:
        self.encoder = MLPEncoder(self.event_shape, self.hidden, self.latent_dim)
        self.decoder = MLPDecoder(self.latent_dim, self.decoder_hidden or self.hidden[::-1], self.event_shape)


@register_model("convvae", "cvae")
class ConvVAE(_VAEBase):
    """Convolutional VAE.

    Encoder: 3x3 stride-2 convolutions ``1 -> 16 -> 32`` (padding 1), optional
    dense layers, linear heads to the loc and scale of z. Decoder: linear (through the
    dense layers in reverse) to ``32 x 7 x 7``, transposed convolutions ``32 -> 16 -> 1``
    (3x3, stride 2, padding 1, output padding 1), sigmoid Bernoulli means.

    :param int latent_dim: dimension d of z.
    :param channels: convolution channels, encoder order.
    :param hidden: sizes of optional dense ReLU layers between the convolutions and the
        heads (an int for one layer; encoder order, mirrored in the decoder).
    :param str likelihood: as for :class:`VAE`.
    :param decoder_hidden: when given, an MLP decoder with these hidden sizes (latent to
        pixels) replaces the transposed convolutions: a convolutional encoder with the
        :class:`VAE`'s decoder, to compare encoders on equal terms.
    :param event_shape: the shape of one image, ``(C, H, W)`` with H, W >= 8, any size (the
        decoder's output is cropped to it exactly); ``None`` (default) takes it from the data at
        the first :func:`pyroml.fit`.

    ``ConvVAE(channels=(32, 64), hidden=(512, 256))`` is the configuration that beats the MLP
    :class:`VAE` in the same epochs (docs/benchmarks.md).
    """

    def __init__(self, latent_dim: int = 2, channels: Sequence[int] = (16, 32),
                 hidden: Union[int, Sequence[int], None] = None, likelihood: str = "bernoulli",
                 decoder_hidden: Optional[Sequence[int]] = None, event_shape: Optional[Sequence[int]] = None):
        super().__init__(latent_dim, likelihood, event_shape)
        self.channels = check_sizes("channels", channels)
        self.hidden: Union[int, Tuple[int, ...], None]
        if isinstance(hidden, int) and not isinstance(hidden, bool):
            self.hidden = check_sizes("hidden", (hidden,))[0]
            self._dense: Tuple[int, ...] = (self.hidden,)
        else:
            self.hidden = None if hidden is None else check_sizes("hidden", cast(Sequence[int], hidden))
            self._dense = self.hidden or ()
        self.decoder_hidden = None if decoder_hidden is None else check_sizes("decoder_hidden", decoder_hidden)
        if self.is_built:
            self._build()

    def _build_networks(self) -> None:
        shape = self.event_shape
        if len(shape) != 3 or min(shape[1:]) < 8:
            raise ValueError(f"ConvVAE needs images of shape (C, H, W) with H, W >= 8, got examples of shape "
                             f"{shape}; for tables or smaller images use VAE (an MLP)")
        self.encoder = ConvEncoder(shape, self.channels, self._dense, self.latent_dim)
        self.decoder = (ConvDecoder(self.latent_dim, self.channels, self._dense[::-1], shape)
                        if self.decoder_hidden is None else
                        MLPDecoder(self.latent_dim, self.decoder_hidden, shape))
