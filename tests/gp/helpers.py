"""Small GP problems shared by the GP tests."""

import torch


def data(n=6, seed=0, d=1):
    """``(X (n, d) uniform in [-1, 1], y = sum sin(3 X))``, float64."""
    g = torch.Generator().manual_seed(seed)
    X = torch.rand(n, d, generator=g, dtype=torch.float64) * 2 - 1
    return X, torch.sin(3 * X).sum(-1)


#: the GP as it was before issue 14: raw inputs and targets (tests that pin closed forms on raw scales)
RAW = {"normalize": False, "standardize": False}


def hypers_at(gp, value=0.7):
    """Every hyperparameter of ``gp`` at ``value``, as one setting (shape ``(1,)``)."""
    return {h: torch.tensor([value], dtype=torch.float64) for h in gp.hyper_names}


def assert_closed_form_matches_autograd(gp, theta):
    """At ``theta`` (shape ``(H,)``, float64), the closed-form potential's value and gradient equal
    :meth:`GP.potential`'s and autograd's."""
    import pytest

    theta = theta.detach().clone().requires_grad_(True)
    u = gp.potential(theta)
    (g,) = torch.autograd.grad(u, theta)
    v, g2 = gp.closed_form_potential()(theta.tolist())
    assert v == pytest.approx(float(u.detach()), rel=1e-10)
    assert torch.allclose(g, torch.tensor(g2, dtype=torch.float64), rtol=1e-7, atol=1e-10)
