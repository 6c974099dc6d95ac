"""The Pretrain tab's latent map: a PCA map per epoch during pretraining, t-SNE after it
(or after opening an encoder) computed off the GUI thread, stale results dropped,
hovering shows the digit, and the colouring switch recolours and is remembered."""

from __future__ import annotations

import multiprocessing
import threading

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from engine.events import LatentMap
from engine.learning.child import child_process
from gui.main_window import MainWindow


@pytest.fixture
def window(qtbot, monkeypatch, answer_quit):
    """The app window as conftest makes it; at the end it also waits for the t-SNE child."""
    from gui.state import errors

    monkeypatch.setattr(errors, "show_error", lambda *args, **kwargs: None)
    win = MainWindow()
    qtbot.addWidget(win, before_close_func=lambda w: w.state.runner.shutdown())
    yield win
    win.state.runner.shutdown()
    projector = win.pretrain_panel.latent_map.projector
    qtbot.waitUntil(lambda: not projector.is_busy(), timeout=60_000)


def shown_maps(panel) -> list[LatentMap]:
    """Every map the panel shows from now on, in order."""
    maps: list[LatentMap] = []
    show = panel.show_map

    def recording_show(latent_map: LatentMap) -> None:
        maps.append(latent_map)
        show(latent_map)

    panel.show_map = recording_show
    return maps


def a_map(loaded, n: int = 60) -> LatentMap:
    """A hand-made map of the first `n` validation images, on a diagonal line."""
    indices = loaded.split.val[:n].numpy()
    digits = loaded.mnist.train_labels[indices].numpy().astype(np.int64)
    points = np.stack([np.arange(n), np.arange(n) * 0.5], axis=1).astype(np.float32)
    return LatentMap("PCA", points, indices, digits, knn_accuracy=0.75, epoch=2)


def test_pretraining_maps_each_epoch_then_tsne_replaces_pca(
    window, qtbot, loaded, draw_threads
) -> None:
    window.state.set_data(loaded)
    panel = window.pretrain_panel
    window.tabs.setCurrentWidget(panel)
    window.resize(1300, 850)
    window.show()
    latent = panel.latent_map
    maps = shown_maps(latent)
    panel.epochs.setValue(2)
    panel.batch.setValue(64)
    panel.latent.setValue(16)
    with qtbot.waitSignal(window.state.runner.succeeded, timeout=90_000):
        assert panel.start()
    qtbot.waitUntil(lambda: bool(maps) and maps[-1].projection == "t-SNE", timeout=60_000)
    assert [(m.projection, m.epoch) for m in maps] == [
        ("PCA", 1),
        ("PCA", 2),
        ("PCA", 0),  # the kept (best) weights, again, at once
        ("t-SNE", 0),
    ]
    n_val = len(loaded.split.val)
    assert all(len(m.points) == n_val for m in maps)  # tiny data: all validation images
    assert latent.scatter.map is maps[-1]
    text = latent.info.text()
    assert "t-SNE of" in text and "autoencoder trained here" in text
    assert f"digit accuracy on codes: {maps[-1].knn_accuracy:.1%}" in text
    assert "computing" not in text
    qtbot.waitUntil(lambda: latent.scatter._shown is not None, timeout=10_000)
    assert draw_threads and threading.get_ident() not in draw_threads


def test_while_pca_is_shown_the_panel_says_tsne_is_coming(window, qtbot, loaded) -> None:
    window.state.set_data(loaded)
    latent = window.pretrain_panel.latent_map
    latent.source = "a test encoder"
    latent.projector.generation = 7
    latent._projected(a_map(loaded), 7)
    assert "PCA of 60 validation codes (a test encoder, epoch 2)" in latent.info.text()
    assert "t-SNE computing" in latent.info.text()
    assert "75.0%" in latent.info.text()


def test_opening_an_encoder_file_maps_it_in_the_background(window, qtbot, loaded, tmp_path):
    from engine.config import ArchConfig
    from engine.learning.models import Autoencoder
    from engine.store.checkpoint import save_checkpoint

    arch = ArchConfig(arch="mlp", latent=8, dropout=0.0)
    path = tmp_path / "mine.pt"
    save_checkpoint(path, Autoencoder(arch), arch, kind="encoder")
    window.state.set_data(loaded)
    latent = window.pretrain_panel.latent_map
    maps = shown_maps(latent)
    assert window.open_checkpoint("encoder", str(path))
    qtbot.waitUntil(lambda: bool(maps) and maps[-1].projection == "t-SNE", timeout=60_000)
    assert [m.projection for m in maps] == ["PCA", "t-SNE"]
    assert "encoder file mine.pt" in latent.info.text()


def test_a_map_made_stale_by_a_new_pretraining_is_dropped(window, qtbot, loaded) -> None:
    from engine.config import ArchConfig
    from engine.learning.models import build_encoder

    window.state.set_data(loaded)
    latent = window.pretrain_panel.latent_map
    maps = shown_maps(latent)
    latent.map_encoder(build_encoder(ArchConfig(arch="mlp", latent=8)), "an old encoder")
    latent.training_started()  # before the thread could deliver anything
    qtbot.waitUntil(lambda: not latent.projector.is_busy(), timeout=60_000)
    qtbot.wait(50)  # let any queued (stale) signal arrive
    assert maps == []
    assert latent.scatter.map is None
    assert "first epoch" in latent.scatter.waiting.get_text()
    # no t-SNE started for it, or killed (the child kept for choosing images may run)
    kept = child_process()
    assert [c for c in multiprocessing.active_children() if c is not kept] == []


