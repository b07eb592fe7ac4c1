"""Tests that kill mutants of :mod:`pyroml.infer.engine` (issue 15, item 6) which the rest of the
suite let survive. The model is a one-dimensional PPCA on 3-d examples, so each test
takes milliseconds."""

import math
import os

import pyro
import pytest
import torch

import pyroml
from tests.infer.toys import Toy


def ppca():
    """A small registered model (checkpoints need one): PPCA with one latent dimension."""
    return pyroml.PPCA(latent_dim=1)


def data(n=12):
    return torch.randn(n, 3, generator=torch.Generator().manual_seed(0)) + 2.0


def test_resume_without_a_checkpoint_yet_trains_every_epoch_and_writes_one(tmp_path):
    ck = tmp_path / "new.pt"
    h = pyroml.fit(ppca(), data(), epochs=3, batch_size=4, progress=False, checkpoint=str(ck), resume=True)
    assert len(h.train_elbo) == 3 and len(h.step_loss) == 9
    assert ck.exists()
    again = pyroml.fit(ppca(), data(), epochs=3, batch_size=4, progress=False, checkpoint=str(ck), resume=True)
    assert again.step_loss == h.step_loss  # all three epochs were done: nothing more to train


def test_a_resume_names_every_changed_setting(tmp_path):
    ck = str(tmp_path / "ck.pt")
    pyroml.fit(ppca(), data(), epochs=1, batch_size=4, lr=0.01, progress=False, checkpoint=ck)
    with pytest.raises(ValueError, match=r"batch_size=4 \(now 6\), lr=0\.01 \(now 0\.02\): resume"):
        pyroml.fit(ppca(), data(), epochs=2, batch_size=6, lr=0.02, progress=False, checkpoint=ck, resume=True)


def test_a_nan_distribution_parameter_on_the_first_step_stops_training_by_name():
    """Pyro's argument check (on the first step) finds the NaN location: a FloatingPointError naming it,
    the epoch and the step, and the parameters untouched."""
    m = Toy(nan_after=0)
    with pytest.raises(FloatingPointError, match=r"^a distribution parameter became NaN/inf at epoch 1, step 1:"):
        pyroml.fit(m, data(8), epochs=1, batch_size=4, progress=False)
    assert torch.equal(m.mu.detach(), torch.zeros(3))


class Refuses(Toy):
    """A model that raises its own ValueError."""

    def model(self, x):
        raise ValueError("this model refuses the batch")


def test_a_value_error_of_the_model_itself_is_not_taken_for_divergence():
    with pytest.raises(ValueError, match="this model refuses the batch"):
        pyroml.fit(Refuses(), data(8), epochs=1, batch_size=4, progress=False)


def test_an_epochs_elbo_is_the_batch_weighted_mean_of_its_steps():
    """train_elbo[e] = -(1/N) sum_steps B_s * step_loss_s: batches of 4, 4 and 2 of N = 10."""
    h = pyroml.fit(Toy(), data(10), epochs=2, batch_size=4, lr=0.05, progress=False)
    assert len(h.step_loss) == 6
    for e in range(2):
        losses = h.step_loss[3 * e: 3 * e + 3]
        expected = -(4 * losses[0] + 4 * losses[1] + 2 * losses[2]) / 10
        assert h.train_elbo[e] == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("likelihood, desc", [("bernoulli", "VAE"),
                                              ("continuous_bernoulli", "VAE (continuous_bernoulli)"),
                                              ("gaussian", "VAE (gaussian)")])
def test_the_progress_bar_names_the_model_and_its_likelihood(likelihood, desc):
    from pyroml.infer.engine import _progress_bar

    bar = _progress_bar(pyroml.VAE(hidden=(4,), likelihood=likelihood), epochs=3, start=1, steps_per_epoch=5,
                        show=True)
    try:
        assert (bar.desc, bar.total, bar.n, bar.disable) == (desc, 15, 5, False)
    finally:
        bar.close()
    hidden = _progress_bar(Toy(), epochs=1, start=0, steps_per_epoch=2, show=False)
    try:
        assert hidden.disable is True
    finally:
        hidden.close()


