"""Read-only tables of text: the Data tab's counts, the Evaluate tab's classification report
and the Compare tab's study table are all this one kind of table, made and filled here."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHeaderView, QTableWidget, QTableWidgetItem, QWidget


class TextTable(QTableWidget):
    """A table the user reads but does not edit, its columns sharing the width.

    `set_text` fills one cell (centred when the table says so); `texts` reads them back
    (tests, copying).
    """

    def __init__(
        self,
        columns: Sequence[str],
        tip: str,
        name: str = "",
        row_labels: Sequence[str] = (),
        centred: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(len(row_labels), len(columns), parent)
        self.centred = centred
        if name:
            self.setObjectName(name)
        self.setToolTip(tip)
        self.setHorizontalHeaderLabels(list(columns))
        if row_labels:
            self.setVerticalHeaderLabels(list(row_labels))
        self.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)

    def set_text(self, row: int, column: int, text: str) -> None:
        """Show `text` in a cell (its item is made the first time)."""
        item = self.item(row, column)
        if item is None:
            item = QTableWidgetItem()
            if self.centred:
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
            self.setItem(row, column, item)
        item.setText(text)

    def texts(self) -> list[list[str]]:
        """Every cell's text, row by row ("" where nothing was set)."""
        return [
            [item.text() if (item := self.item(r, c)) else "" for c in range(self.columnCount())]
            for r in range(self.rowCount())
        ]
