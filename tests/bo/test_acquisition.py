import torch

from pyroml import bo


def test_log_expected_improvement_is_stable_and_matches_plain_ei():
    mean = torch.tensor([0.0, 1.0, 3.0, 40.0], dtype=torch.float64)
    std = torch.tensor([1.0, 0.5, 0.2, 1.0], dtype=torch.float64)
    z = (0.5 - mean) / std
    normal = torch.distributions.Normal(0.0, 1.0)
    plain = std * (z * normal.cdf(z) + normal.log_prob(z).exp())
    log_ei = bo.log_expected_improvement(mean, std, 0.5)
    assert torch.allclose(log_ei[:3].exp(), plain[:3], rtol=1e-9)
    assert torch.isfinite(log_ei).all() and log_ei[3] < -700                          # plain EI underflows there
