"""``DataScale``: the scaled mini-batch loss is an unbiased estimate of the full-data loss."""

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro import poutine
from pyro.infer import Trace_ELBO

from pyroml.infer import DataScale, elbo_per_example
from tests.conftest import mnist_images
from tests.infer.toys import Toy
from tests.models.factories import random_gmm, random_ppca


def test_minibatch_loss_is_unbiased_estimate_of_full_loss():
    torch.manual_seed(0)
    x = torch.randn(12, 3) + 2.0
    m = Toy()
    full = -elbo_per_example(m, x) * 12
    scaler = DataScale(12 / 3)
    elbo = m.elbo()
    # average of the scaled losses over a partition into 4 batches of 3 = full loss
    est = [float(elbo.differentiable_loss(scaler(m.model), scaler(m.guide), x[i:i + 3])) for i in range(0, 12, 3)]
    assert sum(est) / 4 == pytest.approx(full, rel=1e-5)


@pytest.mark.parametrize("make", [lambda: random_ppca(2), lambda: random_gmm(3)], ids=["ppca", "gmm"])
def test_minibatch_scaled_loss_is_unbiased(make):
    m = make()
    x = mnist_images(12)
    full = -elbo_per_example(m, x) * 12
    elbo, scale = m.elbo(), DataScale(12 / 4)
    with torch.no_grad():
        parts = [elbo.loss(scale(m.model), scale(m.guide), x[i:i + 4]) for i in range(0, 12, 4)]
    assert sum(parts) / 3 == pytest.approx(full, rel=1e-4)


class _GlobalAndLocal(torch.nn.Module):
    """A global latent site ``theta ~ N(0, 1)`` (guide: a point mass, so the loss is deterministic)
    and a local likelihood ``x_n ~ N(theta, 1)`` inside the data plate."""

    def __init__(self):
        super().__init__()
        self.loc = torch.nn.Parameter(torch.tensor(0.7))

    def model(self, x):
        theta = pyro.sample("theta", dist.Normal(0.0, 1.0))
        with pyro.plate("data", x.shape[0], dim=-1):
            pyro.sample("x", dist.Normal(theta, 1.0), obs=x)

    def guide(self, x):
        pyro.sample("theta", dist.Delta(self.loc))


def test_global_sites_are_not_scaled_only_local_ones():
    """With a global latent site the average of the N/B-scaled batch losses is the full loss only
    if the global terms keep scale 1 (scaling them too counts the prior N/B times)."""
    m, x = _GlobalAndLocal(), torch.randn(12) + 1.0
    elbo = Trace_ELBO()
    with pyro.settings.context(module_local_params=True):
        full = float(elbo.loss(m.model, m.guide, x))
        scale = DataScale(12 / 3)
        parts = [float(elbo.loss(scale(m.model), scale(m.guide), x[i:i + 3])) for i in range(0, 12, 3)]
        assert sum(parts) / 4 == pytest.approx(full, rel=1e-6)
        trace = poutine.trace(scale(m.model)).get_trace(x[:3])
    assert trace.nodes["theta"]["scale"] == 1.0 and trace.nodes["x"]["scale"] == 4.0
