"""``fit(checkpoint=..., resume=True)``: training continues from the engine's checkpoint."""

import pytest
import torch

import pyroml
from tests.conftest import mnist_images


def test_resume_continues_the_same_trajectory(tmp_path):
    x = mnist_images(90)
    torch.manual_seed(0)
    straight = pyroml.fit(pyroml.VAE(hidden=(16,)), x, epochs=4, batch_size=32, seed=3, progress=False)
    ck = str(tmp_path / "ck.pt")
    torch.manual_seed(0)
    pyroml.fit(pyroml.VAE(hidden=(16,)), x, epochs=2, batch_size=32, seed=3, progress=False, checkpoint=ck)
    resumed_model = pyroml.VAE(hidden=(16,))  # fresh init: everything comes from the checkpoint
    resumed = pyroml.fit(resumed_model, x, epochs=4, batch_size=32, seed=3, progress=False,
                         checkpoint=ck, resume=True)
    assert resumed.step_loss == pytest.approx(straight.step_loss, rel=1e-6, abs=1e-6)
    assert len(resumed.train_elbo) == 4


def test_resume_refuses_other_model(tmp_path):
    ck = str(tmp_path / "ck.pt")
    pyroml.fit(pyroml.VAE(hidden=(16,)), mnist_images(8), epochs=1, progress=False, checkpoint=ck)
    with pytest.raises(ValueError, match="config"):
        pyroml.fit(pyroml.VAE(hidden=(8,)), mnist_images(8), epochs=2, progress=False,
                   checkpoint=ck, resume=True)
