"""Work that holds the interpreter lock, done in a child process that Stop can kill.

ARPACK's eigenvector step and parts of scikit-learn's k-means keep Python's lock for
hundreds of milliseconds at a time (240 and 180 ms, measured beside a 10 ms heartbeat
while choosing 20 images of 55,000), so a thread running them freezes the app's window.
A spawned child has its own interpreter: the parent only waits on a pipe, polling its
stop flag, and kills the child when asked to stop. Arguments and results travel by
pickling, so they should be plain numpy arrays and numbers.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from engine.errors import UserError

POLL_SECONDS = 0.1  # how often the parent looks at the stop flag


class ChildError(UserError):
    """The child failed or died; the message says how, in one line."""


def _child(function: Callable[..., Any], args: tuple, send: Connection) -> None:
    try:
        outcome: tuple[bool, Any] = (True, function(*args))
    except Exception as exc:  # sent as text: the parent raises it
        outcome = (False, f"{type(exc).__name__}: {exc}")
    send.send(outcome)
    send.close()


def run_in_child(
    function: Callable[..., Any], args: tuple, should_stop: Callable[[], bool] = lambda: False
) -> tuple[bool, Any]:
    """(True, function(*args)) computed in a spawned child, or (False, None) when
    `should_stop` said so first (the child is killed). `function` must be importable by
    name (a module-level function). Raises ChildError if the child fails."""
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(function, args, send), daemon=True)
    process.start()
    send.close()  # only the child holds the sending end: its death reads as end of file
    try:
        while not receive.poll(POLL_SECONDS):
            if should_stop():
                return False, None
            if not process.is_alive() and not receive.poll(0):
                raise ChildError(f"the child process ended without a result ({process.exitcode})")
        try:
            ok, payload = receive.recv()
        except (EOFError, OSError):
            message = f"the child process ended without a result ({process.exitcode})"
            raise ChildError(message) from None
        if not ok:
            raise ChildError(payload)
        return True, payload
    finally:
        if process.is_alive():
            process.kill()
        process.join(5)
        receive.close()
