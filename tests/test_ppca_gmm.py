import math

import pyro
import pyro.distributions as dist
import pytest
import torch
from hypothesis import given, strategies as st

import pyroml
from pyroml.train import DataScale, elbo_per_example


def random_ppca(q, seed=0):
    torch.manual_seed(seed)
    m = pyroml.PPCA(latent_dim=q)
    with torch.no_grad():
        m.W.normal_(0, 0.1)
        m.mu.uniform_(0, 1)
        m.log_sigma.fill_(math.log(0.3))
    return m


def random_gmm(k, seed=0):
    torch.manual_seed(seed)
    m = pyroml.GMM(n_components=k)
    with torch.no_grad():
        m.means.uniform_(0, 1)
        m.log_var.normal_(-2.5, 1)                # some below log(0.01): the floor clamps them
        m.logits.normal_(0, 1)
    return m


@given(batch=st.integers(1, 8), q=st.integers(1, 4))
def test_ppca_shapes_and_elbo_equals_exact_loglik(batch, q):
    m = random_ppca(q)
    x = torch.rand(batch, 1, 28, 28)
    assert m.encode(x).shape == (batch, q)
    assert m.decode(torch.randn(batch, q)).shape == (batch, 1, 28, 28)
    assert m.reconstruct(x).shape == m.reconstruct(x, sample=True).shape == x.shape
    assert m.sample(batch).shape == (batch, 1, 28, 28)
    ll = float(m.log_likelihood(x).mean())
    assert elbo_per_example(m, x) == pytest.approx(ll, abs=1e-3 * max(1.0, abs(ll)))


@given(batch=st.integers(1, 8), k=st.integers(1, 5))
def test_gmm_shapes_and_elbo_equals_exact_loglik(batch, k):
    m = random_gmm(k)
    x = torch.rand(batch, 1, 28, 28)
    r = m.encode(x)
    assert r.shape == (batch, k) and torch.allclose(r.sum(-1), torch.ones(batch))
    assert m.decode(torch.eye(k)).shape == (k, 1, 28, 28)
    assert m.reconstruct(x).shape == m.reconstruct(x, sample=True).shape == x.shape
    assert m.sample(batch).shape == (batch, 1, 28, 28)
    ll = float(m.log_likelihood(x).mean())
    assert elbo_per_example(m, x) == pytest.approx(ll, rel=1e-4, abs=1e-2)


def test_gmm_loglik_matches_elementwise_reference():
    m = random_gmm(3)
    x = torch.rand(4, 1, 28, 28)
    flat = x.reshape(4, -1)
    comp = dist.Normal(m.means, m.variances.sqrt()).log_prob(flat[:, None, :]).sum(-1)  # (B, K, D) reference
    ref = torch.logsumexp(comp + torch.log_softmax(m.logits, -1), -1)
    assert torch.allclose(m.log_likelihood(x), ref, rtol=1e-5, atol=1e-2)


class _ShiftedGuidePPCA(pyroml.PPCA):
    """PPCA whose guide is the exact posterior shifted by 0.5: a strictly worse q."""

    def guide(self, x):
        loc, tril = self._posterior(x)
        with pyro.plate("data", x.shape[0], dim=-1):
            pyro.sample("z", dist.MultivariateNormal(loc + 0.5, scale_tril=tril))


@given(batch=st.integers(2, 6), q=st.integers(1, 3))
def test_ppca_elbo_below_loglik_for_an_inexact_guide(batch, q):
    m = _ShiftedGuidePPCA(latent_dim=q)
    m.load_state_dict(random_ppca(q).state_dict())
    x = torch.rand(batch, 1, 28, 28)
    assert elbo_per_example(m, x, num_particles=50) < float(m.log_likelihood(x).mean())


@pytest.mark.parametrize("make", [lambda: random_ppca(2), lambda: random_gmm(3)], ids=["ppca", "gmm"])
def test_minibatch_scaled_loss_is_unbiased(make):
    m = make()
    x = torch.rand(12, 1, 28, 28)
    full = -elbo_per_example(m, x) * 12
    elbo, scale = m.elbo(), DataScale(12 / 4)
    with torch.no_grad():
        parts = [elbo.loss(scale(m.model), scale(m.guide), x[i:i + 4]) for i in range(0, 12, 4)]
    assert sum(parts) / 3 == pytest.approx(full, rel=1e-4)


def test_ppca_closed_form_is_the_maximum():
    torch.manual_seed(0)
    z = torch.randn(500, 2)
    x = (z @ (0.2 * torch.randn(2, 784)) + 0.5 + 0.05 * torch.randn(500, 784)).reshape(500, 1, 28, 28)
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


def test_gmm_variance_floor_and_kmeanspp_init():
    torch.manual_seed(0)
    x = torch.rand(200, 1, 28, 28)
    x[:, :, :3, :] = 0.0                      # constant border, like MNIST's
    m = pyroml.GMM(n_components=4, var_floor=0.01)
    pyroml.fit(m, x, epochs=10, batch_size=50, lr=0.1, progress=False)
    assert bool(m.initialized)
    assert bool((m.variances >= torch.tensor(0.01)).all())     # 0.01 in float32
    # the floor is hard, as in EM: the constant border's variances sit on it exactly
    border = m.variances.detach().reshape(4, 28, 28)[:, :3, :]
    assert torch.allclose(border, torch.full_like(border, 0.01), rtol=1e-6, atol=0)
    assert float(m.log_var.min()) == pytest.approx(math.log(0.01), abs=1e-7)
    test = torch.rand(5, 1, 28, 28)           # border pixels no longer zero
    assert torch.isfinite(m.log_likelihood(test)).all()


def test_gmm_variance_leaves_the_floor_when_the_data_ask():
    """On the floor (s == log v_min) the gradient still reaches s, so a variance the data push
    up leaves it: the projection keeps the parameter alive, unlike a clamp in the forward pass."""
    x = torch.rand(64, 1, 28, 28)             # pixel variance 1/12, far above the floor
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
    old["rho"] = torch.randn(3, 784)
    fresh = pyroml.GMM(n_components=3)
    fresh.load_state_dict(old)
    assert torch.allclose(fresh.variances, 0.01 + torch.nn.functional.softplus(old["rho"]), rtol=1e-5)


def test_gmm_init_picks_data_points():
    x = torch.rand(50, 1, 28, 28)
    m = pyroml.GMM(n_components=5)
    m.init_from_data(x)
    flat = x.reshape(50, -1)
    assert all(((flat - mu).abs().sum(-1) < 1e-5).any() for mu in m.means)


@pytest.mark.parametrize("kwargs", [dict(n_components=0), dict(var_floor=0.0), dict(var_floor=-1)])
def test_gmm_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        pyroml.GMM(**kwargs)


def test_ppca_bad_arguments():
    for q in (0, 784, 2.0):
        with pytest.raises(ValueError):
            pyroml.PPCA(latent_dim=q)


def test_ppca_svi_reaches_closed_form_on_real_mnist(mnist_dir):
    train, test = pyroml.data.load_mnist(mnist_dir)
    closed = float(pyroml.PPCA.closed_form(train.x).log_likelihood(test.x).mean())
    assert closed == pytest.approx(14.36, abs=0.01)
    d = pyroml.PPCA.fit_defaults
    m = pyroml.PPCA()
    pyroml.fit(m, train, epochs=d["epochs"], batch_size=d["batch_size"], lr=d["lr"],
               lr_schedule=d["lr_schedule"], progress=False)
    assert float(m.log_likelihood(test.x).mean()) > closed - 0.05
