"""pyroml: density models and Gaussian processes, done right in Pyro.

>>> import pyroml
>>> train, test = pyroml.data.load_mnist()              # doctest: +SKIP
>>> model = pyroml.VAE(latent_dim=2)
>>> history = pyroml.fit(model, train, epochs=25)       # doctest: +SKIP
>>> report = pyroml.evaluate(model, test)               # doctest: +SKIP
"""

from pyroml import bo, data, plots
from pyroml.checkpoint import load, save
from pyroml.evaluate import Report, evaluate
from pyroml.gp import GP
from pyroml.models import GMM, MODELS, PPCA, ConvVAE, DensityModel, VAE
from pyroml.train import History, fit

__version__ = "0.1.0"

__all__ = ["data", "plots", "bo", "GP", "VAE", "ConvVAE", "PPCA", "GMM", "DensityModel", "MODELS", "fit", "History",
           "evaluate", "Report", "save", "load"]
