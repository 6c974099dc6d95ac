"""The figure builders (engine.reports.figures): each gives the artists it promises, and the
reports and the live tabs draw with the same builders."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from engine.events import EpochEnd
from engine.reports import figures
from engine.study import figures as study_figures
from engine.study.settings import WAY_LABELS, WAYS, Cell, StudySettings
from engine.study.stats import summarize


def _history(losses: list[tuple[float, float]], best: int) -> list[EpochEnd]:
    return [
        EpochEnd("pretrain", epoch, len(losses), train, val, best_epoch=best, best_val_loss=val)
        for epoch, (train, val) in enumerate(losses, start=1)
    ]


def _legend(axes) -> list[str]:
    legend = axes.get_legend()
    return [text.get_text() for text in legend.get_texts()] if legend else []


def test_loss_figure_has_a_panel_per_phase_with_its_curves_and_best_epoch() -> None:
    histories = {
        "pretraining (MSE)": _history([(0.3, 0.2), (0.1, 0.09), (0.05, 0.1)], best=2),
        "fine-tuning (BCE)": _history([(0.7, 0.6)], best=1),
    }
    figure = figures.loss_figure(histories)
    first, second = figure.axes
    assert [first.get_title(), second.get_title()] == list(histories)
    train, val = (line for line in first.get_lines() if line.get_label() in ("train", "validation"))
    assert list(train.get_xdata()) == [1, 2, 3] and list(train.get_ydata()) == [0.3, 0.1, 0.05]
    assert list(val.get_ydata()) == [0.2, 0.09, 0.1]
    assert _legend(first) == ["train", "validation"]  # no empty running line in a report
    assert first.get_yscale() == "log" and first.get_ylabel() == "loss"
    best = [t.get_text() for t in first.texts if t.get_text()]
    assert best == ["best epoch 2"]
    visible_vertical = [
        line.get_xdata()[0]
        for line in first.get_lines()
        if line.get_visible() and len(set(line.get_xdata())) == 1 and len(line.get_xdata()) == 2
    ]
    assert visible_vertical == [2]
    assert figures.figure_png(figure).startswith(b"\x89PNG")


def test_live_loss_curves_add_the_running_loss_and_mark_an_early_stop() -> None:
    axes = Figure().add_subplot()
    artists = figures.loss_axes(axes, "loss", figures.PANEL, running=True)
    assert _legend(axes) == ["train (running)", "train", "validation"]
    artists.show_running([0.5, 1.0], [0.4, 0.3])
    artists.show_epochs([1, 2], [0.3, 0.2], [0.25, 0.26], best_epoch=1)
    artists.show_end("early_stopped", epochs_run=2, best_epoch=1)
    assert list(artists.running.get_ydata()) == [0.4, 0.3]
    assert artists.stop.get_visible() and list(artists.stop.get_xdata()) == [2, 2]
    assert artists.note.get_text() == "best epoch 1 · early stop after epoch 2"
    artists.clear("waiting")
    assert len(artists.train.get_xdata()) == 0 and not artists.best.get_visible()
    assert artists.waiting.get_text() == "waiting"


def test_a_run_keeping_its_last_weights_has_no_best_epoch_on_its_curves() -> None:
    """Below all labels nothing is chosen by validation: the lowest validation loss is
    marked as what it is, in the live curves and the report alike."""
    axes = Figure().add_subplot()
    artists = figures.loss_axes(axes, "loss", figures.PANEL, running=True)
    artists.show_epochs([1, 2], [0.3, 0.2], [0.25, 0.26], best_epoch=1, keeps_best=False)
    assert artists.note.get_text() == "lowest val. loss: epoch 1"
    artists.show_end("stopped", epochs_run=2, best_epoch=1, keeps_best=False)
    assert artists.note.get_text() == "lowest val. loss: epoch 1 · stopped after epoch 2"
    history = [
        dataclasses.replace(event, keeps_best=False)
        for event in _history([(0.3, 0.2), (0.1, 0.25)], best=1)
    ]
    report = figures.loss_figure({"fine-tuning (BCE)": history})
    assert [t.get_text() for t in report.axes[0].texts if t.get_text()] == [
        "lowest val. loss: epoch 1"
    ]


def test_confusion_figure_shows_each_count_in_its_cell() -> None:
    matrix = np.array([[130, 120], [10, 240]])
    figure = figures.confusion_figure(matrix)
    (axes,) = figure.axes
    image = axes.get_images()[0]
    assert np.array_equal(image.get_array(), matrix)
    assert image.get_clim() == (0, 240)  # shades from zero, as in the app
    counts = [t for t in axes.texts if t.get_text()]  # not the (empty) hint of a live matrix
    by_cell = {(round(t.get_position()[1]), round(t.get_position()[0])): t for t in counts}
    assert {cell: int(t.get_text()) for cell, t in by_cell.items()} == {
        (0, 0): 130, (0, 1): 120, (1, 0): 10, (1, 1): 240,
    }  # fmt: skip
    assert by_cell[1, 1].get_color() == "white" and by_cell[1, 0].get_color() == "black"
    assert [t.get_text() for t in axes.get_xticklabels()] == ["even", "odd"]
    assert axes.get_title() == "confusion matrix (test set)"


def test_digit_grid_places_each_digit_and_caption() -> None:
    figure = Figure()
    grid = figures.digit_grid(figure, 2, 3, figures.PANEL, title="t", empty="none yet")
    images = np.stack([np.full((28, 28), 50 * i, np.uint8) for i in range(1, 5)])
    shown = grid.show(images, ["a", "b", "c", "d"], ["tab:red"] * 4, title="four")
    assert shown == 4 and grid.title.get_text() == "four"
    picture = grid.image.get_array()
    top = figures.GAP + figures.TILE + figures.LABEL_BAND + figures.GAP  # second row
    assert picture[top + 5, figures.GAP + 5] == pytest.approx(200 / 255)  # the 4th digit
    assert [t.get_text() for t in grid.captions] == ["a", "b", "c", "d", "", ""]
    assert not grid.empty.get_visible()
    assert grid.show(np.zeros((0, 28, 28))) == 0 and grid.empty.get_visible()


DRAWN = ("scratch", "frozen", "finetune")


def _cells() -> list[Cell]:
    """Two budgets, two seeds, the first three ways (the study has more)."""
    cells = []
    for way, base in zip(DRAWN, (0.90, 0.85, 0.92), strict=True):
        for budget, n, bonus in (("100", 100, 0.0), ("all", 1000, 0.05)):
            for seed in range(2):
                acc = base + bonus + 0.01 * seed
                cells.append(
                    Cell("mlp", budget, n, seed, way, acc, acc, 10, 10, None, "completed", 1, 0, "")
                )
    return cells


def test_study_figure_draws_a_line_per_way_with_the_reports_legend() -> None:
    settings = StudySettings(budgets=(100, None), seeds=2, families=("mlp",))
    figure = study_figures.accuracy_figure(summarize(_cells(), settings), settings)
    (axes,) = figure.axes
    assert _legend(axes) == [WAY_LABELS[way] for way in DRAWN]  # the ways with results
    lines = {line.get_label(): line for line in axes.get_lines()}
    scratch = lines[WAY_LABELS["scratch"]]
    assert list(scratch.get_xdata()) == [100, 1000]
    assert list(scratch.get_ydata()) == pytest.approx([90.5, 95.5])
    colors = [to_hex(lines[WAY_LABELS[way]].get_color()) for way in DRAWN]
    assert colors == [to_hex(study_figures.WAY_STYLES[way][0]) for way in DRAWN]
    assert [t.get_text() for t in axes.get_xticklabels()] == ["100", "1,000"]
    assert axes.get_title() == "MLP encoder" and axes.get_ylabel() == "test accuracy (%)"


def test_every_way_has_its_own_style_and_an_unknown_way_is_drawn_too() -> None:
    styles = [study_figures.WAY_STYLES[way] for way in WAYS]
    assert len(set(styles)) == len(WAYS)  # a new way in WAYS needs its own style here
    axes = Figure().add_subplot()
    panel = study_figures.study_axes(axes, "conv", "accuracy", figures.REPORT)
    info = {"n_labels": 100, "mean": 0.9, "std": 0.01, "mean_steps_to_target": None}
    panel.show(study_figures.accuracy_points({"100": {"scratch": info, "newway": info}}))
    assert _legend(axes) == [WAY_LABELS["scratch"], "newway"]  # only ways with data
    colors = {to_hex(w.line.get_color()) for w in panel.ways.values()}
    assert len(colors) == 2
    segments = panel.ways["newway"].bars.get_segments()
    assert [list(map(tuple, s)) for s in segments] == [[(100, 89.0), (100, 91.0)]]


# ------------------------------------------------------ the reports and the tabs agree


@pytest.fixture
def builder_calls(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Record which figure builders are called (by the reports and the tabs alike)."""
    calls: dict[str, list[str]] = {}
    for module, name in (
        (figures, "loss_axes"),
        (figures, "confusion_axes"),
        (figures, "digit_grid"),
        (study_figures, "study_panels"),
    ):
        original = getattr(module, name)

        def recording(*args, _name=name, _original=original, **kwargs):
            calls.setdefault(_name, []).append("called")
            return _original(*args, **kwargs)

        monkeypatch.setattr(module, name, recording)
    return calls


