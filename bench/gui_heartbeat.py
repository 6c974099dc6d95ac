"""Worst event-loop lateness while the app trains on real MNIST, and where it stalls.

Builds the main window, starts it up as the app does (shipped model, warm-up), loads MNIST,
pretrains (3 epochs, the Pretrain tab and its latent map showing), waits for the latent
map's t-SNE (computed in the background), fine-tunes from the GUI's own controls (all
labels, then 100 labels with the unlabelled images for 1500 steps), evaluates, then
pretrains again (1 epoch) while a simulated pen draws rings on the Draw tab's canvas (~60
mouse events a second) and times the live predictions. A 10 ms QTimer heartbeat measures
the stalls; a watchdog thread samples every thread's stack whenever the heartbeat is more
than 0.1 s late, and prints each stall with the GUI thread's stack and where its time went
(on a CPU, waiting for one, or blocked), which tells the app's own work from a busy
machine. Afterwards it takes the screenshots of docs/screenshots into a new temporary
folder, which it prints, for copying over (the Compare tab's when given a saved study
folder). Run on a screen, e.g.
    xvfb-run -a -s "-screen 0 1400x900x24" python bench/gui_heartbeat.py [MNIST_DIR [STUDY]]
Settings go to a temporary file, never the user's.
"""

from __future__ import annotations

import collections
import gc
import math
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

import shiboken6  # noqa: E402
from PySide6.QtCore import QEvent, QPointF, Qt, QTimer  # noqa: E402
from PySide6.QtGui import QMouseEvent  # noqa: E402
from PySide6.QtWidgets import QApplication, QWidget  # noqa: E402

DATA = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "mnist"
STUDY = Path(sys.argv[2]) if len(sys.argv) > 2 else None  # a saved study for the Compare shot


