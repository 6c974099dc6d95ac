"""Settings forms: spin boxes made from the settings table, and the boxes that lay them out.

The Pretrain, Fine-tune and Compare tabs each show a group of settings. Their spin boxes
take bounds, step and help text from a row of `engine.options` (`option_spin`, the
study's numbers included: `STUDY_OPTIONS`), so the command line and the app cannot
disagree; `settings_form` lays them out, so each tab only lists its rows. What a tab
remembers between sessions is still its own `settings_widgets()`: a form only lays
widgets out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLayout,
    QSpinBox,
    QWidget,
)

from engine.options import Option

SpinBox = TypeVar("SpinBox", QSpinBox, QDoubleSpinBox)

# A form row: (label, field), the field a widget or a layout; or a lone widget spanning
# both columns (a check box that carries its own text, a note).
Row = tuple[str, QWidget | QLayout] | QWidget


def spin(low: int, high: int, value: int, tip: str, name: str, step: int = 1) -> QSpinBox:
    """A whole-number spin box with its range, value, tooltip and object name."""
    return _set_up(QSpinBox(), low, high, value, step, tip, name)


def dspin(
    low: float, high: float, value: float, decimals: int, step: float, tip: str, name: str
) -> QDoubleSpinBox:
    """A decimal spin box showing `decimals` decimals."""
    box = QDoubleSpinBox()
    box.setDecimals(decimals)  # first: the value is rounded to it
    return _set_up(box, low, high, value, step, tip, name)


def check_box(text: str, name: str, tip: str, checked: bool = False) -> QCheckBox:
    """A check box with its text, object name, tooltip and starting state."""
    box = QCheckBox(text)
    box.setObjectName(name)
    box.setToolTip(tip)
    box.setChecked(checked)
    return box


def option_spin(
    option: Option, value: float, name: str, tip: str | None = None
) -> QSpinBox | QDoubleSpinBox:
    """A spin box for a row of the settings table: its bounds, step and help text (as the
    tooltip, capitalised, unless the tab says what the setting means there)."""
    low, high = option.widget_range()
    tip = tip or option.help[:1].upper() + option.help[1:]
    if option.kind is int:
        return spin(int(low), int(high), int(value), tip, name, int(option.step))
    return dspin(low, high, value, option.decimals, option.step, tip, name)


def _set_up(
    box: SpinBox, low: float, high: float, value: float, step: float, tip: str, name: str
) -> SpinBox:
    box.setRange(low, high)
    box.setSingleStep(step)
    box.setValue(value)
    box.setToolTip(tip)
    box.setObjectName(name)
    return box


def settings_form(title: str, rows: Sequence[Row]) -> QGroupBox:
    """A titled group box with `rows` in a two-column form, in order."""
    box = QGroupBox(title)
    form = QFormLayout(box)
    for row in rows:
        if isinstance(row, QWidget):
            form.addRow(row)
        else:
            form.addRow(*row)
    return box


def side_by_side(*widgets: QWidget, stretch: bool = False) -> QHBoxLayout:
    """`widgets` in a row (a form field of several check boxes, a field and its button);
    with `stretch` they keep to the left instead of sharing the width."""
    row = QHBoxLayout()
    for widget in widgets:
        row.addWidget(widget)
    if stretch:
        row.addStretch()
    return row
