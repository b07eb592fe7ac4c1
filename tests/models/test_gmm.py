import math

import pyro
import pyro.distributions as dist
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import pyroml
from pyroml.infer import elbo_per_example
from tests.conftest import MNIST_D, MNIST_SHAPE, mnist_images, structured_data
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
    m = pyroml.GMM(n_components=k, event_shape=MNIST_SHAPE)
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
    assert float(m.log_var.detach().min()) == pytest.approx(math.log(0.01), abs=1e-7)
    test = mnist_images(5)                    # border pixels no longer zero
    assert torch.isfinite(m.log_likelihood(test)).all()


def test_gmm_variance_leaves_the_floor_when_the_data_ask():
    """On the floor (s == log v_min) the gradient still reaches s, so a variance the data push
    up leaves it: the projection keeps the parameter alive, unlike a clamp in the forward pass."""
    x = mnist_images(64)                      # pixel variance 1/12, far above the floor
    m = pyroml.GMM(n_components=2, var_floor=0.01, event_shape=MNIST_SHAPE)
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
    old = {k: v for k, v in m.state_dict().items() if k not in ("log_var", "_log_floor")}
    old["rho"] = torch.randn(3, MNIST_D)
    fresh = pyroml.GMM(n_components=3, var_floor=0.01, event_shape=MNIST_SHAPE)  # such checkpoints hold 0.01
    fresh.load_state_dict(old)
    assert torch.allclose(fresh.floor, torch.full((MNIST_D,), 0.01))
    assert torch.allclose(fresh.variances, 0.01 + torch.nn.functional.softplus(old["rho"]), rtol=1e-5)


def test_gmm_init_picks_data_points():
    x = mnist_images(50)
    m = pyroml.GMM(n_components=5, event_shape=MNIST_SHAPE)
    m.init_from_data(x)
    flat = x.reshape(50, -1)
    assert all(((flat - mu).abs().sum(-1) < 1e-5).any() for mu in m.means)


@pytest.mark.parametrize("kwargs", [{"n_components": 0}, {"var_floor": 0.0}, {"var_floor": -1}])
def test_gmm_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        pyroml.GMM(**kwargs)


# ---- the variance floor scales with the data ------------------------------------------------------

def _real_table(n=400, seed=0):
    """Five real-valued features on very different scales, away from [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    return 50.0 + torch.randn(n, 5, generator=g) * torch.tensor([0.01, 0.5, 3.0, 40.0, 1000.0])


def test_gmm_floor_is_unset_before_the_data_and_fixed_by_an_explicit_var_floor():
    assert pyroml.GMM().var_floor is None and pyroml.GMM().get_config()["var_floor"] is None
    assert bool(torch.isnan(pyroml.GMM(event_shape=(5,)).floor).all())        # set from the data at fit
    m = pyroml.GMM(n_components=2, var_floor=0.3, event_shape=(5,))
    assert torch.allclose(m.floor, torch.full((5,), 0.3))
    assert m.get_config()["var_floor"] == 0.3


@pytest.mark.parametrize("shape", [(5,), (1, 8, 8)], ids=["table", "image"])
def test_gmm_floor_on_unit_interval_data_is_001_everywhere(shape):
    x = structured_data(100, shape)                       # in (0, 1)
    m = pyroml.GMM(n_components=3)
    pyroml.fit(m, x, epochs=2, batch_size=50, progress=False)
    assert m.floor.shape == (int(torch.Size(shape).numel()),)
    assert torch.allclose(m.floor, torch.full_like(m.floor, 0.01), rtol=1e-6)
    assert bool((m.variances >= m.floor * (1 - 1e-6)).all())


def test_gmm_floor_on_real_data_is_a_tenth_of_each_features_sd_squared():
    x = _real_table()
    m = pyroml.GMM(n_components=3)
    pyroml.fit(m, x, epochs=3, batch_size=100, progress=False)
    expected = (0.1 * x.std(0)) ** 2
    assert torch.allclose(m.floor, expected, rtol=1e-2)    # (unbiased or not: 0.25% apart at N = 400)
    assert float(m.floor.max() / m.floor.min()) > 1e9       # per feature, not one number
    assert bool((m.variances >= m.floor * (1 - 1e-5)).all())   # the hard floor, per feature
    assert torch.isfinite(m.log_likelihood(_real_table(seed=1))).all()


@pytest.mark.parametrize("data", ["unit", "real"])
def test_gmm_explicit_var_floor_is_honoured_on_any_data(data):
    x = structured_data(100, (5,)) if data == "unit" else _real_table(100)
    m = pyroml.GMM(n_components=2, var_floor=0.5)
    pyroml.fit(m, x, epochs=2, batch_size=50, progress=False)
    assert torch.allclose(m.floor, torch.full((5,), 0.5), rtol=1e-6)
    assert bool((m.variances >= 0.5 * (1 - 1e-6)).all())


def test_gmm_constant_feature_takes_the_pooled_floor():
    x = _real_table(200)
    x[:, 2] = 7.0                                            # constant in the training data
    m = pyroml.GMM(n_components=2)
    m.adapt_to_data(x)
    m.init_from_data(x)
    var = x.var(0)
    assert float(m.floor[2]) > 0 and math.isfinite(float(m.floor[2]))
    assert float(m.floor[2]) == pytest.approx(0.01 * float(var.mean()), rel=1e-2)   # the pooled variance
    others = [0, 1, 3, 4]
    assert torch.allclose(m.floor[others], 0.01 * var[others], rtol=1e-2)
    test = _real_table(20, seed=1)                           # the constant feature differs on test data
    assert torch.isfinite(m.log_likelihood(test)).all()


def test_gmm_floor_from_the_data_is_saved_and_loaded(tmp_path):
    x = _real_table(100)
    m = pyroml.GMM(n_components=2)
    pyroml.fit(m, x, epochs=1, batch_size=50, progress=False)
    pyroml.save(m, tmp_path / "g.pt")
    back = pyroml.load(tmp_path / "g.pt")
    assert torch.equal(back.floor, m.floor) and back.var_floor is None
    assert torch.equal(back.log_likelihood(x), m.log_likelihood(x))
