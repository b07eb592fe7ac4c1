"""The GP as a ``pyro.contrib.gp`` model: the SVI path of :class:`~pyroml.gp.GP` (:meth:`GP.fit`).

:func:`build_gpr` builds ``pyro.contrib.gp.models.GPRegression`` with ``PyroSample`` priors on every
kernel hyperparameter, the kernel made of ``pyro.contrib.gp.kernels`` classes (``Sum`` and
``Product`` for composite kernels), with module-local parameters, and records where each
hyperparameter appears in a trace (``"kernel.lengthscale"``, ``"kernel.kern0.period"``, ...).
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple

import pyro
import pyro.contrib.gp as gp
import torch
from pyro.nn import PyroSample

from pyroml.gp.kernel_base import Composite, Kernel, Leaf, Tree, base_hyper
from pyroml.gp.kernels import KERNELS
from pyroml.gp.priors import Prior

__all__ = ["ContribModel", "build_gpr", "site_value"]


class ContribModel(NamedTuple):
    """``gpr``: the ``GPRegression``; ``sites``: kernel hyperparameter (before ARD expansion,
    e.g. ``"rbf.lengthscale"``) -> its sample site; ``sampled``: the ``(module, attribute)``
    pairs that carry a prior, where :meth:`GP.fit` puts its autoguides."""

    gpr: gp.models.GPRegression
    sites: Dict[str, str]
    sampled: List[Tuple[gp.Parameterized, str]]


def _leaf_module(leaf: Leaf, d: int, ard: bool, prior_of: Callable[[str], Prior],
                 sampled: List[Tuple[gp.Parameterized, str]]) -> gp.kernels.Kernel:
    k = KERNELS[leaf.family.name](input_dim=d)
    for h in leaf.family.hypers:
        if h == "variance" and not leaf.scaled:      # a later factor of a product: variance fixed at 1
            k.variance_unconstrained.requires_grad_(False)
            continue
        prior = prior_of(leaf.prefix + h)
        if h == "lengthscale" and ard and d > 1:     # ARD: one per dimension
            prior = prior.expand([d]).to_event(1)
        setattr(k, h, PyroSample(prior))
        sampled.append((k, h))
    return k


def build_gpr(kernel: Kernel, X: torch.Tensor, y: torch.Tensor, prior_of: Callable[[str], Prior], ard: bool,
              noise: float, noise_prior: Optional[Prior], jitter: float) -> ContribModel:
    """``GPRegression`` on ``(X (N, d), y (N,))`` in float64 for ``kernel``, each hyperparameter
    ``h`` of ``kernel.hypers`` under ``PyroSample(prior_of(h))``; the noise fixed at ``noise`` or,
    with ``noise_prior``, sampled under it.

    Parameters are module-local (as the engine runs it): nothing enters Pyro's global parameter
    store, so two GPs never share hyperparameters by name.
    """
    d = X.shape[1]
    leaves = kernel.leaves if isinstance(kernel, Composite) else (Leaf(kernel, "", True),)
    tree: Tree = kernel.tree if isinstance(kernel, Composite) else 0
    sampled: List[Tuple[gp.Parameterized, str]] = []
    with pyro.settings.context(module_local_params=True):
        modules = [_leaf_module(leaf, d, ard, prior_of, sampled) for leaf in leaves]

        def build(node: Tree) -> Any:
            if isinstance(node, int):
                return modules[node]
            parts = [build(c) for c in node[1]]
            return functools.reduce(gp.kernels.Sum if node[0] == "+" else gp.kernels.Product, parts)
        gpr = gp.models.GPRegression(X, y, build(tree), noise=torch.tensor(noise, dtype=torch.float64),
                                     jitter=jitter)
        if noise_prior is not None:
            gpr.noise = PyroSample(noise_prior)  # type: ignore[assignment]
        else:
            gpr.noise_unconstrained.requires_grad_(False)
    paths = {id(m): name for name, m in gpr.named_modules()}
    sites = {leaf.prefix + h: f"{paths[id(m)]}.{h}" for leaf, m in zip(leaves, modules) for h in leaf.family.hypers
             if leaf.scaled or h != "variance"}
    return ContribModel(gpr.double(), sites, sampled)


def site_value(trace: Any, sites: Dict[str, str], name: str) -> torch.Tensor:
    """Hyperparameter ``name``'s value (a 0-d tensor) in a guide trace; ARD's ``..lengthscale_k``
    is entry ``k`` of its lengthscale site, ``"noise"`` is the site ``"noise"``."""
    base = base_hyper(name)
    value = torch.as_tensor(trace.nodes["noise" if name == "noise" else sites[base]]["value"]).detach()
    return value.reshape(-1)[int(name.rsplit("_", 1)[1])] if base != name else value.reshape(())
