"""Hyperparameter posteriors of a :class:`~pyroml.gp.GP` (NUTS, MAP) and what they give.

A :class:`Posterior` holds samples :math:`\\theta_s`, :math:`s = 1..S`, of the hyperparameters;
its predictive averages the GP's Gaussian conditional over them (law of total variance):

.. math::

    \\mathbb E[y_* \\mid D] = \\tfrac1S \\sum_s m_s(x_*), \\qquad
    \\mathrm{Var}[y_* \\mid D] = \\tfrac1S \\sum_s \\big(v_s(x_*) + \\sigma_n^2\\big)
      + \\mathrm{Var}_s\\big[m_s(x_*)\\big].

:func:`sample_nuts` runs NUTS chain by chain on the GP's potential: the NumPy sampler
:class:`~pyroml.gp.nuts.LeanNUTS` on the closed-form potential (LogNormal priors, see
:mod:`pyroml.gp.potential`), else Pyro's ``NUTS`` kernel through :func:`run_chain`; interrupted, it
raises :class:`NUTSInterrupted` with the draws made so far. :func:`map_estimate` minimises the
same potential by L-BFGS.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
import pyro
import torch
from pyro.infer import NUTS
from pyro.infer.mcmc.mcmc_kernel import MCMCKernel
from pyro.ops.stats import effective_sample_size, split_gelman_rubin
from tqdm.auto import tqdm

from pyroml._validation import check_choice, check_fraction, check_int, check_positive
from pyroml.gp.kernels import Hypers
from pyroml.gp.nuts import LeanNUTS, run_lean_chain
from pyroml.gp.potential import ClosedFormPotential, direct_gradients

if TYPE_CHECKING:                                     # for annotations only: exact.py imports this module
    from pyroml.gp.exact import GP

__all__ = ["Posterior", "ChainResult", "ChainInterrupted", "NUTSInterrupted", "run_chain", "sample_nuts",
           "map_estimate", "LEAN_OPTIONS"]


@dataclass
class Posterior:
    """Samples of the hyperparameter posterior and what can be done with them.

    :ivar gp: the :class:`~pyroml.gp.GP` they belong to.
    :ivar samples: hyperparameter name -> tensor of shape ``(S,)`` (all chains concatenated).
    :ivar chains: hyperparameter name -> tensor of shape ``(C, S / C)`` (NUTS only).
    :ivar diagnostics: ``"method"``, ``"seconds"`` and, for NUTS, ``"divergences"`` (count per
        chain) and per hyperparameter ``{"r_hat", "ess", "mean", "std", "log_mean", "log_std"}``
        (R-hat and ESS of the log value, from ``pyro.ops.stats``).
    """

    gp: GP
    samples: Hypers
    chains: Hypers = field(default_factory=dict)
    diagnostics: Dict[str, Any] = field(default_factory=dict)

    @property
    def num_samples(self) -> int:
        """:math:`S`, the number of hyperparameter samples."""
        return next(iter(self.samples.values())).shape[0]

    def predict(self, X_new: torch.Tensor, noiseless: bool = False) -> Tuple[torch.Tensor, torch.Tensor]:
        """Posterior predictive mean and variance at ``X_new`` (shape ``(M, d)`` or ``(M,)``),
        Monte Carlo over the hyperparameter samples; each of shape ``(M,)``. See :meth:`GP.predict`."""
        return self.gp.predict(X_new, self.samples, noiseless=noiseless)

    def sample_functions(self, X_new: torch.Tensor, n: int = 1, generator: Optional[torch.Generator] = None
                         ) -> torch.Tensor:
        """``n`` joint draws of :math:`f_*` at ``X_new``, each under a hyperparameter sample drawn
        at random from the posterior; shape ``(n, M)``."""
        check_int("n", n, 1)
        idx = torch.randint(self.num_samples, (n,), generator=generator)
        return self.gp.sample_functions(X_new, {k: v[idx] for k, v in self.samples.items()}, generator=generator)

    def summary(self) -> Dict[str, float]:
        """A flat dict: ``<name>_mean``, ``_std`` and (NUTS) ``_r_hat``, ``_ess`` per hyperparameter,
        ``divergences`` (total), ``seconds``."""
        out: Dict[str, float] = {}
        for h in self.gp.hyper_names:
            d = self.diagnostics.get(h) or {"mean": float(self.samples[h].mean()), "std": float(self.samples[h].std())
                                            if self.num_samples > 1 else 0.0}
            out.update({f"{h}_{k}": v for k, v in d.items() if k in ("mean", "std", "r_hat", "ess")})
        if "divergences" in self.diagnostics:
            out["divergences"] = int(sum(self.diagnostics["divergences"]))
        if "seconds" in self.diagnostics:
            out["seconds"] = float(self.diagnostics["seconds"])
        return out

    def table(self) -> str:
        """The diagnostics as a text table."""
        s = self.summary()
        w = max(12, *(len(h) for h in self.gp.hyper_names))
        lines = [f"{'parameter':<{w}} {'mean':>10} {'std':>10} {'r_hat':>7} {'ess':>8}"]
        for h in self.gp.hyper_names:
            r, e = s.get(f"{h}_r_hat", math.nan), s.get(f"{h}_ess", math.nan)
            lines.append(f"{h:<{w}} {s[f'{h}_mean']:>10.4g} {s[f'{h}_std']:>10.4g} {r:>7.3f} {e:>8.1f}")
        if "divergences" in self.diagnostics:
            lines.append(f"divergences per chain: {self.diagnostics['divergences']}; "
                         f"{self.diagnostics['seconds']:.1f} s")
        return "\n".join(lines)


class ChainResult(NamedTuple):
    """One chain of :func:`run_chain`: ``draws`` (site -> tensor of shape ``(num_samples,) + site
    shape``) and the indices of its ``divergences``."""

    draws: Dict[str, torch.Tensor]
    divergences: List[int]


def run_chain(kernel: MCMCKernel, initial_params: Dict[str, torch.Tensor], num_samples: int,
              warmup_steps: int, progress: Optional[str] = None) -> ChainResult:
    """One Markov chain of a Pyro MCMC kernel, stepped through its ``MCMCKernel`` interface
    (``setup``, ``sample``, ``diagnostics``, ``cleanup``) exactly as ``pyro.infer.MCMC.run``
    steps one chain, without ``MCMC.run``'s per-step costs: its ``poutine.block`` (which routes
    each of NUTS's internal ``pyro.sample`` draws through the effect-handler stack) and its
    logging hook (a JSON dump per step). Like ``MCMC`` by default, it runs with Pyro's argument
    validation off. The draws are the same (tested).

    :param kernel: e.g. ``pyro.infer.NUTS(potential_fn=...)``.
    :param dict initial_params: site name -> starting value (unconstrained).
    :param int num_samples: kept draws, after ``warmup_steps`` of adaptation.
    :param str progress: a progress-bar label, or ``None`` for none.
    :returns: a :class:`ChainResult`: ``(draws {site: (num_samples,) + site shape}, divergent sample indices)``.
    """
    steps = range(warmup_steps + num_samples)
    with pyro.validation_enabled(False):
        kernel.initial_params = initial_params
        kernel.setup(warmup_steps)
        params = kernel.initial_params
        kept: Dict[str, List[torch.Tensor]] = {k: [] for k in params}
        try:
            for i in (tqdm(steps, desc=progress, leave=False) if progress else steps):
                params = kernel.sample(params)
                if i >= warmup_steps:
                    for k, v in params.items():
                        kept[k].append(v.clone())
            divergences = list(kernel.diagnostics().get("divergences", []))
        except KeyboardInterrupt as e:              # keep the draws made so far
            raise ChainInterrupted({k: torch.stack(v) if v else torch.empty(0) for k, v in kept.items()}) from e
        finally:
            kernel.cleanup()
    return ChainResult({k: torch.stack(v) for k, v in kept.items()}, divergences)


class ChainInterrupted(KeyboardInterrupt):
    """A chain interrupted (Ctrl-C): still a ``KeyboardInterrupt``, with the ``draws`` kept after
    the warm-up so far (site -> tensor ``(k,) + site shape``, ``k`` possibly 0)."""

    def __init__(self, draws: Dict[str, torch.Tensor]):
        super().__init__("chain interrupted")
        self.draws = draws


class NUTSInterrupted(KeyboardInterrupt):
    """Raised by :meth:`GP.sample_posterior` when interrupted (Ctrl-C): still a
    ``KeyboardInterrupt`` (a script stops), carrying the draws made so far as :attr:`posterior`,
    a :class:`Posterior` of every complete chain and the kept draws of the interrupted one
    (``None`` when no draw was kept yet: interrupted in the first chain's warm-up).

    :ivar completed_chains: chains run to the end; :ivar num_chains: chains asked for.
    """

    def __init__(self, posterior: Optional[Posterior], completed_chains: int, num_chains: int):
        draws = posterior.num_samples if posterior is not None else 0
        super().__init__(f"NUTS interrupted after {completed_chains} of {num_chains} chains; {draws} draws kept")
        self.posterior, self.completed_chains, self.num_chains = posterior, completed_chains, num_chains


def _log_scale_diagnostics(names: Sequence[str], theta: torch.Tensor) -> Dict[str, Dict[str, float]]:
    """Per hyperparameter: split R-hat and ESS of the log value, and the mean and standard deviation
    of the value and of its log, from chains ``theta`` of shape ``(C, S, H)`` (log scale)."""
    values = theta.exp()
    out = {}
    for i, h in enumerate(names):
        x = theta[..., i]
        out[h] = {"r_hat": float(split_gelman_rubin(x)), "ess": float(effective_sample_size(x)),
                  "mean": float(values[..., i].mean()), "std": float(values[..., i].std()),
                  "log_mean": float(x.mean()), "log_std": float(x.std())}
    return out


#: NUTS options the NumPy sampler takes; any other sends :func:`sample_nuts` to Pyro's NUTS
LEAN_OPTIONS = frozenset({"target_accept_prob", "max_tree_depth", "step_size"})


def _lean_chain(closed: ClosedFormPotential, start: torch.Tensor, num_samples: int, warmup_steps: int, seed: int,
                kept: List[np.ndarray], progress: Optional[str], **options: Any) -> Tuple[torch.Tensor, int, float]:
    """One chain of :class:`~pyroml.gp.nuts.LeanNUTS`: ``(draws (S, H), divergences, step size)``;
    the draws after the warm-up are appended to ``kept`` as they come."""
    sampler = LeanNUTS(closed, rng=np.random.default_rng(seed), **options)
    bar = tqdm(total=warmup_steps + num_samples, desc=progress, leave=False) if progress else None

    def on_draw(i: int, z: np.ndarray) -> None:
        if i >= warmup_steps:
            kept.append(z)
        if bar is not None:
            bar.update()
    try:
        draws = run_lean_chain(sampler, start.numpy(), num_samples, warmup_steps, on_draw)
    finally:
        if bar is not None:
            bar.close()
    return torch.from_numpy(draws), len(sampler.divergences), float(sampler.step_size or 0.0)


def _posterior(gp: GP, chains: List[torch.Tensor], partial: Optional[torch.Tensor], diags: Dict[str, Any]
               ) -> Optional[Posterior]:
    """A :class:`Posterior` of complete ``chains`` (each ``(S, H)``) and the ``partial`` draws of
    an interrupted one (``(k, H)``); ``None`` if there are no draws at all."""
    parts = chains + ([partial] if partial is not None and len(partial) else [])
    if not parts:
        return None
    theta = torch.stack(chains) if chains else parts[0][None]            # (C, S, H) with S equal
    if theta.shape[1] >= 4:
        diags.update(_log_scale_diagnostics(gp.hyper_names, theta))
    values, every = theta.exp(), torch.cat(parts).exp()
    return Posterior(gp, {h: every[:, i] for i, h in enumerate(gp.hyper_names)},
                     {h: values[..., i] for i, h in enumerate(gp.hyper_names)}, diags)


def sample_nuts(gp: GP, num_samples: int = 500, warmup_steps: int = 500, num_chains: int = 4, seed: int = 0,
                progress: bool = False, init: Optional[Dict[str, float]] = None, sampler: str = "auto",
                **nuts_kwargs: Any) -> Posterior:
    """The hyperparameter posterior of ``gp`` by NUTS; see :meth:`GP.sample_posterior`.

    :returns: a :class:`Posterior` with ``num_chains * num_samples`` samples.
    :raises NUTSInterrupted: on Ctrl-C, carrying the draws made so far.
    """
    check_int("num_samples", num_samples, 1)
    check_int("warmup_steps", warmup_steps, 0)
    check_int("num_chains", num_chains, 1)
    check_choice("sampler", sampler, ("auto", "numpy", "pyro"))
    if "target_accept_prob" in nuts_kwargs:
        accept = check_fraction("target_accept_prob", nuts_kwargs["target_accept_prob"])
        if not 0.0 < accept < 1.0:
            raise ValueError(f"target_accept_prob must be strictly between 0 and 1, got {accept!r}")
    if "max_tree_depth" in nuts_kwargs:
        check_int("max_tree_depth", nuts_kwargs["max_tree_depth"], 1)
    if "step_size" in nuts_kwargs:
        check_positive("step_size", nuts_kwargs["step_size"])
    t0 = time.perf_counter()
    closed = gp.closed_form_potential() if sampler != "pyro" else None
    lean = closed is not None and set(nuts_kwargs) <= LEAN_OPTIONS
    if sampler == "numpy" and not lean:
        raise ValueError(f"sampler='numpy' needs LogNormal priors (the closed-form potential) and options among "
                         f"{sorted(LEAN_OPTIONS)}, got {sorted(nuts_kwargs)}; use sampler='pyro'")
    potential = gp.potential_fn()
    chains: List[torch.Tensor] = []
    divergences, step_sizes, kept = [], [], []  # type: ignore[var-annotated]
    try:
        for c in range(num_chains):
            pyro.set_rng_seed(seed * 1000 + c)
            start = gp.prior_draw() if init is None else \
                torch.tensor([math.log(float(init[h])) for h in gp.hyper_names], dtype=torch.float64)
            label = f"chain {c + 1}/{num_chains}" if progress else None
            kept = []
            if lean:
                assert closed is not None
                draws, div, eps = _lean_chain(closed, start, num_samples, warmup_steps, seed * 1000 + c, kept, label,
                                              **nuts_kwargs)
            else:
                kernel = NUTS(potential_fn=potential, **nuts_kwargs)
                with direct_gradients():
                    chain = run_chain(kernel, {"theta": start}, num_samples, warmup_steps, progress=label)
                draws, div, eps = chain.draws["theta"], len(chain.divergences), float(kernel.step_size)
            chains.append(draws)
            divergences.append(div)
            step_sizes.append(eps)
    except KeyboardInterrupt as e:
        partial = e.draws["theta"] if isinstance(e, ChainInterrupted) else \
            (torch.from_numpy(np.stack(kept)) if kept else None)
        diags = {"method": "NUTS", "interrupted": True, "divergences": divergences, "step_size": step_sizes,
                 "seconds": time.perf_counter() - t0}
        raise NUTSInterrupted(_posterior(gp, chains, partial, diags), len(chains), num_chains) from e
    diags = {"method": "NUTS", "sampler": "numpy" if lean else "pyro", "divergences": divergences,
             "step_size": step_sizes, "seconds": time.perf_counter() - t0}
    post = _posterior(gp, chains, None, diags)
    assert post is not None
    return post


def map_estimate(gp: GP, restarts: int = 5, steps: int = 60, seed: int = 0) -> Posterior:
    """The MAP hyperparameters of ``gp``: L-BFGS on its potential from ``restarts`` prior draws,
    the best end point kept; see :meth:`GP.map_estimate`. Value and gradient come from the
    closed-form potential where the priors allow (LogNormal), else from autograd.

    :returns: a :class:`Posterior` with one sample.
    :raises RuntimeError: when every start fails.
    """
    check_int("restarts", restarts, 1)
    check_int("steps", steps, 1)
    check_int("seed", seed, 0)
    pyro.set_rng_seed(seed)
    best, best_val = None, math.inf
    closed = gp.closed_form_potential()
    for _ in range(restarts):
        theta = gp.prior_draw().requires_grad_(True)
        opt = torch.optim.LBFGS([theta], max_iter=steps, line_search_fn="strong_wolfe")

        def closure(theta: torch.Tensor = theta, opt: torch.optim.LBFGS = opt) -> torch.Tensor:
            opt.zero_grad()
            if closed is None:
                loss = gp.potential(theta)
                loss.backward()
                return loss
            value, grad = closed(theta.detach().tolist())   # the closed form: no autograd graph
            theta.grad = theta.new_tensor(grad)
            return theta.new_tensor(min(value, 1e300))
        try:
            opt.step(closure)
            val = closed(theta.detach().tolist())[0] if closed is not None else float(gp.potential(theta).detach())
        except (RuntimeError, ValueError):  # a Cholesky failure far out in the tails: skip this start
            continue
        if math.isfinite(val) and val < best_val:
            best, best_val = theta.detach().clone(), val
    if best is None:
        raise RuntimeError("MAP estimation failed from every start; check the data and priors")
    return Posterior(gp, {h: best[i].exp()[None] for i, h in enumerate(gp.hyper_names)},
                     diagnostics={"method": "MAP", "potential": best_val})
