"""Gaussian-process regression with a posterior over kernel hyperparameters.

Model (``pyro.contrib.gp.models.GPRegression`` with ``PyroSample`` priors on the kernel):

.. math::

    \\theta = (\\ell, \\sigma_f^2, \\dots) \\sim p(\\theta), \\qquad
    f \\sim \\mathcal{GP}(0, k_\\theta), \\qquad
    y_i = f(x_i) + \\epsilon_i, \\quad \\epsilon_i \\sim \\mathcal N(0, \\sigma_n^2 w_i),

with :math:`f` integrated out: :math:`y \\mid \\theta \\sim \\mathcal N(0, K_\\theta + \\sigma_n^2 W)`,
:math:`W = \\operatorname{diag}(w)`; the noise multipliers :math:`w_i` are 1 (homoscedastic noise)
unless ``noise_weights`` gives them (noise of known shape and learned scale).
The hyperparameter posterior :math:`p(\\theta \\mid D)` comes from

* :meth:`GP.sample_posterior`: NUTS (:class:`pyroml.gp.nuts.LeanNUTS`, or Pyro's ``NUTS`` kernel)
  on the log marginal likelihood plus log prior in float64 over :math:`\\log\\theta`, value and
  gradient in closed form (:class:`pyroml.gp.potential.ClosedFormPotential`), several chains, with
  split R-hat and effective sample size from ``pyro.ops.stats`` and the divergences of each chain; or
* :meth:`GP.fit`: SVI through :func:`pyroml.fit` on the ``GPRegression`` model with a
  point-mass (MAP) or Gaussian guide on each hyperparameter; or
* :meth:`GP.map_estimate`: L-BFGS on the log posterior from a few prior draws (fast, for BO).

The posterior predictive at new inputs averages the Gaussian conditional over hyperparameter
samples (:class:`pyroml.gp.posterior.Posterior`).
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable, Dict, List, Mapping, NamedTuple, Optional, Tuple, Union

import pyro
import pyro.contrib.gp as gp
import pyro.distributions as dist
import torch
from pyro.infer import Trace_ELBO

from pyroml import infer
from pyroml._validation import check_choice, check_positive
from pyroml.gp.contrib import build_gpr, site_value
from pyroml.gp.data import check_noise_weights, check_xy, warn_scale
from pyroml.gp.kernel_base import Kernel, base_hyper, hyper_kind
from pyroml.gp.kernels import Hypers, hyper_names, kernel_matrix, resolve_kernel
from pyroml.gp.linalg import pivoted_cholesky, robust_factor
from pyroml.gp.posterior import Posterior, map_estimate, sample_nuts
from pyroml.gp.potential import ClosedFormPotential
from pyroml.gp.priors import Prior, as_float64, default_priors, lognormal_params
from pyroml.gp.transforms import Standardize, UnitCube

__all__ = ["GP", "Conditional"]


class Conditional(NamedTuple):
    """The Gaussian conditional :math:`p(f_* \\mid x_*, D, \\theta_s)` for ``S`` settings:
    ``mean`` ``(S, M)``, ``var`` ``(S, M)`` (or the covariance ``(S, M, M)``) and ``noise`` ``(S,)``."""

    mean: torch.Tensor
    var: torch.Tensor
    noise: torch.Tensor


class _Solved(NamedTuple):
    """What the predictive shares: inputs ``X_new`` ``(M, d)``, hyperparameters ``hypers``
    ``{name: (S,)}``, ``noise`` ``(S,)``, conditional ``mean`` ``(S, M)`` and
    ``A`` :math:`= L^{-1} K(X, X_{new})` ``(S, N, M)``."""

    X_new: torch.Tensor
    hypers: Hypers
    noise: torch.Tensor
    mean: torch.Tensor
    A: torch.Tensor


class GP(infer.SVIModule):
    """GP regression with priors on its kernel hyperparameters.

    :param Tensor X: inputs of shape ``(N, d)`` (or ``(N,)``).
    :param Tensor y: targets of shape ``(N,)``.
    :param kernel: a name, ``"rbf"``, ``"matern32"``, ``"matern52"``, ``"exponential"`` or
        ``"periodic"``, or sums and products of them (``"rbf+periodic"``, ``"rbf*periodic"``;
        hyperparameters then named per part, ``"rbf.lengthscale"``, ``"periodic.period"``), or a
        :class:`~pyroml.gp.kernels.Kernel` object (``RBF() + Periodic()``), or an instance of the
        matching ``pyro.contrib.gp.kernels`` class (``RBF``, ``Matern32``, ..., their ``Sum`` and
        ``Product``) with ``input_dim = d``; priors set on the instance
        (``k.lengthscale = PyroSample(dist.LogNormal(...))``) are used, its other values are not.
    :param float noise: a fixed observation-noise variance :math:`\\sigma_n^2`, in the units of
        ``y`` squared. Default ``None``: the noise is learned under ``noise_prior``.
    :param dict priors: hyperparameter name -> prior over its positive value, on the GP's working
        scales (below), by kind (``"lengthscale"``: every part's) or per part of a composite kernel
        (``"periodic.period"``); overrides the instance's and the library defaults,
        :func:`~pyroml.gp.default_priors`. LogNormal priors get the closed-form NUTS potential;
        others use autograd (slower). With ARD, ``"lengthscale"`` is the prior of each one.
    :param noise_prior: the prior of a learned noise variance (default LogNormal(-4, 1) on the
        standardised scale); giving one learns the noise even when ``noise`` is given.
    :param bool noiseless: a deterministic objective: the noise is fixed at :math:`10^{-6}` of the
        working scale instead of learned.
    :param float jitter: added to the covariance diagonal before Cholesky factorisations.
    :param bounds: the input box, ``(2, d)``: inputs are mapped from it to the unit cube
        (default: from the data's range). ``normalize=False``: inputs used as they come (bounds ignored).
    :param bool standardize: work on :math:`(y - \\bar y)/s_y` (default); predictions come back
        on the original scale either way.
    :param bool ard: one lengthscale per input dimension (default: when ``d > 1``).
    :param Tensor noise_weights: positive multipliers :math:`w` ``(N,)`` of the noise variance
        at each training point (default: all 1): point :math:`i`'s noise variance is
        :math:`\\sigma_n^2 w_i`, with :math:`\\sigma_n^2` fixed or learned as above. Predictions at
        new points add :math:`\\sigma_n^2` (:math:`w = 1`). The SVI path (:meth:`fit`) takes
        homoscedastic noise only.

    Computation is in float64. Two GPs never share parameters: the ``GPRegression`` module
    is built with module-local parameters, and nothing enters Pyro's global parameter store.
    Hyperparameter values (samples, MAP, priors) are on the working scales; :attr:`X` and
    :attr:`y` are the data as given, :attr:`Xt` and :attr:`yt` as the GP sees them.
    """

    def __init__(self, X: torch.Tensor, y: torch.Tensor, kernel: Union[str, Kernel, gp.kernels.Kernel] = "rbf",
                 noise: Optional[float] = None, priors: Optional[Mapping[str, Prior]] = None,
                 noise_prior: Optional[Prior] = None, jitter: float = 1e-10, *, noiseless: bool = False,
                 bounds: Any = None, normalize: bool = True, standardize: bool = True, ard: Optional[bool] = None,
                 noise_weights: Optional[torch.Tensor] = None):
        super().__init__()
        self.X, self.y = check_xy(X, y)
        d = self.X.shape[1]
        spec = resolve_kernel(kernel, d)
        self.kernel, self.kernel_name = spec.kernel, spec.name
        self.input_transform = UnitCube.identity(d) if not normalize else \
            (UnitCube.from_bounds(bounds, d) if bounds is not None else UnitCube.from_data(self.X))
        self.output_transform = Standardize.from_data(self.y) if standardize else Standardize.identity()
        if not standardize:
            warn_scale(self.y)
        self.Xt, self.yt = self.input_transform.forward(self.X), self.output_transform.forward(self.y)
        self.ard = d > 1 if ard is None else bool(ard)
        self.jitter = check_positive("jitter", jitter, allow_zero=True)
        given, defaults = dict(priors or {}), default_priors(d)
        allowed = set(self.kernel.hypers) | {hyper_kind(h) for h in self.kernel.hypers}
        unknown = set(given) - allowed
        if unknown:
            raise ValueError(f"priors given for {sorted(unknown)}, but the {self.kernel_name} kernel has "
                             f"{sorted(allowed)}; for the noise use noise_prior=")
        #: kernel hyperparameter (before ARD) -> prior: the user's by name, then by kind, then the instance's
        self.priors = {h: as_float64(given.get(h, given.get(hyper_kind(h),
                                                            spec.priors.get(h, defaults[hyper_kind(h)]))))
                       for h in self.kernel.hypers}
        learned = noise_prior is not None or (noise is None and not noiseless)
        self.noise_prior = as_float64(noise_prior if noise_prior is not None else defaults["noise"]) \
            if learned else None
        scale2 = self.output_transform.scale ** 2
        self.noise = 1e-6 if noise is None else check_positive("noise (a positive variance)", noise) / scale2
        self.hyper_names: List[str] = list(hyper_names(self.kernel, d, self.ard)) + (["noise"] if learned else [])
        self.noise_weights = check_noise_weights(noise_weights, self.X.shape[0])
        self.gpr = self._build_gpr()

    def noise_diagonal(self, noise: torch.Tensor) -> torch.Tensor:
        """The noise and jitter on the covariance's diagonal, :math:`\\sigma_n^2 w_i + \\text{jitter}`,
        for noise variances ``noise`` of any shape ``S``: shape ``S + (N,)``."""
        noise = noise[..., None]
        return (noise + self.jitter) * torch.ones_like(self.yt) if self.noise_weights is None else \
            noise * self.noise_weights + self.jitter

    def prior(self, name: str) -> Prior:
        """The prior over hyperparameter ``name`` (one of :attr:`hyper_names`), over its positive value."""
        if name == "noise" and self.noise_prior is not None:
            return self.noise_prior
        return self.priors[base_hyper(name)]

    def prior_draw(self) -> torch.Tensor:
        """:math:`\\log\\theta` drawn from the prior, clamped to [-4, 4] (a chain's start); shape ``(H,)``."""
        return torch.stack([self.prior(h).sample().log().clamp(-4, 4) for h in self.hyper_names]).double()

    # ---- pyro.contrib.gp model: the SVI path ------------------------------------------
    def _build_gpr(self) -> gp.models.GPRegression:
        """The ``GPRegression`` of :func:`~pyroml.gp.contrib.build_gpr` (module-local parameters)."""
        built = build_gpr(self.kernel, self.Xt, self.yt, self.prior, self.ard, self.noise, self.noise_prior,
                          self.jitter)
        self._sites, self._sampled = built.sites, built.sampled
        return built.gpr

    def model(self, X: torch.Tensor, y: torch.Tensor) -> Any:
        """``GPRegression.model`` on (X, y): the marginal likelihood with hyperparameter priors."""
        self.gpr.set_data(X, y)
        return self.gpr.model()

    def guide(self, X: torch.Tensor, y: torch.Tensor) -> Any:
        """``GPRegression.guide``: the autoguides set by :meth:`fit` (point mass or Gaussian)."""
        return self.gpr.guide()

    def elbo(self, num_particles: int = 1) -> Trace_ELBO:
        """``Trace_ELBO`` (the hyperparameters are global: no plate, nothing to vectorise)."""
        return Trace_ELBO(num_particles=num_particles)

    def check_input(self, *data: Any, what: str = "data") -> None:
        """Called by :func:`pyroml.fit` on its data, ``(X (N, d), y (N,))``."""
        if len(data) != 2:
            raise ValueError(f"GP {what} must be a pair (X, y), got {len(data)} tensors")
        check_xy(*data)

    def fit(self, guide: str = "map", steps: int = 1000, lr: float = 0.01, seed: int = 0,
            progress: bool = False, num_draws: int = 1000) -> Posterior:
        """Hyperparameters by SVI through :func:`pyroml.fit` (full-batch Adam steps).

        :param str guide: ``"map"`` (point mass: maximum a posteriori) or ``"normal"``
            (a Gaussian on each hyperparameter's unconstrained value).
        :returns: a :class:`Posterior` with one sample (MAP) or ``num_draws`` draws from the guide.
        """
        check_choice("guide", guide, ("map", "normal"))
        if self.noise_weights is not None:
            raise ValueError("GP.fit (SVI through pyro.contrib.gp's GPRegression) takes one noise variance for "
                             "every point; with noise_weights use map_estimate or sample_posterior")
        self.gpr = self._build_gpr()
        family = dist.Delta if guide == "map" else dist.Normal
        for module, h in self._sampled:
            module.autoguide(h, family)
        if self.noise_prior is not None:
            self.gpr.autoguide("noise", family)
        with pyro.settings.context(module_local_params=True):
            self.gpr.set_mode("guide")  # materialise the autoguide parameters before the optimiser sees them
            self.gpr.guide()
        t0 = time.perf_counter()
        infer.fit(self, (self.Xt, self.yt), epochs=steps, batch_size=len(self.X), lr=lr, seed=seed, progress=progress)
        n = 1 if guide == "map" else num_draws
        with torch.no_grad(), pyro.settings.context(module_local_params=True):
            draws = [pyro.poutine.trace(self.gpr.guide).get_trace() for _ in range(n)]
        samples = {h: torch.stack([site_value(tr, self._sites, h) for tr in draws]) for h in self.hyper_names}
        return Posterior(self, samples, diagnostics={"seconds": time.perf_counter() - t0, "method": f"SVI-{guide}"})

    # ---- the potential and NUTS --------------------------------------------------------
    def potential(self, theta: torch.Tensor) -> torch.Tensor:
        """:math:`U(\\theta) = -\\log p(y \\mid \\theta) - \\log p(\\theta) - \\sum_j \\theta_j` at
        :math:`\\theta = \\log` (hyperparameters), shape ``(H,)``, by autograd-able torch ops."""
        hp = {h: theta[..., i].exp() for i, h in enumerate(self.hyper_names)}
        noise = hp.get("noise", torch.tensor(self.noise, dtype=theta.dtype))
        n = self.X.shape[0]
        K = kernel_matrix(self.kernel, self.Xt, self.Xt, hp) + torch.diag_embed(self.noise_diagonal(noise))
        L = torch.linalg.cholesky(K)
        a = torch.linalg.solve_triangular(L, self.yt[:, None], upper=False)
        logml = -0.5 * (a * a).sum() - L.diagonal().log().sum() - 0.5 * n * math.log(2 * math.pi)
        logprior = sum(self.prior(h).log_prob(hp[h]) for h in self.hyper_names) + theta.sum()
        return -(logml + logprior)

    def closed_form_potential(self) -> Optional[ClosedFormPotential]:
        """The NumPy value-and-gradient potential, or ``None`` unless every prior is LogNormal."""
        params = [lognormal_params(self.prior(h)) for h in self.hyper_names]
        if any(p is None for p in params):
            return None
        return ClosedFormPotential(self.kernel, self.Xt, self.yt, self.hyper_names,
                                   [p for p in params if p is not None], self.noise, self.jitter,
                                   self.noise_weights)

    def potential_fn(self) -> Callable[[Dict[str, torch.Tensor]], torch.Tensor]:
        """``potential_fn`` for ``pyro.infer.NUTS`` over ``{"theta": log hyperparameters}``."""
        closed = self.closed_form_potential()
        return closed.torch_fn() if closed is not None else (lambda p: self.potential(p["theta"]))

    def sample_posterior(self, num_samples: int = 500, warmup_steps: int = 500, num_chains: int = 4,
                         seed: int = 0, progress: bool = False, init: Optional[Dict[str, float]] = None,
                         sampler: str = "auto", **nuts_kwargs: Any) -> Posterior:
        """Hyperparameter posterior by NUTS.

        Chains run one after another (on a couple of cores, processes cost more than they save),
        each from its own prior draw of :math:`\\log\\theta` clamped to [-4, 4], or from ``init``.
        With LogNormal priors (the closed-form potential) the sampler is
        :class:`~pyroml.gp.nuts.LeanNUTS`, NUTS with Stan's warm-up written in NumPy (several times
        faster than Pyro's NUTS on a few points); otherwise, with ``sampler="pyro"``, or with
        options it does not take, Pyro's ``NUTS`` kernel stepped as ``pyro.infer.MCMC`` steps it
        (:func:`~pyroml.gp.run_chain`).

        :param int num_samples: kept samples per chain, after ``warmup_steps`` of step-size and
            mass-matrix adaptation.
        :param dict init: optional starting values (name -> positive float) for every chain.
        :param str sampler: ``"auto"``, ``"numpy"`` (:class:`~pyroml.gp.nuts.LeanNUTS`; an error
            where it cannot run) or ``"pyro"``.
        :param nuts_kwargs: ``target_accept_prob``, ``max_tree_depth``, ``step_size`` (the initial
            one) for either sampler; anything else goes to ``pyro.infer.NUTS``.
        :returns: a :class:`Posterior` with ``num_chains * num_samples`` samples and, per
            hyperparameter, split R-hat and effective sample size (``pyro.ops.stats``, on the log
            scale), plus the divergences and the adapted step size of each chain.
        :raises NUTSInterrupted: on Ctrl-C (a ``KeyboardInterrupt``), with the draws made so far
            as its ``posterior``.
        """
        return sample_nuts(self, num_samples, warmup_steps, num_chains, seed, progress, init, sampler, **nuts_kwargs)

    def map_estimate(self, restarts: int = 5, steps: int = 60, seed: int = 0) -> Posterior:
        """Maximum a posteriori hyperparameters: L-BFGS on :meth:`potential` from ``restarts``
        prior draws, the best end point kept (a fast deterministic alternative to :meth:`fit`)."""
        return map_estimate(self, restarts, steps, seed)

    # ---- predictive -----------------------------------------------------------------
    def _solve(self, X_new: torch.Tensor, hypers: Hypers) -> _Solved:
        """The triangular solves the conditional mean, variance and function draws share."""
        X_new = X_new[:, None] if X_new.dim() == 1 else X_new
        X_new = X_new.to(torch.float64)
        if X_new.shape[1] != self.X.shape[1]:
            raise ValueError(f"X_new has {X_new.shape[1]} columns, the data {self.X.shape[1]}")
        if not bool(torch.isfinite(X_new).all()):
            raise ValueError("X_new holds NaN or infinite values; pass finite inputs")
        missing = set(self.hyper_names) - set(hypers)
        if missing:
            raise ValueError(f"hyperparameter values missing for {sorted(missing)}")
        hp = {k: torch.as_tensor(v, dtype=torch.float64).reshape(-1) for k, v in hypers.items()}
        noise = hp.get("noise", torch.full_like(next(iter(hp.values())), self.noise))
        X_new = self.input_transform.forward(X_new)
        L, b = self.train_factor(hp, noise)
        A = torch.linalg.solve_triangular(L, kernel_matrix(self.kernel, self.Xt, X_new, hp), upper=False)
        return _Solved(X_new, hp, noise, (A * b).sum(-2), A)

    def train_factor(self, hp: Dict[str, torch.Tensor], noise: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """:math:`L = \\operatorname{chol}(K + \\sigma_n^2 W + \\text{jitter}\\, I)` ``(S, N, N)`` and
        :math:`L^{-1}\\tilde y` ``(S, N, 1)`` on the working scale at the settings ``hp`` (name ->
        ``(S,)``) and noise variances ``noise`` ``(S,)``; the last factor is reused while the data
        and the settings are the same and nothing needs their gradient (an acquisition maximiser
        calls the conditional many times at one setting)."""
        tracked = noise.requires_grad or any(v.requires_grad for v in hp.values())
        key = None if tracked else tuple(torch.cat([hp[k] for k in sorted(hp)] + [noise]).tolist())
        cached = getattr(self, "_factor", None)
        if cached is not None and key is not None and cached[0] is self.Xt and cached[1] is self.yt \
                and cached[2] == self.yt._version and cached[3] == key and cached[6] is self.noise_weights:
            return cached[4], cached[5]
        n = self.X.shape[0]
        K = kernel_matrix(self.kernel, self.Xt, self.Xt, hp) + torch.diag_embed(self.noise_diagonal(noise))
        L = torch.linalg.cholesky(K)
        b = torch.linalg.solve_triangular(L, self.yt.expand(L.shape[0], n)[..., None], upper=False)
        if key is not None:
            self._factor = (self.Xt, self.yt, self.yt._version, key, L, b, self.noise_weights)
        return L, b

    def conditional(self, X_new: torch.Tensor, hypers: Hypers, full_cov: bool = False) -> Conditional:
        """The Gaussian conditional :math:`p(f_* \\mid x_*, D, \\theta_s)` for each setting, on the
        original scale of ``y`` (differentiable in ``X_new``).

        :param Tensor X_new: shape ``(M, d)`` or ``(M,)``.
        :param dict hypers: name -> shape ``(S,)`` (or a float).
        :returns: a :class:`Conditional`: ``(mean (S, M), var (S, M) or cov (S, M, M), noise (S,))``.
        """
        X_new, hp, noise, mean, A = self._solve(X_new, hypers)
        out = self.output_transform
        if full_cov:
            cov = kernel_matrix(self.kernel, X_new, X_new, hp) - A.transpose(-1, -2) @ A
        else:                                 # every kernel here is stationary: k(x, x) = variance
            cov = (self.kernel.diag(hp)[:, None] - (A * A).sum(-2)).clamp_min(0)
        return Conditional(out.inverse_mean(mean), out.inverse_variance(cov), out.inverse_variance(noise))

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
        """One joint draw of :math:`f_*` at ``X_new`` (``M`` points) per hyperparameter setting, on
        the original scale of ``y``; shape ``(S, M)``.

        The conditional covariance :math:`C` is factorised by pivoted Cholesky, its columns
        computed on demand, until every residual variance is below :math:`10^{-10}\\sigma_f^2`
        (the residual is drawn independently): a few dozen columns for a smooth kernel on a fine
        grid instead of an ``M x M`` matrix. Where that needs more than ``min(M/4, 512)`` columns, the
        dense :math:`C` is factorised instead (:func:`~pyroml.gp.linalg.robust_factor`: jitter
        :math:`10^{-10}\\sigma_f^2`, escalating, then a clipped eigendecomposition), so inputs that
        repeat the data, or each other, never break the factorisation."""
        X_new, hp, _, mean, A = self._solve(X_new, hypers)
        M = X_new.shape[0]
        draws = []
        for s in range(mean.shape[0]):
            hs = {k: v[s] for k, v in hp.items()}
            var, As = float(self.kernel.diag(hs)), A[s]
            column = lambda j: kernel_matrix(self.kernel, X_new, X_new[j:j + 1], hs)[:, 0] - As.T @ As[:, j]  # noqa: E731,B023
            low_rank = pivoted_cholesky((var - (As * As).sum(0)).clamp_min(0), column, 1e-10 * var, min(M // 4, 512))
            if low_rank is not None:
                L, resid = low_rank
                eps = torch.randn(L.shape[1] + M, generator=generator, dtype=torch.float64)
                draws.append(mean[s] + L @ eps[:L.shape[1]] + resid.sqrt() * eps[L.shape[1]:])
                continue
            L = robust_factor(kernel_matrix(self.kernel, X_new, X_new, hs) - As.T @ As, var)
            draws.append(mean[s] + L @ torch.randn(M, generator=generator, dtype=torch.float64))
        return self.output_transform.inverse_mean(torch.stack(draws))
