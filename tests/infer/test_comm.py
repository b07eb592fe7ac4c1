"""Gradient averaging through shared memory (pyroml.infer.comm): the mean over the ranks, the same
bits on every rank, any bucket size and dtype, a clear error for a bucket too large or a dead
rank, and where it applies. Ranks are real processes (gloo on 127.0.0.1)."""

import os
import time

import pytest
import torch
import torch.distributed as td
import torch.multiprocessing as mp

from pyroml.infer import comm
from tests.infer.test_distributed import free_port

#: the buckets each rank averages, in this order, round after round: (numel, dtype)
BUCKETS = [(1, torch.float32), (20549, torch.float32), (7, torch.float64), (300_001, torch.float32)]


def grad(rank, round_, numel, dtype):
    """Rank ``rank``'s bucket in round ``round_``: reproducible anywhere from the three numbers."""
    g = torch.Generator().manual_seed(1000 * round_ + 10 * rank + numel % 7)
    return (torch.randn(numel, generator=g, dtype=torch.float64) * 10 ** (rank - 1)).to(dtype)


def _average_rounds(rank, world, port, rounds, out):
    torch.set_num_threads(1)
    td.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        state = comm.SharedMemoryAverage(max(n * dtype.itemsize for n, dtype in BUCKETS))
        results = []
        for r in range(rounds):
            for n, dtype in BUCKETS:
                results.append(state.average_(grad(rank, r, n, dtype)))
                if rank == 0 and r == 1:
                    time.sleep(0.01)  # one rank late past the spin: the others sleep-wait
        torch.save(results, f"{out}.{rank}")
    finally:
        td.destroy_process_group()


@pytest.mark.parametrize("world", [2, 3])
def test_the_mean_over_the_ranks_with_the_same_bits_on_each(tmp_path, world):
    rounds = 4
    mp.spawn(_average_rounds, args=(world, free_port(), rounds, str(tmp_path / "avg")), nprocs=world)
    got = [torch.load(tmp_path / f"avg.{r}") for r in range(world)]
    i = 0
    for r in range(rounds):
        for n, dtype in BUCKETS:
            mean = sum(grad(k, r, n, dtype).double() for k in range(world)) / world
            assert got[0][i].dtype == dtype and got[0][i].shape == (n,)
            tol = 1e-6 if dtype == torch.float32 else 1e-12
            assert torch.allclose(got[0][i].double(), mean, rtol=tol, atol=tol * 10), (r, n, dtype)
            for k in range(1, world):
                assert torch.equal(got[k][i], got[0][i]), (k, r, n)  # bit for bit
            i += 1


def _one_rank_dies(rank, port, out):
    torch.set_num_threads(1)
    td.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    state = comm.SharedMemoryAverage(64, timeout_seconds=60)
    state.average_(torch.ones(4))
    if rank == 1:
        os._exit(0)  # gone without a word, as a killed process
    t0 = time.monotonic()
    try:
        state.average_(torch.ones(4))
        msg = "no error"
    except RuntimeError as e:
        msg = str(e)
    with open(out, "w") as f:
        f.write(f"{time.monotonic() - t0:.2f} {msg}")


def test_a_dead_rank_stops_the_others_at_once_not_after_the_timeout(tmp_path):
    out = tmp_path / "dead.txt"
    ctx = mp.get_context("spawn")
    port = free_port()
    procs = [ctx.Process(target=_one_rank_dies, args=(r, port, str(out))) for r in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    seconds, msg = out.read_text().split(" ", 1)
    assert "rank(s) [1]" in msg and "died" in msg
    assert float(seconds) < 10  # the timeout is 60 s


@pytest.fixture
def group_of_one():
    """A one-process gloo group (the collective checks run; nothing to exchange with)."""
    td.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{free_port()}", rank=0, world_size=1)
    yield
    td.destroy_process_group()


def test_a_bucket_larger_than_the_slots_is_refused_before_anything_is_written(group_of_one):
    state = comm.SharedMemoryAverage(100)
    assert state.slot_bytes == 128  # rounded up to whole cache lines
    with pytest.raises(ValueError, match="does not fit the shared slots of 128 bytes"):
        state.average_(torch.ones(33))
    assert state._seq == 0 and state._flags[0] == 0
    g = torch.arange(32.0)
    assert torch.equal(state.average_(g.clone()), g) and state._seq == 1  # one rank: its own mean


def test_the_shared_file_is_gone_once_mapped(group_of_one, monkeypatch):
    made = []
    real = comm.tempfile.mkstemp

    def mkstemp(**kwargs):
        fd, path = real(**kwargs)
        made.append(path)
        return fd, path

    monkeypatch.setattr(comm.tempfile, "mkstemp", mkstemp)
    comm.SharedMemoryAverage(64)
    assert made and made[0].startswith("/dev/shm/pyroml-ddp-") and not os.path.exists(made[0])


@pytest.mark.skipif(comm.platform.machine() not in ("x86_64", "AMD64"), reason="the protocol needs x86_64")
def test_where_shared_memory_applies(group_of_one, monkeypatch):
    assert comm.shared_memory_supported() is None  # one x86_64 host, a core for its one rank
    monkeypatch.setattr(comm.platform, "machine", lambda: "aarch64")
    assert "x86_64" in comm.shared_memory_supported()
    monkeypatch.undo()
    monkeypatch.setattr(comm.os, "sched_getaffinity", lambda pid: set())
    assert "cores" in comm.shared_memory_supported()


def test_hosts_are_told_apart_by_name_and_boot(monkeypatch):
    """Two ranks that disagree on host name or boot id are on two hosts (checked on gathered tuples)."""
    def gather_as(other):
        def all_gather_object(out, obj, group=None):
            out[0], out[1] = obj, (*other(obj)[:2], *obj[2:])
        return all_gather_object

    monkeypatch.setattr(td, "get_world_size", lambda group=None: 2)
    monkeypatch.setattr(comm.os, "sched_getaffinity", lambda pid: {0, 1})  # whatever this machine has
    for other in (lambda o: ("elsewhere", o[1]), lambda o: (o[0], "another-boot")):
        monkeypatch.setattr(td, "all_gather_object", gather_as(other))
        assert comm.shared_memory_supported() == "the ranks run on more than one host"
    monkeypatch.setattr(td, "all_gather_object", gather_as(lambda o: o))
    assert comm.shared_memory_supported() is None


def test_dead_and_zombie_processes_are_not_alive():
    assert comm._alive(os.getpid())
    child = mp.get_context("spawn").Process(target=os._exit, args=(0,))
    child.start()
    deadline = time.monotonic() + 30
    while comm._alive(child.pid) and time.monotonic() < deadline:  # exited, not yet reaped: a zombie
        time.sleep(0.05)
    assert not comm._alive(child.pid)
    child.join()
    assert not comm._alive(child.pid)
