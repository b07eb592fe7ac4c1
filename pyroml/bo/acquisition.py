"""Acquisition functions for minimisation, as objects over candidate batches ``(b, q, d)``.

With :math:`\\mu_s, \\sigma_s` the posterior mean and standard deviation of :math:`f` at a point
under hyperparameter sample :math:`s = 1..S` (one for MAP) and :math:`y^*` the incumbent:

* :class:`LogExpectedImprovement` (``"ei"``): :math:`\\log \\tfrac1S \\sum_s \\mathrm{EI}_s`, with
  :math:`\\mathrm{EI}_s = \\sigma_s h(z_s)`, :math:`z_s = (y^* - \\mu_s)/\\sigma_s`,
  :math:`h(z) = z\\Phi(z) + \\varphi(z)`, computed in log space (:func:`log_expected_improvement`:
  stable far into the tails where plain EI underflows to a flat, gradient-free zero);
  :math:`y^*` is the best observed value;
* :class:`NoisyLogExpectedImprovement` (``"nei"``): for a noisy objective, the expected
  improvement below the best *latent* value at the evaluated points, averaged over joint
  posterior draws of those values (Letham et al., 2019), not below the luckiest noisy observation;
* :class:`LowerConfidenceBound` (``"lcb"``, alias ``"ucb"``): :math:`-\\tfrac1S\\sum_s (\\mu_s - \\kappa\\sigma_s)`,
  the optimistic bound of a minimisation (the UCB of :math:`-f`);
* :func:`thompson_indices` (``"thompson"``): Thompson sampling: per proposal one hyperparameter
  sample, one joint function draw :math:`f^*` over a candidate set, its minimiser.

The analytic acquisitions score one point per batch entry: ``X`` of shape ``(b, 1, d)`` gives
``(b,)``, differentiable in ``X`` (for :func:`pyroml.bo.optimize.maximize`). Batches of
``q > 1`` proposals come from the loop (:class:`pyroml.bo.loop.BayesOpt`): greedy selection with
fantasised observations (the "kriging believer": each chosen point enters the GP at its
posterior mean) for these, independent draws for Thompson sampling.
"""

from __future__ import annotations

import math
from typing import List, Optional

import torch

from pyroml._validation import check_int
from pyroml.bo.optimize import sobol
from pyroml.gp import GP
from pyroml.gp.kernels import Hypers, kernel_matrix
from pyroml.gp.linalg import jittered_cholesky

__all__ = ["METHODS", "log_expected_improvement", "Acquisition", "LogExpectedImprovement",
           "NoisyLogExpectedImprovement", "LowerConfidenceBound", "make_acquisition", "thompson_candidates",
           "thompson_indices"]

#: the acquisition methods the loop knows
METHODS = ("ei", "nei", "thompson", "lcb", "ucb")


def log_expected_improvement(mean: torch.Tensor, std: torch.Tensor, best: float | torch.Tensor) -> torch.Tensor:
    """:math:`\\log \\mathbb E[\\max(y^* - f, 0)]` for :math:`f \\sim \\mathcal N(\\mu, \\sigma^2)`,
    computed stably (via the scaled complementary error function) for any :math:`z`.

    :param Tensor mean: :math:`\\mu`, any shape; ``std``: :math:`\\sigma`, the same shape.
    :param best: :math:`y^*`, a float or a tensor broadcasting against ``mean``.
    :returns: shaped like ``mean``.
    """
    std = std.clamp_min(1e-12)
    z = (best - mean) / std
    pos = z >= 0
    zp = z.clamp_min(0)                                  # each branch sees only its own z: finite gradients
    zn = z.clamp_max(0)
    h_pos = zp * torch.special.ndtr(zp) + torch.exp(-0.5 * zp * zp - 0.5 * math.log(2 * math.pi))
    # z < 0: h = phi(z) * (1 - |z| * Phi(z) / phi(z)), Phi(z) / phi(z) = sqrt(pi / 2) * erfcx(-z / sqrt 2)
    mills = math.sqrt(math.pi / 2) * torch.special.erfcx(-zn / math.sqrt(2))
    log_h_neg = -0.5 * zn * zn - 0.5 * math.log(2 * math.pi) + torch.log1p(-(-zn * mills).clamp(max=1 - 1e-16))
    log_h = torch.where(pos, torch.log(h_pos.clamp_min(1e-300)), log_h_neg)
    return torch.log(std) + log_h


