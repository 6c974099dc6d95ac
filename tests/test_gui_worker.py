"""The job runner (gui.state.worker.JobRunner) on its own: a job's result, events, stop, failure,
and what happens to a second request while one runs. Jobs here are plain functions held
at a gate (a threading.Event), so each test decides when they end: no clock involved."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtWidgets import QApplication

from engine.data.mnist import DataError
from gui.state.errors import UNEXPECTED
from gui.state.model import Request
from gui.state.worker import JobRunner, running_threads

TIMEOUT_MS = 10_000


@pytest.fixture
def runner(qtbot):
    job_runner = JobRunner()
    yield job_runner
    assert job_runner.shutdown(TIMEOUT_MS)


def gated(gate: threading.Event, result: object = "done"):
    """A job that waits at `gate`, then returns `result`."""

    def job(on_event, should_stop):
        gate.wait(TIMEOUT_MS / 1000)
        return result

    return job


def until_stopped(on_event, should_stop) -> str:
    """A job that works until asked to stop."""
    pause = threading.Event()
    while not should_stop():
        pause.wait(0.001)  # a batch of work
    return "stopped"


def test_a_job_runs_in_its_own_thread_and_reports_in_the_gui_thread(qtbot, runner) -> None:
    threads: dict[str, int] = {}
    busy: list[bool] = []
    events: list[object] = []
    runner.busy_changed.connect(busy.append)

    def job(on_event, should_stop):
        threads["job"] = threading.get_ident()
        for i in range(3):
            on_event(i)
        return 42

    def succeeded(value: object) -> None:
        threads["callback"] = threading.get_ident()
        assert not runner.is_busy()  # the thread has ended: the next job may start here

    with qtbot.waitSignal(runner.succeeded, timeout=TIMEOUT_MS) as result:
        assert runner.start(job, on_event=events.append, on_success=succeeded, name="x")
        assert runner.is_busy() and runner.name == "x"
    assert result.args == [42]
    assert events == [0, 1, 2]
    assert busy == [True, False]
    assert threads["job"] != threading.get_ident() == threads["callback"]
    assert running_threads() == []


def test_stop_is_seen_by_the_job_at_its_next_check(qtbot, runner) -> None:
    def job(on_event, should_stop):
        on_event("running")
        return until_stopped(on_event, should_stop)

    with qtbot.waitSignal(runner.event, timeout=TIMEOUT_MS):
        runner.start(job)
    with qtbot.waitSignal(runner.succeeded, timeout=TIMEOUT_MS) as result:
        runner.stop()
    assert result.args == ["stopped"] and not runner.is_busy()


def test_an_engine_error_is_a_plain_message_anything_else_a_bug_report(qtbot, runner) -> None:
    def raises(exc: BaseException):
        def job(on_event, should_stop):
            raise exc

        return job

    failures: list[tuple[str, str]] = []
    with qtbot.waitSignal(runner.failed, timeout=TIMEOUT_MS) as plain:
        runner.start(raises(DataError("no MNIST files in /x")), on_failure=lambda *a: None)
    assert plain.args == ["no MNIST files in /x", ""]
    with qtbot.waitSignal(runner.failed, timeout=TIMEOUT_MS):
        runner.start(raises(RuntimeError("boom")), on_failure=lambda m, d: failures.append((m, d)))
    [(message, details)] = failures
    assert message == f"{UNEXPECTED}: RuntimeError: boom"
    assert "Traceback" in details and "boom" in details
    assert not runner.is_busy()


def test_a_second_start_while_busy_is_refused_and_never_runs(qtbot, runner) -> None:
    gate = threading.Event()
    ran: list[str] = []
    assert runner.start(gated(gate), name="first")
    assert not runner.start(lambda on_event, should_stop: ran.append("second"), name="second")
    assert runner.name == "first"
    with qtbot.waitSignal(runner.succeeded, timeout=TIMEOUT_MS):
        gate.set()
    assert ran == []


def test_a_request_while_busy_waits_its_turn_after_the_running_jobs_callbacks(
    qtbot, runner
) -> None:
    gate = threading.Event()
    order: list[str] = []

    def second() -> None:
        order.append("second starts")
        runner.start(lambda on_event, should_stop: "second", name="evaluate")

    runner.start(gated(gate), on_success=lambda _: order.append("first done"), name="load")
    decision = runner.request(Request("evaluate", "the evaluation", second))
    assert decision.outcome == "queued"
    assert decision.message == "Queued: the evaluation; it starts when loading MNIST ends."
    assert [r.key for r in runner.queue.waiting] == ["evaluate"]
    with qtbot.waitSignal(runner.succeeded, timeout=TIMEOUT_MS, check_params_cb="second".__eq__):
        gate.set()
    assert order == ["first done", "second starts"]
    assert runner.queue.waiting == () and runner.queue.running is None


def test_a_waiting_request_that_cannot_start_lets_the_next_one_go(qtbot, runner) -> None:
    gate = threading.Event()
    order: list[str] = []
    runner.start(gated(gate), name="open-default")
    runner.request(Request("evaluate", "the evaluation", lambda: order.append("declined")))
    runner.request(
        Request(
            "data",
            "load MNIST",
            lambda: order.append("load") or runner.start(until_stopped, name="load"),
        )
    )
    with qtbot.waitSignal(runner.busy_changed, timeout=TIMEOUT_MS, check_params_cb=bool):
        gate.set()  # open-default ends; the evaluation declines; the load starts
    assert order == ["declined", "load"] and runner.name == "load"
    runner.stop()


def test_a_training_asked_for_during_a_training_is_refused(qtbot, runner) -> None:
    gate = threading.Event()
    runner.start(gated(gate), name="pretrain")
    ran: list[str] = []
    decision = runner.request(Request("finetune", "fine-tuning", lambda: ran.append("ft")))
    assert decision.outcome == "refused"
    assert decision.message == (
        "Did not start fine-tuning: pretraining is still running. "
        "Stop it (Esc) or wait until it ends."
    )
    with qtbot.waitSignal(runner.succeeded, timeout=TIMEOUT_MS):
        gate.set()
    assert ran == [] and runner.queue.waiting == ()


def test_shutdown_waits_for_the_thread_and_drops_results_and_waiting_requests(
    qtbot, runner
) -> None:
    called: list[str] = []
    runner.start(until_stopped, on_success=lambda _: called.append("success"), name="pretrain")
    runner.request(Request("data", "load MNIST", lambda: called.append("load")))
    assert runner.shutdown(TIMEOUT_MS)
    assert not runner.is_busy() and running_threads() == []
    assert runner.queue.waiting == () and runner.queue.running is None
    QApplication.processEvents()  # the ended thread's signals are all posted by now
    assert called == []
