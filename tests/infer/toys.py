"""A tiny model for the engine's tests: a Gaussian mean on 3-d examples."""

import math

import pyro
import pyro.distributions as dist
import torch

from pyroml.models.base import DensityModel


class Toy(DensityModel):
    """Gaussian mean model whose likelihood turns NaN after `nan_after` calls."""

    def __init__(self, nan_after: int = 10**9):
        super().__init__(event_shape=(3,))
        self.nan_after = nan_after
        self.mu = torch.nn.Parameter(torch.zeros(3))
        self.calls = 0

    def model(self, x):
        self.calls += 1
        loc = self.mu * (math.nan if self.calls > self.nan_after else 1.0)
        with pyro.plate("data", x.shape[0], dim=-1):
            pyro.sample("x", dist.Normal(loc, 1.0).to_event(1), obs=x)

    def guide(self, x):
        pass
