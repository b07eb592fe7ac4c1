"""Gaussian-process regression with a posterior over kernel hyperparameters.

Model (``pyro.contrib.gp.models.GPRegression`` with ``PyroSample`` priors on the kernel):

.. math::

    \\theta = (\\ell, \\sigma_f^2, \\dots) \\sim p(\\theta), \\qquad
    f \\sim \\mathcal{GP}(0, k_\\theta), \\qquad
    y_i = f(x_i) + \\epsilon_i, \\quad \\epsilon_i \\sim \\mathcal N(0, \\sigma_n^2),

with :math:`f` integrated out: :math:`y \\mid \\theta \\sim \\mathcal N(0, K_\\theta + \\sigma_n^2 I)`.
The hyperparameter posterior :math:`p(\\theta \\mid D)` comes from

* :meth:`GP.sample_posterior`: NUTS (``pyro.infer.MCMC``) on the log marginal likelihood plus
  log prior in float64 over :math:`\\log\\theta`, value and gradient in closed form
  (:class:`pyroml.gp_kernels.ClosedFormPotential`), several chains, with split R-hat and
  effective sample size from ``pyro.ops.stats`` and the divergences of each chain; or
* :meth:`GP.fit`: SVI through :func:`pyroml.fit` on the ``GPRegression`` model with a
  point-mass (MAP) or Gaussian guide on each hyperparameter; or
* :meth:`GP.map_estimate`: L-BFGS on the log posterior from a few prior draws (fast, for BO).

The posterior predictive at new inputs averages the Gaussian conditional over hyperparameter
samples :math:`\\theta_s`, :math:`s = 1..S` (law of total variance):

.. math::

    \\mathbb E[y_* \\mid D] = \\tfrac1S \\sum_s m_s(x_*), \\qquad
    \\mathrm{Var}[y_* \\mid D] = \\tfrac1S \\sum_s \\big(v_s(x_*) + \\sigma_n^2\\big)
      + \\mathrm{Var}_s\\big[m_s(x_*)\\big].
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple, Union

import pyro
import pyro.contrib.gp as gp
import pyro.distributions as dist
import torch
from pyro.infer import NUTS, Trace_ELBO
from pyro.nn import PyroSample
from pyro.ops.stats import effective_sample_size, split_gelman_rubin

from pyroml.gp_kernels import (HYPERS, KERNELS, ClosedFormPotential, direct_gradients, kernel_matrix,
                               pivoted_cholesky, positive_prior_params)

__all__ = ["GP", "Posterior", "study_problem", "kernel_matrix", "KERNELS", "default_priors", "run_chain"]

Hypers = Dict[str, torch.Tensor]


def default_priors() -> Dict[str, dist.Distribution]:
    """The study's priors (float64): lengthscale ~ LogNormal(-1, 1), variance ~ LogNormal(0, 2);
    period ~ LogNormal(0, 1)."""
    t = lambda v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
    return {"lengthscale": dist.LogNormal(t(-1.0), t(1.0)), "variance": dist.LogNormal(t(0.0), t(2.0)),
            "period": dist.LogNormal(t(0.0), t(1.0))}


def study_problem():
    """The study's test problem.

    :returns: ``(f, X, bounds, x_min, f_min)``: :math:`f(x) = \\sin 20x + 2\\cos 14x - 2\\sin 6x`
        (maps a tensor of shape ``(n, 1)`` to ``(n, 1)``) on [-1, 1], the five data inputs ``X``
        of shape (5, 1), ``bounds = (-1.0, 1.0)``, and the global minimiser and minimum
        (x = 0.23271, f = -4.9544; a second basin at x = -0.698, f = -4.5963, traps naive searches).
    """
    def f(x: torch.Tensor) -> torch.Tensor:
        return torch.sin(20 * x) + 2 * torch.cos(14 * x) - 2 * torch.sin(6 * x)
    X = torch.tensor([[-1.0], [-0.5], [0.0], [0.5], [1.0]], dtype=torch.float64)
    return f, X, (-1.0, 1.0), 0.23271, -4.9544


def _check_xy(X, y) -> Tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(X, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise TypeError(f"X and y must be torch Tensors, got {type(X).__name__} and {type(y).__name__}")
    if X.dim() == 1:
        X = X[:, None]
    if X.dim() != 2:
        raise ValueError(f"X must have shape (N, d) (or (N,) for 1-d inputs), got {tuple(X.shape)}")
    if y.dim() != 1:
        raise ValueError(f"y must have shape (N,), got {tuple(y.shape)}; flatten it with y.reshape(-1)")
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"X and y differ in length: {X.shape[0]} inputs, {y.shape[0]} targets")
    if X.shape[0] == 0:
        raise ValueError("no data: X and y are empty")
    for name, t in (("X", X), ("y", y)):
        if not torch.isfinite(t).all():
            raise ValueError(f"{name} contains NaN or infinite values; remove those points")
    return X.to(torch.float64), y.to(torch.float64)


def _f64(d):
    """A copy of a prior with float64 parameters (the GP runs in float64), where the
    distribution is built from its ``arg_constraints`` (LogNormal, Gamma, HalfNormal, ...)."""
    try:
        args = {k: torch.as_tensor(getattr(d, k), dtype=torch.float64) for k in d.arg_constraints}
        return type(d)(**args)
    except (TypeError, AttributeError, ValueError, NotImplementedError):
        return d


def _kernel_spec(kernel, d: int) -> Tuple[str, Dict[str, dist.Distribution]]:
    """``(name, priors set on the instance)`` for a kernel given by name or as a
    ``pyro.contrib.gp.kernels`` instance."""
    if isinstance(kernel, str):
        name = kernel.lower()
        if name not in KERNELS:
            raise ValueError(f"kernel must be one of {sorted(KERNELS)} or an instance of "
                             f"{[c.__name__ for c in KERNELS.values()]}, got {kernel!r}")
        return name, {}
    name = next((n for n, cls in KERNELS.items() if type(kernel) is cls), None)
    if name is None:
        raise TypeError(f"kernel instances of {type(kernel).__name__} are not supported: the posterior is "
                        f"computed in closed form for {[c.__name__ for c in KERNELS.values()]}; pass one of "
                        f"those (or its name)")
    if kernel.input_dim != d or list(kernel.active_dims) != list(range(d)):
        raise ValueError(f"the kernel instance acts on dimensions {list(kernel.active_dims)} of {kernel.input_dim}, "
                         f"but X has {d} columns; build it with input_dim={d} and no active_dims")
    priors = {}
    for h in HYPERS[name]:
        if h in kernel._priors:                       # Parameterized keeps PyroSample priors here
            prior = kernel._priors[h]
            if not isinstance(prior, dist.Distribution) or prior.batch_shape.numel() != 1:
                raise ValueError(f"the prior on the kernel's {h} must be one scalar distribution, got {prior!r}")
            priors[h] = prior
        elif getattr(kernel, h).numel() != 1:
            raise ValueError(f"the kernel's {h} has shape {tuple(getattr(kernel, h).shape)}: only one "
                             f"(isotropic) {h} is supported")
    return name, priors


@dataclass
class Posterior:
    """Samples of the hyperparameter posterior and what can be done with them.

    :ivar gp: the :class:`GP` they belong to.
    :ivar samples: hyperparameter name -> tensor of shape ``(S,)`` (all chains concatenated).
    :ivar chains: hyperparameter name -> tensor of shape ``(C, S / C)`` (NUTS only).
    :ivar diagnostics: ``"method"``, ``"seconds"`` and, for NUTS, ``"divergences"`` (count per
        chain) and per hyperparameter ``{"r_hat", "ess", "mean", "std", "log_mean", "log_std"}``
        (R-hat and ESS of the log value, from ``pyro.ops.stats``).
    """

    gp: "GP"
    samples: Hypers
    chains: Hypers = field(default_factory=dict)
    diagnostics: Dict[str, object] = field(default_factory=dict)

    @property
    def num_samples(self) -> int:
        return next(iter(self.samples.values())).shape[0]

    def predict(self, X_new: torch.Tensor, noiseless: bool = False) -> Tuple[torch.Tensor, torch.Tensor]:
        """Posterior predictive mean and variance at ``X_new`` (shape ``(M, d)`` or ``(M,)``),
        Monte Carlo over the hyperparameter samples; each of shape ``(M,)``. See :meth:`GP.predict`."""
        return self.gp.predict(X_new, self.samples, noiseless=noiseless)

    def sample_functions(self, X_new: torch.Tensor, n: int = 1, generator: Optional[torch.Generator] = None
                         ) -> torch.Tensor:
        """``n`` joint draws of :math:`f_*` at ``X_new``, each under a hyperparameter sample drawn
        at random from the posterior; shape ``(n, M)``."""
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
        lines = [f"{'parameter':<12} {'mean':>10} {'std':>10} {'r_hat':>7} {'ess':>8}"]
        for h in self.gp.hyper_names:
            r, e = s.get(f"{h}_r_hat", math.nan), s.get(f"{h}_ess", math.nan)
            lines.append(f"{h:<12} {s[f'{h}_mean']:>10.4g} {s[f'{h}_std']:>10.4g} {r:>7.3f} {e:>8.1f}")
        if "divergences" in self.diagnostics:
            lines.append(f"divergences per chain: {self.diagnostics['divergences']}; "
                         f"{self.diagnostics['seconds']:.1f} s")
        return "\n".join(lines)


def run_chain(kernel: pyro.infer.mcmc.MCMCKernel, initial_params: Hypers, num_samples: int,
              warmup_steps: int, progress: Optional[str] = None) -> Tuple[Hypers, List[int]]:
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
    :returns: ``({site: tensor of shape (num_samples,) + site shape}, divergent sample indices)``.
    """
    from tqdm.auto import tqdm
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
        finally:
            kernel.cleanup()
    return {k: torch.stack(v) for k, v in kept.items()}, divergences


