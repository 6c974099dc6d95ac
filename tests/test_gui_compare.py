"""Compare panel: runs a tiny study in the background, fills table and plot, stops, reopens.

The study itself is tested in test_study.py; here only the panel's wiring is checked, on
the small synthetic MNIST of helpers_data with a few steps per cell.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import subprocess
import sys
from pathlib import Path

import pytest
from helpers_data import single_torch_thread, write_small_mnist

from engine.study.report import load_study
from engine.study.settings import REPORT_FILE
from gui.panels.compare_panel import ComparePanel
from gui.state.signals import AppState
from gui.state.worker import running_threads

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_MS = 120_000


@pytest.fixture(scope="module")
def mnist_dir(tmp_path_factory) -> Path:
    return write_small_mnist(tmp_path_factory.mktemp("mnist"), n_train=200, n_test=60)


@pytest.fixture(scope="module")
def loaded(mnist_dir: Path):
    from engine.data.mnist import read_folder
    from gui.panels.data_panel import summarise

    return summarise(read_folder(mnist_dir))


@pytest.fixture
def state(loaded):
    """The app's state with the small MNIST loaded, as after the Data tab."""
    app_state = AppState()
    app_state.set_data(loaded)
    yield app_state
    assert app_state.runner.shutdown(30_000)


@pytest.fixture
def panel(qtbot, state, tmp_path, shown_errors):
    widget = ComparePanel(state)
    qtbot.addWidget(widget)
    widget.out_edit.setText(str(tmp_path / "study"))
    widget.labels_edit.setText("20,all")
    widget.seeds_spin.setValue(2)
    widget.conv_check.setChecked(False)
    widget.steps_spin.setValue(4)
    widget.max_steps_spin.setValue(4)
    widget.val_every_spin.setValue(2)
    widget.pretrain_spin.setValue(1)
    widget.lr_spin.setValue(0.005)  # not the default: reopening must restore it
    widget.kind_combo.setCurrentText("parity")  # nor this
    widget.show()
    yield widget
    assert state.runner.shutdown(30_000)
    assert not running_threads()


def test_importing_the_panel_does_not_import_torch():
    code = "import sys, gui.panels.compare_panel; print('torch' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "False"


def test_runs_a_study_and_fills_table_and_plot_as_cells_finish(qtbot, panel, tmp_path, monkeypatch):
    """Cells in two worker processes, as on a machine with two cores or more (the tests run
    torch on one thread, which alone would make it one worker, in this process)."""
    from engine.study import run as study_run

    monkeypatch.setattr(study_run, "default_workers", lambda: 2)
    seen_rows: list[int] = []
    panel.cell_done.connect(lambda _: seen_rows.append(panel.table.rowCount()))
    with qtbot.waitSignal(panel.study_finished, timeout=TIMEOUT_MS) as finished:
        assert panel.start()
        assert panel.is_running() and not panel.start_button.isEnabled()
    result = finished.args[0]
    assert result.status == "completed" and len(result.cells) == 2 * 2 * 3
    assert result.info["workers"] == 2
    assert seen_rows[0] == 1 and seen_rows[-1] == 2  # the table grew while running
    rows = panel.table_text()
    assert [r[:2] for r in rows] == [["mlp", "20"], ["mlp", "all"]]
    assert all("±" in r[c] for r in rows for c in (2, 3, 4))
    xs, ys = panel.plot.series("mlp", "finetune")
    assert len(xs) == 2 and xs[0] == 20
    # the plot shows the table's means (column 4: finetune, "mean ± std" in %)
    means = [float(row[4].split("±")[0]) for row in rows]
    assert ys == pytest.approx(means, abs=0.051) and all(0 < y <= 100 for y in ys)
    assert panel.conclusions.toPlainText().strip()
    assert panel.progress.value() == 1000
    assert (tmp_path / "study" / REPORT_FILE).is_file()
    assert panel.start_button.isEnabled() and not panel.stop_button.isEnabled()


def test_stop_keeps_finished_cells(qtbot, panel, tmp_path, trained_here):
    """In this process; stopping worker processes is test_study's (and the pool's wiring
    to the panel is the test above)."""
    panel.seeds_spin.setValue(3)
    panel.cell_done.connect(lambda _: panel.stop())
    with qtbot.waitSignal(panel.study_finished, timeout=TIMEOUT_MS) as finished:
        assert panel.start()
    result = finished.args[0]
    assert result.status == "stopped"
    assert 1 <= len(result.cells) < result.planned_cells
    # one row per budget among the kept cells (cells trained side by side may both end)
    assert panel.table.rowCount() == len({cell.budget for cell in result.cells})
    saved = load_study(tmp_path / "study")
    assert len(saved.cells) == len(result.cells)


def test_reopens_a_saved_study(qtbot, panel, tmp_path, shown_errors, trained_here):
    with qtbot.waitSignal(panel.study_finished, timeout=TIMEOUT_MS):
        panel.start()
    before = panel.table_text()
    fresh = ComparePanel(AppState())
    qtbot.addWidget(fresh)
    with qtbot.waitSignal(fresh.study_finished, timeout=5_000):
        assert fresh.open_study(tmp_path / "study")
    assert fresh.table_text() == before
    assert fresh.labels_edit.text() == "20,all" and not fresh.conv_check.isChecked()
    assert fresh.study_settings() == panel.study_settings()
    assert fresh.study_settings().lr == 0.005
    assert fresh.study_settings().pick == "suggested"  # the default protocol
    assert fresh.study_settings().label_kind == "parity"
    assert fresh.plot.series("mlp", "scratch") == panel.plot.series("mlp", "scratch")
    assert not fresh.open_study(tmp_path)  # no study.json there
    assert shown_errors and "no saved study" in shown_errors[-1][0]


