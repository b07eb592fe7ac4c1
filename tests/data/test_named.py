"""pyroml.data.load: each named data set read from small files written in its own format, offline;
the missing-files and failed-download messages; the real Fashion-MNIST where it is on disk."""

import os
import pickle
import string
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import pyroml
from pyroml.data import DATASETS, DownloadError, dataset_names, load, load_mnist
from pyroml.data.formats import CIFAR10_CLASSES
from tests.data.conftest import EMNIST_NAMES, SIZES, write_cifar10, write_mnist_like, write_svhn

FASHION = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
MNIST_LIKES = [
    ("mnist", "MNIST", tuple("0123456789")),
    ("fashion-mnist", "FashionMNIST", FASHION),
    ("kmnist", "KMNIST", ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo")),
]


def test_the_named_data_sets():
    assert dataset_names() == ("mnist", "fashion-mnist", "kmnist", "emnist-letters", "cifar10", "svhn")
    assert set(DATASETS) == set(dataset_names()) and all(isinstance(v, str) and v for v in DATASETS.values())


def test_class_names_are_torchvisions():
    import torchvision.datasets as tvd

    from pyroml.data.sources import _SOURCES

    assert _SOURCES["fashion-mnist"].class_names == tuple(tvd.FashionMNIST.classes)
    assert _SOURCES["kmnist"].class_names == tuple(tvd.KMNIST.classes)
    assert _SOURCES["emnist-letters"].class_names == tuple(tvd.EMNIST.classes_split_dict["letters"][1:])


@pytest.mark.parametrize("name, folder, classes", MNIST_LIKES)
def test_mnist_likes_from_idx_files(tmp_path, name, folder, classes):
    written = write_mnist_like(tmp_path, folder)
    train, test = load(name, tmp_path)
    for split, ds in (("train", train), ("test", test)):
        assert ds.x.shape == (SIZES[split], 1, 28, 28) and ds.x.dtype == torch.float32 and ds.y.dtype == torch.int64
        assert torch.equal(ds.x[:, 0], torch.from_numpy(written[split]).float() / 255)
        assert ds.y.tolist() == written[f"{split}_labels"].tolist()
        assert ds.spec.class_names == classes and ds.spec.name == name and ds.spec.support == "unit"


def test_emnist_letters_upright_and_labelled_from_zero(tmp_path):
    written = write_mnist_like(tmp_path, "EMNIST", EMNIST_NAMES, n_classes=26, first_label=1)  # as stored: 1..26
    train, test = load("emnist-letters", tmp_path)
    assert train.x.shape == (SIZES["train"], 1, 28, 28) and test.x.shape == (SIZES["test"], 1, 28, 28)
    stored = torch.from_numpy(written["train"]).float() / 255
    assert torch.equal(train.x[:, 0], stored.transpose(1, 2))  # the files hold each image transposed
    assert train.y.tolist() == (written["train_labels"].astype(int) - 1).tolist() and int(train.y.min()) == 0
    assert train.class_names == tuple(string.ascii_lowercase)


def test_cifar10_from_python_batches(tmp_path):
    written = write_cifar10(tmp_path, n=3)
    train, test = load("cifar10", tmp_path)
    assert train.x.shape == (15, 3, 32, 32) and test.x.shape == (3, 3, 32, 32)
    assert torch.equal(train.x, torch.from_numpy(written["train"]).float() / 255)
    assert train.y.tolist() == written["train_labels"].tolist() and test.y.dtype == torch.int64
    assert train.class_names == CIFAR10_CLASSES and train.spec.name == "cifar10"


def test_torchvision_would_refuse_these_files(tmp_path):
    """Why CIFAR-10 is read here: torchvision checks each batch's MD5 against the published files."""
    import torchvision.datasets as tvd

    write_cifar10(tmp_path, n=2)
    with pytest.raises(RuntimeError, match="not found or corrupted"):
        tvd.CIFAR10(str(tmp_path), train=True, download=False)


def test_cifar10_python2_pickles_and_meta_names(tmp_path):
    write_cifar10(tmp_path, n=2, label_names=[f"c{i}" for i in range(10)])
    folder = tmp_path / "cifar-10-batches-py"
    for f in folder.iterdir():  # as written by Python 2 and numpy 1: numpy.core, not numpy._core
        f.write_bytes(f.read_bytes().replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))
    train, _ = load("cifar10", tmp_path)
    assert train.x.shape == (10, 3, 32, 32) and train.class_names == tuple(f"c{i}" for i in range(10))


def test_cifar10_refuses_a_pickle_that_runs_code(tmp_path):
    write_cifar10(tmp_path, n=2)

    class Exploit:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    (tmp_path / "cifar-10-batches-py" / "data_batch_3").write_bytes(pickle.dumps({"data": Exploit()}, protocol=2))
    with pytest.raises(ValueError, match=r"refusing to load .*system"):
        load("cifar10", tmp_path)


def test_cifar10_rejects_a_batch_of_another_shape(tmp_path):
    write_cifar10(tmp_path, n=2)
    with open(tmp_path / "cifar-10-batches-py" / "test_batch", "wb") as f:
        pickle.dump({"data": np.zeros((2, 100), np.uint8), "labels": [0, 1]}, f)
    with pytest.raises(ValueError, match=r"not a CIFAR-10 batch: expected 'data' uint8 of shape \(N, 3072\)"):
        load("cifar10", tmp_path)


