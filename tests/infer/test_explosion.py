"""The explosion guard (issue 15, item 1): a finite loss running off by orders of magnitude stops
training with a clear message, before the step; on by default (``explosion=100``), off with None."""

import pytest
import torch

import pyroml
from pyroml.infer.guard import ExplosionGuard
from tests.conftest import mnist_images


def test_a_learning_rate_far_too_large_is_stopped_by_default():
    x = mnist_images(256)
    model = pyroml.VAE(hidden=(32,), decoder_hidden=(32,))
    with pytest.raises(FloatingPointError, match="explosion=100 times the first loss") as err:
        pyroml.fit(model, x, epochs=20, batch_size=32, lr=1e3, progress=False)
    assert "lower lr" in str(err.value) and "explosion=None" in str(err.value)
    assert all(bool(torch.isfinite(p).all()) for p in model.parameters())


def test_none_switches_it_off():
    x = mnist_images(128)
    h = pyroml.fit(pyroml.VAE(hidden=(32,), decoder_hidden=(32,)), x, epochs=2, batch_size=32, lr=1e3,
                   progress=False, explosion=None)
    assert max(h.step_loss) > 1e6  # ran off, as asked


def test_quiet_on_a_healthy_run():
    h = pyroml.fit(pyroml.VAE(hidden=(32,), decoder_hidden=(32,)), mnist_images(256), epochs=2, batch_size=32,
                   progress=False, explosion=2)
    assert len(h.step_loss) == 16


def test_only_a_rise_above_the_best_level_counts():
    guard = ExplosionGuard(10.0)
    guard.check(500.0, 0, 0)  # the first loss sets the scale: 500
    for step in range(1, 60):
        guard.check(100.0, 0, step)  # the level falls towards 100
    guard.check(4000.0, 0, 60)  # 100 + 3900 < 100 + 10 * 500: allowed
    with pytest.raises(FloatingPointError, match="step 62"):
        guard.check(5200.0, 0, 61)
    falling = ExplosionGuard(10.0)  # an ELBO far above zero (real-valued data) is no explosion
    for step, loss in enumerate([50.0, -1e3, -1e5, -1e7]):
        falling.check(loss, 0, step)
    ExplosionGuard(None).check(1e30, 0, 0)  # off


@pytest.mark.parametrize("bad", [1.0, 0.5, -3, float("nan"), "big"])
def test_bad_explosion_factor_is_refused_before_any_work(bad):
    model = pyroml.VAE(hidden=(8,))
    with pytest.raises(ValueError, match="explosion"):
        pyroml.fit(model, mnist_images(8), epochs=1, progress=False, explosion=bad)
    assert model._event_shape is None
