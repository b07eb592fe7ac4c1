"""The single kernel families: each one's value and gradient in log hyperparameters, written once.

The families are those of ``pyro.contrib.gp.kernels`` with a lengthscale :math:`\\ell` (one,
``"lengthscale"``, or one per input dimension, ARD, ``"lengthscale_0"``, ...), variance
:math:`\\sigma_f^2` and, for ``periodic``, period :math:`p`; see :mod:`pyroml.gp.kernels` for the
formulas and :mod:`pyroml.gp.kernel_base` for the interface and for sums and products.
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Tuple, Type

import pyro.contrib.gp as gp

from pyroml.gp.kernel_base import Array, ArrayOps, Grads, Kernel, _total, lengthscale_names

__all__ = ["Stationary", "RBF", "Matern32", "Matern52", "Exponential", "Periodic", "FAMILY_CLASSES"]


def _lengthscales(h: Dict[str, Any], d: int) -> Tuple[List[Any], List[str]]:
    """Per input dimension: the lengthscale and the name of the hyperparameter it comes from."""
    if "lengthscale" in h:
        return [h["lengthscale"]] * d, ["lengthscale"] * d
    names = list(lengthscale_names(d, True))
    return [h[n] for n in names], names


def _by_name(names: List[str], terms: List[Array]) -> Grads:
    """Terms summed by hyperparameter name (an isotropic lengthscale collects every dimension)."""
    out: Grads = {}
    for n, t in zip(names, terms):
        out[n] = out[n] + t if n in out else t
    return out


class Stationary(Kernel):
    """:math:`k(x, x') = \\sigma_f^2 \\kappa(s)` of the scaled squared distance
    :math:`s = \\sum_k D_k / \\ell_k^2`, :math:`D_k = (x_k - x'_k)^2`, with one lengthscale
    (isotropic, ``"lengthscale"``) or one per dimension (ARD, ``"lengthscale_k"``). With
    :math:`k_s = \\partial k / \\partial s` from the family's :meth:`profile`, the gradient is
    written once for all families:

    .. math::

        \\frac{\\partial k}{\\partial\\log\\ell_k} = -2 k_s \\frac{D_k}{\\ell_k^2}, \\qquad
        \\frac{\\partial k}{\\partial\\log\\sigma_f^2} = k

    (an isotropic lengthscale: the sum over :math:`k`, :math:`-2 s k_s`)."""

    def pairwise(self, X1: Array, X2: Array) -> List[Array]:
        """Squared differences :math:`D_k = (x_{ik} - x'_{jk})^2` per dimension: ``d`` arrays ``(N, M)``."""
        return [(X1[:, None, k] - X2[None, :, k]) ** 2 for k in range(X1.shape[1])]

    def evaluate(self, P: List[Array], h: Dict[str, Any], ops: ArrayOps, grad: bool = False
                 ) -> Tuple[Array, Optional[Grads]]:
        ls, names = _lengthscales(h, len(P))
        scaled = [D * (1.0 / ell ** 2) for D, ell in zip(P, ls)]
        K, dK_ds = self.profile(_total(scaled), h["variance"], ops, grad)
        if dK_ds is None:
            return K, None
        return K, {**_by_name(names, [-2.0 * dK_ds * t for t in scaled]), "variance": K}

    def profile(self, s: Array, variance: Any, ops: ArrayOps, grad: bool) -> Tuple[Array, Optional[Array]]:
        """:math:`k = \\sigma_f^2\\kappa(s)` and, with ``grad``, :math:`k_s = \\sigma_f^2\\kappa'(s)`."""
        raise NotImplementedError


class RBF(Stationary):
    """Squared exponential:

    .. math:: k = \\sigma_f^2 e^{-s/2}, \\qquad k_s = -k/2.
    """

    name = "rbf"
    pyro_class = gp.kernels.RBF

    def profile(self, s: Array, variance: Any, ops: ArrayOps, grad: bool) -> Tuple[Array, Optional[Array]]:
        K = variance * ops.exp(-0.5 * s)
        return K, (-0.5 * K if grad else None)


class Matern32(Stationary):
    """Matérn, smoothness 3/2, with :math:`r = \\sqrt{3s}`:

    .. math:: k = \\sigma_f^2 (1 + r) e^{-r}, \\qquad k_s = -\\tfrac32 \\sigma_f^2 e^{-r}.
    """

    name = "matern32"
    pyro_class = gp.kernels.Matern32

    def profile(self, s: Array, variance: Any, ops: ArrayOps, grad: bool) -> Tuple[Array, Optional[Array]]:
        r = math.sqrt(3.0) * ops.sqrt(s)
        e = variance * ops.exp(-r)
        return (1 + r) * e, (-1.5 * e if grad else None)


class Matern52(Stationary):
    """Matérn, smoothness 5/2, with :math:`r = \\sqrt{5s}`:

    .. math:: k = \\sigma_f^2 (1 + r + r^2/3) e^{-r}, \\qquad
        k_s = -\\tfrac56 \\sigma_f^2 (1 + r) e^{-r}.
    """

    name = "matern52"
    pyro_class = gp.kernels.Matern52

    def profile(self, s: Array, variance: Any, ops: ArrayOps, grad: bool) -> Tuple[Array, Optional[Array]]:
        r = math.sqrt(5.0) * ops.sqrt(s)
        e = variance * ops.exp(-r)
        return (1 + r + r * r / 3) * e, (-(5.0 / 6.0) * (1 + r) * e if grad else None)


class Exponential(Stationary):
    """Exponential (Matérn 1/2), with :math:`r = \\sqrt s`:

    .. math:: k = \\sigma_f^2 e^{-r}, \\qquad k_s = -k / (2r)

    (at :math:`r = 0`, where every :math:`D_k = 0`, the gradient terms are 0).
    """

    name = "exponential"
    pyro_class = gp.kernels.Exponential

    def profile(self, s: Array, variance: Any, ops: ArrayOps, grad: bool) -> Tuple[Array, Optional[Array]]:
        r = ops.sqrt(s)
        K = variance * ops.exp(-r)
        return K, (-0.5 * K / (r + 1e-150) if grad else None)


class Periodic(Kernel):
    """Periodic (MacKay), with :math:`u_k = \\pi |x_k - x'_k| / p` and
    :math:`S = \\sum_k \\sin^2 u_k / \\ell_k^2` (one lengthscale, or one per dimension):

    .. math::

        k = \\sigma_f^2 \\exp(-2S), \\qquad
        \\frac{\\partial k}{\\partial\\log\\ell_k} = \\frac{4 \\sin^2 u_k}{\\ell_k^2} k, \\qquad
        \\frac{\\partial k}{\\partial\\log p} = 2k \\sum_k \\frac{u_k \\sin 2u_k}{\\ell_k^2}.
    """

    name = "periodic"
    hypers = ("lengthscale", "variance", "period")
    pyro_class = gp.kernels.Periodic

    def pairwise(self, X1: Array, X2: Array) -> List[Array]:
        """:math:`|x_{ik} - x'_{jk}|` for each input dimension :math:`k`: ``d`` arrays of shape ``(N, M)``."""
        return [abs(X1[:, None, k] - X2[None, :, k]) for k in range(X1.shape[1])]

    def evaluate(self, P: List[Array], h: Dict[str, Any], ops: ArrayOps, grad: bool = False
                 ) -> Tuple[Array, Optional[Grads]]:
        ls, names = _lengthscales(h, len(P))
        u = [(math.pi / h["period"]) * a for a in P]
        terms = [ops.sin(v) ** 2 * (1.0 / ell ** 2) for v, ell in zip(u, ls)]
        K = h["variance"] * ops.exp(-2.0 * _total(terms))
        if not grad:
            return K, None
        return K, {**_by_name(names, [4.0 * K * t for t in terms]), "variance": K,
                   "period": 2.0 * K * _total(v * ops.sin(2 * v) * (1.0 / ell ** 2) for v, ell in zip(u, ls))}


#: every single family, in the order of :data:`pyroml.gp.KERNELS`
FAMILY_CLASSES: Tuple[Type[Kernel], ...] = (RBF, Matern32, Matern52, Exponential, Periodic)
