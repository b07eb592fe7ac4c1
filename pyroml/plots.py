"""The study's figures. Each function returns a :class:`matplotlib.figure.Figure`;
saving is the caller's choice (``fig.savefig(path)``)."""

from __future__ import annotations

from typing import Dict, Optional, Tuple

import numpy as np
import torch
from matplotlib.figure import Figure

__all__ = ["reconstructions", "latent_grid", "latent_scatter", "training_curve", "image_grid", "panels",
           "gp_figures", "bo_figures"]


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


def _gp_panel(ax, x, mean, std, X, Y, f=None, samples=None, title=None):
    x = x.cpu().numpy()
    ax.fill_between(x, (mean - 1.96 * std).numpy(), (mean + 1.96 * std).numpy(), alpha=0.25, label="95% band")
    ax.plot(x, mean.numpy(), label="predictive mean")
    if samples is not None:
        for i, s in enumerate(samples):
            ax.plot(x, s.numpy(), lw=0.8, alpha=0.7, label="function samples" if i == 0 else None)
    if f is not None:
        ax.plot(x, f(torch.as_tensor(x)[:, None]).reshape(-1).numpy(), "k--", lw=1, label="target")
    ax.plot(X.reshape(-1).numpy(), Y.numpy(), "ko", ms=5, label="data")
    if title:
        ax.set_title(title)


def gp_figures(post, f=None, bounds=(-1.0, 1.0), n_samples: int = 5) -> Dict[str, Figure]:
    """Figures of a GP hyperparameter posterior (1-d inputs): posterior samples of the
    hyperparameters beside prior samples (log-log), and the posterior predictive mean with a
    95% band, a few joint function samples, the target ``f`` and the data."""
    gp = post.gp
    names = gp.hyper_names
    fig_h = Figure(figsize=(5.5, 5))
    ax = fig_h.add_subplot()
    prior = {h: gp._prior(h).sample((len(post.samples[names[0]]),)) for h in names[:2]}
    ax.scatter(prior[names[0]].numpy(), prior[names[1]].numpy(), s=3, alpha=0.3, label="prior")
    ax.scatter(post.samples[names[0]].numpy(), post.samples[names[1]].numpy(), s=3, alpha=0.5, label="posterior")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1])
    ax.legend()
    ax.set_title("hyperparameters: posterior (NUTS) and prior samples")
    x = torch.linspace(float(bounds[0]), float(bounds[1]), 400, dtype=torch.float64)
    mean, var = post.predict(x)
    g = torch.Generator().manual_seed(0)
    fig_p = Figure(figsize=(8, 4.5))
    ax = fig_p.add_subplot()
    _gp_panel(ax, x, mean, var.sqrt(), gp.X, gp.y, f, post.sample_functions(x, n_samples, generator=g),
              "posterior predictive, averaged over hyperparameter samples")
    ax.legend(fontsize=8)
    return {"gp_hyperparameters": fig_h, "gp_predictive": fig_p}


def bo_figures(result, f=None, bounds=(-1.0, 1.0)) -> Dict[str, Figure]:
    """Figures of a 1-d Bayesian-optimisation run: one panel per iteration (GP, the drawn sample
    or the acquisition, the chosen point) and the best-so-far curve."""
    out: Dict[str, Figure] = {}
    steps = [t for t in result.trace if "candidates" in t]
    if steps:
        cols = min(5, len(steps))
        rows = int(np.ceil(len(steps) / cols))
        fig = Figure(figsize=(4 * cols, 3.2 * rows))
        axes = fig.subplots(rows, cols, squeeze=False).reshape(-1)
        for ax, t in zip(axes, steps):
            _gp_panel(ax, t["candidates"], t["gp_mean"], t["gp_std"], t["X_before"], t["Y_before"], f,
                      [t["sample"]] if "sample" in t else None, f"iteration {t['iteration']}")
            if "acquisition" in t:
                a = t["acquisition"].numpy()
                a = (a - a.min()) / max(a.max() - a.min(), 1e-12)
                lo, hi = ax.get_ylim()
                ax.plot(t["candidates"].numpy(), lo + 0.25 * (hi - lo) * a, color="tab:green", lw=1,
                        label="acquisition (scaled)")
            ax.axvline(t["x"][0], color="tab:red", lw=1, label="chosen")
        for ax in axes[len(steps):]:
            ax.axis("off")
        axes[0].legend(fontsize=7)
        out["bo_iterations"] = fig
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    best = result.best_so_far().numpy()
    ax.plot(np.arange(1, len(best) + 1), best, marker="o")
    ax.set_xlabel("evaluation")
    ax.set_ylabel("best f so far")
    ax.grid(alpha=0.3)
    out["bo_best_so_far"] = fig
    return out
