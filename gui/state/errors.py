"""Turning exceptions into dialogs a person can read.

User errors (`engine.errors.UserError` and its subclasses: DataError, CheckpointError,
ConfigError, ...) carry a message that already says what went wrong and what to do, so
they are shown as-is; the command line draws the same line by the same class. Anything
else is a bug: the user sees "Something went wrong" and the traceback is folded away
under "Show details" for the bug report.

`describe` has no Qt dependency so the worker thread can call it; `show_error` is the only
function that opens a dialog, and tests monkeypatch it (`gui.state.errors.show_error`) so they
never block on a modal box. Call it as `errors.show_error(...)` (module attribute), not via
`from gui.state.errors import show_error`, or the patch will not reach you.
"""

from __future__ import annotations

import traceback

from engine.errors import is_user_error

TITLE = "Even/Odd Studio"
UNEXPECTED = "Something went wrong"


def is_plain(exc: BaseException) -> bool:
    """True for user errors, whose message is meant for the user as it is."""
    return is_user_error(exc)


def describe(exc: BaseException) -> tuple[str, str]:
    """(message, details) for an exception; details are empty for plain engine errors."""
    if is_plain(exc):
        return str(exc) or type(exc).__name__, ""
    details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return f"{UNEXPECTED}: {type(exc).__name__}: {exc}", details


def show_error(parent: object, message: str, details: str = "", title: str = TITLE) -> None:
    """A modal error box: the message in plain words, the traceback behind "Show details"."""
    from PySide6.QtWidgets import QMessageBox

    box = QMessageBox(parent)  # type: ignore[arg-type]
    box.setIcon(QMessageBox.Icon.Critical)
    box.setWindowTitle(title)
    if details:
        box.setText(UNEXPECTED if not message.startswith(UNEXPECTED) else message.split(":")[0])
        box.setInformativeText(message)
        box.setDetailedText(details)
    else:
        box.setText(message)
    box.setStandardButtons(QMessageBox.StandardButton.Ok)
    box.exec()
