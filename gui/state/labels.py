"""My labels in the app: the images the app asked about and the labels a person gave them.

`MyLabels` is the one object that holds them, shared by the Label tab (which asks and
labels) and the Fine-tune tab (which learns from them); it emits `changed` after every
change. One file per data folder (`engine.data.labels.labels_file_for`, under
`default_labels_home()`; EVENODD_LABELS_DIR overrides) holds every asked image in the
order asked, with its label or an empty one, so both the labels and the open questions
survive a restart. The file is read when a data folder is loaded and rewritten on every
change.

Why writes go to a writer thread: an atomic write is fsynced; 1000 labels took 3.6 ms
(median of 30, worst 15 ms) on the development machine, more on a slow disk, and
labelling is typed as fast as one can press keys. Reading the file when the data loads
stays on the GUI thread: 2.6 ms for 1000 rows. Writes are queued in order on one
thread; a snapshot that a newer one has replaced before its turn is skipped. A label
file that cannot be read is never overwritten: it is moved aside (kept beside it as
`….unreadable-N.csv`), the tab says so in one line, and labelling starts empty.
"""

from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

if TYPE_CHECKING:
    from engine.data.labels import Labels

Value = int | str  # a digit 0-9, "even" or "odd"


class MyLabels(QObject):
    """The asked images (`order`) and the labels given (`given`) for the loaded data folder.

    `order` lists every image shown for labelling, in the order asked (a label file
    written elsewhere may add labelled images; they are listed too). Nothing is held
    before `load`; the engine types are imported there, once torch is loaded anyway.
    """

    changed = Signal()
    problem = Signal(str)  # one line: a bad file kept aside, a failed write
    _wrote = Signal(int, str)  # generation written, error ("" when written)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.path: Path | None = None  # the label file of the loaded data folder
        self.folder = ""  # the data folder it belongs to
        self.order: list[int] = []
        self.given: dict[int, Value] = {}
        self.history: list[int] = []  # positions in the order labelled (for undo)
        self.note = ""  # what happened to a file that could not be read, or ""
        self.write_error = ""  # the last write's failure, or ""
        self._generation = 0  # of the newest snapshot asked to be written
        self._pending = 0
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="write-labels")
        self._wrote.connect(self._take_write)

    # --------------------------------------------------------------------- reading

    def load(self, folder: str, n_train: int, home: Path | None = None) -> None:
        """Read the label file of the data folder `folder` (a missing file: nothing asked
        yet). A file that cannot be read is moved aside and reported (`problem`)."""
        from engine.data.labels import default_labels_home, labels_file_for, read_label_rows
        from engine.errors import DataError

        self.flush()  # the previous folder's last change is on disk before switching
        self.path = labels_file_for(folder, home or default_labels_home())
        self.folder = folder
        self.order, self.given, self.history = [], {}, []
        self.note = self.write_error = ""
        rows = []
        if self.path.exists():
            try:
                rows = read_label_rows(self.path, n_train)
            except DataError as exc:
                self.note = self._set_aside(str(exc))
        for position, value in rows:
            self.order.append(position)
            if value is not None:
                self.given[position] = value
        self.changed.emit()
        if self.note:
            self.problem.emit(self.note)

    def _set_aside(self, reason: str) -> str:
        """Move the unreadable file out of the way (never overwrite it); what happened."""
        path = self.path
        assert path is not None
        number = 1
        while (kept := path.with_name(f"{path.stem}.unreadable-{number}.csv")).exists():
            number += 1
        try:
            path.rename(kept)
        except OSError as exc:
            self.path = None  # nowhere safe to write: labels are kept in memory only
            return (
                f"Your label file could not be read ({reason}) nor moved aside ({exc}); "
                "labels given now are not saved."
            )
        return (
            f"Your label file could not be read ({reason}). It is kept as {kept}; "
            "labelling starts empty."
        )

    def loaded(self) -> bool:
        return bool(self.folder)

    # --------------------------------------------------------------------- changes

    def add_asked(self, positions: list[int]) -> list[int]:
        """Append newly asked images (those not listed yet); the ones added."""
        listed = set(self.order)
        new = [int(p) for p in positions if int(p) not in listed]
        if new:
            self.order.extend(new)
            self._changed()
        return new

    def set_label(self, position: int, value: Value) -> None:
        """Give `position` the digit or parity `value` (listing it if it was not)."""
        if position not in self.order:
            self.order.append(position)
        self.given[position] = value
        self.history = [p for p in self.history if p != position] + [position]
        self._changed()

    def fill(self, values: dict[int, Value]) -> None:
        """Give several labels at once (the simulated annotator); one write."""
        for position, value in values.items():
            if position not in self.order:
                self.order.append(position)
            self.given[position] = value
        self._changed()

    def remove_label(self, position: int) -> bool:
        """Take the label of `position` away (the image stays asked); False if it had none."""
        if self.given.pop(position, None) is None:
            return False
        self.history = [p for p in self.history if p != position]
        self._changed()
        return True

    def last_labelled(self) -> int | None:
        """The image labelled most recently in this session that still has its label."""
        return self.history[-1] if self.history else None

    def clear(self, forget_images: bool) -> None:
        """Remove every label; with `forget_images` the asked images too."""
        self.given, self.history = {}, []
        if forget_images:
            self.order = []
        self._changed()

    # ---------------------------------------------------------------------- reading

    def unlabelled(self) -> list[int]:
        return [p for p in self.order if p not in self.given]

    def counts(self) -> tuple[int, int]:
        """(digit labels, parity-only labels)."""
        digits = sum(1 for value in self.given.values() if isinstance(value, int))
        return digits, len(self.given) - digits

    def summary(self) -> str:
        """ "20: 14 digits, 6 even/odd" (the Fine-tune tab's "my labels (…)")."""
        digits, parity = self.counts()
        if not self.given:
            return "none yet"
        parts = [f"{digits} digit{'s' * (digits != 1)}"] if digits else []
        parts += [f"{parity} even/odd"] if parity else []
        return f"{len(self.given)}: {', '.join(parts)}"

    def labels(self) -> Labels:
        """The labels given, for fine-tuning (engine.data.labels.Labels)."""
        from engine.data.labels import Labels

        return Labels.from_pairs(dict(self.given))

    # ---------------------------------------------------------------------- writing

    def _changed(self) -> None:
        self._save()
        self.changed.emit()

    def _save(self) -> None:
        path = self.path
        if path is None:
            return
        self._generation += 1
        generation = self._generation
        rows = [(p, self.given.get(p)) for p in self.order]
        self._pending += 1
        self._writer.submit(self._write, path, rows, generation)

    def _write(self, path: Path, rows: list, generation: int) -> None:
        """Writer thread: write `rows` unless a newer snapshot is already queued."""
        from engine.data.labels import write_label_rows

        error = ""
        if generation == self._generation:
            try:
                write_label_rows(path, rows)
            except Exception as exc:  # never lose the message in a background thread
                error = str(exc)
        with contextlib.suppress(RuntimeError):  # the app closed meanwhile
            self._wrote.emit(generation, error)

    def _take_write(self, generation: int, error: str) -> None:
        self._pending -= 1
        if error:
            self.write_error = f"Your labels were not saved: {error}"
            self.problem.emit(self.write_error)
        elif generation == self._generation:
            self.write_error = ""

    def busy(self) -> bool:
        """Whether a write is still queued or running."""
        return self._pending > 0

    def flush(self, timeout: float = 10.0) -> None:
        """Block until every queued write has been done (switching folders, closing)."""
        self._writer.submit(lambda: None).result(timeout=timeout)
