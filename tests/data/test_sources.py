import pytest
import torch

import pyroml
from pyroml.data import load_mnist
from tests.conftest import MNIST_SHAPE


def test_loader_reads_idx_files(tiny_mnist):
    train, test = load_mnist(tiny_mnist)
    assert train.x.shape == (64, *MNIST_SHAPE) and test.x.shape == (32, *MNIST_SHAPE)
    assert train.x.dtype == torch.float32 and train.y.dtype == torch.int64
    assert float(train.x.min()) >= 0.0 and float(train.x.max()) <= 1.0
    assert float(train.x.max()) > 0.9  # scaled by 255, not left at 0..255 nor binarised
    assert train.y[:10].tolist() == list(range(10))


def test_loader_env_var_and_subset(tiny_mnist, monkeypatch):
    monkeypatch.setenv("PYROML_DATA_DIR", str(tiny_mnist))
    train, test = load_mnist(subset=10)
    assert len(train) == 10 and len(test) == 10
    again, _ = load_mnist(subset=10)
    assert torch.equal(train.x, again.x)


def test_missing_files_error_names_dir_files_and_fix(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        load_mnist(tmp_path / "nowhere")
    msg = str(e.value)
    assert "nowhere" in msg and "t10k-images-idx3-ubyte" in msg
    assert "download" in msg and "PYROML_DATA_DIR" in msg


def test_real_mnist_counts(mnist_dir):
    train, test = pyroml.data.load_mnist(mnist_dir)
    assert len(train) == 60000 and len(test) == 10000
    assert torch.bincount(test.y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
