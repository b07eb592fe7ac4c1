"""BO's output warp (Yeo-Johnson), the leave-one-out kernel choice, and how the loop uses them."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from pyroml import bo
from pyroml.bo.fit import AUTO_KERNELS, fit_map, fit_select, loo_log_predictive
from pyroml.bo.warp import YeoJohnson, yeo_johnson
from pyroml.gp import GP

BOX = torch.tensor([[-2.0, 0.0], [2.0, 3.0]], dtype=torch.float64)


def _data(n=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = BOX[0] + (BOX[1] - BOX[0]) * torch.rand(n, 2, generator=g, dtype=torch.float64)
    return X, torch.sin(2 * X[:, 0]) + (X[:, 1] - 1) ** 2


@given(st.lists(st.floats(-50, 50), min_size=3, max_size=20), st.sampled_from([0.0, 0.3, 0.5, 1.0]))
def test_the_warp_is_increasing_and_its_inverse_undoes_it(values, lam):
    y = torch.tensor(values, dtype=torch.float64)
    warp = YeoJohnson(float(y.mean()), 2.5, lam)
    w = warp(y)
    order = y.argsort()
    assert (w[order].diff() >= -1e-12).all()                                 # monotone: the incumbent keeps its place
    assert torch.allclose(warp.inverse(w), y, atol=1e-8 * (1 + y.abs().max()))


def test_yeo_johnson_matches_its_formula_and_is_the_identity_at_one():
    u = torch.tensor([-2.0, -0.5, 0.0, 0.7, 3.0], dtype=torch.float64)
    assert torch.allclose(yeo_johnson(u, 1.0), u)
    lam = 0.5
    expect = torch.where(u >= 0, ((1 + u) ** lam - 1) / lam, -((1 - u) ** (2 - lam) - 1) / (2 - lam))
    assert torch.allclose(yeo_johnson(u, lam), expect)
    assert torch.allclose(yeo_johnson(u, 0.0)[u >= 0], torch.log1p(u[u >= 0]))


def test_the_fitted_warp_compresses_a_long_upper_tail_and_leaves_a_symmetric_sample():
    g = torch.Generator().manual_seed(0)
    skewed = torch.randn(40, generator=g, dtype=torch.float64).exp() ** 3           # a few huge values
    sym = torch.linspace(-1, 1, 41, dtype=torch.float64)
    assert YeoJohnson.fit(skewed).lam < 0.5
    assert YeoJohnson.fit(sym).lam == 1.0
    assert YeoJohnson.fit(torch.tensor([1.0, 1.0, 2.0], dtype=torch.float64)).lam == 1.0   # too few distinct values


def test_loo_log_predictive_equals_refitting_without_each_point():
    X, y = _data(8)
    model = GP(X, y, kernel="matern52", bounds=BOX)
    post = fit_map(model, seed=0, constant_mean=False)
    total = 0.0
    for i in range(8):
        keep = torch.arange(8) != i
        sub = GP(X[keep], y[keep], kernel="matern52", bounds=BOX)
        sub.output_transform, sub.yt = model.output_transform, model.yt[keep]          # the same working scale
        c = sub.conditional(X[i:i + 1], post.samples)
        noise = float(post.samples["noise"]) + model.jitter                      # on the working scale
        var = float(c.var) / model.output_transform.scale ** 2 + noise
        mu = (float(c.mean) - model.output_transform.shift) / model.output_transform.scale
        total += -0.5 * math.log(2 * math.pi * var) - 0.5 * (float(model.yt[i]) - mu) ** 2 / var
    assert loo_log_predictive(model, post.samples) == pytest.approx(total, rel=1e-6)


def test_fit_select_keeps_the_kernel_that_predicts_held_out_points_best():
    X, y = _data(10)
    models = [GP(X, y, kernel=k, bounds=BOX) for k in AUTO_KERNELS]
    state = {}
    chosen, _ = fit_select(models, state, seed=0)
    scores = [loo_log_predictive(m, fit_map(GP(X, y, kernel=m.kernel_name, bounds=BOX), seed=0).samples)
              for m in models]
    assert chosen is models[max(range(2), key=lambda i: scores[i])]
    assert set(state) == set(AUTO_KERNELS)                                   # each kernel's estimate kept
    alone, _ = fit_select(models[:1], {}, seed=0)
    assert alone is models[0]


def test_the_loop_warps_by_default_and_not_with_a_fixed_noise():
    X, y = _data()
    y = y.exp() ** 2                                                          # skewed values
    opt = bo.BayesOpt(BOX)
    opt.observe(X, y)
    opt.suggest()
    assert opt.last["warp"] is not None and opt.last["warp"].lam < 1.0
    assert opt.last["kernel"] in AUTO_KERNELS
    assert torch.allclose(opt.last["model"].y, opt.last["warp"](y))
    fixed = bo.BayesOpt(BOX, noise=1e-4, kernel="rbf")
    fixed.observe(X, y)
    fixed.suggest()
    assert fixed.last["warp"] is None and fixed.last["kernel"] == "rbf"
    assert torch.allclose(fixed.last["model"].y, y)


def test_the_recorded_1d_trace_is_in_the_units_of_y():
    def f(x):
        return torch.exp(3 * x[:, 0]) + x[:, 0]
    res = bo.minimize(f, (0.0, 1.0), iterations=2, seed=0)
    t = res.trace[-1]
    assert torch.allclose(t["Y_before"], res.Y[:t["X_before"].numel()])
    grid, mean = t["candidates"], t["gp_mean"]
    near = [int((grid - x).abs().argmin()) for x in t["X_before"]]
    assert torch.allclose(mean[near], f(grid[near][:, None]), rtol=0.1, atol=0.1)     # interpolates y, not its warp
