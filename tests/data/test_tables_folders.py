"""from_csv and from_folder on files the tests write, and every bad input they must refuse."""

import numpy as np
import pytest
import torch
from PIL import Image

from pyroml.data import from_csv, from_folder

# --- CSV ------------------------------------------------------------------------------------------------------


@pytest.fixture
def csv_file(tmp_path):
    def write(text, name="table.csv"):
        path = tmp_path / name
        path.write_text(text)
        return path
    return write


def test_csv_with_header_and_string_labels(csv_file):
    path = csv_file("sepal,petal,species\n5.1,1.4,setosa\n\n7.0,4.7,versicolor\n6.3,6.0,virginica\n4.9,1.4,setosa\n")
    d = from_csv(path, label_column="species")
    assert d.x.dtype == torch.float32 and d.x.shape == (4, 2)
    np.testing.assert_allclose(d.x[:, 0].numpy(), [5.1, 7.0, 6.3, 4.9], rtol=1e-6)
    assert d.y.tolist() == [0, 1, 2, 0] and d.class_names == ("setosa", "versicolor", "virginica")
    assert d.spec.support == "real" and d.spec.event_shape == (2,) and d.spec.name == str(path)


def test_csv_label_column_by_index_without_header(csv_file):
    path = csv_file("1,0.5,0.25\n0,1.0,0.75\n2,0.0,0.5\n")
    d = from_csv(path, label_column=0, class_names=["a", "b", "c"])
    assert d.y.tolist() == [1, 0, 2] and d.x.tolist() == [[0.5, 0.25], [1.0, 0.75], [0.0, 0.5]]
    assert d.class_names == ("a", "b", "c") and d.spec.support == "unit"
    assert from_csv(path, label_column=-3, header=False).y.tolist() == [1, 0, 2]


def test_csv_without_labels_and_header_detection(csv_file):
    assert from_csv(csv_file("1,2\n3,4\n")).x.tolist() == [[1.0, 2.0], [3.0, 4.0]]  # no header: all numbers
    assert from_csv(csv_file("x,y\n1,2\n")).x.tolist() == [[1.0, 2.0]]  # header: names over numbers
    assert from_csv(csv_file("1,2,cat\n3,4,dog\n"), label_column=2).class_names == ("cat", "dog")  # data, not header
    d = from_csv(csv_file("1,2\n3,4\n"), header=True)  # the first row taken as names, as asked
    assert d.x.tolist() == [[3.0, 4.0]]
    assert from_csv(csv_file("a;b\n1;2\n"), delimiter=";").x.tolist() == [[1.0, 2.0]]
    assert from_csv(csv_file("\ufeffa,b\n1,2\n")).x.shape == (1, 2)  # a byte-order mark is not part of a name


def test_ragged_csv_names_the_line_and_counts(csv_file):
    path = csv_file("a,b,c\n1,2,3\n4,5,6\n7,8\n")
    with pytest.raises(ValueError, match=r"ragged CSV: line 4 has 2 values, but line 2 has 3"):
        from_csv(path)
    with pytest.raises(ValueError, match="the header has 2 names, but line 2 has 3 values"):
        from_csv(csv_file("a,b\n1,2,3\n"))


@pytest.mark.parametrize("text, match", [
    ("a,b\n1,2\n3,oops\n", r"line 3, column 2 \('b'\) holds 'oops'"),
    ("1,2\n3,\n", r"line 2, column 2 holds ''"),
    ("1,2\nnan,4\n", r"line 2, column 1 holds 'nan'"),
    ("1,2\n3,inf\n", r"line 2, column 2 holds 'inf'"),
])
def test_non_numeric_csv_names_line_column_and_value(csv_file, text, match):
    with pytest.raises(ValueError, match=match):
        from_csv(csv_file(text))


def test_non_numeric_csv_suggests_the_label_column(csv_file):
    with pytest.raises(ValueError, match="pass label_column=2"):
        from_csv(csv_file("1,2,cat\n3,4,dog\n"))
    with pytest.raises(ValueError, match="pass label_column='kind'"):
        from_csv(csv_file("a,b,kind\n1,2,cat\n"))


@pytest.mark.parametrize("text, kwargs, error, match", [
    ("", {}, ValueError, "is empty"),
    ("\n\n", {}, ValueError, "is empty"),
    ("a,b\n", {}, ValueError, "header row .* but no data rows"),
    ("a,b\n1,2\n", {"label_column": "c"}, ValueError, r"'c' is not a column of the file; its columns are \['a', 'b'\]"),
    ("1,2\n3,4\n", {"label_column": "b", "header": False}, ValueError, "has no header row"),
    ("1,2\n3,4\n", {"label_column": "b"}, ValueError, r"its columns are \['1', '2'\]"),
    ("1,2\n", {"label_column": 5}, ValueError, r"index in \[-2, 1\]"),
    ("1\n2\n", {"label_column": 0}, ValueError, "no features left"),
    ("a,l\n1,0.5\n", {"label_column": "l"}, ValueError, "non-integral"),
    ("1,2\n", {"header": "yes"}, ValueError, "header must be one of"),
])
def test_bad_csv(csv_file, text, kwargs, error, match):
    with pytest.raises(error, match=match):
        from_csv(csv_file(text), **kwargs)


