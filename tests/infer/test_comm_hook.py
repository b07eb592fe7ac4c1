"""The pairwise-exchange DDP communication hook (issue 13): the mean of every rank's bucket,
the same bits on every rank, over 2 and 4 gloo processes (recursive doubling), and through
gloo's all-reduce on 3 (not a power of two) and for large buckets on more than two."""

import sys

import pytest
import torch
import torch.multiprocessing as mp

from pyroml.infer import distributed
from tests.infer.test_distributed import free_port


class Bucket:
    """What the hook reads of DDP's ``GradBucket``: its flat buffer."""

    def __init__(self, buffer):
        self._buffer = buffer

    def buffer(self):
        return self._buffer


def _rank_values(rank, n, dtype=torch.float32):
    g = torch.Generator().manual_seed(100 + rank)
    return torch.randn(n, generator=g, dtype=torch.float64).mul(10.0 ** rank).to(dtype)


def _worker(rank, world, port, sizes, out, max_bytes):
    import torch.distributed as td
    torch.set_num_threads(1)
    td.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    if max_bytes is not None:
        distributed.EXCHANGE_MAX_BYTES = max_bytes
    results = {}
    for n in sizes:
        fut = distributed.exchange_hook(None, Bucket(_rank_values(rank, n)))
        results[n] = fut.wait().clone()
    gathered = [None] * world
    td.all_gather_object(gathered, results)
    if rank == 0:
        torch.save(gathered, out)
    td.destroy_process_group()


def run_hook(world, sizes, tmp_path, max_bytes=None):
    out = str(tmp_path / f"hook{world}.pt")
    mp.spawn(_worker, args=(world, free_port(), sizes, out, max_bytes), nprocs=world)
    return torch.load(out)


@pytest.mark.skipif(sys.platform == "win32", reason="gloo process groups over TCP")
@pytest.mark.parametrize("world, max_bytes", [(2, None), (3, None), (4, None), (4, 64)])
def test_the_hook_averages_the_buckets_with_the_same_bits_on_every_rank(world, max_bytes, tmp_path):
    sizes = [1, 7, 1000]
    gathered = run_hook(world, sizes, tmp_path, max_bytes)
    for n in sizes:
        mean = sum(_rank_values(r, n, torch.float64) for r in range(world)) / world
        for r in range(world):
            assert torch.equal(gathered[r][n], gathered[0][n]), (world, n, r)  # replicas stay identical
        assert torch.allclose(gathered[0][n].double(), mean, rtol=1e-5, atol=1e-6 * 10.0 ** world), (world, n)
