"""Figures. Each function returns a :class:`matplotlib.figure.Figure`; saving is the caller's
choice (``fig.savefig(path)``, or :func:`save_figures` for a dict of them, atomically).

This package is the only part of pyroml that imports matplotlib; ``import pyroml`` loads it on
first use of ``pyroml.plots``.
"""

from pyroml.plots.figures import model_figures, save_figures
from pyroml.plots.gp import bo_figures, gp_figures
from pyroml.plots.images import image_grid, latent_grid, latent_scatter, panels, reconstructions, training_curve

__all__ = ["reconstructions", "latent_grid", "latent_scatter", "training_curve", "image_grid", "panels",
           "gp_figures", "bo_figures", "model_figures", "save_figures"]
