"""Tests that kill mutants of :mod:`pyroml.evaluation.report` and :mod:`pyroml.evaluation.metrics`
(issue 15, item 6) which the rest of the suite let survive: each reported number against its
definition, recomputed here, and the report's text and JSON fields."""

import json
import math

import pytest
import torch
from torch.utils.data import TensorDataset

import pyroml
from pyroml.data import Dataset
from pyroml.evaluation import Report, bits_per_dim, dequantise
from pyroml.infer import elbo_per_example
from pyroml.infer.distributed import block as _block


def table(n=12, d=4, seed=0):
    """``n`` examples of ``d`` real values with a 1-d structure: ``(n, d)``."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, generator=g) @ torch.randn(1, d, generator=g) + 0.1 * torch.randn(n, d, generator=g)


@pytest.fixture(scope="module")
def ppca():
    torch.manual_seed(0)
    m = pyroml.PPCA(latent_dim=1)
    pyroml.fit(m, table(), epochs=3, batch_size=6, progress=False)
    return m


def test_each_number_is_its_definition(ppca):
    x, y = table(), torch.arange(12) % 3
    r = pyroml.evaluate(ppca, Dataset(x, y), batch_size=5, seed=1)
    assert (r.model, r.n, r.elbo_particles) == ("PPCA", 12, 1)
    assert (r.log_likelihood_method, r.iwae_k) == ("exact", None)
    with torch.no_grad():
        assert r.log_likelihood == pytest.approx(float(ppca.log_likelihood(x).mean()), rel=1e-5)
        assert r.mse == pytest.approx(float(((ppca.reconstruct(x) - x) ** 2).mean()), rel=1e-5)
        assert torch.allclose(r.latents, ppca.encode(x), atol=1e-6)
    assert torch.equal(r.labels, y)
    assert r.mse_sample > r.mse > 0  # a posterior sample reconstructs worse than its mean
    assert r.elbo == pytest.approx(elbo_per_example(ppca, x), rel=1e-4)  # PPCA's ELBO is analytic in q's mean
    assert r.elbo <= r.log_likelihood + 1e-4
    assert r.seconds > 0


def test_the_elbo_takes_as_many_particles_as_asked(ppca):
    r = pyroml.evaluate(ppca, table(), elbo_particles=3, iwae_k=0, seed=1)
    assert r.elbo_particles == 3
    assert r.elbo == pytest.approx(elbo_per_example(ppca, table(), num_particles=3), rel=1e-4)


def test_a_model_without_an_exact_likelihood_gets_the_iwae_bound():
    torch.manual_seed(0)
    m = pyroml.VAE(hidden=(8,), event_shape=(1, 4, 4))
    x = torch.rand(10, 1, 4, 4)
    r = pyroml.evaluate(m, x, iwae_k=7, seed=2)
    assert (r.log_likelihood_method, r.iwae_k, r.labels) == ("iwae", 7, None)
    assert r.log_likelihood > r.elbo - 1.0
    none = pyroml.evaluate(m, x, iwae_k=0, seed=2)
    assert (none.log_likelihood, none.log_likelihood_method, none.iwae_k) == (None, None, None)
    assert none.elbo == r.elbo  # the same seed: the same ELBO draws before the bound


def test_a_stream_with_labels_carries_them_into_the_report(ppca):
    x, y = table(), torch.arange(12) % 4
    r = pyroml.evaluate(ppca, TensorDataset(x, y), batch_size=5, seed=1)
    assert torch.equal(r.labels, y)
    mem = pyroml.evaluate(ppca, Dataset(x, y), batch_size=5, seed=1)
    assert r.mse == pytest.approx(mem.mse, rel=1e-6) and r.log_likelihood == pytest.approx(mem.log_likelihood)
    assert pyroml.evaluate(ppca, TensorDataset(x), batch_size=5).labels is None


def test_blocks_tile_the_examples_in_rank_order():
    for n, world in ((10, 3), (12, 4), (5, 2), (3, 3)):
        blocks = [_block(n, r, world) for r in range(world)]
        assert [i for b in blocks for i in b] == list(range(n))
        assert max(len(b) for b in blocks) - min(len(b) for b in blocks) <= 1
    assert _block(10, 1, 3) == range(3, 6)


def report(**kw):
    base = {"model": "VAE", "n": 50, "elbo": -100.123, "elbo_particles": 1, "log_likelihood": -95.5,
            "log_likelihood_method": "iwae", "iwae_k": 10, "mse": 0.01234, "mse_sample": 0.05678, "seconds": 1.0}
    return Report(**{**base, **kw})


def test_the_report_reads_as_one_line():
    assert str(report()) == ("VAE on 50 examples: ELBO -100.12 nats (1 particle), log-likelihood -95.50 (iwae, "
                             "K=10), MSE 0.0123 (posterior mean) / 0.0568 (posterior sample)")
    assert "(2 particles)" in str(report(elbo_particles=2))
    assert "log-likelihood -95.50 (exact), MSE" in str(report(log_likelihood_method="exact", iwae_k=None))
    assert "log-likelihood n/a, MSE" in str(report(log_likelihood=None, log_likelihood_method=None, iwae_k=None))


def test_the_json_holds_every_scalar_and_no_tensor(tmp_path):
    r = report(latents=torch.zeros(50, 2), labels=torch.zeros(50))
    d = r.to_dict()
    assert set(d) == {"model", "n", "elbo", "elbo_particles", "log_likelihood", "log_likelihood_method", "iwae_k",
                      "mse", "mse_sample", "seconds"}
    r.save_json(str(tmp_path / "r.json"))
    assert json.loads((tmp_path / "r.json").read_text()) == d


def test_bits_per_dim_and_dequantise_by_their_formulas():
    assert bits_per_dim(-10.0, 4) == pytest.approx((10.0 + 4 * math.log(256)) / (4 * math.log(2)))
    assert bits_per_dim(0.0, 1) == pytest.approx(8.0)
    x = torch.tensor([0.0, 1.0, 128 / 255])
    u = dequantise(x, seed=3)
    eps = torch.rand(3, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(u, (torch.tensor([0.0, 255.0, 128.0]) + eps) / 256)
    assert not torch.equal(u, dequantise(x, seed=4))
    with pytest.raises(ValueError, match="bits_per_dim got a NaN"):
        bits_per_dim(float("nan"), 4)
    with pytest.raises(ValueError, match=r"^d must be an integer >= 1, got 0"):
        bits_per_dim(-1.0, 0)
    assert torch.equal(dequantise(x), dequantise(x, seed=0))
    for bad in ([0.5, 1.5], [-0.1, 0.5]):
        with pytest.raises(ValueError, match="dequantise takes 8-bit values divided by 255, on"):
            dequantise(torch.tensor(bad))


def test_bad_evaluation_data_is_named_as_such(ppca):
    for data in (table()[:, :3], torch.utils.data.TensorDataset(table()[:, :3])):
        with pytest.raises(ValueError, match="evaluation data"):
            pyroml.evaluate(ppca, data)


@pytest.mark.parametrize("stream", [False, True])
def test_two_ranks_each_score_their_block_and_rank_0_reports_the_whole(ppca, monkeypatch, stream):
    """``torch.distributed`` simulated in one process: rank 1 scores its block first (what it would
    send is recorded), then rank 0 scores its own and joins rank 1's: the report of all the data."""
    import pyroml.evaluation.report as report_module

    x, y = table(), torch.arange(12) % 5
    data = TensorDataset(x, y) if stream else Dataset(x, y)
    whole = pyroml.evaluate(ppca, data, batch_size=5, seed=1)
    sent = {}

    def rank_1_gather(obj):
        sent["gather"] = obj
        return [obj, obj]

    def rank_1_sum(values, device):
        sent["sum"] = list(values)
        return values

    monkeypatch.setattr(report_module, "process_group", lambda: (1, 2))
    monkeypatch.setattr(report_module, "all_gather", rank_1_gather)
    monkeypatch.setattr(report_module, "all_sum", rank_1_sum)
    pyroml.evaluate(ppca, data, batch_size=5, seed=1)
    assert sent["gather"][0].shape == (6, 1)  # rank 1's block: examples 6..11
    monkeypatch.setattr(report_module, "process_group", lambda: (0, 2))
    monkeypatch.setattr(report_module, "all_gather", lambda obj: [obj, sent["gather"]])
    monkeypatch.setattr(report_module, "all_sum", lambda values, device: [a + b for a, b in zip(values, sent["sum"])])
    r = pyroml.evaluate(ppca, data, batch_size=5, seed=1)
    assert r.n == 12
    assert torch.allclose(r.latents, whole.latents, atol=1e-6)
    assert torch.equal(r.labels, y)
    assert r.mse == pytest.approx(whole.mse, rel=1e-5)
    assert r.log_likelihood == pytest.approx(whole.log_likelihood, rel=1e-5)
    assert r.elbo == pytest.approx(whole.elbo, rel=1e-3)
