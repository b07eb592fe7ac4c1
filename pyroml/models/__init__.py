"""pyroml's density models: each a Pyro model/guide pair in one PyroModule."""

from pyroml.models.base import DensityModel, check_images
from pyroml.models.gmm import GMM
from pyroml.models.ppca import PPCA
from pyroml.models.vae import VAE, ConvVAE

#: model names as used on the command line and in checkpoints (``cvae`` is the study's name)
MODELS = {"vae": VAE, "convvae": ConvVAE, "cvae": ConvVAE, "ppca": PPCA, "gmm": GMM}

__all__ = ["DensityModel", "check_images", "VAE", "ConvVAE", "PPCA", "GMM", "MODELS"]
