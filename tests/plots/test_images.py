import pytest
import torch
from matplotlib.figure import Figure

import pyroml
from pyroml import plots
from tests.conftest import MNIST_SHAPE, mnist_images


def test_figures_return_figures():
    m = pyroml.VAE(hidden=(8,), event_shape=MNIST_SHAPE)
    x = mnist_images(12)
    r = pyroml.evaluate(m, pyroml.data.Dataset(x, torch.arange(12) % 10), iwae_k=None)
    h = pyroml.fit(m, x, epochs=2, batch_size=6, validation=x, progress=False)
    for fig in (plots.reconstructions(x, {"VAE": m.reconstruct(x)}, n=5), plots.latent_grid(m, n=4),
                plots.latent_scatter(r.latents, r.labels), plots.training_curve(h),
                plots.image_grid(m.sample(6), nrow=3)):
        assert isinstance(fig, Figure) and fig.axes


def test_latent_grid_needs_2d():
    with pytest.raises(ValueError, match="2-d"):
        plots.latent_grid(pyroml.VAE(latent_dim=3, hidden=(8,)))
