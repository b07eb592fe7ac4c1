"""Stationary kernels: each family's value and gradient in log hyperparameters, written once.

The families are those of ``pyro.contrib.gp.kernels`` with a lengthscale :math:`\\ell` (one,
``"lengthscale"``, or one per input dimension, ARD, ``"lengthscale_0"``, ...), variance
:math:`\\sigma_f^2` and, for ``periodic``, period :math:`p`. With the scaled squared distance
:math:`s = \\sum_k (x_k - x'_k)^2 / \\ell_k^2`, the stationary families are
:math:`k = \\sigma_f^2\\kappa(s)` and define only :math:`\\kappa` and :math:`k_s = \\sigma_f^2\\kappa'(s)`:

* ``rbf``: :math:`k = \\sigma_f^2 e^{-s/2}`;
* ``matern32``: :math:`k = \\sigma_f^2 (1 + r) e^{-r}` with :math:`r = \\sqrt{3s}`;
* ``matern52``: :math:`k = \\sigma_f^2 (1 + r + r^2/3) e^{-r}` with :math:`r = \\sqrt{5s}`;
* ``exponential`` (Matérn 1/2): :math:`k = \\sigma_f^2 e^{-r}` with :math:`r = \\sqrt s`;
* ``periodic``: :math:`k = \\sigma_f^2 \\exp\\big(-2 \\sum_k \\sin^2(\\pi |x_k - x'_k| / p) / \\ell_k^2\\big)`
  (see :class:`Periodic`);

the gradient in each :math:`\\log\\ell_k` is then written once (:class:`Stationary`):
:math:`\\partial k / \\partial\\log\\ell_k = -2 k_s (x_k - x'_k)^2 / \\ell_k^2`, and
:math:`\\partial k / \\partial\\log\\sigma_f^2 = k` for all of them.

Each family is one small class whose formula is written with an :class:`ArrayOps` namespace, so
that the same lines serve

* NumPy with float hyperparameters: value and gradient for the NUTS potential
  (:class:`pyroml.gp.potential.ClosedFormPotential`, the fast path on a few data points), and
* torch with a batch of ``S`` hyperparameter settings: :func:`kernel_matrix`, for the
  predictive, the function samples and the autograd potential.

:data:`KERNELS` maps each name to the matching ``pyro.contrib.gp.kernels`` class, which the SVI
path builds and which users may pass as instances (:func:`resolve_kernel`).
"""

from __future__ import annotations

import functools
import math
import operator
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Dict, Iterable, List, NamedTuple, Optional, Tuple, Type, Union

import numpy as np
import pyro.contrib.gp as gp
import torch
from pyro.distributions.torch_distribution import TorchDistributionMixin

__all__ = ["KERNELS", "HYPERS", "FAMILIES", "Hypers", "Kernel", "Stationary", "RBF", "Matern32", "Matern52",
           "Exponential", "Periodic", "ArrayOps", "NUMPY", "TORCH", "get_kernel", "kernel_matrix",
           "KernelSpec", "resolve_kernel", "lengthscale_names", "hyper_names"]

#: hyperparameter name -> values: a tensor of shape ``(S,)`` (S settings) or ``()``
Hypers = Dict[str, torch.Tensor]
#: a NumPy array or a torch tensor (a kernel formula takes either)
Array = Any
#: hyperparameter name -> :math:`\partial K / \partial \log` (hyperparameter), shaped like ``K``
Grads = Dict[str, Array]


def _autograd_safe_sqrt(x: torch.Tensor) -> torch.Tensor:
    """:math:`\\sqrt{\\max(x, 10^{-30})}`: autograd's gradient of the square root stays finite
    at :math:`x = 0` (the diagonal of a Gram matrix)."""
    return x.clamp_min(1e-30).sqrt()


@dataclass(frozen=True)
class ArrayOps:
    """The elementwise functions a kernel formula uses, taken from one array library."""

    exp: Callable[[Array], Array]
    sqrt: Callable[[Array], Array]
    sin: Callable[[Array], Array]


#: NumPy: the closed-form NUTS potential (never differentiated by autograd)
NUMPY = ArrayOps(exp=np.exp, sqrt=np.sqrt, sin=np.sin)
#: torch: prediction, function samples and the autograd potential (square root floored for autograd)
TORCH = ArrayOps(exp=torch.exp, sqrt=_autograd_safe_sqrt, sin=torch.sin)


def _total(terms: Iterable[Array]) -> Array:
    """The sum of ``terms`` (the first term itself when there is one)."""
    return functools.reduce(operator.add, terms)


class Kernel:
    """A kernel family :math:`k_\\theta(x, x')`: pairwise features of two input sets, and the
    Gram matrix from them with its derivatives in :math:`\\log\\theta`.

    Hyperparameters come as a dict ``h`` of floats (NumPy) or tensors that broadcast against the
    pairwise features, e.g. of shape ``(S, 1, 1)`` for ``S`` settings (torch).
    """

    #: the family's name, a key of :data:`KERNELS`
    name: ClassVar[str]
    #: its hyperparameters, in the order of :math:`\theta`
    hypers: ClassVar[Tuple[str, ...]] = ("lengthscale", "variance")
    #: the ``pyro.contrib.gp.kernels`` class of the same family
    pyro_class: ClassVar[Type[gp.kernels.Kernel]]

    def pairwise(self, X1: Array, X2: Array) -> Any:
        """What the formula needs of inputs ``X1`` of shape ``(N, d)`` and ``X2`` of shape ``(M, d)``."""
        raise NotImplementedError

    def evaluate(self, P: Any, h: Dict[str, Any], ops: ArrayOps, grad: bool = False
                 ) -> Tuple[Array, Optional[Grads]]:
        """:math:`K = k_\\theta(X_1, X_2)` from ``P = pairwise(X1, X2)``, shape ``(..., N, M)``, and,
        with ``grad``, ``{name: dK / d log name}`` for every name in :attr:`hypers` (else ``None``)."""
        raise NotImplementedError


