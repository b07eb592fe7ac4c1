"""Encoder and decoder networks for the VAEs.

Every network accepts any number of leading batch dimensions: an encoder maps
``(..., C, H, W)`` to ``(loc, scale)`` of shape ``(..., d)`` each, a decoder
maps ``(..., d)`` to logits of shape ``(..., C, H, W)``. The evaluator relies
on this to push ``(K, B, d)`` importance samples through a decoder at once.
"""

from __future__ import annotations

from typing import List, Sequence, Tuple

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["MLPEncoder", "MLPDecoder", "ConvEncoder", "ConvDecoder", "mlp"]


def mlp(sizes: Sequence[int], final_activation: bool = False) -> nn.Sequential:
    """Linear layers of the given sizes with ReLU between them."""
    layers: List[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or final_activation:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class _GaussianHead(nn.Module):
    """Linear heads for the loc and the (softplus) scale of a diagonal Gaussian."""

    def __init__(self, in_features: int, latent_dim: int):
        super().__init__()
        self.loc = nn.Linear(in_features, latent_dim)
        self.scale = nn.Linear(in_features, latent_dim)

    def forward(self, h: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        return self.loc(h), F.softplus(self.scale(h)) + 1e-5


class MLPEncoder(nn.Module):
    """:math:`x \\mapsto (\\mu(x), \\sigma(x))` through ReLU layers ``hidden``."""

    def __init__(self, event_shape: Tuple[int, ...], hidden: Sequence[int], latent_dim: int):
        super().__init__()
        self.event_shape = tuple(event_shape)
        d_in = int(torch.Size(event_shape).numel())
        self.body = mlp([d_in, *hidden], final_activation=True)
        self.head = _GaussianHead(hidden[-1] if hidden else d_in, latent_dim)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        batch = x.shape[: x.dim() - len(self.event_shape)]
        return self.head(self.body(x.reshape(batch + (-1,))))


class MLPDecoder(nn.Module):
    """:math:`z \\mapsto` logits of :math:`p(x \\mid z)` through ReLU layers ``hidden``."""

    def __init__(self, latent_dim: int, hidden: Sequence[int], event_shape: Tuple[int, ...]):
        super().__init__()
        self.event_shape = tuple(event_shape)
        self.net = mlp([latent_dim, *hidden, int(torch.Size(event_shape).numel())])

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).reshape(z.shape[:-1] + self.event_shape)


class ConvEncoder(nn.Module):
    """Two (or more) 3x3 stride-2 convolutions, optional dense ReLU layers ``hidden``,
    Gaussian heads.

    With the defaults: ``1 -> 16 -> 32`` channels,
    28x28 -> 14x14 -> 7x7, then linear heads from ``32 * 7 * 7``.
    """

    def __init__(self, event_shape: Tuple[int, ...], channels: Sequence[int], hidden: Sequence[int],
                 latent_dim: int):
        super().__init__()
        self.event_shape = tuple(event_shape)
        c, h, w = event_shape
        convs = []
        for c_in, c_out in zip([c, *channels[:-1]], channels):
            convs += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), nn.ReLU()]
            h, w = (h + 1) // 2, (w + 1) // 2
        self.convs = nn.Sequential(*convs, nn.Flatten())
        flat = channels[-1] * h * w
        self.dense = mlp([flat, *hidden], final_activation=True) if hidden else nn.Identity()
        self.head = _GaussianHead(hidden[-1] if hidden else flat, latent_dim)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        batch = x.shape[: x.dim() - 3]
        loc, scale = self.head(self.dense(self.convs(x.reshape((-1,) + self.event_shape))))
        return loc.reshape(batch + (-1,)), scale.reshape(batch + (-1,))


class ConvDecoder(nn.Module):
    """Linear (optionally through dense ReLU layers ``hidden``, latent to image order) to
    ``channels[-1] x 7 x 7``, then 3x3 stride-2 transposed convolutions (padding 1, output
    padding 1) back to the image."""

    def __init__(self, latent_dim: int, channels: Sequence[int], hidden: Sequence[int],
                 event_shape: Tuple[int, ...]):
        super().__init__()
        self.event_shape = tuple(event_shape)
        c, h, w = event_shape
        for _ in channels:
            h, w = (h + 1) // 2, (w + 1) // 2
        self.start = (channels[-1], h, w)
        flat = channels[-1] * h * w
        self.dense = mlp([latent_dim, *hidden, flat], final_activation=True)
        rev = list(channels[::-1]) + [c]
        layers: List[nn.Module] = []
        for i, (c_in, c_out) in enumerate(zip(rev[:-1], rev[1:])):
            layers.append(nn.ConvTranspose2d(c_in, c_out, 3, stride=2, padding=1, output_padding=1))
            if i < len(rev) - 2:
                layers.append(nn.ReLU())
        self.deconvs = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        batch = z.shape[:-1]
        h = self.dense(z.reshape(-1, z.shape[-1])).reshape((-1,) + self.start)
        out = self.deconvs(h)
        return out[..., : self.event_shape[1], : self.event_shape[2]].reshape(batch + self.event_shape)
