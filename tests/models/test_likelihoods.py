import pyro
import pyro.distributions as dist
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

import pyroml
from pyroml.infer import elbo_per_example
from pyroml.models.likelihoods import LIKELIHOODS, GreyBernoulli, observation, softplus_sum
from tests.conftest import MNIST_D, MNIST_SHAPE, mnist_images, shape_id, structured_data


@given(batch=st.integers(1, 5), k=st.integers(1, 3))
def test_grey_bernoulli_matches_pyro_bernoulli(batch, k):
    logits = 4 * torch.randn(k, batch, *MNIST_SHAPE)
    x = mnist_images(batch)
    ref = dist.Bernoulli(logits=logits, validate_args=False).to_event(3).log_prob(x)
    fast = GreyBernoulli(logits, 3).log_prob(x)
    assert fast.shape == (k, batch)
    assert torch.allclose(fast, ref, rtol=1e-5, atol=1e-2)


@given(scale=st.floats(0.01, 60.0), seed=st.integers(0, 2 ** 16))
def test_softplus_sum_without_autograd_matches_softplus(scale, seed):
    """The evaluation path (no autograd) of the Bernoulli term's softplus sum agrees with
    float64 softplus to float32 accuracy, for tiny and huge logits alike; the training path
    is F.softplus itself and keeps its gradient."""
    logits = scale * torch.randn(7, MNIST_D, generator=torch.Generator().manual_seed(seed))
    exact = F.softplus(logits.double()).sum(-1)
    with torch.no_grad():
        fast = softplus_sum(logits)
    assert torch.allclose(fast.double(), exact, rtol=1e-6, atol=2e-3)
    leaf = logits.clone().requires_grad_(True)
    softplus_sum(leaf).sum().backward()
    assert torch.allclose(leaf.grad, torch.sigmoid(logits), atol=1e-6)


# ---- likelihoods for any data: which support each takes, the Gaussian ones on real values --------

@pytest.mark.parametrize("likelihood", sorted(LIKELIHOODS))
def test_each_likelihood_declares_the_data_it_takes(likelihood):
    unit = likelihood in ("bernoulli", "continuous_bernoulli")
    assert LIKELIHOODS[likelihood] == ("unit" if unit else "real")
    for m in (pyroml.VAE(likelihood=likelihood), pyroml.ConvVAE(likelihood=likelihood)):
        assert m.unit_interval is unit
    real = structured_data(8, (1, 8, 8), unit=False)
    m = pyroml.VAE(hidden=(8,), likelihood=likelihood, event_shape=(1, 8, 8))
    if unit:
        with pytest.raises(ValueError, match="likelihood='gaussian'"):
            m.check_input(real)
    else:
        m.check_input(real)                   # real values are accepted


@given(batch=st.integers(1, 4), shared=st.booleans())
def test_gaussian_observation_is_a_normal_per_feature_or_shared(batch, shared):
    out, x = torch.randn(batch, 3, 4, 4), 2 * torch.randn(batch, 3, 4, 4)
    log_scale = torch.randn(()) if shared else torch.randn(3, 4, 4)
    d = observation("gaussian_shared" if shared else "gaussian", out, 3, log_scale)
    ref = dist.Normal(out, log_scale.exp().expand(out.shape[1:])).log_prob(x).sum((-3, -2, -1))
    assert d.batch_shape == (batch,) and d.event_shape == (3, 4, 4)
    assert torch.allclose(d.log_prob(x), ref, rtol=1e-5, atol=1e-4)
    assert torch.equal(d.mean, out)           # the decoded mean is the decoder's output, unbounded


@pytest.mark.parametrize("shape", [(5,), (1, 8, 8), (3, 32, 32)], ids=shape_id)
@pytest.mark.parametrize("likelihood", ["gaussian", "gaussian_shared"])
def test_gaussian_vae_trains_on_real_data_and_saves_its_scale(likelihood, shape, tmp_path):
    x = structured_data(128, shape, unit=False)          # real-valued: a Bernoulli VAE refuses these
    assert float(x.min()) < 0 and float(x.max()) > 1
    m = pyroml.VAE(hidden=(16,), decoder_hidden=(16,), likelihood=likelihood)
    h = pyroml.fit(m, x, epochs=5, batch_size=32, lr=1e-2, progress=False)
    assert h.train_elbo[-1] > h.train_elbo[0] + 0.2 * abs(h.train_elbo[0])
    assert m.log_scale.shape == (shape if likelihood == "gaussian" else ())
    assert not torch.equal(m.log_scale.detach(), torch.zeros_like(m.log_scale))   # learned, not left at 0
    pyroml.save(m, tmp_path / "m.pt")
    back = pyroml.load(tmp_path / "m.pt")
    assert back.likelihood == likelihood and torch.equal(back.log_scale, m.log_scale.detach())
    assert torch.equal(back.reconstruct(x), m.reconstruct(x))
    pyro.set_rng_seed(0)
    elbo = elbo_per_example(m, x)
    pyro.set_rng_seed(0)
    assert elbo_per_example(back, x) == elbo


def test_gaussian_vae_learns_a_scale_per_feature():
    """Independent features of very different noise: one learned sigma per feature follows them."""
    sd = torch.tensor([0.05, 0.2, 1.0, 3.0, 0.5])
    x = torch.randn(256, 5, generator=torch.Generator().manual_seed(0)) * sd
    m = pyroml.VAE(latent_dim=1, hidden=(16,), decoder_hidden=(16,), likelihood="gaussian")
    pyroml.fit(m, x, epochs=30, batch_size=64, lr=2e-2, progress=False)
    sigma = m.log_scale.detach().exp()
    assert torch.equal(sigma.argsort(), sd.argsort())
    assert float(sigma[0]) < 0.15 and float(sigma[3]) > 1.0
