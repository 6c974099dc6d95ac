"""The Label tab driven by keys, its label file on disk, asking for more images, the
simulated annotator, a bad label file, and the Fine-tune tab learning from my labels.
Offscreen, on the tiny synthetic MNIST; every wait has a timeout."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers_gui import wait_idle, with_data
from PySide6.QtCore import Qt
from torch import nn

from engine.data.labels import default_labels_home, labels_file_for, read_label_rows
from engine.data.personal import add_drawing
from gui.main_window import MainWindow

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def label_file(loaded) -> Path:
    return labels_file_for(loaded.folder, default_labels_home())


def on_disk(loaded) -> list:
    path = label_file(loaded)
    return read_label_rows(path) if path.exists() else []


def saved_folder(n: int, folder: Path) -> Path:
    """`n` drawings marked even or odd (as the Draw tab saves them) in `folder`."""
    from helpers_data import make_digits

    images, digits = make_digits(n, seed=3)
    for image, digit in zip(images, digits, strict=True):
        add_drawing(folder, image, "odd" if digit % 2 else "even")
    return folder


def first_training_images(loaded, n: int) -> list[int]:
    return loaded.split.train[:n].tolist()


@pytest.fixture
def panel(window, qtbot, loaded):
    """The Label tab, shown, with the tiny MNIST loaded."""
    with_data(window, loaded)
    window.show()
    window.tabs.setCurrentWidget(window.label_panel)
    qtbot.waitExposed(window)
    return window.label_panel


def key(qtbot, panel, *keys: Qt.Key) -> None:
    for k in keys:
        qtbot.keyClick(panel.grid, k)


def test_keys_label_move_undo_and_write_the_file(panel, qtbot, loaded) -> None:
    asked = first_training_images(loaded, 6)
    panel.labels.add_asked(asked)
    assert panel.grid.currentRow() == 0
    assert panel.count_label.text() == "0 of 6 labelled"
    p = asked

    key(qtbot, panel, Qt.Key.Key_7)  # the digit, then on to the next image
    assert panel.labels.given == {p[0]: 7}
    assert panel.grid.currentRow() == 1
    qtbot.waitUntil(lambda: on_disk(loaded) == [(p[0], 7)] + [(q, None) for q in p[1:]])

    key(qtbot, panel, Qt.Key.Key_E, Qt.Key.Key_O)  # parity only
    assert panel.labels.given == {p[0]: 7, p[1]: "even", p[2]: "odd"}
    assert panel.shown_values() == ["7", "even", "odd", "?", "?", "?"]
    assert panel.count_label.text() == "3 of 6 labelled (1 digit, 2 even/odd)"
    assert panel.grid.currentRow() == 3
    qtbot.waitUntil(lambda: dict(on_disk(loaded))[p[2]] == "odd")

    key(qtbot, panel, Qt.Key.Key_Backspace)  # the current image has none: the last given
    assert panel.grid.currentRow() == 2
    assert p[2] not in panel.labels.given
    qtbot.waitUntil(lambda: dict(on_disk(loaded))[p[2]] is None)
    key(qtbot, panel, Qt.Key.Key_Left)  # arrows move
    assert panel.grid.currentRow() == 1
    key(qtbot, panel, Qt.Key.Key_Backspace)  # the current image's own label
    assert panel.grid.currentRow() == 1 and p[1] not in panel.labels.given
    assert panel.large.value_label.text() == "not labelled yet"
    key(qtbot, panel, Qt.Key.Key_Right, Qt.Key.Key_Right, Qt.Key.Key_Right)
    assert panel.grid.currentRow() == 4
    key(qtbot, panel, Qt.Key.Key_3)  # labels image 5, then the next unlabelled: 6
    assert panel.labels.given == {p[0]: 7, p[4]: 3}
    assert panel.grid.currentRow() == 5
    key(qtbot, panel, Qt.Key.Key_8)  # the last one: wraps round to the first unlabelled
    assert panel.grid.currentRow() == 1
    assert panel.count_label.text() == "3 of 6 labelled (3 digits)"
    expected = [(p[0], 7), (p[1], None), (p[2], None), (p[3], None), (p[4], 3), (p[5], 8)]
    qtbot.waitUntil(lambda: on_disk(loaded) == expected)
    assert "training image #" in panel.large.where_label.text()


def test_labels_and_asked_images_survive_a_restart(panel, qtbot, loaded) -> None:
    asked = first_training_images(loaded, 5)
    panel.labels.add_asked(asked)
    key(qtbot, panel, Qt.Key.Key_4, Qt.Key.Key_O)
    panel.labels.flush()
    panel.window().close()

    second = MainWindow()
    qtbot.addWidget(second)
    with_data(second, loaded)
    again = second.label_panel
    assert again.labels.order == asked
    assert again.shown_values() == ["4", "odd", "?", "?", "?"]
    assert again.count_label.text() == "2 of 5 labelled (1 digit, 1 even/odd)"
    second.state.runner.shutdown()


def test_fill_in_reveals_mnist_labels_of_the_asked_images_only(panel, qtbot, loaded) -> None:
    asked = first_training_images(loaded, 6)
    panel.labels.add_asked(asked)
    truth = loaded.mnist.train_labels
    wrong = (int(truth[asked[0]]) + 1) % 10
    key(qtbot, panel, getattr(Qt.Key, f"Key_{wrong}"))  # a person's label is kept as given
    assert panel.reveal_button.isEnabled()
    assert "MNIST's own label" in panel.reveal_button.toolTip()

    assert panel.fill_in() == 5
    assert panel.labels.given[asked[0]] == wrong
    assert all(panel.labels.given[p] == int(truth[p]) for p in asked[1:])
    assert not panel.reveal_button.isEnabled()  # nothing left to fill in
    expected = [(asked[0], wrong)] + [(p, int(truth[p])) for p in asked[1:]]
    qtbot.waitUntil(lambda: on_disk(loaded) == expected)  # no other image in the file

    more = loaded.split.train[6:9].tolist()
    panel.labels.add_asked(more)
    panel.fill_combo.setCurrentText("even/odd")
    assert panel.fill_in() == 3
    assert [panel.labels.given[p] for p in more] == [
        "odd" if int(truth[p]) % 2 else "even" for p in more
    ]
    qtbot.waitUntil(lambda: [p for p, _ in on_disk(loaded)] == asked + more)


def test_clear_asks_and_removes_labels_then_images(panel, qtbot, loaded, monkeypatch) -> None:
    asked = first_training_images(loaded, 4)
    panel.labels.add_asked(asked)
    key(qtbot, panel, Qt.Key.Key_1, Qt.Key.Key_2)
    monkeypatch.setattr(panel, "ask_clear", lambda n_labels, n_images: None)
    assert not panel.clear()  # cancelled: nothing changes
    assert len(panel.labels.given) == 2
    monkeypatch.setattr(panel, "ask_clear", lambda n_labels, n_images: "labels")
    assert panel.clear()
    assert panel.labels.given == {} and panel.labels.order == asked
    qtbot.waitUntil(lambda: on_disk(loaded) == [(p, None) for p in asked])
    monkeypatch.setattr(panel, "ask_clear", lambda n_labels, n_images: "all")
    assert panel.clear()
    assert panel.grid.count() == 0 and panel.count_label.text() == "Nothing asked yet."
    qtbot.waitUntil(lambda: label_file(loaded).exists() and on_disk(loaded) == [])


class Brightness(nn.Module):
    """A stand-in classifier: P(odd) rises with an image's mean brightness."""

    def __init__(self, middle: float) -> None:
        super().__init__()
        self.middle = middle
        self.scale = nn.Parameter(torch.tensor(40.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * (x.flatten(1).mean(1) - self.middle)


def checkpoint(model: nn.Module, pick: str | None):
    from engine.config import DEFAULT_ARCH
    from engine.store.checkpoint import Checkpoint

    extra = {"labels": 5} if pick is None else {"labels": 5, "pick": pick}
    return Checkpoint(kind="classifier", model=model, arch=DEFAULT_ARCH, extra=extra)


def test_ask_more_excludes_asked_images_and_follows_the_classifier(
    panel, window, qtbot, loaded
) -> None:
    panel.ask_spin.setValue(5)
    assert panel.ask_button.text() == "Ask me 5"
    assert panel.ask()
    wait_idle(qtbot, window)
    first = list(panel.labels.order)
    assert len(first) == 5 and set(first) <= set(loaded.split.train.tolist())
    assert panel.ask_button.text() == "Ask me 5 more"
    key(qtbot, panel, Qt.Key.Key_2, Qt.Key.Key_E)

    # the shipped model, or any classifier that did not learn from few labels: not used
    pool = loaded.split.train
    brightness = loaded.mnist.train_images[pool].float().div(255).flatten(1).mean(1)
    model = Brightness(float(brightness.median()))
    window.state.set_classifier(checkpoint(model, None))
    assert "pixels alone" in panel.ask_button.toolTip()
    window.state.set_classifier(checkpoint(model, "given"))  # fine-tuned on my labels
    assert "least sure" in panel.ask_button.toolTip()

    panel.ask_spin.setValue(4)
    assert panel.ask()
    wait_idle(qtbot, window)
    new = panel.labels.order[5:]
    assert len(new) == 4 and not set(new) & set(first)
    candidates = [p for p in pool.tolist() if p not in first]  # labelled or asked: never
    images = loaded.mnist.train_images[candidates].float().div(255).unsqueeze(1)
    with torch.no_grad():
        margin = (torch.sigmoid(model(images)) - 0.5).abs()
    least_sure = [candidates[i] for i in torch.argsort(margin, stable=True)[:4].tolist()]
    assert sorted(new) == sorted(least_sure)
    assert "Asked about 4 more images" in panel.status_label.text()


def test_with_digits_left_out_ask_more_covers_them_first(panel, window, qtbot, loaded) -> None:
    """Digit labels that leave digits out: the classifier never saw those digits, so the
    tooltip and the status say typical images of groups without a label come first."""
    panel.labels.add_asked(first_training_images(loaded, 2))
    key(qtbot, panel, Qt.Key.Key_2, Qt.Key.Key_3)
    window.state.set_classifier(checkpoint(Brightness(0.1), "given"))
    tip = panel.ask_button.toolTip()
    assert "no label names 0, 1, 4, 5, 6, 7, 8, 9" in tip and "least sure" not in tip
    key(qtbot, panel, Qt.Key.Key_Left, Qt.Key.Key_E)  # a parity label: no digit known missing
    assert "least sure" in panel.ask_button.toolTip()


def test_closing_the_window_ends_the_child_kept_for_choosing(panel, window, qtbot) -> None:
    from engine.learning.child import child_process

    panel.ask_spin.setValue(3)
    assert panel.ask()
    wait_idle(qtbot, window)
    kept = child_process()
    assert kept is not None and kept.is_alive()  # kept for the next "Ask me N more"
    window.close()
    assert child_process() is None and not kept.is_alive()


def test_choosing_shows_progress_and_stops(panel, window, qtbot, loaded, monkeypatch) -> None:
    import threading

    from engine.errors import StoppedError
    from engine.events import GRAPH_PHASE, Message, Progress

    reached = threading.Event()

    def slow_images_to_ask(data, n, known, classifier=None, seed=0, run=None, asked=None):
        run.on_event(Message("choosing 20 images to label from their pixels alone"))
        run.on_event(Progress(GRAPH_PHASE, 3, 10, 4.0, 9.0))
        reached.set()
        while not run.should_stop():
            threading.Event().wait(0.01)  # the worker waits for Stop; the test never sleeps
        raise StoppedError("stopped while choosing the images to label")

    monkeypatch.setattr("engine.jobs.labelling.images_to_ask", slow_images_to_ask)
    assert panel.ask()
    qtbot.waitUntil(lambda: "ETA" in panel.progress.format(), timeout=10_000)
    assert panel.progress.format().startswith("linking similar images 3/10")
    assert "Choosing 20 images to label" in panel.status_label.text()
    assert panel.stop_button.isEnabled() and not panel.ask_button.isEnabled()
    qtbot.mouseClick(panel.stop_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window)
    assert panel.status_label.text() == "Stopped: no images were added."
    assert panel.labels.order == [] and not panel.stop_button.isEnabled()


def test_a_bad_label_file_is_kept_and_reported(window, qtbot, loaded) -> None:
    path = label_file(loaded)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("index,label\n12,seven\n")
    with_data(window, loaded)
    panel = window.label_panel
    assert panel.note_label.isVisibleTo(panel)
    note = panel.note_label.text()
    assert "could not be read" in note and "line 2" in note and "starts empty" in note
    kept = path.with_name(f"{path.stem}.unreadable-1.csv")
    assert kept.read_text() == "index,label\n12,seven\n" and str(kept) in note
    assert panel.labels.order == [] and not path.exists()
    panel.labels.add_asked(first_training_images(loaded, 2))
    key(qtbot, panel, Qt.Key.Key_5)
    qtbot.waitUntil(lambda: path.exists() and len(on_disk(loaded)) == 2)
    assert kept.read_text() == "index,label\n12,seven\n"  # never overwritten


# ------------------------------------------------------------------------- Fine-tune


@pytest.fixture
def captured_job(monkeypatch):
    """The FinetuneJob the Fine-tune tab hands the engine (then the run is refused)."""
    from engine.errors import StoppedError

    jobs = []

    def capture(data, job, run=None):
        jobs.append(job)
        raise StoppedError("captured by the test")

    monkeypatch.setattr("engine.jobs.workflows.finetune_and_save", capture)
    return jobs


def finetune_from_scratch(window, loaded):
    from gui.panels.finetune_panel import SCRATCH

    with_data(window, loaded)
    panel = window.finetune_panel
    panel.source_combo.setCurrentIndex(SCRATCH)
    return panel


def test_finetune_learns_from_my_labels(
    window, qtbot, loaded, captured_job, shown_errors, tmp_path
) -> None:
    panel = finetune_from_scratch(window, loaded)
    panel.mine_choice.setChecked(True)
    assert panel.mine_choice.text() == "my labels (0)"
    assert not panel.start_button.isEnabled()
    assert "Label tab" in panel.start_button.toolTip()
    assert not panel.start()  # says why instead
    assert not captured_job

    asked = first_training_images(loaded, 4)
    window.label_panel.labels.add_asked(asked)
    for k in (Qt.Key.Key_3, Qt.Key.Key_E, Qt.Key.Key_8):
        qtbot.keyClick(window.label_panel.grid, k)
    assert panel.mine_choice.text() == "my labels (3)"
    assert panel.labels_info.text() == "my labels (3: 2 digits, 1 even/odd)"
    assert not panel.pick_combo.isEnabled() and not panel.labels_combo.isEnabled()
    assert panel.start()
    wait_idle(qtbot, window)
    (job,) = captured_job
    assert job.given.as_pairs() == {asked[0]: 3, asked[1]: "even", asked[2]: 8}
    assert job.labels is None and job.extra is None
    assert shown_errors and "captured by the test" in shown_errors[0][0]

    # my drawings are added to my labels as well
    window.state.drawings.set_folder(saved_folder(4, tmp_path / "drawings"))
    qtbot.waitUntil(window.state.drawings.loaded, timeout=10_000)
    panel.drawings_check.setChecked(True)
    assert panel.labels_info.text() == (
        "my labels (3: 2 digits, 1 even/odd) + 4 of my drawings = 7 labels"
    )
    assert panel.start()
    wait_idle(qtbot, window)
    assert len(captured_job[1].given) == 3 and len(captured_job[1].extra[0]) == 4


def test_finetune_picks_mnist_labels_by_the_chosen_protocol(
    window, qtbot, loaded, captured_job, shown_errors
) -> None:
    panel = finetune_from_scratch(window, loaded)
    assert panel.mnist_choice.isChecked()
    window.data_panel.budget_combo.setEditText("100")
    assert panel.labels_info.text() == (
        "100 MNIST labels, suggested (chosen from pixels, no label read)"
    )
    panel.pick_combo.setCurrentIndex(panel.pick_combo.findData("balanced"))
    assert "reads every label" in panel.pick_combo.currentText()
    assert "reads every label" in panel.labels_info.text()
    tip = panel.pick_combo.itemData(panel.pick_combo.currentIndex(), Qt.ItemDataRole.ToolTipRole)
    assert "every image's label" in tip
    panel.pick_combo.setCurrentIndex(panel.pick_combo.findData("random"))
    panel.kind_combo.setCurrentIndex(panel.kind_combo.findData("parity"))
    assert panel.labels_info.text().endswith("no label read), even/odd only")
    assert panel.start()
    wait_idle(qtbot, window)
    (job,) = captured_job
    assert (job.labels, job.pick, job.label_kind, job.given) == (100, "random", "parity", None)


def test_label_choices_are_remembered(qtbot, loaded) -> None:
    first = MainWindow()
    qtbot.addWidget(first)
    first.finetune_panel.mine_choice.setChecked(True)
    first.finetune_panel.pick_combo.setCurrentIndex(2)
    first.finetune_panel.kind_combo.setCurrentIndex(1)
    first.label_panel.ask_spin.setValue(35)
    first.label_panel.fill_combo.setCurrentText("even/odd")
    first.close()

    second = MainWindow()
    qtbot.addWidget(second)
    panel = second.finetune_panel
    assert panel.uses_my_labels() and not panel.mnist_choice.isChecked()
    assert (panel.pick(), panel.label_kind()) == ("balanced", "parity")
    assert second.label_panel.ask_spin.value() == 35
    assert second.label_panel.fill_combo.currentText() == "even/odd"
    second.close()
