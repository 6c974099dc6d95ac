"""What the app holds, without Qt: the loaded data, the models, the label budget and the
jobs (the one running, the requests waiting their turn).

Why a module without Qt: this is the app's logic that is not drawing (which model the
Draw tab reconstructs with, whether a request starts, waits or is refused), and it can be
tested in plain Python. `gui.state.signals.AppState` is the thin Qt adapter the tabs use:
it turns the `Notifier`s here into Qt signals and owns the thread that runs jobs.

Nothing here may import PySide6 (tests/test_gui_state.py checks it) or torch (the window
must paint before torch loads); engine types are named for the type checker only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:
    from torch import nn

    from engine.data.mnist import Mnist, Split
    from engine.store.checkpoint import Checkpoint


class Notifier:
    """Callbacks run when something changed: the Qt-free stand-in for a signal."""

    def __init__(self) -> None:
        self._callbacks: list[Callable[..., object]] = []

    def connect(self, callback: Callable[..., object]) -> None:
        self._callbacks.append(callback)

    def emit(self, *args: object) -> None:
        for callback in list(self._callbacks):
            callback(*args)


@dataclass
class LoadedData:
    """MNIST plus its train/validation split and the numbers the Data tab shows."""

    mnist: Mnist
    split: Split
    folder: str
    counts: dict[str, np.ndarray]  # split name -> per-digit counts (10,)
    samples: np.ndarray  # (n, 28, 28) uint8 from the training split
    sample_digits: np.ndarray  # (n,)


# ------------------------------------------------------------------------------- jobs

# Trainings and studies take minutes: a second one is refused while one runs (queued, it
# would start long after the click, with settings the user may have changed meanwhile).
# Everything else (loading, opening, evaluating) takes seconds and waits its turn.
LONG_JOBS = frozenset({"pretrain", "finetune", "compare"})

# How messages name a running job (by the JobRunner's job names).
JOB_TITLES = {
    "open-default": "loading the shipped model",
    "load": "loading MNIST",
    "download": "downloading MNIST",
    "open-encoder": "opening the encoder",
    "open-classifier": "opening the classifier",
    "evaluate": "the evaluation",
    "ask": "choosing images to label",
    "pretrain": "pretraining",
    "finetune": "fine-tuning",
    "compare": "the study",
}


def job_title(name: str) -> str:
    return JOB_TITLES.get(name, name or "the running job")


@dataclass(frozen=True)
class Request:
    """Something the user asked for that needs the job runner.

    `key` says what kind of job it is ("data", "open-encoder", "open-classifier",
    "evaluate", "ask", "pretrain", "finetune", "compare"): a newer request of a kind replaces a
    waiting one of the same kind. `action` starts the job when its turn comes; it reads
    the app's state at that moment, not at the click, and says so itself if it cannot.
    """

    key: str
    label: str  # what the request does, for messages: "load MNIST from /data"
    action: Callable[[], object] = field(compare=False)


Outcome = Literal["start", "queued", "refused"]


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    message: str  # "" when the request may start now


class JobQueue:
    """The running job's name and the requests waiting for it to end, with the rule
    that decides what a new request does (see `admit`)."""

    def __init__(self) -> None:
        self.running: str | None = None  # the name of the running job
        self._waiting: list[Request] = []
        self.changed = Notifier()  # running job or waiting requests changed

    @property
    def waiting(self) -> tuple[Request, ...]:
        return tuple(self._waiting)

    def is_waiting(self, key: str) -> bool:
        return any(request.key == key for request in self._waiting)

    def admit(self, request: Request) -> Decision:
        """Start now when nothing runs or waits; refuse a training or study while one
        runs; otherwise queue it (replacing a waiting request of the same kind)."""
        running = self.running
        if running is None and not self._waiting:
            return Decision("start", "")
        if running in LONG_JOBS and request.key in LONG_JOBS:
            return Decision(
                "refused",
                f"Did not start {request.label}: {job_title(running)} is still running. "
                "Stop it (Esc) or wait until it ends.",
            )
        replaced = self.is_waiting(request.key)
        self._waiting = [r for r in self._waiting if r.key != request.key] + [request]
        self.changed.emit()
        turn = (
            f"it starts when {job_title(running)} ends"
            if running is not None
            else "it starts after the requests before it"
        )
        note = " (replaces the earlier request)" if replaced else ""
        return Decision("queued", f"Queued: {request.label}; {turn}{note}.")

    def pop(self) -> Request | None:
        """The request whose turn it is, removed from the queue."""
        if not self._waiting:
            return None
        request = self._waiting.pop(0)
        self.changed.emit()
        return request

    def set_running(self, name: str | None) -> None:
        self.running = name
        self.changed.emit()

    def clear(self) -> None:
        """Forget every waiting request (the window is closing)."""
        if self._waiting:
            self._waiting = []
            self.changed.emit()


# ------------------------------------------------------------------------------ model


class AppModel:
    """What the app holds: data, models, the label budget, the last folder, the jobs.

    Setters notify (`data_changed`, `models_changed`, `budget_changed(text)`) so every
    view can follow; the views never keep their own copy of these.
    """

    def __init__(self) -> None:
        self.data: LoadedData | None = None
        self.autoencoder: Checkpoint | None = None  # trained on the Pretrain tab
        self.autoencoder_sha: str | None = None  # sha256 of the file it was saved to
        self.encoder_file: Checkpoint | None = None  # an encoder or autoencoder file
        self.classifier: Checkpoint | None = None  # trained here or opened
        self.shipped_autoencoder: Checkpoint | None = None  # for Draw's reconstruction
        self.budget_text = "all"
        self.last_dir = ""  # the folder of the last file opened or saved
        self.jobs = JobQueue()
        self.data_changed = Notifier()
        self.models_changed = Notifier()
        self.budget_changed = Notifier()

    def set_data(self, loaded: LoadedData | None) -> None:
        self.data = loaded
        self.data_changed.emit()

    def set_autoencoder(self, checkpoint: Checkpoint | None, sha256: str | None) -> None:
        self.autoencoder, self.autoencoder_sha = checkpoint, sha256
        self.models_changed.emit()

    def set_encoder_file(self, checkpoint: Checkpoint | None) -> None:
        self.encoder_file = checkpoint
        self.models_changed.emit()

    def set_classifier(self, checkpoint: Checkpoint | None) -> None:
        self.classifier = checkpoint
        self.models_changed.emit()

    def set_shipped(self, classifier: Checkpoint, autoencoder: Checkpoint | None) -> bool:
        """Use the default model from resources/, unless a classifier is there already
        (the user opened one while it loaded); True if it is used."""
        if self.classifier is not None:
            return False
        self.shipped_autoencoder = autoencoder
        self.set_classifier(classifier)
        return True

    def set_budget_text(self, text: str) -> None:
        if text != self.budget_text:
            self.budget_text = text
            self.budget_changed.emit(text)

    def data_coming(self) -> bool:
        """MNIST is being read or waits to be: a job that needs it can wait its turn."""
        return self.jobs.running in ("load", "download") or self.jobs.is_waiting("data")

    def start_dir(self) -> str:
        """Where file dialogs open: the last folder used, else the home folder."""
        return self.last_dir or str(Path.home())

    def remember_dir(self, path: str) -> None:
        self.last_dir = str(Path(path).parent)

    def decoder_model(self) -> nn.Module | None:
        """An autoencoder for the Draw tab's reconstruction: the one trained here, else
        the opened file's if it has a decoder, else the shipped one."""
        if self.autoencoder is not None:
            return self.autoencoder.model
        if self.encoder_file is not None and self.encoder_file.has_decoder:
            return self.encoder_file.model
        if self.shipped_autoencoder is not None:
            return self.shipped_autoencoder.model
        return None
