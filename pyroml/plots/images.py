"""Figures of density models and their data. Each function returns a :class:`matplotlib.figure.Figure`;
saving is the caller's choice (``fig.savefig(path)``)."""

from __future__ import annotations

from typing import Dict, Optional, Tuple

import numpy as np
import torch
from matplotlib.figure import Figure

__all__ = ["reconstructions", "latent_grid", "latent_scatter", "training_curve", "image_grid", "panels"]


def _images(x: torch.Tensor) -> np.ndarray:
    """``(N, C, H, W)`` or ``(N, H, W)`` tensor -> ``(N, H, W)`` numpy array (first channel)."""
    x = x.detach().cpu()
    return (x[:, 0] if x.dim() == 4 else x).numpy()


def _tile(images: torch.Tensor, nrow: int) -> np.ndarray:
    imgs = _images(images)
    n, h, w = imgs.shape
    rows = int(np.ceil(n / nrow))
    canvas = np.ones((rows * h, nrow * w))
    for i, im in enumerate(imgs):
        r, c = divmod(i, nrow)
        canvas[r * h:(r + 1) * h, c * w:(c + 1) * w] = im
    return canvas


def image_grid(images: torch.Tensor, nrow: int, title: Optional[str] = None, ax=None) -> Figure:
    """Images of shape ``(N, C, H, W)`` tiled in rows of ``nrow`` (into ``ax`` when given)."""
    canvas = _tile(images, nrow)
    if ax is None:
        rows = canvas.shape[0] // images.shape[-1]
        fig = Figure(figsize=(nrow * 0.6 + 0.4, rows * 0.6 + 0.6))
        ax = fig.add_subplot()
    ax.imshow(canvas, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.axis("off")
    if title:
        ax.set_title(title)
    return ax.figure


def reconstructions(x: torch.Tensor, rows: Dict[str, torch.Tensor], n: int = 10,
                    title: Optional[str] = None) -> Figure:
    """Test images (top row) over one row of reconstructions per entry of ``rows``.

    :param Tensor x: originals, shape ``(N, C, H, W)``; the first ``n`` are shown.
    :param dict rows: label -> reconstructions shaped like ``x`` (e.g. ``{"VAE": model.reconstruct(x)}``).
    """
    if isinstance(rows, torch.Tensor):
        rows = {"reconstruction": rows}
    labels = ["data", *rows]
    stacks = [_images(x[:n])] + [_images(r[:n]) for r in rows.values()]
    fig = Figure(figsize=(n * 0.8 + 1.6, len(labels) * 0.85 + 0.4))
    axes = fig.subplots(len(labels), n, squeeze=False)
    for i, (label, imgs) in enumerate(zip(labels, stacks)):
        for j in range(n):
            ax = axes[i, j]
            if j < len(imgs):
                ax.imshow(imgs[j], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            for s in ax.spines.values():
                s.set_visible(False)
        axes[i, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
    if title:
        fig.suptitle(title)
    fig.subplots_adjust(left=0.12, right=0.99, wspace=0.05, hspace=0.05)
    return fig


@torch.no_grad()
def latent_grid(model, n: int = 20, extent: float = 3.0, title: Optional[str] = None, ax=None) -> Figure:
    """Images decoded from an ``n x n`` regular grid over a 2-d latent space.

    With a standard-normal prior the grid spans ``[-extent, extent]^2`` (±3 covers 99.7% of
    each axis); :math:`z_1` runs left to right, :math:`z_2` bottom to top.
    """
    if getattr(model, "latent_dim", None) != 2:
        raise ValueError(f"latent_grid needs a 2-d latent space, got latent_dim="
                         f"{getattr(model, 'latent_dim', None)}")
    z1 = torch.linspace(-extent, extent, n)             # columns: left to right
    z2 = torch.linspace(extent, -extent, n)             # rows: top to bottom
    grid = torch.stack(torch.meshgrid(z2, z1, indexing="ij"), -1).flip(-1).reshape(-1, 2)
    imgs = model.decode(grid.to(model.device)).clamp(0, 1)
    return image_grid(imgs, nrow=n, title=title or f"{type(model).__name__}: decoded latent grid", ax=ax)


def latent_scatter(latents: torch.Tensor, labels: Optional[torch.Tensor] = None,
                   title: Optional[str] = None, max_points: int = 10000, ax=None) -> Figure:
    """The first two latent coordinates, coloured by label (into ``ax`` when given).

    :param Tensor latents: shape ``(N, d)`` with ``d >= 2`` (extra dimensions ignored).
    :param Tensor labels: shape ``(N,)``.
    """
    z = latents.detach().cpu().numpy()[:max_points]
    if z.ndim != 2 or z.shape[1] < 2:
        raise ValueError(f"latent_scatter needs latents of shape (N, d>=2), got {tuple(latents.shape)}")
    if ax is None:
        fig = Figure(figsize=(6, 5))
        ax = fig.add_subplot()
    if labels is None:
        ax.scatter(z[:, 0], z[:, 1], s=2, alpha=0.5)
    else:
        sc = ax.scatter(z[:, 0], z[:, 1], c=labels.cpu().numpy()[:max_points], cmap="tab10", s=2,
                        alpha=0.6, vmin=-0.5, vmax=9.5)
        ax.figure.colorbar(sc, ax=ax, ticks=range(10), label="label")
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    ax.set_title(title or "latent projection of the test set")
    return ax.figure


def panels(n: int, size: Tuple[float, float] = (5.0, 5.0), title: Optional[str] = None):
    """A figure with ``n`` side-by-side axes, for multi-model figures: ``fig, axes = panels(3)``."""
    fig = Figure(figsize=(size[0] * n, size[1]))
    axes = fig.subplots(1, n, squeeze=False)[0]
    if title:
        fig.suptitle(title)
    return fig, list(axes)


def training_curve(history, title: Optional[str] = None) -> Figure:
    """Per-epoch training (and validation) ELBO per example."""
    h = history.to_dict() if hasattr(history, "to_dict") else history
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    epochs = np.arange(1, len(h["train_elbo"]) + 1)
    ax.plot(epochs, h["train_elbo"], marker="o", ms=3, label="train")
    if h.get("val_elbo"):
        ax.plot(epochs[: len(h["val_elbo"])], h["val_elbo"], marker="o", ms=3, label="validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel("ELBO per example (nats)")
    ax.legend()
    ax.grid(alpha=0.3)
    ax.set_title(title or "training curve")
    return fig
