"""A screenshot of the Label tab from the running app, and what choosing costs the window.

MNIST is loaded from MNIST_DIR; the Label tab asks about 20 images (the first time: the
neighbour graph of the 55,000 training images, then the typical image of each cluster);
a QTimer beats every 20 ms meanwhile, and the worst lateness of the event loop is
printed (the window must never stall over 100 ms). Then the first 12 images are labelled
with the keys as a person would (a digit for most, E / O for a few; MNIST's label stands
in for the person's eye), and the window is saved as OUT_PNG. Settings and labels go to a
new temporary folder, printed at the end, never the user's. Run on a screen, e.g.
    xvfb-run -a -s "-screen 0 1400x900x24" python bench/label_screenshot.py \\
        [MNIST_DIR] [OUT_PNG]
"""

from __future__ import annotations

import itertools
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = Path(tempfile.mkdtemp(prefix="evenodd-label-shots-"))
os.environ["EVENODD_SETTINGS_FILE"] = str(OUT / "settings.ini")
os.environ["EVENODD_DRAWINGS_DIR"] = str(OUT / "drawings")
os.environ["EVENODD_LABELS_DIR"] = str(OUT / "labels")
sys.path.insert(0, str(ROOT))

from PySide6.QtCore import Qt, QTimer  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

DATA = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "mnist"
PNG = Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "docs" / "screenshots" / "label.png"
BEAT_MS = 20
PARITY_ONLY = {3, 7, 10}  # of the first 12 images, these get E / O instead of the digit


def wait(app: QApplication, done) -> None:
    while not done():
        app.processEvents()


def main() -> None:
    app = QApplication(["evenodd-studio"])
    from gui.main_window import MainWindow

    window = MainWindow()
    window.resize(1300, 850)
    window.show()
    state = window.state
    assert window.data_panel.load_folder(str(DATA))
    wait(app, lambda: state.data is not None and not state.runner.is_busy())
    panel = window.label_panel
    window.tabs.setCurrentWidget(panel)
    panel.ask_spin.setValue(20)

    beats: list[float] = []
    timer = QTimer()
    timer.timeout.connect(lambda: beats.append(time.perf_counter()))
    timer.start(BEAT_MS)
    started = time.perf_counter()
    assert panel.ask()
    wait(app, lambda: not state.runner.is_busy())
    seconds = time.perf_counter() - started
    timer.stop()
    gaps = [b - a for a, b in itertools.pairwise(beats)]
    worst = max(gaps) * 1000 - BEAT_MS if gaps else float("nan")
    print(f"asking about 20 images took {seconds:.1f} s; worst event-loop lateness "
          f"{worst:.0f} ms over {len(gaps)} beats")  # fmt: skip

    truth = state.data.mnist.train_labels
    for row, position in enumerate(panel.labels.order[:12]):
        digit = int(truth[position])
        if row in PARITY_ONLY:
            key = Qt.Key.Key_O if digit % 2 else Qt.Key.Key_E
        else:
            key = getattr(Qt.Key, f"Key_{digit}")
        QTest.keyClick(panel.grid, key)
        app.processEvents()
    panel.labels.flush()
    app.processEvents()
    PNG.parent.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(PNG))
    print(f"{panel.count_label.text()}; the label file: {panel.labels.path}")
    print(f"screenshot: {PNG}; settings and labels in {OUT}")
    state.runner.shutdown()


if __name__ == "__main__":
    main()
