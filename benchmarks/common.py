"""Helpers shared by the benchmark scripts: flags, data, machine facts, tables, JSON."""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
import time
from typing import Dict, List, Optional, Sequence

import torch

import pyroml
from pyroml.io import write_json

#: the shape of one MNIST image: models built for it up front, as before shapes came from the data
MNIST_SHAPE = (1, 28, 28)


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true", help="a few minutes: subsets and fewer repeats")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--data-dir", default=None, help="folder with MNIST/raw (default $PYROML_DATA_DIR)")
    p.add_argument("--out", default=None, help="JSON output path")


def out_path(args, name: str) -> str:
    """``--out`` if given, else ``benchmarks/results/<name>.json`` (``results/quick/`` in quick mode,
    so a quick run never overwrites the recorded full results)."""
    if args.out:
        return args.out
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", *(["quick"] if args.quick else []),
                        f"{name}.json")


def synthetic_mnist(args, n_train: Optional[int], n_test: Optional[int]):
    """Real MNIST when available (subsets of the given sizes; None = all), else random
    binary-ish images of the same shape so that the script still runs anywhere."""
    try:
        train, test = pyroml.data.load_mnist(args.data_dir)
        g = torch.Generator().manual_seed(0)
        tr = train.x if n_train is None else train.x[torch.randperm(len(train), generator=g)[:n_train]]
        te = test.x if n_test is None else test.x[torch.randperm(len(test), generator=g)[:n_test]]
        return tr, te
    except FileNotFoundError:
        return tuple(d.x for d in _random_images(n_train or 60000, n_test or 10000))


def _random_images(*sizes: int):
    """Seeded uniform images of MNIST's shape with random labels, one Dataset per size."""
    g = torch.Generator().manual_seed(0)
    return tuple(pyroml.data.Dataset(torch.rand(n, 1, 28, 28, generator=g), torch.randint(10, (n,), generator=g))
                 for n in sizes)


def mnist_for_quality(args, quick_subset: int):
    """Real MNIST for a quality benchmark (a random ``quick_subset`` of each split with
    ``--quick``). Quality numbers need the real data, so a full run without it stops with
    :func:`pyroml.data.load_mnist`'s message; a ``--quick`` run, a smoke test of the script, falls
    back to random images and says so."""
    try:
        return pyroml.data.load_mnist(args.data_dir, subset=quick_subset if args.quick else None)
    except FileNotFoundError:
        if not args.quick:
            raise
        print("MNIST not found: this --quick run uses random images (its numbers mean nothing)")
        return _random_images(quick_subset, min(quick_subset, 2000))


def timed(fn):
    """``(fn(), seconds it took)``."""
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def machine_info(threads: int, packages: Sequence[str] = ("pyro-ppl", "numpy", "scipy")) -> Dict[str, object]:
    """The machine, torch's thread count and the installed versions of ``packages`` (distribution
    names; ``None`` for one not installed): what a rerun needs to tell an environment change from a
    code change."""
    versions: Dict[str, Optional[str]] = {}
    for name in packages:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return {"cpu_count": os.cpu_count(), "torch_threads": threads, "torch": torch.__version__,
            "python": platform.python_version(), "platform": platform.platform(), "versions": versions}


def print_table(rows: List[Dict], cols: Sequence[str]) -> None:
    def fmt(v):
        return f"{v:.4g}" if isinstance(v, float) else str(v)
    widths = [max(len(c), *(len(fmt(r.get(c, ""))) for r in rows)) for c in cols]
    print("| " + " | ".join(c.ljust(w) for c, w in zip(cols, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print("| " + " | ".join(fmt(r.get(c, "")).ljust(w) for c, w in zip(cols, widths)) + " |")


def write_result(path: str, obj) -> None:
    write_json(path, obj)
    print(f"wrote {path}")
