"""Bayesian optimisation of a black-box function over a box, with a :class:`~pyroml.gp.GP` surrogate.

:class:`BayesOpt` is the ask/tell interface: :meth:`~BayesOpt.suggest` fits the GP's
hyperparameters to the evaluations so far (MAP by L-BFGS and, by default, draws around it from
the Laplace approximation; or a NUTS posterior) and proposes ``q`` points,
:meth:`~BayesOpt.observe` adds evaluations made anywhere. :func:`minimize` is the loop built on
it: a space-filling initial design (scrambled Sobol points) unless ``x0`` is given, then
``iterations`` rounds of suggest, evaluate, observe.

The GP works on the unit cube of the box and on standardised, monotonely warped values
(:mod:`pyroml.gp.transforms`, :mod:`pyroml.bo.warp`), the noise learned under its prior unless
``noiseless=True``, hyperparameters, a constant mean and (by default) the kernel, Matérn 5/2 or
RBF, fitted each round (:mod:`pyroml.bo.fit`); a few dozen evaluations barely identify the
noise, so a user who knows says so: ``noiseless=True`` for a deterministic objective,
``method="nei"`` (EI below the best latent value) for a noisy one. Analytic acquisitions
(:mod:`pyroml.bo.acquisition`) are maximised by multi-start projected L-BFGS
(:func:`pyroml.bo.optimize.maximize`); Thompson sampling minimises joint function draws over a
candidate set. Batches (``q > 1``) are chosen greedily with fantasised observations (each chosen
point enters the GP at its posterior mean, hyperparameters kept) or, for Thompson sampling, from
``q`` independent draws. An objective that raises or returns a non-finite value during the loop
is recorded in :attr:`BOResult.failures` and ends the run: the result so far is returned; an
interruption (Ctrl-C) raises :class:`BOInterrupted`, a ``KeyboardInterrupt`` that carries it.
"""

from __future__ import annotations

import time
import warnings
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
from tqdm.auto import tqdm

from pyroml._validation import check_choice, check_int, check_positive
from pyroml.bo.acquisition import METHODS, make_acquisition, thompson_candidates, thompson_indices
from pyroml.bo.fit import AUTO_KERNELS, fit_select, laplace_posterior, map_priors, shift_mean
from pyroml.bo.optimize import maximize, sobol
from pyroml.bo.result import BOInterrupted, BOResult
from pyroml.bo.warp import YeoJohnson
from pyroml.gp import GP, Posterior
from pyroml.gp.kernels import hyper_kind, resolve_kernel
from pyroml.gp.priors import Prior
from pyroml.gp.transforms import as_bounds

__all__ = ["minimize", "BOResult", "BayesOpt", "BOInterrupted", "random_search", "Bounds"]

#: ``(low, high)`` in 1-d, or a ``(2, d)`` tensor (or nested sequence) of lows and highs
Bounds = Union[Tuple[float, float], Sequence[float], Sequence[Sequence[float]], torch.Tensor]
Objective = Callable[[torch.Tensor], Any]
#: how :class:`BayesOpt` treats the GP's hyperparameters each round
HYPERPARAMETERS = ("laplace", "map", "nuts")


def _points(x: Any, b: torch.Tensor, what: str) -> torch.Tensor:
    """``x`` as an ``(n, d)`` float64 tensor inside the bounds ``b`` ``(2, d)``."""
    x = torch.as_tensor(x, dtype=torch.float64)
    if x.dim() == 1:
        x = x[:, None] if b.shape[1] == 1 else x[None, :]
    if x.dim() != 2 or x.shape[1] != b.shape[1]:
        raise ValueError(f"{what} must have shape (n, {b.shape[1]}), got {tuple(x.shape)}")
    outside = ((x < b[0]) | (x > b[1])).any(-1)
    if outside.any():
        raise ValueError(f"{what} has points outside the bounds {b.T.tolist()}: {x[outside].tolist()}; "
                         f"clip them or widen the bounds")
    return x


