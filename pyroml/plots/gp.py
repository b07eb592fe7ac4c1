"""Figures of Gaussian processes and Bayesian optimisation runs (1-d inputs)."""

from __future__ import annotations

from typing import Callable, Dict, Iterable, Optional, Tuple

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from pyroml.bo import BOResult
from pyroml.gp import Posterior

__all__ = ["gp_figures", "bo_figures"]

Objective = Callable[[torch.Tensor], torch.Tensor]


def _gp_panel(ax: Axes, x_grid: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, X: torch.Tensor,
              Y: torch.Tensor, f: Optional[Objective] = None, samples: Optional[Iterable[torch.Tensor]] = None,
              title: Optional[str] = None) -> None:
    """One 1-d GP panel: the mean over ``x_grid`` ``(M,)`` with a 95% band from ``std`` ``(M,)``,
    function ``samples`` (each ``(M,)``), the target ``f`` and the data ``X`` ``(n, 1)``, ``Y`` ``(n,)``."""
    x = x_grid.cpu().numpy()
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


def gp_figures(post: Posterior, f: Optional[Objective] = None, bounds: Tuple[float, float] = (-1.0, 1.0),
               n_samples: int = 5) -> Dict[str, Figure]:
    """Figures of a GP hyperparameter posterior (1-d inputs): posterior samples of the
    hyperparameters beside prior samples (log-log), and the posterior predictive mean with a
    95% band, a few joint function samples, the target ``f`` (``(n, 1)`` to ``(n, 1)``) and the data.

    :returns: ``{"gp_hyperparameters": ..., "gp_predictive": ...}``.
    """
    gp = post.gp
    names = gp.hyper_names
    fig_h = Figure(figsize=(5.5, 5))
    ax = fig_h.add_subplot()
    prior = {h: gp.prior(h).sample((len(post.samples[names[0]]),)) for h in names[:2]}
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


def bo_figures(result: BOResult, f: Optional[Objective] = None, bounds: Tuple[float, float] = (-1.0, 1.0)
               ) -> Dict[str, Figure]:
    """Figures of a 1-d Bayesian-optimisation run: one panel per iteration (GP, the drawn sample
    or the acquisition, the chosen point; iterations recorded with ``record=True``) and the
    best-so-far curve.

    :returns: ``{"bo_iterations": ..., "bo_best_so_far": ...}`` (the first only when recorded).
    """
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
