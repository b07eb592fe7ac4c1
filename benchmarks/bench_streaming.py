"""Streaming and out-of-core training (issue 13).

1. **Streaming overhead**: seconds per epoch of ``pyroml.fit`` of the VAE (batch 128, one thread)
   from the training set as tensors (the in-memory engine), as a ``TensorDataset``, as a plain
   map-style ``Dataset`` over the same tensors (items read one by one and collated), and as a
   memory-mapped ``.npy`` file (``pyroml.data.write_memmap`` / ``MemmapDataset``) — interleaved
   epoch by epoch (each variant resumes its own checkpoint), as the median of the per-epoch
   ratios to the in-memory epoch; test ELBOs after the same epochs (with ``num_workers=0`` the
   streamed losses are the in-memory ones exactly).
2. **Out of core**: MNIST's training set tiled ``--tile`` times (600,000 images) written as one
   float32 ``.npy`` file, then one epoch over it in a fresh process, whose peak resident memory
   (``resource.getrusage``) is compared with the file's size.

    python benchmarks/bench_streaming.py --quick
    python benchmarks/bench_streaming.py --data-dir ../shared/data     # 3 epochs of 60000 + 600000 images

Prints tables and writes JSON (``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import pyro
import torch
from common import MNIST_SHAPE, add_args, machine_info, out_path, print_table, synthetic_mnist, write_result

import pyroml


class Items(torch.utils.data.Dataset):
    """A user's map-style dataset over tensors: one item at a time, collated by the DataLoader."""

    def __init__(self, x: torch.Tensor):
        self.x = x

    def __len__(self) -> int:
        return self.x.shape[0]

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.x[i]


class Tiled(torch.utils.data.Dataset):
    """``x`` repeated ``tile`` times, without holding the copies."""

    def __init__(self, x: torch.Tensor, tile: int):
        self.x, self.tile = x, tile

    def __len__(self) -> int:
        return self.x.shape[0] * self.tile

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.x[i % self.x.shape[0]]


def overhead(train: torch.Tensor, test: torch.Tensor, epochs: int, batch_size: int, workdir: str):
    sources = {"in-memory tensors": train, "TensorDataset": torch.utils.data.TensorDataset(train),
               "map-style Dataset": Items(train),
               "memmap file": pyroml.data.write_memmap(train, os.path.join(workdir, "train.npy"))}
    torch.manual_seed(0)
    init = pyroml.VAE(event_shape=MNIST_SHAPE).state_dict()
    models = {}
    for name in sources:
        models[name] = pyroml.VAE(event_shape=MNIST_SHAPE)
        models[name].load_state_dict(init)
    seconds = {name: [] for name in sources}
    losses = {}
    for e in range(epochs):
        for i, (name, data) in enumerate(sources.items()):
            h = pyroml.fit(models[name], data, epochs=e + 1, batch_size=batch_size, seed=0, progress=False,
                           checkpoint=os.path.join(workdir, f"{i}.pt"), resume=True)
            seconds[name].append(h.epoch_seconds[-1])
            losses[name] = h.step_loss
    ref = "in-memory tensors"
    return [{"source": name, "s_per_epoch": statistics.median(seconds[name]),
             "ratio": statistics.median(a / b for a, b in zip(seconds[name], seconds[ref])),
             "same_losses": losses[name] == losses[ref], "test_elbo": test_elbo(models[name], test)}
            for name in sources]


def test_elbo(model, test: torch.Tensor) -> float:
    pyro.set_rng_seed(0)  # the same Monte Carlo draws for every model
    return pyroml.infer.elbo_per_example(model, test)


def peak_rss() -> int:
    """This process's peak resident memory in bytes: ``VmHWM`` (reset by ``exec``, unlike
    ``getrusage``'s ``ru_maxrss``, which a child inherits from the parent it was forked from), else
    ``ru_maxrss``."""
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def train_one_epoch(path: str, batch_size: int) -> None:
    """The out-of-core run (a fresh process): one epoch over the file; prints JSON."""
    torch.set_num_threads(1)
    data = pyroml.data.MemmapDataset(path)
    rss0 = peak_rss()
    t0 = time.perf_counter()
    h = pyroml.fit(pyroml.VAE(), data, epochs=1, batch_size=batch_size, seed=0, progress=False)
    print(json.dumps({"seconds": time.perf_counter() - t0, "train_elbo": h.train_elbo[0],
                      "peak_rss_bytes": peak_rss(), "rss_before_fit_bytes": rss0, "n": len(data),
                      "ru_maxrss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))


def out_of_core(train: torch.Tensor, tile: int, batch_size: int, workdir: str):
    path = os.path.join(workdir, "tiled.npy")
    t0 = time.perf_counter()
    pyroml.data.write_memmap(Tiled(train, tile), path, chunk=8192)
    write_s = time.perf_counter() - t0
    res = subprocess.run([sys.executable, os.path.abspath(__file__), "--train-file", path,
                          "--batch-size", str(batch_size)], capture_output=True, text=True, check=True)
    r = json.loads(res.stdout.strip().splitlines()[-1])
    size = os.path.getsize(path)
    return {"images": r["n"], "file_gb": size / 1e9, "write_s": write_s, "epoch_s": r["seconds"],
            "ms_per_step": 1e3 * r["seconds"] / -(-r["n"] // batch_size), "train_elbo": r["train_elbo"],
            "peak_rss_gb": r["peak_rss_bytes"] / 1e9, "rss_before_fit_gb": r["rss_before_fit_bytes"] / 1e9,
            "peak_rss_below_file": r["peak_rss_bytes"] < size}


def main(args):
    torch.set_num_threads(args.threads)
    train, test = synthetic_mnist(args, n_train=6400 if args.quick else None, n_test=2000 if args.quick else None)
    epochs = 2 if args.quick else args.epochs
    with tempfile.TemporaryDirectory(dir=args.tmp_dir) as tmp:
        rows = overhead(train, test, epochs, args.batch_size, tmp)
        print_table(rows, ["source", "s_per_epoch", "ratio", "same_losses", "test_elbo"])
        big = out_of_core(train[:2000] if args.quick else train, args.tile, args.batch_size, tmp)
        print_table([big], list(big))
    write_result(out_path(args, "streaming"), {"machine": machine_info(args.threads), "quick": args.quick,
                                               "epochs": epochs, "batch_size": args.batch_size, "rows": rows,
                                               "out_of_core": big})


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_args(p)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--epochs", type=int, default=3, help="interleaved epochs of the overhead part (default 3)")
    p.add_argument("--tile", type=int, default=10, help="copies of the training set in the out-of-core file")
    p.add_argument("--tmp-dir", default=None, help="where the files go (default: the system's temporary folder)")
    p.add_argument("--train-file", default=None, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.train_file:
        train_one_epoch(a.train_file, a.batch_size)
    else:
        main(a)
