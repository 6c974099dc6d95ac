"""Shared test set-up: headless Qt, isolated settings, no leaked threads, tiny MNIST.

QT_QPA_PLATFORM must be set before anything imports Qt, and OMP_NUM_THREADS before torch,
which is why they are the first thing here. `tiny_mnist_dir`, `data`, `split` and
`one_torch_thread` are plain (non-GUI) fixtures any test may use (a module with other data
defines its own `data`); `loaded`, `window` and `draw_threads` are the app's.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("MPLBACKEND", "Agg")
# One torch (OpenMP) thread, here and in the app and CLI processes the tests start: the
# models are tiny, and on a busy machine a second thread's spinning made the same steps
# many times slower (helpers_data.single_torch_thread). Set before torch is imported.
os.environ.setdefault("OMP_NUM_THREADS", "1")

from pathlib import Path

import pytest

# helpers_data (it imports torch) is imported inside the fixtures: pytest-xdist's
# controller loads this file but runs no test, and torch would add about 2 s before the
# workers start.


@pytest.fixture(scope="session")
def tiny_mnist_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the four MNIST .gz files: 600 training and 200 test images of ten
    synthetic, learnable 'digits'. Shared by the session: do not write into it."""
    from helpers_data import write_small_mnist

    return write_small_mnist(tmp_path_factory.mktemp("tiny_mnist"), n_train=600, n_test=200)


@pytest.fixture(scope="module")
def one_torch_thread():
    """torch on one thread while a module's tests run (helpers_data.single_torch_thread):
    use with `pytestmark = pytest.mark.usefixtures("one_torch_thread")`."""
    from helpers_data import single_torch_thread

    yield from single_torch_thread()


@pytest.fixture(scope="module")
def data():
    """200 training and 40 test images in memory (helpers_data.small_mnist), per module."""
    from helpers_data import small_mnist

    return small_mnist(200, 40)


@pytest.fixture(scope="module")
def split(data):
    """The training/validation split of `data`'s training images."""
    from engine.data.mnist import split_train_val

    return split_train_val(len(data.train_images))


@pytest.fixture(scope="module")
def loaded(tiny_mnist_dir: Path):
    """The tiny data set read and summarised once, as the Data tab would after loading."""
    from engine.data.mnist import read_folder
    from gui.panels.data_panel import summarise

    return summarise(read_folder(tiny_mnist_dir))


@pytest.fixture
def window(qtbot, shown_errors, answer_quit):
    """The main window; errors are collected (`shown_errors`) and quitting is answered."""
    from gui.main_window import MainWindow

    win = MainWindow()
    # Stop any job before pytest-qt closes the window: a test that failed mid-training
    # would otherwise leave a "Quit while training?" box open, and the run would hang.
    qtbot.addWidget(win, before_close_func=lambda w: w.state.runner.shutdown())
    yield win
    win.state.runner.shutdown()


@pytest.fixture
def draw_threads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Idents of the threads that drew any figure during the test."""
    import threading

    from matplotlib.backends.backend_agg import FigureCanvasAgg

    seen: list[int] = []
    original = FigureCanvasAgg.draw

    def recording_draw(self: FigureCanvasAgg) -> None:
        seen.append(threading.get_ident())
        original(self)

    monkeypatch.setattr(FigureCanvasAgg, "draw", recording_draw)
    return seen


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own settings file; the user's real settings are never touched."""
    path = tmp_path / "settings" / "EvenOddStudio.ini"
    monkeypatch.setenv("EVENODD_SETTINGS_FILE", str(path))
    # ... and the default drawings folder is the test's own, never the user's
    monkeypatch.setenv("EVENODD_DRAWINGS_DIR", str(tmp_path / "my_drawings"))
    # ... and so is the folder of the labels a person gives (the Label tab)
    monkeypatch.setenv("EVENODD_LABELS_DIR", str(tmp_path / "my_labels"))
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
