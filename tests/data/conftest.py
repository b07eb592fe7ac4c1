"""Writers of small data files in each named data set's own format, and a network blocker.

Every named data set is tested on files these helpers write in its torchvision layout; nothing
here touches the network (``no_network`` makes sure of it where a download is attempted).
"""

import pickle
import socket
import struct
from pathlib import Path
from typing import Dict, Sequence

import numpy as np
import pytest

from pyroml.data.formats import CIFAR10_CLASSES

#: the IDX file names of the MNIST-likes, by (split, kind)
IDX_NAMES = {
    ("train", "images"): "train-images-idx3-ubyte", ("train", "labels"): "train-labels-idx1-ubyte",
    ("test", "images"): "t10k-images-idx3-ubyte", ("test", "labels"): "t10k-labels-idx1-ubyte",
}
#: EMNIST letters' IDX file names, by (split, kind)
EMNIST_NAMES = {(s, k): f"emnist-letters-{s}-{k}-{'idx3' if k == 'images' else 'idx1'}-ubyte"
                for s in ("train", "test") for k in ("images", "labels")}
#: small split sizes
SIZES = {"train": 12, "test": 7}


def write_idx_images(path: Path, images: np.ndarray) -> None:
    """uint8 images ``(N, H, W)`` as an IDX3 file (magic 2051, big-endian sizes)."""
    n, h, w = images.shape
    path.write_bytes(struct.pack(">IIII", 2051, n, h, w) + images.astype(np.uint8).tobytes())


def write_idx_labels(path: Path, labels: np.ndarray) -> None:
    """uint8 labels ``(N,)`` as an IDX1 file (magic 2049)."""
    path.write_bytes(struct.pack(">II", 2049, len(labels)) + labels.astype(np.uint8).tobytes())


def write_mnist_like(root: Path, folder: str, names: Dict = IDX_NAMES, n_classes: int = 10, first_label: int = 0,
                     seed: int = 0) -> Dict[str, np.ndarray]:
    """Random 28x28 uint8 images with labels ``first_label + i % n_classes`` under ``root/folder/raw``,
    with the given file names; returns the images and labels as written, by split."""
    raw = root / folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out = {}
    for split, n in SIZES.items():
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = (first_label + np.arange(n) % n_classes).astype(np.uint8)
        write_idx_images(raw / names[(split, "images")], images)
        write_idx_labels(raw / names[(split, "labels")], labels)
        out[split], out[f"{split}_labels"] = images, labels
    return out


def write_cifar10(root: Path, n: int = 4, seed: int = 0, label_names: Sequence[str] = CIFAR10_CLASSES,
                  protocol: int = 2) -> Dict[str, np.ndarray]:
    """CIFAR-10's python batches (5 training batches of ``n``, a test batch of ``n``, the meta
    file) under ``root/cifar-10-batches-py``; returns the images ``(N, 3, 32, 32)`` and labels."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out: Dict[str, list] = {"train": [], "train_labels": [], "test": [], "test_labels": []}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, size=(n, 3 * 32 * 32), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, size=n)]
        with open(folder / name, "wb") as f:
            pickle.dump({"batch_label": name, "data": data, "labels": labels, "filenames": ["x.png"] * n}, f,
                        protocol=protocol)
        split = "test" if name == "test_batch" else "train"
        out[split].append(data.reshape(-1, 3, 32, 32))
        out[f"{split}_labels"] += labels
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": list(label_names), "num_cases_per_batch": n, "num_vis": 3072}, f,
                    protocol=protocol)
    return {k: np.concatenate(v) if k in ("train", "test") else np.array(v) for k, v in out.items()}


def write_svhn(folder: Path, seed: int = 0) -> Dict[str, np.ndarray]:
    """SVHN's ``train_32x32.mat`` and ``test_32x32.mat`` (X ``(32, 32, 3, N)`` uint8, y ``(N, 1)``
    in 1..10) in ``folder``; returns the images ``(N, 3, 32, 32)`` and the labels 1..10 as written."""
    import scipy.io

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out = {}
    for split, n in SIZES.items():
        images = rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)
        labels = (1 + np.arange(n) % 10).astype(np.uint8)
        scipy.io.savemat(str(folder / f"{split}_32x32.mat"),
                         {"X": images.transpose(2, 3, 1, 0), "y": labels.reshape(-1, 1)})
        out[split], out[f"{split}_labels"] = images, labels
    return out


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to resolve a host name or open a connection fails at once."""
    def refuse(*args, **kwargs):
        raise OSError("network disabled in the tests")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
