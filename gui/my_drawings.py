"""My drawings in the app: the folder the Draw, Evaluate and Fine-tune tabs share, and the
Draw tab's gallery of it.

`MyDrawings` is the one object that knows which folder is in use (remembered in QSettings,
default: the per-user data folder) and what it holds; it emits `changed` after every
add, delete or folder change, so the gallery, the Evaluate button and the Fine-tune
tab's label count stay in step. The files themselves are read and written by
`engine.personal` (no Qt there).

Saving and deleting run in the GUI thread: one drawing is a 28x28 PNG, the raw drawing
and a rewritten labels.csv, three atomic writes of a few kB (about 25 ms here, fsyncs
included). The in-memory set is updated in place, so the folder is read in full only
when it changes (500 drawings: about 0.1 s).
"""

from __future__ import annotations

from pathlib import Path

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
    """The personal drawings folder and its contents (loaded on first use)."""

    changed = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        stored = open_settings().value(SETTINGS_KEY)
        self._folder = Path(str(stored)) if stored else personal.default_drawings_dir()
        self._set: personal.DrawingSet | None = None
        self.error = ""  # why the folder cannot be read at all, or ""

    def folder(self) -> Path:
        return self._folder

    def set_folder(self, folder: str | Path) -> None:
        """Use `folder` from now on (and in later sessions), and read it."""
        self._folder = Path(folder)
        settings = open_settings()
        settings.setValue(SETTINGS_KEY, str(self._folder))
        settings.sync()
        self.reload()

    def current(self) -> personal.DrawingSet:
        """What the folder holds (read on first use, then kept up to date)."""
        if self._set is None:
            self._read()
        assert self._set is not None
        return self._set

    def loaded(self) -> bool:
        """Whether the folder has been read (`current()` reads it when not)."""
        return self._set is not None

    def reload(self) -> None:
        self._read()
        self.changed.emit()

    def add(self, image28: np.ndarray, parity: str, raw: np.ndarray | None = None) -> str:
        """Save a drawing (see engine.personal.add_drawing); raises DrawingsError."""
        drawings = self.current()
        name = personal.add_drawing(self._folder, image28, parity, raw)
        drawings.files.append(name)
        drawings.images = np.concatenate([drawings.images, image28[None]])
        drawings.targets = np.append(drawings.targets, personal.PARITIES.index(parity))
        self.error = ""
        self.changed.emit()
        return name

    def delete(self, files: list[str]) -> int:
        """Delete drawings by file name; returns how many rows went. Raises DrawingsError."""
        removed = personal.delete_drawings(self._folder, files)
        drawings, gone = self.current(), set(files)
        keep = np.array([name not in gone for name in drawings.files], dtype=bool)
        drawings.files = [name for name, k in zip(drawings.files, keep, strict=True) if k]
        drawings.images, drawings.targets = drawings.images[keep], drawings.targets[keep]
        self.changed.emit()
        return removed

    def summary(self) -> str:
        """'12 drawings (7 even, 5 odd)' or why there are none."""
        if self.error:
            return f"⚠ {self.error}"
        drawings = self.current()
        if not len(drawings):
            return "No drawings yet: draw a digit and mark it even or odd."
        even, odd = drawings.counts()
        return f"{len(drawings)} drawing{'s' * (len(drawings) != 1)} ({even} even, {odd} odd)"

    def _read(self) -> None:
        self.error = ""
        try:
            self._set = personal.load_drawings(self._folder)
        except personal.DrawingsError as exc:
            self._set = personal.DrawingSet(self._folder)
            if self._folder.exists():  # a folder not made yet is simply empty
                self.error = str(exc)


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
        drawings.changed.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        """Show the folder's drawings (newest first), its name and what was skipped."""
        drawings = self.drawings.current()
        folder = self.drawings.folder()
        self.folder_label.setText(_elide(str(folder), 34))
        self.folder_label.setToolTip(str(folder))
        self.list.clear()
        for i in reversed(range(len(drawings))):
            parity = drawings.parity(i)
            item = QListWidgetItem(QIcon(thumbnail(drawings.images[i])), parity)
            item.setData(Qt.ItemDataRole.UserRole, drawings.files[i])
            item.setToolTip(f"{drawings.files[i]}: {parity}")
            item.setForeground(QColor(PARITY_COLOURS[parity]))
            self.list.addItem(item)
        text = self.drawings.summary()
        problems = drawings.problems
        if problems:
            text += f"; ⚠ {len(problems)} skipped (hover for why)"
        self.summary_label.setText(text)
        self.summary_label.setToolTip("\n".join(problems[:30]))
        self.summary_label.setStyleSheet("color: #a33;" if problems or self.drawings.error else "")
        self._update_buttons()

    def selected_files(self) -> list[str]:
        return [item.data(Qt.ItemDataRole.UserRole) for item in self.list.selectedItems()]

    def delete_selected(self) -> int:
        """Delete the selected drawings (after asking); returns how many were deleted."""
        files = self.selected_files()
        if not files or not self.confirm_delete(len(files)):
            return 0
        try:
            return self.drawings.delete(files)
        except personal.DrawingsError as exc:
            from gui import errors

            errors.show_error(self, str(exc))
            return 0

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


def _elide(text: str, width: int) -> str:
    return text if len(text) <= width else "…" + text[-(width - 1) :]
