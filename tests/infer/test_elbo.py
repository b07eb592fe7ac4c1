import pyro
import pyro.distributions as dist
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from pyro.infer import TraceMeanField_ELBO

import pyroml
from pyroml.infer import DataScale, LeanTraceMeanField_ELBO
from tests.conftest import MNIST_SHAPE, mnist_images


def _loss_and_grads(elbo, m, x, scale):
    s = DataScale(scale)
    m.zero_grad()
    pyro.set_rng_seed(0)
    loss = elbo.differentiable_loss(s(m.model), s(m.guide), x)
    loss.backward()
    return float(loss), [p.grad.clone() for p in m.parameters()]


@given(batch=st.integers(1, 6), latent=st.integers(1, 4), scale=st.floats(1.0, 50.0))
def test_lean_elbo_matches_trace_mean_field(batch, latent, scale):
    m = pyroml.VAE(latent_dim=latent, hidden=(16,), event_shape=MNIST_SHAPE)
    x = mnist_images(batch)
    with pyro.validation_enabled(False):
        lean, g_lean = _loss_and_grads(LeanTraceMeanField_ELBO(), m, x, scale)
    stock, g_stock = _loss_and_grads(TraceMeanField_ELBO(), m, x, scale)
    assert lean == pytest.approx(stock, rel=1e-5)
    assert all(torch.allclose(a, b, rtol=1e-4, atol=1e-5) for a, b in zip(g_lean, g_stock))


def test_lean_elbo_falls_back_without_analytic_kl():
    def model(x):
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Cauchy(0.0, 1.0))  # no KL(Normal || Cauchy) is registered
            pyro.sample("x", dist.Normal(z, 1.0), obs=x)

    def guide(x):
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.Normal(0.5, 2.0))

    x = torch.randn(5)
    with pyro.validation_enabled(False):
        pyro.set_rng_seed(1)
        lean = LeanTraceMeanField_ELBO().differentiable_loss(model, guide, x)
        pyro.set_rng_seed(1)
        stock = TraceMeanField_ELBO().differentiable_loss(model, guide, x)
    assert float(lean) == pytest.approx(float(stock), rel=1e-5)
