"""The optional explosion guard (issue 15, item 1): a finite loss growing by orders of magnitude
stops training with a clear message, before the step; off by default."""

import pytest
import torch

import pyroml
from pyroml.infer.guard import WARMUP, ExplosionGuard
from tests.conftest import mnist_images


def test_a_learning_rate_far_too_large_is_stopped():
    x = mnist_images(256)
    model = pyroml.VAE(hidden=(32,), decoder_hidden=(32,))
    with pytest.raises(FloatingPointError, match="explosion=100 times the lowest level") as err:
        pyroml.fit(model, x, epochs=20, batch_size=32, lr=1e3, progress=False, explosion=100)
    assert "lower lr" in str(err.value)
    assert all(bool(torch.isfinite(p).all()) for p in model.parameters())


def test_off_by_default_and_quiet_on_a_healthy_run():
    x = mnist_images(256)
    h = pyroml.fit(pyroml.VAE(hidden=(32,), decoder_hidden=(32,)), x, epochs=2, batch_size=32, progress=False,
                   explosion=10)
    assert len(h.step_loss) == 16


def test_the_guard_compares_with_the_lowest_level_reached():
    guard = ExplosionGuard(10.0)
    for step in range(WARMUP + 5):
        guard.check(100.0 - step, 0, step)  # a falling loss sets the level near 90
    guard.check(800.0, 0, 50)  # 8x: allowed
    with pytest.raises(FloatingPointError, match="step 52"):
        guard.check(2000.0, 0, 51)
    tiny = ExplosionGuard(10.0)  # losses near 0: the level is at least 1 nat
    for step in range(WARMUP + 1):
        tiny.check(1e-3, 0, step)
    tiny.check(9.0, 0, 20)
    ExplosionGuard(None).check(1e30, 0, 0)  # off


@pytest.mark.parametrize("bad", [1.0, 0.5, -3, float("nan"), "big"])
def test_bad_explosion_factor_is_refused_before_any_work(bad):
    model = pyroml.VAE(hidden=(8,))
    with pytest.raises(ValueError, match="explosion"):
        pyroml.fit(model, mnist_images(8), epochs=1, progress=False, explosion=bad)
    assert model._event_shape is None
