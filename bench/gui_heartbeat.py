"""Worst event-loop lateness while the app trains on real MNIST, and where it stalls.

Builds the main window, loads MNIST, pretrains (3 epochs) and fine-tunes from the GUI's own
controls, with a 10 ms QTimer heartbeat; a watchdog thread samples the GUI thread's stack
whenever the heartbeat is more than 0.5 s late. Also saves a screenshot of each tab.
Run on a screen (e.g. xvfb-run -a -s "-screen 0 1400x900x24" python bench/gui_heartbeat.py).
Settings go to a temporary file, never the user's.
"""

from __future__ import annotations

import collections
import os
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = Path(tempfile.mkdtemp(prefix="evenodd-shots-"))
os.environ["EVENODD_SETTINGS_FILE"] = str(OUT / "settings.ini")
sys.path.insert(0, str(ROOT))

from PySide6.QtCore import QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

DATA = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "mnist"


def main() -> None:
    app = QApplication(["evenodd-studio"])
    from gui.app import Heartbeat
    from gui.main_window import MainWindow

    window = MainWindow()
    window.resize(1300, 850)
    window.show()
    beat = Heartbeat()
    late: list[tuple[float, float]] = []  # (seconds into the phase, lateness) above 100 ms
    tick = beat._tick

    def recording_tick() -> None:
        before = beat._last
        tick()
        lateness = beat._last - before - beat.interval
        if lateness > 0.1:
            late.append((beat._last - state["t"], lateness))

    beat.timer.timeout.disconnect()
    beat.timer.timeout.connect(recording_tick)
    stalls: collections.Counter[str] = collections.Counter()
    main_id = threading.main_thread().ident

    def watchdog() -> None:
        while True:
            time.sleep(0.05)
            if time.perf_counter() - beat._last > 0.5:
                frame = sys._current_frames().get(main_id)
                if frame is not None:
                    stalls["".join(traceback.format_stack(frame)[-8:])] += 1

    threading.Thread(target=watchdog, daemon=True).start()
    results: dict[str, tuple[float, int, float]] = {}
    state = {"phase": "load", "t": 0.0}

    def shot(name: str) -> None:
        window.grab().save(str(OUT / f"{name}.png"))

    def measure(name: str) -> None:
        results[name] = (beat.worst, beat.ticks, time.perf_counter() - state["t"])
        print(
            name,
            "stalls > 100 ms (s into phase, ms):",
            [(round(t, 1), round(1000 * d)) for t, d in late],
        )
        late.clear()

    def begin(tab: int, start) -> None:
        window.tabs.setCurrentIndex(tab)
        beat.reset()
        state["t"] = time.perf_counter()
        start()

    def step() -> None:
        phase = state["phase"]
        if window.state.runner.is_busy():
            return
        if phase == "load":
            window.data_panel.load_folder(str(DATA))
            state["phase"] = "loading"
        elif phase == "loading" and window.state.data is not None:
            shot("data")
            window.pretrain_panel.epochs.setValue(3)
            begin(1, window.pretrain_panel.start)
            state["phase"] = "pretrain"
        elif phase == "pretrain":
            measure("pretrain")
            shot("pretrain")
            begin(2, window.finetune_panel.start)
            state["phase"] = "finetune"
        elif phase == "finetune":
            measure("finetune")
            shot("finetune")
            window.tabs.setCurrentIndex(3)
            window.evaluate_panel.evaluate()
            state["phase"] = "evaluate"
        elif phase == "evaluate":
            shot("evaluate")
            state["phase"] = "done"
            for name, (worst, ticks, seconds) in results.items():
                print(
                    f"{name}: worst event-loop lateness {worst * 1000:.0f} ms "
                    f"over {ticks} ticks in {seconds:.0f} s"
                )
            for stack, count in stalls.most_common(3):
                print(f"--- GUI thread in a >0.5 s stall ({count} samples):\n{stack}")
            print(f"screenshots in {OUT}")
            app.quit()

    timer = QTimer()
    timer.timeout.connect(step)
    timer.start(200)
    app.exec()


if __name__ == "__main__":
    main()
