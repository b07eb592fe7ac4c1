"""The GP hyperparameters of a BO round: MAP by L-BFGS from chosen starting points.

:func:`map_hypers` minimises the GP's potential (negative log marginal likelihood and log prior
over :math:`\\theta = \\log` hyperparameters, :meth:`pyroml.gp.GP.potential`; closed-form value
and gradient where the priors allow) by L-BFGS from each of a list of starts, and keeps the end
point of lowest potential. BO starts it from the prior's centre (the mode of each log
hyperparameter) and from the previous round's estimate (the data changed by a point or a batch:
the surface moved little). :func:`fit_map` adds the GP's constant prior mean, fitted with the
hyperparameters (:func:`gls_mean`, :func:`shift_mean`); :func:`laplace_posterior` turns the MAP
point into draws from a Gaussian around it (BO's default: the acquisition averages over them).
"""

from __future__ import annotations

import math
from typing import Dict, List, MutableMapping, Optional, Sequence, Tuple

import pyro
import pyro.distributions as dist
import torch

from pyroml.gp import GP, Posterior
from pyroml.gp.kernels import Hypers
from pyroml.gp.priors import Prior, default_priors, lognormal_params
from pyroml.gp.transforms import Standardize

__all__ = ["map_hypers", "prior_centre", "map_priors", "gls_mean", "shift_mean", "fit_map", "log_hypers",
           "loo_log_predictive", "fit_select", "laplace_posterior", "AUTO_KERNELS"]

#: the kernels BO's default ``kernel="auto"`` chooses between each round (:func:`fit_select`)
AUTO_KERNELS = ("matern52", "rbf")


def map_priors(d: int) -> Tuple[Dict[str, Prior], Prior]:
    """The priors of BO's MAP fit on ``d`` inputs: the kernel priors by kind and the noise prior.

    :func:`map_hypers` maximises the log posterior over :math:`\\theta = \\log` (hyperparameters),
    where a prior density :math:`p(v)` on a value :math:`v` becomes :math:`p(e^\\theta) e^\\theta`.
    BO's fit maximises the default priors' densities of the *values* instead (as BoTorch does), whose
    modes are lower: for :math:`\\mathrm{LogNormal}(\\mu, s)`, :math:`e^{\\mu - s^2}` rather than
    :math:`e^\\mu`. In :math:`\\theta` that objective is the log-space one under
    :math:`\\mathrm{LogNormal}(\\mu - s^2, s)`, which these are, for the lengthscale, period and
    noise defaults of :func:`pyroml.gp.default_priors`; the signal variance is pinned at the
    variance of the standardised targets (BoTorch's default GP has no signal-variance parameter):

    .. math::

        \\ell_k \\sim \\mathrm{LogNormal}\\big(\\sqrt2 + \\tfrac12\\log d - 3,\\ \\sqrt3\\big), \\quad
        \\sigma_f^2 \\sim \\mathrm{LogNormal}(0, 0.01), \\quad
        p \\sim \\mathrm{LogNormal}(-1, 1), \\quad
        \\sigma_n^2 \\sim \\mathrm{LogNormal}(-5, 1),

    i.e. fitted lengthscales near :math:`0.2\\sqrt d` cube widths unless the data say otherwise,
    :math:`\\sigma_f^2 = 1 \\pm 1\\%`, and noise near :math:`e^{-5} = 0.7\\%` of the standardised variance.

    :returns: ``({"lengthscale", "variance", "period"} -> prior, noise prior)``, float64.
    """
    out: Dict[str, Prior] = {}
    for name, prior in default_priors(d).items():
        loc, scale = lognormal_params(prior) or (0.0, 1.0)
        loc, scale = (0.0, 0.01) if name == "variance" else (loc - scale ** 2, scale)
        out[name] = dist.LogNormal(torch.tensor(loc, dtype=torch.float64), torch.tensor(scale, dtype=torch.float64))
    noise = out.pop("noise")
    return out, noise


