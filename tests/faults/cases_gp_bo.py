"""Fault cases of the Gaussian process and Bayesian optimisation API."""

from __future__ import annotations

import warnings

import torch

from pyroml import bo
from pyroml.gp import GP, SparseGP
from tests.faults.core import Accepts, Case, Env, Raises, Warns, with_kw

G, B = "gp", "bo"
X = torch.linspace(0, 1, 8, dtype=torch.float64)[:, None]
Y = torch.sin(6 * X[:, 0])
BOX = torch.tensor([[0.0], [1.0]], dtype=torch.float64)


def f(x: torch.Tensor) -> torch.Tensor:
    """A smooth 1-d objective, ``(n, 1) -> (n,)``."""
    return (x[:, 0] - 0.3) ** 2


def _failing_after(k: int, value: float):
    """``f``, until call ``k`` (then it raises, or returns ``value`` when not None)."""
    calls = []

    def g(x):
        calls.append(1)
        if len(calls) < k:
            return f(x)
        if value is None:
            raise RuntimeError("the simulator crashed")
        return f(x) * value
    return g


def _kept(env: Env, result) -> None:
    """The 3 initial evaluations and the first round are kept; the failure ends the run and is recorded."""
    assert result.Y.numel() == 4 and result.X.shape == (4, 1) and len(result.failures) == 1
    assert result.y_best == float(result.Y.min()) and result.failures[0]["iteration"] == 2


def _float64(env: Env, gp: GP) -> None:
    assert gp.X.dtype == torch.float64 and gp.y.dtype == torch.float64 and torch.equal(gp.y, Y.float().double())


def _small_scale(env: Env, err: torch.Tensor) -> None:
    assert float(err) < 0.05, f"relative error {float(err):.3g} at the data"


