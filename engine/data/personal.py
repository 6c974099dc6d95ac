"""The user's own drawings, labelled even or odd: a folder of PNGs and a `labels.csv`.

The Draw tab's "Mark even"/"Mark odd" save into such a folder; the Evaluate tab, the
Fine-tune tab and `evenodd evaluate --drawings DIR` read it. Unlike `engine.data.drawings`
(drawings *simulated* from MNIST digits to measure the canvas gap), these are real
drawings with the labels their author gave, the most valuable labels the app ever sees.

Format (readable and writable by hand or by a spreadsheet):
- each drawing the app saves is a 28x28 grayscale PNG, white ink on black: exactly the
  image the model sees (`engine.data.preprocess.to_mnist` of the drawing), so no
  preprocessing choice made later can change what a saved label refers to; the raw drawing
  is kept beside it in `raw/`;
- an image of any other size (a drawing or photo added by hand) is preprocessed when read,
  exactly as `evenodd predict` and the Draw tab do (`preprocess.to_mnist`). A 28x28 image
  is taken as it is: it already is the model's input, and preprocessing it again would
  change it (a second `to_mnist` of a saved drawing moves pixels by up to 25 grey levels);
- `labels.csv` has a header with at least the columns `file` and `parity` (`even` or
  `odd`); other columns (such as `digit`) are allowed and kept when the app rewrites it.

Folders come from users, so a bad row or file (missing, unreadable, blank, bad parity,
listed twice) is reported as one line in `DrawingSet.problems` and skipped; only
a folder that cannot be used at all raises `DrawingsError`. Writes are atomic
(`engine.files`), and a `labels.csv` the app cannot parse is never overwritten.

No torch at import time: the Draw tab imports this before torch has loaded. Scoring a
model on the drawings is `engine.learning.evaluate.evaluate_drawings` (models are a layer
above data).
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from engine.data.preprocess import SIZE, ImageError, load_image, preprocess_file
from engine.errors import DrawingsError
from engine.files import atomic_write_bytes

if TYPE_CHECKING:
    import torch

LABELS_FILE = "labels.csv"
RAW_FOLDER = "raw"  # the drawings as drawn (any size), kept for re-preprocessing later
PARITIES = ("even", "odd")  # index = training target: even 0, odd 1
COLUMNS = ("file", "parity")
ENV_FOLDER = "EVENODD_DRAWINGS_DIR"
_NAME = re.compile(r"drawing-(\d+)\.png$")


@dataclass
class DrawingSet:
    """The usable drawings of a folder, in `labels.csv` order, and what was skipped.

    `images` is uint8 (N, 28, 28) white on black; `targets` is 0 (even) / 1 (odd);
    `files` are the names as written in `labels.csv`; `problems` has one line per
    skipped row or file.
    """

    folder: Path
    files: list[str] = field(default_factory=list)
    images: np.ndarray = field(default_factory=lambda: np.zeros((0, SIZE, SIZE), np.uint8))
    targets: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    problems: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.files)

    def parity(self, index: int) -> str:
        return PARITIES[int(self.targets[index])]

    def counts(self) -> tuple[int, int]:
        """(even, odd) numbers of drawings."""
        odd = int(self.targets.sum())
        return len(self) - odd, odd

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(uint8 images (N, 28, 28), float parity targets (N,)): what training takes."""
        import torch

        return (
            torch.from_numpy(self.images.copy()),
            torch.from_numpy(self.targets.astype(np.float32)),
        )


def default_drawings_dir() -> Path:
    """The per-user folder for drawings, beside the downloaded MNIST (platform convention).

    `EVENODD_DRAWINGS_DIR` overrides it (the tests use that to stay out of the user's).
    """
    override = os.environ.get(ENV_FOLDER)
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_data_dir("EvenOddStudio", appauthor=False)) / "drawings"


# ------------------------------------------------------------------------------ reading


@dataclass
class _Table:
    """labels.csv as read: header and rows (each row with its line number)."""

    header: list[str]
    rows: list[tuple[int, dict[str, str]]]


