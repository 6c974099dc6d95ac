"""The live figures: drawn by the render thread, never by the GUI thread; changes made
during a draw are kept, in order; clicks on the confusion matrix find the right cell."""

from __future__ import annotations

import threading

import numpy as np
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QImage

from gui.widgets.plots import ConfusionPlot, ImageGrid, LossPlot


def test_training_updates_are_drawn_off_the_gui_thread(qtbot, draw_threads) -> None:
    plot = LossPlot(accuracy=True)
    qtbot.addWidget(plot)
    plot.resize(600, 300)
    plot.show()
    plot.reset(epochs=3)
    for step in range(1, 30):
        plot.add_progress(1, step, 30, 1.0 / step)
    plot.add_epoch(1, 0.5, 0.6, 1, 0.9)
    qtbot.waitUntil(lambda: plot._shown is not None, timeout=10_000)
    assert draw_threads, "nothing was drawn"
    assert threading.get_ident() not in draw_threads
    assert plot._shown.width() >= 600  # drawn at the widget's size (times its pixel ratio)


def test_a_change_made_during_a_draw_is_applied_before_the_next(qtbot) -> None:
    grid = ImageGrid(2, 2)
    qtbot.addWidget(grid)
    surface = grid._surface
    with surface.lock:  # as if the render thread were drawing right now
        grid.set_images(np.ones((4, 28, 28), np.float32), title="first")
        grid.set_images(np.ones((3, 28, 28), np.float32), title="second")
        assert len(surface.pending) == 2
        assert grid.count == 3  # what readers of the widget see is current at once
    grid.sync()
    assert not surface.pending
    assert grid.title.get_text() == "second"
    assert grid.captions[3].get_text() == ""


def test_clicking_a_confusion_cell_selects_it(qtbot) -> None:
    plot = ConfusionPlot()
    qtbot.addWidget(plot)
    plot.resize(360, 320)
    plot.show()
    plot.set_matrix(np.array([[5, 1], [2, 7]]))
    plot.flush()
    plot.sync()
    for true, predicted in ((0, 0), (0, 1), (1, 0), (1, 1)):
        x, y = plot.ax.transData.transform((predicted, true))  # cell centre, display pixels
        ratio = plot._shown.devicePixelRatio()
        point = QPoint(round(x / ratio), round(plot.height() - y / ratio))
        with qtbot.waitSignal(plot.cellClicked, timeout=2_000) as signal:
            qtbot.mouseClick(plot, Qt.MouseButton.LeftButton, pos=point)
        assert signal.args == [true, predicted]
    assert plot.cell_at(QPoint(2, 2).toPointF()) is None  # the margin is not a cell


def test_a_finished_render_skips_canvases_whose_widget_is_gone(qtbot) -> None:
    import shiboken6

    from gui.widgets.plots import _the_renderer

    grid = ImageGrid(1, 2)
    grid._surface.image = QImage(4, 4, QImage.Format.Format_RGBA8888)  # a render just ended
    shiboken6.delete(grid)  # the Qt widget is destroyed, the Python object lives on
    _the_renderer()._repaint_views()  # would raise "C++ object already deleted"


def test_the_fine_tune_tab_names_a_kept_last_run_s_lowest_loss_as_only_shown(qtbot) -> None:
    """Below all labels the run keeps its last weights: the curve's marker and the tab's
    line must not call the epoch of lowest validation loss "best" (issue 11.2)."""
    from engine.events import EpochEnd
    from gui.panels.training_panel import best_so_far

    plot = LossPlot(accuracy=True)
    qtbot.addWidget(plot)
    plot.reset(epochs=3)
    plot.add_epoch(1, 0.5, 0.4, 1, 0.9, keeps_best=False)
    plot.add_epoch(2, 0.4, 0.45, 1, 0.91, keeps_best=False)
    plot.finish("completed", 2, 1)
    assert plot.artists.note.get_text() == "lowest val. loss: epoch 1"
    event = EpochEnd("finetune", 2, 3, 0.4, 0.45, 1, 0.4, 0.91, 200, keeps_best=False)
    assert best_so_far(event) == "lowest validation loss so far: epoch 1 (shown only)"
    kept_best = EpochEnd("finetune", 2, 3, 0.4, 0.45, 1, 0.4, 0.91, 200)
    assert best_so_far(kept_best) == "best so far epoch 1"
    plot.reset(epochs=3)  # a new run that keeps its best epoch says so again
    plot.add_epoch(1, 0.5, 0.4, 1, 0.9)
    plot.finish("completed", 1, 1)
    assert plot.artists.note.get_text() == "best epoch 1"


def test_the_monitor_shows_the_graph_being_made_and_the_engine_s_messages(qtbot) -> None:
    """The ~12 s before a semi-supervised run's first batch: a moving bar with an ETA and
    the engine's line, not a frozen 'starting' (and the loss curve is left alone)."""
    from engine.events import GRAPH_PHASE, Message, Progress
    from gui.panels.training_panel import TrainingMonitor

    monitor = TrainingMonitor("finetune", accuracy=True)
    qtbot.addWidget(monitor)
    monitor.reset("starting …", epochs=3)
    monitor.handle(Message("spreading the 20 labels over a graph of similar images"))
    assert monitor.result_label.text() == "Spreading the 20 labels over a graph of similar images."
    monitor.handle(Progress(GRAPH_PHASE, 27, 54, 6.0, 6.0))
    assert monitor.progress.value() == 500
    assert monitor.progress.format().startswith("linking similar images 27/54 · ETA")
    assert monitor.plot.series()["running"] == []


