"""What every kernel shares: the array namespace its formula is written with, the :class:`Kernel`
interface (value and gradient in log hyperparameters), and sums and products of kernels.

A kernel evaluates :math:`K = k_\\theta(X_1, X_2)` and, on request, every
:math:`\\partial K / \\partial\\log\\theta_j`, from "pairwise features" of the two input sets that
are computed once (:meth:`Kernel.pairwise`) and reused for every :math:`\\theta` (the NUTS
potential evaluates the same data thousands of times).

:class:`Sum` and :class:`Product` combine any kernels, each part keeping its own hyperparameters
under a unique prefix (``"rbf.lengthscale"``, ``"periodic.period"``; a family that occurs more than
once is numbered, ``"rbf1."``, ``"rbf2."``). Their gradients are written once, from the parts':

.. math::

    \\frac{\\partial}{\\partial\\theta} \\sum_i K_i = \\frac{\\partial K_p}{\\partial\\theta}, \\qquad
    \\frac{\\partial}{\\partial\\theta} \\prod_i K_i = \\frac{\\partial K_p}{\\partial\\theta} \\prod_{i \\ne p} K_i

for :math:`\\theta` a hyperparameter of part :math:`p` (products elementwise). In a product only the
first factor keeps its signal variance: the variances of later single-family factors are fixed at 1
(:math:`\\sigma_1^2\\sigma_2^2` is one number; two would leave NUTS a ridge to wander along).
"""

from __future__ import annotations

import collections
import functools
import operator
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Dict, Iterable, List, NamedTuple, Optional, Tuple, Union

import numpy as np
import torch

__all__ = ["Array", "Grads", "ArrayOps", "NUMPY", "TORCH", "Kernel", "Composite", "Sum", "Product", "Leaf",
           "lengthscale_names", "base_hyper", "hyper_kind"]

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


#: NumPy: the closed-form NUTS potential on a few points (never differentiated by autograd)
NUMPY = ArrayOps(exp=np.exp, sqrt=np.sqrt, sin=np.sin)
#: torch: prediction, function samples, large-N potentials and autograd (square root floored for autograd)
TORCH = ArrayOps(exp=torch.exp, sqrt=_autograd_safe_sqrt, sin=torch.sin)


def _total(terms: Iterable[Array]) -> Array:
    """The sum of ``terms`` (the first term itself when there is one)."""
    return functools.reduce(operator.add, terms)


def _product(terms: Iterable[Array]) -> Array:
    """The elementwise product of ``terms`` (1.0 when there are none)."""
    return functools.reduce(operator.mul, terms, 1.0)


def lengthscale_names(d: int, ard: bool) -> Tuple[str, ...]:
    """The lengthscale hyperparameters: ``("lengthscale",)`` (isotropic), or one per input
    dimension, ``("lengthscale_0", ..., "lengthscale_{d-1}")`` (ARD, when ``ard`` and ``d > 1``)."""
    return tuple(f"lengthscale_{k}" for k in range(d)) if ard and d > 1 else ("lengthscale",)


def base_hyper(name: str) -> str:
    """The kernel-level hyperparameter a name belongs to: ARD's ``"lengthscale_k"`` is one of
    ``"lengthscale"`` (``"rbf.lengthscale_1"`` of ``"rbf.lengthscale"``); other names are their own."""
    head, _, last = name.rpartition(".")
    if last.startswith("lengthscale_"):
        return f"{head}.lengthscale" if head else "lengthscale"
    return name


def hyper_kind(name: str) -> str:
    """What a hyperparameter is, whatever its part: ``"lengthscale"``, ``"variance"``, ``"period"``
    or ``"noise"`` (``"periodic.lengthscale_0"`` -> ``"lengthscale"``)."""
    return base_hyper(name).rpartition(".")[2]


