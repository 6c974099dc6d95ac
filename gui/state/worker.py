"""Run one long engine job at a time in a QThread, talking to the UI only through signals.

Why: training must never run on the GUI thread (the window would freeze), and no widget may
be touched from another thread. So a job is a plain callable that knows nothing about Qt:

    def job(on_event, should_stop):      # the engine's own callback/stop convention
        return engine.learning.training.pretrain(data, arch, cfg, on_event, should_stop)

API (reusable by any panel, e.g. the study panel):

    runner = JobRunner(parent, queue)        # lives in the GUI thread; queue: gui.state.model
                                             # .JobQueue (the app's), or a new one
    runner.busy_changed.connect(...)         # bool: True when a job starts, False when done
    decision = runner.request(Request(key, label, action))
                                             # what the user asked for: `action` runs now
                                             # (it calls start), or waits its turn, or is
                                             # refused; see gui.state.model.JobQueue.admit
    ok = runner.start(job,                   # False (and nothing happens) if one is running
                      on_event=fn,           # GUI thread: each engine event (Progress, ...)
                      on_success=fn,         # GUI thread: the job's return value
                      on_failure=fn,         # GUI thread: (message, details) — see errors.py
                      name="pretrain")
    runner.stop()                            # ask the job to stop; the engine checks it
                                             # every batch, so training ends within ~1 s
    runner.shutdown(timeout_ms=10_000)       # stop + wait for the thread (use on close)
    runner.is_busy()

Signals of JobRunner (all delivered in the GUI thread): `event(object)`,
`succeeded(object)`, `failed(str message, str details)`, `busy_changed(bool)`.
`succeeded`/`failed` (and the per-job callbacks) arrive only after the thread has finished,
so a handler may start the next job right away. Waiting requests start after them, one
at a time, so a request queued behind a data load sees the loaded data.

Underneath, `JobWorker` is the QObject moved to the QThread; it emits `event(object)`,
`succeeded(object)` and `failed(str, str)`. Failures are classified by gui.state.errors.describe:
engine errors carry a plain message and no details; anything else carries the traceback.

`running_threads()` lists the QThreads started here that are still running (tests assert it
is empty at teardown, so no test leaks a thread).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from gui.state.errors import describe
from gui.state.model import Decision, JobQueue, Request

Job = Callable[[Callable[[object], None], Callable[[], bool]], Any]

_threads: weakref.WeakSet[QThread] = weakref.WeakSet()


def running_threads() -> list[QThread]:
    """QThreads started by any JobRunner that are still running."""
    alive = []
    for thread in list(_threads):
        try:
            if thread.isRunning():
                alive.append(thread)
        except RuntimeError:  # the C++ object is already gone: certainly not running
            continue
    return alive


class JobWorker(QObject):
    """Runs `job(on_event, should_stop)` once, in whatever thread it was moved to."""

    event = Signal(object)
    succeeded = Signal(object)
    failed = Signal(str, str)
    done = Signal()

    def __init__(self, job: Job, stop_flag: threading.Event) -> None:
        super().__init__()
        self._job = job
        self._stop = stop_flag

    @Slot()
    def run(self) -> None:
        try:
            result = self._job(self.event.emit, self._stop.is_set)
        except BaseException as exc:  # report everything; the thread must end normally
            message, details = describe(exc)
            self.failed.emit(message, details)
        else:
            self.succeeded.emit(result)
        finally:
            self.done.emit()
            # Quit from inside the thread: a queued quit() would wait for the GUI thread,
            # which may itself be blocked in shutdown()'s wait() -> deadlock.
            QThread.currentThread().quit()


class _Relay(QObject):
    """Receives one job's worker signals in the GUI thread and forwards them while alive.

    A fresh relay per job (instead of checking `sender()`) means late signals from a job
    that was shut down are simply ignored: `dead` is set, then the relay is deleted, which
    also drops any events still queued for it.
    """

    def __init__(self, runner: JobRunner) -> None:
        super().__init__(runner)
        self.runner = runner
        self.dead = False

    @Slot(object)
    def on_event(self, event: object) -> None:
        if not self.dead:
            self.runner._deliver_event(event)

    @Slot(object)
    def on_succeeded(self, result: object) -> None:
        if not self.dead:
            self.runner._outcome = ("success", result)

    @Slot(str, str)
    def on_failed(self, message: str, details: str) -> None:
        if not self.dead:
            self.runner._outcome = ("failure", (message, details))

    @Slot()
    def on_thread_finished(self) -> None:
        if not self.dead:
            self.runner._finish()


class JobRunner(QObject):
    """Owns at most one running job (worker + thread) and relays its signals."""

    event = Signal(object)
    succeeded = Signal(object)
    failed = Signal(str, str)
    busy_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None, queue: JobQueue | None = None) -> None:
        super().__init__(parent)
        self.queue = queue if queue is not None else JobQueue()
        self._thread: QThread | None = None
        self._worker: JobWorker | None = None
        self._relay: _Relay | None = None
        self._stop_flag = threading.Event()
        self._outcome: tuple[str, Any] | None = None
        self._callbacks: dict[str, Callable | None] = {}
        self.name = ""

    def is_busy(self) -> bool:
        return self._thread is not None

    def request(self, request: Request) -> Decision:
        """Run `request.action` now if nothing runs or waits, else queue or refuse it
        (`JobQueue.admit`); the decision's message says which, for the status bar."""
        decision = self.queue.admit(request)
        if decision.outcome == "start":
            request.action()
        return decision

    def start(
        self,
        job: Job,
        *,
        on_event: Callable[[object], None] | None = None,
        on_success: Callable[[Any], None] | None = None,
        on_failure: Callable[[str, str], None] | None = None,
        name: str = "",
    ) -> bool:
        """Start `job` in a new thread; refuse (return False) while another one runs."""
        if self._thread is not None:
            return False
        self._stop_flag = threading.Event()
        self._outcome = None
        self._callbacks = {"event": on_event, "success": on_success, "failure": on_failure}
        self.name = name
        thread = QThread()
        thread.setObjectName(f"job-{name or 'anonymous'}")
        worker = JobWorker(job, self._stop_flag)
        worker.moveToThread(thread)
        relay = _Relay(self)
        thread.started.connect(worker.run)
        worker.event.connect(relay.on_event)
        worker.succeeded.connect(relay.on_succeeded)
        worker.failed.connect(relay.on_failed)
        thread.finished.connect(worker.deleteLater)  # Qt's documented clean-up pattern
        thread.finished.connect(relay.on_thread_finished)
        self._thread, self._worker, self._relay = thread, worker, relay
        _threads.add(thread)
        self.queue.set_running(name or "job")
        self.busy_changed.emit(True)
        thread.start()
        return True

    def stop(self) -> None:
        """Ask the running job to stop at its next check (every batch for training)."""
        self._stop_flag.set()

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        """Stop the job and block until its thread has ended; True if nothing is left running.

        Used when the window closes: the QThread must be finished before it is destroyed.
        Results of a job that is shut down are dropped (no callbacks run), and so are the
        requests waiting their turn.
        """
        self.queue.clear()
        thread = self._thread
        if thread is None:
            return True
        self.stop()
        finished = thread.wait(timeout_ms)
        if finished:
            self._callbacks = {}
            self._outcome = None
            self._finish()
        return finished

    def _deliver_event(self, event: object) -> None:
        callback = self._callbacks.get("event")
        if callback is not None:
            callback(event)
        self.event.emit(event)

    def _finish(self) -> None:
        thread, relay = self._thread, self._relay
        if thread is None:
            return
        thread.wait()  # `finished` is emitted just before the thread really ends
        if relay is not None:
            relay.dead = True
            relay.deleteLater()
        # Safe to drop our references now: the thread is no longer running.
        self._thread = self._worker = self._relay = None
        callbacks, self._callbacks = self._callbacks, {}
        outcome, self._outcome = self._outcome, None
        self.queue.set_running(None)
        self.busy_changed.emit(False)
        if outcome is not None:
            kind, value = outcome
            if kind == "success":
                if callbacks.get("success") is not None:
                    callbacks["success"](value)
                self.succeeded.emit(value)
            else:
                if callbacks.get("failure") is not None:
                    callbacks["failure"](*value)
                self.failed.emit(*value)
        self._start_waiting()

    def _start_waiting(self) -> None:
        """Run waiting requests in order until one starts a job (an action that cannot
        start says why itself, and the next one gets its turn)."""
        while self._thread is None:
            request = self.queue.pop()
            if request is None:
                return
            request.action()