@pytest.mark.parametrize("layout", ["SVHN", "."])
def test_svhn_from_mat_files(tmp_path, layout):
    pytest.importorskip("scipy")
    written = write_svhn(tmp_path / layout)
    train, test = load("svhn", tmp_path)
    assert train.x.shape == (SIZES["train"], 3, 32, 32) and test.x.shape == (SIZES["test"], 3, 32, 32)
    assert torch.equal(train.x, torch.from_numpy(written["train"]).float() / 255)
    assert train.y.tolist() == [v % 10 for v in written["train_labels"].tolist()]  # label 10 is the digit 0
    assert 10 in written["train_labels"] and 0 in train.y.tolist() and int(train.y.max()) <= 9
    assert train.class_names == tuple("0123456789")


def test_svhn_without_scipy_says_pip_install_scipy(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "scipy", None)
    monkeypatch.setitem(sys.modules, "scipy.io", None)
    with pytest.raises(ImportError, match="pip install scipy"):
        load("svhn", tmp_path)


# --- where the files are, and when they are not --------------------------------------------------------------------


def test_data_dir_from_the_environment_subset_and_aliases(tmp_path, monkeypatch):
    write_mnist_like(tmp_path, "KMNIST")
    monkeypatch.setenv("PYROML_DATA_DIR", str(tmp_path))
    train, test = load("KMNIST", subset=5, seed=3)
    assert len(train) == 5 and len(test) == 5 and train.class_names[0] == "o"
    again, _ = load("kmnist", subset=5, seed=3)
    assert torch.equal(train.x, again.x)
    write_mnist_like(tmp_path, "FashionMNIST")
    assert load("fashion_mnist")[0].class_names == FASHION == load("FMNIST")[0].class_names


@pytest.mark.parametrize("name, subset, match", [
    ("imagenet", None, r"unknown dataset 'imagenet'; pyroml.data.load knows mnist, fashion-mnist.*from_folder"),
    (3, None, "unknown dataset 3"),
    ("mnist", 0, "subset must be an integer >= 1"),
])
def test_bad_names_and_subsets(tmp_path, name, subset, match):
    with pytest.raises(ValueError, match=match):
        load(name, tmp_path, subset=subset)


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist", "kmnist", "emnist-letters", "cifar10", "svhn"])
def test_missing_files_message(tmp_path, name):
    pytest.importorskip("scipy") if name == "svhn" else None
    root = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError) as e:
        load(name, root)
    msg = str(e.value)
    from pyroml.data.sources import _SOURCES

    src = _SOURCES[name]
    assert msg.startswith(f"{src.title} not found: searched {root / src.folders[0]}")
    assert all(f in msg for f in src.files)
    assert "download=True" in msg and f"--dataset {name}" in msg and "$PYROML_DATA_DIR" in msg and "root=" in msg
    assert "--download" not in msg.replace("--no-download", "")  # the command line has no --download flag
    assert not root.exists()  # looking created nothing


def test_missing_mnist_keeps_its_message(tmp_path):
    write_mnist_like(tmp_path, "MNIST")
    (tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match=r"MNIST not found: searched .* it lacks t10k-labels-idx1-ubyte"):
        load_mnist(tmp_path)


@pytest.mark.parametrize("name", ["fashion-mnist", "cifar10", "svhn"])
def test_failed_download_is_one_clear_error_and_leaves_no_empty_folders(tmp_path, no_network, name):
    pytest.importorskip("scipy") if name == "svhn" else None
    root = tmp_path / "fresh" / "data"
    with pytest.raises(DownloadError) as e:
        load(name, root, download=True)
    msg = str(e.value)
    assert msg.startswith("downloading ") and f"into {root} failed" in msg
    assert "on a machine with internet" in msg and "$PYROML_DATA_DIR" in msg and "copy the files" in msg
    assert isinstance(e.value, ConnectionError) and e.value.__cause__ is not None
    assert not (tmp_path / "fresh").exists()  # every folder the attempt created was empty, and went
    assert tmp_path.exists()


def test_failed_download_keeps_folders_that_were_there(tmp_path, no_network):
    (tmp_path / "FashionMNIST").mkdir()
    (tmp_path / "FashionMNIST" / "notes.txt").write_text("mine")
    with pytest.raises(DownloadError):
        load("fashion-mnist", tmp_path, download=True)
    assert (tmp_path / "FashionMNIST" / "notes.txt").exists() and not (tmp_path / "FashionMNIST" / "raw").exists()


def test_present_files_never_download(tmp_path, no_network):
    write_mnist_like(tmp_path, "FashionMNIST")
    train, _ = load("fashion-mnist", tmp_path, download=True)
    assert len(train) == SIZES["train"]


# --- the real Fashion-MNIST ------------------------------------------------------------------------------------------


def _real_fashion_dir():
    for cand in (os.environ.get("PYROML_DATA_DIR"), Path(__file__).resolve().parents[3] / "shared" / "data"):
        if cand and (Path(cand) / "FashionMNIST" / "raw" / "t10k-images-idx3-ubyte").exists():
            return Path(cand)
    return None


@pytest.mark.mnist
def test_real_fashion_mnist():
    root = _real_fashion_dir()
    if root is None:
        pytest.skip("real Fashion-MNIST not found: set PYROML_DATA_DIR to a folder holding FashionMNIST/raw/")
    train, test = pyroml.data.load("fashion-mnist", root)
    assert train.x.shape == (60000, 1, 28, 28) and test.x.shape == (10000, 1, 28, 28)
    assert torch.bincount(train.y).tolist() == [6000] * 10 and torch.bincount(test.y).tolist() == [1000] * 10
    assert train.class_names == FASHION and test.spec.class_names == FASHION
    assert train.spec.support == "unit" and float(train.x.max()) == 1.0 and train.x.dtype == torch.float32
