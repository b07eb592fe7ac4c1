"""BO's hyperparameter fit (value-space priors, starts, constant mean) and the acquisition maximiser."""

import math

import pytest
import torch

from pyroml import bo
from pyroml.bo.fit import fit_map, gls_mean, laplace_posterior, log_hypers, map_priors, prior_centre, shift_mean
from pyroml.bo.optimize import projected_ascent
from pyroml.gp import GP, default_priors

BOX = torch.tensor([[-2.0, 0.0], [2.0, 3.0]], dtype=torch.float64)


def _data(n=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = BOX[0] + (BOX[1] - BOX[0]) * torch.rand(n, 2, generator=g, dtype=torch.float64)
    return X, torch.sin(2 * X[:, 0]) + (X[:, 1] - 1) ** 2


def test_map_priors_are_the_value_space_densities_of_the_defaults():
    """log p_shifted(e^t) + t - log p_default(e^t) is the same constant for every t."""
    shifted, noise = map_priors(3)
    default = default_priors(3)
    t = torch.linspace(-4, 3, 9, dtype=torch.float64)
    assert float(shifted.pop("variance").scale) == 0.01                           # pinned near 1
    for name, prior in [*shifted.items(), ("noise", noise)]:
        diff = prior.log_prob(t.exp()) + t - default[name].log_prob(t.exp())
        assert torch.allclose(diff, diff[0].expand_as(diff), atol=1e-10), name
    assert float(shifted["lengthscale"].loc) == pytest.approx(math.sqrt(2) + 0.5 * math.log(3) - 3)


def test_gls_mean_maximises_the_marginal_likelihood_and_shift_mean_moves_predictions():
    X, y = _data()
    model = GP(X, y, kernel="rbf", bounds=BOX)
    hypers = model.map_estimate().samples
    theta = log_hypers(type("P", (), {"samples": hypers, "gp": model})())   # a one-sample posterior's log values
    c = gls_mean(model, hypers)
    base = model.yt.clone()

    def neg_log_ml(shift):
        model.yt = base - shift
        return float(model.potential(theta))
    assert neg_log_ml(c) < min(neg_log_ml(c - 1e-3), neg_log_ml(c + 1e-3))      # a minimum of -log p(y | c)
    assert abs(c) > 1e-3                                                          # not the sample mean here
    model.yt = base
    far = torch.tensor([[2.0, 3.0]], dtype=torch.float64) + 50.0                 # far from the data: the prior mean
    t = model.output_transform
    shift_mean(model, 0.7)
    assert model.conditional(far, hypers).mean.item() == pytest.approx(t.shift + 0.7 * t.scale, abs=1e-6)
    assert torch.allclose(model.yt, base - 0.7)


def test_fit_map_starts_at_the_prior_centre_and_improves_on_it():
    X, y = _data()
    bo_opt = bo.BayesOpt(BOX)
    bo_opt.observe(X, y)
    model = bo_opt.model()
    centre = prior_centre(model)
    assert float(centre[0]) == pytest.approx(float(map_priors(2)[0]["lengthscale"].loc))
    post = fit_map(model, seed=0, constant_mean=False)
    assert post.diagnostics["potential"] <= float(model.potential(centre)) + 1e-9
    again = fit_map(bo_opt.model(), previous=log_hypers(post), seed=0, constant_mean=False)
    assert again.diagnostics["potential"] == pytest.approx(post.diagnostics["potential"], abs=1e-6)
    with_mean = fit_map(bo_opt.model(), seed=0)
    assert with_mean.gp.output_transform.shift != pytest.approx(float(y.mean()))


@pytest.mark.parametrize("optimum", [[0.3, 0.6], [1.4, 0.5], [-0.2, 1.2]])
def test_projected_ascent_reaches_interior_and_boundary_maxima_of_ill_conditioned_bowls(optimum):
    A = torch.tensor([[400.0, 15.0], [15.0, 1.0]], dtype=torch.float64)          # condition number ~ 10^3
    o = torch.tensor(optimum, dtype=torch.float64)

    def f(u):
        return -(((u - o) @ A) * (u - o)).sum(-1)
    z, value = projected_ascent(f, torch.rand(6, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64))
    best = projected_ascent(f, torch.tensor([[0.5, 0.5]], dtype=torch.float64), max_iter=500)[1]
    assert ((z >= 0) & (z <= 1)).all()
    assert torch.allclose(value, best.expand_as(value), atol=1e-6)
    if min(optimum) >= 0 and max(optimum) <= 1:
        assert torch.allclose(z, o.expand_as(z), atol=1e-4)


def test_the_acquisition_maximiser_beats_a_dense_grid():
    X, y = _data(8, seed=2)
    opt = bo.BayesOpt(BOX, seed=0)
    opt.observe(X, y)
    opt.suggest()
    acq = opt.last["acquisition_fn"]
    found = bo.maximize(acq, BOX, raw_samples=64, restarts=4, seed=0)
    grid = bo.optimize.sobol(BOX, 4096, seed=9)
    with torch.no_grad():
        assert found.value >= float(acq(grid[:, None, :]).max()) - 1e-6


def test_prior_centre_is_the_lognormal_loc_else_the_log_median_else_the_log_mean():
    """The fit's first start, per hyperparameter: LogNormal -> its loc; a prior with a quantile
    function (Uniform(0.1, 2): median 1.05) -> log median; one without (Gamma(2, 2): mean 1) -> log mean."""
    import pyro.distributions as dist
    X, y = _data()
    gp = GP(X, y, priors={"lengthscale": dist.Uniform(0.1, 2.0), "variance": dist.Gamma(2.0, 2.0)})
    centre = prior_centre(gp)
    assert centre.dtype == torch.float64 and centre.shape == (len(gp.hyper_names),)
    for name, value in zip(gp.hyper_names, centre.tolist()):
        if "lengthscale" in name:
            assert value == pytest.approx(math.log(1.05)), name
        elif "variance" in name:
            assert value == pytest.approx(0.0, abs=1e-12), name
        else:  # the noise: the default LogNormal
            assert value == pytest.approx(float(gp.prior(name).loc)), name


def _numeric_hessian(fn, theta, h=1e-4):
    """Central second differences of ``fn`` at ``theta`` ``(H,)``: an independent check of autograd's Hessian."""
    H = theta.numel()
    out = torch.zeros(H, H, dtype=torch.float64)
    eye = torch.eye(H, dtype=torch.float64) * h
    for i in range(H):
        for j in range(H):
            out[i, j] = (fn(theta + eye[i] + eye[j]) - fn(theta + eye[i] - eye[j]) - fn(theta - eye[i] + eye[j])
                         + fn(theta - eye[i] - eye[j])) / (4 * h * h)
    return out


@pytest.mark.parametrize("fixed", [(), ("noise",)])
def test_laplace_draws_have_the_inverse_hessian_as_covariance_and_the_map_first(fixed):
    """All free: covariance H^-1; the noise held at the MAP: the conditional covariance, the
    inverse of H's block of the others, and the noise the same in every draw."""
    X, y = _data(30, seed=2)
    y = y + 0.5 * torch.randn(30, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    opt = bo.BayesOpt(BOX, kernel="matern52")      # noisy data: the noise is correlated with the others,
    opt.observe(X, y)                              # so the conditional and the marginal covariance differ
    post = fit_map(opt.model(), seed=0)
    theta = log_hypers(post)
    draws = laplace_posterior(post, num_samples=20001, seed=1, max_std=100.0, fixed=fixed)
    th = torch.stack([draws.samples[h].log() for h in post.gp.hyper_names], -1)          # (S, H)
    assert th.shape == (20001, theta.numel())
    assert torch.equal(th[0], theta)                                                      # the MAP point first
    free = torch.tensor([h not in fixed for h in post.gp.hyper_names])
    assert torch.equal(th[:, ~free], theta[~free].expand(20001, -1))
    cov = torch.cov(th[1:, free].T)
    H = _numeric_hessian(lambda t: float(post.gp.potential(t)), theta)
    expected = torch.linalg.inv(H[free][:, free])
    assert torch.allclose(th[1:].mean(0), theta, atol=0.05)
    assert torch.allclose(cov, expected, atol=0.03 * float(expected.diagonal().max()))


def test_laplace_draws_spread_at_most_max_std_and_one_sample_is_the_map():
    X, y = _data(4, seed=0)                     # four points: the lengthscales are hardly identified
    opt = bo.BayesOpt(BOX, kernel="rbf")
    opt.observe(X, y)
    post = fit_map(opt.model(), seed=0)
    assert laplace_posterior(post, num_samples=1) is post
    for cap in (0.3, 1.0):
        draws = laplace_posterior(post, num_samples=4001, seed=0, max_std=cap)
        th = torch.stack([draws.samples[h].log() for h in post.gp.hyper_names], -1)
        assert float(th.std(0).max()) <= cap * 1.05
    unclamped = laplace_posterior(post, num_samples=4001, seed=0, max_std=1e3)
    th = torch.stack([unclamped.samples[h].log() for h in post.gp.hyper_names], -1)
    assert float(th.std(0).max()) > 1.0                                   # the cap is what held them above


def test_bo_averages_over_laplace_draws_by_default_and_map_keeps_one_point():
    X, y = _data(8, seed=2)
    sizes = {}
    for hyp, kw in [("laplace", {}), ("laplace", {"laplace_samples": 5}), ("map", {})]:
        opt = bo.BayesOpt(BOX, hyperparameters=hyp, seed=0, **kw)
        opt.observe(X, y)
        opt.suggest()
        samples = opt.last["posterior"].samples
        sizes[(hyp, kw.get("laplace_samples"))] = samples["noise"].shape[0]
        if hyp == "laplace":                     # the kernel's hyperparameters drawn, the noise at its MAP value
            assert torch.all(samples["noise"] == samples["noise"][0])
            assert float(samples["lengthscale_0"].std()) > 0
    assert sizes == {("laplace", None): 16, ("laplace", 5): 5, ("map", None): 1}
    assert bo.BayesOpt(BOX).hyperparameters == "laplace"
    with pytest.raises(ValueError, match="laplace_samples"):
        bo.BayesOpt(BOX, laplace_samples=0)
