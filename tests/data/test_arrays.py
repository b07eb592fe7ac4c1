"""from_arrays' value and shape rules, its errors, and from_dataset."""

from typing import ClassVar, List

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from pyroml.data import DataSpec, from_arrays, from_dataset
from pyroml.data.arrays import encode_labels

# --- values ---------------------------------------------------------------------------------------------------


def test_uint8_is_divided_by_255():
    a = np.array([[0, 51, 255]], dtype=np.uint8)
    d = from_arrays(a)
    assert d.x.dtype == torch.float32 and d.spec.support == "unit"
    assert torch.equal(d.x, torch.tensor([[0.0, 51.0, 255.0]]) / 255.0)
    assert torch.equal(from_arrays(torch.from_numpy(a)).x, d.x)


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.int64, np.uint16, np.uint32])
def test_other_integers_are_kept_as_they_are(dtype):
    d = from_arrays(np.array([[0, 3], [7, 100]], dtype=dtype))
    assert d.x.dtype == torch.float32 and d.x.tolist() == [[0.0, 3.0], [7.0, 100.0]] and d.spec.support == "real"


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, ">f8"])
def test_floats_become_float32(dtype):
    d = from_arrays(np.array([[0.5, -2.0]], dtype=dtype))
    assert d.x.dtype == torch.float32 and d.x.tolist() == [[0.5, -2.0]]


def test_bools_and_torch_dtypes():
    assert from_arrays(np.array([[True, False]])).spec.support == "binary"
    assert from_arrays(torch.tensor([[0.25]], dtype=torch.bfloat16)).x.dtype == torch.float32
    assert from_arrays(torch.tensor([[1, 2]])).x.tolist() == [[1.0, 2.0]]


def test_float32_shares_memory_and_read_only_arrays_are_copied():
    a = np.zeros((3, 2), np.float32)
    assert np.shares_memory(from_arrays(a).x.numpy(), a)
    a.flags.writeable = False
    x = from_arrays(a).x
    assert not np.shares_memory(x.numpy(), a) and x.shape == (3, 2)


# --- shapes ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape, out", [
    ((5,), (5, 1)),
    ((5, 7), (5, 7)),
    ((5, 8, 9), (5, 1, 8, 9)),
    ((5, 1, 8, 9), (5, 1, 8, 9)),
    ((5, 3, 32, 32), (5, 3, 32, 32)),
    ((5, 32, 32, 3), (5, 3, 32, 32)),
    ((5, 28, 28, 1), (5, 1, 28, 28)),
    ((5, 16, 16, 4), (5, 4, 16, 16)),
    ((5, 3, 8, 4), (5, 3, 8, 4)),  # second dimension a channel count: channels-first
    ((5, 6, 7, 8), (5, 6, 7, 8)),  # no channel count at the end: kept
])
def test_shape_rule(shape, out):
    d = from_arrays(np.zeros(shape, np.float32))
    assert tuple(d.x.shape) == out and d.spec.event_shape == out[1:]
    assert d.spec.is_image == (len(out) == 4)


def test_channels_last_is_transposed_not_reshaped():
    a = np.random.default_rng(0).integers(0, 256, size=(2, 5, 6, 3), dtype=np.uint8)
    x = from_arrays(a).x
    assert x.is_contiguous() and torch.equal(x[1, 2, 4, 5] * 255, torch.tensor(float(a[1, 4, 5, 2])))


@given(st.data())
def test_round_trip_over_shapes_and_dtypes(data):
    dtype = data.draw(st.sampled_from([np.uint8, np.int16, np.float16, np.float32, np.float64]))
    layout = data.draw(st.sampled_from(["flat", "table", "grey", "chw", "hwc"]))
    n = data.draw(st.integers(1, 4))
    side = data.draw(st.integers(5, 9))
    shape = {"flat": (n,), "table": (n, side), "grey": (n, side, side + 1), "chw": (n, 3, side, side + 1),
             "hwc": (n, side, side + 1, 3)}[layout]
    elements = st.integers(0, 255) if dtype in (np.uint8, np.int16) else st.floats(-4, 4, width=16)
    a = data.draw(hnp.arrays(dtype, shape, elements=elements))
    y = data.draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, 3)))
    d = from_arrays(a, y, class_names=["a", "b", "c", "d"], name="drawn")
    expected = a.astype(np.float64) / (255.0 if dtype == np.uint8 else 1.0)
    if layout == "flat":
        expected = expected.reshape(n, 1)
    elif layout == "grey":
        expected = expected[:, None]
    elif layout == "hwc":
        expected = expected.transpose(0, 3, 1, 2)
    assert d.x.dtype == torch.float32 and d.x.shape == expected.shape
    np.testing.assert_allclose(d.x.numpy(), expected, rtol=1e-6, atol=1e-7)
    assert d.y.tolist() == y.tolist() and d.spec.class_names == ("a", "b", "c", "d") and d.spec.name == "drawn"
    assert d.spec == DataSpec.infer(d.x, ("a", "b", "c", "d"), "drawn")


# --- labels ---------------------------------------------------------------------------------------------------


