import math

import pyro
import pyro.distributions as dist
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import pyroml
from pyroml.infer import elbo_per_example
from tests.conftest import MNIST_D, MNIST_SHAPE, mnist_images
from tests.models.factories import random_gmm


@given(batch=st.integers(1, 8), k=st.integers(1, 5))
def test_gmm_shapes_and_elbo_equals_exact_loglik(batch, k):
    m = random_gmm(k)
    x = mnist_images(batch)
    r = m.encode(x)
    assert r.shape == (batch, k) and torch.allclose(r.sum(-1), torch.ones(batch))
    assert m.decode(torch.eye(k)).shape == (k, *MNIST_SHAPE)
    assert m.reconstruct(x).shape == m.reconstruct(x, sample=True).shape == x.shape
    assert m.sample(batch).shape == (batch, *MNIST_SHAPE)
    ll = float(m.log_likelihood(x).mean())
    assert elbo_per_example(m, x) == pytest.approx(ll, rel=1e-4, abs=1e-2)


@given(k=st.integers(1, 5), n=st.integers(1, 7))
def test_gmm_decode_takes_indices_or_one_hot(k, n):
    m = pyroml.GMM(n_components=k)
    idx = torch.randint(k, (n,))
    by_index = m.decode(idx)
    assert by_index.shape == (n, *MNIST_SHAPE)
    assert torch.allclose(by_index, m.decode(torch.nn.functional.one_hot(idx, k).float()))
    assert torch.equal(by_index.reshape(n, -1), m.means.detach()[idx])


def test_gmm_loglik_matches_elementwise_reference():
    m = random_gmm(3)
    x = mnist_images(4)
    flat = x.reshape(4, -1)
    comp = dist.Normal(m.means, m.variances.sqrt()).log_prob(flat[:, None, :]).sum(-1)  # (B, K, D) reference
    ref = torch.logsumexp(comp + torch.log_softmax(m.logits, -1), -1)
    assert torch.allclose(m.log_likelihood(x), ref, rtol=1e-5, atol=1e-2)


def test_gmm_variance_floor_and_kmeanspp_init():
    torch.manual_seed(0)
    x = mnist_images(200)
    x[:, :, :3, :] = 0.0                      # constant border, like MNIST's
    m = pyroml.GMM(n_components=4, var_floor=0.01)
    pyroml.fit(m, x, epochs=10, batch_size=50, lr=0.1, progress=False)
    assert bool(m.initialized)
    assert bool((m.variances >= torch.tensor(0.01)).all())     # 0.01 in float32
    # the floor is hard, as in EM: the constant border's variances sit on it exactly
    border = m.variances.detach().reshape(4, *MNIST_SHAPE)[:, :, :3, :]
    assert torch.allclose(border, torch.full_like(border, 0.01), rtol=1e-6, atol=0)
    assert float(m.log_var.min()) == pytest.approx(math.log(0.01), abs=1e-7)
    test = mnist_images(5)                    # border pixels no longer zero
    assert torch.isfinite(m.log_likelihood(test)).all()


def test_gmm_variance_leaves_the_floor_when_the_data_ask():
    """On the floor (s == log v_min) the gradient still reaches s, so a variance the data push
    up leaves it: the projection keeps the parameter alive, unlike a clamp in the forward pass."""
    x = mnist_images(64)                      # pixel variance 1/12, far above the floor
    m = pyroml.GMM(n_components=2, var_floor=0.01)
    m.init_from_data(x)
    with torch.no_grad():
        m.log_var.fill_(math.log(0.01))
    with pyro.settings.context(module_local_params=True):
        loss = m.elbo().differentiable_loss(m.model, m.guide, x)
    grad, = torch.autograd.grad(loss, m.log_var)
    assert bool((grad < 0).all())             # every variance wants to grow
    pyroml.fit(m, x, epochs=2, batch_size=64, lr=0.1, progress=False)
    assert bool((m.variances > 0.01 * 1.1).all())


def test_gmm_loads_a_soft_floor_checkpoint():
    """State dicts written before the hard floor hold ``rho`` with v = v_min + softplus(rho)."""
    m = random_gmm(3)
    old = {k: v for k, v in m.state_dict().items() if k != "log_var"}
    old["rho"] = torch.randn(3, MNIST_D)
    fresh = pyroml.GMM(n_components=3)
    fresh.load_state_dict(old)
    assert torch.allclose(fresh.variances, 0.01 + torch.nn.functional.softplus(old["rho"]), rtol=1e-5)


def test_gmm_init_picks_data_points():
    x = mnist_images(50)
    m = pyroml.GMM(n_components=5)
    m.init_from_data(x)
    flat = x.reshape(50, -1)
    assert all(((flat - mu).abs().sum(-1) < 1e-5).any() for mu in m.means)


@pytest.mark.parametrize("kwargs", [{"n_components": 0}, {"var_floor": 0.0}, {"var_floor": -1}])
def test_gmm_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        pyroml.GMM(**kwargs)
