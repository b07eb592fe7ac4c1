"""The GP's working scales: unit-cube inputs, standardised targets, predictions on the original scale."""

import pytest
import torch

from pyroml.gp import GP, kernel_matrix
from pyroml.gp.transforms import Standardize, UnitCube, as_bounds
from tests.gp.helpers import RAW, data


def test_round_trips():
    X = torch.tensor([[3.0, -2.0], [5.0, -2.0], [4.0, -2.0]], dtype=torch.float64)
    t = UnitCube.from_data(X)
    assert torch.allclose(t.inverse(t.forward(X)), X) and t.forward(X).min() == 0 and t.forward(X)[:, 0].max() == 1
    assert t.width[1] == 1.0                                             # no spread: width 1, not 0
    b = UnitCube.from_bounds([[0.0, -10.0], [10.0, 10.0]])
    assert torch.allclose(b.forward(X), torch.tensor([[0.3, 0.4], [0.5, 0.4], [0.4, 0.4]], dtype=torch.float64))
    y = torch.tensor([1e-6, 3e-6, 2e-6], dtype=torch.float64)
    s = Standardize.from_data(y)
    z = s.forward(y)
    assert abs(float(z.mean())) < 1e-12 and float(z.std()) == pytest.approx(1.0)
    assert torch.allclose(s.inverse_mean(z), y, rtol=1e-12) and float(s.inverse_variance(torch.tensor(1.0))) == \
        pytest.approx(1e-12)
    assert Standardize.from_data(torch.ones(4, dtype=torch.float64)).scale == 1.0
    with pytest.raises(ValueError, match="strictly below"):
        as_bounds([[0.0, 1.0], [1.0, 1.0]])
    with pytest.raises(ValueError, match="cover 2 dimensions"):
        as_bounds([[0.0, 1.0], [1.0, 2.0]], d=3)


def test_predictions_on_the_original_scale_equal_the_closed_form_on_the_working_scale():
    X, y = data(d=2)
    X, y = 10 * X + 5, 1e3 * y - 7
    gp = GP(X, y, kernel="matern52", noise=2e4, bounds=[[-5.0, -5.0], [15.0, 15.0]])
    assert gp.hyper_names == ["lengthscale_0", "lengthscale_1", "variance"]
    h = {"lengthscale_0": 0.3, "lengthscale_1": 0.6, "variance": 1.2}
    sy = float(y.std())
    Z, zy = (X + 5) / 20, (y - y.mean()) / sy
    Xs = torch.rand(7, 2, dtype=torch.float64) * 20 - 5
    Zs = (Xs + 5) / 20
    ht = {k: torch.tensor(v, dtype=torch.float64) for k, v in h.items()}
    K = kernel_matrix("matern52", Z, Z, ht) + (2e4 / sy ** 2 + gp.jitter) * torch.eye(6, dtype=torch.float64)
    Ks = kernel_matrix("matern52", Z, Zs, ht)
    mean = Ks.T @ torch.linalg.solve(K, zy)
    var = 1.2 - (Ks * torch.linalg.solve(K, Ks)).sum(0)
    m, v = gp.predict(Xs, {k: torch.tensor([x], dtype=torch.float64) for k, x in h.items()}, noiseless=True)
    assert torch.allclose(m, y.mean() + sy * mean, rtol=1e-9) and torch.allclose(v, sy ** 2 * var, rtol=1e-8)
    _, vn = gp.predict(Xs, {k: torch.tensor([x], dtype=torch.float64) for k, x in h.items()})
    assert torch.allclose(vn - v, torch.full_like(v, 2e4))                # noise back in y's units


def test_tiny_targets_are_fitted_by_default_and_warned_about_without_standardising():
    X = torch.linspace(0, 1, 12, dtype=torch.float64)[:, None]
    y = 1e-6 * (torch.sin(6 * X[:, 0]) + 2)
    gp = GP(X, y, kernel="matern52")
    assert gp.hyper_names == ["lengthscale", "variance", "noise"]        # noise learned by default
    m, _ = gp.map_estimate(seed=0).predict(X)
    assert ((m - y).abs() / y.abs()).max() < 0.03
    with pytest.warns(UserWarning, match="standardize=False"):
        GP(X, y, **RAW)


def test_noiseless_fixes_the_noise_and_ard_is_the_default_above_one_dimension():
    X, y = data(d=3)
    assert GP(X, y, noiseless=True).hyper_names == ["lengthscale_0", "lengthscale_1", "lengthscale_2", "variance"]
    assert GP(X, y, noiseless=True).noise == 1e-6
    assert GP(X, y, ard=False).hyper_names == ["lengthscale", "variance", "noise"]
    post = GP(X, y, kernel="periodic").fit("map", steps=5)             # the SVI path with ARD lengthscales
    assert set(post.samples) == {"lengthscale_0", "lengthscale_1", "lengthscale_2", "variance", "period", "noise"}
