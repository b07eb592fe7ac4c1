"""Checkpoints written before the restructure (issue 11) still load and give the same numbers.

``tests/fixtures/legacy_{vae,convvae,ppca,gmm}.pt`` were written by ``pyroml.save`` on the code
before the restructure, after one epoch on ``torch.rand(40, 1, 28, 28)``; ``legacy_outputs.pt``
holds a probe batch and, per model, ``pyroml.evaluate(m, probe, iwae_k=5, seed=0).log_likelihood``
and ``m.reconstruct(probe)`` as that code computed them.
"""

from pathlib import Path

import pytest
import torch

import pyroml
from pyroml.io import read_checkpoint
from tests.conftest import MNIST_SHAPE

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CLASSES = {"vae": pyroml.VAE, "convvae": pyroml.ConvVAE, "ppca": pyroml.PPCA, "gmm": pyroml.GMM}


@pytest.fixture(scope="module")
def legacy_outputs():
    return torch.load(FIXTURES / "legacy_outputs.pt", weights_only=True)


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_legacy_checkpoint_loads_and_reproduces_its_outputs(name, legacy_outputs):
    path = FIXTURES / f"legacy_{name}.pt"
    raw = torch.load(path, map_location="cpu", weights_only=True)
    assert raw["format"] == "pyroml-checkpoint-v1" and "event_shape" not in raw["config"]  # before event_shape
    assert read_checkpoint(path)["config"]["event_shape"] == list(MNIST_SHAPE)  # filled in on reading
    m = pyroml.load(path)
    assert type(m) is CLASSES[name]
    assert m.event_shape == MNIST_SHAPE and m.get_config()["event_shape"] == list(MNIST_SHAPE)
    probe, expected = legacy_outputs["probe"], legacy_outputs["outputs"][name]
    assert probe.shape == (4, *MNIST_SHAPE)
    ll = pyroml.evaluate(m, probe, iwae_k=5, seed=0).log_likelihood
    assert ll == pytest.approx(expected["ll"], rel=1e-5)
    assert torch.allclose(m.reconstruct(probe), expected["recon"], rtol=0, atol=1e-6)