def prior_centre(model: GP) -> torch.Tensor:
    """:math:`\\log\\theta` at the centre of each prior, shape ``(H,)``: the LogNormal's ``loc``
    (the mode of :math:`\\log\\theta`), else the log of the prior's median (or mean)."""
    out = []
    for h in model.hyper_names:
        prior = model.prior(h)
        params = lognormal_params(prior)
        if params is not None:
            out.append(params.loc)
            continue
        try:
            out.append(math.log(float(prior.icdf(torch.tensor(0.5, dtype=torch.float64)))))
        except (NotImplementedError, AttributeError, ValueError):
            out.append(math.log(float(prior.mean)))
    return torch.tensor(out, dtype=torch.float64).clamp(-10.0, 10.0)


def _descend(model: GP, theta0: torch.Tensor, steps: int) -> Optional[torch.Tensor]:
    """L-BFGS (strong Wolfe) on the potential from ``theta0`` ``(H,)``; ``None`` if it failed."""
    closed = model.closed_form_potential()
    theta = theta0.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([theta], max_iter=steps, line_search_fn="strong_wolfe", tolerance_grad=1e-9,
                            tolerance_change=1e-12)

    def closure() -> torch.Tensor:          # sets theta.grad itself (Optimizer.zero_grad costs more than the potential)
        if closed is None:
            theta.grad = None
            loss = model.potential(theta)
            loss.backward()
            return loss
        value, grad = closed(theta.detach().tolist())
        theta.grad = theta.new_tensor(grad)
        return theta.new_tensor(min(value, 1e300))
    try:
        opt.step(closure)
    except (RuntimeError, ValueError):          # a Cholesky failure far out in the tails
        return None
    return theta.detach() if torch.isfinite(theta).all() else None


def map_hypers(model: GP, starts: Sequence[torch.Tensor], draws: int = 3, steps: int = 100,
               seed: int = 0) -> Posterior:
    """MAP hyperparameters of ``model`` by L-BFGS from each of ``starts`` (each :math:`\\log\\theta`
    of shape ``(H,)``) and from ``draws`` prior draws; the end point of lowest potential.

    :returns: a :class:`~pyroml.gp.Posterior` with one sample, its ``diagnostics["potential"]``.
    :raises RuntimeError: when every start fails.
    """
    pyro.set_rng_seed(seed)
    candidates: List[torch.Tensor] = [s.to(torch.float64) for s in starts]
    candidates += [model.prior_draw() for _ in range(draws)]
    best, best_val = None, math.inf
    for theta0 in candidates:
        theta = _descend(model, theta0, steps)
        if theta is None:
            continue
        try:
            val = float(model.potential(theta))
        except (RuntimeError, ValueError):
            continue
        if math.isfinite(val) and val < best_val:
            best, best_val = theta, val
    if best is None:
        raise RuntimeError("MAP estimation failed from every start; check the data and the priors")
    return Posterior(model, {h: best[i].exp()[None] for i, h in enumerate(model.hyper_names)},
                     diagnostics={"method": "MAP", "potential": best_val})


def _factor(model: GP, hypers: Hypers) -> torch.Tensor:
    """The Cholesky factor of :math:`K + \\sigma_n^2 W + \\text{jitter}\\, I` (:math:`W` the GP's noise
    multipliers, :math:`I` by default) on the working scale at
    the first setting of ``hypers`` (:meth:`pyroml.gp.GP.train_factor`); ``(n, n)``."""
    hp = {k: torch.as_tensor(v, dtype=torch.float64).reshape(-1)[:1] for k, v in hypers.items()}
    noise = hp["noise"] if "noise" in hp else torch.full((1,), model.noise, dtype=torch.float64)
    return model.train_factor(hp, noise)[0][0]


def gls_mean(model: GP, hypers: Hypers) -> float:
    """The constant prior mean of the working-scale targets that maximises the marginal
    likelihood at the hyperparameters ``hypers`` (one setting): the generalised least-squares
    estimate :math:`\\hat c = \\mathbf 1^\\top K^{-1} \\tilde y / \\mathbf 1^\\top K^{-1} \\mathbf 1`,
    with :math:`K` the covariance of the targets :math:`\\tilde y` (kernel plus noise)."""
    L = _factor(model, hypers)
    rhs = torch.stack([model.yt, torch.ones_like(model.yt)], -1)
    sol = torch.cholesky_solve(rhs, L)
    return float(sol[:, 0].sum() / sol[:, 1].sum())


