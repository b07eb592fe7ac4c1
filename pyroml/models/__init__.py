"""pyroml's density models: each a Pyro model/guide pair in one PyroModule."""

from pyroml.io.registry import MODELS
from pyroml.models.base import DensityModel, SVIModule, check_examples
from pyroml.models.gmm import GMM
from pyroml.models.ppca import PPCA
from pyroml.models.vae import VAE, ConvVAE

__all__ = ["SVIModule", "DensityModel", "check_examples", "VAE", "ConvVAE", "PPCA", "GMM", "MODELS"]
