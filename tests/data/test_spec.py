"""DataSpec, and the spec and fingerprint a Dataset carries."""

import json

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from pyroml.data import SUPPORTS, Dataset, DataSpec
from pyroml.data.spec import infer_support

# --- DataSpec -------------------------------------------------------------------------------------------


def test_spec_properties():
    image = DataSpec((3, 32, 32), "unit", ("a", "b"), "cifar10")
    assert image.is_image and image.n_features == 3072 and image.n_classes == 2
    table = DataSpec([5], "real")
    assert table.event_shape == (5,) and not table.is_image and table.n_features == 5 and table.n_classes is None
    assert DataSpec((), "binary").n_features == 1


@pytest.mark.parametrize("shape", [(-1,), ("a",), 5, "abc", (True, 2), (1.5,)])
def test_spec_rejects_bad_shapes(shape):
    with pytest.raises(ValueError, match="event_shape"):
        DataSpec(shape, "real")


def test_spec_rejects_unknown_support_and_string_class_names():
    with pytest.raises(ValueError, match=r"support must be one of \['binary', 'real', 'unit'\]"):
        DataSpec((2,), "positive")
    with pytest.raises(ValueError, match="sequence of names"):
        DataSpec((2,), "real", class_names="ab")


def test_spec_is_frozen_and_hashable():
    s = DataSpec((2,), "real", ["x", "y"])
    assert s.class_names == ("x", "y")
    with pytest.raises(AttributeError):
        s.support = "unit"  # type: ignore[misc]
    assert hash(s) == hash(DataSpec((2,), "real", ("x", "y")))


def test_spec_dict_round_trip_through_json():
    s = DataSpec((1, 28, 28), "unit", tuple("0123456789"), "mnist", "0123456789abcdef")
    d = json.loads(json.dumps(s.to_dict()))
    assert d["event_shape"] == [1, 28, 28] and d["class_names"][0] == "0"
    assert DataSpec.from_dict(d) == s
    assert DataSpec.from_dict({"event_shape": [4], "support": "binary", "future_key": 1}) == DataSpec((4,), "binary")
    with pytest.raises(ValueError, match="event_shape"):
        DataSpec.from_dict({"support": "real"})


def test_fits_orders_the_supports():
    assert DataSpec((1,), "binary").fits("unit") and DataSpec((1,), "unit").fits("real")
    assert not DataSpec((1,), "real").fits("unit") and not DataSpec((1,), "unit").fits("binary")
    with pytest.raises(ValueError, match="support"):
        DataSpec((1,), "real").fits("gaussian")


@pytest.mark.parametrize("values, support", [
    ([0.0, 1.0, 1.0], "binary"), ([0, 1], "binary"), ([True, False], "binary"), ([0.0, 0.5, 1.0], "unit"),
    ([0.0, 1.0001], "real"), ([-0.0001, 0.5], "real"), ([2, 3], "real"), ([float("nan"), 0.5], "real"),
    ([float("inf")], "real"), ([], "binary"),
])
def test_infer_support(values, support):
    x = torch.tensor(values) if values else torch.empty(0)
    assert infer_support(x) == support


def test_infer_support_past_the_first_chunk():
    x = torch.zeros(300_000)
    x[-1] = 0.5  # the only grey level, in the last chunk
    assert infer_support(x) == "unit"
    x[-1] = 1.0
    assert infer_support(x) == "binary"


@given(hnp.arrays(np.float32, hnp.array_shapes(min_dims=1, max_dims=3, max_side=6),
                  elements=st.floats(-3, 3, width=32)))
def test_infer_support_agrees_with_its_definition(a):
    x = torch.from_numpy(a)
    expected = "binary" if np.isin(a, [0, 1]).all() else "unit" if ((a >= 0) & (a <= 1)).all() else "real"
    assert infer_support(x) == expected
    assert DataSpec.infer(x).support == expected and DataSpec.infer(x).event_shape == a.shape[1:]


def test_infer_names_and_class_names():
    s = DataSpec.infer(torch.rand(4, 3), class_names=["a", "b"], name="table.csv")
    assert s == DataSpec((3,), "unit", ("a", "b"), "table.csv")
    with pytest.raises(ValueError, match="tensor of examples"):
        DataSpec.infer(torch.tensor(1.0))


def test_supports_are_ordered_narrow_to_wide():
    assert SUPPORTS == ("binary", "unit", "real")


# --- Dataset with its spec ------------------------------------------------------------------------------------


def test_dataset_infers_its_spec_and_keeps_positional_use():
    x, y = torch.rand(6, 1, 8, 8), torch.arange(6) % 3
    d = Dataset(x, y)
    assert d.spec == DataSpec((1, 8, 8), "unit") and d.class_names is None and len(d) == 6
    assert Dataset(torch.randn(5, 2)).spec.support == "real"
    with pytest.raises(ValueError, match="differ in length"):
        Dataset(x, torch.zeros(5, dtype=torch.long))


def test_dataset_keeps_a_given_spec_through_indexing_subset_and_to():
    spec = DataSpec((2,), "unit", ("a", "b", "c"), "toy", "feedfacefeedface")
    d = Dataset(torch.rand(10, 2), torch.arange(10) % 3, spec)
    assert d.class_names == ("a", "b", "c")
    for part in (d[2:5], d[torch.tensor([0, 3])], d.subset(4, seed=1), d[d.y == 0]):
        assert part.spec == DataSpec((2,), "unit", ("a", "b", "c"), "toy")  # fingerprint dropped: other examples
    assert d.to("cpu").spec == spec


def test_integer_index_gives_a_one_example_dataset():
    d = Dataset(torch.rand(3, 1, 4, 4), torch.tensor([0, 1, 2]))
    assert d[1].x.shape == (1, 1, 4, 4) and d[-1].y.tolist() == [2] and d[-3].y.tolist() == [0]
    with pytest.raises(IndexError, match="out of range"):
        d[3]


def test_dataset_rejects_a_spec_of_another_shape():
    with pytest.raises(ValueError, match=r"spec says one example has shape \(1, 28, 28\)"):
        Dataset(torch.rand(4, 3, 32, 32), spec=DataSpec((1, 28, 28), "unit"))
    with pytest.raises(TypeError, match="DataSpec"):
        Dataset(torch.rand(4, 2), spec={"event_shape": [2]})


def test_fingerprint_is_short_stable_and_content_sensitive():
    x = torch.rand(50, 1, 6, 6, generator=torch.Generator().manual_seed(0))
    f = Dataset(x).fingerprint()
    assert len(f) == 16 and set(f) <= set("0123456789abcdef")   # 16 lower-case hex digits
    assert Dataset(x.clone(), torch.zeros(50, dtype=torch.long)).fingerprint() == f  # labels excluded
    assert Dataset(x.transpose(2, 3).contiguous().transpose(2, 3)).fingerprint() == f  # memory layout excluded
    y = x.clone()
    y[7, 0, 3, 3] += 1e-6
    assert Dataset(y).fingerprint() != f
    assert Dataset(x.reshape(50, 36)).fingerprint() != f  # same bytes, another shape
    assert Dataset(x.double()).fingerprint() != f
    assert Dataset(torch.empty(0, 3)).fingerprint() != Dataset(torch.empty(0, 4)).fingerprint()


def test_fingerprint_pinned():
    """Recorded runs compare fingerprints: the digest of given data must not change between versions
    (it is the first 16 hex digits of sha256(b"torch.float32(3, 4)" + the bytes))."""
    x = torch.arange(12, dtype=torch.float32).reshape(3, 4) / 11
    assert Dataset(x).fingerprint() == "f50c6cface233597"