class Kernel:
    """A kernel :math:`k_\\theta(x, x')`: pairwise features of two input sets, and the Gram matrix
    from them with its derivatives in :math:`\\log\\theta`. ``k1 + k2`` and ``k1 * k2`` build a
    :class:`Sum` and a :class:`Product`.

    Hyperparameters come as a dict ``h`` of floats (NumPy) or tensors that broadcast against the
    pairwise features, e.g. of shape ``(S, 1, 1)`` for ``S`` settings (torch).
    """

    #: the kernel's name: a family's key in :data:`pyroml.gp.KERNELS`, or a spec like ``"rbf+periodic"``
    name: str = ""
    #: its hyperparameters, in the order of :math:`\theta` (before ARD expands ``"lengthscale"``)
    hypers: Tuple[str, ...] = ("lengthscale", "variance")
    #: the matching ``pyro.contrib.gp.kernels`` class (single families only)
    pyro_class: ClassVar[Any] = None

    def pairwise(self, X1: Array, X2: Array) -> Any:
        """What the formula needs of inputs ``X1`` of shape ``(N, d)`` and ``X2`` of shape ``(M, d)``."""
        raise NotImplementedError

    def evaluate(self, P: Any, h: Dict[str, Any], ops: ArrayOps, grad: bool = False
                 ) -> Tuple[Array, Optional[Grads]]:
        """:math:`K = k_\\theta(X_1, X_2)` from ``P = pairwise(X1, X2)``, shape ``(..., N, M)``, and,
        with ``grad``, ``{name: dK / d log name}`` for every hyperparameter name (else ``None``)."""
        raise NotImplementedError

    def diag(self, h: Dict[str, Any]) -> Array:
        """:math:`k_\\theta(x, x)`, the same for every :math:`x` (every kernel here is stationary):
        the signal variance :math:`\\sigma_f^2`; shaped like the hyperparameter values."""
        return h["variance"]

    def __add__(self, other: Kernel) -> Sum:
        return Sum(self, other)

    def __mul__(self, other: Kernel) -> Product:
        return Product(self, other)

    def __repr__(self) -> str:
        return f"<kernel {self.name}>"


class Leaf(NamedTuple):
    """A single-family part of a :class:`Composite`: the ``family``, the ``prefix`` of its
    hyperparameter names (``"rbf."``) and whether it has its own signal variance (``scaled``)."""

    family: Kernel
    prefix: str
    scaled: bool


#: a composite's structure: a leaf's index, or ``(op, children)`` with ``op`` ``"+"`` or ``"*"``
Tree = Union[int, Tuple[str, Tuple[Any, ...]]]


def _index(node: Kernel, found: List[Tuple[Kernel, bool]], scaled: bool) -> Tree:
    """``node``'s tree over leaf indices, appending its single-family leaves to ``found``."""
    if not isinstance(node, Composite):
        found.append((node, scaled))
        return len(found) - 1
    return (node.op, tuple(_index(c, found, node.op == "+" or i == 0 or isinstance(c, Composite))
                           for i, c in enumerate(node.parts)))


def _combine(tree: Tree, done: List[Tuple[Array, Optional[Grads]]]) -> Tuple[Array, Optional[Grads]]:
    """Value and gradients of ``tree`` from its leaves' (sum rule, product rule)."""
    if isinstance(tree, int):
        return done[tree]
    op, kids = tree
    outs = [_combine(k, done) for k in kids]
    Ks = [K for K, _ in outs]
    K = _total(Ks) if op == "+" else _product(Ks)
    if outs[0][1] is None:
        return K, None
    grads: Grads = {}
    for i, (_, g) in enumerate(outs):
        assert g is not None
        if op == "+":
            grads.update(g)
        else:
            others = _product(Ks[:i] + Ks[i + 1:])
            grads.update({n: v * others for n, v in g.items()})
    return K, grads