def _read_table(folder: Path) -> _Table | str | None:
    """labels.csv of `folder`; None when there is none, a one-line problem when unusable."""
    path = folder / LABELS_FILE
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError:
        return f"{LABELS_FILE}: not a text file in UTF-8; no drawing read"
    except OSError as exc:
        return f"{LABELS_FILE}: cannot be read ({exc.strerror or exc}); no drawing read"
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        lines = list(reader)
    except csv.Error as exc:
        return f"{LABELS_FILE}: not a valid CSV file ({exc}); no drawing read"
    if not any(cell.strip() for line in lines for cell in line):
        return _Table(list(COLUMNS), [])  # an empty file: no drawings yet
    header = [cell.strip().lower() for cell in lines[0]]
    if not set(COLUMNS) <= set(header):
        first = ",".join(lines[0])[:60]
        return (
            f"{LABELS_FILE}: the first line must be a header with the columns "
            f"{','.join(COLUMNS)} (it is {first!r}); no drawing read"
        )
    rows = []
    for number, cells in enumerate(lines[1:], start=2):
        if not any(cell.strip() for cell in cells):
            continue  # blank lines are harmless
        row = {name: (cells[i] if i < len(cells) else "") for i, name in enumerate(header)}
        rows.append((number, row))
    return _Table(header, rows)


def _inside(folder: Path, name: str) -> Path | None:
    """`folder / name` when `name` is a relative path that stays inside the folder."""
    if not name or "\\" in name:
        return None
    parts = PurePosixPath(name).parts
    if PurePosixPath(name).is_absolute() or ".." in parts or not parts:
        return None
    return folder.joinpath(*parts)


def _read_png(path: Path, name: str) -> np.ndarray:
    """A drawing as the model's 28x28 uint8 input; ImageError (naming the file) when unusable.

    28x28 is kept as saved (see the module doc); any other size goes through
    `preprocess_file`, the very function `evenodd predict` uses (it reads the file again:
    such files are few, and sharing the function keeps the two from drifting apart).
    """
    pixels = load_image(path)  # one plain message for every way a file can be unreadable
    if pixels.shape[:2] != (SIZE, SIZE):
        return preprocess_file(path)
    if pixels.ndim == 3:  # RGBA: ink is white on black, so transparent means background
        gray = pixels[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])
        pixels = np.round(gray * pixels[..., 3] / 255.0).astype(np.uint8)
    return pixels