def shift_mean(model: GP, c: float) -> None:
    """Give ``model`` the constant prior mean ``c`` on its working scale: its targets become
    :math:`\\tilde y - c` and its predictions come back as :math:`\\bar y + s_y (m + c)`."""
    t = model.output_transform
    model.output_transform = Standardize(t.shift + c * t.scale, t.scale)
    model.yt = model.output_transform.forward(model.y)


def log_hypers(post: Posterior) -> torch.Tensor:
    """:math:`\\log\\theta` of a one-sample posterior, in the order of its GP's ``hyper_names``; ``(H,)``."""
    return torch.stack([post.samples[h].reshape(-1)[0].log() for h in post.gp.hyper_names])


def fit_map(model: GP, previous: Optional[torch.Tensor] = None, seed: int = 0, constant_mean: bool = True,
            draws: int = 0) -> Posterior:
    """One BO round's fit: :func:`map_hypers` from the prior's centre, from ``previous``
    (:math:`\\log\\theta` of the last round, when its shape fits) and from ``draws`` prior draws;
    then, with ``constant_mean``, twice in turn the constant mean at those hyperparameters
    (:func:`gls_mean`, applied to ``model`` in place by :func:`shift_mean`) and the hyperparameters
    again from where they were: a coordinate ascent on the joint MAP of the constant mean (flat
    prior) and the hyperparameters. The fitted mean, in the units of ``y``, is
    ``model.output_transform.shift``.

    :returns: a :class:`~pyroml.gp.Posterior` with one sample.
    """
    starts = [prior_centre(model)]
    if previous is not None and previous.shape == starts[0].shape:
        starts.append(previous)
    post = map_hypers(model, starts, draws=draws, seed=seed)
    if constant_mean:
        for _ in range(2):
            shift_mean(model, gls_mean(model, post.samples))
            post = map_hypers(model, [log_hypers(post)], draws=0, seed=seed)
    return post


def loo_log_predictive(model: GP, hypers: Hypers) -> float:
    """The leave-one-out log predictive density of the working-scale targets :math:`\\tilde y`
    (after the constant mean) at the hyperparameters ``hypers`` (one setting), in closed form
    (Sundararajan and Keerthi, 2001): with :math:`C = K + \\sigma_n^2 W` (:math:`W = I` unless the GP has
    ``noise_weights``) and :math:`\\alpha = C^{-1}\\tilde y`,

    .. math::

        \\sum_i \\log \\mathcal N\\big(\\tilde y_i \\mid \\mu_{-i}, \\sigma^2_{-i}\\big), \\qquad
        \\sigma^2_{-i} = 1 / [C^{-1}]_{ii}, \\quad \\tilde y_i - \\mu_{-i} = \\alpha_i \\sigma^2_{-i}.

    How well each point is predicted from the others: a check of the kernel's *shape* (how
    smooth the function is) that the marginal likelihood, dominated by its complexity term on a
    dozen points, makes poorly."""
    C_inv = torch.cholesky_inverse(_factor(model, hypers))
    alpha = C_inv @ model.yt
    var = 1 / C_inv.diagonal()
    return float((-0.5 * torch.log(2 * math.pi * var) - 0.5 * alpha ** 2 * var).sum())


def fit_select(models: Sequence[GP], previous: MutableMapping[str, torch.Tensor], seed: int = 0,
               constant_mean: bool = True) -> Tuple[GP, Posterior]:
    """One BO round's fit over candidate kernels: :func:`fit_map` each of ``models`` (GPs on the
    same data that differ in their kernel) from its previous estimate ``previous[kernel_name]``
    (updated in place), and keep the one with the highest :func:`loo_log_predictive`; a single
    model is returned as fitted. BO's default chooses so between Matérn 5/2 and RBF
    (:data:`AUTO_KERNELS`): RBF for smooth objectives, whose minima it extrapolates, Matérn for
    rugged ones, which RBF over-smooths.

    :returns: the chosen model (its constant mean applied) and its one-sample posterior.
    """
    best: Optional[Tuple[GP, Posterior, float]] = None
    for model in models:
        post = fit_map(model, previous.get(model.kernel_name), seed=seed, constant_mean=constant_mean)
        previous[model.kernel_name] = log_hypers(post)
        score = loo_log_predictive(model, post.samples) if len(models) > 1 else 0.0
        if best is None or score > best[2]:
            best = (model, post, score)
    if best is None:
        raise ValueError("fit_select needs at least one model")
    return best[0], best[1]


