"""Shared test set-up: headless Qt, isolated settings, no leaked threads, tiny MNIST.

QT_QPA_PLATFORM must be set before anything imports Qt, which is why it is the first thing
here. `tiny_mnist_dir` is a plain (non-GUI) fixture any test may use.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("MPLBACKEND", "Agg")

from pathlib import Path

import pytest
from helpers_data import write_small_mnist


@pytest.fixture(scope="session")
def tiny_mnist_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the four MNIST .gz files: 600 training and 200 test images of ten
    synthetic, learnable 'digits'. Shared by the session: do not write into it."""
    return write_small_mnist(tmp_path_factory.mktemp("tiny_mnist"), n_train=600, n_test=200)


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own settings file; the user's real settings are never touched."""
    path = tmp_path / "settings" / "EvenOddStudio.ini"
    monkeypatch.setenv("EVENODD_SETTINGS_FILE", str(path))
    # ... and the default drawings folder is the test's own, never the user's
    monkeypatch.setenv("EVENODD_DRAWINGS_DIR", str(tmp_path / "my_drawings"))
    return path


@pytest.fixture(autouse=True)
def no_leaked_threads(request: pytest.FixtureRequest):
    """Fail any test that leaves a QThread started through gui.state.worker running."""
    yield
    import sys

    if "gui.state.worker" not in sys.modules:
        return
    from gui.state.worker import running_threads

    alive = running_threads()
    if alive:
        for thread in alive:  # do not poison the next test: stop them, then fail
            thread.quit()
            thread.wait(10_000)
        pytest.fail(f"{request.node.name} left {len(alive)} QThread(s) running")


@pytest.fixture
def shown_errors(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """The error dialogs the app would show, as (message, details), instead of showing
    them: a modal box would block the test. Every error dialog goes through
    gui.state.errors.show_error, so this is the one place to catch them."""
    from gui.state import errors

    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(
        errors,
        "show_error",
        lambda parent, message, details="", **_: shown.append((message, details)),
    )
    return shown


@pytest.fixture
def answer_quit(monkeypatch: pytest.MonkeyPatch):
    """Answer the "Quit while training?" question for the user: call with True or False."""
    from PySide6.QtWidgets import QMessageBox

    def answer(yes: bool) -> None:
        button = QMessageBox.StandardButton.Yes if yes else QMessageBox.StandardButton.No
        monkeypatch.setattr(QMessageBox, "question", lambda *args, **kwargs: button)

    answer(True)
    return answer