class GP(torch.nn.Module):
    """GP regression with priors on its kernel hyperparameters.

    :param Tensor X: inputs of shape ``(N, d)`` (or ``(N,)``).
    :param Tensor y: targets of shape ``(N,)``.
    :param kernel: a name, ``"rbf"``, ``"matern32"``, ``"matern52"``, ``"exponential"`` or
        ``"periodic"``, or an instance of the matching ``pyro.contrib.gp.kernels`` class
        (``RBF``, ``Matern32``, ...) with ``input_dim = d``; priors set on the instance
        (``k.lengthscale = PyroSample(dist.LogNormal(...))``) are used, its other values are not.
    :param float noise: observation-noise variance :math:`\\sigma_n^2`, fixed unless
        ``noise_prior`` is given (then learned, starting from the prior).
    :param dict priors: hyperparameter name -> prior over its positive value; overrides the
        instance's and the defaults, :func:`default_priors` (the study's). LogNormal priors get
        the closed-form NUTS potential; others use autograd (slower).
    :param noise_prior: a prior for a learned noise variance (``None``: noise fixed).
    :param float jitter: added to the covariance diagonal before Cholesky factorisations.

    Computation is in float64. Two GPs never share parameters: the ``GPRegression`` module
    is built with module-local parameters, and nothing enters Pyro's global parameter store.
    """

    def __init__(self, X: torch.Tensor, y: torch.Tensor, kernel: Union[str, gp.kernels.Kernel] = "rbf",
                 noise: float = 1e-4, priors: Optional[Dict[str, dist.Distribution]] = None,
                 noise_prior: Optional[dist.Distribution] = None, jitter: float = 1e-10):
        super().__init__()
        self.X, self.y = _check_xy(X, y)
        self.kernel_name, instance_priors = _kernel_spec(kernel, self.X.shape[1])
        if not (isinstance(noise, (int, float)) and noise > 0):
            raise ValueError(f"noise must be a positive variance (a float), got {noise!r}")
        unknown = set(priors or {}) - set(HYPERS[self.kernel_name])
        if unknown:
            raise ValueError(f"priors given for {sorted(unknown)}, but the {self.kernel_name} kernel has "
                             f"{list(HYPERS[self.kernel_name])}; for the noise use noise_prior=")
        self.noise, self.jitter = float(noise), float(jitter)
        merged = {**default_priors(), **instance_priors, **(priors or {})}
        self.priors = {h: _f64(merged[h]) for h in HYPERS[self.kernel_name]}
        self.noise_prior = None if noise_prior is None else _f64(noise_prior)
        self.hyper_names: List[str] = list(self.priors) + (["noise"] if noise_prior is not None else [])
        self.gpr = self._build_gpr()

    def _prior(self, h: str) -> dist.Distribution:
        return self.noise_prior if h == "noise" else self.priors[h]

    def _prior_draw(self) -> torch.Tensor:
        """:math:`\\log\\theta` drawn from the prior, clamped to [-4, 4] (a chain's start)."""
        return torch.stack([self._prior(h).sample().log().clamp(-4, 4) for h in self.hyper_names]).double()

    # ---- pyro.contrib.gp model: the SVI path ------------------------------------------
    def _build_gpr(self) -> gp.models.GPRegression:
        # module-local parameters (as the engine runs it): nothing enters Pyro's global parameter
        # store, so two GPs never share hyperparameters by name
        with pyro.settings.context(module_local_params=True):
            k = KERNELS[self.kernel_name](input_dim=self.X.shape[1])
            for h, prior in self.priors.items():
                setattr(k, h, PyroSample(prior))
            gpr = gp.models.GPRegression(self.X, self.y, k, noise=torch.tensor(self.noise, dtype=torch.float64),
                                         jitter=self.jitter)
            if self.noise_prior is not None:
                gpr.noise = PyroSample(self.noise_prior)
            else:
                gpr.noise_unconstrained.requires_grad_(False)
            return gpr.double()

    def model(self, X: torch.Tensor, y: torch.Tensor):
        """``GPRegression.model`` on (X, y): the marginal likelihood with hyperparameter priors."""
        self.gpr.set_data(X, y)
        return self.gpr.model()

    def guide(self, X: torch.Tensor, y: torch.Tensor):
        """``GPRegression.guide``: the autoguides set by :meth:`fit` (point mass or Gaussian)."""
        return self.gpr.guide()

    def elbo(self, num_particles: int = 1) -> Trace_ELBO:
        return Trace_ELBO(num_particles=num_particles)

    def check_input(self, X, y, what: str = "data"):
        """Called by :func:`pyroml.fit` on its data."""
        _check_xy(X, y)

    def fit(self, guide: str = "map", steps: int = 1000, lr: float = 0.01, seed: int = 0,
            progress: bool = False, num_draws: int = 1000) -> Posterior:
        """Hyperparameters by SVI through :func:`pyroml.fit` (full-batch Adam steps).

        :param str guide: ``"map"`` (point mass: maximum a posteriori) or ``"normal"``
            (a Gaussian on each hyperparameter's unconstrained value).
        :returns: a :class:`Posterior` with one sample (MAP) or ``num_draws`` draws from the guide.
        """
        from pyroml.train import fit
        if guide not in ("map", "normal"):
            raise ValueError(f"guide must be 'map' or 'normal', got {guide!r}")
        self.gpr = self._build_gpr()
        family = dist.Delta if guide == "map" else dist.Normal
        for h in self.priors:
            self.gpr.kernel.autoguide(h, family)
        if self.noise_prior is not None:
            self.gpr.autoguide("noise", family)
        with pyro.settings.context(module_local_params=True):
            self.gpr.set_mode("guide")  # materialise the autoguide parameters before the optimiser sees them
            self.gpr.guide()
        t0 = time.perf_counter()
        fit(self, (self.X, self.y), epochs=steps, batch_size=len(self.X), lr=lr, seed=seed, progress=progress)
        n = 1 if guide == "map" else num_draws
        with torch.no_grad(), pyro.settings.context(module_local_params=True):
            draws = [pyro.poutine.trace(self.gpr.guide).get_trace() for _ in range(n)]
        site = {h: f"kernel.{h}" if h != "noise" else "noise" for h in self.hyper_names}
        samples = {h: torch.stack([tr.nodes[site[h]]["value"].detach().reshape(()) for tr in draws])
                   for h in self.hyper_names}
        return Posterior(self, samples, diagnostics={"seconds": time.perf_counter() - t0, "method": f"SVI-{guide}"})

    # ---- the potential and NUTS --------------------------------------------------------
    def potential(self, theta: torch.Tensor) -> torch.Tensor:
        """:math:`U(\\theta) = -\\log p(y \\mid \\theta) - \\log p(\\theta) - \\sum_j \\theta_j` at
        :math:`\\theta = \\log` (hyperparameters), shape ``(H,)``, by autograd-able torch ops."""
        hp = {h: theta[..., i].exp() for i, h in enumerate(self.hyper_names)}
        noise = hp.get("noise", torch.tensor(self.noise, dtype=theta.dtype))
        n = self.X.shape[0]
        K = kernel_matrix(self.kernel_name, self.X, self.X, hp) + (noise + self.jitter) * torch.eye(n, dtype=theta.dtype)
        L = torch.linalg.cholesky(K)
        a = torch.linalg.solve_triangular(L, self.y[:, None], upper=False)
        logml = -0.5 * (a * a).sum() - L.diagonal().log().sum() - 0.5 * n * math.log(2 * math.pi)
        logprior = sum(self._prior(h).log_prob(hp[h]) for h in self.hyper_names) + theta.sum()
        return -(logml + logprior)

    def closed_form_potential(self) -> Optional[ClosedFormPotential]:
        """The NumPy value-and-gradient potential, or ``None`` unless every prior is LogNormal."""
        params = [positive_prior_params(self._prior(h)) for h in self.hyper_names]
        if any(p is None for p in params):
            return None
        return ClosedFormPotential(self.kernel_name, self.X, self.y, self.hyper_names, params, self.noise, self.jitter)

    def potential_fn(self):
        """``potential_fn`` for ``pyro.infer.NUTS`` over ``{"theta": log hyperparameters}``."""
        closed = self.closed_form_potential()
        return closed.torch_fn() if closed is not None else (lambda p: self.potential(p["theta"]))

    def sample_posterior(self, num_samples: int = 500, warmup_steps: int = 500, num_chains: int = 4,
                         seed: int = 0, progress: bool = False, init: Optional[Hypers] = None,
                         **nuts_kwargs) -> Posterior:
        """Hyperparameter posterior by NUTS (``pyro.infer.MCMC``).

        Chains run one after another (on a couple of cores, processes cost more than they save),
        each from its own prior draw of :math:`\\log\\theta` clamped to [-4, 4], or from ``init``,
        through :func:`run_chain` (Pyro's ``NUTS`` kernel stepped as ``pyro.infer.MCMC`` steps it).

        :param int num_samples: kept samples per chain, after ``warmup_steps`` of step-size and
            mass-matrix adaptation.
        :param dict init: optional starting values (name -> positive float) for every chain.
        :param nuts_kwargs: passed to ``pyro.infer.NUTS`` (e.g. ``target_accept_prob``).
        :returns: a :class:`Posterior` with ``num_chains * num_samples`` samples and, per
            hyperparameter, split R-hat and effective sample size (``pyro.ops.stats``, on the log
            scale), plus the divergences and the adapted step size of each chain.
        """
        if num_samples < 1 or warmup_steps < 0 or num_chains < 1:
            raise ValueError(f"need num_samples >= 1, warmup_steps >= 0, num_chains >= 1; got "
                             f"{num_samples}, {warmup_steps}, {num_chains}")
        t0 = time.perf_counter()
        potential = self.potential_fn()
        chains, divergences, step_sizes = [], [], []
        for c in range(num_chains):
            pyro.set_rng_seed(seed * 1000 + c)
            start = self._prior_draw() if init is None else \
                torch.tensor([math.log(float(init[h])) for h in self.hyper_names], dtype=torch.float64)
            kernel = NUTS(potential_fn=potential, **nuts_kwargs)
            with direct_gradients():
                draws, divergent = run_chain(kernel, {"theta": start}, num_samples, warmup_steps,
                                             progress=f"chain {c + 1}/{num_chains}" if progress else None)
            chains.append(draws["theta"])
            divergences.append(len(divergent))
            step_sizes.append(float(kernel.step_size))
        theta = torch.stack(chains)                                          # (C, S, H)
        values = theta.exp()
        diags: Dict[str, object] = {"method": "NUTS", "divergences": divergences, "step_size": step_sizes,
                                    "seconds": time.perf_counter() - t0}
        for i, h in enumerate(self.hyper_names):
            x = theta[..., i]
            diags[h] = {"r_hat": float(split_gelman_rubin(x)), "ess": float(effective_sample_size(x)),
                        "mean": float(values[..., i].mean()), "std": float(values[..., i].std()),
                        "log_mean": float(x.mean()), "log_std": float(x.std())}
        return Posterior(self, {h: values[..., i].reshape(-1) for i, h in enumerate(self.hyper_names)},
                         {h: values[..., i] for i, h in enumerate(self.hyper_names)}, diags)

    def map_estimate(self, restarts: int = 5, steps: int = 60, seed: int = 0) -> Posterior:
        """Maximum a posteriori hyperparameters: L-BFGS on :meth:`potential` from ``restarts``
        prior draws, the best end point kept (a fast deterministic alternative to :meth:`fit`)."""
        pyro.set_rng_seed(seed)
        best, best_val = None, math.inf
        for _ in range(restarts):
            theta = self._prior_draw().requires_grad_(True)
            opt = torch.optim.LBFGS([theta], max_iter=steps, line_search_fn="strong_wolfe")

            def closure():
                opt.zero_grad()
                loss = self.potential(theta)
                loss.backward()
                return loss
            try:
                opt.step(closure)
                val = float(self.potential(theta).detach())
            except (RuntimeError, ValueError):  # a Cholesky failure far out in the tails: skip this start
                continue
            if math.isfinite(val) and val < best_val:
                best, best_val = theta.detach().clone(), val
        if best is None:
            raise RuntimeError("MAP estimation failed from every start; check the data and priors")
        return Posterior(self, {h: best[i].exp()[None] for i, h in enumerate(self.hyper_names)},
                         diagnostics={"method": "MAP", "potential": best_val})

    # ---- predictive -----------------------------------------------------------------
    def _solve(self, X_new: torch.Tensor, hypers: Hypers):
        """``(X_new (M, d), hp {name: (S,)}, noise (S,), mean (S, M), A = L^-1 K(X, X_new) (S, N, M))``."""
        X_new = X_new[:, None] if X_new.dim() == 1 else X_new
        X_new = X_new.to(torch.float64)
        if X_new.shape[1] != self.X.shape[1]:
            raise ValueError(f"X_new has {X_new.shape[1]} columns, the data {self.X.shape[1]}")
        missing = set(self.hyper_names) - set(hypers)
        if missing:
            raise ValueError(f"hyperparameter values missing for {sorted(missing)}")
        hp = {k: torch.as_tensor(v, dtype=torch.float64).reshape(-1) for k, v in hypers.items()}
        noise = hp.get("noise", torch.full_like(hp["variance"], self.noise))
        n = self.X.shape[0]
        K = kernel_matrix(self.kernel_name, self.X, self.X, hp) + \
            (noise + self.jitter)[:, None, None] * torch.eye(n, dtype=torch.float64)
        L = torch.linalg.cholesky(K)                                           # (S, N, N)
        A = torch.linalg.solve_triangular(L, kernel_matrix(self.kernel_name, self.X, X_new, hp), upper=False)
        b = torch.linalg.solve_triangular(L, self.y.expand(L.shape[0], n)[..., None], upper=False)
        return X_new, hp, noise, (A * b).sum(-2), A

    def conditional(self, X_new: torch.Tensor, hypers: Hypers, full_cov: bool = False
                    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The Gaussian conditional :math:`p(f_* \\mid x_*, D, \\theta_s)` for each setting.

        :param Tensor X_new: shape ``(M, d)`` or ``(M,)``.
        :param dict hypers: name -> shape ``(S,)`` (or a float).
        :returns: ``(mean (S, M), var (S, M) or cov (S, M, M), noise (S,))``.
        """
        X_new, hp, noise, mean, A = self._solve(X_new, hypers)
        if full_cov:
            return mean, kernel_matrix(self.kernel_name, X_new, X_new, hp) - A.transpose(-1, -2) @ A, noise
        # every kernel here is stationary: k(x, x) = variance
        return mean, (hp["variance"][:, None] - (A * A).sum(-2)).clamp_min(0), noise

    @torch.no_grad()
    def predict(self, X_new: torch.Tensor, hypers: Hypers, noiseless: bool = False
                ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Mean and variance of :math:`p(y_* \\mid x_*, D)` (of :math:`f_*` when ``noiseless``),
        Monte Carlo over the hyperparameter samples ``hypers`` (name -> shape ``(S,)``) by the law
        of total variance; each of shape ``(M,)``."""
        mean, var, noise = self.conditional(X_new, hypers)
        if not noiseless:
            var = var + noise[:, None]
        total = var.mean(0) + (mean.var(0, unbiased=False) if mean.shape[0] > 1 else 0.0)
        return mean.mean(0), total

    @torch.no_grad()
    def sample_functions(self, X_new: torch.Tensor, hypers: Hypers,
                         generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """One joint draw of :math:`f_*` at ``X_new`` (``M`` points) per hyperparameter setting;
        shape ``(S, M)``.

        The conditional covariance :math:`C` is factorised by pivoted Cholesky, its columns
        computed on demand, until every residual variance is below :math:`10^{-10}\\sigma_f^2`
        (the residual is drawn independently): a few dozen columns for a smooth kernel on a fine
        grid instead of an ``M x M`` matrix. Where that needs more than ``min(M/4, 512)`` columns, the
        dense :math:`C + 10^{-10}\\sigma_f^2 I` is factorised instead (escalating to
        :math:`10^{-8}, 10^{-6}`, then a clipped eigendecomposition), so inputs that repeat
        the data, or each other, never break the factorisation."""
        X_new, hp, _, mean, A = self._solve(X_new, hypers)
        M = X_new.shape[0]
        draws = []
        for s in range(mean.shape[0]):
            hs = {k: v[s] for k, v in hp.items()}
            var, As = float(hs["variance"]), A[s]
            column = lambda j: kernel_matrix(self.kernel_name, X_new, X_new[j:j + 1], hs)[:, 0] - As.T @ As[:, j]  # noqa: E731,B023
            low_rank = pivoted_cholesky((var - (As * As).sum(0)).clamp_min(0), column, 1e-10 * var, min(M // 4, 512))
            if low_rank is not None:
                L, resid = low_rank
                eps = torch.randn(L.shape[1] + M, generator=generator, dtype=torch.float64)
                draws.append(mean[s] + L @ eps[:L.shape[1]] + resid.sqrt() * eps[L.shape[1]:])
                continue
            cov = kernel_matrix(self.kernel_name, X_new, X_new, hs) - As.T @ As
            eye = torch.eye(M, dtype=torch.float64)
            for scale in (1e-10, 1e-8, 1e-6):
                L, info = torch.linalg.cholesky_ex(cov + scale * var * eye)
                if int(info) == 0:
                    break
            else:                                                            # last resort: clip negative modes
                evals, evecs = torch.linalg.eigh(cov)
                L = evecs * evals.clamp_min(0).sqrt()
            draws.append(mean[s] + L @ torch.randn(M, generator=generator, dtype=torch.float64))
        return torch.stack(draws)


def add_cli_args(p) -> None:
    """Flags of ``pyroml gp`` and ``examples/gp_fit.py``."""
    p.add_argument("--num-samples", type=int, default=500, help="NUTS samples per chain (default 500)")
    p.add_argument("--warmup", type=int, default=500, help="NUTS warm-up steps per chain (default 500)")
    p.add_argument("--chains", type=int, default=4, help="chains (default 4)")
    p.add_argument("--kernel", default="rbf", choices=sorted(KERNELS))
    p.add_argument("--out", default="runs/gp", help="output folder (default runs/gp)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="accepted for symmetry; GP work runs on the CPU in float64")
    p.add_argument("--data-dir", default=None, help="unused: the study's problem is built in")


def cli_main(args) -> int:
    """NUTS on the study's problem: prints the diagnostics, writes a flat ``metrics.json`` and the
    figures (hyperparameters beside prior samples, log-log; the posterior predictive)."""
    from pathlib import Path

    from pyroml.checkpoint import write_json
    from pyroml.experiment import save_figures
    from pyroml.plots import gp_figures
    torch.set_num_threads(1)
    f, X, bounds, _, _ = study_problem()
    y = f(X).reshape(-1)
    model = GP(X, y, kernel=args.kernel)
    post = model.sample_posterior(args.num_samples, args.warmup, args.chains, seed=args.seed)
    print(post.table())
    m, v = post.predict(X)
    metrics = {"kernel": args.kernel, "chains": args.chains, "num_samples": args.num_samples,
               "warmup_steps": args.warmup, "seed": args.seed, **post.summary(),
               "max_abs_error_at_data": float((m - y).abs().max()), "max_predictive_var_at_data": float(v.max()),
               "noise": model.noise}
    print(f"at the data: max |m(x_i) - y_i| = {metrics['max_abs_error_at_data']:.2e}, "
          f"max predictive variance = {metrics['max_predictive_var_at_data']:.2e} (noise {model.noise:g})")
    out = Path(args.out)
    write_json(out / "metrics.json", metrics)
    save_figures(gp_figures(post, f, bounds), out)
    print(f"wrote {out}/metrics.json and figures")
    return 0