class Composite(Kernel):
    """A sum or product of kernels (single families or composites; nested ones of the same kind
    are flattened). Hyperparameter names are prefixed per single-family part: the family's name
    (``"rbf.variance"``), numbered when it occurs more than once (``"rbf1."``, ``"rbf2."``),
    in the order the parts appear; a product's later single-family factors have no variance.

    :param parts: at least two :class:`Kernel` objects.
    :raises TypeError, ValueError: for anything else.
    """

    op: ClassVar[str]

    def __init__(self, *parts: Kernel):
        if len(parts) < 2:
            raise ValueError(f"a {type(self).__name__} needs at least two kernels, got {len(parts)}")
        for p in parts:
            if not isinstance(p, Kernel):
                raise TypeError(f"a {type(self).__name__} combines pyroml.gp kernels (e.g. get_kernel('rbf')), "
                                f"got {type(p).__name__}")
        flat: List[Kernel] = []
        for p in parts:
            flat.extend(p.parts if isinstance(p, Composite) and p.op == self.op else (p,))
        self.parts: Tuple[Kernel, ...] = tuple(flat)
        found: List[Tuple[Kernel, bool]] = []
        self.tree = _index(self, found, True)
        counts, seen = collections.Counter(k.name for k, _ in found), collections.Counter[str]()
        leaves = []
        for k, scaled in found:
            seen[k.name] += 1
            leaves.append(Leaf(k, (k.name if counts[k.name] == 1 else f"{k.name}{seen[k.name]}") + ".", scaled))
        self.leaves: Tuple[Leaf, ...] = tuple(leaves)
        self.hypers = tuple(leaf.prefix + h for leaf in leaves for h in leaf.family.hypers
                            if leaf.scaled or h != "variance")
        self.name = self.op.join(f"({p.name})" if isinstance(p, Sum) and self.op == "*" else p.name
                                 for p in self.parts)

    def pairwise(self, X1: Array, X2: Array) -> List[Any]:
        """Each leaf's pairwise features (computed once per kind of features)."""
        cache: Dict[Any, Any] = {}
        out = []
        for leaf in self.leaves:
            kind = type(leaf.family).pairwise
            if kind not in cache:
                cache[kind] = leaf.family.pairwise(X1, X2)
            out.append(cache[kind])
        return out

    def evaluate(self, P: List[Any], h: Dict[str, Any], ops: ArrayOps, grad: bool = False
                 ) -> Tuple[Array, Optional[Grads]]:
        done: List[Tuple[Array, Optional[Grads]]] = []
        for leaf, p in zip(self.leaves, P):
            sub = {n[len(leaf.prefix):]: v for n, v in h.items() if n.startswith(leaf.prefix)}
            if not leaf.scaled:
                sub["variance"] = 1.0
            K, g = leaf.family.evaluate(p, sub, ops, grad)
            done.append((K, None if g is None else
                         {leaf.prefix + n: v for n, v in g.items() if leaf.scaled or n != "variance"}))
        return _combine(self.tree, done)

    def diag(self, h: Dict[str, Any]) -> Array:
        """:math:`k(x, x)`: the parts' variances summed (:class:`Sum`) or multiplied (:class:`Product`)."""
        def walk(tree: Tree) -> Array:
            if isinstance(tree, int):
                leaf = self.leaves[tree]
                return h[leaf.prefix + "variance"] if leaf.scaled else 1.0
            vals = [walk(k) for k in tree[1]]
            return _total(vals) if tree[0] == "+" else _product(vals)
        return walk(self.tree)


class Sum(Composite):
    """:math:`k = \\sum_i k_i`, e.g. ``Sum(RBF(), Periodic())`` or ``RBF() + Periodic()`` (``"rbf+periodic"``)."""

    op = "+"


class Product(Composite):
    """:math:`k = \\prod_i k_i`, e.g. ``RBF() * Periodic()`` (``"rbf*periodic"``): a locally
    periodic kernel; only the first factor keeps a signal variance."""

    op = "*"
