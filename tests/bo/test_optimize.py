"""The acquisition maximiser's choice of starting points (:func:`pyroml.bo.optimize.boltzmann_starts`)."""

import torch
from hypothesis import given
from hypothesis import strategies as st

from pyroml.bo.optimize import boltzmann_starts


@given(st.lists(st.floats(-30, 30) | st.just(float("-inf")), min_size=1, max_size=60), st.integers(1, 12),
       st.sampled_from([None, 0.0, 1.0, 5.0]), st.integers(0, 10))
def test_the_starts_are_distinct_usable_and_include_the_best(values, k, eta, seed):
    v = torch.tensor(values, dtype=torch.float64)
    finite = int(torch.isfinite(v).sum())
    idx = boltzmann_starts(v, k, eta, torch.Generator().manual_seed(seed))
    assert idx.dtype == torch.long and idx.dim() == 1
    assert idx.numel() == (min(k, finite) if finite else 1)
    assert idx.unique().numel() == idx.numel()                                        # distinct
    if finite:
        assert torch.isfinite(v[idx]).all()                                          # never an unusable point
        assert float(v[idx].max()) == float(v[torch.isfinite(v)].max())              # the best always among them


def test_eta_none_or_equal_scores_give_the_top_k():
    v = torch.linspace(0, 1, 50, dtype=torch.float64)
    assert set(boltzmann_starts(v, 5, None).tolist()) == set(range(45, 50))
    equal = torch.ones(8, dtype=torch.float64)
    assert boltzmann_starts(equal, 3, 1.0).tolist() == equal.topk(3).indices.tolist()


def test_the_draw_favours_high_scores_but_looks_beyond_the_top_k():
    """1,000 scores on a line, 10 starts: not simply the top 10 (those would all sit on one peak
    of a smooth acquisition), yet well above the average score, the more so the colder (higher
    ``eta``) the draw; reproducible for a seeded generator."""
    v = torch.linspace(0, 1, 1000, dtype=torch.float64)
    top = set(range(990, 1000))
    means = {}
    for eta in (1.0, 5.0):
        draws = [boltzmann_starts(v, 10, eta, torch.Generator().manual_seed(s)) for s in range(20)]
        assert all(set(d.tolist()) != top for d in draws)
        assert all(999 in d.tolist() for d in draws)
        means[eta] = float(torch.stack([v[d].mean() for d in draws]).mean())
    assert 0.6 < means[1.0] < means[5.0]
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert boltzmann_starts(v, 10, 1.0, g1).tolist() == boltzmann_starts(v, 10, 1.0, g2).tolist()


def test_maximize_refines_the_top_starts_by_default_and_boltzmann_draws_with_eta(monkeypatch):
    """The maximiser's starts come from :func:`boltzmann_starts` with its ``eta``: ``None`` by
    default (the best ``restarts`` raw points), BoTorch's rule when ``eta`` is given; either
    way it returns the maximum of a simple concave acquisition."""
    import pyroml.bo.optimize as optimize
    seen = []

    def spy(values, k, eta=None, generator=None):
        seen.append(eta)
        return boltzmann_starts(values, k, eta, generator)
    monkeypatch.setattr(optimize, "boltzmann_starts", spy)
    box = torch.tensor([[0.0, -1.0], [2.0, 1.0]], dtype=torch.float64)
    for eta in (None, 1.0):
        kw = {} if eta is None else {"eta": eta}
        found = optimize.maximize(lambda X: -((X[:, 0, :] - torch.tensor([1.2, 0.3])) ** 2).sum(-1), box,
                                  raw_samples=64, restarts=4, seed=0, **kw)
        assert torch.allclose(found.x, torch.tensor([1.2, 0.3], dtype=torch.float64), atol=1e-5)
    assert seen == [None, 1.0]
