"""No request is lost: while a job runs, every action that needs the job runner either
waits its turn, with "Queued: …" in the status bar, or is refused with the reason there.

A short job is stood in for by a job held at a gate (the test decides when it ends); a
long one is a real pretraining that only ends when stopped."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from helpers_data import write_small_mnist
from PySide6.QtCore import Qt

from engine.store.resources import default_model_path
from gui.main_window import MainWindow

TIMEOUT_MS = 60_000


def status(win: MainWindow) -> str:
    return win.statusBar().currentMessage()


def hold(win: MainWindow, name: str) -> threading.Event:
    """Run a job called `name` until the returned gate is set (or Stop)."""
    gate = threading.Event()

    def job(on_event, should_stop):
        while not gate.is_set() and not should_stop():
            gate.wait(0.001)

    assert win.state.runner.start(job, name=name)
    return gate


def start_long_pretraining(win: MainWindow, qtbot) -> None:
    panel = win.pretrain_panel
    panel.epochs.setValue(500)
    panel.batch.setValue(8)
    panel.patience.setValue(100)
    with qtbot.waitSignal(win.state.runner.event, timeout=TIMEOUT_MS):
        assert panel.start()


def wait_idle(qtbot, win: MainWindow) -> None:
    qtbot.waitUntil(lambda: not win.state.runner.is_busy(), timeout=TIMEOUT_MS)


def classifier_file(tmp_path: Path) -> Path:
    from engine.learning.models import ArchConfig, Classifier
    from engine.store.checkpoint import save_checkpoint

    arch = ArchConfig(latent=8, width=4, head_hidden=8)
    path = tmp_path / "clf.pt"
    save_checkpoint(path, Classifier(arch), arch)
    return path


@pytest.mark.skipif(not default_model_path().is_file(), reason="no shipped default model")
def test_enter_in_the_data_folder_field_while_the_shipped_model_loads(
    qtbot, tiny_mnist_dir, tmp_path, shown_errors, answer_quit
) -> None:
    """Start-up as the app does it: the shipped model loads first, then the remembered
    folder. A folder typed meanwhile is loaded after the model, instead of the remembered
    one, and the user sees it is queued."""
    from gui.app import start_up
    from gui.state.settings import open_settings

    remembered = write_small_mnist(tmp_path / "remembered", n_train=120, n_test=30)
    open_settings().setValue("data/folder", str(remembered))
    window = MainWindow(defer_draw=True)
    qtbot.addWidget(window)
    window.show()
    loads: list[str] = []
    window.state.data_changed.connect(lambda: loads.append(window.state.data.folder))
    start_up(window)
    assert window.state.runner.is_busy() and window.state.runner.name == "open-default"

    edit = window.data_panel.dir_edit
    assert edit.isEnabled()
    edit.setText(str(tiny_mnist_dir))
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    assert status(window) == (
        f"Queued: load MNIST from {tiny_mnist_dir}; it starts when loading the shipped model ends."
    )
    assert f"waiting: load MNIST from {tiny_mnist_dir}" in window.summary_label.text()
    assert "queued" in window.data_panel.status_label.text()

    qtbot.waitUntil(lambda: bool(loads), timeout=TIMEOUT_MS)
    wait_idle(qtbot, window)
    assert window.state.classifier is not None  # the shipped model loaded first
    assert loads == [str(tiny_mnist_dir)]  # the typed folder, and only it
    assert "waiting" not in window.summary_label.text()
    assert shown_errors == []
    window.close()


def test_opening_a_classifier_while_a_job_runs_waits_its_turn(window, qtbot, tmp_path) -> None:
    path = classifier_file(tmp_path)
    gate = hold(window, "load")
    assert window.open_checkpoint("classifier", str(path))
    assert status(window) == "Queued: open classifier clf.pt; it starts when loading MNIST ends."
    assert window.state.classifier is None
    gate.set()
    qtbot.waitUntil(lambda: window.state.classifier is not None, timeout=TIMEOUT_MS)
    assert "Loaded classifier clf.pt" in status(window)


def test_the_menu_and_f5_stay_usable_while_a_job_runs(window) -> None:
    gate = hold(window, "evaluate")
    for action in (
        window.open_data_action,
        window.open_encoder_action,
        window.open_classifier_action,
        window.start_action,
    ):
        assert action.isEnabled(), action.objectName()
    assert window.stop_action.isEnabled()
    gate.set()


def test_loading_a_folder_during_training_waits_for_the_training(
    window, qtbot, loaded, tiny_mnist_dir
) -> None:
    window.state.set_data(loaded)
    start_long_pretraining(window, qtbot)
    window.data_panel.dir_edit.setText(str(tiny_mnist_dir))
    qtbot.mouseClick(window.data_panel.load_button, Qt.MouseButton.LeftButton)
    assert status(window) == (
        f"Queued: load MNIST from {tiny_mnist_dir}; it starts when pretraining ends."
    )
    assert window.state.data is loaded and window.state.runner.name == "pretrain"
    with qtbot.waitSignal(window.state.data_changed, timeout=TIMEOUT_MS):
        window.stop()
    assert window.state.data is not loaded and window.state.data.folder == str(tiny_mnist_dir)


def test_evaluating_during_training_runs_once_the_training_stops(
    window, qtbot, loaded, tmp_path
) -> None:
    from engine.store.checkpoint import load_checkpoint

    window.state.set_data(loaded)
    window.state.set_classifier(load_checkpoint(classifier_file(tmp_path)))
    start_long_pretraining(window, qtbot)
    button = window.evaluate_panel.evaluate_button
    assert button.isEnabled()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert status(window) == "Queued: the evaluation; it starts when pretraining ends."
    window.stop()
    qtbot.waitUntil(lambda: window.evaluate_panel.evaluation is not None, timeout=TIMEOUT_MS)
    assert window.evaluate_panel.evaluation.n == 200


@pytest.mark.parametrize("tab", ["finetune", "compare", "pretrain"])
def test_a_training_or_study_asked_for_during_training_is_refused_with_the_reason(
    window, qtbot, loaded, tab
) -> None:
    window.state.set_data(loaded)
    window.finetune_panel.source_combo.setCurrentIndex(2)  # from scratch: it could start
    start_long_pretraining(window, qtbot)
    panel = getattr(window, f"{tab}_panel")
    title = {"finetune": "fine-tuning", "compare": "the study", "pretrain": "pretraining"}
    if tab != "pretrain":  # its own Start is off while it runs; Stop is on
        assert not panel.start_button.isEnabled()
        assert panel.start_button.toolTip() == "Wait until pretraining ends, or stop it (Esc)"
    window.tabs.setCurrentWidget(panel)
    assert not window.start_current()  # F5
    assert status(window) == (
        f"Did not start {title[tab]}: pretraining is still running. "
        "Stop it (Esc) or wait until it ends."
    )
    assert window.state.model.jobs.waiting == ()
    assert window.state.runner.name == "pretrain"


@pytest.mark.parametrize("tab", ["pretrain", "finetune", "compare"])
def test_a_training_or_study_asked_for_during_a_short_job_starts_after_it(
    window, qtbot, loaded, tmp_path, tab
) -> None:
    window.state.set_data(loaded)
    window.finetune_panel.source_combo.setCurrentIndex(2)  # from scratch
    window.compare_panel.labels_edit.setText("20")
    window.compare_panel.out_edit.setText(str(tmp_path / "study"))
    panel = getattr(window, f"{tab}_panel")
    gate = hold(window, "open-classifier")
    assert panel.start_button.isEnabled()
    qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    title = {"finetune": "fine-tuning", "compare": "the study", "pretrain": "pretraining"}
    assert status(window) == (f"Queued: {title[tab]}; it starts when opening the classifier ends.")
    gate.set()
    qtbot.waitUntil(lambda: window.state.runner.name == tab, timeout=TIMEOUT_MS)
    assert panel.stop_button.isEnabled()
    panel.stop()
    wait_idle(qtbot, window)


def test_start_while_mnist_loads_waits_for_the_data(window, qtbot, tiny_mnist_dir) -> None:
    assert not window.pretrain_panel.start_button.isEnabled()  # nothing loaded, nothing coming
    assert window.data_panel.load_folder(str(tiny_mnist_dir))
    assert window.pretrain_panel.start_button.isEnabled()  # MNIST is on its way
    assert window.pretrain_panel.start()
    assert status(window) == "Queued: pretraining; it starts when loading MNIST ends."
    qtbot.waitUntil(lambda: window.state.runner.name == "pretrain", timeout=TIMEOUT_MS)
    assert window.state.data is not None
    window.stop()
    wait_idle(qtbot, window)


def test_a_queued_start_whose_data_failed_to_load_says_why(window, qtbot, tmp_path) -> None:
    assert window.data_panel.load_folder(str(tmp_path))  # no MNIST there
    assert window.pretrain_panel.start()
    wait_idle(qtbot, window)
    assert status(window) == "Pretraining not started: Load MNIST on the Data tab first."


def test_f5_without_what_a_tab_needs_says_why(window) -> None:
    window.tabs.setCurrentWidget(window.evaluate_panel)
    assert not window.start_current()
    assert status(window) == (
        "Not evaluated: Fine-tune a classifier or open one (File ▸ Open classifier…) first."
    )
    window.tabs.setCurrentWidget(window.draw_panel)
    assert not window.start_current()
    assert status(window) == "Nothing to start on the Draw tab."
