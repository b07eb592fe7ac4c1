"""Tests that kill mutants of :mod:`pyroml.infer.sources` (issue 15, item 6) which the rest of the
suite let survive: the sharing of batches between processes, tested here without starting any
(the two-process run itself is ``tests/infer/test_distributed.py``, outside the mutation run)."""

import pytest
import torch
from torch.utils.data import DataLoader, IterableDataset, TensorDataset

from pyroml.data.streaming import as_stream
from pyroml.infer.sources import _Batches, _check_shares, _StreamBatches

N, B = 10, 4  # batches of 4, 4 and 2 examples


def examples():
    """``N`` examples of 3 values, each example's values equal to its index: ``(N, 3)``."""
    return torch.arange(N, dtype=torch.float32).unsqueeze(1).expand(N, 3).clone()


def shares(batches, epoch=1):
    """``[(step, first tensor of the batch, B)]`` of one epoch."""
    return [(step, batch[0], b) for step, batch, b in batches.epoch(epoch)]


class Items(IterableDataset):
    def __init__(self, x):
        self.x = x

    def __iter__(self):
        return iter(self.x)


@pytest.mark.parametrize("world", [2])
def test_in_memory_shares_split_each_global_batch(world):
    x = examples()
    whole = shares(_Batches((x,), B, seed=5))
    parts = [shares(_Batches((x,), B, seed=5, rank=r, world=world)) for r in range(world)]
    assert [b for _, _, b in whole] == [4, 4, 2]
    for step, (s, xb, b) in enumerate(whole):
        assert s == step
        assert all(p[step][0] == step and p[step][2] == b for p in parts)  # every rank: the global B
        for r in range(world):
            assert torch.equal(parts[r][step][1], xb[r::world])


@pytest.mark.parametrize("world", [2])
def test_streamed_shares_are_the_in_memory_shares(world):
    x = examples()
    stream = as_stream(TensorDataset(x), B, seed=5)
    for r in range(world):
        streamed = shares(_StreamBatches(stream, x, torch.device("cpu"), rank=r, world=world))
        memory = shares(_Batches((x,), B, seed=5, rank=r, world=world))
        assert [(s, b) for s, _, b in streamed] == [(s, b) for s, _, b in memory] == [(0, 4), (1, 4), (2, 2)]
        for (_, xs, _), (_, xm, _) in zip(streamed, memory):
            assert torch.equal(xs, xm)


def test_one_process_by_default_reads_whole_batches():
    x = examples()
    stream = as_stream(TensorDataset(x), B, seed=5)
    batches = _StreamBatches(stream, x[:3], torch.device("cpu"))
    assert (batches.n, batches.steps_per_epoch, batches.rank, batches.world) == (N, 3, 0, 1)
    assert torch.equal(batches.init_x, x[:3])
    got = shares(batches)
    assert [b for _, _, b in got] == [xb.shape[0] for _, xb, _ in got] == [4, 4, 2]
    assert sorted(torch.cat([xb for _, xb, _ in got])[:, 0].tolist()) == list(range(N))
    memory = shares(_Batches((x,), B, seed=5))
    assert all(torch.equal(a[1], m[1]) for a, m in zip(got, memory))


def test_iterable_sources_are_read_whole_and_shared_batch_by_batch():
    """An iterable source is read whole by every process, which keeps every W-th example of each
    batch; B stays the whole batch's size, and a batch with fewer examples than processes is refused."""
    x = examples()
    iterable = as_stream(Items(x), B, num_examples=N)
    whole = shares(_StreamBatches(iterable, x, torch.device("cpu")))
    assert [b for _, _, b in whole] == [4, 4, 2]
    assert torch.equal(torch.cat([xb for _, xb, _ in whole]), x)  # the source's own order
    for r in range(2):
        part = shares(_StreamBatches(iterable, x, torch.device("cpu"), rank=r, world=2))
        assert [(s, b) for s, _, b in part] == [(0, 4), (1, 4), (2, 2)]
        assert all(torch.equal(xp, xw[r::2]) for (_, xp, _), (_, xw, _) in zip(part, whole))
    three = _StreamBatches(iterable, x, torch.device("cpu"), rank=0, world=3)  # last batch: 2 < 3
    with pytest.raises(ValueError, match="a batch of 2 examples from the Items cannot be shared by 3 processes"):
        shares(three)


