"""The label file a person's labels are kept in: asked-only rows (an empty label) survive a
write and a read, keep their order, and are not labels to learn from."""

from __future__ import annotations

import pytest
import torch

from engine.data.labels import (
    Labels,
    read_label_rows,
    read_labels_file,
    write_label_rows,
    write_labels_file,
)
from engine.errors import DataError


def test_rows_keep_order_and_asked_only_images(tmp_path) -> None:
    path = tmp_path / "labels.csv"
    rows = [(40, 7), (3, None), (12, "odd"), (8, None), (5, "even")]
    write_label_rows(path, rows)
    assert path.read_text().splitlines() == [
        "index,label", "40,7", "3,", "12,odd", "8,", "5,even",
    ]  # fmt: skip
    assert read_label_rows(path) == rows
    labels = read_labels_file(path)  # what fine-tuning reads: the labels only
    assert labels.as_pairs() == {5: "even", 12: "odd", 40: 7}


def test_write_labels_file_puts_asked_images_first(tmp_path) -> None:
    path = tmp_path / "labels.csv"
    labels = Labels.from_pairs({2: 4, 9: "odd", 30: 1})
    write_labels_file(path, labels, asked=[30, 11, 2])
    assert read_label_rows(path) == [(30, 1), (11, None), (2, 4), (9, "odd")]
    assert torch.equal(read_labels_file(path).indices, labels.indices)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("index,label\n4,7\n4,\n", "listed twice"),
        ("index,label\n4,\n4,7\n", "labelled twice"),
        ("index,label\n4,seven\n", "line 2"),
        ("index,label\n700,\n", "no training image at index 700"),
        ("position,digit\n4,7\n", "first line"),
    ],
)
def test_bad_rows_are_named(tmp_path, text: str, says: str) -> None:
    path = tmp_path / "labels.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=says):
        read_label_rows(path, n_train=600)
