import math

import pyro.distributions as dist
import pytest
import torch

from pyroml.gp import GP, KERNELS
from tests.gp.helpers import assert_closed_form_matches_autograd, data


@pytest.mark.parametrize("kernel,learned_noise,ard", [(k, False, a) for k in sorted(KERNELS) for a in (False, True)]
                         + [("rbf", True, True), ("matern52", True, False)])
def test_closed_form_potential_matches_autograd(kernel, learned_noise, ard):
    """Value and gradient of the NumPy potential against autograd of the torch one, for every
    kernel, isotropic and ARD (one lengthscale per dimension), with fixed and learned noise."""
    X, y = data(d=3)
    gp = GP(X, y, kernel=kernel, noise=None if learned_noise else 1e-4, ard=ard,
            noise_prior=dist.LogNormal(-6.0, 1.0) if learned_noise else None)
    H = len(gp.hyper_names)
    assert (5 if ard else 3) + (kernel == "periodic") - (not learned_noise) == H
    theta = torch.linspace(-0.3, 0.4, H, dtype=torch.float64)
    if learned_noise:
        theta[-1] = -5.0
    assert_closed_form_matches_autograd(gp, theta)


def test_direct_gradients_give_the_same_chain_as_autograd(monkeypatch):
    """NUTS through ``direct_gradients`` (value and gradient handed to Pyro's integrator) draws
    exactly the chain that the autograd path draws, and leaves Pyro's integrator as it was."""
    import contextlib

    import pyro.ops.integrator as integrator

    import pyroml.gp.posterior as gp_module
    X, y = data()
    before = integrator.potential_grad
    direct = GP(X, y, noise=1e-4).sample_posterior(20, 20, num_chains=1, seed=5, sampler="pyro")
    assert integrator.potential_grad is before
    monkeypatch.setattr(gp_module, "direct_gradients", contextlib.nullcontext)
    plain = GP(X, y, noise=1e-4).sample_posterior(20, 20, num_chains=1, seed=5, sampler="pyro")
    for h in direct.samples:
        assert torch.allclose(direct.samples[h], plain.samples[h], rtol=1e-10, atol=0)


def test_potential_is_infinite_far_out():
    X, y = data()
    v, g = GP(X, y, noise=1e-4).closed_form_potential()([40.0, 0.0])
    assert v == math.inf and g == [0.0, 0.0]