def test_a_warning_stays_in_view_while_epochs_replace_the_result_line(qtbot) -> None:
    """A digit no label names is worth knowing for the whole run: the warning keeps its
    own line through the epochs' results, and a new run clears it."""
    from engine.events import EpochEnd, Message
    from gui.panels.training_panel import TrainingMonitor

    monitor = TrainingMonitor("finetune", accuracy=True)
    qtbot.addWidget(monitor)
    monitor.reset("starting …", epochs=3)
    assert monitor.note_label.isHidden()
    monitor.handle(Message("no label names 4, 7, even and odd digits both", "warning"))
    monitor.handle(EpochEnd("finetune", 1, 3, 0.5, 0.4, 1, 0.4, 0.9))
    assert monitor.result_label.text().startswith("Epoch 1")
    assert monitor.note_label.text() == "No label names 4, 7, even and odd digits both."
    assert not monitor.note_label.isHidden()
    monitor.reset("starting …", epochs=3)
    assert monitor.note_label.isHidden() and monitor.note_label.text() == ""


def test_an_empty_loss_plot_shows_its_hint_not_axes_until_data_comes(qtbot) -> None:
    """Before any run: one line in each panel, not axes from -0.05 to 0.05; the curves
    take its place at the first batch; a new run's reset shows a hint again."""
    plot = LossPlot(accuracy=True, hint="Loss curves appear here when fine-tuning starts")
    qtbot.addWidget(plot)

    def bare() -> list[bool]:
        plot.sync()
        return [
            not ax.yaxis.get_visible() and not ax.spines["left"].get_visible()
            for ax in (plot.ax, plot.acc_ax)
        ]

    assert plot.hint_shown() == "Loss curves appear here when fine-tuning starts"
    assert plot.accuracy.hint.get_text() == "Validation accuracy appears after the first epoch"
    assert bare() == [True, True] and not plot.ax.get_legend().get_visible()
    plot.reset(epochs=3, waiting="waiting for the first batches …")
    assert plot.hint_shown() == "waiting for the first batches …" and bare() == [True, True]
    plot.add_progress(1, 1, 10, 0.7)
    assert plot.hint_shown() == "" and bare() == [False, True]
    assert plot.ax.get_legend().get_visible()
    plot.add_epoch(1, 0.6, 0.65, 1, 0.8)
    assert plot.accuracy.hint.get_text() == "" and bare() == [False, False]
    plot.reset(epochs=3)  # cleared for a new run: the hints are back
    assert plot.hint_shown() == "Loss curves appear here when fine-tuning starts"
    assert bare() == [True, True]
    plot.reset(epochs=3, waiting="waiting for the first batches …")
    plot.finish("stopped", 0, 0)  # stopped before a batch: waiting no more
    assert plot.hint_shown() == "Loss curves appear here when fine-tuning starts"


def test_an_empty_confusion_matrix_shows_its_hint_and_takes_no_clicks(qtbot) -> None:
    plot = ConfusionPlot()
    qtbot.addWidget(plot)
    plot.resize(360, 320)
    plot.show()
    plot.flush()
    assert plot.hint_shown() == ConfusionPlot.HINT
    assert not plot.artists.image.get_visible() and not plot.ax.xaxis.get_visible()
    with qtbot.assertNotEmitted(plot.cellClicked):
        qtbot.mouseClick(plot, Qt.MouseButton.LeftButton, pos=plot.rect().center())
    plot.set_matrix(np.array([[5, 1], [2, 7]]))
    assert plot.hint_shown() == "" and plot.artists.image.get_visible()
    assert plot.artists.texts[1][1].get_text() == "7"
    plot.clear("Evaluate on my drawings to fill this in")
    assert plot.hint_shown() == "Evaluate on my drawings to fill this in"
    assert plot.artists.texts[1][1].get_text() == "" and not plot.filled


def test_an_empty_study_plot_shows_its_hint_until_a_cell_ends(qtbot) -> None:
    from gui.panels.compare_panel import StudyPlot

    plot = StudyPlot()
    qtbot.addWidget(plot)
    plot.sync()
    panels = plot.panels.values()
    assert [p.hint.get_text() for p in panels] == [StudyPlot.HINT] * len(panels)
    assert not any(p.axes.xaxis.get_visible() for p in panels)
    summary = {"table": {"mlp": {"100": {"scratch": _study_info(100)}}}}
    plot.update_summary(summary)
    plot.sync()
    assert plot.panels["mlp"].hint.get_text() == "" and plot.panels["mlp"].axes.xaxis.get_visible()
    assert plot.panels["conv"].hint.get_text() == StudyPlot.HINT  # nothing there yet


def _study_info(n_labels: int) -> dict:
    return {"n_labels": n_labels, "mean": 0.9, "std": 0.01}
