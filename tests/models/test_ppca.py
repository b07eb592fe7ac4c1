import pyro
import pyro.distributions as dist
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import pyroml
from pyroml.infer import elbo_per_example
from tests.conftest import MNIST_D, MNIST_SHAPE, mnist_images
from tests.models.factories import random_ppca


@given(batch=st.integers(1, 8), q=st.integers(1, 4))
def test_ppca_shapes_and_elbo_equals_exact_loglik(batch, q):
    m = random_ppca(q)
    x = mnist_images(batch)
    assert m.encode(x).shape == (batch, q)
    assert m.decode(torch.randn(batch, q)).shape == (batch, *MNIST_SHAPE)
    assert m.reconstruct(x).shape == m.reconstruct(x, sample=True).shape == x.shape
    assert m.sample(batch).shape == (batch, *MNIST_SHAPE)
    ll = float(m.log_likelihood(x).mean())
    assert elbo_per_example(m, x) == pytest.approx(ll, abs=1e-3 * max(1.0, abs(ll)))


class _ShiftedGuidePPCA(pyroml.PPCA):
    """PPCA whose guide is the exact posterior shifted by 0.5: a strictly worse q."""

    def guide(self, x):
        loc, tril = self._posterior(x)
        with pyro.plate("data", x.shape[0], dim=-1):
            pyro.sample("z", dist.MultivariateNormal(loc + 0.5, scale_tril=tril))


@given(batch=st.integers(2, 6), q=st.integers(1, 3))
def test_ppca_elbo_below_loglik_for_an_inexact_guide(batch, q):
    m = _ShiftedGuidePPCA(latent_dim=q, event_shape=MNIST_SHAPE)
    m.load_state_dict(random_ppca(q).state_dict())
    x = mnist_images(batch)
    assert elbo_per_example(m, x, num_particles=50) < float(m.log_likelihood(x).mean())


def test_ppca_closed_form_is_the_maximum():
    torch.manual_seed(0)
    z = torch.randn(500, 2)
    x = (z @ (0.2 * torch.randn(2, MNIST_D)) + 0.5 + 0.05 * torch.randn(500, MNIST_D)).reshape(500, *MNIST_SHAPE)
    best = pyroml.PPCA.closed_form(x)
    ll = float(best.log_likelihood(x).mean())
    for scale in (0.9, 1.1):
        other = pyroml.PPCA.closed_form(x)
        with torch.no_grad():
            other.W.mul_(scale)
        assert float(other.log_likelihood(x).mean()) < ll
    with torch.no_grad():
        best.log_sigma.add_(0.05)
    assert float(best.log_likelihood(x).mean()) < ll


def test_ppca_bad_arguments():
    for q in (0, MNIST_D, 2.0):
        with pytest.raises(ValueError):
            pyroml.PPCA(latent_dim=q, event_shape=MNIST_SHAPE)
    lazy = pyroml.PPCA(latent_dim=MNIST_D)  # latent_dim >= D is found when the data give D
    with pytest.raises(ValueError, match="smaller than the data dimension 784"):
        pyroml.fit(lazy, mnist_images(4), epochs=1, progress=False)
    assert not lazy.is_built


def test_ppca_svi_reaches_closed_form_on_real_mnist(mnist_dir):
    train, test = pyroml.data.load_mnist(mnist_dir)
    closed = float(pyroml.PPCA.closed_form(train.x).log_likelihood(test.x).mean())
    assert closed == pytest.approx(14.36, abs=0.01)
    d = pyroml.PPCA.fit_defaults
    m = pyroml.PPCA()
    pyroml.fit(m, train, epochs=d["epochs"], batch_size=d["batch_size"], lr=d["lr"],
               lr_schedule=d["lr_schedule"], progress=False)
    assert float(m.log_likelihood(test.x).mean()) > closed - 0.05