def test_bad_settings_give_a_message_not_a_crash(panel, shown_errors):
    panel.labels_edit.setText("20,lots")
    assert not panel.start()
    assert "label budget" in shown_errors[-1][0]
    panel.labels_edit.setText("20")
    panel.mlp_check.setChecked(False)
    assert not panel.start()
    assert "encoder family" in shown_errors[-1][0]
    assert not panel.is_running()


def test_without_mnist_the_study_is_refused_with_the_reason(qtbot, shown_errors) -> None:
    state = AppState()
    messages: list[str] = []
    state.status_message.connect(messages.append)
    panel = ComparePanel(state)
    qtbot.addWidget(panel)
    assert not panel.start_button.isEnabled()
    assert "Load MNIST" in panel.start_button.toolTip()
    assert not panel.start()
    assert messages and "Load MNIST on the Data tab first" in messages[-1]
    assert not state.runner.is_busy()


# ------------------------------------------------------------------------ resuming


@pytest.fixture
def trained_here(monkeypatch):
    """Cells trained in the job's thread (no worker processes: quicker to start on a busy
    machine, and train_cell can be counted); records (seed, n_labels, way) per cell."""
    from engine.study import run as study_run

    monkeypatch.setattr(study_run, "default_workers", lambda: 1)
    trained: list[tuple] = []
    real = study_run.train_cell

    def counting(data_, arch, cfg, labelled, encoder, freeze, *rest, **kwargs):
        way = "scratch" if encoder is None else ("frozen" if freeze else "finetune")
        trained.append((cfg.seed, len(labelled), way))
        return real(data_, arch, cfg, labelled, encoder, freeze, *rest, **kwargs)

    monkeypatch.setattr(study_run, "train_cell", counting)
    yield from _on_one_thread(trained)


def _on_one_thread(value):
    for _ in single_torch_thread():  # tiny models: a second thread only waits on a busy CPU
        yield value


def _cells_by_key(folder: Path) -> dict:
    return {(c.family, c.budget, c.seed, c.way): c.to_dict() for c in load_study(folder).cells}


def test_an_opened_unfinished_study_offers_resume_and_completes_as_if_never_stopped(
    qtbot, panel, state, tmp_path, trained_here, shown_errors
):
    panel.cell_done.connect(lambda _: panel.stop())
    with qtbot.waitSignal(panel.study_finished, timeout=TIMEOUT_MS):
        assert panel.start()
    assert panel.result.status == "stopped"
    assert panel.resume_button.isEnabled()  # offered at once after a stop, too
    stopped = _cells_by_key(tmp_path / "study")
    trained_here.clear()

    fresh = ComparePanel(state)  # as after restarting the app: nothing shown yet
    qtbot.addWidget(fresh)
    assert not fresh.resume_button.isEnabled()
    assert fresh.open_study(tmp_path / "study")
    assert fresh.resume_button.isEnabled() and "Resume" in fresh.status_label.text()
    with qtbot.waitSignal(fresh.study_finished, timeout=TIMEOUT_MS) as finished:
        fresh.resume_button.click()
    resumed = finished.args[0]
    assert resumed.status == "completed" and len(resumed.cells) == resumed.planned_cells
    assert len(trained_here) == resumed.planned_cells - len(stopped)  # only the missing
    after = _cells_by_key(tmp_path / "study")
    assert all(after[key] == cell for key, cell in stopped.items())  # kept, not retrained
    assert not fresh.resume_button.isEnabled()  # nothing left to resume
    assert not shown_errors

    panel.cell_done.disconnect()
    panel.out_edit.setText(str(tmp_path / "uninterrupted"))
    with qtbot.waitSignal(panel.study_finished, timeout=TIMEOUT_MS):
        assert panel.start()
    assert fresh.table_text() == panel.table_text()
    uninterrupted = _cells_by_key(tmp_path / "uninterrupted")
    for cells in (after, uninterrupted):
        for values in cells.values():
            values.pop("seconds")
    assert after == uninterrupted


def _answer(monkeypatch, yes: bool, questions: list[str]) -> None:
    """Answer the app's Yes/No question for the user, and record the question."""
    from PySide6.QtWidgets import QMessageBox

    button = QMessageBox.StandardButton.Yes if yes else QMessageBox.StandardButton.No
    monkeypatch.setattr(
        QMessageBox, "question", lambda _parent, _title, text, *a: questions.append(text) or button
    )


def test_start_into_a_folder_with_another_study_asks_before_replacing_it(
    qtbot, panel, tmp_path, monkeypatch, trained_here
):
    with qtbot.waitSignal(panel.study_finished, timeout=TIMEOUT_MS):
        assert panel.start()
    questions: list[str] = []
    _answer(monkeypatch, False, questions)
    panel.seeds_spin.setValue(1)
    assert not panel.start()
    assert not panel.is_running() and "seeds 2 there, 1 now" in questions[-1]
    assert "another study" in panel.status_label.text()
    assert load_study(tmp_path / "study").settings.seeds == 2  # untouched
    _answer(monkeypatch, True, questions)
    with qtbot.waitSignal(panel.study_finished, timeout=TIMEOUT_MS) as finished:
        assert panel.start()
    assert finished.args[0].status == "completed" and len(questions) == 2
    assert load_study(tmp_path / "study").settings.seeds == 1


def test_an_output_folder_that_is_a_file_gives_a_plain_message(panel, tmp_path, shown_errors):
    (tmp_path / "taken").write_text("not a folder")
    panel.out_edit.setText(str(tmp_path / "taken"))
    assert not panel.start()
    assert not panel.is_running()
    assert "is a file, not a folder" in shown_errors[-1][0]
