import pyro.distributions as dist
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from pyroml.models.likelihoods import GreyBernoulli, softplus_sum
from tests.conftest import MNIST_D, MNIST_SHAPE, mnist_images


@given(batch=st.integers(1, 5), k=st.integers(1, 3))
def test_grey_bernoulli_matches_pyro_bernoulli(batch, k):
    logits = 4 * torch.randn(k, batch, *MNIST_SHAPE)
    x = mnist_images(batch)
    ref = dist.Bernoulli(logits=logits, validate_args=False).to_event(3).log_prob(x)
    fast = GreyBernoulli(logits, 3).log_prob(x)
    assert fast.shape == (k, batch)
    assert torch.allclose(fast, ref, rtol=1e-5, atol=1e-2)


@given(scale=st.floats(0.01, 60.0), seed=st.integers(0, 2 ** 16))
def test_softplus_sum_without_autograd_matches_softplus(scale, seed):
    """The evaluation path (no autograd) of the Bernoulli term's softplus sum agrees with
    float64 softplus to float32 accuracy, for tiny and huge logits alike; the training path
    is F.softplus itself and keeps its gradient."""
    logits = scale * torch.randn(7, MNIST_D, generator=torch.Generator().manual_seed(seed))
    exact = F.softplus(logits.double()).sum(-1)
    with torch.no_grad():
        fast = softplus_sum(logits)
    assert torch.allclose(fast.double(), exact, rtol=1e-6, atol=2e-3)
    leaf = logits.clone().requires_grad_(True)
    softplus_sum(leaf).sum().backward()
    assert torch.allclose(leaf.grad, torch.sigmoid(logits), atol=1e-6)
