"""Two CPU processes (DDP over gloo, Lightning Fabric) against one, at the same global batch (issue 13).

For each configuration — the ConvVAE at batch 128, the VAE at batch 1024 and the VAE at batch 128
— both runs train the same initial model for the same epochs on the same data with the same
seed, one torch thread per process: ``one`` is the plain single-process engine, ``ddp`` is
``pyroml.fit(..., accelerator="cpu", devices=2, strategy="ddp")`` where ``batch_size`` is the
*global* batch (each process takes half of every batch, so the N/B scaling, the learning rate
and the results are those of one process). Each run is a fresh process (the DDP one starts its
second rank itself), and the pairs are interleaved, alternating which goes first, so the ratio
of examples per second sees the same machine. Reported: training examples per second (rank 0's
epoch seconds, the time of the training steps only), the DDP/one ratio per pair and its median,
the test ELBO of each run after the same epochs (``pyroml.evaluate``; under DDP sharded across
the ranks and reduced), and the DDP communication settings used. With ``--ceiling``, also two
independent one-process runs at the same time (variant ``two-at-once``, summed examples per
second): the most two processes can gain on this machine at all, without any communication; and
``two-halves``, the same at half the global batch each: a DDP rank's work without the
communication, the most DDP can reach at this global batch on this machine. The two start
training together (each waits for the other after loading the data): before session 7 they did
not, and whichever started first trained alone for a while, which flattered both ceilings.

    python benchmarks/bench_ddp.py --quick
    python benchmarks/bench_ddp.py --data-dir ../shared/data             # 3 configs x 3 pairs x 3 epochs
    python benchmarks/bench_ddp.py --data-dir ../shared/data --configs vae-b128 --variants ddp ddp-bf16 ddp-bucket1
    python benchmarks/bench_ddp.py --data-dir ../shared/data --configs convvae-b128 --variants ddp ddp-local \
        --ceiling --diagnose                 # where the time goes: DDP alone, no communication, the step's fixed cost

Prints a table and writes JSON (``--out``). Needs both cores to itself: run nothing else beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List

import torch
from common import MNIST_SHAPE, add_args, machine_info, out_path, print_table, synthetic_mnist, write_result

import pyroml

CONFIGS = {
    "convvae-b128": ("ConvVAE", 128),
    "vae-b1024": ("VAE", 1024),
    "vae-b128": ("VAE", 128),
}


def _model(name: str) -> pyroml.models.DensityModel:
    torch.manual_seed(0)  # the same initial parameters in every run
    return pyroml.ConvVAE(event_shape=MNIST_SHAPE) if name == "ConvVAE" else pyroml.VAE(event_shape=MNIST_SHAPE)


#: DDP variants (``--variants``): pyroml's ``strategy="ddp"`` (DDP_SETTINGS, gradients averaged
#: through shared memory by pyroml.infer.comm where the ranks share a host); ``ddp-allreduce``:
#: DDP's own gloo all-reduce instead (pyroml's default until session 7); ``ddp-exchange``: the
#: gradients averaged by :func:`exchange_hook` (pairwise send/receive); ``ddp-bf16``: DDP's
#: all-reduce of gradients compressed to bfloat16 (float16 overflows: the loss is the full-data
#: negative ELBO, so its gradients grow with N); ``ddp-bucket1``: 1 MB buckets, all-reduce (more
#: overlap of communication with the backward pass); ``ddp-local``: no communication at all (a
#: hook that leaves each rank its own gradient, so the ranks drift apart: not a training, the
#: speed of DDP's machinery alone, the floor under any communication)
VARIANTS = ("ddp", "ddp-allreduce", "ddp-exchange", "ddp-bf16", "ddp-bucket1", "ddp-local")


def _local_hook(bucket: Any) -> torch.futures.Future:
    """Each rank's own gradient, unaveraged (``ddp-local``)."""
    out: torch.futures.Future = torch.futures.Future()
    out.set_result(bucket.buffer())
    return out


