"""Draw panel: live even/odd prediction from strokes on the canvas, with a real tiny model.

The classifier is trained here, in seconds, on synthetic drawings that are easy to tell
apart: "odd" = a vertical bar (like a 1), "even" = a ring (like a 0). Both go through
`engine.data.preprocess.to_mnist`, as the canvas's drawings do, so the model is right about
strokes drawn with the mouse for the same reason a real model is right about digits.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from PySide6.QtCore import QEvent, QMimeData, QPoint, QPointF, Qt, QTimer, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QImage, QMouseEvent
from PySide6.QtWidgets import QApplication, QFileDialog

from engine.data.mnist import parity_word
from engine.data.preprocess import NothingDrawnError, load_image, preprocess_file, to_mnist
from gui.panels.draw_panel import BLANK_TEXT, NO_MODEL_TEXT, DrawPanel

torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------- the tiny model


def _synthetic(kind: str, rng: np.random.Generator) -> np.ndarray:
    """A bar or a ring drawn dark on white at random size, place and pen width."""
    side = 120
    img = Image.new("L", (side, side), 255)
    draw = ImageDraw.Draw(img)
    width = int(rng.integers(4, 14))
    cx, cy = rng.uniform(40, 80, size=2)
    half = rng.uniform(20, 45)
    if kind == "bar":
        tilt = rng.uniform(-0.25, 0.25) * half
        draw.line([(cx - tilt, cy - half), (cx + tilt, cy + half)], fill=0, width=width)
    else:
        rx = half * rng.uniform(0.5, 1.0)
        draw.ellipse([cx - rx, cy - half, cx + rx, cy + half], outline=0, width=width)
    return np.asarray(img)


@pytest.fixture(scope="module")
def classifier() -> torch.nn.Module:
    """A conv Classifier that says odd for bars and even for rings (P > 0.9 on both)."""
    from engine.config import ArchConfig
    from engine.data.preprocess import to_model_input
    from engine.learning.models import Classifier

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    kinds = ["bar", "ring"] * 150
    x = torch.from_numpy(
        np.concatenate([to_model_input(to_mnist(_synthetic(k, rng))) for k in kinds])
    )
    y = torch.tensor([1.0 if k == "bar" else 0.0 for k in kinds])  # odd = bar
    model = Classifier(ArchConfig("conv", latent=16, width=8, dropout=0.0, head_hidden=16))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny batches: more threads only fight other test workers
    try:
        model.train()
        for step in range(150):
            index = torch.from_numpy(np.random.default_rng(step).integers(0, len(x), 64))
            logits = model(x[index])
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, y[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    finally:
        torch.set_num_threads(threads)
    model.eval()
    with torch.no_grad():
        accuracy = float(((model(x) > 0).float() == y).float().mean())
    assert accuracy > 0.95, f"the test's tiny model did not learn bars vs rings ({accuracy})"
    return model


@pytest.fixture
def panel(qtbot, classifier) -> DrawPanel:
    widget = DrawPanel()
    qtbot.addWidget(widget)
    widget.resize(900, 520)
    widget.show()
    qtbot.waitExposed(widget)
    widget.set_classifier(classifier)
    return widget


# ----------------------------------------------------------------------- drawing


def _send_mouse(widget, kind: QEvent.Type, pos: QPointF, button, buttons) -> None:
    """Real QMouseEvents: QTest's mouseMove does not say that a button is held."""
    event = QMouseEvent(kind, pos, widget.mapToGlobal(pos), button, buttons,
                        Qt.KeyboardModifier.NoModifier)  # fmt: skip
    QApplication.sendEvent(widget, event)


def draw(canvas, points: list[tuple[float, float]]) -> None:
    """One stroke through `points`, given as fractions of the canvas's width and height."""
    w, h = canvas.width(), canvas.height()
    pos = [QPointF(x * w, y * h) for x, y in points]
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    _send_mouse(canvas, QEvent.Type.MouseButtonPress, pos[0], left, left)
    for p in pos[1:]:
        _send_mouse(canvas, QEvent.Type.MouseMove, p, none, left)
    _send_mouse(canvas, QEvent.Type.MouseButtonRelease, pos[-1], left, none)


def draw_bar(canvas) -> None:
    draw(canvas, [(0.5, 0.2 + 0.6 * i / 20) for i in range(21)])


