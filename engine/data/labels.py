"""The labels a classifier learns from: which training images, and what was said of each.

A person labelling images in the app gives either the digit (keys 0-9) or only the parity
(E / O); Mark even / Mark odd drawings are parity-only too. `Labels` holds both kinds
side by side: `digits` is -1 where only the parity is known. Everything downstream (the
graph's first guesses, the classifier's targets, the checkpoint's record) reads labels
from a `Labels`, never from MNIST's label file, so a fine-tuning cannot learn a label
that nobody gave.

The file a person's labels are kept in is a CSV with a header, one row per image:
`index,label`, where `index` is the position in the MNIST training file and `label` is a
digit 0-9, `even` or `odd`, or empty: an image the app asked about that is not labelled
yet (so the list of asked images survives a restart). Rows keep the order the images
were asked in. It is rewritten atomically on every key press, one file per data folder,
under the per-user data folder (`labels_file_for`). `read_labels_file` (what fine-tuning
and `--labels-file` read) skips the empty rows; the app reads every row
(`read_label_rows`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import torch

from engine.errors import DataError
from engine.files import atomic_write_bytes, os_error_text
from engine.options import DIGIT, LABEL_KINDS, PARITY

UNKNOWN_DIGIT = -1  # in `Labels.digits`: only the parity was given
HEADER = ("index", "label")


@dataclass(frozen=True)
class Labels:
    """Labels of training images: `indices` (long, sorted, unique) are positions in the
    MNIST training file; `digits` the digit said, or UNKNOWN_DIGIT; `odd` 1.0 / 0.0."""

    indices: torch.Tensor
    digits: torch.Tensor
    odd: torch.Tensor

    def __post_init__(self) -> None:
        n = len(self.indices)
        if self.digits.shape != (n,) or self.odd.shape != (n,):
            raise DataError(
                f"{n} labelled images but {len(self.digits)} digits / {len(self.odd)} parities"
            )
        if n and bool((self.indices[1:] <= self.indices[:-1]).any()):
            raise DataError("labelled images must be listed once each, in order")
        known = self.digits >= 0
        if bool((self.digits[known] > 9).any()) or bool((self.digits < UNKNOWN_DIGIT).any()):
            raise DataError("a digit label must be 0-9")
        if bool((self.odd[known] != (self.digits[known] % 2).float()).any()):
            raise DataError("a digit label and its parity disagree")

    @classmethod
    def from_pairs(cls, pairs: dict[int, int | str]) -> Labels:
        """{position: digit 0-9, "even" or "odd"} -> Labels (what the label file holds)."""
        order = sorted(pairs)
        digits, odd = [], []
        for position in order:
            value = pairs[position]
            if isinstance(value, str):
                digits.append(UNKNOWN_DIGIT)
                odd.append(1.0 if value == "odd" else 0.0)
            else:
                digits.append(int(value))
                odd.append(float(int(value) % 2))
        return cls(
            torch.tensor(order, dtype=torch.long),
            torch.tensor(digits, dtype=torch.long),
            torch.tensor(odd, dtype=torch.float32),
        )

    @classmethod
    def empty(cls) -> Labels:
        return cls.from_pairs({})

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def n_digits(self) -> int:
        """How many of the labels name the digit (the rest give the parity only)."""
        return int((self.digits >= 0).sum())

    @property
    def kind(self) -> str:
        """ "digit", "parity" or "mixed": what the labels say (for records and reports)."""
        if self.n_digits == len(self):
            return DIGIT
        return PARITY if self.n_digits == 0 else "mixed"

    def as_pairs(self) -> dict[int, int | str]:
        return {
            int(i): int(d) if d >= 0 else ("odd" if o > 0 else "even")
            for i, d, o in zip(
                self.indices.tolist(), self.digits.tolist(), self.odd.tolist(), strict=True
            )
        }

    def parity_only(self) -> Labels:
        """The same images with only their parity (what an E / O annotator gives)."""
        return Labels(self.indices, torch.full_like(self.digits, UNKNOWN_DIGIT), self.odd)


def reveal(train_labels: torch.Tensor, indices: torch.Tensor, kind: str = DIGIT) -> Labels:
    """The simulated annotator: MNIST's own labels for `indices` only, as `kind`.

    This is the only place where the benchmarks and the app's "Fill in MNIST's labels"
    read MNIST's label file for training, and it reads exactly the images asked about.
    """
    if kind not in LABEL_KINDS:
        raise DataError(f"label kind must be one of {', '.join(LABEL_KINDS)}, not {kind!r}")
    indices = torch.as_tensor(indices, dtype=torch.long).unique()  # sorted, once each
    digits = train_labels[indices].long()
    labels = Labels(indices, digits, (digits % 2).float())
    return labels if kind == DIGIT else labels.parity_only()


def labels_file_for(data_source: str | os.PathLike, home: Path) -> Path:
    """The label file of the MNIST folder `data_source`, kept in the folder `home`.

    One file per data folder: a person's labels name positions in that folder's training
    file, so another folder gets its own file. The name carries the folder's name for
    people and a hash of its full path so that two folders of the same name never share.
    """
    resolved = str(Path(data_source).expanduser().resolve())
    digest = hashlib.sha256(resolved.encode()).hexdigest()[:10]
    stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in Path(resolved).name) or "data"
    return home / f"labels-{stem}-{digest}.csv"


def parse_label(text: str) -> int | str:
    """ "7" -> 7, "even"/"odd" (any case) -> itself; anything else raises DataError."""
    value = text.strip().lower()
    if value in ("even", "odd"):
        return value
    if value.isdigit() and len(value) == 1:
        return int(value)
    raise DataError(f"a label must be a digit 0-9, even or odd, not {text!r}")


# A row of a label file: (position in the training file, its label or None: asked only).
Row = tuple[int, int | str | None]


def read_label_rows(path: str | os.PathLike, n_train: int | None = None) -> list[Row]:
    """Every row of a label file in file order, None for an image asked about but not
    labelled yet; a bad file or row raises one DataError naming it.

    `n_train` (the training file's length) bounds the positions when given. A file that
    does not exist is an error here; the app treats a missing file as no labels yet.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataError(f"cannot read the label file {path}: {os_error_text(exc)}") from None
    except UnicodeDecodeError:
        raise DataError(f"{path} is not a label file (not text)") from None
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or tuple(cell.strip().lower() for cell in rows[0][:2]) != HEADER:
        raise DataError(f"{path} is not a label file: its first line must be 'index,label'")
    found: list[Row] = []
    seen: set[int] = set()
    for number, row in enumerate(rows[1:], start=2):
        if not row or not "".join(row).strip():
            continue
        where = f"{path.name} line {number}"
        if len(row) < 2:
            raise DataError(f"{where}: expected 'index,label'")
        try:
            position = int(row[0])
        except ValueError:
            raise DataError(f"{where}: the index {row[0]!r} is not a whole number") from None
        if position < 0 or (n_train is not None and position >= n_train):
            limit = f" (the training file has {n_train} images)" if n_train is not None else ""
            raise DataError(f"{where}: no training image at index {position}{limit}")
        try:
            value = parse_label(row[1]) if row[1].strip() else None
        except DataError as exc:
            raise DataError(f"{where}: {exc}") from None
        if position in seen:
            twice = "listed" if value is None else "labelled"
            raise DataError(f"{where}: image {position} is {twice} twice")
        seen.add(position)
        found.append((position, value))
    return found


def read_labels_file(path: str | os.PathLike, n_train: int | None = None) -> Labels:
    """The labels in a label file (rows with an empty label, asked only, are skipped); a
    bad file or row raises one DataError naming it. See `read_label_rows`."""
    rows = read_label_rows(path, n_train)
    return Labels.from_pairs({position: value for position, value in rows if value is not None})


def write_label_rows(path: str | os.PathLike, rows: Iterable[Row]) -> None:
    """Write `rows` in their order (None: an empty label, asked only), atomically: the
    file is the old one or the complete new one. 1000 rows took 3.6 ms (median of 30;
    worst 15 ms, the fsync) on the development machine's disk."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    for position, value in rows:
        writer.writerow((int(position), "" if value is None else value))
    atomic_write_bytes(path, buffer.getvalue().encode("utf-8"))


def write_labels_file(path: str | os.PathLike, labels: Labels, asked: Iterable[int] = ()) -> None:
    """Write `labels` atomically; the `asked` positions come first, in their order, with
    their label or an empty one, then the other labels by position."""
    pairs = labels.as_pairs()
    first = list(dict.fromkeys(int(position) for position in asked))
    rest = sorted(set(pairs) - set(first))
    write_label_rows(path, [(position, pairs.get(position)) for position in first + rest])


def default_labels_home() -> Path:
    """The per-user folder that keeps a person's label files (EVENODD_LABELS_DIR overrides)."""
    override = os.environ.get("EVENODD_LABELS_DIR")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_data_dir("EvenOddStudio", appauthor=False)) / "labels"
