"""Remembering settings between runs with QSettings.

Where: by default QSettings("EvenOddStudio", "EvenOddStudio") (the platform's usual place).
If the environment variable EVENODD_SETTINGS_FILE names a file, an INI file there is used
instead; tests point it at a temporary folder so they never touch the user's settings.

Panels expose `settings_widgets() -> dict[str, QWidget]`; `save_widgets` and
`restore_widgets` store their values generically (spin boxes, check boxes, combo boxes,
line edits), so a new control is remembered by adding one dict entry.
"""

from __future__ import annotations

import os

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (
    QAbstractButton,
    QComboBox,
    QDoubleSpinBox,
    QLineEdit,
    QSpinBox,
    QWidget,
)

ORGANIZATION = "EvenOddStudio"
APPLICATION = "EvenOddStudio"
ENV_FILE = "EVENODD_SETTINGS_FILE"


def open_settings() -> QSettings:
    """The app's settings store (see the module docstring for where it lives)."""
    path = os.environ.get(ENV_FILE)
    if path:
        return QSettings(path, QSettings.Format.IniFormat)
    return QSettings(ORGANIZATION, APPLICATION)


def _as_bool(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def save_widgets(settings: QSettings, group: str, widgets: dict[str, QWidget]) -> None:
    settings.beginGroup(group)
    try:
        for key, widget in widgets.items():
            if isinstance(widget, QSpinBox | QDoubleSpinBox):
                settings.setValue(key, widget.value())
            elif isinstance(widget, QAbstractButton):
                settings.setValue(key, widget.isChecked())
            elif isinstance(widget, QComboBox):
                settings.setValue(key, widget.currentText())
            elif isinstance(widget, QLineEdit):
                settings.setValue(key, widget.text())
    finally:
        settings.endGroup()


def restore_widgets(settings: QSettings, group: str, widgets: dict[str, QWidget]) -> None:
    """Put stored values back; a value that no longer fits (e.g. edited file) is skipped."""
    settings.beginGroup(group)
    try:
        for key, widget in widgets.items():
            value = settings.value(key)
            if value is None:
                continue
            try:
                if isinstance(widget, QSpinBox):
                    widget.setValue(int(float(value)))
                elif isinstance(widget, QDoubleSpinBox):
                    widget.setValue(float(value))
                elif isinstance(widget, QAbstractButton):
                    widget.setChecked(_as_bool(value))
                elif isinstance(widget, QComboBox):
                    text = str(value)
                    index = widget.findText(text)
                    if index >= 0:
                        widget.setCurrentIndex(index)
                    elif widget.isEditable():
                        widget.setEditText(text)
                elif isinstance(widget, QLineEdit):
                    widget.setText(str(value))
            except (TypeError, ValueError):
                continue
    finally:
        settings.endGroup()
