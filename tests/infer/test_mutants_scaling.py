"""Tests that kill mutants of :mod:`pyroml.infer.scaling` (issue 15, item 6) which the rest of the
suite let survive: the scale of every site, for whole-number scales too (a batch of half the data)."""

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro import poutine

from pyroml.infer import DataScale


def model(x):
    pyro.sample("global", dist.Normal(0.0, 1.0))
    with pyro.plate("data", x.shape[0]):
        pyro.sample("local", dist.Normal(0.0, 1.0))
        pyro.sample("x", dist.Normal(0.0, 1.0), obs=x)
    with pyro.plate("other", 2):
        pyro.sample("elsewhere", dist.Normal(0.0, 1.0))


def scales(messenger):
    tr = poutine.trace(messenger(model)).get_trace(torch.zeros(3))
    return {name: float(site["scale"]) for name, site in tr.nodes.items() if site["type"] == "sample"
            and name not in ("data", "other")}


@pytest.mark.parametrize("scale", [2.0, 4.0, 0.5, 1.0, 60000 / 128])
def test_sites_in_the_data_plate_are_scaled_and_no_other(scale):
    assert scales(DataScale(scale)) == {"global": 1.0, "local": scale, "x": scale, "elsewhere": 1.0}


def test_the_plate_is_named_by_the_messenger():
    assert scales(DataScale(3.0, plate="other")) == {"global": 1.0, "local": 1.0, "x": 1.0, "elsewhere": 3.0}
    assert DataScale().scale == 1.0 and DataScale().plate == "data"


def test_scales_multiply_with_the_sites_own():
    tr = poutine.trace(DataScale(2.0)(poutine.scale(model, scale=5.0))).get_trace(torch.zeros(3))
    assert float(tr.nodes["x"]["scale"]) == 10.0 and float(tr.nodes["global"]["scale"]) == 5.0
