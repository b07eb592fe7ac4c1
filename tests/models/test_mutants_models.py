"""Tests that kill mutants of :mod:`pyroml.models` (issue 15, item 6) which the rest of the suite let
survive: sampling the grey-level Bernoulli, and the names the models' argument and shape errors give."""

import pytest
import torch

import pyroml
from pyroml.models.likelihoods import GreyBernoulli


def test_grey_bernoulli_samples_zeros_and_ones_at_its_mean():
    logits = torch.tensor([[-2.0, 0.0, 3.0]])  # batch (1,), event (3,)
    d = GreyBernoulli(logits, event_dim=1)
    torch.manual_seed(0)
    s = d.sample((4000,))
    assert s.shape == (4000, 1, 3) and d.sample().shape == (1, 3)
    assert set(s.unique().tolist()) <= {0.0, 1.0}
    assert torch.allclose(s.mean(0), torch.sigmoid(logits), atol=0.03)


def test_a_projection_of_data_of_another_shape_names_the_shape_that_came():
    m = pyroml.PPCA(latent_dim=1, event_shape=(3,))
    with pytest.raises(ValueError, match=r"x has shape \(5, 4\), expected \(N, 3\) for this PPCA"):
        m.encode(torch.zeros(5, 4))
    with pytest.raises(ValueError, match=r"x has shape list, expected \(N, 3\)"):
        m.encode([[0.0, 0.0, 0.0]])


@pytest.mark.parametrize("build, name", [
    (lambda: pyroml.GMM(n_components=0), "n_components"),
    (lambda: pyroml.VAE(hidden=()), "hidden"),
    (lambda: pyroml.VAE(hidden=(0,)), "hidden"),
    (lambda: pyroml.ConvVAE(hidden=0), "hidden"),
])
def test_bad_arguments_are_named(build, name):
    with pytest.raises(ValueError, match=f"^{name}"):
        build()


def test_data_the_model_refuses_never_fix_its_shape():
    m = pyroml.VAE(hidden=(4,))  # shape taken from the first data it is fitted on
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        m.adapt_to_data(torch.rand(5, 1, 4, 4) * 255)
    assert m._event_shape is None
    m.adapt_to_data(torch.rand(5, 1, 4, 4))
    assert m.event_shape == (1, 4, 4)


def test_the_count_of_non_finite_values_is_given():
    x = torch.rand(4, 3)
    x[0, 0], x[2, 1] = float("nan"), float("inf")
    with pytest.raises(ValueError, match="training data contains 2 NaN or infinite values"):
        pyroml.fit(pyroml.PPCA(latent_dim=1), x, epochs=1, progress=False)


def test_a_bad_latent_dim_is_named():
    with pytest.raises(ValueError, match=r"^latent_dim must be an integer >= 1, got 0"):
        pyroml.PPCA(latent_dim=0)
