"""Steps the app's window tests share: data loaded as the Data tab would, and waiting
until the job runner is idle."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gui.main_window import MainWindow


def with_data(win: MainWindow, loaded) -> MainWindow:
    """`win` with `loaded` (conftest's `loaded`) set and shown, as after the Data tab."""
    win.state.set_data(loaded)
    win.data_panel.show_data(loaded)
    return win


def wait_idle(qtbot, win: MainWindow, timeout: int = 60_000) -> None:
    """Wait (on the condition, not a fixed time) until no job runs."""
    qtbot.waitUntil(lambda: not win.state.runner.is_busy(), timeout=timeout)