class Acquisition:
    """An acquisition over the GP ``model`` with hyperparameter samples ``hypers`` (name -> ``(S,)``).

    Calling it on ``X`` of shape ``(b, 1, d)`` returns ``(b,)`` values to maximise."""

    def __init__(self, model: GP, hypers: Hypers):
        self.model, self.hypers = model, hypers

    @staticmethod
    def _points(X: torch.Tensor) -> torch.Tensor:
        """The ``(b, d)`` points of a candidate batch ``X`` of shape ``(b, 1, d)``."""
        if X.dim() != 3 or X.shape[1] != 1:
            raise ValueError(f"analytic acquisitions score X of shape (b, 1, d), got {tuple(X.shape)}; "
                             f"batches of q > 1 come from BayesOpt.suggest(q) (fantasised observations)")
        return X[:, 0, :]

    def _moments(self, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and standard deviation of :math:`f` at ``X`` ``(b, 1, d)`` per sample: ``(S, b)`` each."""
        c = self.model.conditional(self._points(X), self.hypers)
        return c.mean, c.var.clamp_min(1e-30).sqrt()

    def __call__(self, X: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class LogExpectedImprovement(Acquisition):
    """:math:`\\log \\tfrac1S \\sum_s \\mathrm{EI}_s(x)` below the incumbent ``best`` (a float)."""

    def __init__(self, model: GP, hypers: Hypers, best: float):
        super().__init__(model, hypers)
        self.best: float | torch.Tensor = best

    def __call__(self, X: torch.Tensor) -> torch.Tensor:
        mean, std = self._moments(X)
        best = self.best[:, None] if isinstance(self.best, torch.Tensor) else self.best
        return torch.logsumexp(log_expected_improvement(mean, std, best), 0) - math.log(mean.shape[0])


class NoisyLogExpectedImprovement(Acquisition):
    """Noisy log-EI (Letham et al., 2019) for objectives observed with noise: the expected
    improvement below the best *latent* value at the evaluated inputs :math:`X` ``(n, d)``,
    averaged over the posterior of those values instead of trusting the luckiest observation:

    .. math::

        \\log \\frac{1}{SJ} \\sum_{s=1}^S \\sum_{j=1}^J \\mathrm{EI}\\big(\\mu_{sj}(x), \\sigma_s(x);
        \\min_i f_{sj}(x_i)\\big), \\qquad f_{sj}(X) \\sim p\\big(f(X) \\mid D, \\theta_s\\big),

    where, given the draw :math:`f = f_{sj}(X)`, :math:`f(x)` is the noise-free GP conditional
    :math:`\\mu_{sj}(x) = k_{xX} K^{-1} f`, :math:`\\sigma_s^2(x) = k_{xx} - k_{xX} K^{-1} k_{Xx}`
    (:math:`K = k_{\\theta_s}(X, X)`; :math:`f(x)` depends on the data only through :math:`f(X)`).
    So the inner expectation is exact and only the incumbent is Monte Carlo: :math:`J =
    \\lceil \\text{draws} / S \\rceil` joint draws per hyperparameter setting (``draws`` = 128 in
    all by default, BoTorch's Monte Carlo size: 8 per setting for BO's 16 Laplace settings, 128 at
    the MAP point alone), by Matheron's rule
    :math:`f = f_0 + K C^{-1}(\\tilde y - f_0 - \\varepsilon)` with :math:`f_0 \\sim \\mathcal N(0, K)`,
    :math:`\\varepsilon \\sim \\mathcal N(0, \\sigma_n^2 W)`, :math:`C = K + \\sigma_n^2 W`, fixed at
    construction (``seed``), so the acquisition is a deterministic, smooth function of :math:`x`
    for the gradient maximiser. An evaluated input has zero expected improvement (its value is
    already in the incumbent), and as the noise vanishes the draws become the observations and
    this is :class:`LogExpectedImprovement` below the best observed value.

    :param GP model: the GP on the evaluations (its working scale: constant mean subtracted).
    :param dict hypers: name -> ``(S,)`` hyperparameter settings (a float for one setting).
    :param int draws: joint draws in all, split evenly over the settings (rounded up).
    :param int seed: seeds the draws.
    :ivar latent: the draws :math:`f_{sj}(X)` on the GP's working scale, ``(S, n, J)``;
        ``best``: their minima over the evaluated inputs, ``(S, J)``.
    """

    def __init__(self, model: GP, hypers: Hypers, draws: int = 128, seed: int = 0):
        super().__init__(model, hypers)
        draws = check_int("draws", draws, 1)
        with torch.no_grad():
            hp = {k: torch.as_tensor(v, dtype=torch.float64).reshape(-1) for k, v in hypers.items()}
            S = max(v.shape[0] for v in hp.values())
            hp = {k: v.expand(S) for k, v in hp.items()}
            J = -(-draws // S)
            noise = hp.get("noise", torch.full((S,), model.noise, dtype=torch.float64))
            n = model.Xt.shape[0]
            K = kernel_matrix(model.kernel, model.Xt, model.Xt, hp).expand(S, n, n)
            self.variance = model.kernel.diag(hp).expand(S)                          # k(x, x), (S,)
            self.factor = jittered_cholesky(K, self.variance)                        # (S, n, n)
            gen = torch.Generator().manual_seed(seed)
            z = torch.randn(2, S, n, J, generator=gen, dtype=torch.float64)
            f0 = self.factor @ z[0]
            eps = model.noise_diagonal(noise).sqrt()[..., None] * z[1]
            L_C = model.train_factor(hp, noise)[0]
            f = f0 + K @ torch.cholesky_solve(model.yt[:, None] - f0 - eps, L_C)    # (S, n, J)
            self.latent = f
            self.whitened = torch.linalg.solve_triangular(self.factor, f, upper=False)
            self.best = f.min(-2).values                                             # (S, J)
        self.hp = hp

    def __call__(self, X: torch.Tensor) -> torch.Tensor:
        Xn = self.model.input_transform.forward(self._points(X).to(torch.float64))
        A = torch.linalg.solve_triangular(self.factor, kernel_matrix(self.model.kernel, self.model.Xt, Xn, self.hp),
                                          upper=False)                               # (S, n, b)
        std = (self.variance[:, None] - (A * A).sum(-2)).clamp_min(1e-30).sqrt()     # (S, b)
        mean = A.transpose(-1, -2) @ self.whitened                                   # (S, b, J)
        log_ei = log_expected_improvement(mean, std[..., None], self.best[:, None, :])
        scale = self.model.output_transform.scale                                    # EI in the units of y
        return torch.logsumexp(log_ei, (0, 2)) - math.log(log_ei.shape[0] * log_ei.shape[2]) + math.log(scale)


class LowerConfidenceBound(Acquisition):
    """:math:`-\\tfrac1S \\sum_s (\\mu_s(x) - \\kappa \\sigma_s(x))` (maximised: the lowest optimistic value)."""

    def __init__(self, model: GP, hypers: Hypers, kappa: float = 2.0):
        super().__init__(model, hypers)
        self.kappa = float(kappa)

    def __call__(self, X: torch.Tensor) -> torch.Tensor:
        mean, std = self._moments(X)
        return -(mean - self.kappa * std).mean(0)


def make_acquisition(method: str, model: GP, hypers: Hypers, best: float, kappa: float = 2.0,
                     seed: int = 0) -> Acquisition:
    """The analytic acquisition called ``method`` (``"ei"``, ``"nei"``, ``"lcb"`` or ``"ucb"``);
    ``seed`` fixes the latent draws of ``"nei"``."""
    if method == "ei":
        return LogExpectedImprovement(model, hypers, best)
    if method == "nei":
        return NoisyLogExpectedImprovement(model, hypers, seed=seed)
    if method in ("lcb", "ucb"):
        return LowerConfidenceBound(model, hypers, kappa)
    raise ValueError(f"no analytic acquisition {method!r}; choose one of 'ei', 'nei', 'lcb', 'ucb'")


def thompson_indices(model: GP, hypers: Hypers, candidates: torch.Tensor, q: int, generator: torch.Generator,
                     exclude: Optional[torch.Tensor] = None) -> tuple[List[int], List[torch.Tensor]]:
    """Thompson sampling: ``q`` distinct candidate indices, each the minimiser of one joint draw
    of :math:`f^*` over ``candidates`` ``(M, d)`` under a hyperparameter sample drawn at random.

    :param exclude: bool ``(M,)``, candidates never chosen (e.g. already evaluated).
    :returns: the indices and the ``q`` draws (each ``(M,)``, for the trace).
    """
    S = next(iter(hypers.values())).shape[0]
    taken = torch.zeros(candidates.shape[0], dtype=torch.bool) if exclude is None else exclude.clone()
    chosen, draws = [], []
    for _ in range(q):
        s = int(torch.randint(S, (1,), generator=generator))
        draw = model.sample_functions(candidates, {k: v[s:s + 1] for k, v in hypers.items()}, generator=generator)[0]
        i = int(draw.masked_fill(taken, math.inf).argmin())
        taken[i] = True
        chosen.append(i)
        draws.append(draw)
    return chosen, draws


def thompson_candidates(bounds: torch.Tensor, X: torch.Tensor, Y: torch.Tensor, n: int, seed: int,
                        generator: torch.Generator) -> torch.Tensor:
    """Thompson sampling's candidate set in the box ``bounds`` ``(2, d)``: a regular grid of ``n``
    points in 1-d, shape ``(n, 1)``; else ``n`` scrambled Sobol points (seeded by ``seed``) and 100
    Gaussian perturbations (standard deviation 5% of the box, clamped to it) of each of the five
    best evaluated inputs ``X`` ``(N, d)`` by their values ``Y`` ``(N,)``, shape ``(n + 100 min(N, 5), d)``."""
    d = bounds.shape[1]
    if d == 1:
        return torch.linspace(float(bounds[0, 0]), float(bounds[1, 0]), n, dtype=torch.float64)[:, None]
    best = X[Y.argsort()[:5]]
    noise = 0.05 * torch.randn(best.shape[0], 100, d, generator=generator, dtype=torch.float64)
    local = (best[:, None, :] + noise * (bounds[1] - bounds[0])).reshape(-1, d)
    return torch.cat([sobol(bounds, n, seed), torch.maximum(torch.minimum(local, bounds[1]), bounds[0])])