@pytest.mark.parametrize("n, batch_size, world, ok", [
    (10, 4, 2, True),    # last batch 2: one example each
    (9, 4, 2, False),    # last batch 1
    (10, 1, 2, False),   # batches of 1 for 2 processes
    (8, 2, 2, True),     # n % batch_size == 0: full batches only
    (9, 4, 1, True),     # one process takes any batch
    (10, 3, 3, False),   # last batch 1 for 3 processes
    (12, 3, 3, True),    # full batches of 3 for 3 processes
])
def test_check_shares(n, batch_size, world, ok):
    """Every batch needs an example per process: ``B >= W`` and a last batch of 0 or >= W examples."""
    if ok:
        _check_shares(n, batch_size, world)
    else:
        with pytest.raises(ValueError, match="cannot share"):
            _check_shares(n, batch_size, world)


def test_a_stream_too_small_to_share_is_refused_before_any_work():
    x = examples()[:9]
    stream = as_stream(TensorDataset(x), B)
    with pytest.raises(ValueError, match="2 processes cannot share batches of 4 of 9 examples"):
        _StreamBatches(stream, x, torch.device("cpu"), rank=0, world=2)
    with pytest.raises(ValueError, match="2 processes cannot share batches of 4 of 9 examples"):
        _Batches((x,), B, seed=0, rank=0, world=2)


def test_one_process_takes_each_batch_size_from_the_batch_itself():
    """A loader with its own batch sampler yields batches of other sizes than ``batch_size``:
    each step's B (its N/B scaling) is the size of the batch it got."""
    x = examples()
    loader = DataLoader(TensorDataset(x), batch_sampler=[[0, 1, 2], [3, 4, 5], [6, 7, 8, 9]])
    got = shares(_StreamBatches(as_stream(loader, B), x, torch.device("cpu")))
    assert [b for _, _, b in got] == [3, 3, 4]
    assert torch.equal(got[2][1], x[6:])


class Counted(torch.utils.data.Dataset):
    """A map-style dataset that records which examples were read."""

    def __init__(self, x):
        self.x, self.read = x, []

    def __len__(self):
        return self.x.shape[0]

    def __getitem__(self, i):
        self.read.append(int(i))
        return self.x[i]


def test_each_process_reads_only_its_share_of_a_map_style_dataset():
    x = examples()
    for r in range(2):
        data = Counted(x)
        batches = _StreamBatches(as_stream(data, B, seed=5), x, torch.device("cpu"), rank=r, world=2)
        data.read.clear()
        got = torch.cat([xb for _, xb, _ in shares(batches)])
        assert sorted(data.read) == sorted(got[:, 0].long().tolist())
        assert len(data.read) == N // 2


def test_training_batches_pass_rank_world_and_the_shuffle_seed_on():
    from pyroml.infer.sources import training_batches
    from tests.infer.toys import Toy

    x = examples()
    b = training_batches(Toy(), x, None, None, 7, B, rank=1, world=2)
    assert (b.rank, b.world, b.seed, b.n) == (1, 2, 7, N)
    s = training_batches(Toy(), TensorDataset(x), None, None, 7, B, rank=1, world=2)
    assert (s.rank, s.world, s.n) == (1, 2, N)
    assert training_batches(Toy(), x, None, None, None, B).seed == 0  # no seed: the shuffle of seed 0


def test_a_large_stream_initialises_from_a_sample_drawn_with_the_fit_seed():
    """More than INIT_EXAMPLES examples: the model sees a random INIT_EXAMPLES of them, drawn with
    the fit's seed (another seed, another sample)."""
    from pyroml.infer.sources import INIT_EXAMPLES, training_batches
    from tests.infer.toys import Toy

    x = torch.arange(INIT_EXAMPLES + 50, dtype=torch.float32).unsqueeze(1).expand(-1, 3).clone()
    got = training_batches(Toy(), TensorDataset(x), None, None, 5, 1000).init_x
    stream = as_stream(TensorDataset(x), 1000)
    assert torch.equal(got, stream.head(INIT_EXAMPLES, 5))
    assert not torch.equal(got, stream.head(INIT_EXAMPLES, 0))
