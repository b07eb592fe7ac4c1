"""``DataScale``: the scaled mini-batch loss is an unbiased estimate of the full-data loss."""

import pytest
import torch

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