def recorder():
    """A Lightning Fabric logger that keeps what it is given: ``rows``, ``(step, metrics)``."""
    from lightning_fabric.loggers import Logger

    class Recorder(Logger):
        name, version = "recorder", 0

        def __init__(self):
            super().__init__()
            self.rows = []

        def log_metrics(self, metrics, step=None):
            self.rows.append((step, dict(metrics)))

        def log_hyperparams(self, params, *args, **kwargs):
            self.rows.append(("hparams", dict(params)))

    return Recorder()


def test_loggers_receive_each_steps_loss_and_each_epochs_elbos():
    rec = recorder()
    x = data(10)
    h = pyroml.fit(Toy(), x[:8], epochs=2, batch_size=4, lr=0.05, progress=False, validation=x[8:], logger=rec)
    steps = [m for s, m in rec.rows if s != "hparams" and "train/loss" in m]
    epochs = [(s, m) for s, m in rec.rows if s != "hparams" and "epoch" in m]
    assert [m["train/loss"] for m in steps] == pytest.approx(h.step_loss)
    assert [s for s, _ in epochs] == [1, 3]
    assert [m["epoch/train_elbo"] for _, m in epochs] == pytest.approx(h.train_elbo)
    assert [m["epoch/val_elbo"] for _, m in epochs] == pytest.approx(h.val_elbo)
    assert [m["epoch/seconds"] for _, m in epochs] == pytest.approx(h.epoch_seconds)


@pytest.mark.parametrize("schedule", ["cosine", "exponential"])
def test_a_schedule_decays_the_learning_rate_to_its_final_fraction(schedule):
    rec = recorder()
    pyroml.fit(Toy(), data(8), epochs=4, batch_size=4, lr=0.1, lr_schedule=schedule, final_lr_fraction=0.1,
               progress=False, logger=rec)
    lrs = [m["train/lr"] for s, m in rec.rows if s != "hparams" and "train/lr" in m]
    assert len(lrs) == 8 and all(a > b for a, b in zip(lrs, lrs[1:]))
    assert lrs[0] <= 0.1 and lrs[-1] >= 0.1 * 0.1 - 1e-12
    assert lrs[-1] <= (0.1 * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 7 / 8))) if schedule == "cosine"
                       else 0.1 * 0.1 ** (7 / 8)) + 1e-12


def test_the_default_is_25_epochs():
    h = pyroml.fit(Toy(), data(8), progress=False)  # batch_size 128 > N: one step per epoch
    assert len(h.train_elbo) == len(h.step_loss) == 25


def test_a_negative_num_workers_is_refused_before_any_work():
    m = Toy()
    with pytest.raises(ValueError, match="num_workers must be an integer >= 0, got -1"):
        pyroml.fit(m, data(8), epochs=1, progress=False, num_workers=-1)
    assert torch.equal(m.mu.detach(), torch.zeros(3))


class Pids(torch.utils.data.Dataset):
    """A map-style dataset that records the process reading each item."""

    def __init__(self, x):
        self.x = x

    def __len__(self):
        return self.x.shape[0]

    def __getitem__(self, i):
        return torch.cat([self.x[i], torch.tensor([float(os.getpid())])])


def test_num_workers_reach_the_loader_of_a_streamed_source():
    """One worker process reads the batches of a torch Dataset: the pids in the data are not ours."""
    seen = []

    class Spy(Toy):
        def __init__(self):
            super().__init__()
            self.mu = torch.nn.Parameter(torch.zeros(4))
            self._event_shape = (4,)

        def model(self, x):
            seen.append(x[:, -1].clone())
            with pyro.plate("data", x.shape[0], dim=-1):
                pyro.sample("x", pyro.distributions.Normal(self.mu, 1.0).to_event(1), obs=x)

    pyroml.fit(Spy(), Pids(data(8)), epochs=1, batch_size=4, progress=False, num_workers=1)
    pids = {int(p) for t in seen[-2:] for p in t.tolist()}
    assert os.getpid() not in pids and len(pids) == 1
