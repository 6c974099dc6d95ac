"""The kept child process that chooses images (engine.learning.child): kept between
calls, killed by Stop and replaced, one plain error for a failure or a death."""

from __future__ import annotations

import os
import threading
import time

import pytest

from engine.learning import child
from engine.learning.child import ChildError, child_process, run_in_child, shutdown


def _sleep_then_pid(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


def _fail() -> None:
    raise ValueError("no clusters")


@pytest.fixture(autouse=True)
def fresh_child():
    shutdown()
    yield
    shutdown()
    assert child_process() is None


def test_the_child_is_kept_between_calls_and_runs_in_another_process():
    ok, first = run_in_child(_sleep_then_pid, (0.0,))
    assert ok and first != os.getpid()
    ok, second = run_in_child(_sleep_then_pid, (0.0,))
    assert ok and second == first  # the same process answered: no new start-up
    assert child_process() is not None and child_process().pid == first


def test_stop_kills_the_child_and_the_next_call_gets_a_fresh_one():
    _, first = run_in_child(_sleep_then_pid, (0.0,))
    asked = time.monotonic()
    ok, payload = run_in_child(_sleep_then_pid, (60.0,), lambda: time.monotonic() - asked > 0.3)
    assert (ok, payload) == (False, None)
    assert time.monotonic() - asked < 30  # not the 60 s the call would take (no tighter:
    # this machine's speed drifts; the poll is every POLL_SECONDS)
    assert child_process() is None  # killed, not left running the call
    ok, second = run_in_child(_sleep_then_pid, (0.0,))
    assert ok and second != first


def test_a_failure_is_one_plain_error_and_the_child_still_answers():
    _, first = run_in_child(_sleep_then_pid, (0.0,))
    with pytest.raises(ChildError, match=r"^ValueError: no clusters$"):
        run_in_child(_fail, ())
    assert run_in_child(_sleep_then_pid, (0.0,)) == (True, first)


def test_a_child_that_died_between_calls_is_replaced():
    _, first = run_in_child(_sleep_then_pid, (0.0,))
    process = child_process()
    process.kill()
    process.join(10)
    ok, second = run_in_child(_sleep_then_pid, (0.0,))
    assert ok and second != first


def test_a_child_that_dies_during_a_call_is_one_plain_error():
    run_in_child(_sleep_then_pid, (0.0,))
    process = child_process()
    threading.Timer(0.3, process.kill).start()
    with pytest.raises(ChildError, match="ended without a result"):
        run_in_child(_sleep_then_pid, (60.0,))
    assert child_process() is None


def test_a_second_caller_waits_for_the_first_and_can_stop_while_waiting():
    run_in_child(_sleep_then_pid, (0.0,))
    first = threading.Thread(target=run_in_child, args=(_sleep_then_pid, (1.0,)))
    first.start()
    deadline = time.monotonic() + 10
    while not child._lock.locked():  # the first call holds the child
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert run_in_child(_sleep_then_pid, (0.0,), lambda: True) == (False, None)
    first.join(30)
    assert not first.is_alive()
    assert child_process() is not None  # the waiting caller's stop did not kill the child


def _in_a_pool_worker(_: int) -> tuple:
    ok, pid = run_in_child(_sleep_then_pid, (0.0,))
    return ok, pid, os.getpid()


def test_a_pool_worker_which_may_not_start_children_runs_the_work_itself():
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        ok, answered_by, worker = pool.map(_in_a_pool_worker, [0])[0]
    assert ok and answered_by == worker
