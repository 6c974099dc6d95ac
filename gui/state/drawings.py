"""My drawings in the app: the folder the Draw, Evaluate and Fine-tune tabs share.

`MyDrawings` is the one object that knows which folder is in use (remembered in QSettings,
default: the per-user data folder) and what it holds; it emits `changed` after every
add, delete or folder change, so the Draw tab's gallery (`gui.widgets.drawings_gallery`),
the Evaluate button and the Fine-tune tab's label count stay in step. The files
themselves are read and written by `engine.data.personal` (no Qt there).

Files are read and written in background threads, so the GUI thread never waits for the
disk.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from engine.data import personal
from gui.state.settings import open_settings

SETTINGS_KEY = "drawings/folder"


class MyDrawings(QObject):
    """The personal drawings folder and its contents.

    The folder is read in a background thread (`read()`; 500 drawings take 0.15-0.2 s,
    too long for the GUI thread); until it is, `current()` is an empty set and `loaded()`
    is False. Saves and deletes are written by one writer thread, in the order asked
    (each is fsynced, 10-30 ms a file on this machine's disk, so three files can pass the
    GUI's 100 ms budget); when one is written the set is updated in place and `changed`
    is emitted, with `saved`, `deleted` or `failed`.
    """

    changed = Signal()
    saved = Signal(str, str)  # file name, parity: a drawing was written
    deleted = Signal(int)  # rows removed from labels.csv
    failed = Signal(str)  # why a save or delete failed, in one line
    _read_done = Signal(int, object, str)  # generation, DrawingSet, error
    _wrote = Signal(object)  # a finished write's outcome, delivered in the GUI thread

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        stored = open_settings().value(SETTINGS_KEY)
        self._folder = Path(str(stored)) if stored else personal.default_drawings_dir()
        self._set = personal.DrawingSet(self._folder)
        self._loaded = False
        self._generation = 0  # a read started before the latest change is stale
        self._reading = False
        self.error = ""  # why the folder cannot be read at all, or ""
        self._read_done.connect(self._take_read)
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="write-drawings")
        self._pending = 0
        self._wrote.connect(self._take_write)

    def folder(self) -> Path:
        return self._folder

    def set_folder(self, folder: str | Path) -> None:
        """Use `folder` from now on (and in later sessions), and read it."""
        self._folder = Path(folder)
        settings = open_settings()
        settings.setValue(SETTINGS_KEY, str(self._folder))
        settings.sync()
        self._set, self._loaded, self.error = personal.DrawingSet(self._folder), False, ""
        self.read()

    def current(self) -> personal.DrawingSet:
        """What the folder holds as far as known: empty before the first read ends, the
        previous contents while it is read again."""
        return self._set

    def loaded(self) -> bool:
        return self._loaded

    def reading(self) -> bool:
        return self._reading

    def read(self) -> None:
        """(Re)read the folder in a background thread; `changed` is emitted now and when
        it is done."""
        self._generation += 1
        self._reading, self._loaded = True, False
        generation, folder = self._generation, self._folder
        threading.Thread(
            target=self._read_in_background, args=(generation, folder), name="read-drawings",
            daemon=True,
        ).start()  # fmt: skip
        self.changed.emit()

    def _read_in_background(self, generation: int, folder: Path) -> None:
        error = ""
        try:
            drawings = personal.load_drawings(folder)
        except personal.DrawingsError as exc:
            drawings = personal.DrawingSet(folder)
            if folder.exists():  # a folder not made yet is simply empty
                error = str(exc)
        with contextlib.suppress(RuntimeError):  # the app closed meanwhile
            self._read_done.emit(generation, drawings, error)

    def _take_read(self, generation: int, drawings: personal.DrawingSet, error: str) -> None:
        if generation != self._generation:
            return  # the folder changed, or a drawing was saved, since this read began
        self._set, self._loaded, self._reading, self.error = drawings, True, False, error
        self.changed.emit()

    def add(self, image28: np.ndarray, parity: str, raw: np.ndarray | None = None) -> None:
        """Save a drawing in the background (engine.data.personal.add_drawing); `saved(name,
        parity)` or `failed(message)` follows."""
        folder, image28 = self._folder, image28.copy()
        self._submit(lambda: ("added", folder, personal.add_drawing(folder, image28, parity, raw),
                              image28, parity))  # fmt: skip

    def delete(self, files: list[str]) -> None:
        """Delete drawings by file name in the background; `deleted(count)` or `failed`."""
        folder, files = self._folder, list(files)
        self._submit(lambda: ("deleted", folder, personal.delete_drawings(folder, files), files))

    def busy(self) -> bool:
        """Whether a save or delete is still being written."""
        return self._pending > 0

    def _submit(self, write: Callable[[], tuple]) -> None:
        """Run `write` on the one writer thread (so writes never overlap) and hand its
        outcome to the GUI thread."""
        self._pending += 1

        def run() -> None:
            try:
                outcome = write()
            except personal.DrawingsError as exc:
                outcome = ("failed", str(exc))
            except Exception as exc:  # never lose the message in a background thread
                outcome = ("failed", f"could not write the drawings: {exc}")
            with contextlib.suppress(RuntimeError):  # the app closed meanwhile
                self._wrote.emit(outcome)

        self._writer.submit(run)

    def _take_write(self, outcome: tuple) -> None:
        self._pending -= 1
        if outcome[0] == "failed":
            self.failed.emit(outcome[1])
            return
        kind, folder = outcome[0], outcome[1]
        if folder == self._folder:
            if not self._loaded:  # a read in flight may have missed it: read again
                self.read()
            elif kind == "added":
                self._append(*outcome[2:])
            else:
                self._remove(outcome[3])
        if kind == "added":
            self.saved.emit(outcome[2], outcome[4])
        else:
            self.deleted.emit(outcome[2])

    def _append(self, name: str, image28: np.ndarray, parity: str) -> None:
        drawings = self._set
        drawings.files.append(name)
        drawings.images = np.concatenate([drawings.images, image28[None]])
        drawings.targets = np.append(drawings.targets, personal.PARITIES.index(parity))
        self.error = ""
        self.changed.emit()

    def _remove(self, files: list[str]) -> None:
        drawings, gone = self._set, set(files)
        keep = np.array([name not in gone for name in drawings.files], dtype=bool)
        drawings.files = [name for name, k in zip(drawings.files, keep, strict=True) if k]
        drawings.images, drawings.targets = drawings.images[keep], drawings.targets[keep]
        self.changed.emit()

    def summary(self) -> str:
        """'12 drawings (7 even, 5 odd)' or why there are none."""
        if self.error:
            return f"⚠ {self.error}"
        if not self._loaded:
            return "Reading the folder …"
        drawings = self._set
        if not len(drawings):
            return "No drawings yet: draw a digit and mark it even or odd."
        even, odd = drawings.counts()
        return f"{len(drawings)} drawing{'s' * (len(drawings) != 1)} ({even} even, {odd} odd)"
