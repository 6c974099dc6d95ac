"""Screenshots of My drawings from the running app: the Draw tab's gallery, and the
Evaluate tab scored on the drawings.

The app starts with the shipped model; 24 simulated canvas drawings (MNIST test digits
re-drawn by `engine.data.drawings`: random canvas size, place, pen width, blur) are opened on
the canvas one by one and saved with "Mark even"/"Mark odd" (the parity of their digit),
then a 7 is drawn with the (simulated) mouse and left on the canvas. Settings and the
drawings go to a new temporary folder, printed at the end, never the user's. Run on a
screen, e.g.
    xvfb-run -a -s "-screen 0 1400x900x24" python bench/drawings_screenshot.py [MNIST_DIR]
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = Path(tempfile.mkdtemp(prefix="evenodd-drawings-shots-"))
os.environ["EVENODD_SETTINGS_FILE"] = str(OUT / "settings.ini")
os.environ["EVENODD_DRAWINGS_DIR"] = str(OUT / "drawings")
sys.path.insert(0, str(ROOT))

from PySide6.QtCore import QEvent, QPointF, Qt  # noqa: E402
from PySide6.QtGui import QMouseEvent  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

DATA = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "mnist"


def wait(app: QApplication, done) -> None:
    while not done():
        app.processEvents()


def stroke(canvas, points: list[tuple[float, float]]) -> None:
    """One pen stroke through `points` (fractions of the canvas), as mouse events."""
    w, h = canvas.width(), canvas.height()
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    for i, (x, y) in enumerate(points):
        kind = QEvent.Type.MouseButtonPress if i == 0 else QEvent.Type.MouseMove
        if i == len(points) - 1:
            kind = QEvent.Type.MouseButtonRelease
        button = left if kind != QEvent.Type.MouseMove else none
        buttons = none if kind == QEvent.Type.MouseButtonRelease else left
        pos = QPointF(x * w, y * h)
        event = QMouseEvent(
            kind, pos, canvas.mapToGlobal(pos), button, buttons, Qt.KeyboardModifier.NoModifier
        )
        QApplication.sendEvent(canvas, event)


def main() -> None:
    app = QApplication(["evenodd-studio"])
    from engine.data.drawings import simulate_drawings
    from engine.data.mnist import read_folder
    from gui.main_window import MainWindow
    from gui.widgets.plots import LiveCanvas

    window = MainWindow()
    window.resize(1300, 850)
    window.show()
    loaded = []
    window.load_default_model(then=lambda: loaded.append(True))
    wait(app, lambda: bool(loaded))
    panel = window.draw_panel
    window.tabs.setCurrentWidget(panel)
    wait(app, panel.drawings.loaded)

    mnist = read_folder(DATA)
    canvases, digits = simulate_drawings(
        mnist.test_images.numpy(), mnist.test_labels.numpy(), 24, seed=3
    )
    for canvas, digit in zip(canvases, digits, strict=True):
        panel.canvas.load_array(canvas)
        panel.predict_now()
        assert panel.mark("odd" if digit % 2 else "even")
        wait(app, lambda: not panel.drawings.busy())
    panel.canvas.clear()
    steps = 12
    top = [(0.3 + 0.4 * i / steps, 0.25) for i in range(steps + 1)]
    down = [(0.7 - 0.25 * i / steps, 0.25 + 0.55 * i / steps) for i in range(1, steps + 1)]
    stroke(panel.canvas, top + down)  # a 7, in one stroke
    panel.predict_now()
    app.processEvents()
    window.grab().save(str(OUT / "drawings.png"))

    window.tabs.setCurrentWidget(window.evaluate_panel)
    window.evaluate_panel.evaluate_drawings()
    wait(app, lambda: not window.state.runner.is_busy())
    for live in window.findChildren(LiveCanvas):
        if live.isVisible():
            live.flush()
    app.processEvents()
    window.grab().save(str(OUT / "evaluate_drawings.png"))
    print(f"prediction on the drawn 7: {panel.prediction()}")
    print(f"accuracy on the drawings: {window.evaluate_panel.evaluation.accuracy:.2%}")
    print(f"screenshots in {OUT}")
    window.state.runner.shutdown()


if __name__ == "__main__":
    main()
