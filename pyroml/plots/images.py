"""Figures of density models and their data. Each function returns a :class:`matplotlib.figure.Figure`;
saving is the caller's choice (``fig.savefig(path)``)."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from matplotlib.figure import Figure

__all__ = ["reconstructions", "latent_grid", "latent_scatter", "training_curve", "image_grid", "panels"]


def _images(x: torch.Tensor) -> np.ndarray:
    """``(N, C, H, W)`` (C = 1 or 3) or ``(N, H, W)`` tensor -> numpy array ``(N, H, W)`` for
    greyscale, ``(N, H, W, 3)`` for RGB, clipped to [0, 1] for display."""
    x = x.detach().cpu().float().clamp(0, 1)
    if x.dim() == 4:
        x = x[:, 0] if x.shape[1] == 1 else x[:, :3].permute(0, 2, 3, 1)
    if x.dim() not in (3, 4):
        raise ValueError(f"images must have shape (N, C, H, W) or (N, H, W), got {tuple(x.shape)}")
    return x.numpy()


def _show(ax: Any, image: np.ndarray) -> None:
    """One greyscale ``(H, W)`` or RGB ``(H, W, 3)`` image on [0, 1]."""
    ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")


def _tile(images: torch.Tensor, nrow: int) -> np.ndarray:
    imgs = _images(images)
    n, h, w = imgs.shape[:3]
    rows = int(np.ceil(n / nrow))
    canvas = np.ones((rows * h, nrow * w) + imgs.shape[3:])
    for i, im in enumerate(imgs):
        r, c = divmod(i, nrow)
        canvas[r * h:(r + 1) * h, c * w:(c + 1) * w] = im
    return canvas


def image_grid(images: torch.Tensor, nrow: int, title: Optional[str] = None, ax: Any = None) -> Figure:
    """Images of shape ``(N, C, H, W)`` (greyscale or RGB) tiled in rows of ``nrow`` (into ``ax``
    when given)."""
    canvas = _tile(images, nrow)
    if ax is None:
        rows = canvas.shape[0] // images.shape[-2]
        fig = Figure(figsize=(nrow * 0.6 + 0.4, rows * 0.6 + 0.6))
        ax = fig.add_subplot()
    _show(ax, canvas)
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
                _show(ax, imgs[j])
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
def latent_grid(model: Any, n: int = 20, extent: float = 3.0, title: Optional[str] = None, ax: Any = None) -> Figure:
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
                   title: Optional[str] = None, max_points: int = 10000, ax: Any = None,
                   class_names: Optional[Sequence[str]] = None) -> Figure:
    """The first two latent coordinates, coloured by label (into ``ax`` when given).

    :param Tensor latents: shape ``(N, d)`` with ``d >= 2`` (extra dimensions ignored).
    :param Tensor labels: integer labels of shape ``(N,)``.
    :param class_names: names of the classes ``0..K-1``, shown on the colour bar (default: the
        label values). Up to 20 classes get a qualitative colour map, more a continuous one.
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
        lab = labels.detach().cpu().numpy()[:max_points]
        k = len(class_names) if class_names else int(lab.max()) + 1 if lab.size else 1
        cmap = "tab10" if k <= 10 else "tab20" if k <= 20 else "viridis"
        top = (10 if k <= 10 else k) - 0.5
        sc = ax.scatter(z[:, 0], z[:, 1], c=lab, cmap=cmap, s=2, alpha=0.6, vmin=-0.5, vmax=top)
        ticks: List[int] = list(range(k)) if k <= 20 else list(range(0, k, max(1, k // 10)))
        bar = ax.figure.colorbar(sc, ax=ax, ticks=ticks, label="class" if class_names else "label")
        if class_names:
            bar.ax.set_yticklabels([str(class_names[t]) for t in ticks], fontsize=7)
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    ax.set_title(title or "latent projection of the test set")
    return ax.figure


def panels(n: int, size: Tuple[float, float] = (5.0, 5.0), title: Optional[str] = None) -> Tuple[Figure, List[Any]]:
    """A figure with ``n`` side-by-side axes, for multi-model figures: ``fig, axes = panels(3)``."""
    fig = Figure(figsize=(size[0] * n, size[1]))
    axes = fig.subplots(1, n, squeeze=False)[0]
    if title:
        fig.suptitle(title)
    return fig, list(axes)


def training_curve(history: Any, title: Optional[str] = None) -> Figure:
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
