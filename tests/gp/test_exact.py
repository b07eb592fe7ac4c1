import pyro.contrib.gp as cgp
import pyro.distributions as dist
import pytest
import torch
from pyro.nn import PyroSample

from pyroml.gp import GP, KERNELS, default_priors, kernel_matrix
from tests.gp.helpers import RAW, assert_closed_form_matches_autograd, data, hypers_at


@pytest.mark.parametrize("kernel", sorted(KERNELS))
def test_predictive_equals_closed_form_conditional(kernel):
    X, y = data()
    gp = GP(X, y, kernel=kernel, noise=1e-3, **RAW)
    hypers = hypers_at(gp)
    h1 = {k: v.reshape(()) for k, v in hypers.items()}
    Xs = torch.linspace(-1, 1, 7, dtype=torch.float64)[:, None]
    K = kernel_matrix(kernel, X, X, h1) + 1e-3 * torch.eye(6, dtype=torch.float64)
    Ks, Kss = kernel_matrix(kernel, X, Xs, h1), kernel_matrix(kernel, Xs, Xs, h1)
    mean = Ks.T @ torch.linalg.solve(K, y)
    var = Kss.diagonal() - (Ks * torch.linalg.solve(K, Ks)).sum(0)
    m, v = gp.predict(Xs, hypers)
    assert torch.allclose(m, mean, atol=1e-8) and torch.allclose(v, var + 1e-3, atol=1e-8)
    m0, v0 = gp.predict(Xs, hypers, noiseless=True)
    assert torch.allclose(m0, mean, atol=1e-8) and torch.allclose(v0, var, atol=1e-8)


def test_kernel_instance_and_its_priors():
    X, y = data()
    k = cgp.kernels.Matern52(input_dim=1)
    k.lengthscale = PyroSample(dist.LogNormal(0.5, 0.1))
    gp = GP(X, y, kernel=k)
    assert gp.kernel_name == "matern52"
    assert float(gp.priors["lengthscale"].loc) == 0.5 and gp.priors["lengthscale"].loc.dtype == torch.float64
    assert float(gp.priors["variance"].scale) == float(default_priors(1)["variance"].scale)    # the default
    with pytest.raises(TypeError, match="not supported"):
        GP(X, y, kernel=cgp.kernels.Linear(input_dim=1))
    with pytest.raises(ValueError, match="input_dim=1"):
        GP(X, y, kernel=cgp.kernels.RBF(input_dim=2))
    with pytest.raises(ValueError, match="isotropic"):
        GP(X, y, kernel=cgp.kernels.RBF(input_dim=1, lengthscale=torch.ones(3)))


