"""pyroml's density models: each a Pyro model/guide pair in one PyroModule."""

from pyroml.models.base import DensityModel, check_images
from pyroml.models.vae import VAE, ConvVAE

#: model names as used on the command line and in checkpoints (``cvae`` is the study's name)
MODELS = {"vae": VAE, "convvae": ConvVAE, "cvae": ConvVAE}

__all__ = ["DensityModel", "check_images", "VAE", "ConvVAE", "MODELS"]
