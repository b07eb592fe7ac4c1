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


def _noisy_gp(noise: float = 0.05, n: int = 7, scale: float = 10.0):
    """A 1-d GP on noisy values of a bowl (y in units of ``scale``), two hyperparameter settings."""
    from pyroml.gp import GP
    g = torch.Generator().manual_seed(0)
    X = torch.rand(n, 1, generator=g, dtype=torch.float64)
    y = scale * ((X[:, 0] - 0.4) ** 2 + noise * torch.randn(n, generator=g, dtype=torch.float64))
    gp = GP(X, y, kernel="matern52", bounds=torch.tensor([[0.0], [1.0]], dtype=torch.float64))
    hypers = {"lengthscale": torch.tensor([0.15, 0.3]), "variance": torch.tensor([1.0, 0.7]),
              "noise": torch.tensor([0.05, 0.02])}
    return gp, {k: v.double() for k, v in hypers.items()}


def test_noisy_ei_equals_a_brute_force_monte_carlo_of_the_joint_posterior():
    # E[max(min_i f(x_i) - f(x), 0)] under the joint posterior of (f(X), f(x)), sampled directly,
    # against the acquisition's exact inner EI over its latent draws (both in the units of y)
    gp, hypers = _noisy_gp()
    acq = bo.NoisyLogExpectedImprovement(gp, hypers, draws=160_000, seed=1)
    g = torch.Generator().manual_seed(2)
    for x in (0.3, 0.42, 0.6):
        pts = torch.cat([gp.X, torch.tensor([[x]], dtype=torch.float64)])
        c = gp.conditional(pts, hypers, full_cov=True)
        ests = []
        for s in range(2):
            cov = c.var[s] + 1e-9 * torch.eye(len(pts), dtype=torch.float64)
            z = torch.randn(200_000, len(pts), generator=g, dtype=torch.float64)
            f = c.mean[s] + z @ torch.linalg.cholesky(cov).T
            ests.append((f[:, :-1].min(-1).values - f[:, -1]).clamp_min(0).mean())
        brute = torch.stack(ests).mean()
        got = acq(torch.tensor([[[x]]], dtype=torch.float64)).exp()[0]
        assert brute > 1e-3 and abs(float(got / brute) - 1) < 0.03, (x, float(got), float(brute))


def test_noisy_ei_latent_draws_follow_the_posterior_at_the_evaluated_inputs():
    gp, hypers = _noisy_gp()
    acq = bo.NoisyLogExpectedImprovement(gp, hypers, draws=40_000, seed=0)
    c = gp.conditional(gp.X, hypers, full_cov=True)
    t = gp.output_transform
    draws = t.inverse_mean(acq.latent)                          # (S, n, J) in the units of y
    mean, cov = draws.mean(-1), torch.stack([torch.cov(d) for d in draws])
    sd = c.var.diagonal(dim1=-2, dim2=-1).sqrt()
    assert ((mean - c.mean).abs() < 4 * sd / 20_000 ** 0.5).all()
    assert torch.allclose(cov, c.var, atol=0.05 * float(sd.max()) ** 2)


def test_noisy_ei_without_noise_is_log_ei_below_the_best_observation():
    from pyroml.gp import GP
    g = torch.Generator().manual_seed(3)
    X = torch.rand(6, 2, generator=g, dtype=torch.float64)
    y = (X - 0.3).pow(2).sum(-1)
    gp = GP(X, y, kernel="matern52", noise=1e-14, bounds=torch.tensor([[0.0, 0.0], [1.0, 1.0]], dtype=torch.float64))
    hypers = {"lengthscale_0": torch.tensor([0.2]), "lengthscale_1": torch.tensor([0.3]),
              "variance": torch.tensor([1.0])}
    hypers = {k: v.double() for k, v in hypers.items()}
    nei = bo.NoisyLogExpectedImprovement(gp, hypers, draws=4)
    ei = bo.LogExpectedImprovement(gp, hypers, float(y.min()))
    Z = torch.rand(200, 1, 2, generator=g, dtype=torch.float64)
    a, b = nei(Z), ei(Z)
    keep = b > -15
    assert keep.sum() > 100 and torch.allclose(a[keep], b[keep], atol=1e-4)


def test_noisy_ei_is_deterministic_and_worthless_at_evaluated_inputs():
    gp, hypers = _noisy_gp()
    grid = torch.linspace(0, 1, 201, dtype=torch.float64)[:, None, None]
    acq = bo.NoisyLogExpectedImprovement(gp, hypers, seed=5)
    assert torch.equal(acq(grid), bo.NoisyLogExpectedImprovement(gp, hypers, seed=5)(grid))
    assert not torch.equal(acq(grid), bo.NoisyLogExpectedImprovement(gp, hypers, seed=6)(grid))
    # an evaluated input's value is in every draw's incumbent: no expected improvement left there
    assert float(acq(gp.X[:, None, :]).max()) < float(acq(grid).max()) - 5


def test_noisy_ei_refuses_a_number_of_draws_that_is_not_a_positive_integer():
    import pytest
    gp, hypers = _noisy_gp()
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="draws must be an integer >= 1"):
            bo.NoisyLogExpectedImprovement(gp, hypers, draws=bad)
