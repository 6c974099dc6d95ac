"""The Draw tab's gallery of my drawings: the folder, thumbnails with their parity, delete.

What the folder holds and how it is read and written is `gui.state.drawings.MyDrawings`;
the gallery adds or removes only the items that changed, so the GUI thread never waits
for the disk (`bench/drawings_cost.py` times what is left in it).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QSize, Qt
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

from engine.data import personal
from gui.state.drawings import MyDrawings

THUMB_SCALE = 2  # 28x28 shown as 56x56, nearest neighbour
PARITY_COLOURS = {"even": "#1f5fbf", "odd": "#b8420f"}  # as the Draw tab's prediction


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