def draw_ring(canvas) -> None:
    draw(canvas, [(0.5 + 0.22 * math.sin(t / 30 * 2 * math.pi),
                   0.5 - 0.32 * math.cos(t / 30 * 2 * math.pi)) for t in range(31)])  # fmt: skip


def has_parity_word(text: str) -> bool:
    return "even" in text.lower() or "odd" in text.lower()


# ------------------------------------------------------------------------- tests


def test_importing_the_panel_does_not_load_torch() -> None:
    code = "import sys, gui.panels.draw_panel; sys.exit('torch' in sys.modules)"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env).returncode == 0


def test_blank_canvas_asks_for_a_digit(panel) -> None:
    label = panel.findChild(type(panel.prediction_label), "predictionLabel")
    assert label is panel.prediction_label
    assert panel.predict_now() is None
    assert label.text() == BLANK_TEXT
    assert not has_parity_word(label.text())
    assert panel.model_input() is None


def test_drawing_predicts_live_and_correctly(panel, qtbot) -> None:
    label = panel.prediction_label
    with qtbot.waitSignal(panel.predictionChanged, timeout=2000) as blocker:
        draw_bar(panel.canvas)  # no predict_now: the throttled timer must do it
    parity, p_odd = blocker.args[0]
    assert parity == "odd" and p_odd > 0.5
    assert label.text().startswith("odd") and "P(odd) = " in label.text()
    panel.canvas.clear()
    draw_ring(panel.canvas)
    assert panel.predict_now()[0] == "even"
    assert label.text().startswith("even")


def test_clear_goes_back_to_draw_a_digit(panel, qtbot) -> None:
    draw_bar(panel.canvas)
    panel.predict_now()
    assert has_parity_word(panel.prediction_label.text())
    with qtbot.waitSignal(panel.predictionChanged, timeout=2000) as blocker:
        qtbot.mouseClick(panel.clear_button, Qt.MouseButton.LeftButton)
    assert blocker.args == [None]
    assert panel.prediction_label.text() == BLANK_TEXT
    assert panel.canvas.is_blank() and (panel.canvas.to_array() == 255).all()


