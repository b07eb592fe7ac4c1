"""Metric logging through Lightning Fabric's loggers (issue 13, item 4)."""

import csv
import importlib.util

import pytest

import pyroml
from pyroml.infer import logs
from tests.conftest import mnist_images


def _fit(tmp_path, logger, **kw):
    model = pyroml.VAE(hidden=(16,), decoder_hidden=(16,))
    x = mnist_images(200)
    return pyroml.fit(model, x, epochs=2, batch_size=64, progress=False, logger=logger, log_dir=str(tmp_path), **kw)


def test_csv_has_every_step_and_every_epoch(tmp_path):
    h = _fit(tmp_path, "csv", validation=mnist_images(50))
    rows = list(csv.DictReader((tmp_path / "csv" / "version_0" / "metrics.csv").open()))
    steps = [r for r in rows if r["train/loss"]]
    assert [int(r["step"]) for r in steps] == list(range(8))  # 4 steps an epoch, global numbering
    assert [float(r["train/loss"]) for r in steps] == pytest.approx(h.step_loss)
    epochs = [r for r in rows if r["epoch/train_elbo"]]
    assert [float(r["epoch/train_elbo"]) for r in epochs] == pytest.approx(h.train_elbo)
    assert [float(r["epoch/val_elbo"]) for r in epochs] == pytest.approx(h.val_elbo)
    assert all(float(r["train/lr"]) == 1e-3 for r in steps)


def test_a_resumed_run_logs_into_a_new_version_and_continues_the_steps(tmp_path):
    ckpt = str(tmp_path / "c.pt")
    model = pyroml.VAE(hidden=(16,), decoder_hidden=(16,))
    x = mnist_images(200)
    pyroml.fit(model, x, epochs=1, batch_size=64, progress=False, logger="csv", log_dir=str(tmp_path), checkpoint=ckpt)
    pyroml.fit(model, x, epochs=2, batch_size=64, progress=False, logger="csv", log_dir=str(tmp_path), checkpoint=ckpt,
               resume=True)
    rows = list(csv.DictReader((tmp_path / "csv" / "version_1" / "metrics.csv").open()))
    assert [int(r["step"]) for r in rows if r["train/loss"]] == [4, 5, 6, 7]


@pytest.mark.skipif(importlib.util.find_spec("tensorboard") is None, reason="tensorboard not installed (optional)")
def test_tensorboard_event_files(tmp_path):
    _fit(tmp_path, "tensorboard")
    assert list((tmp_path / "tensorboard" / "version_0").glob("events.out.tfevents.*"))


def test_tensorboard_missing_says_how_to_install(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ImportError, match="pip install tensorboard"):
        logs.make_loggers("tensorboard", None)


@pytest.mark.parametrize("bad", ["wandb", 3, ["csv", "mlflow"]])
def test_unknown_loggers_are_refused_before_any_work(bad, tmp_path):
    model = pyroml.VAE(hidden=(8,))
    with pytest.raises(ValueError, match="logger="):
        pyroml.fit(model, mnist_images(8), epochs=1, progress=False, logger=bad, log_dir=str(tmp_path))
    assert model._event_shape is None and not list(tmp_path.iterdir())


def test_the_logged_learning_rate_is_the_one_each_step_used(tmp_path):
    _fit(tmp_path, "csv", lr_schedule="exponential", final_lr_fraction=0.01)
    rows = list(csv.DictReader((tmp_path / "csv" / "version_0" / "metrics.csv").open()))
    lrs = [float(r["train/lr"]) for r in rows if r["train/loss"]]
    assert lrs[0] == pytest.approx(1e-3)  # the first step uses the base rate
    assert lrs[-1] == pytest.approx(1e-3 * 0.01 ** (7 / 8))  # step 8 of 8: 7 decays taken