def lengthscale_names(d: int, ard: bool) -> Tuple[str, ...]:
    """The lengthscale hyperparameters: ``("lengthscale",)`` (isotropic), or one per input
    dimension, ``("lengthscale_0", ..., "lengthscale_{d-1}")`` (ARD, when ``ard`` and ``d > 1``)."""
    return tuple(f"lengthscale_{k}" for k in range(d)) if ard and d > 1 else ("lengthscale",)


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


#: name -> the family's formulas
FAMILIES: Dict[str, Kernel] = {cls.name: cls() for cls in (RBF, Matern32, Matern52, Exponential, Periodic)}
#: name -> the matching ``pyro.contrib.gp.kernels`` class
KERNELS: Dict[str, Type[gp.kernels.Kernel]] = {name: k.pyro_class for name, k in FAMILIES.items()}
#: name -> the family's hyperparameters, in the order of :math:`\theta`
HYPERS: Dict[str, Tuple[str, ...]] = {name: k.hypers for name, k in FAMILIES.items()}


def hyper_names(kernel: str, d: int, ard: bool) -> Tuple[str, ...]:
    """The kernel's hyperparameters on ``d`` inputs, in the order of :math:`\\theta`: its
    :data:`HYPERS` with ``"lengthscale"`` expanded to one per dimension when ``ard`` and ``d > 1``."""
    out: List[str] = []
    for h in get_kernel(kernel).hypers:
        out.extend(lengthscale_names(d, ard) if h == "lengthscale" else (h,))
    return tuple(out)


def get_kernel(name: str) -> Kernel:
    """The family called ``name`` (one of :data:`KERNELS`).

    :raises ValueError: for an unknown name, listing the known ones.
    """
    try:
        return FAMILIES[name]
    except KeyError:
        raise ValueError(f"unknown kernel {name!r}; choose one of {sorted(KERNELS)}") from None


def kernel_matrix(kernel: str, X1: torch.Tensor, X2: torch.Tensor, hypers: Hypers) -> torch.Tensor:
    """:math:`k_\\theta(X_1, X_2)` for a batch of hyperparameter settings, in torch.

    :param str kernel: one of :data:`KERNELS`.
    :param Tensor X1: shape ``(N, d)``; ``X2``: shape ``(M, d)``.
    :param dict hypers: name -> tensor of shape ``(S,)`` (S settings) or ``()``.
    :returns: shape ``(S, N, M)`` (``(N, M)`` for scalar hyperparameters).
    """
    family = get_kernel(kernel)
    h = {name: value[..., None, None] for name, value in hypers.items()}
    return family.evaluate(family.pairwise(X1, X2), h, TORCH)[0]


class KernelSpec(NamedTuple):
    """A kernel argument resolved: the family's ``name`` and the ``priors`` set on an instance."""

    name: str
    priors: Dict[str, TorchDistributionMixin]


def resolve_kernel(kernel: Union[str, gp.kernels.Kernel], d: int) -> KernelSpec:
    """The family and instance priors of a kernel given by name or as a ``pyro.contrib.gp.kernels``
    instance (of one of the classes in :data:`KERNELS`, acting on all ``d`` input dimensions,
    with one value (or one lengthscale per dimension) and a scalar prior per hyperparameter).

    :raises ValueError, TypeError: saying what is supported.
    """
    if isinstance(kernel, str):
        name = kernel.lower()
        if name not in KERNELS:
            raise ValueError(f"kernel must be one of {sorted(KERNELS)} or an instance of "
                             f"{[c.__name__ for c in KERNELS.values()]}, got {kernel!r}")
        return KernelSpec(name, {})
    found = next((n for n, cls in KERNELS.items() if type(kernel) is cls), None)
    if found is None:
        raise TypeError(f"kernel instances of {type(kernel).__name__} are not supported: the posterior is "
                        f"computed in closed form for {[c.__name__ for c in KERNELS.values()]}; pass one of "
                        f"those (or its name)")
    if kernel.input_dim != d or list(kernel.active_dims) != list(range(d)):
        raise ValueError(f"the kernel instance acts on dimensions {list(kernel.active_dims)} of {kernel.input_dim}, "
                         f"but X has {d} columns; build it with input_dim={d} and no active_dims")
    priors = {}
    for h in HYPERS[found]:
        if h in kernel._priors:                       # Parameterized keeps PyroSample priors here
            prior = kernel._priors[h]
            if not isinstance(prior, TorchDistributionMixin) or prior.batch_shape.numel() != 1:
                raise ValueError(f"the prior on the kernel's {h} must be one scalar distribution, got {prior!r}")
            priors[h] = prior
        elif getattr(kernel, h).numel() not in ((1, d) if h == "lengthscale" else (1,)):
            ard = f" or one per input dimension ({d}, ARD: pass ard=True)" if h == "lengthscale" else ""
            raise ValueError(f"the kernel's {h} has shape {tuple(getattr(kernel, h).shape)}: one (isotropic) "
                             f"{h}{ard} is supported")
    return KernelSpec(found, priors)
