"""The label-budget box the Data and Fine-tune tabs both show (one budget, two views)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import QComboBox

if TYPE_CHECKING:
    from gui.state.signals import AppState

BUDGET_CHOICES = ("all", "100", "300", "1000", "3000", "10000")


class BudgetCombo(QComboBox):
    """An editable label-budget box bound to the app's one budget (`AppState`): the Data
    and Fine-tune tabs each show one, and typing in either changes both."""

    def __init__(self, state: AppState, name: str, tip: str) -> None:
        super().__init__()
        self.setObjectName(name)
        self.setEditable(True)
        self.addItems(BUDGET_CHOICES)
        self.setToolTip(tip)
        self.currentTextChanged.connect(state.set_budget_text)
        state.budget_changed.connect(self.show_budget)

    def show_budget(self, text: str) -> None:
        """Show `text` without echoing it back to the state."""
        if self.currentText() != text:
            self.blockSignals(True)
            self.setEditText(text)
            self.blockSignals(False)
