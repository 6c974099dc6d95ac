"""The read-only text tables of the Data, Evaluate and Compare tabs."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHeaderView, QTableWidget

from gui.widgets.tables import TextTable


def test_text_table_is_read_only_and_fills_cells(qtbot):
    table = TextTable(("a", "b"), "what it shows", "someTable", row_labels=("x", "y"), centred=True)
    qtbot.addWidget(table)
    assert (table.rowCount(), table.columnCount()) == (2, 2)
    assert table.editTriggers() == QTableWidget.EditTrigger.NoEditTriggers
    header = table.horizontalHeader()
    assert header.sectionResizeMode(0) == QHeaderView.ResizeMode.Stretch
    assert [table.horizontalHeaderItem(c).text() for c in range(2)] == ["a", "b"]
    assert [table.verticalHeaderItem(r).text() for r in range(2)] == ["x", "y"]
    assert (table.objectName(), table.toolTip()) == ("someTable", "what it shows")
    table.set_text(0, 1, "1")
    table.set_text(0, 1, "2")  # a cell shown again changes its text
    table.set_text(1, 0, "3")
    assert table.texts() == [["", "2"], ["3", ""]]
    assert table.item(0, 1).textAlignment() == Qt.AlignmentFlag.AlignCenter


def test_text_table_grows_with_its_rows(qtbot):
    table = TextTable(("only",), "tip")
    qtbot.addWidget(table)
    assert table.rowCount() == 0
    table.setRowCount(1)
    table.set_text(0, 0, "left")
    assert table.texts() == [["left"]]
    assert table.item(0, 0).textAlignment() != Qt.AlignmentFlag.AlignCenter