def _rel_error_tiny_y(env: Env) -> torch.Tensor:
    """The largest error of the MAP predictive mean at the data, relative to |y| ~ 1e-6."""
    gp = GP(X, Y * 1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mean, _ = gp.map_estimate(restarts=2).predict(X)
    return (mean - Y * 1e-6).abs().max() / 1e-6


def _two_draws(env: Env, post) -> None:
    assert post.num_samples == 2 and "lengthscale_r_hat" not in post.summary()


def _nothing_added(opt: bo.BayesOpt, x, y):
    try:
        opt.observe(x, y)
    finally:
        assert opt.Y.numel() == 0, "a refused observation was added"


CASES = [
    # ---- GP: data and construction -----------------------------------------------------------------------
    Case("gp-numpy", G, "`GP(numpy X, y)`", lambda e: GP(X.numpy(), Y), Raises(TypeError, "must be torch Tensors")),
    Case("gp-x-3d", G, "X of shape (1, 8, 1)", lambda e: GP(X[None], Y), Raises(ValueError,
             "X must have shape (N, d)")),
    Case("gp-y-2d", G, "y of shape (8, 1)", lambda e: GP(X, Y[:, None]), Raises(ValueError, "y.reshape(-1)")),
    Case("gp-lengths", G, "8 inputs, 7 targets", lambda e: GP(X, Y[:-1]), Raises(ValueError, "8 inputs, 7 targets")),
    Case("gp-empty", G, "no data", lambda e: GP(X[:0], Y[:0]), Raises(ValueError, "X and y are empty")),
    Case("gp-nan-y", G, "NaN in y", lambda e: GP(X, Y.masked_fill(Y > 0.5, float("nan"))),
         Raises(ValueError, "y contains NaN or infinite values")),
    Case("gp-inf-x", G, "inf in X", lambda e: GP(X.masked_fill(X > 0.5, float("inf")), Y),
         Raises(ValueError, "X contains NaN or infinite values")),
    Case("gp-kernel", G, "`kernel='sq'`", lambda e: GP(X, Y, kernel="sq"), Raises(ValueError, "kernel must be one of")),
    Case("gp-kernel-dim", G, "a pyro RBF kernel of input_dim 3 on 2-d inputs", lambda e: GP(
        torch.rand(8, 2, dtype=torch.float64), Y, kernel=__import__("pyro").contrib.gp.kernels.RBF(input_dim=3)),
         Raises(ValueError, "build it with input_dim=2")),
    Case("gp-noise-negative", G, "`noise=-1`", lambda e: GP(X, Y, noise=-1.0), Raises(ValueError,
             "must be a finite number > 0")),
    Case("gp-noise-0", G, "`noise=0`", lambda e: GP(X, Y, noise=0.0), Raises(ValueError,
             "must be a finite number > 0")),
    Case("gp-priors", G, "a prior on `period` for an RBF kernel", lambda e: GP(X, Y, priors={"period": None}),
         Raises(ValueError, "priors given for ['period']")),
    Case("gp-bounds-order", G, "`bounds=(1, 0)`: low >= high", lambda e: GP(X, Y, bounds=(1.0, 0.0)),
         Raises(ValueError, "finite lows strictly below highs")),
    Case("gp-bounds-dim", G, "2-d bounds for 1-d inputs", lambda e: GP(X, Y, bounds=torch.tensor([[0., 0.], [1., 1.]])),
         Raises(ValueError, "bounds cover 2 dimensions, the inputs have 1")),
    Case("gp-float32", G, "float32 X and y", lambda e: GP(X.float(), Y.float()), Accepts("converted to float64"),
         check=_float64),
    Case("gp-tiny-scale", G, "y of order 1e-6 (was: off by up to 59% at the data)", _rel_error_tiny_y,
         Accepts("standardised: MAP mean within 5% at the data"), check=_small_scale),
    Case("gp-tiny-scale-raw", G, "y of order 1e-6 with `standardize=False`", lambda e: GP(X, Y * 1e-6,
             standardize=False),
         Warns(UserWarning, ("y varies on a scale of", "standardise y"))),
    Case("gp-jitter-negative", G, "`jitter=-1`", lambda e: GP(X, Y, jitter=-1.0),
         Raises(ValueError, "jitter must be a finite number >= 0"),
         note="was: accepted"),
    Case("gp-noise-weights-shape", G, "`noise_weights` of 7 values for 8 points", lambda e: GP(
        X, Y, noise_weights=torch.ones(7)), Raises(ValueError, "noise_weights must have shape (8,)")),
    Case("gp-noise-weights-zero", G, "a zero in `noise_weights`", lambda e: GP(
        X, Y, noise_weights=torch.ones(8).index_fill(0, torch.tensor([3]), 0.0)),
         Raises(ValueError, "noise_weights must be positive and finite")),
    Case("gp-noise-weights-svi", G, "`GP.fit` (SVI) with `noise_weights`", lambda e: GP(
        X, Y, noise_weights=torch.ones(8)).fit(steps=1), Raises(ValueError, "use map_estimate or sample_posterior")),
    # ---- GP: inference and prediction -----------------------------------------------------------------
    Case("gp-predict-columns", G, "`predict` of 2-d inputs for a 1-d GP", lambda e: GP(X, Y).map_estimate(
        restarts=1).predict(torch.rand(3, 2, dtype=torch.float64)), Raises(ValueError,
        "X_new has 2 columns, the data 1")),
    Case("gp-predict-nan", G, "`predict` at NaN", lambda e: GP(X, Y).map_estimate(restarts=1).predict(
        torch.tensor([[float("nan")]], dtype=torch.float64)), Raises(ValueError, "X_new holds NaN or infinite values"),
         note="was: a NaN mean and variance"),
    Case("gp-nuts-samples-0", G, "`sample_posterior(num_samples=0)`", lambda e: GP(X, Y).sample_posterior(
        num_samples=0, warmup_steps=1, num_chains=1), Raises(ValueError, "num_samples must be an integer >= 1")),
    Case("gp-nuts-chains-0", G, "`sample_posterior(num_chains=0)`", lambda e: GP(X, Y).sample_posterior(
        num_samples=4, warmup_steps=1, num_chains=0), Raises(ValueError, "num_chains must be an integer >= 1")),
    Case("gp-nuts-warmup", G, "`sample_posterior(warmup_steps=-1)`", lambda e: GP(X, Y).sample_posterior(
        num_samples=4, warmup_steps=-1, num_chains=1), Raises(ValueError, "warmup_steps must be an integer >= 0")),
    Case("gp-nuts-target", G, "`target_accept_prob=2` (was: a bare AssertionError from Pyro)", lambda e: GP(
        X, Y).sample_posterior(num_samples=4, warmup_steps=2, num_chains=1, target_accept_prob=2.0),
         Raises(ValueError, "target_accept_prob must be a number in [0, 1], got 2.0")),
    Case("gp-nuts-few-samples", G, "`sample_posterior(num_samples=2)` (was: an AssertionError after the sampling)",
         lambda e: GP(X, Y).sample_posterior(num_samples=2, warmup_steps=2, num_chains=1),
         Accepts("the 2 draws kept; R-hat and ESS (which need 4) left out"), check=_two_draws),
    Case("gp-map-restarts-0", G, "`map_estimate(restarts=0)`", lambda e: GP(X, Y).map_estimate(restarts=0),
         Raises(ValueError, "restarts must be an integer >= 1"),
         note="was: 'MAP estimation failed from every start'"),
    Case("gp-fit-guide", G, "`GP.fit(guide='laplace')`", lambda e: GP(X, Y).fit(guide="laplace"),
         Raises(ValueError, "guide must be one of ['map', 'normal']")),
    Case("gp-fit-steps", G, "`GP.fit(steps=-1)`", lambda e: GP(X, Y).fit(steps=-1), Raises(ValueError,
             "must be an integer >= 0")),
    Case("gp-sample-functions-0", G, "`sample_functions(X, n=0)`", lambda e: GP(X, Y).map_estimate(
        restarts=1).sample_functions(X, n=0), Raises(ValueError, "n must be an integer >= 1"),
         note="was: 'stack expects a non-empty TensorList'"),
    Case("sparse-inducing-0", G, "`SparseGP(num_inducing=0)`", lambda e: SparseGP(X, Y, num_inducing=0),
         Raises(ValueError, "num_inducing must be an integer >= 1"),
         note="was: accepted"),
    Case("sparse-nan", G, "`SparseGP` with NaN in y", lambda e: SparseGP(X, Y.masked_fill(Y > 0.5, float("nan"))),
         Raises(ValueError, "y contains NaN or infinite values")),
    # ---- BO ----------------------------------------------------------------------------------------------
    Case("bo-bounds-order", B, "`minimize(f, bounds=[[1], [0]])`: low >= high", lambda e: bo.minimize(
        f, torch.tensor([[1.0], [0.0]])), Raises(ValueError, ("finite lows strictly below highs", "[[low_1"))),
    Case("bo-bounds-equal", B, "`bounds=(0, 0)`", lambda e: bo.minimize(f, (0.0, 0.0)),
         Raises(ValueError, "strictly below highs")),
    Case("bo-bounds-inf", B, "`bounds=(0, inf)`", lambda e: bo.minimize(f, (0.0, float("inf"))),
         Raises(ValueError, "finite lows")),
    Case("bo-bounds-shape", B, "bounds of shape (3, 2)", lambda e: bo.minimize(f, torch.zeros(3, 2)),
         Raises(ValueError, "a (2, d) tensor of lows and highs, got shape (3, 2)")),
    Case("bo-x0-outside", B, "`x0` outside the box", lambda e: bo.minimize(f, BOX, x0=torch.tensor([2.0])),
         Raises(ValueError, ("x0 has points outside the bounds", "clip them or widen the bounds"))),
    Case("bo-x0-dim", B, "`x0` of 3 columns in a 2-d box", lambda e: bo.minimize(
        f, torch.tensor([[0., 0.], [1., 1.]]), x0=torch.rand(3, 3)), Raises(ValueError, "x0 must have shape (n, 2)")),
    *[Case(f"bo-{name}", B, f"`minimize(..., {arg})`", with_kw(lambda e, **kw: bo.minimize(f, BOX, **kw), kw),
           Raises(ValueError, msg)) for name, arg, kw, msg in [
        ("iterations", "iterations=-1", {"iterations": -1}, "iterations must be an integer >= 0"),
        ("q", "q=0", {"q": 0}, "q must be an integer >= 1"),
        ("method", "method='pi'", {"method": "pi"}, "method must be one of"),
        ("kernel", "kernel='sq' (was: an error at the first round)", {"kernel": "sq"}, "kernel must be one of"),
        ("hyperparameters", "hyperparameters='vi'", {"hyperparameters": "vi"}, "hyperparameters must be one of"),
        ("candidates", "n_candidates=0", {"n_candidates": 0}, "n_candidates must be an integer >= 1"),
    ]],
    Case("bo-kappa", B, "`minimize(..., method='lcb', kappa=-1)`", lambda e: bo.minimize(
        f, BOX, method="lcb", kappa=-1.0, iterations=1), Raises(ValueError, "kappa must be a finite number >= 0"),
         note="was: accepted, turning the confidence bound around"),
    Case("bo-restarts", B, "`minimize(..., restarts=-1)` (was: 'selected index k out of range' at the first round)",
         lambda e: bo.minimize(f, BOX, restarts=-1, iterations=1), Raises(ValueError, "restarts must be an integer")),
    Case("bo-random-search", B, "`random_search(..., iterations=-1)`", lambda e: bo.random_search(f, BOX,
             iterations=-1),
         Raises(ValueError, "iterations must be an integer >= 0"), note="was: a torch error"),
    Case("bo-initial-nan", B, "an objective returning NaN at the initial points", lambda e: bo.minimize(
        lambda x: f(x) * float("nan"), BOX), Raises(ValueError, ("could not be evaluated", "values must be finite"))),
    Case("bo-initial-count", B, "an objective returning 1 value for 3 points", lambda e: bo.minimize(
        lambda x: torch.zeros(1), BOX), Raises(ValueError, "returned 1 values for 3 points")),
    Case("bo-objective-raises", B, "an objective that raises in round 2 (was: every evaluation lost)",
             lambda e: bo.minimize(
        _failing_after(3, None), BOX, x0=torch.tensor([0.1, 0.5, 0.9]), iterations=4), Accepts(
        "the run ends; evaluations so far returned, the failure recorded"), check=_kept),
    Case("bo-objective-nan", B, "an objective returning NaN in round 2", lambda e: bo.minimize(
        _failing_after(3, float("nan")), BOX, x0=torch.tensor([0.1, 0.5, 0.9]), iterations=4), Accepts(
        "the run ends; evaluations so far returned, the failure recorded"), check=_kept),
    Case("bo-observe-outside", B, "`observe` of a point outside the box", lambda e: _nothing_added(
        bo.BayesOpt(BOX), torch.tensor([2.0]), torch.tensor([1.0])), Raises(ValueError, "outside the bounds"),
         note="nothing added"),
    Case("bo-observe-nan", B, "`observe` of a NaN value", lambda e: _nothing_added(
        bo.BayesOpt(BOX), torch.tensor([0.5]), torch.tensor([float("nan")])), Raises(ValueError,
        "values must be finite"),
         note="nothing added"),
    Case("bo-observe-count", B, "`observe` of 2 points and 1 value", lambda e: _nothing_added(
        bo.BayesOpt(BOX), torch.tensor([0.5, 0.2]), torch.tensor([1.0])), Raises(ValueError, "1 values for 2 points")),
    Case("bo-recommend-empty", B, "`recommend()` before two evaluations", lambda e: bo.BayesOpt(BOX).recommend(),
         Raises(ValueError, "recommend needs at least two evaluations, got 0")),
    Case("bo-suggest-q", B, "`suggest(0)`", lambda e: bo.BayesOpt(BOX).suggest(0), Raises(ValueError,
             "q must be an integer >= 1")),
    Case("bo-nei-draws", B, "`NoisyLogExpectedImprovement(..., draws=0)`", lambda e: bo.NoisyLogExpectedImprovement(
        GP(X, Y), {"lengthscale": 0.3, "variance": 1.0, "noise": 0.01}, draws=0),
         Raises(ValueError, "draws must be an integer >= 1, got 0")),
]
