"""First launch: the shipped default model is loaded in the background and the Draw tab
predicts with it at once, with no data folder and no network."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_gui_draw import draw_bar, draw_ring

from engine.store.resources import default_model_path
from gui.main_window import MainWindow

pytestmark = pytest.mark.skipif(
    not default_model_path().is_file(), reason="no default model in resources/default_model"
)


def test_default_model_loads_and_draw_tab_predicts(qtbot):
    window = MainWindow()
    qtbot.addWidget(window)
    assert window.state.classifier is None
    finished = []
    assert window.load_default_model(then=lambda: finished.append(True))
    qtbot.waitUntil(lambda: bool(finished), timeout=30_000)
    assert window.state.classifier is not None
    assert Path(window.state.classifier.path) == default_model_path()
    assert window.state.decoder_model() is not None  # the shipped autoencoder, for Draw

    panel = window.draw_panel
    label = panel.prediction_label
    draw_bar(panel.canvas)  # a "1"
    panel.predict_now()
    assert "odd" in label.text()
    panel.canvas.clear()
    draw_ring(panel.canvas)  # a "0"
    panel.predict_now()
    assert "even" in label.text()


def test_default_model_does_not_replace_an_opened_classifier(qtbot):
    window = MainWindow()
    qtbot.addWidget(window)
    window.state.model.classifier = sentinel = object()
    finished = []
    assert not window.load_default_model(then=lambda: finished.append(True))
    assert finished and window.state.classifier is sentinel


def test_all_tabs_in_workflow_order_and_one_shared_runner(qtbot):
    window = MainWindow()
    qtbot.addWidget(window)
    titles = [window.tabs.tabText(i) for i in range(window.tabs.count())]
    assert titles == ["Data", "Pretrain", "Label", "Fine-tune", "Evaluate", "Draw", "Compare"]
    assert window.compare_panel.runner is window.state.runner  # one heavy job at a time
    from gui.state.signals import JobTab

    job_tabs = [window.tabs.widget(i) for i in range(7) if i != 5]  # all but Draw
    assert all(isinstance(tab, JobTab) for tab in job_tabs)
    assert not isinstance(window.draw_panel, JobTab)  # it runs no jobs
