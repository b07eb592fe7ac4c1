"""`--dataset` / `--data` on the command line, the data record of a run, and data-aware reuse."""

import json
import shutil

import numpy as np
import pytest

import pyroml
from pyroml.cli import main
from pyroml.studies import comparison as cmp
from tests.conftest import write_idx

COMMON = ["--no-download", "--no-progress", "--iwae-k", "2", "--epochs", "1"]


def _fashion_dir(tiny_mnist):
    """The tiny MNIST files copied into Fashion-MNIST's folder: the same layout, another data set."""
    shutil.copytree(tiny_mnist / "MNIST" / "raw", tiny_mnist / "FashionMNIST" / "raw")
    return tiny_mnist


def test_train_on_a_named_dataset_records_it(tiny_mnist, tmp_path):
    data = _fashion_dir(tiny_mnist)
    out = tmp_path / "vae"
    assert main(["train", "vae", "--dataset", "fashion-mnist", "--data-dir", str(data), "--out", str(out),
                 *COMMON]) == 0
    record = json.loads((out / "metrics.json").read_text())["data"]
    assert record["source"] == "fashion-mnist" and record["n_train"] == 64 and record["n_test"] == 32
    train, _ = pyroml.data.load("fashion-mnist", data)
    assert record["fingerprint"] == train.fingerprint()


@pytest.mark.parametrize("kind", ["csv", "npz", "npy"])
def test_train_and_evaluate_on_your_own_table(kind, tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(60, 4)), rng.integers(0, 3, size=60)
    path = tmp_path / f"table.{kind}"
    extra = []
    if kind == "csv":
        lines = ["a,b,c,d,label"] + [",".join(f"{v:.5f}" for v in row) + f",{c}" for row, c in zip(x, y)]
        path.write_text("\n".join(lines) + "\n")
        extra = ["--label-column", "label"]
    elif kind == "npz":
        np.savez(path, x=x, y=y)
    else:
        np.save(path, x)
    out = tmp_path / "ppca"
    assert main(["train", "ppca", "--data", str(path), "--out", str(out), *extra, *COMMON]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["event_shape"] == [4] and metrics["data"]["n_test"] == 6  # 10% held out
    assert metrics["data"]["source"] == str(path.resolve())
    files = {p.name for p in out.iterdir()}
    assert "latent_scatter.png" in files and "reconstructions.png" not in files  # a table: no image grids
    assert main(["evaluate", str(out / "model.pt"), "--data", str(path), *extra, "--no-download"]) == 0


def test_data_that_do_not_fit_the_model_exit_2(tiny_mnist, tmp_path, capsys):
    out = tmp_path / "vae"
    assert main(["train", "vae", "--data-dir", str(tiny_mnist), "--out", str(out), *COMMON]) == 0
    np.save(tmp_path / "t.npy", np.random.default_rng(0).normal(size=(20, 5)))
    assert main(["evaluate", str(out / "model.pt"), "--data", str(tmp_path / "t.npy")]) == 2
    err = capsys.readouterr().err
    assert "(N, 1, 28, 28)" in err and len(err.strip().splitlines()) == 1
    assert main(["train", "vae", "--data", str(tmp_path / "t.npy"), "--out", str(tmp_path / "v2"), *COMMON]) == 2
    assert "likelihood='gaussian'" in capsys.readouterr().err
    assert main(["train", "vae", "--data", str(tmp_path / "missing.csv"), *COMMON]) == 2
    assert "no data at" in capsys.readouterr().err


def test_compare_retrains_a_model_trained_on_other_data(tiny_mnist, tmp_path):
    kw = {"download": False, "progress": False, "models": ["ppca"], "echo": lambda *a: None, "quick": True}
    first = cmp.compare(str(tiny_mnist), str(tmp_path / "out"), **kw)["rows"][0]
    assert not first["loaded"]
    assert cmp.compare(str(tiny_mnist), str(tmp_path / "out"), **kw)["rows"][0]["loaded"]
    other = write_idx(tmp_path / "other", seed=1)                 # same sizes, other images
    assert not cmp.compare(str(other), str(tmp_path / "out"), **kw)["rows"][0]["loaded"]


def test_compare_shows_the_study_columns_on_mnist_only(tiny_mnist, tmp_path):
    kw = {"download": False, "progress": False, "models": ["ppca"], "echo": lambda *a: None, "quick": True}
    cmp.compare(str(tiny_mnist), str(tmp_path / "m"), **kw)
    assert "study" in (tmp_path / "m" / "table.md").read_text()
    data = _fashion_dir(tiny_mnist)
    row = cmp.compare(str(data), str(tmp_path / "f"), dataset="fashion-mnist", **kw)["rows"][0]
    assert "study" not in (tmp_path / "f" / "table.md").read_text() and row["study_log_likelihood"] is None


def test_default_epochs_give_small_tables_enough_steps(tmp_path):
    np.save(tmp_path / "t.npy", np.random.default_rng(0).normal(size=(60, 4)))
    out = tmp_path / "ppca"
    assert main(["train", "ppca", "--data", str(tmp_path / "t.npy"), "--out", str(out), "--no-progress"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["batch_size"] == 1000 and metrics["epochs"] == 500      # 54 rows: one step an epoch
    assert len(pyroml.load(out / "model.pt").history["step_loss"]) >= 500
