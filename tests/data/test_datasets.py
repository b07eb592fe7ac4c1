import pytest
import torch

from pyroml.data import Dataset
from tests.conftest import mnist_images


def test_dataset_rejects_mismatched_labels():
    with pytest.raises(ValueError, match="differ in length"):
        Dataset(mnist_images(5), torch.zeros(4, dtype=torch.long))