def test_clear_and_undo_shortcuts_work_from_the_canvas(panel, qtbot) -> None:
    panel.activateWindow()
    draw_bar(panel.canvas)  # a press gives the canvas focus
    qtbot.waitUntil(panel.canvas.hasFocus, timeout=1000)
    qtbot.keyClick(panel.canvas, Qt.Key.Key_Delete)
    assert panel.canvas.is_blank()
    qtbot.keyClick(panel.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert panel.canvas.stroke_count() == 1  # Clear was undone


def test_no_model_says_so_but_still_shows_the_model_input(panel) -> None:
    panel.set_classifier(None)
    draw_bar(panel.canvas)
    assert panel.predict_now() is None
    assert panel.prediction_label.text() == NO_MODEL_TEXT
    assert not has_parity_word(panel.prediction_label.text())
    shown = panel.model_input()
    assert shown.shape == (28, 28) and shown.dtype == np.uint8 and shown.max() > 0  # the bar
    panel.canvas.clear()
    panel.predict_now()
    assert not has_parity_word(panel.prediction_label.text())


def test_undo_removes_the_last_stroke(panel) -> None:
    canvas = panel.canvas
    draw_bar(canvas)
    one_stroke = canvas.to_array()
    assert panel.undo_button.isEnabled()
    draw(canvas, [(0.2, 0.5), (0.8, 0.5)])
    assert canvas.stroke_count() == 2
    assert not np.array_equal(canvas.to_array(), one_stroke)
    panel.undo_button.click()
    assert canvas.stroke_count() == 1
    assert np.array_equal(canvas.to_array(), one_stroke)  # replay is pixel-exact
    canvas.undo()
    assert canvas.is_blank() and not panel.undo_button.isEnabled()
    assert panel.predict_now() is None
    assert panel.prediction_label.text() == BLANK_TEXT


def test_preview_is_exactly_what_the_model_sees(panel) -> None:
    draw_ring(panel.canvas)
    panel.predict_now()
    expected = to_mnist(panel.canvas.to_array())
    assert np.array_equal(panel.model_input(), expected)
    shown = panel.preview.pixmap().toImage().convertToFormat(QImage.Format.Format_Grayscale8)
    scale = shown.width() // 28
    assert shown.width() == shown.height() == 28 * scale
    sampled = np.array([[shown.pixelColor(c * scale + scale // 2, r * scale + scale // 2).red()
                         for c in range(28)] for r in range(28)])  # fmt: skip
    assert np.array_equal(sampled, expected)


def test_canvas_is_dark_ink_on_white_and_brush_size_matters(panel) -> None:
    canvas = panel.canvas
    blank = canvas.to_array()
    assert blank.dtype == np.uint8 and blank.ndim == 2 and (blank == 255).all()
    with pytest.raises(NothingDrawnError):
        to_mnist(blank)
    panel.brush_slider.setValue(6)
    assert canvas.brush_size() == 6 and canvas.property("brushSize") == 6
    draw_bar(canvas)
    thin = int((canvas.to_array() < 128).sum())
    canvas.clear()
    panel.brush_slider.setValue(30)
    draw_bar(canvas)
    arr = canvas.to_array()
    assert arr.min() < 40  # dark ink
    assert (arr < 128).sum() > 3 * thin
    assert 0 < (arr < 128).mean() < 0.5


def test_a_click_leaves_a_dot(panel) -> None:
    draw(panel.canvas, [(0.3, 0.3)])
    assert (panel.canvas.to_array() < 128).sum() > 10


def test_moving_the_pen_repaints_only_a_small_rectangle(panel, qtbot) -> None:
    canvas = panel.canvas
    rects = []
    original = canvas.paintEvent

    def spy(event) -> None:
        rects.append(event.rect())
        original(event)

    canvas.paintEvent = spy
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    _send_mouse(canvas, QEvent.Type.MouseButtonPress, QPointF(100, 100), left, left)
    qtbot.waitUntil(lambda: bool(rects), timeout=1000)  # the dot (and anything pending)
    rects.clear()
    _send_mouse(canvas, QEvent.Type.MouseMove, QPointF(110, 104), none, left)
    qtbot.waitUntil(lambda: bool(rects), timeout=1000)
    area = canvas.width() * canvas.height()
    assert all(r.width() * r.height() < area / 20 for r in rects), rects
    _send_mouse(canvas, QEvent.Type.MouseButtonRelease, QPointF(110, 104), left, none)


def test_changes_are_coalesced_into_few_predictions(panel, qtbot, monkeypatch) -> None:
    import engine.data.preprocess

    calls = []
    real = engine.data.preprocess.to_mnist
    monkeypatch.setattr(engine.data.preprocess, "to_mnist", lambda a: calls.append(1) or real(a))
    with qtbot.waitSignal(panel.predictionChanged, timeout=5_000):
        draw_ring(panel.canvas)  # ~30 change signals in a burst
    assert len(calls) == 1  # one prediction for the whole burst ...
    assert not any(t.isActive() for t in panel.findChildren(QTimer))  # ... none to come
    parity, p_odd = panel.prediction()
    assert parity in ("even", "odd") and parity == parity_word(p_odd)


def write_png(path: Path, kind: str) -> Path:
    Image.fromarray(_synthetic(kind, np.random.default_rng(1))).save(path)
    return path


def test_open_image_uses_the_cli_pipeline(panel, tmp_path, monkeypatch) -> None:
    path = write_png(tmp_path / "bar.png", "bar")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(path), ""))
    panel.open_button.click()
    assert np.array_equal(panel.model_input(), preprocess_file(path))
    assert panel.prediction()[0] == "odd"
    assert "bar.png" in panel.status_label.text()
    draw(panel.canvas, [(0.1, 0.9), (0.9, 0.9)])  # drawing over it: the canvas counts now
    assert panel.canvas.loaded_array() is None
    panel.predict_now()
    assert np.array_equal(panel.model_input(), to_mnist(panel.canvas.to_array()))
    panel.canvas.undo()  # back to the file as opened
    panel.predict_now()
    assert np.array_equal(panel.canvas.loaded_array(), load_image(path))


