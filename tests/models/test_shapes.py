"""Every density model on any event shape (issue 12): a table ``(5,)``, small ``(1, 8, 8)``,
MNIST-sized ``(1, 28, 28)`` and RGB ``(3, 32, 32)`` images, and ``(1, 30, 30)`` (not divisible by 4)
for the ConvVAE; the shape given to the constructor or taken from the data at the first fit."""

import pyro
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import pyroml
from pyroml._validation import NotFittedError
from pyroml.infer import elbo_per_example
from tests.conftest import CONV_SHAPES, EVENT_SHAPES, MNIST_SHAPE, shape_id, structured_data
from tests.models.factories import random_gmm, random_ppca

#: tiny networks, so that the whole set stays fast
BUILDERS = {
    "vae": lambda d, shape: pyroml.VAE(latent_dim=d, hidden=(8,), decoder_hidden=(8,), event_shape=shape),
    "convvae": lambda d, shape: pyroml.ConvVAE(latent_dim=d, channels=(2, 4), event_shape=shape),
    "ppca": lambda d, shape: pyroml.PPCA(latent_dim=d, event_shape=shape),
    "gmm": lambda d, shape: pyroml.GMM(n_components=d, event_shape=shape),   # d: the number of components
}
CASES = ([(name, shape) for name in ("vae", "ppca", "gmm") for shape in EVENT_SHAPES]
         + [("convvae", shape) for shape in CONV_SHAPES])
IDS = [f"{name}-{shape_id(shape)}" for name, shape in CASES]
#: learning rates for the few steps of the loss test
LR = {"vae": 1e-2, "convvae": 3e-2, "ppca": 0.05, "gmm": 0.1}


def make(name, d=2, shape=None):
    """A model of kind ``name`` with latent size (components) ``d``, built for ``shape``, lazy when None."""
    return BUILDERS[name](d, shape)


@pytest.mark.parametrize("name,shape", CASES, ids=IDS)
@given(batch=st.integers(1, 17), d=st.integers(1, 4))
def test_encode_decode_reconstruct_sample_shapes(name, shape, batch, d):
    m = make(name, d, shape)
    x = structured_data(batch, shape)
    z = m.encode(x)
    assert z.shape == (batch, d)
    if name == "gmm":  # responsibilities over the d components; decode takes weights or indices
        assert torch.allclose(z.sum(-1), torch.ones(batch))
        assert m.decode(z).shape == (batch, *shape)
        assert m.decode(torch.randint(d, (3, batch))).shape == (3, batch, *shape)
    else:
        assert m.decode(torch.randn(batch, d)).shape == (batch, *shape)
        assert m.decode(torch.randn(3, batch, d)).shape == (3, batch, *shape)
    outputs = [m.reconstruct(x), m.reconstruct(x, sample=True), m.sample(batch)]
    assert [tuple(o.shape) for o in outputs] == [(batch, *shape)] * 3
    assert all(bool(torch.isfinite(o).all()) for o in outputs)
    # the reconstruction decodes the encoding (the GMM: the mean of the most responsible component)
    expected = m.decode(z.argmax(-1)) if name == "gmm" else m.decode(z)
    assert torch.allclose(m.reconstruct(x), expected, atol=1e-6)
    assert torch.isfinite(torch.tensor(elbo_per_example(m, x)))


@pytest.mark.parametrize("shape", EVENT_SHAPES, ids=shape_id)
@pytest.mark.parametrize("name", ["ppca", "gmm"])
def test_elbo_at_most_the_exact_log_likelihood_per_example(name, shape):
    """The guides of PPCA (the exact posterior) and the GMM (enumeration) make the bound tight: the
    ELBO of each example is its exact log-likelihood, never above it."""
    m = random_ppca(2, event_shape=shape) if name == "ppca" else random_gmm(3, event_shape=shape)
    x = 0.5 + 0.4 * torch.randn(6, *shape)  # random, real-valued
    ll = m.log_likelihood(x)
    assert ll.shape == (6,) and bool(torch.isfinite(ll).all())
    for i in range(6):
        elbo = elbo_per_example(m, x[i: i + 1], num_particles=3)
        tol = 1e-4 * max(1.0, abs(float(ll[i])))
        assert elbo <= float(ll[i]) + tol
        assert elbo == pytest.approx(float(ll[i]), abs=tol)


