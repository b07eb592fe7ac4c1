"""Fault cases of the data loaders: arrays, Dataset, CSV files, image folders, files by path,
named data sets, memory-mapped files, and torch datasets, iterable datasets and loaders given to fit."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, TensorDataset

import pyroml
from pyroml.data import (
    Dataset,
    DataSpec,
    MemmapDataset,
    from_arrays,
    from_csv,
    from_dataset,
    from_folder,
    from_path,
    load,
    write_memmap,
)
from tests.faults.core import Accepts, Case, Env, Raises

D = "data"
CSV_OK = "a,b,c\n1,2,x\n3,4,y\n"


def _png(env: Env, name: str, size: tuple) -> None:
    from PIL import Image

    path = env.tmp / name
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", size).save(path)


def _mixed_sizes(env: Env) -> None:
    _png(env, "imgs/a/1.png", (8, 8))
    _png(env, "imgs/a/2.png", (9, 8))


def _empty_class(env: Env) -> None:
    _png(env, "imgs/a/1.png", (8, 8))
    (env.tmp / "imgs" / "b").mkdir()


def _truncate_idx(env: Env) -> None:
    img = env.mnist / "MNIST" / "raw" / "train-images-idx3-ubyte"
    img.write_bytes(img.read_bytes()[:1000])


class Numbers(IterableDataset):
    """An iterable dataset of ``n`` random 3-vectors per pass, without a length."""

    def __init__(self, n: int = 10):
        self.n = n

    def __iter__(self):
        yield from torch.rand(self.n, 3)


class Words(torch.utils.data.Dataset):
    """A map-style dataset whose items are strings."""

    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int) -> str:
        return "abcd"[i]


class Dicts(Words):
    def __getitem__(self, i: int) -> dict:
        return {"x": torch.rand(3)}


class Ragged(Words):
    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.rand(3 + (i == 2))


class Pictures(Words):
    def __getitem__(self, i: int):
        from PIL import Image
        return Image.new("L", (4, 4)), 0


def _fit(env: Env, data, watch: bool = True, **kw):
    """``fit`` of a GMM built for 3-vectors, watched (so that a step taken before the error fails the case)."""
    model = pyroml.GMM(n_components=2, event_shape=(3,))
    return pyroml.fit(env.watch(model) if watch else model, data, epochs=1, progress=False, **kw)


def _unit_images(env: Env, ds: Dataset) -> None:
    assert ds.x.shape == (2, 1, 4, 4) and bool((ds.x == 1).all()), ds.x


def _one_finite_epoch(env: Env, history) -> None:
    assert len(history.train_elbo) == 1 and np.isfinite(history.train_elbo[0]), history


def _same_values(x):
    def check(env: Env, ds: Dataset) -> None:
        assert ds.x.dtype == torch.float32 and torch.allclose(ds.x, torch.as_tensor(np.asarray(x), dtype=torch.float32))
    return check


CASES = [
    # ---- arrays -------------------------------------------------------------------------------------
    Case("arrays-empty", D, "`from_arrays(np.zeros((0, 3)))`", lambda e: from_arrays(np.zeros((0, 3))),
         Raises(ValueError, ("x is empty", "pass at least one example"))),
    Case("arrays-5d", D, "`from_arrays` of a 5-d array", lambda e: from_arrays(np.zeros((2, 1, 1, 1, 1))),
         Raises(ValueError, ("5 dimensions", "x.reshape(N, -1)"))),
    Case("arrays-strings", D, "`from_arrays` of strings", lambda e: from_arrays(np.array([["a", "b"]])),
         Raises(TypeError, ("must be numeric", "np.asarray(x, dtype=np.float32)"))),
    Case("arrays-complex", D, "`from_arrays` of a complex tensor",
         lambda e: from_arrays(torch.zeros(2, 2, dtype=torch.complex64)), Raises(TypeError, "real part")),
    Case("arrays-ragged", D, "`from_arrays([[1, 2], [3]])`", lambda e: from_arrays([[1, 2], [3]]),
         Raises(ValueError, "rectangular array")),
    Case("arrays-nan", D, "NaN in a numpy array", lambda e: from_arrays(np.array([[np.nan, 1.0]])),
         Raises(ValueError, ("1 NaN or infinite values", "impute"))),
    Case("arrays-inf", D, "inf in a tensor", lambda e: from_arrays(torch.tensor([[float("inf"), 1.0]])),
         Raises(ValueError, "NaN or infinite values")),
    Case("arrays-beyond-float32", D, "float64 value 1e40 (finite, but infinite as float32)",
         lambda e: from_arrays(np.array([[1e40, 1.0]])), Raises(ValueError, ("beyond float32's range", "rescale"))),
    Case("arrays-float64", D, "float64 array", lambda e: from_arrays(np.array([[0.25, 1.5]])),
         Accepts("converted to float32, values kept"), check=_same_values([[0.25, 1.5]])),
    Case("arrays-float16", D, "float16 tensor", lambda e: from_arrays(torch.tensor([[0.5, 2.0]]).half()),
         Accepts("converted to float32, values kept"), check=_same_values([[0.5, 2.0]])),
    Case("arrays-uint8", D, "uint8 images", lambda e: from_arrays(np.full((2, 4, 4), 255, np.uint8)),
         Accepts("divided by 255 into [0, 1], shape (N, 1, H, W)"),
         check=_unit_images),
    Case("arrays-labels-length", D, "labels of another length", lambda e: from_arrays(np.zeros((3, 2)), [0, 1]),
         Raises(ValueError, ("differ in length", "of shape (3,)"))),
    Case("arrays-labels-negative", D, "label -1", lambda e: from_arrays(np.zeros((2, 2)), [0, -1]),
         Raises(ValueError, "class indices >= 0")),
    Case("arrays-labels-fractional", D, "label 0.5", lambda e: from_arrays(np.zeros((2, 2)), [0.5, 1.0]),
         Raises(ValueError, "class indices (integers)")),
    Case("arrays-label-unnamed", D, "label 3 with 2 class names",
         lambda e: from_arrays(np.zeros((2, 2)), [0, 3], class_names=["a", "b"]), Raises(ValueError, "has no name")),
    Case("arrays-label-unknown-name", D, "string label not among class_names",
         lambda e: from_arrays(np.zeros((2, 2)), ["a", "z"], class_names=["a", "b"]),
         Raises(ValueError, "not among class_names")),
    # ---- Dataset -----------------------------------------------------------------------------------
    Case("dataset-numpy", D, "`Dataset(numpy array)`", lambda e: Dataset(np.zeros((2, 2))),
         Raises(TypeError, "pyroml.data.from_arrays(x, y) converts")),
    Case("dataset-scalar", D, "`Dataset(torch.tensor(1.0))`", lambda e: Dataset(torch.tensor(1.0)),
         Raises(ValueError, "leading example dimension")),
    Case("dataset-spec-shape", D, "a spec of another event shape",
         lambda e: Dataset(torch.zeros(3, 2), spec=DataSpec.infer(torch.zeros(3, 4))),
         Raises(ValueError, ("spec says one example has shape (4,)", "pass a matching spec"))),
    Case("dataset-index", D, "`dataset[5]` of 3 examples", lambda e: Dataset(torch.zeros(3, 2))[5],
         Raises(IndexError, "out of range for a Dataset of 3 examples")),
    Case("dataset-split-one", D, "`split()` of one example", lambda e: Dataset(torch.zeros(1, 2)).split(),
         Raises(ValueError, "cannot split 1 example")),
    Case("dataset-split-fraction", D, "`split(0.0)`", lambda e: Dataset(torch.zeros(4, 2)).split(0.0),
         Raises(ValueError, "test_fraction must be a number in (0, 1)")),
    Case("dataset-subset-0", D, "`subset(0)` (was: an empty data set)", lambda e: Dataset(torch.zeros(4, 2)).subset(0),
         Raises(ValueError, "n must be an integer >= 1")),
    Case("dataset-subset-negative", D, "`subset(-3)` (was: silently 1 example)",
         lambda e: Dataset(torch.zeros(4, 2)).subset(-3), Raises(ValueError, "n must be an integer >= 1, got -3")),
    # ---- CSV ----------------------------------------------------------------------------------------
    Case("csv-missing", D, "`from_csv` of a missing file", lambda e: from_csv(e.tmp / "no.csv"),
         Raises(FileNotFoundError, "no CSV file at")),
    Case("csv-folder", D, "`from_csv` of a folder", lambda e: from_csv(e.tmp), Raises(FileNotFoundError,
             "it is a folder")),
    Case("csv-empty", D, "an empty CSV file", lambda e: from_csv(e.file("e.csv", "")),
         Raises(ValueError, "is empty; it needs at least one row")),
    Case("csv-header-only", D, "a header and no rows", lambda e: from_csv(e.file("h.csv", "a,b\n")),
         Raises(ValueError, "but no data rows")),
    Case("csv-ragged", D, "a row with fewer values", lambda e: from_csv(e.file("r.csv", "1,2\n3\n")),
         Raises(ValueError, ("ragged CSV: line 2 has 1 values", "line 1 has 2"))),
    Case("csv-text-cell", D, "a text cell among numbers", lambda e: from_csv(e.file("t.csv", "1,2\n3,abc\n")),
         Raises(ValueError, ("line 2, column 2 holds 'abc'", "label_column=1"))),
    Case("csv-nan-cell", D, "a `nan` cell", lambda e: from_csv(e.file("n.csv", "1,2\nnan,3\n")),
         Raises(ValueError, ("holds 'nan'", "must be a finite number"))),
    Case("csv-label-unknown", D, "`label_column='zz'`", lambda e: from_csv(e.file("o.csv", CSV_OK), label_column="zz"),
         Raises(ValueError, ("not a column of the file", "['a', 'b', 'c']"))),
    Case("csv-label-index", D, "`label_column=9` of 3 columns",
         lambda e: from_csv(e.file("o.csv", CSV_OK), label_column=9), Raises(ValueError, "index in [-3, 2]")),
    Case("csv-header-flag", D, "`header='yes'`", lambda e: from_csv(e.file("o.csv", CSV_OK), header="yes"),
         Raises(ValueError, "header must be one of")),
    Case("csv-labels-only", D, "a file whose one column is the labels",
         lambda e: from_csv(e.file("l.csv", "lab\nx\ny\n"), label_column="lab"), Raises(ValueError,
         "no features left")),
    # ---- image folders ------------------------------------------------------------------------------
    Case("folder-missing", D, "`from_folder` of a missing folder", lambda e: from_folder(e.tmp / "none"),
         Raises(FileNotFoundError, "no folder at")),
    Case("folder-file", D, "`from_folder` of a file", lambda e: from_folder(e.file("f.txt", "x")),
         Raises(FileNotFoundError, "it is a file")),
    Case("folder-empty", D, "a folder without images", lambda e: from_folder(e.tmp),
         Raises(ValueError, ("no images in", "one subfolder of images per class"))),
    Case("folder-corrupt-image", D, "a `.png` that is not an image", lambda e: from_folder(e.file("i/x.png",
             b"no").parent),
         Raises(ValueError, ("cannot read the image", "remove it"))),
    Case("folder-mixed-sizes", D, "images of two sizes", lambda e: from_folder(e.tmp / "imgs"),
         Raises(ValueError, ("images differ in size", "pass size=(height, width)")), setup=_mixed_sizes),
    Case("folder-empty-class", D, "a class folder without images", lambda e: from_folder(e.tmp / "imgs"),
         Raises(ValueError, "no images in the class folder(s) b"), setup=_empty_class),
    Case("folder-size-0", D, "`size=(0, 4)`", lambda e: from_folder(e.tmp, size=(0, 4)),
         Raises(ValueError, "size[0] (height) must be an integer >= 1")),
    Case("folder-size-3", D, "`size=(3, 4, 5)`", lambda e: from_folder(e.tmp, size=(3, 4, 5)),
         Raises(ValueError, "size must be (height, width)")),
    # ---- files by path --------------------------------------------------------------------------------
    Case("path-missing", D, "`from_path` of nothing", lambda e: from_path(e.tmp / "nope"),
         Raises(FileNotFoundError, ("no data at", "a .csv file"))),
    Case("path-kind", D, "`from_path` of a `.txt` file", lambda e: from_path(e.file("x.txt", "hi")),
         Raises(ValueError, ("cannot read", "a .npy file"))),
    Case("path-object-npy", D, "a `.npy` of Python objects (was: numpy's advice to allow pickles)",
         lambda e: from_path(e.tmp / "o.npy"), Raises(ValueError, ("Python objects are refused", "np.save")),
         setup=lambda e: np.save(e.tmp / "o.npy", np.array([1, "a"], dtype=object), allow_pickle=True)),
    Case("path-corrupt-npz", D, "a `.npz` of random bytes", lambda e: from_path(e.file("z.npz", b"garbage" * 9)),
         Raises(ValueError, "cannot read")),
    Case("path-npz-keys", D, "a `.npz` without `x`", lambda e: from_path(e.tmp / "k.npz"),
         Raises(ValueError, "expected x (and y)"), setup=lambda e: np.savez(e.tmp / "k.npz", a=np.ones(3))),
    Case("path-test-fraction", D, "`test_fraction=1.5`", lambda e: from_path(e.tmp / "ok.npy", test_fraction=1.5),
         Raises(ValueError, "test_fraction must be a number in (0, 1)"),
         setup=lambda e: np.save(e.tmp / "ok.npy", np.ones((5, 2)))),
    # ---- named data sets ---------------------------------------------------------------------------
    Case("dataset-load-unknown", D, "`load('imagenet')`", lambda e: load("imagenet", e.tmp),
         Raises(ValueError, ("unknown dataset 'imagenet'", "from_arrays"))),
    Case("dataset-load-missing", D, "MNIST files not in the data directory", lambda e: load("mnist", e.tmp),
         Raises(FileNotFoundError, ("MNIST not found", "searched", "train-images-idx3-ubyte"))),
    Case("dataset-load-subset", D, "`subset=0`", lambda e: load("mnist", e.tmp, subset=0),
         Raises(ValueError, "subset must be an integer >= 1")),
    Case("dataset-load-truncated", D, "a truncated IDX file", lambda e: load("mnist", e.mnist),
         Raises(ValueError, "truncated or corrupt"), setup=_truncate_idx),
    # ---- memory-mapped files -----------------------------------------------------------------------
    Case("memmap-missing", D, "`MemmapDataset` of a missing file", lambda e: MemmapDataset(e.tmp / "no.npy"),
         Raises(FileNotFoundError, "write one with pyroml.data.write_memmap")),
    Case("memmap-strings", D, "`MemmapDataset` of strings", lambda e: MemmapDataset(e.tmp / "s.npy"),
         Raises(ValueError, "takes numeric examples"), setup=lambda e: np.save(e.tmp / "s.npy", np.array(["a", "b"]))),
    Case("memmap-labels", D, "3 labels for 10 examples", lambda e: MemmapDataset(e.tmp / "x.npy", labels=np.zeros(3)),
         Raises(ValueError, "3 labels for the 10 examples"),
         setup=lambda e: np.save(e.tmp / "x.npy", np.ones((10, 3), np.float32))),
    Case("memmap-dtype", D, "`write_memmap(..., dtype='float64')`",
         lambda e: write_memmap(from_arrays(np.zeros((2, 2))), e.tmp / "w.npy", dtype="float64"),
         Raises(ValueError, "dtype must be 'float32' or 'uint8'")),
    Case("memmap-uint8-range", D, "`dtype='uint8'` for values outside [0, 1]",
         lambda e: write_memmap(from_arrays(np.full((2, 2), 3.0)), e.tmp / "w.npy", dtype="uint8"),
         Raises(ValueError, ("outside [0, 1]", "write float32 instead"))),
    Case("memmap-no-length", D, "`write_memmap` of an iterable without a length",
         lambda e: write_memmap(Numbers(), e.tmp / "w.npy"), Raises(ValueError, "pass num_examples=N")),
    Case("memmap-to-folder", D, "`write_memmap` to a folder", lambda e: write_memmap(from_arrays(np.zeros((2, 2))),
             e.tmp),
         Raises(IsADirectoryError, "it is a folder")),
    # ---- torch datasets, iterables and loaders given to fit ---------------------------------------------
    Case("stream-no-length", D, "an `IterableDataset` without a length", lambda e: _fit(e, Numbers()),
         Raises(ValueError, "pass num_examples=N")),
    Case("stream-count", D, "`num_examples=100` for an iterable yielding 10 (was: N/B scaling silently 10x)",
         lambda e: _fit(e, Numbers(10), num_examples=100), Raises(ValueError, ("yielded 10 examples",
         "num_examples=10")),
         note="before any step"),
    Case("stream-empty", D, "an iterable yielding nothing", lambda e: _fit(e, Numbers(0), num_examples=5),
         Raises(ValueError, "yielded no examples")),
    Case("stream-num-examples-0", D, "`num_examples=0`", lambda e: _fit(e, Numbers(), num_examples=0),
         Raises(ValueError, "num_examples must be an integer >= 1")),
    Case("stream-strings", D, "a dataset of strings", lambda e: _fit(e, Words()), Raises(TypeError, "is a str")),
    Case("stream-dicts", D, "a dataset of dicts", lambda e: _fit(e, Dicts()), Raises(TypeError,
             "item 0 of the Dicts is a dict")),
    Case("stream-pil", D, "a dataset of PIL images", lambda e: from_dataset(Pictures()),
         Raises(TypeError, "transform=torchvision.transforms.ToTensor()")),
    Case("stream-ragged", D, "items of two shapes", lambda e: from_dataset(Ragged()),
         Raises(ValueError, ("items differ in shape", "item 2 is (4,)"))),
    Case("stream-no-len", D, "`from_dataset` of an iterable", lambda e: from_dataset(Numbers()),
         Raises(TypeError, "map-style torch Dataset")),
    Case("stream-num-examples-disagrees", D, "`num_examples=5` for a dataset of 8",
         lambda e: _fit(e, TensorDataset(torch.rand(8, 3)), num_examples=5), Raises(ValueError,
         "leave num_examples out")),
    Case("stream-float64", D, "a `DataLoader` of float64 tensors (was: a dtype error at the first step)",
         lambda e: _fit(e, DataLoader(TensorDataset(torch.rand(8, 3).double()), batch_size=4)),
         Raises(TypeError, ("torch.float64", "x.to(torch.float32)"))),
    Case("stream-nan", D, "a `DataLoader` with NaN", lambda e: _fit(e, DataLoader(TensorDataset(
        torch.full((8, 3), float("nan"))), batch_size=4)), Raises(ValueError, "24 NaN or infinite values")),
    Case("stream-memmap", D, "a `MemmapDataset` given to fit", lambda e: _fit(e, MemmapDataset(e.tmp / "x.npy"), False),
         Accepts("streamed from the file"), setup=lambda e: np.save(e.tmp / "x.npy", np.random.rand(10,
         3).astype("f4")),
         check=_one_finite_epoch),
]
