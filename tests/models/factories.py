"""PPCA and GMM with random (not data-fitted) parameters, shared by the model and scaling tests."""

import math

import torch

import pyroml


def random_ppca(q, seed=0):
    torch.manual_seed(seed)
    m = pyroml.PPCA(latent_dim=q)
    with torch.no_grad():
        m.W.normal_(0, 0.1)
        m.mu.uniform_(0, 1)
        m.log_sigma.fill_(math.log(0.3))
    return m


def random_gmm(k, seed=0):
    torch.manual_seed(seed)
    m = pyroml.GMM(n_components=k)
    with torch.no_grad():
        m.means.uniform_(0, 1)
        m.log_var.normal_(-2.5, 1)                # some below log(0.01): the floor clamps them
        m.logits.normal_(0, 1)
    return m
