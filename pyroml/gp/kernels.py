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

Sums and products of them (``"rbf+periodic"``, ``"rbf*periodic"``, ``"(rbf+matern52)*periodic"``,
or ``get_kernel("rbf") + get_kernel("periodic")``) are :class:`~pyroml.gp.kernel_base.Sum` and
:class:`~pyroml.gp.kernel_base.Product`: their gradients come from the parts' by the sum and product
rules, their hyperparameters are prefixed per part (``"rbf.lengthscale"``, ``"periodic.period"``).

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

import re
from typing import Dict, List, NamedTuple, Tuple, Type, Union, cast

import pyro.contrib.gp as gp
import torch
from pyro.distributions.torch_distribution import TorchDistributionMixin

from pyroml.gp.families import FAMILY_CLASSES, RBF, Exponential, Matern32, Matern52, Periodic, Stationary
from pyroml.gp.kernel_base import (
    NUMPY,
    TORCH,
    ArrayOps,
    Composite,
    Kernel,
    Product,
    Sum,
    base_hyper,
    hyper_kind,
    lengthscale_names,
)

__all__ = ["KERNELS", "HYPERS", "FAMILIES", "Hypers", "Kernel", "Stationary", "RBF", "Matern32", "Matern52",
           "Exponential", "Periodic", "Sum", "Product", "Composite", "ArrayOps", "NUMPY", "TORCH", "get_kernel",
           "parse_kernel", "kernel_matrix", "KernelSpec", "resolve_kernel", "lengthscale_names", "hyper_names",
           "base_hyper", "hyper_kind", "KernelLike"]

#: hyperparameter name -> values: a tensor of shape ``(S,)`` (S settings) or ``()``
Hypers = Dict[str, torch.Tensor]
#: a kernel by name or spec (``"rbf"``, ``"rbf+periodic"``) or as a :class:`Kernel` object
KernelLike = Union[str, Kernel]

#: name -> the family's formulas
FAMILIES: Dict[str, Kernel] = {cls.name: cls() for cls in FAMILY_CLASSES}
#: name -> the matching ``pyro.contrib.gp.kernels`` class
KERNELS: Dict[str, Type[gp.kernels.Kernel]] = {name: k.pyro_class for name, k in FAMILIES.items()}
#: name -> the family's hyperparameters, in the order of :math:`\theta`
HYPERS: Dict[str, Tuple[str, ...]] = {name: k.hypers for name, k in FAMILIES.items()}
#: other names of families
_ALIASES = {"matern12": "exponential", "se": "rbf", "squared_exponential": "rbf"}
_TOKEN = re.compile(r"\s*(?:([A-Za-z_][A-Za-z0-9_]*)|([+*()]))")


def _unknown(name: str, spec: str) -> ValueError:
    where = "" if name == spec else f" in {spec!r}"
    return ValueError(f"unknown kernel {name!r}{where}; choose one of {sorted(KERNELS)}, or sums and products "
                      f"of them such as 'rbf+periodic' or '(rbf+matern52)*periodic'")


def parse_kernel(spec: str) -> Kernel:
    """The kernel a spec names: family names joined by ``+`` and ``*`` (``*`` binds tighter),
    with parentheses, case and spaces ignored, e.g. ``"rbf + periodic"``, ``"rbf*periodic"``,
    ``"(rbf+matern52)*periodic"``; ``"matern12"`` is ``"exponential"``.

    :raises ValueError: for an unknown name or a malformed spec, saying which.
    """
    tokens: List[str] = []
    pos, text = 0, spec.strip().lower()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ValueError(f"cannot read kernel spec {spec!r} at {text[pos:]!r}; write names joined by + and *")
        tokens.append(m.group(1) or m.group(2))
        pos = m.end()

    def expr(i: int) -> Tuple[Kernel, int]:
        parts = [term(i)]
        while parts[-1][1] < len(tokens) and tokens[parts[-1][1]] == "+":
            parts.append(term(parts[-1][1] + 1))
        return (parts[0][0] if len(parts) == 1 else Sum(*[k for k, _ in parts])), parts[-1][1]

    def term(i: int) -> Tuple[Kernel, int]:
        parts = [atom(i)]
        while parts[-1][1] < len(tokens) and tokens[parts[-1][1]] == "*":
            parts.append(atom(parts[-1][1] + 1))
        return (parts[0][0] if len(parts) == 1 else Product(*[k for k, _ in parts])), parts[-1][1]

    def atom(i: int) -> Tuple[Kernel, int]:
        if i >= len(tokens) or tokens[i] in "+*)":
            raise ValueError(f"kernel spec {spec!r} is incomplete: a kernel name is missing")
        if tokens[i] == "(":
            k, j = expr(i + 1)
            if j >= len(tokens) or tokens[j] != ")":
                raise ValueError(f"kernel spec {spec!r} has an unclosed parenthesis")
            return k, j + 1
        name = _ALIASES.get(tokens[i], tokens[i])
        if name not in FAMILIES:
            raise _unknown(tokens[i], spec)
        return FAMILIES[name], i + 1

    kernel, end = expr(0)
    if end != len(tokens):
        raise ValueError(f"cannot read kernel spec {spec!r} after {' '.join(tokens[:end])!r}")
    return kernel


def get_kernel(kernel: KernelLike) -> Kernel:
    """The kernel called ``kernel`` (one of :data:`KERNELS`, or a spec for :func:`parse_kernel`);
    a :class:`Kernel` object is returned as it is.

    :raises ValueError: for an unknown name, listing the known ones.
    """
    if isinstance(kernel, Kernel):
        return kernel
    if not isinstance(kernel, str):
        raise TypeError(f"a kernel is a name such as 'rbf' or a pyroml.gp Kernel, got {type(kernel).__name__}")
    name = _ALIASES.get(kernel.strip().lower(), kernel.strip().lower())
    return FAMILIES[name] if name in FAMILIES else parse_kernel(kernel)