def test_string_labels_become_sorted_classes():
    d = from_arrays(np.zeros((4, 2)), ["dog", "cat", "dog", "emu"])
    assert d.y.tolist() == [1, 0, 1, 2] and d.class_names == ("cat", "dog", "emu") and d.y.dtype == torch.int64
    d = from_arrays(np.zeros((2, 2)), np.array(["b", "a"]), class_names=["b", "a"])
    assert d.y.tolist() == [0, 1] and d.class_names == ("b", "a")


def test_label_forms():
    assert from_arrays(np.zeros((3, 1)), np.array([[2], [0], [1]])).y.tolist() == [2, 0, 1]
    assert from_arrays(np.zeros((2, 1)), torch.tensor([1.0, 0.0])).y.tolist() == [1, 0]
    labels, names = encode_labels([True, False], 2)
    assert labels.tolist() == [1, 0] and names is None


@pytest.mark.parametrize("y, class_names, match", [
    ([0, 1], None, r"x has 3 examples, y has shape \(2,\)"),
    (np.zeros((3, 2)), None, "differ in length"),
    ([0.5, 1, 2], None, "non-integral"),
    ([-1, 0, 1], None, ">= 0"),
    ([0, 1, 2], ["a", "b"], "label 2 has no name"),
    (["a", "b", "z"], ["a", "b"], r"labels \['z'\] are not among class_names"),
])
def test_bad_labels(y, class_names, match):
    with pytest.raises(ValueError, match=match):
        from_arrays(np.zeros((3, 2)), y, class_names)


# --- bad data, before any work ------------------------------------------------------------------------------------


@pytest.mark.parametrize("x, error, match", [
    (np.array([[1.0, np.nan]]), ValueError, "1 NaN or infinite"),
    (torch.tensor([[np.inf, 0.0, -np.inf]]), ValueError, "2 NaN or infinite"),
    (np.zeros((0, 3)), ValueError, "empty"),
    (np.zeros((3, 0)), ValueError, "empty"),
    (np.float32(1.0), ValueError, "empty"),
    (np.zeros((2, 1, 1, 1, 1)), ValueError, "5 dimensions"),
    (np.array([["a", "b"]]), TypeError, "numeric.*strings.*from_csv"),
    (np.array([[object()]]), TypeError, "numeric.*objects"),
    (torch.zeros(2, 2, dtype=torch.complex64), TypeError, "complex"),
    ([[1, 2], [3]], ValueError, "rectangular"),
])
def test_bad_data(x, error, match):
    with pytest.raises(error, match=match):
        from_arrays(x)


def test_label_length_checked_before_nan():
    with pytest.raises(ValueError, match="differ in length"):
        from_arrays(np.full((3, 2), np.nan), [0, 1])


# --- torch datasets -------------------------------------------------------------------------------------------


def test_from_tensor_dataset_pairs():
    x = torch.rand(6, 1, 5, 5)
    d = from_dataset(torch.utils.data.TensorDataset(x, torch.arange(6) % 2), name="pairs")
    assert torch.equal(d.x, x) and d.y.tolist() == [0, 1, 0, 1, 0, 1] and d.spec.name == "pairs"


def test_from_dataset_of_bare_examples_and_numpy_items():
    items = [np.full((5, 6, 3), i, np.uint8) for i in range(3)]  # channels-last uint8, as from_arrays reads it
    d = from_dataset(items)
    assert d.x.shape == (3, 3, 5, 6) and d.y is None and float(d.x[2].max()) == pytest.approx(2 / 255)


class _Labelled(torch.utils.data.Dataset):
    """A torchvision-like dataset: (tensor, int) items and a ``classes`` list."""

    classes: ClassVar[List[str]] = ["zero", "one"]

    def __len__(self):
        return 4

    def __getitem__(self, i):
        return torch.full((2,), float(i)), i % 2


def test_from_dataset_takes_class_names_from_classes():
    d = from_dataset(_Labelled())
    assert d.class_names == ("zero", "one") and d.y.tolist() == [0, 1, 0, 1]
    assert from_dataset(_Labelled(), class_names=["z", "o"]).class_names == ("z", "o")


def test_from_dataset_with_tensor_labels():
    d = from_dataset([(torch.zeros(3), torch.tensor(2)), (torch.ones(3), np.int64(0))])
    assert d.y.tolist() == [2, 0]


@pytest.mark.parametrize("items, error, match", [
    ([], ValueError, "empty"),
    ([torch.zeros(3), torch.zeros(4)], ValueError, r"item 0 is \(3,\), item 1 is \(4,\)"),
    ([torch.zeros(3), "text"], TypeError, "item 1 of the dataset is a str"),
    ([{"x": torch.zeros(3)}], TypeError, "item 0 of the dataset is a dict"),
    ([(torch.zeros(3), 1, 2)], TypeError, r"tuple of 3 \(Tensor, int, int\)"),
    ([(torch.zeros(3), 1), torch.zeros(3)], TypeError, "having a label"),
    (iter([torch.zeros(3)]), TypeError, "map-style"),
])
def test_from_dataset_bad_items(items, error, match):
    with pytest.raises(error, match=match):
        from_dataset(items)


def test_from_dataset_hints_at_totensor_for_pil_images():
    from PIL import Image

    items = [(Image.new("L", (4, 4)), 0)]
    with pytest.raises(TypeError, match=r"Image.*transforms.ToTensor\(\)"):
        from_dataset(items)