def laplace_posterior(post: Posterior, num_samples: int = 16, seed: int = 0, max_std: float = 1.0,
                      fixed: Sequence[str] = ()) -> Posterior:
    """Hyperparameter draws from the Laplace approximation at the MAP point of a one-sample
    posterior: with :math:`\\hat\\theta` its :math:`\\log` hyperparameters (``(H,)``) and
    :math:`\\nabla^2 U(\\hat\\theta) = Q \\Lambda Q^\\top` the Hessian of the GP's potential there
    (autograd through :meth:`pyroml.gp.GP.potential`),

    .. math::

        \\theta_0 = \\hat\\theta, \\qquad
        \\theta_s = \\hat\\theta + Q \\tilde\\Lambda^{-1/2} z_s, \\quad z_s \\sim \\mathcal N(0, I_H),
        \\quad s = 1, \\dots, S - 1,

    where :math:`\\tilde\\Lambda = \\max(\\Lambda, 1/\\text{max\\_std}^2)`: no direction spreads more
    than ``max_std`` in :math:`\\log\\theta` (a factor :math:`e` by default), however flat the
    potential (a lengthscale a dozen points cannot pin down). Hyperparameters named in ``fixed``
    stay at their MAP values and the others are drawn from the Gaussian conditional on them:
    :math:`\\nabla^2 U` is then its block of the free ones. An acquisition averaged over these
    draws (:class:`~pyroml.bo.acquisition.LogExpectedImprovement` takes the log of the mean EI)
    accounts for the hyperparameters' uncertainty, as a posterior sample would (Snoek et al.,
    2012), at the cost of one Hessian: where the data leave the lengthscales uncertain, some
    draws are short and the unexplored parts of the box keep some expected improvement. BO draws
    the kernel's hyperparameters and keeps the noise at its MAP value (a draw of lower noise
    interpolates the noisy values, and EI then chases the luckiest of them).

    :param post: a one-sample :class:`~pyroml.gp.Posterior` at the MAP (:func:`fit_map`).
    :param int num_samples: :math:`S`, including the MAP point itself (``1``: ``post`` unchanged).
    :param int seed: seeds the draws.
    :param fixed: names of hyperparameters held at the MAP point (e.g. ``("noise",)``).
    :returns: a :class:`~pyroml.gp.Posterior` with ``num_samples`` samples (the MAP first) and the
        diagnostics of ``post``; ``post`` itself where the Hessian is not finite.
    """
    if num_samples <= 1:
        return post
    model = post.gp
    theta = log_hypers(post)
    try:
        H = torch.autograd.functional.hessian(model.potential, theta)
    except (RuntimeError, ValueError):            # a Cholesky failure at the MAP point: keep the point
        return post
    if not bool(torch.isfinite(H).all()):
        return post
    free = torch.tensor([h not in fixed for h in model.hyper_names])
    eigval, Q = torch.linalg.eigh(0.5 * (H + H.T)[free][:, free])
    eigval = eigval.clamp_min(1.0 / max_std ** 2)
    z = torch.randn(num_samples - 1, int(free.sum()), generator=torch.Generator().manual_seed(seed),
                    dtype=torch.float64)
    thetas = theta.repeat(num_samples, 1)
    thetas[1:, free] = theta[free] + (z / eigval.sqrt()) @ Q.T
    return Posterior(model, {h: thetas[:, i].exp() for i, h in enumerate(model.hyper_names)},
                     diagnostics=dict(post.diagnostics))