def load_drawings(folder: str | os.PathLike[str]) -> DrawingSet:
    """Every usable drawing in `folder`; bad rows and files go to `problems`, one line each.

    A folder without `labels.csv` holds no drawings yet (empty set, no problem).
    Raises DrawingsError only when `folder` is not a folder.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise DrawingsError(f"{folder} is a file, not a drawings folder")
    if not folder.exists():
        raise DrawingsError(f"drawings folder {folder} does not exist")
    result = DrawingSet(folder)
    table = _read_table(folder)
    if table is None:
        return result
    if isinstance(table, str):
        result.problems.append(table)
        return result
    images, targets, first_line = [], [], {}
    for number, row in table.rows:
        where = f"{LABELS_FILE} line {number}"
        name = row.get("file", "").strip()
        parity = row.get("parity", "").strip().lower()
        path = _inside(folder, name)
        if path is None:
            what = "no file name" if not name else f"{name!r} is not a file inside the folder"
            result.problems.append(f"{where}: {what}; skipped")
            continue
        if parity not in PARITIES:
            result.problems.append(
                f"{where}: {name}: parity {row.get('parity', '').strip()!r} is not even "
                "or odd; skipped"
            )
            continue
        key = path.relative_to(folder).as_posix()
        if key in first_line:
            result.problems.append(
                f"{where}: {name} is listed again (first on line {first_line[key]}); skipped"
            )
            continue
        first_line[key] = number
        try:
            pixels = _read_png(path, name)
        except ImageError as exc:
            result.problems.append(f"{where}: {exc}; skipped")
            continue
        result.files.append(name)
        images.append(pixels)
        targets.append(PARITIES.index(parity))
    if images:
        result.images = np.stack(images)
        result.targets = np.asarray(targets, dtype=np.int64)
    return result


# ------------------------------------------------------------------------------ writing


def _csv_bytes(table: _Table) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(table.header)
    for _, row in table.rows:
        writer.writerow([row.get(name, "") for name in table.header])
    return out.getvalue().encode("utf-8")


def _table_for_writing(folder: Path) -> _Table:
    """The current labels.csv, or a new empty one; DrawingsError when it cannot be parsed,
    because rewriting it would throw away whatever the user has in it."""
    table = _read_table(folder)
    if table is None:
        return _Table(list(COLUMNS), [])
    if isinstance(table, str):
        raise DrawingsError(
            f"{table.split(';')[0]}: fix it or move it out of {folder} before saving "
            "drawings there (it was left as it is)"
        )
    return table


def _png_bytes(pixels: np.ndarray) -> bytes:
    """PNG of uint8 gray (H, W), RGB or RGBA (H, W, 3|4) pixels."""
    out = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels, dtype=np.uint8)).save(out, "PNG")
    return out.getvalue()


def _next_name(folder: Path, table: _Table) -> str:
    """drawing-NNNN.png, one past the highest number in the folder or labels.csv."""
    names = [row.get("file", "") for _, row in table.rows]
    if folder.is_dir():
        names += [p.name for p in folder.iterdir()]
    numbers = [int(m.group(1)) for n in names if (m := _NAME.search(n))]
    number = max(numbers, default=0) + 1
    while (folder / f"drawing-{number:04d}.png").exists():
        number += 1
    return f"drawing-{number:04d}.png"


def add_drawing(
    folder: str | os.PathLike[str],
    image28: np.ndarray,
    parity: str,
    raw: np.ndarray | None = None,
) -> str:
    """Save a 28x28 model input as a new drawing labelled `parity`; returns its file name.

    The PNG is written first and `labels.csv` last, both atomically, so a crash leaves
    at worst an unlisted PNG, never a half-written file or a row without its image.
    `raw` (the drawing as drawn, uint8 gray) is kept in `raw/` under the same name.
    """
    folder = Path(folder)
    if parity not in PARITIES:
        raise DrawingsError(f"parity must be even or odd, not {parity!r}")
    pixels = np.asarray(image28)
    if pixels.shape != (SIZE, SIZE) or pixels.dtype != np.uint8:
        raise DrawingsError(
            f"a drawing to save must be a {SIZE}x{SIZE} uint8 image, not "
            f"{pixels.shape} {pixels.dtype}"
        )
    if folder.exists() and not folder.is_dir():
        raise DrawingsError(f"{folder} is a file, not a drawings folder")
    table = _table_for_writing(folder)
    name = _next_name(folder, table)
    written = [folder / name]
    try:
        atomic_write_bytes(folder / name, _png_bytes(pixels))
        if raw is not None:
            written.append(folder / RAW_FOLDER / name)
            atomic_write_bytes(written[-1], _png_bytes(raw))
        row = {"file": name, "parity": parity}
        table.rows.append((0, row))
        atomic_write_bytes(folder / LABELS_FILE, _csv_bytes(table))
    except OSError as exc:
        for path in written:  # not listed: do not leave it behind
            path.unlink(missing_ok=True)
        raise DrawingsError(
            f"could not save the drawing in {folder}: {exc.strerror or exc}"
        ) from None
    return name


def delete_drawings(folder: str | os.PathLike[str], files: list[str]) -> int:
    """Remove `files` from `labels.csv` and delete their PNGs; returns the rows removed.

    `labels.csv` is rewritten first (atomically): if deleting a PNG then fails, the file
    is merely unlisted, never listed but gone.
    """
    folder = Path(folder)
    table = _table_for_writing(folder)
    doomed = {f.strip() for f in files}
    kept = [(n, row) for n, row in table.rows if row.get("file", "").strip() not in doomed]
    removed = len(table.rows) - len(kept)
    if removed:
        try:
            atomic_write_bytes(folder / LABELS_FILE, _csv_bytes(_Table(table.header, kept)))
        except OSError as exc:
            raise DrawingsError(
                f"could not update {folder / LABELS_FILE}: {exc.strerror or exc}"
            ) from None
    for name in doomed:
        for path in (_inside(folder, name), _inside(folder / RAW_FOLDER, name)):
            if path is not None:
                with contextlib.suppress(OSError):  # unlisted already: a leftover is harmless
                    path.unlink(missing_ok=True)
    return removed
