"""Gaussian-process regression with a posterior over its kernel hyperparameters.

* :mod:`~pyroml.gp.kernels`: one class per kernel family (value and gradient in log
  hyperparameters, isotropic or ARD, written once for NumPy and torch), their sums and products
  (:mod:`~pyroml.gp.kernel_base`: ``"rbf+periodic"``, ``RBF() * Periodic()``), :func:`kernel_matrix`;
* :mod:`~pyroml.gp.transforms`: the working scales, inputs in the unit cube and targets standardised;
* :mod:`~pyroml.gp.priors`: the library's default priors, stated on those scales;
* :mod:`~pyroml.gp.potential`: the closed-form NUTS potential and its gradient;
* :mod:`~pyroml.gp.posterior`: :class:`Posterior`, NUTS and MAP; :class:`NUTSInterrupted` keeps
  the draws of an interrupted run;
* :mod:`~pyroml.gp.nuts`: :class:`LeanNUTS`, NUTS with Stan's warm-up in NumPy for the closed-form potential;
* :mod:`~pyroml.gp.contrib`: the same GP as a ``pyro.contrib.gp`` model (the SVI path);
* :mod:`~pyroml.gp.exact`: :class:`GP`, exact GP regression;
* :mod:`~pyroml.gp.sparse`: :class:`SparseGP`, inducing-point regression (VFE) for large N;
  :mod:`~pyroml.gp.sparse_bound`: its bound from whitened data statistics summed over chunks, the
  gradient chained through them by hand, and the k-means++ start of the inducing inputs;
* :mod:`~pyroml.gp.linalg`: factorisations for joint function draws.
"""

from pyroml.gp.exact import GP, Conditional
from pyroml.gp.kernels import (
                               FAMILIES,
                               HYPERS,
                               KERNELS,
                               Hypers,
                               Kernel,
                               Product,
                               Sum,
                               get_kernel,
                               hyper_names,
                               kernel_matrix,
                               parse_kernel,
)
from pyroml.gp.linalg import pivoted_cholesky
from pyroml.gp.nuts import LeanNUTS
from pyroml.gp.posterior import ChainResult, NUTSInterrupted, Posterior, run_chain
from pyroml.gp.potential import ClosedFormPotential, direct_gradients
from pyroml.gp.priors import default_priors
from pyroml.gp.sparse import SparseGP
from pyroml.gp.transforms import Standardize, UnitCube, as_bounds

__all__ = ["GP", "Posterior", "Conditional", "KERNELS", "HYPERS", "FAMILIES", "Kernel", "Hypers", "get_kernel",
           "kernel_matrix", "default_priors", "run_chain", "ChainResult", "ClosedFormPotential",
           "direct_gradients", "pivoted_cholesky", "hyper_names", "UnitCube", "Standardize", "as_bounds",
           "SparseGP", "Sum", "Product", "parse_kernel", "LeanNUTS", "NUTSInterrupted"]