def running_tsne(latent, qtbot):
    """Wait until the projector's t-SNE child process runs; returns it."""
    qtbot.waitUntil(lambda: latent.projector.child() is not None, timeout=60_000)
    child = latent.projector.child()
    assert child is not None and child.is_alive()
    return child


def test_a_new_encoder_kills_the_t_sne_of_the_old_one(window, qtbot, loaded) -> None:
    from engine.config import ArchConfig
    from engine.learning.models import build_encoder

    window.state.set_data(loaded)
    latent = window.pretrain_panel.latent_map
    maps = shown_maps(latent)
    latent.map_encoder(build_encoder(ArchConfig(arch="mlp", latent=8)), "an old encoder")
    old = running_tsne(latent, qtbot)
    latent.map_encoder(build_encoder(ArchConfig(arch="mlp", latent=4)), "a new encoder")
    qtbot.waitUntil(lambda: not old.is_alive(), timeout=1_000)  # killed, not waited for
    qtbot.waitUntil(lambda: bool(maps) and maps[-1].projection == "t-SNE", timeout=60_000)
    # the old encoder's PCA map (if it came before the new request), then the new one's
    assert [m.projection for m in maps][-2:] == ["PCA", "t-SNE"]
    assert [m.projection for m in maps].count("t-SNE") == 1
    assert "a new encoder" in latent.info.text()


def test_closing_the_window_kills_a_running_t_sne(window, qtbot, loaded) -> None:
    from engine.config import ArchConfig
    from engine.learning.models import build_encoder

    window.state.set_data(loaded)
    latent = window.pretrain_panel.latent_map
    latent.map_encoder(build_encoder(ArchConfig(arch="mlp", latent=8)), "an encoder")
    child = running_tsne(latent, qtbot)
    window.close()
    assert not child.is_alive()
    assert multiprocessing.active_children() == []
    assert not latent.projector.is_busy()
    assert not [t for t in threading.enumerate() if t.name == "latent-map"]
    latent.map_encoder(build_encoder(ArchConfig(arch="mlp", latent=8)), "too late")
    assert not latent.projector.is_busy()  # closed: no new thread, no new child


def test_hovering_a_point_shows_its_digit(window, qtbot, loaded) -> None:
    window.state.set_data(loaded)
    latent = window.pretrain_panel.latent_map
    window.tabs.setCurrentWidget(window.pretrain_panel)
    window.resize(1300, 850)
    window.show()
    qtbot.waitExposed(window)
    latent_map = a_map(loaded)
    latent.show_map(latent_map)
    scatter = latent.scatter
    for i in (0, 31, 59):
        x, y = scatter.widget_positions()[i]
        move = QMouseEvent(
            QEvent.Type.MouseMove,
            QPointF(x, y),
            scatter.mapToGlobal(QPointF(x, y)),
            Qt.MouseButton.NoButton,
            Qt.MouseButton.NoButton,
            Qt.KeyboardModifier.NoModifier,
        )
        QApplication.sendEvent(scatter, move)  # a hover: no button pressed
        assert scatter.selected == i
        digit = int(latent_map.digits[i])
        assert latent.preview_text.text().startswith(f"Digit {digit} (")
        assert f"#{int(latent_map.indices[i])}" in latent.preview_text.text()
        assert not latent.preview.pixmap().isNull()
    latent._clear_preview()
    x, y = scatter.widget_positions()[10]
    qtbot.mouseClick(scatter, Qt.MouseButton.LeftButton, pos=QPoint(round(x), round(y)))
    assert scatter.selected == 10 and latent.preview_text.text().startswith("Digit ")
    assert scatter.point_at(QPoint(2, scatter.height() - 2).toPointF()) == -1  # empty corner


def test_colouring_switch_recolours_and_is_remembered(window, qtbot, loaded) -> None:
    from engine.reports.figures import digit_colours, parity_colours

    window.state.set_data(loaded)
    latent = window.pretrain_panel.latent_map
    latent_map = a_map(loaded)
    latent.show_map(latent_map)
    latent.scatter.sync()
    colours = latent.scatter.points.get_facecolors()
    np.testing.assert_allclose(colours, digit_colours(latent_map.digits))
    latent.colour_combo.setCurrentText("even/odd")
    latent.scatter.sync()
    colours = latent.scatter.points.get_facecolors()
    np.testing.assert_allclose(colours, parity_colours(latent_map.digits))
    other = MainWindow()
    qtbot.addWidget(other)
    assert other.pretrain_panel.latent_map.colour_combo.currentText() == "even/odd"
    assert other.pretrain_panel.latent_map.scatter.colouring == "even/odd"


def test_the_tab_and_the_report_draw_the_same_map(window, loaded) -> None:
    """One builder (engine.reports.figures.latent_axes): the same points, colours, limits
    and digit names on the tab as in the report's latent_map.png."""
    from engine.reports.latent import map_figure

    latent_map = a_map(loaded)
    report = map_figure([latent_map]).axes[0]
    scatter = window.pretrain_panel.latent_map.scatter
    scatter.set_map(latent_map)
    scatter.sync()
    tab = scatter.ax
    np.testing.assert_allclose(
        tab.collections[0].get_offsets(), report.collections[0].get_offsets()
    )
    np.testing.assert_allclose(
        tab.collections[0].get_facecolors(), report.collections[0].get_facecolors()
    )
    assert tab.get_xlim() == report.get_xlim() and tab.get_ylim() == report.get_ylim()
    assert tab.get_xlim() == scatter.limits[:2]  # hovering maps points with these limits

    def names(axes) -> list[tuple[str, tuple[float, float]]]:
        return [(t.get_text(), t.get_position()) for t in axes.texts[:10] if t.get_visible()]

    assert names(tab) == names(report)
    assert len(names(tab)) == len(set(latent_map.digits.tolist()))