def exchange_hook(group: Any, bucket: Any) -> torch.futures.Future:
    """A DDP communication hook for two processes: swap the gradient bucket with the other rank
    (one send, one receive on the same gloo group) and average, :math:`\\bar g = (g_r + g_{1-r})/2`
    (float addition commutes: both ranks keep the same bits). Between two processes in a tight
    loop it takes ~0.2 ms for 82 KB where gloo's all-reduce takes ~1.6 ms, but in training it did
    not beat the all-reduce (docs/benchmarks.md#ddp), so it stays here as a measured variant."""
    import torch.distributed as td

    group = group if group is not None else td.group.WORLD
    buf, other = bucket.buffer(), torch.empty_like(bucket.buffer())
    peer = td.get_global_rank(group, 1 - td.get_rank(group))
    sent = td.isend(buf, peer, group=group)
    assert sent is not None  # None only for a rank outside the group
    td.recv(other, peer, group=group)
    sent.wait()
    out: torch.futures.Future = torch.futures.Future()
    out.set_result(buf.add_(other).div_(2))
    return out


def _strategy(variant: str) -> Any:
    """``fit``'s strategy for a variant (a communication hook is registered on the DDP module after set-up)."""
    from pyroml.infer.distributed import DDP_SETTINGS, Distributed
    if variant in ("ddp-exchange", "ddp-bf16", "ddp-local"):
        from torch.distributed.algorithms.ddp_comm_hooks import default_hooks
        setup = Distributed.setup
        # unannotated lambdas: DDP compares a hook's annotations with its classes, which postponed
        # evaluation (``from __future__ import annotations``) turns into strings
        hook = {"ddp-bf16": default_hooks.bf16_compress_hook,
                "ddp-exchange": lambda group, bucket: exchange_hook(group, bucket),
                "ddp-local": lambda group, bucket: _local_hook(bucket)}[variant]

        def setup_with_hook(self: Any, model: Any, step_fn: Any) -> None:
            setup(self, model, step_fn)
            step_fn.forward._forward_module.register_comm_hook(None, hook)

        Distributed.setup = setup_with_hook  # type: ignore[method-assign]
    from pyroml.infer.comm import SharedMemoryDDPStrategy
    extra = {"bucket_cap_mb": 1} if variant == "ddp-bucket1" else {}
    # "ddp": the strategy fit(strategy="ddp") builds, made here to read which communication it chose
    return SharedMemoryDDPStrategy(shared_memory=variant == "ddp", **DDP_SETTINGS, **extra)