@pytest.mark.parametrize("name,shape", CASES, ids=IDS)
def test_a_few_steps_lower_the_loss(name, shape):
    x = structured_data(64, shape)
    m = make(name, 2, shape)
    m.init_from_data(x)  # the data-dependent start of PPCA and the GMM is not what is measured
    pyro.set_rng_seed(1)
    before = elbo_per_example(m, x)
    pyroml.fit(m, x, epochs=3, batch_size=16, lr=LR[name], progress=False)  # 12 steps
    pyro.set_rng_seed(1)
    after = elbo_per_example(m, x)
    assert after > before + 0.002 * abs(before), (before, after)   # same seed: the same noise before and after


def _identical(a, b):
    """Equal tensors, NaN matching NaN (an unfitted GMM's floor is NaN until the data set it)."""
    return a.shape == b.shape and torch.allclose(a, b, rtol=0, atol=0, equal_nan=True)


def _same_outputs(a, b, x):
    assert torch.equal(a.encode(x), b.encode(x))
    assert torch.equal(a.reconstruct(x), b.reconstruct(x))
    z = a.encode(x)
    assert torch.equal(a.decode(z), b.decode(z))
    if a.has_exact_log_likelihood:
        assert torch.equal(a.log_likelihood(x), b.log_likelihood(x))
    else:
        pyro.set_rng_seed(3)
        elbo_a = elbo_per_example(a, x)
        pyro.set_rng_seed(3)
        assert elbo_per_example(b, x) == elbo_a


@pytest.mark.parametrize("name,shape", CASES, ids=IDS)
def test_save_then_load_gives_the_same_outputs(name, shape, tmp_path):
    x = structured_data(32, shape)
    m = make(name, 2)                         # lazy: the shape comes from the data, and goes in the checkpoint
    pyroml.fit(m, x, epochs=1, batch_size=16, lr=LR[name], progress=False)
    pyroml.save(m, tmp_path / "m.pt")
    back = pyroml.load(tmp_path / "m.pt")
    assert type(back) is type(m) and back.event_shape == shape
    assert back.get_config() == m.get_config() and back.get_config()["event_shape"] == list(shape)
    assert back.state_dict().keys() == m.state_dict().keys()
    assert all(_identical(v, back.state_dict()[k]) for k, v in m.state_dict().items())
    _same_outputs(m.eval(), back, x)


@pytest.mark.parametrize("name,shape", CASES, ids=IDS)
def test_shape_taken_from_the_data_at_the_first_fit(name, shape):
    m = make(name, 2)
    assert not m.is_built and m.get_config()["event_shape"] is None
    assert sum(p.numel() for p in m.parameters()) == 0   # nothing built before the data come
    with pytest.raises(NotFittedError, match="fit"):
        _ = m.event_shape
    pyroml.fit(m, structured_data(16, shape), epochs=1, batch_size=8, lr=LR[name], progress=False)
    assert m.is_built and m.event_shape == shape and m.get_config()["event_shape"] == list(shape)
    assert type(m)(**m.get_config()).event_shape == shape
    # the shape is now the model's: data of another shape are refused, naming both
    other = (7,) if shape != (7,) else (6,)
    with pytest.raises(ValueError, match=r"has shape \(16, 7\), expected \(N, " + ", ".join(map(str, shape))):
        pyroml.fit(m, structured_data(16, other), epochs=1, progress=False)


