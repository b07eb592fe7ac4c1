"""The set of figures that fits a fitted density model, and writing a set of figures."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional

import torch
from matplotlib.figure import Figure

from pyroml.data import Dataset
from pyroml.evaluation import Report
from pyroml.infer import History
from pyroml.io import PathLike, atomic_write
from pyroml.models import GMM, DensityModel
from pyroml.plots.images import image_grid, latent_grid, latent_scatter, reconstructions, training_curve

__all__ = ["model_figures", "component_means", "save_figures"]


@torch.no_grad()
def component_means(model: GMM, max_shown: int = 10) -> Figure:
    """A mixture's component means as images, sorted by weight, with their weights in the title."""
    w = torch.softmax(model.logits.detach(), -1)
    order = w.argsort(descending=True)
    means = model.means.detach()[order].clamp(0, 1).reshape((-1,) + model.event_shape)
    return image_grid(means.cpu(), nrow=min(max_shown, model.n_components),
                      title="GMM component means (by weight: " +
                            ", ".join(f"{float(v):.2f}" for v in w[order][:max_shown]) + ")")


@torch.no_grad()
def model_figures(model: DensityModel, test: Dataset, report: Report, history: Optional[History] = None,
                  n: int = 10) -> Dict[str, Figure]:
    """The figures that make sense for ``model`` and its data: for images, reconstructions
    (posterior mean and posterior sample), the decoded latent grid (2-d latents) and, for a
    mixture, its component means; for any data, the latent scatter (coloured by class, with the
    data's class names when ``test.spec`` has them) and the training curve.

    :param test: the data the report was computed on; its first ``n`` examples are reconstructed.
    :returns: figure name -> figure (the names are the file stems :func:`save_figures` writes).
    """
    name = type(model).__name__
    images = len(model.event_shape) == 3
    class_names = getattr(getattr(test, "spec", None), "class_names", None)
    out: Dict[str, Figure] = {}
    if images:
        x = test.x[:n].to(model.device)
        torch.manual_seed(0)
        out["reconstructions"] = reconstructions(
            x, {f"{name} mean": model.reconstruct(x), f"{name} sample": model.reconstruct(x, sample=True)},
            n=n, title=f"{name}: test images and reconstructions")
    latent_dim = getattr(model, "latent_dim", None)
    if latent_dim == 2 and images:
        out["latent_grid"] = latent_grid(model)
    if report.latents is not None and report.latents.shape[1] >= 2 and latent_dim is not None:
        out["latent_scatter"] = latent_scatter(report.latents, report.labels, title=f"{name}: test-set latents",
                                               class_names=class_names)
    if history is not None and history.train_elbo:
        out["training_curve"] = training_curve(history, title=f"{name}: ELBO per example")
    if isinstance(model, GMM) and images:
        out["component_means"] = component_means(model)
    return out


def save_figures(figs: Dict[str, Figure], out: PathLike, dpi: int = 120) -> None:
    """Write each figure to ``out/<name>.png`` atomically."""
    for name, fig in figs.items():
        def write(tmp: str, fig: Figure = fig) -> None:
            fig.savefig(tmp, dpi=dpi, format="png", bbox_inches="tight")
        atomic_write(Path(out) / f"{name}.png", write)
