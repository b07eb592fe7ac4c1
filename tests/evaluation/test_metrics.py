import math

import pytest
import torch

import pyroml
from pyroml.evaluation import bits_per_dim, dequantise, iwae_bound
from pyroml.infer import elbo_per_example
from tests.conftest import MNIST_D, MNIST_SHAPE, mnist_images


def test_iwae_bound_above_elbo_after_training():
    torch.manual_seed(0)
    # toy data: two prototypes plus noise, so a 2-d VAE can learn something quickly
    protos = mnist_images(2)
    x = (protos[torch.arange(200) % 2] + 0.1 * torch.randn(200, *MNIST_SHAPE)).clamp(0, 1)
    m = pyroml.VAE(hidden=(64,))
    pyroml.fit(m, x, epochs=5, batch_size=50, lr=3e-3, progress=False)
    elbo = elbo_per_example(m, x, num_particles=20)
    iw = iwae_bound(m, x, k=50).mean().item()
    assert iw >= elbo - 0.05, (iw, elbo)
    # and the bound tightens with K on average
    assert iwae_bound(m, x, k=200).mean().item() >= iwae_bound(m, x, k=2).mean().item() - 0.05


def test_bits_per_dim_of_the_uniform_density_is_eight():
    # the uniform density on [0, 1]^D has log p = 0: 8 bits per 8-bit pixel
    assert bits_per_dim(0.0, MNIST_D) == pytest.approx(8.0)
    assert bits_per_dim(MNIST_D * math.log(2.0), MNIST_D) == pytest.approx(7.0)


def test_dequantise_stays_in_the_pixel_bin():
    x = torch.randint(0, 256, (5, *MNIST_SHAPE)).float() / 255
    u = dequantise(x, seed=1)
    assert u.min() > 0 and u.max() < 1
    assert torch.equal((u * 256).floor(), (x * 255).round())
    assert torch.equal(u, dequantise(x, seed=1))


def test_iwae_bound_is_the_log_mean_of_the_weights_not_their_mean():
    """L_K = log (1/K) sum_k w_k, which exceeds the mean log weight (Jensen) whenever the weights vary."""
    from pyroml.evaluation import iwae_log_weights

    m = pyroml.VAE(hidden=(16,), decoder_hidden=(16,), event_shape=(1, 8, 8))
    x = torch.rand(6, 1, 8, 8)
    torch.manual_seed(3)
    logw = iwae_log_weights(m, x, 40)                                     # (K, N)
    torch.manual_seed(3)
    bound = iwae_bound(m, x, k=40)
    assert torch.allclose(bound, torch.logsumexp(logw, 0) - math.log(40), atol=1e-4)
    assert (bound > logw.mean(0) + 1e-3).all()                           # strictly above the mean log weight
