"""Screenshots of tabs as a person first sees them: MNIST loaded, nothing trained yet.

The Fine-tune tab's budget is set to 20 labels. Settings, drawings and labels go to a new
temporary folder, never the user's. Run on a screen, e.g.
    xvfb-run -a -s "-screen 0 1400x900x24" python bench/tab_screenshots.py MNIST_DIR \\
        finetune compare
which writes docs/screenshots/<tab>.png for each tab named (data, pretrain, label,
finetune, evaluate, draw, compare).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = Path(tempfile.mkdtemp(prefix="evenodd-tab-shots-"))
os.environ["EVENODD_SETTINGS_FILE"] = str(OUT / "settings.ini")
os.environ["EVENODD_DRAWINGS_DIR"] = str(OUT / "drawings")
os.environ["EVENODD_LABELS_DIR"] = str(OUT / "labels")
sys.path.insert(0, str(ROOT))

from PySide6.QtWidgets import QApplication  # noqa: E402


def main() -> None:
    data, tabs = Path(sys.argv[1]), sys.argv[2:]
    app = QApplication(["evenodd-studio"])
    from gui.main_window import MainWindow

    window = MainWindow()
    window.resize(1300, 850)
    window.show()
    assert window.data_panel.load_folder(str(data))
    while window.state.data is None or window.state.runner.is_busy():
        app.processEvents()
    window.finetune_panel.labels_combo.setEditText("20")  # a budget below all labels
    for tab in tabs:
        window.tabs.setCurrentWidget(getattr(window, f"{tab}_panel"))
        until = time.perf_counter() + 2.0  # the figures are drawn by a background thread
        while time.perf_counter() < until:
            app.processEvents()
        target = ROOT / "docs" / "screenshots" / f"{tab}.png"
        window.grab().save(str(target))
        print(f"screenshot: {target}")
    window.state.runner.shutdown()


if __name__ == "__main__":
    main()