def hyper_names(kernel: KernelLike, d: int, ard: bool) -> Tuple[str, ...]:
    """The kernel's hyperparameters on ``d`` inputs, in the order of :math:`\\theta`: its
    ``hypers`` with each ``"lengthscale"`` expanded to one per dimension when ``ard`` and ``d > 1``
    (``"rbf.lengthscale"`` to ``"rbf.lengthscale_0"``, ...)."""
    out: List[str] = []
    for h in get_kernel(kernel).hypers:
        head = h[:-len("lengthscale")]
        if hyper_kind(h) == "lengthscale":
            out.extend(head + n for n in lengthscale_names(d, ard))
        else:
            out.append(h)
    return tuple(out)


def kernel_matrix(kernel: KernelLike, X1: torch.Tensor, X2: torch.Tensor, hypers: Hypers) -> torch.Tensor:
    """:math:`k_\\theta(X_1, X_2)` for a batch of hyperparameter settings, in torch.

    :param kernel: a name or spec (:func:`get_kernel`) or a :class:`Kernel`.
    :param Tensor X1: shape ``(N, d)``; ``X2``: shape ``(M, d)``.
    :param dict hypers: name -> tensor of shape ``(S,)`` (S settings) or ``()``.
    :returns: shape ``(S, N, M)`` (``(N, M)`` for scalar hyperparameters).
    """
    k = get_kernel(kernel)
    h = {name: torch.as_tensor(value)[..., None, None] for name, value in hypers.items()}
    return k.evaluate(k.pairwise(X1, X2), h, TORCH)[0]


class KernelSpec(NamedTuple):
    """A kernel argument resolved: its ``name`` (spec), the ``priors`` set on an instance (by
    hyperparameter, before ARD expansion, e.g. ``"lengthscale"`` or ``"rbf.lengthscale"``), and
    the ``kernel`` object."""

    name: str
    priors: Dict[str, TorchDistributionMixin]
    kernel: Kernel


def _leaf_priors(kernel: gp.kernels.Kernel, found: str, d: int) -> Dict[str, TorchDistributionMixin]:
    """The priors set on a single-family ``pyro.contrib.gp`` instance, after checking its dimensions."""
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
    return priors


def _from_pyro(kernel: gp.kernels.Kernel, d: int) -> Tuple[Kernel, List[Dict[str, TorchDistributionMixin]]]:
    """A ``pyro.contrib.gp`` instance (a family, or ``Sum``/``Product`` of such) as a :class:`Kernel`,
    with the priors of each single-family part in order."""
    if isinstance(kernel, (gp.kernels.Sum, gp.kernels.Product)):
        if not all(isinstance(k, gp.kernels.Kernel) for k in (kernel.kern0, kernel.kern1)):
            raise TypeError("a Sum or Product kernel instance must combine two kernels (not a constant); "
                            "add a constant as a kernel, or drop it")
        (a, pa), (b, pb) = _from_pyro(kernel.kern0, d), \
            _from_pyro(cast(gp.kernels.Kernel, kernel.kern1), d)
        return (Sum(a, b) if isinstance(kernel, gp.kernels.Sum) else Product(a, b)), pa + pb
    found = next((n for n, cls in KERNELS.items() if type(kernel) is cls), None)
    if found is None:
        raise TypeError(f"kernel instances of {type(kernel).__name__} are not supported: the posterior is "
                        f"computed in closed form for {[c.__name__ for c in KERNELS.values()]} and their "
                        f"Sum and Product; pass one of those (or its name)")
    return FAMILIES[found], [_leaf_priors(kernel, found, d)]


def resolve_kernel(kernel: Union[KernelLike, gp.kernels.Kernel], d: int) -> KernelSpec:
    """A kernel given by name or spec (``"rbf"``, ``"rbf+periodic"``), as a :class:`Kernel`
    object, or as a ``pyro.contrib.gp.kernels`` instance (of one of the classes in
    :data:`KERNELS`, or their ``Sum``/``Product``, every part acting on all ``d`` input
    dimensions, with one value (or one lengthscale per dimension) and a scalar prior per
    hyperparameter): its name, the priors set on the instance, and the :class:`Kernel`.

    :raises ValueError, TypeError: saying what is supported.
    """
    if isinstance(kernel, str):
        try:
            k = get_kernel(kernel)
        except ValueError as e:
            raise ValueError(f"kernel must be one of {sorted(KERNELS)} or sums and products of them, or an "
                             f"instance of {[c.__name__ for c in KERNELS.values()]}, got {kernel!r}: {e}") from None
        return KernelSpec(k.name, {}, k)
    if isinstance(kernel, Kernel):
        return KernelSpec(kernel.name, {}, kernel)
    if not isinstance(kernel, gp.kernels.Kernel):
        raise TypeError(f"kernel must be a name such as 'rbf', a pyroml.gp Kernel or a pyro.contrib.gp kernel "
                        f"instance, got {type(kernel).__name__}")
    k, leaf_priors = _from_pyro(kernel, d)
    if not isinstance(k, Composite):
        return KernelSpec(k.name, leaf_priors[0], k)
    priors = {leaf.prefix + h: p for leaf, pr in zip(k.leaves, leaf_priors) for h, p in pr.items()
              if leaf.scaled or h != "variance"}
    return KernelSpec(k.name, priors, k)
