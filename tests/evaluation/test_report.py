import json
import math

import pytest
import torch

import pyroml
from pyroml.data import Dataset
from tests.conftest import MNIST_SHAPE, mnist_images


def test_report_fields_and_json(tmp_path):
    x = mnist_images(50)
    m = pyroml.VAE(hidden=(16,), event_shape=MNIST_SHAPE)
    r = pyroml.evaluate(m, Dataset(x, torch.arange(50) % 10), iwae_k=10, batch_size=16)
    assert r.n == 50 and r.elbo_particles == 1 and r.iwae_k == 10 and r.log_likelihood_method == "iwae"
    assert r.latents.shape == (50, 2) and r.labels.shape == (50,)
    assert math.isfinite(r.elbo) and r.log_likelihood >= r.elbo - 1.0
    assert 0 < r.mse < 1 and 0 < r.mse_sample < 1
    r.save_json(tmp_path / "r.json")
    d = json.loads((tmp_path / "r.json").read_text())
    assert d["elbo"] == r.elbo and "latents" not in d
    assert "iwae" in str(r)


def test_evaluate_is_batch_size_invariant():
    x = mnist_images(30)
    m = pyroml.VAE(hidden=(16,), event_shape=MNIST_SHAPE)
    a = pyroml.evaluate(m, x, iwae_k=None, batch_size=7)
    b = pyroml.evaluate(m, x, iwae_k=None, batch_size=30)
    assert abs(a.mse - b.mse) < 1e-6
    assert torch.allclose(a.latents, b.latents, atol=1e-6)
    assert a.log_likelihood is None


def test_evaluate_rejects_bad_data():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        pyroml.evaluate(pyroml.VAE(hidden=(8,), event_shape=MNIST_SHAPE), mnist_images(4) * 255)
