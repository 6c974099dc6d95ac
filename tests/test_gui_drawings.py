"""My drawings in the app: Mark even/odd on the Draw tab, the gallery (delete, folder,
bad files), evaluating on them and fine-tuning with them. Offscreen; waits have timeouts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers_data import make_digits
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton
from test_gui_draw import draw_bar, draw_ring

from engine.config import ArchConfig
from engine.data.personal import LABELS_FILE, add_drawing, load_drawings
from engine.learning.evaluate import evaluate_drawings
from gui.main_window import MainWindow
from gui.panels.draw_panel import DrawPanel
from gui.state import errors
from gui.state.drawings import SETTINGS_KEY, MyDrawings
from gui.state.settings import open_settings

ARCH = ArchConfig("mlp", latent=8, width=4, dropout=0.0, head_hidden=8)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def shown_errors(monkeypatch) -> list[str]:
    shown: list[str] = []
    monkeypatch.setattr(
        errors, "show_error", lambda parent, message, *a, **k: shown.append(message)
    )
    return shown


@pytest.fixture
def panel(qtbot) -> DrawPanel:
    widget = DrawPanel()
    qtbot.addWidget(widget)
    widget.resize(900, 700)
    widget.show()
    qtbot.waitExposed(widget)
    ready(qtbot, widget.drawings)
    return widget


def saved_folder(n: int, folder: Path, seed: int = 3) -> Path:
    images, labels = make_digits(n, seed)
    for image, digit in zip(images, labels, strict=True):
        add_drawing(folder, image, "odd" if digit % 2 else "even")
    return folder


def ready(qtbot, drawings: MyDrawings) -> None:
    """Wait for the background read of the folder."""
    qtbot.waitUntil(drawings.loaded, timeout=10_000)


def items(panel: DrawPanel) -> list[str]:
    lst = panel.gallery.list
    return [lst.item(i).text() for i in range(lst.count())]


def test_mark_buttons_save_the_drawing_into_the_default_folder(panel, qtbot) -> None:
    even = panel.findChild(QPushButton, "markEvenButton")
    odd = panel.findChild(QPushButton, "markOddButton")
    assert not even.isEnabled() and not odd.isEnabled()  # nothing drawn
    assert not panel.mark("odd") and "nothing drawn" in panel.status_label.text()
    folder = panel.drawings.folder()
    assert folder.name == "my_drawings"  # conftest's stand-in for the per-user folder
    draw_bar(panel.canvas)
    panel.predict_now()
    seen = panel.model_input()
    assert odd.isEnabled() and even.isEnabled()
    with qtbot.waitSignal(panel.drawings.saved, timeout=10_000) as saved:
        qtbot.mouseClick(odd, Qt.MouseButton.LeftButton)
        assert not odd.isEnabled()  # one save at a time: no double saves
    assert saved.args == ["drawing-0001.png", "odd"]
    assert panel.canvas.is_blank()  # ready for the next one; Undo brings it back
    assert "Saved drawing-0001.png as odd" in panel.status_label.text()
    draw_ring(panel.canvas)
    panel.predict_now()
    first = panel.gallery.list.item(0)
    with qtbot.waitSignal(panel.drawings.saved, timeout=10_000):
        qtbot.mouseClick(even, Qt.MouseButton.LeftButton)
    assert panel.gallery.list.row(first) == 1  # the new one was added, nothing rebuilt
    drawings = load_drawings(folder)
    assert drawings.files == ["drawing-0001.png", "drawing-0002.png"]
    assert drawings.targets.tolist() == [1, 0]
    assert np.array_equal(drawings.images[0], seen)  # exactly what the model saw
    assert (folder / "raw" / "drawing-0001.png").is_file()
    assert items(panel) == ["even", "odd"]  # newest first
    assert "2 drawings (1 even, 1 odd)" in panel.gallery.summary_label.text()
    panel.canvas.undo()
    assert not panel.canvas.is_blank()


def test_the_folder_is_chosen_and_remembered(panel, qtbot, tmp_path) -> None:
    chosen = saved_folder(3, tmp_path / "mine")
    panel.gallery._ask_folder = lambda: str(chosen)
    qtbot.mouseClick(panel.gallery.folder_button, Qt.MouseButton.LeftButton)
    assert open_settings().value(SETTINGS_KEY) == str(chosen)
    assert not panel.drawings.loaded() and "Reading" in panel.gallery.summary_label.text()
    ready(qtbot, panel.drawings)
    assert len(items(panel)) == 3
    assert panel.gallery.folder_label.toolTip() == str(chosen)
    again = MyDrawings()  # a later session
    again.read()
    ready(qtbot, again)
    assert again.folder() == chosen and len(again.current()) == 3
    draw_bar(panel.canvas)
    with qtbot.waitSignal(panel.drawings.saved, timeout=10_000) as saved:
        assert panel.mark("odd")
    assert saved.args == ["drawing-0004.png", "odd"]
    assert (chosen / "drawing-0004.png").is_file()
    panel.drawings.set_folder(chosen)  # a save while the folder is being read is kept
    draw_ring(panel.canvas)
    with qtbot.waitSignal(panel.drawings.saved, timeout=10_000) as saved:
        assert panel.mark("even")
    assert saved.args[0] == "drawing-0005.png"
    ready(qtbot, panel.drawings)
    assert items(panel)[:2] == ["even", "odd"] and len(items(panel)) == 5
    panel.gallery._ask_folder = lambda: ""  # cancelled: nothing changes
    assert not panel.gallery.choose_folder() and panel.drawings.folder() == chosen


def test_gallery_delete_asks_then_deletes(qtbot, tmp_path) -> None:
    drawings = MyDrawings()
    drawings.set_folder(saved_folder(4, tmp_path / "d"))
    panel = DrawPanel(drawings=drawings)
    qtbot.addWidget(panel)
    ready(qtbot, drawings)
    gallery = panel.gallery
    assert not gallery.delete_button.isEnabled()
    gallery.list.item(0).setSelected(True)  # the newest: drawing-0004.png
    gallery.list.item(2).setSelected(True)  # drawing-0002.png
    assert gallery.delete_button.isEnabled()
    asked = []
    gallery.confirm_delete = lambda n: asked.append(n) or False
    qtbot.mouseClick(gallery.delete_button, Qt.MouseButton.LeftButton)
    assert asked == [2] and len(load_drawings(tmp_path / "d")) == 4
    gallery.confirm_delete = lambda n: True
    with qtbot.waitSignal(drawings.deleted, timeout=10_000) as deleted:
        qtbot.mouseClick(gallery.delete_button, Qt.MouseButton.LeftButton)
    assert deleted.args == [2]
    assert load_drawings(tmp_path / "d").files == ["drawing-0001.png", "drawing-0003.png"]
    assert not (tmp_path / "d" / "drawing-0004.png").exists()
    assert gallery.list.count() == 2 and not gallery.delete_button.isEnabled()


def test_bad_files_are_reported_in_the_gallery(qtbot, tmp_path, shown_errors) -> None:
    folder = saved_folder(2, tmp_path / "d")
    with (folder / LABELS_FILE).open("a") as f:
        f.write("lost.png,odd\ndrawing-0001.png,maybe\n")
    drawings = MyDrawings()
    drawings.set_folder(folder)
    panel = DrawPanel(drawings=drawings)
    qtbot.addWidget(panel)
    ready(qtbot, drawings)
    assert panel.gallery.list.count() == 2
    summary = panel.gallery.summary_label
    assert "2 skipped" in summary.text()
    assert summary.toolTip().count("\n") == 1 and "lost.png: file not found" in summary.toolTip()
    # A labels.csv without a header: reported, and never overwritten by saving
    (folder / LABELS_FILE).write_text("drawing-0001.png,even\n")
    drawings.read()
    ready(qtbot, drawings)
    assert panel.gallery.list.count() == 0 and "1 skipped" in summary.text()
    draw_bar(panel.canvas)
    with qtbot.waitSignal(drawings.failed, timeout=10_000):
        assert panel.mark("even")
    assert len(shown_errors) == 1 and "header" in shown_errors[0]
    assert (folder / LABELS_FILE).read_text() == "drawing-0001.png,even\n"
    assert not panel.canvas.is_blank()  # the drawing is not lost either


# ---------------------------------------------------------------- Evaluate and Fine-tune


def classifier_checkpoint():
    from engine.learning.models import Classifier
    from engine.store.checkpoint import Checkpoint

    torch.manual_seed(0)
    return Checkpoint("classifier", Classifier(ARCH).eval(), ARCH)


def test_evaluate_on_my_drawings(window, qtbot, tmp_path) -> None:
    panel = window.evaluate_panel
    button = panel.drawings_button
    assert button.objectName() == "evaluateDrawingsButton" and not button.isEnabled()
    window.state.set_classifier(classifier_checkpoint())
    ready(qtbot, window.state.drawings)
    assert "No drawings yet" in button.toolTip()
    assert not button.isEnabled()
    folder = saved_folder(30, tmp_path / "d")
    (folder / "drawing-0005.png").write_bytes(b"broken")
    window.state.drawings.set_folder(folder)
    ready(qtbot, window.state.drawings)
    assert button.isEnabled()
    with qtbot.waitSignal(window.state.runner.succeeded, timeout=60_000):
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    expected = evaluate_drawings(window.state.classifier.model, load_drawings(folder))
    ev = panel.evaluation
    assert ev.to_dict() == expected.to_dict() and ev.n == 29
    assert panel.show_combo.currentText() == "My drawings"
    assert panel.metric_labels["accuracy"].text() == f"{expected.accuracy:.2%}"
    assert panel.confusion.matrix.sum() == 29
    assert panel.gallery.count == min(len(expected.misclassified), 48)
    assert "29 drawings" in panel.metrics_box.title()
    assert panel.drawings_note.isVisibleTo(panel) and "1 skipped" in panel.drawings_note.text()
    assert "drawing-0005.png" in panel.drawings_note.toolTip()
    shown = panel.show_cell(1, 0)
    assert len(shown) == expected.confusion[1, 0]
    panel.show_combo.setCurrentText("Test set")  # not evaluated: nothing stale is shown
    assert panel.evaluation is None and "not evaluated yet" in panel.metrics_box.title()
    panel.show_combo.setCurrentText("My drawings")
    assert panel.evaluation.to_dict() == expected.to_dict()


def test_finetune_adds_my_drawings_to_the_labels(window, qtbot, loaded, tmp_path) -> None:
    window.state.set_data(loaded)
    panel = window.finetune_panel
    panel.source_combo.setCurrentIndex(2)  # from scratch
    window.pretrain_panel.latent.setValue(8)
    panel.epochs.setValue(1)
    panel.batch.setValue(32)
    panel.labels_combo.setEditText("50")
    panel.steps_spin.setValue(20)  # not the schedule's 3,000 steps: what is trained on counts
    check = panel.drawings_check
    assert check.objectName() == "finetuneDrawingsCheck" and not check.isChecked()
    picked = "50 MNIST labels, suggested (chosen from pixels, no label read)"
    assert panel.labels_info.text() == picked
    window.state.drawings.set_folder(saved_folder(20, tmp_path / "d"))
    ready(qtbot, window.state.drawings)
    check.setChecked(True)
    assert panel.labels_info.text() == f"{picked} + 20 of my drawings = 70 labels"
    with qtbot.waitSignal(window.state.runner.succeeded, timeout=90_000):
        qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    extra = window.state.classifier.extra
    assert extra["labels"] == 70 and extra["drawings"] == 20
    assert "70 labels (suggested pick; 20 of them my drawings)" in panel.model_label.text()
    panel.labels_combo.setEditText("all")
    assert panel.labels_info.text().startswith(f"all {len(loaded.split.train):,} MNIST labels + 20")


def test_finetune_with_no_drawings_says_so(window, qtbot, loaded, tmp_path, shown_errors) -> None:
    window.state.set_data(loaded)
    panel = window.finetune_panel
    panel.source_combo.setCurrentIndex(2)
    panel.labels_combo.setEditText("50")
    window.state.drawings.set_folder(tmp_path / "empty")
    ready(qtbot, window.state.drawings)
    panel.drawings_check.setChecked(True)
    assert "no drawings yet" in panel.labels_info.text()
    with qtbot.waitSignal(window.state.runner.failed, timeout=60_000):
        assert panel.start()
    assert window.state.classifier is None
    assert len(shown_errors) == 1 and shown_errors[0].startswith("no usable drawings in")


def test_the_add_drawings_choice_is_remembered(qtbot) -> None:
    first = MainWindow()
    qtbot.addWidget(first)
    first.finetune_panel.drawings_check.setChecked(True)
    first.save_settings()
    second = MainWindow()
    qtbot.addWidget(second)
    assert second.finetune_panel.drawings_check.isChecked()