def _values(y: Any, n: int, x: torch.Tensor) -> torch.Tensor:
    """``y`` as ``n`` finite float64 values for the points ``x`` ``(n, d)``; else a ValueError."""
    y = torch.as_tensor(y, dtype=torch.float64).reshape(-1)
    if y.numel() != n:
        raise ValueError(f"the objective returned {y.numel()} values for {n} points; it must map "
                         f"an (n, d) tensor to n values")
    bad = ~torch.isfinite(y)
    if bad.any():
        raise ValueError(f"the objective returned {y[bad].tolist()} at {x[bad].tolist()}: values must be finite")
    return y


def _evaluate(f: Objective, x: torch.Tensor) -> Tuple[Optional[torch.Tensor], Optional[str]]:
    """``(f(x) (n,), None)``, or ``(None, what went wrong)`` if ``f`` raised or returned bad values."""
    try:
        return _values(f(x), x.shape[0], x), None
    except Exception as e:
        return None, f"{type(e).__name__}: {e}"


class BayesOpt:
    """Ask/tell Bayesian optimisation over a box (see the module docstring).

    :param bounds: ``(low, high)`` in 1-d, else a ``(2, d)`` tensor of lows and highs.
    :param str method: ``"ei"`` (log expected improvement below the best observed value,
        default), ``"nei"`` (noisy log-EI, below the best latent value: for an objective known to
        be noisy), ``"thompson"``, ``"lcb"`` / ``"ucb"`` (:mod:`pyroml.bo.acquisition`).
    :param str hyperparameters: ``"laplace"`` (default: the MAP point, L-BFGS from the prior's
        centre and the previous round's estimate, :func:`pyroml.bo.fit.fit_map`, under the
        value-space priors of :func:`pyroml.bo.fit.map_priors` for every hyperparameter not given
        ``priors``, and ``laplace_samples - 1`` draws around it from the Laplace approximation,
        :func:`pyroml.bo.fit.laplace_posterior`), ``"map"`` (the MAP point alone) or ``"nuts"``
        (the GP's own priors; one chain each round, warm-started from the previous round's last
        draw with half the warm-up). EI and LCB average over the draws, Thompson sampling uses
        one per proposal.
    :param int laplace_samples: hyperparameter settings of ``"laplace"``, the MAP point included.
    :param kernel: the GP's kernel (ARD in more than one dimension), or ``"auto"`` (default):
        each MAP round fits both Matérn 5/2 and RBF and keeps the one that predicts the held-out
        points best (:func:`pyroml.bo.fit.fit_select`); NUTS uses Matérn 5/2.
    :param float noise: a fixed noise variance in the units of ``y`` squared (default: learned).
    :param bool noiseless: a deterministic objective: noise fixed at :math:`10^{-6}` of the
        standardised scale.
    :param priors: hyperparameter name (or kind) -> prior, used as given (see :class:`~pyroml.gp.GP`).
    :param int n_candidates: Sobol points scored before gradient refinement (and Thompson's candidate set).
    :param int restarts: the best of those refined by projected L-BFGS (:func:`pyroml.bo.optimize.maximize`).
    :param bool constant_mean: (MAP only) fit the GP's constant prior mean with its hyperparameters
        (:func:`pyroml.bo.fit.gls_mean`) instead of fixing it at the mean of the observed values,
        which BO's clustering of points near the incumbent biases low; default ``True``.
    :param bool warp: fit the GP to Yeo-Johnson-warped values (:mod:`pyroml.bo.warp`; monotone,
        fitted each round) rather than to ``y`` itself; default ``True``, off when ``noise`` is
        given (it is stated in the units of ``y``).
    :param gp_options: passed to :class:`~pyroml.gp.GP` (e.g. ``normalize``, ``standardize``, ``ard``).
    """

    def __init__(self, bounds: Bounds, method: str = "ei", hyperparameters: str = "laplace", kernel: Any = "auto",
                 noise: Optional[float] = None, noiseless: bool = False, priors: Optional[Mapping[str, Prior]] = None,
                 kappa: float = 2.0, n_candidates: int = 1024, restarts: int = 10, seed: int = 0,
                 nuts_samples: int = 20, nuts_warmup: int = 60, constant_mean: bool = True, warp: bool = True,
                 laplace_samples: int = 16, **gp_options: Any):
        check_choice("method", method, METHODS)
        check_choice("hyperparameters", hyperparameters, HYPERPARAMETERS)
        self.laplace_samples = check_int("laplace_samples", laplace_samples, 1) if hyperparameters == "laplace" else 1
        mapped = hyperparameters != "nuts"       # a MAP fit (then, for "laplace", draws around it)
        self.bounds = as_bounds(bounds)
        auto = isinstance(kernel, str) and kernel == "auto"
        self.kernels = list(AUTO_KERNELS if mapped else AUTO_KERNELS[:1]) if auto else [kernel]
        specs = [resolve_kernel(k, self.bounds.shape[1]) for k in self.kernels]     # a wrong one: an error now
        self.method, self.hyperparameters, self.seed = method, hyperparameters, check_int("seed", seed, 0)
        self.kappa = check_positive("kappa", kappa, allow_zero=True)
        self.n_candidates = check_int("n_candidates", n_candidates, 1)
        self.restarts = check_int("restarts", restarts, 1)
        self.nuts_samples, self.nuts_warmup = nuts_samples, nuts_warmup
        self.constant_mean = bool(constant_mean) and mapped
        self.warp = bool(warp) and noise is None
        d = self.bounds.shape[1]
        if mapped:                                # the defaults' value-space MAP (pyroml.bo.fit.map_priors)
            kernel_priors, noise_prior = map_priors(d)
            kinds = {hyper_kind(h) for spec in specs for h in spec.kernel.hypers}
            priors = {**{k: v for k, v in kernel_priors.items() if k in kinds}, **(priors or {})}
            if noise is None and not noiseless:
                gp_options.setdefault("noise_prior", noise_prior)
        self.gp_options: Dict[str, Any] = {"noise": noise, "noiseless": noiseless, "priors": priors,
                                           "bounds": self.bounds, **gp_options}
        self.generator = torch.Generator().manual_seed(seed)
        self.X, self.Y = torch.zeros(0, d, dtype=torch.float64), torch.zeros(0, dtype=torch.float64)
        self.rounds = 0
        self.last: Dict[str, Any] = {}
        self._nuts_state: Optional[Dict[str, Any]] = None
        self._map_state: Dict[str, torch.Tensor] = {}

    @property
    def dim(self) -> int:
        """:math:`d`, the number of inputs."""
        return self.bounds.shape[1]

    def initial_design(self, n: Optional[int] = None) -> torch.Tensor:
        """``n`` (default ``2d + 1``) scrambled Sobol points of the box (seeded); ``(n, d)``."""
        return sobol(self.bounds, 2 * self.dim + 1 if n is None else n, self.seed)

    def observe(self, x: Any, y: Any) -> None:
        """Add evaluations: ``x`` ``(n, d)`` (``(n,)`` in 1-d) inside the box, ``y`` ``(n,)`` finite.

        :raises ValueError: for points outside the box, a wrong shape or non-finite values (nothing is added).
        """
        x = _points(x, self.bounds, "x")
        y = _values(y, x.shape[0], x)
        self.X, self.Y = torch.cat([self.X, x]), torch.cat([self.Y, y])

    def targets(self) -> torch.Tensor:
        """The values the GP is fitted to, ``(n,)``: ``Y`` warped (:class:`~pyroml.bo.warp.YeoJohnson`
        fitted to it, kept as ``last["warp"]``) when ``warp``, else ``Y``."""
        self.last["warp"] = YeoJohnson.fit(self.Y) if self.warp else None
        return self.Y if self.last["warp"] is None else self.last["warp"](self.Y)

    def model(self, kernel: Any = None, data: Optional[Tuple[torch.Tensor, torch.Tensor]] = None) -> GP:
        """The GP with ``kernel`` (default: the first candidate) on ``data``, inputs ``(n, d)`` and
        values ``(n,)`` (default: the evaluations, values from :meth:`targets`), with the loop's GP options."""
        X, y = (self.X, self.targets()) if data is None else data
        return GP(X, y, kernel=self.kernels[0] if kernel is None else kernel, **self.gp_options)

    def _posterior_model(self) -> GP:
        """The round's GP and posterior (kept in :attr:`last`): MAP over the candidate kernels
        (:func:`pyroml.bo.fit.fit_select`: each from the prior's centre and its previous
        estimate, with the constant mean), or one NUTS chain warm-started from the previous
        round's last draw and step size."""
        self.last = {}
        y, seed = self.targets(), self.seed * 1000 + self.rounds
        if self.hyperparameters != "nuts":
            models = [self.model(k, (self.X, y)) for k in self.kernels]
            model, post = fit_select(models, self._map_state, seed=seed, constant_mean=self.constant_mean)
            post = laplace_posterior(post, self.laplace_samples, seed=seed, fixed=("noise",))
            self.last.update(model=model, posterior=post, kernel=self.kernels[models.index(model)])
            return model
        model = self.model(self.kernels[0], (self.X, y))
        self.last["kernel"] = self.kernels[0]
        state = self._nuts_state
        if state is None or set(state["init"]) != set(model.hyper_names):
            post = model.sample_posterior(self.nuts_samples, self.nuts_warmup, num_chains=1, seed=seed)
        else:
            post = model.sample_posterior(self.nuts_samples, max(self.nuts_warmup // 2, 1), num_chains=1, seed=seed,
                                          init=state["init"], step_size=state["step_size"])
        self._nuts_state = {"init": {k: float(v[-1]) for k, v in post.samples.items()},
                            "step_size": post.diagnostics["step_size"][0]}
        self.last.update(model=model, posterior=post)
        return model

    def recommend(self) -> Tuple[torch.Tensor, float]:
        """The evaluated input the model believes best, ``(d,)``, and its predicted value: the GP
        is fitted to every evaluation as for a round, and of the evaluated inputs :math:`x_i` the
        one with the lowest posterior mean :math:`\\bar\\mu(x_i) = \\tfrac1S\\sum_s \\mu_s(x_i)` (over
        the hyperparameter settings) is returned, with :math:`\\bar\\mu` in ``y``'s units (through
        the warp's inverse: the posterior median). With noise, the lowest *observed* value is
        partly luck (its noise drew low); the posterior mean pools the neighbouring evaluations.

        :raises ValueError: with fewer than two evaluations (nothing to model).
        """
        if self.Y.numel() < 2:
            raise ValueError(f"recommend needs at least two evaluations, got {self.Y.numel()}; observe more first")
        model = self._posterior_model()
        with torch.no_grad():
            mean = model.conditional(self.X, self.last["posterior"].samples).mean.mean(0)
        i = int(mean.argmin())
        warp = self.last.get("warp")
        return self.X[i], float(mean[i] if warp is None else warp.inverse(mean[i]))

    def suggest(self, q: int = 1) -> torch.Tensor:
        """The next ``q`` points to evaluate, ``(q, d)``: from the initial design while fewer than
        two evaluations exist, else maximisers of the acquisition (see the module docstring)."""
        check_int("q", q, 1)
        t0 = time.perf_counter()
        if self.Y.numel() < 2:                 # nothing to model yet: more of the space-filling design
            self.last = {"seconds": time.perf_counter() - t0}
            return self.initial_design(self.Y.numel() + q + 1)[-q:]
        model = self._posterior_model()
        post = self.last["posterior"]
        span = float((self.bounds[1] - self.bounds[0]).max())
        if self.method == "thompson":
            cand = thompson_candidates(self.bounds, self.X, self.Y, self.n_candidates, self.seed + self.rounds,
                                       self.generator)
            seen = (torch.cdist(cand, self.X) < 1e-9 * span).any(-1)
            idx, draws = thompson_indices(model, post.samples, cand, q, self.generator, seen)
            self.last.update(candidates=cand, sample=draws[0])
            X_new = cand[idx]
        else:
            X_new = self._greedy_batch(model, post, q)
        self.rounds += 1
        self.last["seconds"] = time.perf_counter() - t0
        return X_new

    def _fantasy_model(self, model: GP, X: torch.Tensor, Y: torch.Tensor) -> GP:
        """The GP on ``X, Y`` with ``model``'s constant mean (in the units of ``y``)."""
        fantasy = self.model(self.last["kernel"], (X, Y))
        t, mean = fantasy.output_transform, model.output_transform.shift
        shift_mean(fantasy, (mean - t.shift) / t.scale)
        return fantasy

    def _greedy_batch(self, model: GP, post: Posterior, q: int) -> torch.Tensor:
        """``q`` maximisers of the analytic acquisition, each after fantasising the ones before."""
        chosen: List[torch.Tensor] = []
        X, Y = self.X, model.y                 # the GP's targets (warped values when warp)
        anchors = self.X[self.Y.argsort()[:3]]
        best = float(model.y.min())
        for j in range(q):
            seed = self.seed * 7919 + self.rounds * 31 + j
            acq = make_acquisition(self.method, model, post.samples, best, self.kappa, seed=seed)
            found = maximize(acq, self.bounds, raw_samples=self.n_candidates, restarts=self.restarts, seed=seed,
                             anchors=anchors, avoid=X,
                             generator=self.generator)
            chosen.append(found.x)
            if j == 0:
                self.last["acquisition_fn"] = acq
            if j < q - 1:                      # kriging believer: the point enters at its posterior mean
                with torch.no_grad():
                    y_fant = model.conditional(found.x[None], post.samples).mean.mean(0)
                X, Y = torch.cat([X, found.x[None]]), torch.cat([Y, y_fant])
                model = self._fantasy_model(model, X, Y)
        return torch.stack(chosen)


def _entry(opt: BayesOpt, it: int, X_new: torch.Tensor, y_new: torch.Tensor, record: bool) -> Dict[str, Any]:
    """The trace entry of one round (with the GP and acquisition over a grid in 1-d when ``record``)."""
    post: Optional[Posterior] = opt.last.get("posterior")
    pick = (lambda v: v.mean()) if opt.hyperparameters == "nuts" else (lambda v: v.reshape(-1)[0])   # MAP first
    entry: Dict[str, Any] = {"iteration": it, "x": X_new[0].tolist(), "batch": X_new.tolist(),
                             "y": float(y_new.min()), "best": float(opt.Y.min()),
                             "hypers": {} if post is None else {k: float(pick(v)) for k, v in post.samples.items()},
                             "seconds": opt.last.get("seconds", 0.0)}
    if record and opt.dim == 1 and post is not None:
        model: GP = opt.last["model"]
        grid = opt.last.get("candidates")
        grid = torch.linspace(float(opt.bounds[0, 0]), float(opt.bounds[1, 0]), 400, dtype=torch.float64)[:, None] \
            if grid is None else grid
        m, v = model.predict(grid, post.samples, noiseless=True)
        warp = opt.last.get("warp")
        if warp is not None:                   # back to y's units: the median and half the central 68% band
            m, s = warp.inverse(m), 0.5 * (warp.inverse(m + v.sqrt()) - warp.inverse(m - v.sqrt()))
            v = s ** 2
        entry.update(candidates=grid[:, 0], gp_mean=m, gp_std=v.sqrt(), X_before=model.X[:, 0],
                     Y_before=opt.Y[:model.X.shape[0]])
        if "sample" in opt.last:
            entry["sample"] = opt.last["sample"] if warp is None else warp.inverse(opt.last["sample"])
        else:
            with torch.no_grad():
                entry["acquisition"] = opt.last["acquisition_fn"](grid[:, None, :])
    return entry


def minimize(f: Objective, bounds: Bounds, x0: Optional[torch.Tensor] = None, iterations: int = 10,
             method: str = "ei", hyperparameters: str = "laplace", kernel: Any = "auto",
             noise: Optional[float] = None, n_candidates: int = 1024, kappa: float = 2.0, seed: int = 0,
             nuts_samples: int = 20, nuts_warmup: int = 60, record: bool = True,
             priors: Optional[Mapping[str, Prior]] = None, q: int = 1, noiseless: bool = False,
             progress: bool = False, **gp_options: Any) -> BOResult:
    """Minimise ``f`` over a box by Bayesian optimisation (:class:`BayesOpt` in a loop).

    :param f: objective mapping inputs of shape ``(n, d)`` to ``n`` finite values.
    :param bounds: ``(low, high)`` in 1-d, else a ``(2, d)`` tensor of lows and highs.
    :param Tensor x0: initial points ``(n, d)`` (``(n,)`` in 1-d) inside the bounds; default
        ``2d + 1`` scrambled Sobol points (seeded).
    :param int iterations: rounds after the initial points, each evaluating ``q`` points.
    :param bool record: keep, in 1-d, the GP and the acquisition over a grid in the trace.
    :param bool progress: show a progress bar over the rounds.
    :param method, hyperparameters, kernel, noise, noiseless, n_candidates, kappa, nuts_samples,
        nuts_warmup, priors: as for :class:`BayesOpt`.
    :param gp_options: :class:`BayesOpt`'s ``restarts`` and ``constant_mean``, or options of
        :class:`~pyroml.gp.GP`.
    :returns: a :class:`BOResult`; an evaluation that fails during the rounds is recorded in
        ``failures`` and ends the run. After the rounds the GP is fitted once more, to every
        evaluation, for ``x_recommended`` (:meth:`BayesOpt.recommend`).
    :raises ValueError: for bad bounds, ``x0`` outside them, or initial points the objective
        cannot evaluate (before any modelling).
    :raises BOInterrupted: on Ctrl-C during the rounds, with the result so far as its ``result``.
    """
    check_int("iterations", iterations, 0)
    check_int("q", q, 1)
    opt = BayesOpt(bounds, method, hyperparameters, kernel, noise, noiseless, priors, kappa, n_candidates,
                   seed=seed, nuts_samples=nuts_samples, nuts_warmup=nuts_warmup, **gp_options)
    X0 = opt.initial_design() if x0 is None else _points(x0, opt.bounds, "x0")
    Y0, error = _evaluate(f, X0)
    if Y0 is None:
        raise ValueError(f"the initial points could not be evaluated: {error}")
    opt.observe(X0, Y0)
    trace: List[Dict[str, Any]] = []
    failures: List[Dict[str, Any]] = []
    t_start = time.perf_counter()
    it = 0
    try:
        for it in tqdm(range(1, iterations + 1), desc="BO", disable=not progress):
            X_new = opt.suggest(q)
            y_new, error = _evaluate(f, X_new)
            if y_new is None:
                failures.append({"iteration": it, "x": X_new.tolist(), "error": error})
                break
            opt.observe(X_new, y_new)
            trace.append(_entry(opt, it, X_new, y_new, record))
        seconds = time.perf_counter() - t_start
        recommended = None
        if trace:
            try:
                recommended = opt.recommend()
            except (RuntimeError, ValueError) as e:   # a failed final fit: the evaluations stand
                warnings.warn(f"no x_recommended: the final GP fit failed ({type(e).__name__}: {e}); "
                              f"x_best, the best observed input, stands", stacklevel=2)
    except KeyboardInterrupt as e:
        failures.append({"iteration": it, "x": None, "error": "KeyboardInterrupt"})
        partial = BOResult.from_evaluations(opt.X, opt.Y, trace, time.perf_counter() - t_start, failures)
        raise BOInterrupted(partial) from e
    result = BOResult.from_evaluations(opt.X, opt.Y, trace, seconds, failures)
    if recommended is not None:
        result.x_recommended, result.y_recommended = recommended
    return result


def random_search(f: Objective, bounds: Bounds, x0: Optional[torch.Tensor] = None, iterations: int = 10,
                  seed: int = 0) -> BOResult:
    """Uniform random search with the same budget (a baseline for the benchmarks): ``x0`` (default
    :meth:`BayesOpt.initial_design`), then ``iterations`` uniform points in the box."""
    b = as_bounds(bounds)
    check_int("iterations", iterations, 0)
    gen = torch.Generator().manual_seed(check_int("seed", seed, 0))
    X0 = BayesOpt(b, seed=seed).initial_design() if x0 is None else _points(x0, b, "x0")
    X = torch.cat([X0, b[0] + (b[1] - b[0]) * torch.rand(iterations, b.shape[1], generator=gen, dtype=torch.float64)])
    Y, error = _evaluate(f, X)
    if Y is None:
        raise ValueError(error)
    return BOResult.from_evaluations(X, Y)