def test_the_run_report_draws_with_the_builders(builder_calls) -> None:
    figures.loss_figure({"pretraining": _history([(0.3, 0.2)], best=1)})
    figures.confusion_figure(np.eye(2, dtype=int))
    figures.digits_figure(np.zeros((3, 28, 28), np.uint8), ["1", "2", "3"])
    settings = StudySettings(budgets=(100, None), seeds=2, families=("mlp",))
    study_figures.accuracy_figure(summarize(_cells(), settings), settings)
    assert set(builder_calls) == {"loss_axes", "confusion_axes", "digit_grid", "study_panels"}


def test_the_live_tabs_draw_with_the_same_builders(qtbot, builder_calls) -> None:
    from gui.panels.compare_panel import StudyPlot
    from gui.widgets.plots import ConfusionPlot, ImageGrid, LossPlot

    for widget in (LossPlot(accuracy=True), ConfusionPlot(), ImageGrid(2, 8), StudyPlot()):
        qtbot.addWidget(widget)
    assert set(builder_calls) == {"loss_axes", "confusion_axes", "digit_grid", "study_panels"}


def test_the_study_report_and_the_compare_tab_plot_the_same_numbers(qtbot, tmp_path) -> None:
    from engine.study.report import write_outputs
    from engine.study.settings import StudyResult
    from gui.panels.compare_panel import StudyPlot

    settings = StudySettings(budgets=(100, None), seeds=2, families=("mlp",))
    summary = summarize(_cells(), settings)
    report_axes = study_figures.accuracy_figure(summary, settings).axes[0]
    plot = StudyPlot()
    qtbot.addWidget(plot)
    plot.reset(("mlp",))
    plot.update_summary(summary)
    for way in DRAWN:
        line = next(x for x in report_axes.get_lines() if x.get_label() == WAY_LABELS[way])
        assert plot.series("mlp", way) == (list(line.get_xdata()), list(line.get_ydata()))
    assert plot.series("mlp", "finetune_unlabelled") == ([], [])  # no results: no line
    assert _legend(plot.panels["mlp"].axes) == _legend(report_axes)
    files = write_outputs(tmp_path, StudyResult(settings, _cells(), status="completed"))
    assert files["plot"].read_bytes().startswith(b"\x89PNG")
