"""Entry point: `python main.py`, the `evenodd-studio` script, or `python -m gui.app`.

Startup order matters for how quick the app feels: Qt and the window first, first paint,
then (from the event loop, `start_up`) the Draw tab, the shipped model and the remembered
data folder, whose loading imports torch in the background thread, and last a warm-up of
training's own imports in another background thread (engine.learning.warm).

Diagnostics (also used for docs/measurements.md):
  --timing     print seconds from process start to the window's first paint, and whether
               torch was already imported at that moment
  --heartbeat  run a 10 ms QTimer and print the worst lateness (event-loop stall) on exit
  Environment EVENODD_TIMING=1 / EVENODD_HEARTBEAT=1 do the same.
"""

from __future__ import annotations

import gc
import os
import sys
import threading
import time
from typing import Any

_T0 = time.perf_counter()
# The .desktop entry's name (packaging/linux/), so the window groups with the menu entry's icon.
DESKTOP_FILE_ID = "org.evenodd.studio"


def _process_age() -> float:
    """Seconds since this process started (includes the interpreter's own startup)."""
    try:
        with open("/proc/self/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        start_ticks = int(fields[19])
        with open("/proc/uptime") as handle:
            uptime = float(handle.read().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return time.perf_counter() - _T0


class Heartbeat:
    """A 10 ms timer that records how late it fires: the longest event-loop stall."""

    def __init__(self, interval_ms: int = 10) -> None:
        from PySide6.QtCore import QTimer

        self.interval = interval_ms / 1000
        self.worst = 0.0
        self.ticks = 0
        self._last = time.perf_counter()
        self.timer = QTimer()
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._tick)
        self.timer.start()

    def _tick(self) -> None:
        now = time.perf_counter()
        self.worst = max(self.worst, now - self._last - self.interval)
        self._last = now
        self.ticks += 1

    def reset(self) -> None:
        self.worst, self.ticks, self._last = 0.0, 0, time.perf_counter()


def freeze_long_lived_objects() -> None:
    """Leave the objects that live as long as the app (modules, classes, the window) out
    of every later garbage collection, and turn the collector back on.

    Why: a full collection walks every tracked object, holding the GIL, and once torch,
    matplotlib and Qt are loaded there are ~460,000: 216-245 ms per collection, on
    whichever thread triggers it, so the window froze that long, at moments nobody chose
    (bench/gui_heartbeat.py: each start-up stall over 100 ms came with a generation-2
    collection of the same length in the loading or warm-up thread). Frozen, a full
    collection walks only what the app made since.
    """
    gc.freeze()
    gc.enable()


def start_up(window: Any) -> None:
    """What the app does once its window has painted: build the heavier tabs, load the
    shipped model and the remembered data folder, then warm up training's imports.

    The garbage collector is off until the warm-up's imports are done (imports make few
    cycles, but trigger full collections, see `freeze_long_lived_objects`), then what
    start-up made is frozen."""

    def warm_up_in_background() -> None:
        def run() -> None:
            from engine.learning.warm import warm_up

            try:
                warm_up()
            finally:
                freeze_long_lived_objects()

        threading.Thread(target=run, name="warm-up", daemon=True).start()

    def after_model() -> None:
        try:
            window.load_remembered_data()
        finally:
            warm_up_in_background()

    gc.disable()

    window.finish_startup()
    window.load_default_model(then=after_model)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)  # arguments only, no program name
    timing = "--timing" in argv or os.environ.get("EVENODD_TIMING") == "1"
    heartbeat_on = "--heartbeat" in argv or os.environ.get("EVENODD_HEARTBEAT") == "1"
    qt_args = [arg for arg in argv if arg not in ("--timing", "--heartbeat")]

    import shiboken6
    from PySide6.QtCore import QEvent, QObject, QTimer
    from PySide6.QtWidgets import QApplication

    from gui.state.settings import APPLICATION, ORGANIZATION

    app = QApplication.instance() or QApplication(["evenodd-studio", *qt_args])
    app.setApplicationName(APPLICATION)
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationDisplayName("Even/Odd Studio")
    app.setDesktopFileName(DESKTOP_FILE_ID)
    from PySide6.QtGui import QIcon

    from engine.store.resources import resource_path

    app.setWindowIcon(QIcon(str(resource_path("icons", "app.png"))))

    from gui.main_window import MainWindow

    window = MainWindow(defer_draw=True)

    class FirstPaint(QObject):
        def __init__(self) -> None:
            super().__init__()
            self.done = False

        def eventFilter(self, obj: QObject, event: QEvent) -> bool:
            if not self.done and event.type() == QEvent.Type.Paint:
                self.done = True
                if timing:
                    print(
                        f"first paint after {_process_age():.2f} s from process start "
                        f"({time.perf_counter() - _T0:.2f} s after importing gui.app); "
                        f"torch imported: {'torch' in sys.modules}",
                        flush=True,
                    )
                QTimer.singleShot(0, after_first_paint)
            return False

    def after_first_paint() -> None:
        start_up(window)

    watcher = FirstPaint()
    window.installEventFilter(watcher)
    window.show()
    beat = Heartbeat() if heartbeat_on else None
    code = app.exec()
    # Destroy the widgets here, in the GUI thread: left to the garbage collector, a
    # reference cycle could be collected in a background thread (e.g. the figure
    # renderer's), and Qt aborts when a widget dies there.
    shiboken6.delete(window)
    if beat is not None:
        print(
            f"heartbeat: worst event-loop lateness {beat.worst * 1000:.1f} ms "
            f"over {beat.ticks} ticks",
            flush=True,
        )
    return code


if __name__ == "__main__":
    raise SystemExit(main())
