import os
import struct
from pathlib import Path

import matplotlib
import numpy as np
import pyro
import pytest
import torch
from hypothesis import settings

matplotlib.use("Agg")
torch.set_num_threads(1)
# CI: fast and repeatable (derandomised); development: HYPOTHESIS_PROFILE=dev draws 200 fresh examples a test
settings.register_profile("ci", deadline=None, max_examples=15, derandomize=True)
settings.register_profile("dev", deadline=None, max_examples=200, derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

#: the shape of one MNIST image, (channels, height, width): every density model's default event shape
MNIST_SHAPE = (1, 28, 28)
#: the number of values in one MNIST image, 784
MNIST_D = 784


def mnist_images(n: int) -> torch.Tensor:
    """``n`` random images of MNIST's shape with pixels uniform on [0, 1): ``torch.rand(n, *MNIST_SHAPE)``."""
    return torch.rand(n, *MNIST_SHAPE)


#: the event shapes every density model is tested on: a table, small, MNIST-sized and RGB images
EVENT_SHAPES = [(5,), (1, 8, 8), MNIST_SHAPE, (3, 32, 32)]
#: the ConvVAE's: the image shapes above and one size not divisible by 4
CONV_SHAPES = [(1, 8, 8), MNIST_SHAPE, (3, 32, 32), (1, 30, 30)]


def shape_id(shape) -> str:
    """``(3, 32, 32)`` as ``"3x32x32"``, for test ids."""
    return "x".join(map(str, shape))


def structured_data(n: int, shape, seed: int = 0, unit: bool = True) -> torch.Tensor:
    """``n`` examples of ``shape`` with a 2-d linear structure plus noise, so a model can learn something
    in a few steps: ``sigmoid(z A + noise)`` on (0, 1) when ``unit``, else ``3 (z A + noise) - 2``
    (real-valued, some of every sign)."""
    g = torch.Generator().manual_seed(seed)
    d = int(np.prod(shape))
    h = torch.randn(n, 2, generator=g) @ (2 * torch.randn(2, d, generator=g)) + 0.3 * torch.randn(n, d, generator=g)
    return (torch.sigmoid(h) if unit else 3 * h - 2).reshape(n, *shape)


FILES = {
    True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def write_idx(root: Path, n_train: int = 64, n_test: int = 32, seed: int = 0) -> Path:
    """Write tiny MNIST-format IDX files (uint8 images 28x28, labels 0-9) under root/MNIST/raw."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for train, n in ((True, n_train), (False, n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        img_name, lab_name = FILES[train]
        (raw / img_name).write_bytes(struct.pack(">IIII", 2051, n, 28, 28) + images.tobytes())
        (raw / lab_name).write_bytes(struct.pack(">II", 2049, n) + labels.tobytes())
    return root


@pytest.fixture
def tiny_mnist(tmp_path):
    """A data directory with 64 train and 32 test random images in MNIST's IDX format."""
    return write_idx(tmp_path / "data")


def real_mnist_dir():
    for cand in (os.environ.get("PYROML_DATA_DIR"), Path(__file__).resolve().parents[2] / "shared" / "data"):
        if cand and (Path(cand) / "MNIST" / "raw" / "t10k-images-idx3-ubyte").exists():
            return Path(cand)
    return None


@pytest.fixture
def mnist_dir():
    d = real_mnist_dir()
    if d is None:
        pytest.skip("real MNIST not found: set PYROML_DATA_DIR to a folder holding MNIST/raw/")
    return d


@pytest.fixture(autouse=True)
def _seed():
    pyro.set_rng_seed(0)
    pyro.clear_param_store()
    yield