def step_costs(args: argparse.Namespace) -> None:
    """``--worker steps``: the engine's milliseconds per step of one process, one thread, at the
    global batch B and at a DDP rank's B/2 (``pyroml.fit`` on 40 B examples, the second of two
    epochs, three times interleaved; medians), written to ``--result``. Their ratio
    :math:`t(B) / t(B/2)` is what two processes can gain at all with free communication and no
    contention between the cores: 2 when a step's cost is proportional to its batch, less by its
    fixed part."""
    torch.set_num_threads(1)
    model_name, batch = CONFIGS[args.config]
    train, _ = synthetic_mnist(args, 40 * batch, 1)
    ms: Dict[int, List[float]] = {batch: [], batch // 2: []}
    for _ in range(3):
        for b in ms:
            history = pyroml.fit(_model(model_name), train, epochs=2, batch_size=b, seed=0, progress=False)
            ms[b].append(history.epoch_seconds[-1] / -(-train.shape[0] // b) * 1e3)
    with open(args.result, "w") as f:
        json.dump({str(b): statistics.median(v) for b, v in ms.items()}, f)


def worker(args: argparse.Namespace) -> None:
    """One run (``--worker one|ddp...``): train, evaluate, and rank 0 writes ``--result``."""
    if args.worker == "steps":
        step_costs(args)
        return
    torch.set_num_threads(1)
    model_name, batch_size = CONFIGS[args.config]
    batch_size = args.batch_size or batch_size
    train, test = synthetic_mnist(args, args.train_size, args.test_size)
    strategy = None if args.worker == "one" else _strategy(args.worker)
    flags: Dict[str, Any] = {} if strategy is None else {"accelerator": "cpu", "devices": 2, "strategy": strategy}
    model = _model(model_name)
    if args.barrier:  # two independent runs: train only once both are ready, so that they overlap
        open(os.path.join(args.barrier, str(os.getpid())), "w").close()
        deadline = time.monotonic() + 600
        while len(os.listdir(args.barrier)) < 2:
            if time.monotonic() > deadline:
                raise RuntimeError("the other run did not get ready within 600 s (did it fail?)")
            time.sleep(0.01)
    history = pyroml.fit(model, train, epochs=args.epochs, batch_size=batch_size, seed=args.seed, progress=False,
                         **flags)
    report = pyroml.evaluate(model, test, iwae_k=None)
    rank = int(os.environ.get("LOCAL_RANK", os.environ.get("RANK", "0")))
    if rank == 0:
        seconds = sum(history.epoch_seconds)
        with open(args.result, "w") as f:
            json.dump({"seconds": seconds, "examples_per_s": args.epochs * train.shape[0] / seconds,
                       "epoch_seconds": history.epoch_seconds, "test_elbo": report.elbo,
                       "train_elbo": history.train_elbo[-1],
                       "communication": getattr(strategy, "communication", None)}, f)


def _command(args: argparse.Namespace, config: str, mode: str, result: str, half: bool = False,
             barrier: str = "", seed: int = 0) -> List[str]:
    """The worker's command line; ``half``: half the global batch on half the training set;
    ``barrier``: a folder where the worker waits for the other before training; ``seed``: ``fit``'s
    (data order and the ELBO's draws; the initial model is the same for every seed)."""
    train_size, batch = (args.train_size // 2, CONFIGS[config][1] // 2) if half else (args.train_size, 0)
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", mode, "--config", config, "--result", result,
           "--epochs", str(args.epochs), "--train-size", str(train_size), "--test-size", str(args.test_size),
           "--seed", str(seed)]
    cmd += ["--batch-size", str(batch)] if batch else []
    cmd += ["--barrier", barrier] if barrier else []
    return cmd + (["--data-dir", args.data_dir] if args.data_dir else [])


ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _run(args: argparse.Namespace, config: str, mode: str, workdir: str, seed: int = 0) -> Dict[str, Any]:
    """One run in a fresh process (``mode``: ``one`` or a DDP variant); :returns: its result."""
    result = os.path.join(workdir, f"{config}-{mode}.json")
    res = subprocess.run(_command(args, config, mode, result, seed=seed), env=ENV, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"{config} {mode} failed:\n{res.stdout[-2000:]}\n{res.stderr[-4000:]}")
    with open(result) as f:
        return json.load(f)


def _two_at_once(args: argparse.Namespace, config: str, workdir: str, half: bool = False) -> Dict[str, Any]:
    """Two independent one-process runs at the same time: their summed examples per second over
    one run's alone is what two processes can gain on this machine at all (no communication).
    ``half``: each at half the global batch, on half the data — a DDP rank's work without the
    communication, so their sum is the most DDP can reach at this global batch."""
    results = [os.path.join(workdir, f"{config}-pair{i}.json") for i in range(2)]
    barrier = tempfile.mkdtemp(dir=workdir)  # both start training together (loading MNIST takes seconds)
    procs = [subprocess.Popen(_command(args, config, "one", r, half, barrier), env=ENV, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) for r in results]
    for p in procs:
        _, err = p.communicate()
        if p.returncode != 0:
            raise RuntimeError(f"{config} two-at-once failed:\n{err[-4000:]}")
    runs = []
    for r in results:
        with open(r) as f:
            runs.append(json.load(f))
    return {"examples_per_s": sum(r["examples_per_s"] for r in runs), "test_elbo": runs[0]["test_elbo"]}


class _Bucket:
    """What :func:`exchange_hook` reads of DDP's ``GradBucket``."""

    def __init__(self, buffer: torch.Tensor):
        self._buffer = buffer

    def buffer(self) -> torch.Tensor:
        return self._buffer


def _allreduce_worker(rank: int, port: int, sizes: List[int], out: str) -> None:
    import torch.distributed as dist
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    ways = {"allreduce": lambda t: dist.all_reduce(t), "exchange": lambda t: exchange_hook(None, _Bucket(t)).wait()}
    ms: Dict[str, Dict[int, float]] = {way: {} for way in ways}
    for n in sizes:
        t = torch.randn(n)
        for way, reduce in ways.items():
            for _ in range(20):
                reduce(t)
            dist.barrier()
            t0 = time.perf_counter()
            for _ in range(200):
                reduce(t)
            ms[way][n] = (time.perf_counter() - t0) / 200 * 1e3
    if rank == 0:
        with open(out, "w") as f:
            json.dump(ms, f)
    dist.destroy_process_group()


def allreduce_ms(sizes: List[int], workdir: str) -> Dict[str, Dict[str, float]]:
    """Milliseconds to average ``n`` float32 values between two processes (200 in a row, one thread
    each), by gloo's all-reduce and by :func:`exchange_hook`: the floor under every DDP step's
    communication on this machine; ``{"allreduce"|"exchange": {n: ms}}``."""
    import socket

    import torch.multiprocessing as mp
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    out = os.path.join(workdir, "allreduce.json")
    mp.spawn(_allreduce_worker, args=(port, sizes, out), nprocs=2)
    with open(out) as f:
        return json.load(f)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_args(p)
    p.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    p.add_argument("--pairs", type=int, default=None, help="interleaved (one, ddp) pairs per config (default 3)")
    p.add_argument("--epochs", type=int, default=None, help="epochs per run (default 3; --quick 1)")
    p.add_argument("--train-size", type=int, default=None, help="training examples (default 60000; --quick 4096)")
    p.add_argument("--test-size", type=int, default=None, help="test examples (default 10000; --quick 1000)")
    p.add_argument("--variants", nargs="+", choices=VARIANTS, default=["ddp"],
                   help="DDP set-ups to compare with one process (default: pyroml's ddp)")
    p.add_argument("--ceiling", action="store_true",
                   help="also time two independent one-process runs at once: what two processes can gain here")
    p.add_argument("--diagnose", action="store_true",
                   help="also time one process's step at the global batch and at half of it (the fixed cost "
                        "per step that two processes cannot halve)")
    p.add_argument("--seed-spread", type=int, default=0, metavar="K",
                   help="also train one process and pyroml's ddp with fit's seeds 1..K (untimed): the test ELBO's "
                        "seed-to-seed spread of each (DDP's ranks draw their own z: the same run as another seed)")
    p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--worker", choices=("one", "steps") + VARIANTS, help=argparse.SUPPRESS)
    p.add_argument("--config", choices=list(CONFIGS), help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    p.add_argument("--batch-size", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--barrier", default="", help=argparse.SUPPRESS)
    args = p.parse_args()
    args.epochs = args.epochs or (1 if args.quick else 3)
    args.train_size = args.train_size or (4096 if args.quick else 60000)
    args.test_size = args.test_size or (1000 if args.quick else 10000)
    if args.worker:
        worker(args)
        return
    pairs = args.pairs or (1 if args.quick else 3)
    rows: List[Dict[str, Any]] = []
    steps: Dict[str, Dict[str, float]] = {}  # --diagnose: config -> {batch: ms per step}
    spread: Dict[str, Dict[str, List[float]]] = {}  # --seed-spread: config -> mode -> test ELBO per seed
    with tempfile.TemporaryDirectory() as workdir:
        sizes = {"ConvVAE": sum(p.numel() for p in _model("ConvVAE").parameters()),
                 "VAE": sum(p.numel() for p in _model("VAE").parameters())}
        latency = allreduce_ms(sorted(set(sizes.values())), workdir)
        for name, n in sizes.items():
            print(f"the {name}'s {n} gradients ({4 * n / 1e3:.0f} KB) averaged by gloo's all-reduce: "
                  f"{latency['allreduce'][str(n)]:.3f} ms, by the exchange hook: {latency['exchange'][str(n)]:.3f} ms",
                  flush=True)
        for config in args.configs:
            modes = ["one", *args.variants, *(["two-at-once", "two-halves"] if args.ceiling else [])]
            runs: Dict[str, List[Dict[str, Any]]] = {m: [] for m in modes}
            for i in range(pairs):
                for mode in (modes if i % 2 == 0 else modes[::-1]):
                    runs[mode].append(_two_at_once(args, config, workdir, half=mode == "two-halves")
                                      if mode.startswith("two-") else _run(args, config, mode, workdir))
                    print(f"{config} round {i + 1} {mode}: {runs[mode][-1]['examples_per_s']:.0f} examples/s, "
                          f"test ELBO {runs[mode][-1]['test_elbo']:.2f}", flush=True)
            model_name, batch_size = CONFIGS[config]
            if args.diagnose:
                steps[config] = _run(args, config, "steps", workdir)
                t, half = steps[config][str(batch_size)], steps[config][str(batch_size // 2)]
                print(f"{config}: one process's step takes {t:.2f} ms at batch {batch_size} and {half:.2f} ms at "
                      f"{batch_size // 2} ({half / t:.0%}): two processes at most {t / half:.2f}x with free "
                      f"communication and no contention between the cores", flush=True)
            if args.seed_spread:
                spread[config] = {}
                for mode in ("one", "ddp"):
                    elbos = [_run(args, config, mode, workdir, seed=k)["test_elbo"]
                             for k in range(1, args.seed_spread + 1)]
                    if mode in runs:
                        elbos.insert(0, runs[mode][0]["test_elbo"])
                    spread[config][mode] = elbos
                    print(f"{config}: {mode}'s test ELBO over {len(elbos)} of fit's seeds: mean "
                          f"{statistics.mean(elbos):.2f}, {min(elbos):.2f} to {max(elbos):.2f} "
                          f"(sd {statistics.stdev(elbos):.2f})", flush=True)
            for variant in modes[1:]:
                ratios = [d["examples_per_s"] / o["examples_per_s"] for o, d in zip(runs["one"], runs[variant])]
                rows.append({"config": config, "variant": variant, "model": model_name, "global_batch": batch_size,
                             "one_examples_per_s": statistics.median(r["examples_per_s"] for r in runs["one"]),
                             "ddp_examples_per_s": statistics.median(r["examples_per_s"] for r in runs[variant]),
                             "ratio": statistics.median(ratios), "ratios": ratios,
                             "one_test_elbo": statistics.mean(r["test_elbo"] for r in runs["one"]),
                             "ddp_test_elbo": statistics.mean(r["test_elbo"] for r in runs[variant]),
                             "runs": {"one": runs["one"], variant: runs[variant]}})
    print_table(rows, ["config", "variant", "one_examples_per_s", "ddp_examples_per_s", "ratio", "one_test_elbo",
                       "ddp_test_elbo"])
    from pyroml.infer.distributed import DDP_SETTINGS
    write_result(out_path(args, "ddp"), {"machine": machine_info(1), "quick": args.quick, "epochs": args.epochs,
                                         "train_size": args.train_size, "pairs": pairs,
                                         "ddp_settings": DDP_SETTINGS, "allreduce_ms": latency,
                                         "parameters": sizes, "rows": rows, "step_ms": steps,
                                         "seed_spread_test_elbo": spread})


if __name__ == "__main__":
    main()
