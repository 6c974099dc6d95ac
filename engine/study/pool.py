"""Training the study's cells side by side: one worker process per CPU core.

Why: the study's networks are small, so a training step cannot keep two cores busy;
torch's second thread shortens a step by well under a half. Two cells trained at once,
each on its own core and thread, got through the same cells 1.5 times as fast as one
cell at a time on two threads (docs/measurements.md). Processes rather than threads,
because every cell seeds torch's global generator (initial weights, dropout masks),
which threads would share, and a cell must give the same numbers whatever trains
beside it.

The parent process keeps everything else: it hands out cells, turns the workers'
progress into its own events, records cells as they finish and passes on a stop.
"""

from __future__ import annotations

import multiprocessing
import queue
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.config import ArchConfig, TrainConfig
from engine.events import Progress
from engine.study.settings import StudyError

if TYPE_CHECKING:
    import torch

    from engine.data.labels import Labels
    from engine.data.mnist import Mnist
    from engine.study.cell import CellRun

POLL_SECONDS = 0.1  # how often the parent looks for progress, finished cells and a stop


@dataclass(frozen=True)
class CellTask:
    """One cell to train: what `train_cell` needs besides the shared data."""

    key: Any  # the caller's handle for this cell, returned with its result
    arch: ArchConfig
    cfg: TrainConfig
    labelled: Labels  # the images of the cell's (budget, seed), with what was said of each
    encoder: Any  # nn.Module, or None for scratch
    freeze: bool
    unlabelled: torch.Tensor | None = None  # training indices learned from without labels


# Set in each worker process by _start_worker; a worker trains one cell at a time.
_worker: dict[str, Any] = {}


def _start_worker(
    data: Mnist, val_indices: torch.Tensor, val_every: int, threads: int, stop: Any, events: Any
) -> None:
    import torch

    torch.set_num_threads(threads)
    _worker.update(data=data, val=val_indices, val_every=val_every, stop=stop, events=events)


def _train_in_worker(task: CellTask) -> CellRun:
    from engine.study.cell import train_cell

    events = _worker["events"]

    def on_event(event: object) -> None:
        if isinstance(event, Progress):
            events.put((task.key, event.done))

    return train_cell(
        _worker["data"],
        task.arch,
        task.cfg,
        task.labelled,
        task.encoder,
        task.freeze,
        _worker["val"],
        _worker["val_every"],
        on_event,
        _worker["stop"].is_set,
        task.unlabelled,
    )


def default_workers() -> int:
    """One worker per core torch would use, at most 4 (each holds a copy of MNIST)."""
    import torch

    return max(1, min(4, torch.get_num_threads()))


def threads_per_worker(workers: int) -> int:
    import torch

    return max(1, torch.get_num_threads() // workers)


def train_cells(
    data: Mnist,
    val_indices: torch.Tensor,
    val_every: int,
    tasks: Iterable[CellTask],
    workers: int,
    on_progress: Callable[[Any, int], None],
    on_done: Callable[[CellTask, CellRun], None],
    should_stop: Callable[[], bool],
) -> bool:
    """Train `tasks` on `workers` processes, in order of submission; True if stopped.

    on_progress(key, steps) reports a running cell's steps; on_done(task, run) gets each
    finished cell (stopped ones included: the caller decides what to keep). A stop is
    passed to the workers at once; each running cell ends after its current batch.
    """
    context = multiprocessing.get_context("spawn")  # fork would copy torch's threads
    stop, events = context.Event(), context.Queue()
    start = (data, val_indices, val_every, threads_per_worker(workers), stop, events)
    stopped = False
    with ProcessPoolExecutor(workers, context, _start_worker, start) as pool:
        pending: dict[Future, CellTask] = {pool.submit(_train_in_worker, t): t for t in tasks}
        try:
            while pending:
                finished, _ = wait(pending, timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
                _drain(events, on_progress, {task.key for task in pending.values()})
                for future in finished:
                    task = pending.pop(future)
                    if not future.cancelled():
                        on_done(task, future.result())
                if not stopped and should_stop():
                    stopped = True
                    stop.set()
                    for future in pending:
                        future.cancel()  # not started yet: never starts
        except BaseException as exc:  # a failed cell, Ctrl+C: end the others quickly
            stop.set()
            for future in pending:
                future.cancel()
            if isinstance(exc, BrokenProcessPool):
                raise StudyError("a study worker process ended unexpectedly") from None
            raise
    return stopped


def _drain(events: Any, on_progress: Callable[[Any, int], None], live: set) -> None:
    """Pass on the workers' progress, but only of unfinished cells: a report can arrive
    after its cell's result, and must not count the finished cell twice."""
    while True:
        try:
            key, done = events.get_nowait()
        except queue.Empty:
            return
        if key in live:
            on_progress(key, done)
