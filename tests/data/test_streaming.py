"""Out-of-core data (issue 13, item 2): write_memmap and MemmapDataset; the stream adapters."""

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, IterableDataset

from pyroml.data import Dataset, EpochPermutation, MemmapDataset, as_stream, write_memmap
from pyroml.data.streaming import epoch_permutation


class Gen(IterableDataset):
    def __init__(self, x):
        self.x = x

    def __iter__(self):
        return iter(self.x)


def test_round_trip_float32_with_labels(tmp_path):
    x, y = torch.rand(23, 1, 4, 4), torch.arange(23) % 3
    ds = write_memmap(Dataset(x, y), tmp_path / "a.npy", chunk=5)
    assert isinstance(ds, MemmapDataset) and len(ds) == 23 and ds.event_shape == (1, 4, 4)
    assert np.load(tmp_path / "a.npy").dtype == np.float32
    xi, yi = ds[7]
    assert torch.equal(xi, x[7]) and int(yi) == int(y[7])
    bx, by = ds.get_batch([9, 2, 20, 2])
    assert torch.equal(bx, x[[9, 2, 20, 2]]) and torch.equal(by, y[[9, 2, 20, 2]])
    assert sorted(os.listdir(tmp_path)) == ["a.labels.npy", "a.npy"]  # no temporary file left


def test_uint8_files_are_read_as_x_over_255(tmp_path):
    x = torch.randint(0, 256, (10, 6)).float() / 255
    ds = write_memmap(x, tmp_path / "u.npy", dtype="uint8")
    assert np.load(tmp_path / "u.npy").dtype == np.uint8 and ds.labels is None
    assert torch.equal(ds.get_batch(list(range(10))), x)
    assert os.path.getsize(tmp_path / "u.npy") < 10 * 6 + 200
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        write_memmap(x * 2, tmp_path / "v.npy", dtype="uint8")


def test_any_source_is_written_chunk_by_chunk(tmp_path):
    x = torch.rand(11, 3)
    items = [(x[i], i % 2) for i in range(11)]
    a = write_memmap(items, tmp_path / "l.npy", chunk=4)
    assert torch.equal(a.get_batch(list(range(11)))[0], x) and a.labels.tolist() == [i % 2 for i in range(11)]
    b = write_memmap(Gen(x.numpy()), tmp_path / "g.npy", num_examples=11, chunk=3)
    assert torch.equal(b.get_batch(list(range(11))), x)
    with pytest.raises(ValueError, match="num_examples"):
        write_memmap(Gen(x), tmp_path / "h.npy")
    with pytest.raises(ValueError, match="yielded 11 examples, not 12"):
        write_memmap(Gen(x), tmp_path / "h.npy", num_examples=12)
    with pytest.raises(TypeError, match="str"):
        write_memmap(["a", "b"], tmp_path / "h.npy")
    assert not (tmp_path / "h.npy").exists() and len(os.listdir(tmp_path)) == 3


def test_a_failed_write_keeps_the_old_file(tmp_path):
    p = tmp_path / "k.npy"
    write_memmap(torch.ones(4, 2), p)
    with pytest.raises(ValueError):
        write_memmap(Gen(torch.zeros(3, 2)), p, num_examples=4)
    assert torch.equal(MemmapDataset(p).get_batch([0, 1, 2, 3]), torch.ones(4, 2))
    assert os.listdir(tmp_path) == ["k.npy"]


def test_reads_are_lazy_and_unmapped(tmp_path):
    x = torch.rand(64, 32)
    ds = write_memmap(x, tmp_path / "r.npy")
    assert ds._fd is None  # nothing opened until read
    for i in range(0, 64, 8):
        assert torch.equal(ds.get_batch(list(range(i + 7, i - 1, -1))), x[i:i + 8].flip(0))
    proc = Path(f"/proc/{os.getpid()}/maps")
    maps = proc.read_text() if proc.exists() else ""
    assert "r.npy" not in maps  # read by pread: no mapped pages to hold in resident memory
    clone = pickle.loads(pickle.dumps(ds))  # workers open the file again
    assert clone._fd is None and torch.equal(clone[3], ds[3])
    ds.release()
    assert ds._fd is None and torch.equal(ds[5], x[5])


def test_negative_indices_and_any_numeric_dtype(tmp_path):
    x = np.arange(5 * 3, dtype=np.float64).reshape(5, 3)
    np.save(tmp_path / "d.npy", x)  # a user's own file: float64, read as float32
    ds = MemmapDataset(tmp_path / "d.npy")
    assert ds[-1].dtype == torch.float32 and torch.equal(ds[-1], torch.tensor(x[4], dtype=torch.float32))
    assert torch.equal(ds[-5], ds[0])  # was: row -1 read the bytes before row 0 (the file's header)
    np.save(tmp_path / "i.npy", np.arange(6, dtype=np.int16).reshape(3, 2))
    assert torch.equal(MemmapDataset(tmp_path / "i.npy").get_batch([2, 0]), torch.tensor([[4.0, 5.0], [0.0, 1.0]]))


def test_a_file_truncated_after_opening_is_a_clear_error(tmp_path):
    p = tmp_path / "t.npy"
    x = torch.rand(8, 4)
    ds, again = write_memmap(x, p), MemmapDataset(p)
    assert torch.equal(ds[0], x[0])  # open
    with open(p, "r+b") as f:
        f.truncate(os.path.getsize(p) - 4 * 4 * 3)  # the last three rows gone
    assert torch.equal(ds.get_batch([0, 4]), x[[0, 4]])
    with pytest.raises(ValueError, match="ends before row 5 of its 8"):
        ds.get_batch([1, 5])
    with pytest.raises(ValueError, match="shorter than its header says"):
        again[0]  # opened by its first read


def test_memmap_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="write_memmap"):
        MemmapDataset(tmp_path / "missing.npy")
    np.save(tmp_path / "flat.npy", np.arange(5))
    with pytest.raises(ValueError, match="shape"):
        MemmapDataset(tmp_path / "flat.npy")
    with pytest.raises(IndexError):
        write_memmap(torch.rand(3, 2), tmp_path / "s.npy")[3]


def test_epoch_permutation_is_the_engines():
    s = EpochPermutation(10, seed=4)
    s.set_epoch(2)
    assert list(s) == epoch_permutation(10, 4, 2).tolist() and len(s) == 10
    assert list(s) != epoch_permutation(10, 4, 3).tolist()


def test_stream_batches_and_head(tmp_path):
    x = torch.rand(30, 2)
    st = as_stream(write_memmap(x, tmp_path / "s.npy"), 8, seed=1)
    assert (st.n, st.steps_per_epoch) == (30, 4)
    order = epoch_permutation(30, 1, 0)
    got = torch.cat([b for b, _ in st.batches(0)])
    assert torch.equal(got, x[order])
    assert torch.equal(st.head(100), x) and st.head(7).shape == (7, 2)
    loader = as_stream(DataLoader(x.numpy(), batch_size=4), 99)
    assert loader.batch_size == 4 and loader.steps_per_epoch == 8
    u8 = as_stream(DataLoader(torch.full((4, 2), 255, dtype=torch.uint8), batch_size=2), 2)
    assert torch.equal(next(u8.batches())[0], torch.ones(2, 2))
