"""Gaussian-process regression with a posterior over kernel hyperparameters.

Model (``pyro.contrib.gp.models.GPRegression`` with priors on the kernel's hyperparameters):

.. math::

    \\theta = (\\ell, \\sigma_f^2) \\sim p(\\theta), \\qquad
    f \\sim \\mathcal{GP}(0, k_\\theta), \\qquad
    y_i = f(x_i) + \\epsilon_i, \\quad \\epsilon_i \\sim \\mathcal N(0, \\sigma_n^2),

with :math:`f` integrated out: :math:`y \\mid \\theta \\sim \\mathcal N(0, K_\\theta + \\sigma_n^2 I)`.
The hyperparameter posterior :math:`p(\\theta \\mid D)` comes from

* :meth:`GP.sample_posterior`: NUTS (``pyro.infer.MCMC``) on the closed-form log marginal
  likelihood plus log prior in float64, over :math:`\\log \\theta`, JIT-compiled, several
  chains, with split R-hat, effective sample size and divergences from Pyro's own
  ``pyro.ops.stats`` per hyperparameter; or
* :meth:`GP.fit`: SVI through :func:`pyroml.fit` on the ``GPRegression`` model with a
  point-mass (MAP) or Gaussian guide on each hyperparameter.

The posterior predictive at new inputs averages the Gaussian conditional over hyperparameter
samples :math:`\\theta_s` (law of total variance):

.. math::

    \\mathbb E[y_* \\mid D] = \\tfrac1S \\sum_s m_s(x_*), \\qquad
    \\mathrm{Var}[y_* \\mid D] = \\tfrac1S \\sum_s \\big(v_s(x_*) + \\sigma_n^2\\big)
      + \\mathrm{Var}_s\\big[m_s(x_*)\\big].
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple, Union

import pyro
import pyro.contrib.gp as gp
import pyro.distributions as dist
import torch
from pyro.infer import MCMC, NUTS, Trace_ELBO
from pyro.nn import PyroSample
from pyro.ops.stats import effective_sample_size, split_gelman_rubin

__all__ = ["GP", "Posterior", "study_problem", "kernel_matrix", "KERNELS"]

KERNELS = {"rbf": gp.kernels.RBF, "matern32": gp.kernels.Matern32, "matern52": gp.kernels.Matern52,
           "exponential": gp.kernels.Exponential, "periodic": gp.kernels.Periodic}
HYPERS = {"rbf": ("lengthscale", "variance"), "matern32": ("lengthscale", "variance"),
          "matern52": ("lengthscale", "variance"), "exponential": ("lengthscale", "variance"),
          "periodic": ("lengthscale", "variance", "period")}


def study_problem():
    """The study's test problem.

    :returns: ``(f, X, bounds, x_min, f_min)``: :math:`f(x) = \\sin 20x + 2\\cos 14x - 2\\sin 6x`
        on [-1, 1], the five data inputs ``X`` of shape (5, 1), ``bounds = (-1.0, 1.0)``, and the
        global minimiser and minimum (x = 0.23271, f = -4.9544; a second basin at x = -0.698,
        f = -4.5963, traps naive searches).
    """
    def f(x: torch.Tensor) -> torch.Tensor:
        return torch.sin(20 * x) + 2 * torch.cos(14 * x) - 2 * torch.sin(6 * x)
    X = torch.tensor([[-1.0], [-0.5], [0.0], [0.5], [1.0]], dtype=torch.float64)
    return f, X, (-1.0, 1.0), 0.23271, -4.9544


def kernel_matrix(kernel: str, X1: torch.Tensor, X2: torch.Tensor, hypers: Dict[str, torch.Tensor]) -> torch.Tensor:
    """:math:`k_\\theta(X_1, X_2)` for a batch of hyperparameters.

    :param str kernel: one of :data:`KERNELS`.
    :param Tensor X1: shape ``(N, d)``; ``X2``: ``(M, d)``.
    :param dict hypers: each of shape ``(S,)`` (a batch of S settings) or ``()``.
    :returns: shape ``(S, N, M)`` (or ``(N, M)`` for scalar hyperparameters).
    """
    ls, var = hypers["lengthscale"], hypers["variance"]
    diff = X1[:, None, :] - X2[None, :, :]                                  # (N, M, d)
    if kernel == "periodic":
        s = torch.sin(math.pi * diff.abs() / hypers["period"][..., None, None, None]).pow(2).sum(-1)
        return var[..., None, None] * torch.exp(-2.0 * s / ls[..., None, None] ** 2)
    d2 = (diff ** 2).sum(-1) / ls[..., None, None] ** 2
    if kernel == "rbf":
        return var[..., None, None] * torch.exp(-0.5 * d2)
    r = d2.clamp_min(1e-30).sqrt()
    if kernel == "exponential":
        return var[..., None, None] * torch.exp(-r)
    if kernel == "matern32":
        r = math.sqrt(3.0) * r
        return var[..., None, None] * (1 + r) * torch.exp(-r)
    if kernel == "matern52":
        r = math.sqrt(5.0) * r
        return var[..., None, None] * (1 + r + r * r / 3) * torch.exp(-r)
    raise ValueError(f"unknown kernel {kernel!r}; choose one of {sorted(KERNELS)}")


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


@dataclass
class Posterior:
    """Samples of the hyperparameter posterior and what can be done with them.

    :ivar samples: hyperparameter name -> tensor of shape ``(S,)`` (all chains concatenated).
    :ivar chains: hyperparameter name -> tensor of shape ``(C, S / C)``.
    :ivar diagnostics: hyperparameter name -> ``{"r_hat", "ess", "mean", "std"}``, plus
        ``"divergences"`` (count per chain) and ``"seconds"``.
    """

    gp: "GP"
    samples: Dict[str, torch.Tensor]
    chains: Dict[str, torch.Tensor] = field(default_factory=dict)
    diagnostics: Dict[str, object] = field(default_factory=dict)

    def predict(self, X_new: torch.Tensor, noiseless: bool = False) -> Tuple[torch.Tensor, torch.Tensor]:
        """Posterior predictive mean and variance at ``X_new`` (shape ``(M, d)`` or ``(M,)``),
        Monte Carlo over the hyperparameter samples; each of shape ``(M,)``."""
        return self.gp.predict(X_new, self.samples, noiseless=noiseless)

    def sample_functions(self, X_new: torch.Tensor, n: int = 1, generator: Optional[torch.Generator] = None
                         ) -> torch.Tensor:
        """``n`` joint draws of :math:`f_*` at ``X_new``, each under its own hyperparameter sample;
        shape ``(n, M)``."""
        S = next(iter(self.samples.values())).shape[0]
        idx = torch.randint(S, (n,), generator=generator)
        return self.gp.sample_functions(X_new, {k: v[idx] for k, v in self.samples.items()}, generator=generator)

    def table(self) -> str:
        """The diagnostics as a text table."""
        lines = [f"{'parameter':<12} {'mean':>10} {'std':>10} {'r_hat':>7} {'ess':>8}"]
        for name in self.gp.hyper_names:
            d = self.diagnostics[name]
            lines.append(f"{name:<12} {d['mean']:>10.4g} {d['std']:>10.4g} {d['r_hat']:>7.3f} {d['ess']:>8.1f}")
        lines.append(f"divergences per chain: {self.diagnostics['divergences']}; "
                     f"{self.diagnostics['seconds']:.1f} s")
        return "\n".join(lines)


def _numpy_kernel(kernel: str, D: "np.ndarray", A: "np.ndarray", h: Dict[str, float]):
    """Gram matrix and its derivatives with respect to the log hyperparameters.

    :param D: pairwise squared distances ``(N, N)``; ``A``: pairwise absolute differences ``(N, N, d)``.
    :returns: ``(K_f, {name: dK_f / d log name})``.
    """
    import numpy as np
    ls, var = h["lengthscale"], h["variance"]
    if kernel == "periodic":
        u = np.pi * A / h["period"]
        S = (np.sin(u) ** 2).sum(-1)
        K = var * np.exp(-2.0 * S / ls ** 2)
        return K, {"lengthscale": K * 4.0 * S / ls ** 2, "variance": K,
                   "period": K * (2.0 / ls ** 2) * (u * np.sin(2 * u)).sum(-1)}
    s = D / ls ** 2
    if kernel == "rbf":
        K = var * np.exp(-0.5 * s)
        return K, {"lengthscale": K * s, "variance": K}
    r = np.sqrt(s)
    if kernel == "exponential":
        K = var * np.exp(-r)
        return K, {"lengthscale": K * r, "variance": K}
    if kernel == "matern32":
        r = np.sqrt(3.0) * r
        e = np.exp(-r)
        return var * (1 + r) * e, {"lengthscale": var * r * r * e, "variance": var * (1 + r) * e}
    r = np.sqrt(5.0) * r                                                     # matern52
    e = np.exp(-r)
    return var * (1 + r + r * r / 3) * e, {"lengthscale": var * r * r * (1 + r) / 3 * e,
                                           "variance": var * (1 + r + r * r / 3) * e}


class _ClosedFormPotential(torch.autograd.Function):
    r"""NUTS's potential and its exact gradient computed together in NumPy (float64): for a
    handful of points the per-call overhead of autograd over small tensors dominates, and
    :math:`\partial U / \partial \theta_j = \tfrac12 \mathrm{tr}\big((K^{-1} - \alpha\alpha^\top)
    \partial K / \partial \theta_j\big) + (\theta_j - m_j) / s_j^2` is cheap in closed form
    (LogNormal priors: with the log-Jacobian they are Normal in :math:`\theta = \log` value)."""

    @staticmethod
    def forward(ctx, theta, gp):
        value, grad = gp._numpy_potential(theta.detach().cpu().numpy())
        ctx.save_for_backward(torch.as_tensor(grad, dtype=theta.dtype))
        return torch.as_tensor(value, dtype=theta.dtype)

    @staticmethod
    def backward(ctx, g):
        (grad,) = ctx.saved_tensors
        return g * grad, None


class GP(torch.nn.Module):
    """GP regression with priors on its kernel hyperparameters.

    :param Tensor X: inputs of shape ``(N, d)`` (or ``(N,)``).
    :param Tensor y: targets of shape ``(N,)``.
    :param kernel: ``"rbf"``, ``"matern32"``, ``"matern52"``, ``"exponential"``, ``"periodic"``.
    :param float noise: observation-noise variance :math:`\\sigma_n^2`, fixed unless ``noise_prior``
        is given (then learned).
    :param dict priors: hyperparameter name -> prior over its positive value. Defaults (the study):
        lengthscale ~ LogNormal(-1, 1), variance ~ LogNormal(0, 2), period ~ LogNormal(0, 1).
    :param noise_prior: a prior for a learned noise variance (``None``: noise fixed).
    :param float jitter: added to the covariance diagonal before Cholesky factorisations.

    Computation is in float64. Two GPs never share parameters: the ``GPRegression`` module
    holds its own, and nothing enters Pyro's global parameter store.
    """

    def __init__(self, X: torch.Tensor, y: torch.Tensor, kernel: str = "rbf", noise: float = 1e-4,
                 priors: Optional[Dict[str, dist.Distribution]] = None,
                 noise_prior: Optional[dist.Distribution] = None, jitter: float = 1e-10):
        super().__init__()
        if kernel not in KERNELS:
            raise ValueError(f"kernel must be one of {sorted(KERNELS)}, got {kernel!r}")
        if not (noise > 0):
            raise ValueError(f"noise must be a positive variance, got {noise!r}")
        self.X, self.y = _check_xy(X, y)
        self.kernel_name, self.noise, self.jitter = kernel, float(noise), float(jitter)
        default = {"lengthscale": dist.LogNormal(-1.0, 1.0), "variance": dist.LogNormal(0.0, 2.0),
                   "period": dist.LogNormal(0.0, 1.0)}
        self.priors = {h: (priors or {}).get(h, default[h]) for h in HYPERS[kernel]}
        self.noise_prior = noise_prior
        self.hyper_names = list(self.priors) + (["noise"] if noise_prior is not None else [])
        self.gpr = self._build_gpr()

    # ---- pyro.contrib.gp model (SVI path, and the reference for benchmarks) ----------
    def _build_gpr(self) -> gp.models.GPRegression:
        # built with module-local parameters (as the engine runs it): nothing enters Pyro's global
        # parameter store, so two GPs never share hyperparameters by name
        with pyro.settings.context(module_local_params=True):
            return self._make_gpr()

    def _make_gpr(self) -> gp.models.GPRegression:
        k = KERNELS[self.kernel_name](input_dim=self.X.shape[1])
        for h, prior in self.priors.items():
            setattr(k, h, PyroSample(_f64(prior)))
        gpr = gp.models.GPRegression(self.X, self.y, k, noise=torch.tensor(self.noise, dtype=torch.float64),
                                     jitter=self.jitter)
        if self.noise_prior is not None:
            gpr.noise = PyroSample(_f64(self.noise_prior))
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

    def elbo(self, num_particles: int = 1):
        return Trace_ELBO(num_particles=num_particles)

    def check_input(self, X, y, what: str = "data"):
        _check_xy(X, y)

    def fit(self, guide: str = "map", steps: int = 1000, lr: float = 0.01, seed: int = 0,
            progress: bool = False) -> Posterior:
        """Hyperparameters by SVI through :func:`pyroml.fit` (full-batch Adam steps).

        :param str guide: ``"map"`` (point mass: maximum a posteriori) or ``"normal"``
            (a Gaussian on each hyperparameter's unconstrained value).
        :returns: a :class:`Posterior` with one sample (MAP) or 1000 draws from the guide.
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
        n = 1 if guide == "map" else 1000
        with torch.no_grad(), pyro.settings.context(module_local_params=True):
            draws = [self._guide_values() for _ in range(n)]
        samples = {h: torch.stack([d[h] for d in draws]) for h in self.hyper_names}
        return Posterior(self, samples, diagnostics={"seconds": time.perf_counter() - t0, "method": f"SVI-{guide}"})

    def _guide_values(self) -> Dict[str, torch.Tensor]:
        tr = pyro.poutine.trace(self.gpr.guide).get_trace()
        out = {}
        for h in self.hyper_names:
            site = f"kernel.{h}" if h != "noise" else "noise"
            out[h] = tr.nodes[site]["value"].detach().reshape(())
        return out

    # ---- closed-form marginal likelihood and NUTS -------------------------------------
    def _hypers(self, theta: torch.Tensor) -> Dict[str, torch.Tensor]:
        return {h: theta[..., i].exp() for i, h in enumerate(self.hyper_names)}

    def potential(self, theta: torch.Tensor) -> torch.Tensor:
        """:math:`-\\log p(y \\mid \\theta) - \\log p(\\theta) - \\sum \\log\\theta` at
        :math:`\\log\\theta` = ``theta`` (shape ``(H,)``): NUTS's potential energy."""
        hp = self._hypers(theta)
        noise = hp.get("noise", torch.tensor(self.noise, dtype=theta.dtype))
        n = self.X.shape[0]
        K = kernel_matrix(self.kernel_name, self.X, self.X, hp)
        K = K + (noise + self.jitter) * torch.eye(n, dtype=theta.dtype)
        L = torch.linalg.cholesky(K)
        a = torch.linalg.solve_triangular(L, self.y[:, None], upper=False)
        logml = -0.5 * (a * a).sum() - L.diagonal().log().sum() - 0.5 * n * math.log(2 * math.pi)
        logprior = sum(self._prior(h).log_prob(hp[h]) for h in self.hyper_names) + theta.sum()
        return -(logml + logprior)

    def _fast_ok(self) -> bool:
        return all(isinstance(self._prior(h), dist.LogNormal) for h in self.hyper_names)

    def _numpy_potential(self, theta):
        import numpy as np
        if not hasattr(self, "_np_cache"):
            Xn = self.X.numpy()
            A = np.abs(Xn[:, None, :] - Xn[None, :, :])
            self._np_cache = ((A ** 2).sum(-1), A, self.y.numpy(),
                              [(float(self._prior(h).loc), float(self._prior(h).scale)) for h in self.hyper_names])
        D, A, y, priors = self._np_cache
        if not np.all(np.abs(theta) < 30):          # far out in the tails: infinite energy (a divergence)
            return np.inf, np.zeros_like(theta)
        h = {name: float(np.exp(t)) for name, t in zip(self.hyper_names, theta)}
        with np.errstate(all="ignore"):
            K, dK = _numpy_kernel(self.kernel_name, D, A, h)
        n = len(y)
        noise = h.get("noise", self.noise)
        K = K + (noise + self.jitter) * np.eye(n)
        if "noise" in h:
            dK["noise"] = noise * np.eye(n)
        try:
            L = np.linalg.cholesky(K)
        except np.linalg.LinAlgError:
            return np.inf, np.zeros_like(theta)
        Linv = np.linalg.inv(L)
        Kinv = Linv.T @ Linv
        alpha = Kinv @ y
        value = 0.5 * y @ alpha + np.log(np.diag(L)).sum() + 0.5 * n * np.log(2 * np.pi)
        W = Kinv - np.outer(alpha, alpha)
        grad = np.empty_like(theta)
        for j, (name, (m, sd)) in enumerate(zip(self.hyper_names, priors)):
            value += 0.5 * ((theta[j] - m) / sd) ** 2 + np.log(sd) + 0.5 * np.log(2 * np.pi)
            grad[j] = 0.5 * (W * dK[name]).sum() + (theta[j] - m) / sd ** 2
        return value, grad

    def _potential_fn(self):
        """The potential NUTS uses: closed form in NumPy for LogNormal priors, else autograd."""
        if self._fast_ok():
            return lambda p: _ClosedFormPotential.apply(p["theta"], self)
        return lambda p: self.potential(p["theta"])

    def _prior(self, h: str) -> dist.Distribution:
        return self.noise_prior if h == "noise" else self.priors[h]

    def sample_posterior(self, num_samples: int = 500, warmup_steps: int = 500, num_chains: int = 4,
                         seed: int = 0, progress: bool = False) -> Posterior:
        """Hyperparameter posterior by NUTS, chains run one after another from prior draws.

        :returns: a :class:`Posterior` with ``num_chains * num_samples`` samples and, per
            hyperparameter, split R-hat and effective sample size (``pyro.ops.stats``), plus the
            divergences of each chain.
        """
        if num_samples < 1 or warmup_steps < 0 or num_chains < 1:
            raise ValueError(f"need num_samples >= 1, warmup_steps >= 0, num_chains >= 1; got "
                             f"{num_samples}, {warmup_steps}, {num_chains}")
        t0 = time.perf_counter()
        chains, divergences = [], []
        for c in range(num_chains):
            pyro.set_rng_seed(seed * 1000 + c)
            init = torch.stack([self._prior(h).sample().log().clamp(-4, 4) for h in self.hyper_names]).double()
            kernel = NUTS(potential_fn=self._potential_fn(), full_mass=False)
            mcmc = MCMC(kernel, num_samples=num_samples, warmup_steps=warmup_steps,
                        initial_params={"theta": init}, disable_progbar=not progress)
            mcmc.run()
            chains.append(mcmc.get_samples()["theta"])
            divergences.append(len(mcmc.diagnostics()["divergences"]["chain 0"]))
        theta = torch.stack(chains)                                          # (C, S, H)
        return self._posterior_from_chains(theta, divergences, time.perf_counter() - t0)

    def _posterior_from_chains(self, theta: torch.Tensor, divergences: List[int], seconds: float) -> Posterior:
        values = theta.exp()
        chains = {h: values[..., i] for i, h in enumerate(self.hyper_names)}
        diags: Dict[str, object] = {"divergences": divergences, "seconds": seconds, "method": "NUTS"}
        for i, h in enumerate(self.hyper_names):
            x = theta[..., i]                                                # diagnostics on log scale
            diags[h] = {"r_hat": float(split_gelman_rubin(x)), "ess": float(effective_sample_size(x)),
                        "mean": float(values[..., i].mean()), "std": float(values[..., i].std()),
                        "log_mean": float(x.mean()), "log_std": float(x.std())}
        samples = {h: v.reshape(-1) for h, v in chains.items()}
        return Posterior(self, samples, chains, diags)

    def map_estimate(self, restarts: int = 5, steps: int = 60, seed: int = 0) -> Posterior:
        """Maximum a posteriori hyperparameters by L-BFGS on :meth:`potential` from ``restarts``
        prior draws (a fast deterministic alternative to :meth:`fit` for BO loops)."""
        pyro.set_rng_seed(seed)
        best, best_val = None, math.inf
        for _ in range(restarts):
            theta = torch.stack([self._prior(h).sample().log().clamp(-4, 4) for h in self.hyper_names]).double()
            theta.requires_grad_(True)
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
    def _conditional(self, X_new: torch.Tensor, hypers: Dict[str, torch.Tensor], full_cov: bool):
        X_new = X_new[:, None] if X_new.dim() == 1 else X_new
        X_new = X_new.to(torch.float64)
        hp = {k: torch.as_tensor(v, dtype=torch.float64).reshape(-1) for k, v in hypers.items()}
        noise = hp.get("noise", torch.full_like(hp["variance"], self.noise))
        n = self.X.shape[0]
        K = kernel_matrix(self.kernel_name, self.X, self.X, hp) + \
            (noise + self.jitter)[:, None, None] * torch.eye(n, dtype=torch.float64)
        L = torch.linalg.cholesky(K)                                           # (S, N, N)
        Ks = kernel_matrix(self.kernel_name, self.X, X_new, hp)               # (S, N, M)
        A = torch.linalg.solve_triangular(L, Ks, upper=False)                 # (S, N, M)
        b = torch.linalg.solve_triangular(L, self.y.expand(L.shape[0], n)[..., None], upper=False)
        mean = (A * b).sum(-2)                                                # (S, M)
        if full_cov:
            cov = kernel_matrix(self.kernel_name, X_new, X_new, hp) - A.transpose(-1, -2) @ A
            return mean, cov, noise
        var = hp["variance"][:, None] - (A * A).sum(-2)
        if self.kernel_name == "periodic":
            var = kernel_matrix("periodic", X_new, X_new, hp).diagonal(dim1=-2, dim2=-1) - (A * A).sum(-2)
        return mean, var.clamp_min(0), noise

    @torch.no_grad()
    def predict(self, X_new: torch.Tensor, hypers: Dict[str, torch.Tensor], noiseless: bool = False
                ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Mean and variance of :math:`p(y_* \\mid x_*, D)` (or of :math:`f_*` when ``noiseless``),
        averaged over the hyperparameter samples ``hypers`` (name -> shape ``(S,)``); each ``(M,)``."""
        mean, var, noise = self._conditional(X_new, hypers, full_cov=False)
        if not noiseless:
            var = var + noise[:, None]
        m = mean.mean(0)
        total = var.mean(0) + (mean.var(0, unbiased=False) if mean.shape[0] > 1 else 0.0)
        return m, total

    @torch.no_grad()
    def sample_functions(self, X_new: torch.Tensor, hypers: Dict[str, torch.Tensor],
                         generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """One joint draw of :math:`f_*` at ``X_new`` per hyperparameter setting; shape ``(S, M)``.
        The covariance gets a jitter of :math:`10^{-10}\\sigma_f^2` (float64) on its diagonal, so
        inputs repeated or close to the data never break the factorisation."""
        mean, cov, _ = self._conditional(X_new, hypers, full_cov=True)
        var = torch.as_tensor(hypers["variance"], dtype=torch.float64).reshape(-1)
        eye = torch.eye(cov.shape[-1], dtype=torch.float64)
        for scale in (1e-10, 1e-8, 1e-6):
            L, info = torch.linalg.cholesky_ex(cov + scale * var[:, None, None] * eye)
            if not bool(info.any()):
                break
        else:
            evals, evecs = torch.linalg.eigh(cov)                            # last resort: clip negative modes
            L = evecs * evals.clamp_min(0).sqrt()[..., None, :]
        eps = torch.randn(mean.shape + (1,), generator=generator, dtype=torch.float64)
        return mean + (L @ eps)[..., 0]


def _f64(d: dist.Distribution) -> dist.Distribution:
    """A copy of a LogNormal/Gamma/... prior with float64 parameters (contrib.gp runs in float64)."""
    if isinstance(d, dist.LogNormal):
        return dist.LogNormal(torch.as_tensor(d.loc, dtype=torch.float64), torch.as_tensor(d.scale, dtype=torch.float64))
    return d


def add_cli_args(p) -> None:
    """Flags of ``pyroml gp``."""
    p.add_argument("--num-samples", type=int, default=500, help="NUTS samples per chain (default 500)")
    p.add_argument("--warmup", type=int, default=500, help="NUTS warm-up steps per chain (default 500)")
    p.add_argument("--chains", type=int, default=4, help="chains (default 4)")
    p.add_argument("--kernel", default="rbf", choices=sorted(KERNELS))
    p.add_argument("--out", default="runs/gp", help="output folder (default runs/gp)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="accepted for symmetry; GP work runs on the CPU in float64")
    p.add_argument("--data-dir", default=None, help="unused: the study's problem is built in")


def cli_main(args) -> int:
    """``pyroml gp``: NUTS on the study's problem; prints diagnostics, writes metrics.json and figures."""
    from pathlib import Path

    from pyroml.checkpoint import write_json
    from pyroml.experiment import save_figures
    from pyroml.plots import gp_figures
    f, X, bounds, _, _ = study_problem()
    model = GP(X, f(X).reshape(-1), kernel=args.kernel)
    post = model.sample_posterior(args.num_samples, args.warmup, args.chains, seed=args.seed)
    print(post.table())
    out = Path(args.out)
    m, v = post.predict(X)
    write_json(out / "metrics.json", {"diagnostics": post.diagnostics,
                                      "max_abs_error_at_data": float((m - f(X).reshape(-1)).abs().max()),
                                      "max_predictive_var_at_data": float(v.max())})
    save_figures(gp_figures(post, f, bounds), out)
    print(f"wrote {out}/metrics.json and figures")
    return 0
