"""Work that holds the interpreter lock, done in a child process that Stop can kill.

ARPACK's eigenvector step and parts of scikit-learn's k-means keep Python's lock for
hundreds of milliseconds at a time (240 and 180 ms, measured beside a 10 ms heartbeat
while choosing 20 images of 55,000), so a thread running them freezes the app's window.
A spawned child has its own interpreter: the parent only waits on a pipe, polling its
stop flag, and kills the child when asked to stop. Arguments and results travel by
pickling, so they should be plain numpy arrays and numbers.

The child is kept between calls. A fresh one took about 4 s to start when its work
imported torch (about 2 s now that `engine.learning.spectral` needs only scipy and
scikit-learn), which a study paid again for every seed and budget it chose images for and
the Label tab for every "Ask me N more"; a kept child answers the next call at once.
It is killed when a call is stopped or fails to answer, and replaced by a fresh one at
the next call; `shutdown` ends it (the app calls it when it closes, and multiprocessing
ends a daemonic child at exit anyway).
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from engine.errors import UserError

POLL_SECONDS = 0.1  # how often the parent looks at the stop flag


class ChildError(UserError):
    """The child failed or died; the message says how, in one line."""


def _serve(requests: Connection, results: Connection) -> None:
    """The child's loop: run each (function, args) received, send back (ok, outcome)."""
    while True:
        try:
            function, args = requests.recv()
        except (EOFError, OSError):  # the parent closed its end or ended: so does the child
            return
        try:
            outcome: tuple[bool, Any] = (True, function(*args))
        except Exception as exc:  # sent as text: the parent raises it
            outcome = (False, f"{type(exc).__name__}: {exc}")
        results.send(outcome)


class _Child:
    """One spawned child and the two ends of its pipes that the parent holds."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        requests_in, self.requests_out = context.Pipe(duplex=False)
        self.results_in, results_out = context.Pipe(duplex=False)
        self.process: BaseProcess = context.Process(
            target=_serve, args=(requests_in, results_out), daemon=True
        )
        self.process.start()
        # only the child holds these ends now: its death reads as end of file on results_in
        requests_in.close()
        results_out.close()

    def end(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        self.requests_out.close()
        self.results_in.close()


_child: _Child | None = None
_lock = threading.Lock()  # one call at a time talks to the child


def run_in_child(
    function: Callable[..., Any], args: tuple, should_stop: Callable[[], bool] = lambda: False
) -> tuple[bool, Any]:
    """(True, function(*args)) computed in the kept child, or (False, None) when
    `should_stop` said so first (the child is killed). `function` must be importable by
    name (a module-level function). Raises ChildError if the child fails.

    A daemonic process (a worker of a `multiprocessing.Pool`, as in the benchmarks) may not
    start children: there the work runs in the calling process, which has no window to
    keep responsive; `should_stop` is asked before it starts."""
    if multiprocessing.current_process().daemon:
        if should_stop():
            return False, None
        try:
            return True, function(*args)
        except Exception as exc:  # the same one line as from the child
            raise ChildError(f"{type(exc).__name__}: {exc}") from None
    while not _lock.acquire(timeout=POLL_SECONDS):  # another thread's call is running
        if should_stop():
            return False, None
    try:
        return _call(function, args, should_stop)
    finally:
        _lock.release()


def _call(
    function: Callable[..., Any], args: tuple, should_stop: Callable[[], bool]
) -> tuple[bool, Any]:
    global _child
    if _child is None or not _child.process.is_alive():
        _end_child()
        _child = _Child()
    child = _child
    answered = False
    try:
        child.requests_out.send((function, args))
        while not child.results_in.poll(POLL_SECONDS):
            if should_stop():
                return False, None
            if not child.process.is_alive() and not child.results_in.poll(0):
                code = child.process.exitcode
                raise ChildError(f"the child process ended without a result ({code})")
        try:
            ok, payload = child.results_in.recv()
        except (EOFError, OSError):
            code = child.process.exitcode
            raise ChildError(f"the child process ended without a result ({code})") from None
        answered = True
        if not ok:
            raise ChildError(payload)
        return True, payload
    finally:
        if not answered:  # stopped, died or broke: a fresh child next time
            _end_child()


def _end_child() -> None:
    global _child
    if _child is not None:
        _child.end()
        _child = None


def shutdown() -> None:
    """End the kept child, if any (waits for a call in progress to finish first)."""
    with _lock:
        _end_child()


def child_process() -> BaseProcess | None:
    """The kept child, if one is running (for tests and the self-test)."""
    child = _child
    return child.process if child is not None and child.process.is_alive() else None
