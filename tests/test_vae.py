import math

import pyro
import pytest
import torch
from hypothesis import given, strategies as st

import pyroml
from pyroml.evaluate import iwae_bound
from pyroml.train import elbo_per_example

VAES = [
    lambda d: pyroml.VAE(latent_dim=d, hidden=(32, 16)),
    lambda d: pyroml.ConvVAE(latent_dim=d, channels=(4, 8)),
    lambda d: pyroml.ConvVAE(latent_dim=d, channels=(4, 8), hidden=16, likelihood="continuous_bernoulli"),
    lambda d: pyroml.ConvVAE(latent_dim=d, channels=(4, 8), hidden=(24, 12)),
    lambda d: pyroml.ConvVAE(latent_dim=d, channels=(4, 8), hidden=(24, 12), decoder_hidden=(12, 24)),
]


@pytest.mark.parametrize("make", VAES, ids=["vae", "convvae", "convvae-dense-cb", "convvae-dense-stack",
                                            "convenc-mlpdec"])
@given(batch=st.integers(1, 9), latent=st.integers(1, 5))
def test_shapes(make, batch, latent):
    m = make(latent)
    x = torch.rand(batch, 1, 28, 28)
    assert m.encode(x).shape == (batch, latent)
    assert m.decode(torch.randn(batch, latent)).shape == (batch, 1, 28, 28)
    assert m.decode(torch.randn(3, batch, latent)).shape == (3, batch, 1, 28, 28)
    for sample in (False, True):
        r = m.reconstruct(x, sample=sample)
        assert r.shape == x.shape and 0 <= float(r.min()) and float(r.max()) <= 1
    assert m.sample(batch).shape == (batch, 1, 28, 28)
    elbo = elbo_per_example(m, x)
    assert math.isfinite(elbo)
    if m.likelihood == "bernoulli":  # a Bernoulli mass is <= 1; a continuous-Bernoulli density need not be
        assert elbo < 0


def test_default_architecture_and_config_roundtrip():
    m = pyroml.VAE()
    assert m.latent_dim == 2 and m.hidden == (512, 256) and m.decoder_hidden == (256, 256)
    assert m.likelihood == "bernoulli"
    assert pyroml.VAE(hidden=(32, 16), decoder_hidden=None).decoder.net[0].out_features == 16  # mirrored
    clone = type(m)(**m.get_config())
    assert clone.get_config() == m.get_config()
    c = pyroml.ConvVAE()
    assert c.channels == (16, 32) and c.hidden is None
    stack = pyroml.ConvVAE(channels=(4, 8), hidden=[24, 12])
    assert stack.hidden == (24, 12) and type(stack)(**stack.get_config()).get_config() == stack.get_config()
    assert [m.out_features for m in stack.decoder.dense if isinstance(m, torch.nn.Linear)] == [12, 24, 8 * 7 * 7]
    assert pyroml.MODELS["cvae"] is pyroml.ConvVAE


@pytest.mark.parametrize("kwargs", [dict(latent_dim=0), dict(latent_dim=2.5), dict(hidden=()),
                                    dict(likelihood="gaussian")])
def test_bad_constructor_arguments(kwargs):
    with pytest.raises(ValueError):
        pyroml.VAE(**kwargs)


@pytest.mark.parametrize("kwargs", [dict(hidden=0), dict(hidden=(16, 0)), dict(hidden=()), dict(channels=()),
                                    dict(decoder_hidden=(0,))])
def test_bad_convvae_arguments(kwargs):
    with pytest.raises(ValueError):
        pyroml.ConvVAE(**kwargs)


def test_iwae_bound_above_elbo_after_training():
    torch.manual_seed(0)
    # toy data: two prototypes plus noise, so a 2-d VAE can learn something quickly
    protos = torch.rand(2, 1, 28, 28)
    x = (protos[torch.arange(200) % 2] + 0.1 * torch.randn(200, 1, 28, 28)).clamp(0, 1)
    m = pyroml.VAE(hidden=(64,))
    pyroml.fit(m, x, epochs=5, batch_size=50, lr=3e-3, progress=False)
    elbo = elbo_per_example(m, x, num_particles=20)
    iw = iwae_bound(m, x, k=50).mean().item()
    assert iw >= elbo - 0.05, (iw, elbo)
    # and the bound tightens with K on average
    assert iwae_bound(m, x, k=200).mean().item() >= iwae_bound(m, x, k=2).mean().item() - 0.05


def test_two_models_keep_separate_weights():
    a, b = pyroml.VAE(hidden=(16,)), pyroml.VAE(hidden=(16,))
    b.load_state_dict(a.state_dict())
    before = {k: v.clone() for k, v in b.state_dict().items()}
    pyroml.fit(a, torch.rand(64, 1, 28, 28), epochs=2, batch_size=32, progress=False)
    assert all(torch.equal(before[k], v) for k, v in b.state_dict().items())
    assert any(not torch.equal(before[k], v) for k, v in a.state_dict().items())
    assert len(pyro.get_param_store()) == 0  # nothing leaked into Pyro's global store


def test_state_dict_captures_model_whole():
    a = pyroml.ConvVAE(channels=(4, 8))
    b = pyroml.ConvVAE(channels=(4, 8))
    b.load_state_dict(a.state_dict())
    x = torch.rand(3, 1, 28, 28)
    assert torch.equal(a.reconstruct(x), b.reconstruct(x))


@given(batch=st.integers(1, 5), k=st.integers(1, 3))
def test_grey_bernoulli_matches_pyro_bernoulli(batch, k):
    import pyro.distributions as dist
    from pyroml.models.vae import GreyBernoulli
    logits = 4 * torch.randn(k, batch, 1, 28, 28)
    x = torch.rand(batch, 1, 28, 28)
    ref = dist.Bernoulli(logits=logits, validate_args=False).to_event(3).log_prob(x)
    fast = GreyBernoulli(logits, 3).log_prob(x)
    assert fast.shape == (k, batch)
    assert torch.allclose(fast, ref, rtol=1e-5, atol=1e-2)


@given(scale=st.floats(0.01, 60.0), seed=st.integers(0, 2 ** 16))
def test_softplus_sum_without_autograd_matches_softplus(scale, seed):
    """The evaluation path (no autograd) of the Bernoulli term's softplus sum agrees with
    float64 softplus to float32 accuracy, for tiny and huge logits alike; the training path
    is F.softplus itself and keeps its gradient."""
    import torch.nn.functional as F
    from pyroml.models.vae import softplus_sum
    logits = scale * torch.randn(7, 784, generator=torch.Generator().manual_seed(seed))
    exact = F.softplus(logits.double()).sum(-1)
    with torch.no_grad():
        fast = softplus_sum(logits)
    assert torch.allclose(fast.double(), exact, rtol=1e-6, atol=2e-3)
    leaf = logits.clone().requires_grad_(True)
    softplus_sum(leaf).sum().backward()
    assert torch.allclose(leaf.grad, torch.sigmoid(logits), atol=1e-6)
