"""My drawings in the app: the folder the Draw, Evaluate and Fine-tune tabs share, and the
Draw tab's gallery of it.

`MyDrawings` is the one object that knows which folder is in use (remembered in QSettings,
default: the per-user data folder) and what it holds; it emits `changed` after every
add, delete or folder change, so the gallery, the Evaluate button and the Fine-tune
tab's label count stay in step. The files themselves are read and written by
`engine.personal` (no Qt there).

Files are read and written in background threads, and the gallery adds or removes only
the items that changed, so the GUI thread never waits for the disk
(`bench/drawings_cost.py` times what is left in it).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from engine import personal
from gui.settings import open_settings

SETTINGS_KEY = "drawings/folder"
THUMB_SCALE = 2  # 28x28 shown as 56x56, nearest neighbour
PARITY_COLOURS = {"even": "#1f5fbf", "odd": "#b8420f"}  # as the Draw tab's prediction


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
        """Save a drawing in the background (engine.personal.add_drawing); `saved(name,
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


def thumbnail(img28: np.ndarray, scale: int = THUMB_SCALE) -> QPixmap:
    arr = np.ascontiguousarray(img28, dtype=np.uint8)
    h, w = arr.shape
    image = QImage(arr.data, w, h, w, QImage.Format.Format_Grayscale8).copy()
    return QPixmap.fromImage(image.scaled(w * scale, h * scale))


class DrawingsGallery(QGroupBox):
    """The Draw tab's "My drawings": folder, thumbnails with their parity, delete."""

    def __init__(self, drawings: MyDrawings, parent: QWidget | None = None) -> None:
        super().__init__("My drawings", parent)
        self.setObjectName("drawingsGallery")
        self.drawings = drawings
        self.folder_label = QLabel()
        self.folder_label.setObjectName("drawingsFolderLabel")
        self.folder_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.folder_button = QPushButton("Folder…")
        self.folder_button.setObjectName("drawingsFolderButton")
        self.folder_button.setToolTip(
            "Choose the folder your drawings are saved in (PNG files and a labels.csv "
            "with the columns file,parity); remembered for next time"
        )
        self.folder_button.clicked.connect(self.choose_folder)
        self.list = QListWidget()
        self.list.setObjectName("drawingsList")
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self.list.setIconSize(QSize(28 * THUMB_SCALE, 28 * THUMB_SCALE))
        self.list.setGridSize(QSize(28 * THUMB_SCALE + 12, 28 * THUMB_SCALE + 22))
        self.list.setResizeMode(QListView.ResizeMode.Adjust)
        self.list.setMovement(QListView.Movement.Static)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.list.setToolTip(
            "Your saved drawings, newest first, as the model sees them, with the parity "
            "you gave. Select some to delete them"
        )
        self.list.itemSelectionChanged.connect(self._update_buttons)
        self.delete_button = QPushButton("Delete")
        self.delete_button.setObjectName("deleteDrawingButton")
        self.delete_button.clicked.connect(self.delete_selected)
        self.summary_label = QLabel()
        self.summary_label.setObjectName("drawingsSummaryLabel")
        self.summary_label.setWordWrap(True)

        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder_label, 1)
        folder_row.addWidget(self.folder_button)
        bottom = QHBoxLayout()
        bottom.addWidget(self.summary_label, 1)
        bottom.addWidget(self.delete_button)
        layout = QVBoxLayout(self)
        layout.addLayout(folder_row)
        layout.addWidget(self.list, 1)
        layout.addLayout(bottom)
        self._shown: list[str] = []  # the files listed, in the set's order
        self._shown_set: personal.DrawingSet | None = None  # ... of this set
        drawings.changed.connect(self.refresh)
        if not drawings.loaded() and not drawings.reading():
            drawings.read()  # the gallery is the first to need them: at the Draw tab's start
        self.refresh()

    def refresh(self) -> None:
        """Show the folder's drawings (newest first), its name and what was skipped.

        After a save or a delete only the items that changed are touched: rebuilding
        hundreds of thumbnails for each save would stall the window.
        """
        drawings = self.drawings.current()
        self._show_folder()
        files, shown = drawings.files, self._shown
        if drawings is not self._shown_set:  # another folder, or read again: all anew
            self.list.clear()
            for i in reversed(range(len(drawings))):
                self.list.addItem(self._item(drawings, i))
        elif files[: len(shown)] == shown:  # only new ones at the end (or nothing changed)
            for i in range(len(shown), len(files)):
                self.list.insertItem(0, self._item(drawings, i))
        elif set(files) <= set(shown) and len(set(files)) == len(files):  # some deleted
            keep = set(files)
            for row in reversed(range(self.list.count())):
                if self.list.item(row).data(Qt.ItemDataRole.UserRole) not in keep:
                    self.list.takeItem(row)
        else:
            self._shown_set = None
            self.refresh()
            return
        self._shown, self._shown_set = list(files), drawings
        text = self.drawings.summary()
        problems = drawings.problems
        if problems:
            text += f"; ⚠ {len(problems)} skipped (hover for why)"
        self.summary_label.setText(text)
        self.summary_label.setToolTip("\n".join(problems[:30]))
        self.summary_label.setStyleSheet("color: #a33;" if problems or self.drawings.error else "")
        self._update_buttons()

    def _show_folder(self) -> None:
        """The folder's path, shortened in the middle to the room there is."""
        folder = str(self.drawings.folder())
        room = max(80, self.width() - self.folder_button.sizeHint().width() - 40)
        metrics = self.folder_label.fontMetrics()
        self.folder_label.setText(metrics.elidedText(folder, Qt.TextElideMode.ElideMiddle, room))
        self.folder_label.setToolTip(folder)

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        self._show_folder()

    @staticmethod
    def _item(drawings: personal.DrawingSet, i: int) -> QListWidgetItem:
        parity = drawings.parity(i)
        item = QListWidgetItem(QIcon(thumbnail(drawings.images[i])), parity)
        item.setData(Qt.ItemDataRole.UserRole, drawings.files[i])
        item.setToolTip(f"{drawings.files[i]}: {parity}")
        item.setForeground(QColor(PARITY_COLOURS[parity]))
        return item

    def selected_files(self) -> list[str]:
        return [item.data(Qt.ItemDataRole.UserRole) for item in self.list.selectedItems()]

    def delete_selected(self) -> int:
        """Delete the selected drawings (after asking); returns how many were asked for
        (the list updates once they are deleted; a failure comes as `drawings.failed`)."""
        files = self.selected_files()
        if not files or not self.confirm_delete(len(files)):
            return 0
        self.drawings.delete(files)
        return len(files)

    def confirm_delete(self, count: int) -> bool:
        """Ask before deleting files for good. Tests replace this to answer for the user."""
        what = "this drawing" if count == 1 else f"these {count} drawings"
        answer = QMessageBox.question(
            self, "Delete drawings?", f"Delete {what} from {self.drawings.folder()}?"
        )
        return answer == QMessageBox.StandardButton.Yes

    def choose_folder(self) -> bool:
        folder = self._ask_folder()
        if not folder:
            return False
        self.drawings.set_folder(folder)
        return True

    def _ask_folder(self) -> str:
        """The folder dialog, separate so tests can replace it."""
        return QFileDialog.getExistingDirectory(
            self, "Folder for my drawings", str(self.drawings.folder())
        )

    def _update_buttons(self) -> None:
        count = len(self.list.selectedItems())
        self.delete_button.setEnabled(count > 0)
        self.delete_button.setToolTip(
            f"Delete the {count} selected drawing{'s' * (count != 1)} from the folder"
            if count
            else "Select drawings above to delete them"
        )
