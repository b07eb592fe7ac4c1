import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import pyroml
from pyroml.data import Dataset
from tests.conftest import MNIST_D, MNIST_SHAPE, mnist_images
from tests.infer.toys import Toy


def small_vae():
    return pyroml.VAE(hidden=(32,), event_shape=MNIST_SHAPE)


def test_training_lowers_the_loss():
    torch.manual_seed(0)
    x = (mnist_images(1) > 0.5).float().expand(256, *MNIST_SHAPE).clone()
    h = pyroml.fit(small_vae(), x, epochs=4, batch_size=64, lr=3e-3, progress=False)
    assert len(h.train_elbo) == 4 and len(h.step_loss) == 16
    assert h.train_elbo[-1] > h.train_elbo[0] + 50


def test_same_seed_same_trajectory():
    x = mnist_images(100)
    runs = []
    for _ in range(2):
        torch.manual_seed(123)  # different network init is fine: seed the init too
        m = small_vae()
        runs.append(pyroml.fit(m, x, epochs=2, batch_size=32, seed=7, progress=False).step_loss)
    assert runs[0] == runs[1]
    torch.manual_seed(123)
    other = pyroml.fit(small_vae(), x, epochs=2, batch_size=32, seed=8, progress=False).step_loss
    assert other != runs[0]


def test_validation_history():
    x = mnist_images(60)
    h = pyroml.fit(small_vae(), x[:40], epochs=2, batch_size=16, validation=x[40:], progress=False)
    assert len(h.val_elbo) == 2 and all(math.isfinite(v) for v in h.val_elbo)


def test_nan_loss_stops_with_epoch_and_step_and_keeps_finite_state():
    m = Toy(nan_after=5)
    with pytest.raises(FloatingPointError, match=r"epoch 2, step 3"):
        pyroml.fit(m, torch.randn(12, 3), epochs=3, batch_size=4, lr=0.1, progress=False)
    assert torch.isfinite(m.mu).all() and m.mu.abs().sum() > 0


BAD = [
    (torch.rand(10, MNIST_D), ValueError, "reshape"),
    (mnist_images(10) * 255, ValueError, "divide by 255"),
    (torch.full((10, *MNIST_SHAPE), float("nan")), ValueError, "NaN"),
    (mnist_images(0), ValueError, "empty"),
    (torch.randint(0, 2, (10, *MNIST_SHAPE)), TypeError, "floating-point"),
    ([[0.0]], TypeError, "Tensor"),
]


@pytest.mark.parametrize("x,err,msg", BAD, ids=["flat", "0-255", "nan", "empty", "int", "list"])
def test_bad_input_raises_before_training(x, err, msg):
    m = small_vae()
    before = {k: v.clone() for k, v in m.state_dict().items()}
    with pytest.raises(err, match=msg):
        pyroml.fit(m, x, epochs=1, progress=False)
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())


@given(lo=st.floats(-10, -1e-3), hi=st.floats(1.001, 300))
def test_out_of_range_pixels_rejected(lo, hi):
    x = mnist_images(4)
    x[0, 0, 0, 0], x[1, 0, 0, 0] = lo, hi
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        pyroml.fit(small_vae(), x, epochs=1, progress=False)


def test_bad_labels_and_arguments():
    with pytest.raises(ValueError, match="differ in length"):
        pyroml.fit(small_vae(), Dataset(mnist_images(5), torch.zeros(3)), epochs=1)
    for kw in ({"epochs": -1}, {"batch_size": 0}, {"lr": 0.0}, {"resume": True}):
        with pytest.raises(ValueError):
            pyroml.fit(small_vae(), mnist_images(5), progress=False, **kw)
    with pytest.raises(ValueError, match="validation"):
        pyroml.fit(small_vae(), mnist_images(5), validation=torch.rand(5, MNIST_D), progress=False)
