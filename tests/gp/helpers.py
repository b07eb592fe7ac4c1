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
