"""Bayesian optimisation on top of :class:`pyroml.gp.GP`.

* :mod:`~pyroml.bo.acquisition`: log expected improvement (plain and noisy), lower/upper
  confidence bound, Thompson sampling; objects over candidate batches ``(b, q, d)``;
* :mod:`~pyroml.bo.optimize`: multi-start projected gradient ascent of an acquisition over a box;
* :mod:`~pyroml.bo.loop`: :class:`BayesOpt` (``suggest(q)`` / ``observe(x, y)``), :func:`minimize`,
  :class:`BOResult`, and :func:`random_search` (a baseline).
"""

from pyroml.bo.acquisition import (
                                   METHODS,
                                   Acquisition,
                                   LogExpectedImprovement,
                                   LowerConfidenceBound,
                                   NoisyLogExpectedImprovement,
                                   log_expected_improvement,
)
from pyroml.bo.loop import BayesOpt, BOResult, Bounds, minimize, random_search
from pyroml.bo.optimize import maximize

__all__ = ["minimize", "BayesOpt", "BOResult", "Bounds", "random_search", "maximize", "log_expected_improvement",
           "METHODS", "Acquisition", "LogExpectedImprovement", "NoisyLogExpectedImprovement", "LowerConfidenceBound"]