def test_opening_a_non_image_keeps_the_previous_prediction(panel, tmp_path, shown_errors) -> None:
    draw_ring(panel.canvas)
    before = panel.predict_now()
    before_text, before_input = panel.prediction_label.text(), panel.model_input()
    before_pixels = panel.canvas.to_array()
    bad = tmp_path / "notes.txt"
    bad.write_text("this is not a picture\n")
    emitted = []
    panel.predictionChanged.connect(emitted.append)
    assert panel.open_image(str(bad)) is False
    assert len(shown_errors) == 1 and "notes.txt" in shown_errors[0][0]
    assert "notes.txt" in panel.status_label.text()
    assert panel.prediction() == before and panel.prediction_label.text() == before_text
    assert np.array_equal(panel.model_input(), before_input)
    assert np.array_equal(panel.canvas.to_array(), before_pixels)
    panel.predict_now()
    assert emitted == [] and panel.prediction() == before


def _drag_enter(widget, mime: QMimeData) -> bool:
    """Whether `widget` accepts a drag of `mime` (Qt delivers a drop only after this)."""
    event = QDragEnterEvent(QPoint(50, 50), Qt.DropAction.CopyAction, mime,
                            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)  # fmt: skip
    QApplication.sendEvent(widget, event)
    return event.isAccepted()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # PySide flags QDragEnterEvent(...)
def test_dropping_a_file_on_the_canvas_opens_it(panel, tmp_path, shown_errors) -> None:
    path = write_png(tmp_path / "ring.png", "ring")
    text_only = QMimeData()
    text_only.setText("7")
    assert not _drag_enter(panel.canvas, text_only)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    assert _drag_enter(panel.canvas, mime)
    event = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)  # fmt: skip
    QApplication.sendEvent(panel.canvas, event)
    assert shown_errors == []
    assert panel.prediction()[0] == "even"
    assert np.array_equal(panel.model_input(), preprocess_file(path))


def test_checkpoints_and_autoencoder_reconstruction(panel, classifier) -> None:
    # Checkpoints are built in memory: what is under test is how the panel takes them,
    # not the file format (tests of engine.store.checkpoint cover saving and loading).
    from engine.learning.models import Autoencoder
    from engine.store.checkpoint import Checkpoint

    arch = classifier.cfg
    clf = Checkpoint("classifier", classifier, arch, path=Path("clf.pt"))
    autoencoder = Autoencoder(arch).eval()
    ae = Checkpoint("autoencoder", autoencoder, arch, path=Path("ae.pt"))
    draw_bar(panel.canvas)
    panel.set_classifier(clf)
    assert panel.prediction()[0] == "odd"
    assert "clf.pt" in panel.status_label.text()
    with pytest.raises(ValueError, match="autoencoder"):
        panel.set_classifier(ae)
    with pytest.raises(TypeError):
        panel.set_classifier("model.pt")
    assert not panel.reconstruction.isVisible()
    panel.set_autoencoder(ae)
    assert panel.reconstruction.isVisible()
    assert panel.reconstruction.pixmap().size() == panel.preview.pixmap().size()
    panel.set_autoencoder(None)
    assert not panel.reconstruction.isVisible()
    panel.set_autoencoder(autoencoder)
    assert panel.reconstruction.isVisible()
    shown = panel.reconstruction.pixmap().toImage().convertToFormat(QImage.Format.Format_Grayscale8)
    with torch.no_grad():
        x = torch.from_numpy(panel.model_input()).float().div(255).reshape(1, 1, 28, 28)
        expected = autoencoder(x).reshape(28, 28).numpy() * 255
    scale = shown.width() // 28
    assert abs(shown.pixelColor(scale * 14 + 1, scale * 14 + 1).red() - expected[14, 14]) <= 1
    panel.set_autoencoder(clf)  # no decoder in a classifier: nothing to show
    assert not panel.reconstruction.isVisible()


def test_panel_keeps_its_own_eval_copy_of_the_model(panel, classifier) -> None:
    classifier.train()
    try:
        panel.set_classifier(classifier)
        draw_bar(panel.canvas)
        first = panel.predict_now()
        assert classifier.training  # the caller's model was not switched to eval
        assert panel.predict_now() == first  # deterministic: no dropout in the copy
    finally:
        classifier.eval()


def test_a_model_that_does_not_fit_shows_a_message_not_a_parity(panel) -> None:
    panel.set_classifier(torch.nn.Linear(3, 1))  # a torch module, but not for 28×28 images
    draw_bar(panel.canvas)
    assert panel.predict_now() is None
    assert not has_parity_word(panel.prediction_label.text())
    assert "model failed" in panel.status_label.text()