@pytest.mark.parametrize("name,shape", CASES, ids=IDS)
def test_lazy_and_explicit_construction_agree_under_the_same_seed(name, shape):
    """``fit(Model(), x, seed=s)`` gives the model ``pyro.set_rng_seed(s); Model(event_shape=...)``
    then ``fit(..., seed=s)`` gives: same initial parameters, same trajectory."""
    x = structured_data(32, shape)
    lazy = make(name, 2)
    h_lazy = pyroml.fit(lazy, x, epochs=1, batch_size=16, lr=LR[name], seed=5, progress=False)
    pyro.set_rng_seed(5)
    explicit = make(name, 2, shape)
    h_explicit = pyroml.fit(explicit, x, epochs=1, batch_size=16, lr=LR[name], seed=5, progress=False)
    assert h_lazy.step_loss == h_explicit.step_loss
    assert all(_identical(v, explicit.state_dict()[k]) for k, v in lazy.state_dict().items())


# ---- bad inputs: clear errors before any training -------------------------------------------------

@pytest.mark.parametrize("make_model", [
    lambda: pyroml.VAE(hidden=(8,)),
    lambda: pyroml.VAE(hidden=(8,), likelihood="continuous_bernoulli", event_shape=(1, 8, 8)),
    lambda: pyroml.ConvVAE(channels=(2, 4)),
], ids=["vae-lazy", "vae-cb", "convvae-lazy"])
def test_bernoulli_likelihood_refuses_real_valued_data_naming_gaussian(make_model):
    x = structured_data(16, (1, 8, 8), unit=False)   # values outside [0, 1]
    with pytest.raises(ValueError, match=r"\[0, 1\].*likelihood='gaussian'"):
        pyroml.fit(make_model(), x, epochs=1, progress=False)
    built = make_model()
    pyroml.fit(built, structured_data(16, (1, 8, 8)), epochs=1, progress=False)
    with pytest.raises(ValueError, match="likelihood='gaussian'"):
        pyroml.evaluate(built, x)


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_model_or_checkpoint_of_another_shape_is_refused_naming_both_shapes(name, tmp_path):
    m = make(name, 2, MNIST_SHAPE)
    table = structured_data(10, (5,))
    both = r"\(10, 5\), expected \(N, 1, 28, 28\)"
    before = {k: v.clone() for k, v in m.state_dict().items()}
    with pytest.raises(ValueError, match=both):
        pyroml.fit(m, table, epochs=1, progress=False)
    assert all(_identical(before[k], v) for k, v in m.state_dict().items())   # nothing trained or initialised
    with pytest.raises(ValueError, match=both):
        pyroml.evaluate(m, table)
    pyroml.save(m, tmp_path / "m.pt")
    loaded = pyroml.load(tmp_path / "m.pt")
    for run in (lambda: pyroml.evaluate(loaded, table), lambda: pyroml.fit(loaded, table, epochs=1, progress=False)):
        with pytest.raises(ValueError, match=both):
            run()


@pytest.mark.parametrize("shape", [(5,), (1, 4, 4), (1, 8, 7), (2, 1, 8, 8)], ids=shape_id)
def test_convvae_refuses_tables_and_small_images(shape):
    with pytest.raises(ValueError, match=r"ConvVAE needs images of shape \(C, H, W\) with H, W >= 8"):
        pyroml.ConvVAE(event_shape=shape)
    lazy = pyroml.ConvVAE(channels=(2, 4))
    with pytest.raises(ValueError, match=r"H, W >= 8.*" + r"\(" + ", ".join(map(str, shape))):
        pyroml.fit(lazy, torch.rand(4, *shape), epochs=1, progress=False)
    assert not lazy.is_built                            # the failed build leaves no shape behind


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_evaluating_an_unfitted_lazy_model_says_fit_first(name):
    m = make(name, 2)
    with pytest.raises(NotFittedError, match="fit"):
        pyroml.evaluate(m, structured_data(4, (1, 8, 8)))
    assert issubclass(NotFittedError, ValueError)


@pytest.mark.parametrize("lazy", [True, False], ids=["lazy", "built"])
@pytest.mark.parametrize("name", ["ppca", "gmm"])
def test_ppca_and_gmm_need_two_examples(name, lazy):
    m = make(name, 1, None if lazy else (5,))
    with pytest.raises(ValueError, match="at least 2 examples"):
        pyroml.fit(m, structured_data(1, (5,)), epochs=1, progress=False)
