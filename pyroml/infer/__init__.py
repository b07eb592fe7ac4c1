"""How models are fitted: the SVI engine, the module protocol it trains, its ELBO and scaling."""

from pyroml.infer.elbo import LeanTraceMeanField_ELBO, elbo_per_example
from pyroml.infer.engine import History, fit
from pyroml.infer.module import SVIModule
from pyroml.infer.scaling import DataScale

__all__ = ["fit", "History", "SVIModule", "DataScale", "LeanTraceMeanField_ELBO", "elbo_per_example"]
