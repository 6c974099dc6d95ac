"""The Label tab's views: the grid of images the app asked about, and the current one large.

Why a list view and not a drawn figure: labelling is typed as fast as one can press keys,
and each key must show at once. A QListWidget in icon mode repaints one item in well
under a millisecond, scrolls, and moves with the arrow keys by itself; a matplotlib grid
is drawn by a background thread a few times a second (gui.widgets.plots).
The keys that label (0-9, E, O, Backspace) are handed to `on_key`; the grid knows
nothing of labels beyond the caption it shows.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QColor, QFont, QIcon, QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from gui.widgets.drawings_gallery import PARITY_COLOURS, thumbnail

THUMB = 2  # 28x28 shown as 56x56, nearest neighbour
LARGE = 8  # the current image at 224x224
UNLABELLED = "?"
UNLABELLED_COLOUR = "#888888"

Value = int | str  # a digit 0-9, "even" or "odd"


def caption(value: Value | None) -> str:
    """What a tile says under its image: the digit, "even"/"odd", or "?"."""
    return UNLABELLED if value is None else str(value)


def colour(value: Value | None) -> str:
    """Digits and parities in their parity's colour (as on the Draw tab); "?" grey."""
    if value is None:
        return UNLABELLED_COLOUR
    parity = value if isinstance(value, str) else ("odd" if value % 2 else "even")
    return PARITY_COLOURS[parity]


class LabelGrid(QListWidget):
    """The asked images as tiles with their label under each; the current one selected.

    `on_key(event)` is asked first for every key press and returns True when it used it;
    the rest (arrows, Home, End, Page Up/Down) move as in any list.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("labelGrid")
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setIconSize(QSize(28 * THUMB, 28 * THUMB))
        self.setGridSize(QSize(28 * THUMB + 16, 28 * THUMB + 26))
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setUniformItemSizes(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        bold = QFont(self.font())
        bold.setBold(True)
        self._bold = bold
        self.setStyleSheet(
            "QListWidget::item { border: 2px solid transparent; }"
            "QListWidget::item:selected { border: 2px solid #e08a00; "
            "background: rgba(224, 138, 0, 60); color: black; }"
        )
        self.on_key: Callable[[QKeyEvent], bool] | None = None
        self.positions: list[int] = []  # the position in the training file of each row

    def show_images(
        self, positions: list[int], images: np.ndarray, values: list[Value | None]
    ) -> None:
        """Replace the tiles: `images` (n, 28, 28) uint8 with their labels (None: none)."""
        self.clear()
        self.positions = []
        self.add_images(positions, images, values)

    def add_images(
        self, positions: list[int], images: np.ndarray, values: list[Value | None]
    ) -> None:
        """Append tiles at the end (newly asked images)."""
        for position, image, value in zip(positions, images, values, strict=True):
            pixmap = thumbnail(image, THUMB)
            icon = QIcon(pixmap)
            icon.addPixmap(pixmap, QIcon.Mode.Selected)  # the current image is not tinted
            item = QListWidgetItem(icon, caption(value))
            item.setData(Qt.ItemDataRole.UserRole, position)
            self._style(item, value)
            self.addItem(item)
            self.positions.append(position)

    def set_value(self, row: int, value: Value | None) -> None:
        """Show the label of the tile in `row` (the other tiles are not touched)."""
        item = self.item(row)
        if item is not None:
            item.setText(caption(value))
            self._style(item, value)

    def _style(self, item: QListWidgetItem, value: Value | None) -> None:
        item.setForeground(QColor(colour(value)))
        if value is not None:
            item.setFont(self._bold)
        else:
            item.setFont(self.font())
        where = f"training image #{item.data(Qt.ItemDataRole.UserRole)}"
        item.setToolTip(f"{where}: {'not labelled yet' if value is None else value}")

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if self.on_key is not None and self.on_key(event):
            return
        super().keyPressEvent(event)


class LargeImage(QWidget):
    """The current image large, where it is in the training file and its label."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.image_label = QLabel()
        self.image_label.setObjectName("labelLargeImage")
        self.image_label.setFixedSize(28 * LARGE, 28 * LARGE)
        self.image_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image_label.setStyleSheet("background: black;")
        self.where_label = QLabel("")
        self.where_label.setObjectName("labelWhereLabel")
        self.value_label = QLabel("")
        self.value_label.setObjectName("labelValueLabel")
        self.value_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        font = QFont(self.font())
        font.setPointSizeF(font.pointSizeF() * 1.8)
        font.setBold(True)
        self.value_label.setFont(font)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.image_label, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addWidget(self.value_label)
        layout.addWidget(self.where_label, 0, Qt.AlignmentFlag.AlignHCenter)

    def show_image(self, image: np.ndarray | None, where: str, value: Value | None) -> None:
        if image is None:
            self.image_label.clear()
            self.value_label.setText("")
            self.where_label.setText(where)
            return
        self.image_label.setPixmap(thumbnail(image, LARGE))
        self.where_label.setText(where)
        self.show_value(value)

    def show_value(self, value: Value | None) -> None:
        self.value_label.setText("not labelled yet" if value is None else f"label: {value}")
        self.value_label.setStyleSheet(f"color: {colour(value)};")
