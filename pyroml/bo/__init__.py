"""Bayesian optimisation on top of :class:`pyroml.gp.GP`.

* :mod:`~pyroml.bo.acquisition`: log expected improvement, Thompson sampling, lower confidence
  bound, scored over a candidate set;
* :mod:`~pyroml.bo.loop`: :func:`minimize`, :class:`BOResult`, and :func:`random_search` (a baseline).
"""

from pyroml.bo.acquisition import METHODS, log_expected_improvement
from pyroml.bo.loop import BOResult, Bounds, minimize, random_search

__all__ = ["minimize", "BOResult", "Bounds", "random_search", "log_expected_improvement", "METHODS"]
