"""Tables of numbers in CSV files, read with Python's ``csv`` module (no pandas)."""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np

from pyroml._validation import check_choice
from pyroml.data.arrays import encode_labels, from_arrays
from pyroml.data.datasets import Dataset

__all__ = ["from_csv"]


def _number(cell: str) -> Optional[float]:
    """The cell's finite float value, or ``None`` when it is not a finite number."""
    try:
        v = float(cell)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def _read_rows(path: Path, delimiter: str) -> List[Tuple[int, List[str]]]:
    """The non-blank rows of the file with their line numbers (1-based), cells stripped."""
    if not path.is_file():
        raise FileNotFoundError(f"no CSV file at {path}" + (" (it is a folder: from_folder reads image folders)"
                                                             if path.is_dir() else ""))
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f, delimiter=delimiter)
        rows = [(reader.line_num, [c.strip() for c in row]) for row in reader]
    return [(line, row) for line, row in rows if any(row)]


def _label_index(label_column: Union[str, int, None], header: Optional[List[str]], width: int) -> Optional[int]:
    """The label column as an index into a row of ``width`` cells."""
    if label_column is None:
        return None
    if isinstance(label_column, str):
        if header is None:
            raise ValueError(f"label_column={label_column!r} is a name, but the file has no header row; pass the "
                             f"column's index instead, or header=True if the first row names the columns")
        if label_column not in header:
            raise ValueError(f"label_column={label_column!r} is not a column of the file; its columns are {header}")
        return header.index(label_column)
    if isinstance(label_column, bool) or not isinstance(label_column, int) or not -width <= label_column < width:
        raise ValueError(f"label_column must be a column name or an index in [{-width}, {width - 1}] (the rows have "
                         f"{width} values), got {label_column!r}")
    return label_column % width


def _has_header(rows: List[Tuple[int, List[str]]], label_column: Union[str, int, None]) -> bool:
    """``header="auto"``: a label column given by name implies a header; otherwise the first row
    is a header when some column holds a non-number there and a number in the second row (in a
    one-row file: when any cell is not a number), so a row of data with string labels is data."""
    if isinstance(label_column, str):
        return True
    first = rows[0][1]
    if len(rows) == 1:
        return any(_number(c) is None for c in first)
    return any(_number(a) is None and _number(b) is not None for a, b in zip(first, rows[1][1]))


def _bad_cell(line: int, j: int, cell: str, head: Optional[List[str]], label: Optional[int]) -> str:
    """The message for a cell that is not a finite number."""
    column = f"column {j + 1}" + (f" ({head[j]!r})" if head else "")
    msg = (f"non-numeric CSV cell: line {line}, {column} holds {cell!r}; every value outside the label "
           f"column must be a finite number (fill or drop missing values)")
    if label is None:
        msg += f"; if this column holds the classes, pass label_column={repr(head[j]) if head else j}"
    return msg


def _parse(rows: List[Tuple[int, List[str]]], head: Optional[List[str]], label: Optional[int]
           ) -> Tuple[np.ndarray, List[str]]:
    """The feature matrix ``(N, D)`` float64 and the label cells; raises on ragged rows and bad cells."""
    first_line, width = rows[0][0], len(rows[0][1])
    values = np.empty((len(rows), width - (label is not None)), dtype=np.float64)
    labels: List[str] = []
    for i, (line, row) in enumerate(rows):
        if len(row) != width:
            raise ValueError(f"ragged CSV: line {line} has {len(row)} values, but line {first_line} has {width}; "
                             f"give every row the same number of columns (fill missing values)")
        k = 0
        for j, cell in enumerate(row):
            if j == label:
                labels.append(cell)
                continue
            v = _number(cell)
            if v is None:
                raise ValueError(_bad_cell(line, j, cell, head, label))
            values[i, k] = v
            k += 1
    return values, labels


def from_csv(path: Union[str, os.PathLike], label_column: Union[str, int, None] = None,
             header: Union[str, bool] = "auto", class_names: Optional[Sequence[str]] = None,
             delimiter: str = ",") -> Dataset:
    """A table of numbers from a CSV file, one example per row.

    Blank lines are skipped. With ``header="auto"`` the first row is a header when it is not
    numeric where the data are: some column holds a non-number in the first row and a number in
    the second (in a one-row file, any non-number), or ``label_column`` is a name. ``True`` /
    ``False`` say so explicitly.

    :param path: the CSV file.
    :param label_column: the column holding the labels, by header name or by index (negative
        from the end), or ``None`` for unlabelled data. Integer labels are class indices; string
        labels become classes numbered in the sorted order of their names, which are the class names.
    :param header: ``"auto"``, ``True`` or ``False``.
    :param class_names: the name of each class (string labels are then numbered in this order).
    :param str delimiter: the separator of the cells.
    :returns: a Dataset with ``x`` float32 of shape ``(N, D)`` (D columns besides the label's),
        ``y`` int64 ``(N,)`` or ``None``, and its spec (named by ``path``).
    :raises FileNotFoundError: when there is no file at ``path``.
    :raises ValueError: for a file without data rows, ragged rows (naming the line and both
        counts), a cell that is not a finite number (naming its line, column and value), or an
        unknown label column.
    """
    check_choice("header", header, ("auto", True, False))
    path = Path(path).expanduser()
    rows = _read_rows(path, delimiter)
    if not rows:
        raise ValueError(f"the CSV file {path} is empty; it needs at least one row of numbers")
    has_header = _has_header(rows, label_column) if header == "auto" else bool(header)
    head = rows[0][1] if has_header else None
    if has_header:
        rows = rows[1:]
        if not rows:
            raise ValueError(f"the CSV file {path} has a header row ({head}) but no data rows")
    width = len(rows[0][1])
    if head is not None and len(head) != width:
        raise ValueError(f"ragged CSV: the header has {len(head)} names, but line {rows[0][0]} has {width} values")
    label = _label_index(label_column, head, width)
    if label is not None and width < 2:
        raise ValueError(f"the CSV file {path} has a single column, the labels: there are no features left")
    values, cells = _parse(rows, head, label)
    y = None
    if label is not None:
        numeric = [_number(c) for c in cells]
        y, class_names = encode_labels(np.array(cells if None in numeric else numeric), len(rows), class_names)
    return from_arrays(values, y, class_names, name=str(path))
