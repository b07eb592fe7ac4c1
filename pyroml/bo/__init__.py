"""Bayesian optimisation on top of :class:`pyroml.gp.GP`.

* :mod:`~pyroml.bo.acquisition`: log expected improvement (plain and noisy), lower/upper
  confidence bound, Thompson sampling; objects over candidate batches ``(b, q, d)``;
* :mod:`~pyroml.bo.optimize`: multi-start projected L-BFGS ascent of an acquisition over a box;
* :mod:`~pyroml.bo.fit`: the MAP fit of a round (value-space priors, starts, fitted constant mean,
  the kernel chosen by leave-one-out predictive density) and the Laplace draws around it;
* :mod:`~pyroml.bo.warp`: the monotone Yeo-Johnson warp of the observed values the GP is fitted to;
* :mod:`~pyroml.bo.loop`: :class:`BayesOpt` (``suggest(q)`` / ``observe(x, y)``), :func:`minimize`
  and :func:`random_search` (a baseline);
* :mod:`~pyroml.bo.result`: :class:`BOResult` and :class:`BOInterrupted`.
"""

from pyroml.bo.acquisition import (
                                   METHODS,
                                   Acquisition,
                                   LogExpectedImprovement,
                                   LowerConfidenceBound,
                                   NoisyLogExpectedImprovement,
                                   log_expected_improvement,
)
from pyroml.bo.loop import BayesOpt, Bounds, minimize, random_search
from pyroml.bo.optimize import maximize
from pyroml.bo.result import BOInterrupted, BOResult

__all__ = ["minimize", "BayesOpt", "BOResult", "BOInterrupted", "Bounds", "random_search", "maximize",
           "log_expected_improvement",
           "METHODS", "Acquisition", "LogExpectedImprovement", "NoisyLogExpectedImprovement", "LowerConfidenceBound"]
