"""Where examples come from: data sets by name, your own arrays, tables and image folders.

::

    train, test = pyroml.data.load("fashion-mnist")           # torchvision's files, offline first
    data = pyroml.data.from_arrays(x, y)                       # numpy or torch; uint8 / 255
    data = pyroml.data.from_csv("table.csv", label_column="species")
    data = pyroml.data.from_folder("images/", size=(32, 32))   # one subfolder per class
    data.spec                                                  # DataSpec: event shape, support, class names
    big = pyroml.data.write_memmap(data, "train.npy")          # out of core: a MemmapDataset, read lazily

Every loader returns a :class:`Dataset` whose :class:`DataSpec` is what models, plots and reports read.
"""

from pyroml.data.arrays import from_arrays, from_dataset
from pyroml.data.datasets import Data, Dataset, as_tensors, data_record
from pyroml.data.folders import IMAGE_EXTENSIONS, from_folder
from pyroml.data.memmap import MemmapDataset, write_memmap
from pyroml.data.paths import PATH_KINDS, from_path
from pyroml.data.sources import (
    DATASETS,
    ENV_VAR,
    MNIST_FILES,
    DownloadError,
    data_dir,
    dataset_names,
    load,
    load_mnist,
)
from pyroml.data.spec import SUPPORTS, DataSpec
from pyroml.data.streaming import EpochPermutation, Stream, as_stream, is_stream
from pyroml.data.tables import from_csv

__all__ = [
    "Dataset", "DataSpec", "Data", "as_tensors", "data_record",
    "load", "load_mnist", "dataset_names", "DATASETS", "DownloadError",
    "from_arrays", "from_csv", "from_folder", "from_dataset", "from_path", "PATH_KINDS",
    "data_dir", "ENV_VAR", "MNIST_FILES", "SUPPORTS", "IMAGE_EXTENSIONS",
    "MemmapDataset", "write_memmap", "Stream", "EpochPermutation", "as_stream", "is_stream",
]
