"""Tests that kill mutants of :mod:`pyroml.infer.elbo` (issue 15, item 6) which the rest of the suite
let survive: which path the lean ELBO takes (its own single-particle sum, or Pyro's
``TraceMeanField_ELBO``), not only that both give the same value."""

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer import TraceMeanField_ELBO

import pyroml
from pyroml.infer import LeanTraceMeanField_ELBO


@pytest.fixture
def stock_calls(monkeypatch):
    """Count the calls of Pyro's ``TraceMeanField_ELBO.differentiable_loss`` (the fallback)."""
    calls = []
    original = TraceMeanField_ELBO.differentiable_loss

    def counted(self, *args, **kwargs):
        calls.append(self.num_particles)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(TraceMeanField_ELBO, "differentiable_loss", counted)
    return calls


def vae_and_data():
    torch.manual_seed(0)
    return pyroml.VAE(latent_dim=2, hidden=(8,), event_shape=(1, 4, 4)), torch.rand(3, 1, 4, 4)


def test_one_particle_without_validation_takes_the_lean_path(stock_calls):
    m, x = vae_and_data()
    with pyro.validation_enabled(False):
        loss = LeanTraceMeanField_ELBO().differentiable_loss(m.model, m.guide, x)
    assert stock_calls == []
    assert torch.isfinite(loss) and loss.requires_grad


@pytest.mark.parametrize("particles, validate", [(2, False), (3, False), (1, True), (2, True)])
def test_several_particles_or_validation_go_to_pyro(stock_calls, particles, validate):
    m, x = vae_and_data()
    elbo = LeanTraceMeanField_ELBO(num_particles=particles, vectorize_particles=particles > 1,
                                   max_plate_nesting=1)
    with pyro.validation_enabled(validate):
        elbo.differentiable_loss(m.model, m.guide, x)
    assert stock_calls == [particles]


def test_a_guide_site_without_rsample_goes_to_pyro(stock_calls):
    def model(x):
        with pyro.plate("data", x.shape[0]):
            c = pyro.sample("c", dist.Bernoulli(0.5))
            pyro.sample("x", dist.Normal(c, 1.0), obs=x)

    def guide(x):
        with pyro.plate("data", x.shape[0]):
            pyro.sample("c", dist.Bernoulli(0.3))

    with pyro.validation_enabled(False):
        LeanTraceMeanField_ELBO().differentiable_loss(model, guide, torch.randn(4))
    assert stock_calls == [1]


def test_an_auxiliary_guide_site_goes_to_pyro(stock_calls):
    def model(x):
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(0.0, 1.0))
            pyro.sample("x", dist.Normal(z, 1.0), obs=x)

    def guide(x):
        aux = pyro.sample("aux", dist.Normal(0.0, 1.0), infer={"is_auxiliary": True})  # in the guide only
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.Normal(aux, 1.0))

    with pyro.validation_enabled(False):
        loss = LeanTraceMeanField_ELBO().differentiable_loss(model, guide, torch.randn(4))
    assert stock_calls == [1]
    assert torch.isfinite(loss)


@pytest.mark.parametrize("particles", [1, 2])
def test_keyword_arguments_reach_model_and_guide(particles):
    def model(x, shift=0.0):
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(shift, 1.0))
            pyro.sample("x", dist.Normal(z, 1.0), obs=x)

    def guide(x, shift=0.0):
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.Normal(2 * shift, 1.0))

    x = torch.randn(4)
    elbo = LeanTraceMeanField_ELBO(num_particles=particles, vectorize_particles=particles > 1, max_plate_nesting=1)
    with pyro.validation_enabled(False):
        pyro.set_rng_seed(3)
        shifted = float(elbo.differentiable_loss(model, guide, x, shift=5.0))
        pyro.set_rng_seed(3)
        plain = float(elbo.differentiable_loss(model, guide, x))
    pyro.set_rng_seed(3)
    stock = TraceMeanField_ELBO(num_particles=particles, vectorize_particles=particles > 1, max_plate_nesting=1)
    assert shifted == pytest.approx(float(stock.differentiable_loss(model, guide, x, shift=5.0)), rel=1e-5)
    assert shifted > plain + 10  # KL(N(10, 1) || N(5, 1)) = 12.5 per example, against 0


@pytest.mark.parametrize("analytic_kl", [True, False])
def test_masked_sites_count_only_where_the_mask_is_true(analytic_kl):
    """A mask on the observed and the latent sites (``poutine.mask``) drops their masked-out terms:
    the lean sum equals Pyro's, and differs from the unmasked one."""
    keep = torch.tensor([True, False, True, False, True])
    prior = dist.Normal if analytic_kl else dist.Cauchy  # KL(Normal || Cauchy) has no closed form

    def model(x, mask=True):
        with pyro.plate("data", x.shape[0]), pyro.poutine.mask(mask=mask):
            z = pyro.sample("z", prior(0.0, 1.0))
            pyro.sample("x", dist.Normal(z, 1.0), obs=x)

    def guide(x, mask=True):
        with pyro.plate("data", x.shape[0]), pyro.poutine.mask(mask=mask):
            pyro.sample("z", dist.Normal(x / 2, 0.5))

    x = torch.arange(5.0) * 3
    values = {}
    for name, elbo in (("lean", LeanTraceMeanField_ELBO()), ("stock", TraceMeanField_ELBO())):
        for mask in (keep, True):
            with pyro.validation_enabled(False):
                pyro.set_rng_seed(4)
                values[name, mask is True] = float(elbo.differentiable_loss(model, guide, x, mask=mask))
    assert values["lean", False] == pytest.approx(values["stock", False], rel=1e-5)
    assert values["lean", True] == pytest.approx(values["stock", True], rel=1e-5)
    assert abs(values["lean", False] - values["lean", True]) > 1.0



def assert_lean_equals_stock(model, guide, stock_calls):
    """The lean loss of ``model``/``guide`` on ``x = 0, 1, 2, 3`` is computed on its own path (the
    stock implementation is never called) and equals ``TraceMeanField_ELBO``'s with the same draws."""
    x = torch.arange(4.0)
    with pyro.validation_enabled(False):
        pyro.set_rng_seed(1)
        lean = float(LeanTraceMeanField_ELBO().differentiable_loss(model, guide, x))
    assert stock_calls == []
    pyro.set_rng_seed(1)
    assert lean == pytest.approx(float(TraceMeanField_ELBO().differentiable_loss(model, guide, x)), rel=1e-5)

def test_without_an_analytic_kl_the_lean_path_samples_log_p_minus_log_q(stock_calls):
    """No closed-form KL(q || p) (a Cauchy prior): the lean path uses log p(z) - log q(z) at the sampled
    z itself (no fallback), which is what Pyro computes."""
    def model(x):
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Cauchy(0.0, 1.0))
            pyro.sample("x", dist.Normal(z, 1.0), obs=x)

    def guide(x):
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.Normal(x / 2, 0.5))

    assert_lean_equals_stock(model, guide, stock_calls)


def test_an_observed_site_before_a_latent_one_stays_on_the_lean_path(stock_calls):
    def model(x):
        pyro.sample("first", dist.Normal(0.0, 1.0), obs=torch.tensor(0.5))
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(0.0, 1.0))
            pyro.sample("x", dist.Normal(z, 1.0), obs=x)

    def guide(x):
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.Normal(x / 2, 0.5))

    assert_lean_equals_stock(model, guide, stock_calls)
