import math

import pyro
import pyro.distributions as dist
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import pyroml
from pyroml.infer import elbo_per_example
from tests.conftest import MNIST_SHAPE, mnist_images

VAES = [
    lambda d: pyroml.VAE(latent_dim=d, hidden=(32, 16), event_shape=MNIST_SHAPE),
    lambda d: pyroml.ConvVAE(latent_dim=d, channels=(4, 8), event_shape=MNIST_SHAPE),
    lambda d: pyroml.ConvVAE(latent_dim=d, channels=(4, 8), hidden=16, likelihood="continuous_bernoulli",
                             event_shape=MNIST_SHAPE),
    lambda d: pyroml.ConvVAE(latent_dim=d, channels=(4, 8), hidden=(24, 12), event_shape=MNIST_SHAPE),
    lambda d: pyroml.ConvVAE(latent_dim=d, channels=(4, 8), hidden=(24, 12), decoder_hidden=(12, 24),
                             event_shape=MNIST_SHAPE),
]


@pytest.mark.parametrize("make", VAES, ids=["vae", "convvae", "convvae-dense-cb", "convvae-dense-stack",
                                            "convenc-mlpdec"])
@given(batch=st.integers(1, 9), latent=st.integers(1, 5))
def test_shapes(make, batch, latent):
    m = make(latent)
    x = mnist_images(batch)
    assert m.encode(x).shape == (batch, latent)
    assert m.decode(torch.randn(batch, latent)).shape == (batch, *MNIST_SHAPE)
    assert m.decode(torch.randn(3, batch, latent)).shape == (3, batch, *MNIST_SHAPE)
    for sample in (False, True):  # the likelihood's mean of the decoded posterior mean (or draw), not logits
        torch.manual_seed(1)
        r = m.reconstruct(x, sample=sample)
        torch.manual_seed(1)
        with torch.no_grad():
            loc, scale = m.encoder(x)
            out = m.decoder(loc + scale * torch.randn_like(scale) if sample else loc)
        mean = torch.sigmoid(out) if m.likelihood == "bernoulli" else dist.ContinuousBernoulli(logits=out).mean
        assert r.shape == x.shape and torch.allclose(r, mean, atol=1e-6)
    assert m.sample(batch).shape == (batch, *MNIST_SHAPE)
    elbo = elbo_per_example(m, x)
    assert math.isfinite(elbo)
    if m.likelihood == "bernoulli":  # a Bernoulli mass is <= 1; a continuous-Bernoulli density need not be
        assert elbo < 0


def test_default_architecture_and_config_roundtrip():
    m = pyroml.VAE()
    assert m.latent_dim == 2 and m.hidden == (512, 256) and m.decoder_hidden == (256, 256)
    assert m.likelihood == "bernoulli"
    mirrored = pyroml.VAE(hidden=(32, 16), decoder_hidden=None, event_shape=MNIST_SHAPE)
    assert mirrored.decoder.net[0].out_features == 16
    for model in (m, pyroml.VAE(event_shape=MNIST_SHAPE)):  # lazy (no shape yet) and built
        clone = type(model)(**model.get_config())
        assert clone.get_config() == model.get_config()
    c = pyroml.ConvVAE()
    assert c.channels == (16, 32) and c.hidden is None
    stack = pyroml.ConvVAE(channels=(4, 8), hidden=[24, 12], event_shape=MNIST_SHAPE)
    assert stack.hidden == (24, 12) and type(stack)(**stack.get_config()).get_config() == stack.get_config()
    assert [m.out_features for m in stack.decoder.dense if isinstance(m, torch.nn.Linear)] == [12, 24, 8 * 7 * 7]
    assert pyroml.MODELS["cvae"] is pyroml.ConvVAE


@pytest.mark.parametrize("kwargs", [{"latent_dim": 0}, {"latent_dim": 2.5}, {"hidden": ()},
                                    {"likelihood": "nonsense"}])
def test_bad_constructor_arguments(kwargs):
    with pytest.raises(ValueError):
        pyroml.VAE(**kwargs)


@pytest.mark.parametrize("kwargs", [{"hidden": 0}, {"hidden": (16, 0)}, {"hidden": ()}, {"channels": ()},
                                    {"decoder_hidden": (0,)}])
def test_bad_convvae_arguments(kwargs):
    with pytest.raises(ValueError):
        pyroml.ConvVAE(**kwargs)


def test_two_models_keep_separate_weights():
    a, b = pyroml.VAE(hidden=(16,), event_shape=MNIST_SHAPE), pyroml.VAE(hidden=(16,), event_shape=MNIST_SHAPE)
    b.load_state_dict(a.state_dict())
    before = {k: v.clone() for k, v in b.state_dict().items()}
    pyroml.fit(a, mnist_images(64), epochs=2, batch_size=32, progress=False)
    assert all(torch.equal(before[k], v) for k, v in b.state_dict().items())
    assert any(not torch.equal(before[k], v) for k, v in a.state_dict().items())
    assert len(pyro.get_param_store()) == 0  # nothing leaked into Pyro's global store


def test_state_dict_captures_model_whole():
    a = pyroml.ConvVAE(channels=(4, 8), event_shape=MNIST_SHAPE)
    b = pyroml.ConvVAE(channels=(4, 8), event_shape=MNIST_SHAPE)
    b.load_state_dict(a.state_dict())
    x = mnist_images(3)
    assert torch.equal(a.reconstruct(x), b.reconstruct(x))