def main() -> None:
    app = QApplication(["evenodd-studio"])
    from gui.app import Heartbeat, start_up
    from gui.main_window import MainWindow
    from gui.widgets.plots import LiveCanvas

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
    main_tid = threading.main_thread().native_id

    def schedstat() -> tuple[float, float]:
        """The GUI thread's seconds on a CPU and seconds runnable but waiting for one."""
        try:
            with open(f"/proc/self/task/{main_tid}/schedstat") as handle:
                on_cpu, waiting, _ = handle.read().split()
            return int(on_cpu) / 1e9, int(waiting) / 1e9
        except (OSError, ValueError):
            return math.nan, math.nan

    def watchdog() -> None:
        """Samples stacks during stalls and, per stall, where the GUI thread's time went:
        on a CPU (work in the GUI thread), runnable but waiting for a CPU (the machine is
        busy: starvation, not the app's doing) or neither (blocked: the GIL or a lock)."""
        episode: dict | None = None
        before = schedstat()
        while True:
            time.sleep(0.02)
            now = time.perf_counter()
            stalled = now - beat._last > 0.1
            if not stalled:
                if episode is not None:
                    on_cpu, waiting = (
                        b - a for a, b in zip(episode["sched"], schedstat(), strict=True)
                    )
                    total = now - episode["from"]
                    top = episode["gui"].most_common(1)[0][0] if episode["gui"] else "?"
                    print(
                        f"stall in {episode['phase']} at {episode['t']:.1f} s, ~{total * 1000:.0f}"
                        f" ms: GUI thread on a CPU {on_cpu * 1000:.0f} ms, waiting for a CPU "
                        f"{waiting * 1000:.0f} ms, blocked {(total - on_cpu - waiting) * 1000:.0f}"
                        f" ms; its stack:\n{top}",
                        flush=True,
                    )
                    episode = None
                before = schedstat()
                continue
            if episode is None:
                episode = {
                    "phase": state["phase"],
                    "t": beat._last - state["t"],
                    "from": beat._last,
                    "sched": before,  # read at most 20 ms before the last on-time beat
                    "gui": collections.Counter(),
                }
            names = {t.ident: t.name for t in threading.enumerate()}
            report = [state["phase"]]
            for ident, frame in sys._current_frames().items():
                if ident != threading.get_ident():
                    depth = 8 if ident == main_id else 4
                    where = "".join(traceback.format_stack(frame)[-depth:])
                    report.append(f"[{names.get(ident, ident)}]\n{where}")
                    if ident == main_id:
                        episode["gui"]["".join(traceback.format_stack(frame)[-5:])] += 1
            stalls["\n".join(report)] += 1

    threading.Thread(target=watchdog, daemon=True).start()
    results: dict[str, tuple[float, int, float]] = {}
    state = {"phase": "start", "t": 0.0}

    def shot(name: str) -> None:
        for canvas in window.findChildren(LiveCanvas):
            if canvas.isVisible():
                canvas.flush()  # what the render thread would show a moment later
        window.grab().save(str(OUT / f"{name}.png"))

    # Garbage collections over 20 ms: one holds the GIL, so it stalls the GUI thread
    # whichever thread it runs in.
    collections_seen: list[tuple[float, int, str, float]] = []
    gc_started: dict[int, float] = {}

    def on_gc(phase: str, info: dict) -> None:
        ident = threading.get_ident()
        if phase == "start":
            gc_started[ident] = time.perf_counter()
        elif ident in gc_started:
            took = time.perf_counter() - gc_started.pop(ident)
            if took > 0.02:
                at = time.perf_counter() - state["t"]
                name = threading.current_thread().name
                collections_seen.append((at, info["generation"], name, took))
                if took > 0.1:
                    print(
                        f"garbage collection in {state['phase']} at {at:.1f} s: generation "
                        f"{info['generation']}, {took * 1000:.0f} ms, in thread {name}",
                        flush=True,
                    )

    gc.callbacks.append(on_gc)

    def measure(name: str) -> None:
        results[name] = (beat.worst, beat.ticks, time.perf_counter() - state["t"])
        print(
            name,
            "stalls > 100 ms (s into phase, ms):",
            [(round(t, 1), round(1000 * d)) for t, d in late],
        )
        if collections_seen:
            print(
                f"{name}: garbage collections over 20 ms (s into phase, generation, thread, ms):",
                [(round(t, 1), g, n, round(1000 * d)) for t, g, n, d in collections_seen],
            )
        late.clear()
        collections_seen.clear()

    def begin(tab: QWidget, start) -> None:
        window.tabs.setCurrentWidget(tab)
        late.clear()  # e.g. the screenshot just taken: the bench's own stall, not the app's
        collections_seen.clear()
        beat.reset()
        state["t"] = time.perf_counter()
        start()

    def step() -> None:
        phase = state["phase"]
        progress = window.pretrain_panel.monitor.progress
        if phase == "shot-pretrain" and progress.value() >= 0.7 * progress.maximum():
            shot("pretrain")  # mid-run, as the README shows it
            window.state.runner.stop()
            state["phase"] = "shot-draw"
        if window.state.runner.is_busy():
            return
        if phase == "start":
            beat.reset()
            state["t"] = time.perf_counter()
            start_up(window)
            state["phase"] = "starting"
        elif phase == "starting":
            if any(t.name == "warm-up" for t in threading.enumerate()):
                return
            measure("start-up")
            state["phase"] = "load"
        elif phase == "load":
            beat.reset()
            state["t"] = time.perf_counter()
            window.data_panel.load_folder(str(DATA))
            state["phase"] = "loading"
        elif phase == "loading" and window.state.data is not None:
            measure("load")
            shot("data")
            window.pretrain_panel.epochs.setValue(3)
            begin(window.pretrain_panel, window.pretrain_panel.start)
            state["phase"] = "pretrain"
        elif phase == "pretrain":
            measure("pretrain")
            shot("pretrain")
            begin(window.pretrain_panel, lambda: None)  # the t-SNE map is made in the background
            state["phase"] = "latent"
        elif phase == "latent":
            latent = window.pretrain_panel.latent_map
            if latent.projector.is_busy() or latent.scatter.map is None:
                return
            measure("t-SNE in the background, map visible")
            for m in maps:
                print(f"latent map: {m.projection} (epoch {m.epoch}) took {m.seconds:.2f} s")
            hover(latent.scatter, 0)
            shot("latent_map")
            begin(window.finetune_panel, window.finetune_panel.start)
            state["phase"] = "finetune"
        elif phase == "finetune":
            measure("finetune")
            # Then semi-supervised: 100 labels and the unlabelled images (on by default
            # below all labels), a shorter schedule than the default 3000 steps.
            window.finetune_panel.labels_combo.setEditText("100")
            window.finetune_panel.steps_spin.setValue(1500)
            begin(window.finetune_panel, window.finetune_panel.start)
            state["phase"] = "finetune-semi"
        elif phase == "finetune-semi":
            measure("finetune, 100 labels + unlabelled")
            shot("finetune")  # with the curve of the confident share
            window.tabs.setCurrentWidget(window.evaluate_panel)
            window.evaluate_panel.evaluate()
            state["phase"] = "evaluate"
        elif phase == "evaluate":
            shot("evaluate")
            window.pretrain_panel.epochs.setValue(1)
            begin(window.draw_panel, window.pretrain_panel.start)
            strokes.start(16)  # ~60 mouse events a second, as a hand on a mouse gives
            state["phase"] = "draw"
        elif phase == "draw":
            strokes.stop()
            measure("draw while pretraining")
            times = sorted(classify_ms)
            print(
                f"drawing while pretraining: {pen['events']} mouse events, "
                f"{len(times)} live predictions, prediction time median "
                f"{times[len(times) // 2]:.1f} ms, worst {times[-1]:.1f} ms"
            )
            # Screenshots for the README, after the measurements: they draw in this thread.
            window.pretrain_panel.epochs.setValue(2)
            window.tabs.setCurrentWidget(window.pretrain_panel)
            window.pretrain_panel.start()
            state["phase"] = "shot-pretrain"
        elif phase == "shot-draw":
            window.tabs.setCurrentWidget(window.draw_panel)
            canvas.clear()
            pen["i"] = 0
            for _ in range(41):
                move_pen()  # one whole ring, the pen lifted at the end
            panel.predict_now()
            shot("draw")
            if STUDY is not None and window.compare_panel.open_study(STUDY):
                window.tabs.setCurrentWidget(window.compare_panel)
                shot("compare")
            state["phase"] = "done"
            for name, (worst, ticks, seconds) in results.items():
                print(
                    f"{name}: worst event-loop lateness {worst * 1000:.0f} ms "
                    f"over {ticks} ticks in {seconds:.0f} s"
                )
            for stack, count in stalls.most_common(6):
                print(f"--- GUI thread in a >0.1 s stall ({count} samples):\n{stack}")
            print(f"screenshots in {OUT}")
            state["phase"] = "quit"
        elif phase == "quit":
            print("threads at the end:", sorted(t.name for t in threading.enumerate()))
            tracked, frozen = len(gc.get_objects()), gc.get_freeze_count()
            started = time.perf_counter()
            gc.collect()
            print(
                f"a full garbage collection now: {(time.perf_counter() - started) * 1000:.0f} ms "
                f"({tracked} objects tracked, {frozen} frozen)"
            )
            window.close()  # as a user would: kills a t-SNE still running
            app.quit()

    # The pen: strokes on the Draw tab's canvas (a ring, then clear), timing predictions.
    panel = window.draw_panel
    canvas = panel.canvas
    classify_ms: list[float] = []
    classify = panel._classify

    def timed_classify(img28):
        t0 = time.perf_counter()
        try:
            return classify(img28)
        finally:
            classify_ms.append(1000 * (time.perf_counter() - t0))

    panel._classify = timed_classify

    # The latent map: every map it is sent (by the training job, then by its projector).
    # Signals, not a wrapped method: a closure stored on the window would keep it in a
    # reference cycle, and the garbage collector could then destroy its widgets in
    # whatever thread it runs in (Qt aborts).
    maps = []
    latent_panel = window.pretrain_panel.latent_map
    window.state.runner.event.connect(
        lambda event: maps.append(event) if type(event).__name__ == "LatentMap" else None
    )
    latent_panel.projector.ready.connect(lambda latent_map, _generation: maps.append(latent_map))

    def hover(scatter, index: int) -> None:
        pos = QPointF(*scatter.widget_positions()[index])
        none = Qt.MouseButton.NoButton
        event = QMouseEvent(
            QEvent.Type.MouseMove, pos, scatter.mapToGlobal(pos), none, none,
            Qt.KeyboardModifier.NoModifier,
        )  # fmt: skip
        QApplication.sendEvent(scatter, event)

    pen = {"i": 0, "events": 0}

    def move_pen() -> None:
        i = pen["i"] % 50
        pen["i"] += 1
        angle = i / 40 * 2 * math.pi
        pos = QPointF(
            canvas.width() * (0.5 + 0.25 * math.sin(angle)),
            canvas.height() * (0.5 - 0.3 * math.cos(angle)),
        )
        left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
        if i == 0:
            kind, button, buttons = QEvent.Type.MouseButtonPress, left, left
        elif i < 40:
            kind, button, buttons = QEvent.Type.MouseMove, none, left
        elif i == 40:
            kind, button, buttons = QEvent.Type.MouseButtonRelease, left, none
        else:
            if i == 49:
                canvas.clear()
            return
        event = QMouseEvent(
            kind, pos, canvas.mapToGlobal(pos), button, buttons, Qt.KeyboardModifier.NoModifier
        )
        QApplication.sendEvent(canvas, event)
        pen["events"] += 1

    strokes = QTimer()
    strokes.timeout.connect(move_pen)

    timer = QTimer()
    timer.timeout.connect(step)
    timer.start(200)
    app.exec()
    shiboken6.delete(window)  # widgets die in this thread, not in a collector elsewhere


if __name__ == "__main__":
    main()