def test_function_samples_survive_repeated_inputs():
    X, y = data()
    gp = GP(X, y, noise=1e-6, **RAW)
    Xs = torch.cat([X[:, 0], X[:, 0], torch.linspace(-1, 1, 300, dtype=torch.float64)])
    hypers = {"lengthscale": torch.tensor([0.5, 2.0]), "variance": torch.tensor([1.0, 3.0])}
    draws = gp.sample_functions(Xs, hypers, generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(draws).all() and draws.shape == (2, Xs.shape[0])
    mean, _, _ = gp.conditional(X, hypers)
    assert (draws[:, :6] - mean).abs().max() < 0.01 and (draws[:, 6:12] - mean).abs().max() < 0.01


def test_function_samples_have_the_conditional_moments():
    X, y = data()
    gp = GP(X, y, noise=1e-4, **RAW)
    S = 400
    hypers = {"lengthscale": torch.full((S,), 0.3), "variance": torch.full((S,), 1.0)}
    Xs = torch.linspace(-1, 1, 25, dtype=torch.float64)
    draws = gp.sample_functions(Xs, hypers, generator=torch.Generator().manual_seed(0))
    mean, C, _ = gp.conditional(Xs, {k: v[:1] for k, v in hypers.items()}, full_cov=True)
    emp = torch.cov(draws.T)
    assert (draws.mean(0) - mean[0]).abs().max() < 4 * C[0].diagonal().max().sqrt() / S ** 0.5 + 1e-6
    assert (emp - C[0]).abs().max() < 0.25


@pytest.mark.parametrize("bad,match", [
    ({"X": torch.zeros(3, 1), "y": torch.zeros(4)}, "differ in length"),
    ({"X": torch.zeros(3, 1), "y": torch.tensor([0.0, float("nan"), 1.0])}, "NaN"),
    ({"X": torch.zeros(3, 1, 1), "y": torch.zeros(3)}, "shape"),
    ({"X": torch.zeros(3, 1), "y": torch.zeros(3, 1)}, "flatten"),
    ({"X": torch.zeros(3, 1), "y": torch.zeros(3), "kernel": "cosine"}, "kernel must be one of"),
    ({"X": torch.zeros(3, 1), "y": torch.zeros(3), "noise": 0.0}, "positive"),
    ({"X": torch.zeros(3, 1), "y": torch.zeros(3), "priors": {"period": dist.LogNormal(0.0, 1.0)}}, "noise_prior"),
])
def test_gp_bad_inputs(bad, match):
    with pytest.raises(ValueError, match=match):
        GP(**bad)


def test_public_prior_and_named_conditional():
    """``GP.prior`` is what the plots read; ``conditional`` returns a named tuple."""
    X, y = data()
    gp = GP(X, y, noise_prior=dist.LogNormal(-6.0, 1.0))
    assert gp.prior("lengthscale") is gp.priors["lengthscale"] and gp.prior("noise") is gp.noise_prior
    c = gp.conditional(X, hypers_at(gp))
    assert c.mean.shape == c.var.shape == (1, 6) and c.noise.shape == (1,)


def test_the_reused_training_factor_follows_the_data_and_the_settings_and_keeps_gradients():
    """The conditional reuses its Cholesky factor between calls: it must equal a fresh GP's after
    the targets change (replaced or in place) or the hyperparameters change, and hyperparameters
    that need a gradient get one."""
    X, y = data()
    gp = GP(X, y, kernel="matern52", noise=1e-3, **RAW)
    hypers = hypers_at(gp)
    Xs = torch.linspace(-1, 1, 5, dtype=torch.float64)[:, None]

    def fresh(targets, hp):
        other = GP(X, y, kernel="matern52", noise=1e-3, **RAW)
        other.yt = targets.clone()
        return other.conditional(Xs, hp).mean
    first = gp.conditional(Xs, hypers).mean
    assert torch.equal(gp.conditional(Xs, hypers).mean, first)                  # reused: the same numbers
    gp.yt = gp.yt + 1.0                                                           # replaced
    assert torch.allclose(gp.conditional(Xs, hypers).mean, fresh(gp.yt, hypers), atol=1e-12)
    gp.yt.mul_(2.0)                                                               # changed in place
    assert torch.allclose(gp.conditional(Xs, hypers).mean, fresh(gp.yt, hypers), atol=1e-12)
    longer = {k: v * 1.5 if "lengthscale" in k else v for k, v in hypers.items()}
    assert torch.allclose(gp.conditional(Xs, longer).mean, fresh(gp.yt, longer), atol=1e-12)
    assert not torch.allclose(gp.conditional(Xs, longer).mean, gp.conditional(Xs, hypers).mean)
    grads = []
    for model in (gp, GP(X, y, kernel="matern52", noise=1e-3, **RAW)):          # after a cached call, and fresh
        model.yt = gp.yt
        tracked = {k: v.clone().requires_grad_(True) for k, v in hypers.items()}
        model.conditional(Xs, tracked).mean.sum().backward()
        grads.append(torch.cat([tracked[k].grad.reshape(-1) for k in sorted(tracked)]))
    assert torch.allclose(grads[0], grads[1], atol=1e-10) and bool(grads[0].abs().sum() > 0)


def _weighted(n=7, seed=3):
    X, y = data(n=n, seed=seed)
    w = torch.linspace(0.2, 3.0, n, dtype=torch.float64)
    return X, y, w


@pytest.mark.parametrize("n", [7, 70])                    # the NumPy potential, and the torch one from 64 points
def test_noise_weights_enter_the_potential_and_its_closed_form(n):
    """With weights w the covariance is K + sigma_n^2 diag(w): the potential equals the Gaussian
    log density of y under it (plus the priors), and the closed form matches autograd."""
    X, y, w = _weighted(n)
    gp = GP(X, y, kernel="matern52", noise_prior=dist.LogNormal(-4.0, 1.0), noise_weights=w)
    plain = GP(X, y, kernel="matern52", noise_prior=dist.LogNormal(-4.0, 1.0))
    theta = torch.tensor([-0.5, 0.1, -2.0], dtype=torch.float64)
    assert_closed_form_matches_autograd(gp, theta)
    hp = {h: theta[i].exp() for i, h in enumerate(gp.hyper_names)}
    K = kernel_matrix(gp.kernel, gp.Xt, gp.Xt, hp) + torch.diag(hp["noise"] * w + gp.jitter)
    logml = dist.MultivariateNormal(torch.zeros(n, dtype=torch.float64), K).log_prob(gp.yt)
    # the priors' terms are the same with and without weights: the difference is the likelihood's
    K1 = kernel_matrix(gp.kernel, gp.Xt, gp.Xt, hp) + (hp["noise"] + gp.jitter) * torch.eye(n, dtype=torch.float64)
    logml1 = dist.MultivariateNormal(torch.zeros(n, dtype=torch.float64), K1).log_prob(gp.yt)
    assert float(plain.potential(theta) - gp.potential(theta)) == pytest.approx(float(logml - logml1), rel=1e-9)


def test_unit_noise_weights_change_nothing_and_a_huge_one_removes_the_point():
    X, y, _ = _weighted()
    gp = GP(X, y, kernel="rbf", noise=1e-3)
    ones = GP(X, y, kernel="rbf", noise=1e-3, noise_weights=torch.ones(7, dtype=torch.float64))
    hp, Xs = hypers_at(gp), torch.linspace(-1, 1, 9, dtype=torch.float64)
    theta = torch.zeros(len(gp.hyper_names), dtype=torch.float64)
    assert torch.equal(gp.potential(theta), ones.potential(theta))
    assert gp.closed_form_potential()(theta.tolist()) == ones.closed_form_potential()(theta.tolist())
    assert torch.equal(gp.conditional(Xs, hp).mean, ones.conditional(Xs, hp).mean)
    big = torch.ones(7, dtype=torch.float64)
    big[2] = 1e12                                             # point 2 carries no information
    drop = GP(X, y, kernel="rbf", noise=1e-3, noise_weights=big)
    keep = torch.arange(7) != 2
    without = GP(X[keep], y[keep], kernel="rbf", noise=1e-3)
    for m in (drop, without):                                 # the same working scales for both
        m.input_transform, m.output_transform, m.noise = gp.input_transform, gp.output_transform, gp.noise
        m.Xt, m.yt = m.input_transform.forward(m.X), m.output_transform.forward(m.y)
    a, b = drop.conditional(Xs, hp), without.conditional(Xs, hp)
    assert torch.allclose(a.mean, b.mean, atol=1e-6) and torch.allclose(a.var, b.var, atol=1e-6)
    assert not torch.allclose(a.mean, gp.conditional(Xs, hp).mean, atol=1e-3)
    gp.noise_weights = big                                    # set after a call: the cached factor is not reused
    assert torch.equal(gp.conditional(Xs, hp).mean,
                       GP(X, y, kernel="rbf", noise=1e-3, noise_weights=big).conditional(Xs, hp).mean)


@pytest.mark.parametrize("weights,match", [
    (torch.ones(6), r"shape \(7,\)"),
    (torch.tensor([1.0, 1, 1, 0, 1, 1, 1]), "positive"),
    (torch.tensor([1.0, 1, 1, float("nan"), 1, 1, 1]), "positive and finite"),
])
def test_bad_noise_weights(weights, match):
    X, y, _ = _weighted()
    with pytest.raises(ValueError, match=match):
        GP(X, y, noise_weights=weights)


def test_svi_refuses_noise_weights_before_any_work():
    X, y, w = _weighted()
    with pytest.raises(ValueError, match="map_estimate or sample_posterior"):
        GP(X, y, noise_weights=w).fit(steps=1)