def test_missing_csv(tmp_path):
    with pytest.raises(FileNotFoundError, match="no CSV file at"):
        from_csv(tmp_path / "none.csv")
    with pytest.raises(FileNotFoundError, match="from_folder"):
        from_csv(tmp_path)


# --- image folders --------------------------------------------------------------------------------------------


def save(path, array, mode=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode).save(path) if mode else Image.fromarray(array).save(path)
    return path


def rgb(h, w, value):
    return np.full((h, w, 3), value, np.uint8)


def test_folder_of_rgb_classes(tmp_path):
    save(tmp_path / "dog" / "b.png", rgb(6, 5, 30))
    save(tmp_path / "cat" / "a.png", rgb(6, 5, 10))
    save(tmp_path / "cat" / "b.JPG", rgb(6, 5, 20))
    (tmp_path / "cat" / "notes.txt").write_text("not an image")
    (tmp_path / ".hidden").mkdir()
    d = from_folder(tmp_path)
    assert d.x.shape == (3, 3, 6, 5) and d.x.dtype == torch.float32
    assert d.y.tolist() == [0, 0, 1] and d.class_names == ("cat", "dog") and d.spec.name == str(tmp_path)
    assert d.x[0].mul(255).round().unique().tolist() == [10.0] and d.x[2].mul(255).round().unique().tolist() == [30.0]
    assert d.spec.support == "unit" and d.spec.is_image


def test_greyscale_images_stay_one_channel_and_rgb_wins_when_mixed(tmp_path):
    save(tmp_path / "a" / "1.png", np.full((4, 4), 255, np.uint8))
    save(tmp_path / "b" / "1.bmp", np.zeros((4, 4), np.uint8))
    d = from_folder(tmp_path)
    assert d.x.shape == (2, 1, 4, 4) and d.spec.support == "binary"
    save(tmp_path / "b" / "2.png", rgb(4, 4, 255))
    assert from_folder(tmp_path).x.shape == (3, 3, 4, 4)
    assert from_folder(tmp_path, greyscale=True).x.shape == (3, 1, 4, 4)


def test_rgba_and_16_bit_grey(tmp_path):
    save(tmp_path / "rgba" / "a.png", np.full((3, 3, 4), 200, np.uint8))
    d = from_folder(tmp_path)
    assert d.x.shape == (1, 3, 3, 3) and float(d.x.max()) == pytest.approx(200 / 255)
    save(tmp_path / "deep" / "a.png", np.full((3, 3), 65535, np.uint16))
    d = from_folder(tmp_path / "deep")
    assert d.x.shape == (1, 1, 3, 3) and float(d.x.min()) == pytest.approx(1.0)


def test_resize_and_unlabelled_folder(tmp_path):
    save(tmp_path / "a.png", rgb(8, 8, 0))
    save(tmp_path / "b.gif", np.zeros((5, 7), np.uint8))
    d = from_folder(tmp_path, size=(4, 6))
    assert d.x.shape == (2, 3, 4, 6) and d.y is None and d.class_names is None
    assert from_folder(tmp_path, size=3, greyscale=True).x.shape == (2, 1, 3, 3)
    assert from_folder(tmp_path, size=[3, 3], extensions=["png"]).x.shape == (1, 3, 3, 3)


def test_mixed_sizes_without_resize_names_two_files(tmp_path):
    save(tmp_path / "a" / "small.png", rgb(6, 5, 0))
    save(tmp_path / "b" / "large.png", rgb(9, 8, 0))
    with pytest.raises(ValueError) as e:
        from_folder(tmp_path)
    msg = str(e.value)
    assert "small.png is 6x5" in msg and "large.png is 9x8" in msg and "size=(6, 5)" in msg


def test_empty_folder(tmp_path):
    with pytest.raises(ValueError, match=r"no images in .*\.png, \.jpg"):
        from_folder(tmp_path)
    (tmp_path / "readme.txt").write_text("no images here")
    with pytest.raises(ValueError, match="no images in"):
        from_folder(tmp_path)


def test_empty_class_folder(tmp_path):
    save(tmp_path / "cat" / "a.png", rgb(2, 2, 0))
    (tmp_path / "dog").mkdir()
    with pytest.raises(ValueError, match="no images in the class folder"):
        from_folder(tmp_path)


@pytest.mark.parametrize("size, match", [((0, 4), r"size\[0\]"), ((4,), "height, width"), ("big", "height, width")])
def test_bad_size(tmp_path, size, match):
    save(tmp_path / "a.png", rgb(2, 2, 0))
    with pytest.raises(ValueError, match=match):
        from_folder(tmp_path, size=size)


def test_other_folder_problems(tmp_path):
    with pytest.raises(FileNotFoundError, match="no folder at"):
        from_folder(tmp_path / "none")
    save(tmp_path / "a" / "x.png", rgb(2, 2, 0))
    save(tmp_path / "loose.png", rgb(2, 2, 0))
    with pytest.raises(ValueError, match="both class subfolders"):
        from_folder(tmp_path)
    (tmp_path / "loose.png").unlink()
    (tmp_path / "a" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match=r"cannot read the image .*broken\.png"):
        from_folder(tmp_path)
