"""PPCA and GMM with random (not data-fitted) parameters, shared by the model and scaling tests."""

import math

import torch

import pyroml
from tests.conftest import MNIST_SHAPE


def random_ppca(q, seed=0, event_shape=MNIST_SHAPE):
    """A PPCA built for ``event_shape`` (MNIST's by default) with random W, mu on [0, 1], sigma 0.3."""
    torch.manual_seed(seed)
    m = pyroml.PPCA(latent_dim=q, event_shape=event_shape)
    with torch.no_grad():
        m.W.normal_(0, 0.1)
        m.mu.uniform_(0, 1)
        m.log_sigma.fill_(math.log(0.3))
    return m


def random_gmm(k, seed=0, event_shape=MNIST_SHAPE, var_floor=0.01):
    """A GMM built for ``event_shape`` (MNIST's by default) with random means on [0, 1], weights and
    log-variances; ``var_floor`` explicit (0.01, the floor for data on [0, 1]) so that the floor is
    set without fitting."""
    torch.manual_seed(seed)
    m = pyroml.GMM(n_components=k, var_floor=var_floor, event_shape=event_shape)
    with torch.no_grad():
        m.means.uniform_(0, 1)
        m.log_var.normal_(-2.5, 1)                # some below log(0.01): the floor clamps them
        m.logits.normal_(0, 1)
    return m
