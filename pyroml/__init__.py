"""pyroml: density models and Gaussian processes, done right in Pyro.

>>> import pyroml
>>> train, test = pyroml.data.load_mnist()              # doctest: +SKIP
>>> model = pyroml.VAE(latent_dim=2)
>>> history = pyroml.fit(model, train, epochs=25)       # doctest: +SKIP
>>> report = pyroml.evaluate(model, test)               # doctest: +SKIP

``pyroml.plots`` is imported on first use, so ``import pyroml`` does not load matplotlib.
"""

import importlib
from typing import Any

from pyroml import bo, data, gp
from pyroml.evaluation import Report, evaluate
from pyroml.gp import GP
from pyroml.infer import History, SVIModule, fit
from pyroml.io import MODELS, load, save
from pyroml.models import GMM, PPCA, VAE, ConvVAE, DensityModel

__version__ = "0.1.0"

__all__ = ["data", "plots", "bo", "gp", "GP", "VAE", "ConvVAE", "PPCA", "GMM", "DensityModel", "SVIModule", "MODELS",
           "fit", "History", "evaluate", "Report", "save", "load"]


def __getattr__(name: str) -> Any:
    # ``pyroml.plots`` on first use: the only module that needs matplotlib
    if name == "plots":
        return importlib.import_module("pyroml.plots")
    raise AttributeError(f"module 'pyroml' has no attribute {name!r}")
