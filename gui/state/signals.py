"""The Qt side of the app's state: `AppState` wraps `gui.state.model.AppModel` for the tabs.

Why an adapter: the model has no Qt, so it can be tested in plain Python; the tabs want Qt
signals, which disconnect by themselves when a widget is deleted and which the status bar
and the runner already speak. `AppState` forwards the model's notifications as signals,
owns the one `JobRunner` (sharing the model's job queue), and reads the model's fields
for the tabs. It holds no state of its own.

Every tab follows one protocol (`JobTab` below), so the window treats them alike: Start
(button and F5), Stop, remembered settings, and controls that follow the app's state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QWidget

from gui.state.drawings import MyDrawings
from gui.state.labels import MyLabels
from gui.state.model import AppModel, LoadedData, Request
from gui.state.worker import JobRunner

if TYPE_CHECKING:
    from torch import nn

    from engine.store.checkpoint import Checkpoint


class AppState(QObject):
    """The app's state as the tabs see it: the model's fields, its changes as signals,
    the one background runner, and the status bar."""

    data_changed = Signal()
    models_changed = Signal()
    budget_changed = Signal(str)
    jobs_changed = Signal()  # a job started or ended, or a request was queued or started
    status_message = Signal(str)
    open_requested = Signal(str)  # "encoder" or "classifier": ask the window for a file

    def __init__(self, parent: QObject | None = None, model: AppModel | None = None) -> None:
        super().__init__(parent)
        self.model = model if model is not None else AppModel()
        self.runner = JobRunner(self, self.model.jobs)
        self.model.data_changed.connect(self.data_changed.emit)
        self.model.models_changed.connect(self.models_changed.emit)
        self.model.budget_changed.connect(self.budget_changed.emit)
        self.model.jobs.changed.connect(self.jobs_changed.emit)
        self.drawings = MyDrawings(self)  # the user's labelled drawings (Draw, Evaluate, Fine-tune)
        self.labels = MyLabels(self)  # the labels a person gives (Label, Fine-tune)
        self.data_changed.connect(self._load_labels)

    # ------------------------------------------------------------ the model, read-only

    @property
    def data(self) -> LoadedData | None:
        return self.model.data

    @property
    def autoencoder(self) -> Checkpoint | None:
        return self.model.autoencoder

    @property
    def autoencoder_sha(self) -> str | None:
        return self.model.autoencoder_sha

    @property
    def encoder_file(self) -> Checkpoint | None:
        return self.model.encoder_file

    @property
    def classifier(self) -> Checkpoint | None:
        return self.model.classifier

    @property
    def budget_text(self) -> str:
        return self.model.budget_text

    def decoder_model(self) -> nn.Module | None:
        return self.model.decoder_model()

    def last_dir(self) -> str:
        return self.model.start_dir()

    # ----------------------------------------------------------------------- changes

    def set_data(self, loaded: LoadedData | None) -> None:
        self.model.set_data(loaded)

    def set_autoencoder(self, checkpoint: Checkpoint | None, sha256: str | None) -> None:
        self.model.set_autoencoder(checkpoint, sha256)

    def set_encoder_file(self, checkpoint: Checkpoint | None) -> None:
        self.model.set_encoder_file(checkpoint)

    def set_classifier(self, checkpoint: Checkpoint | None) -> None:
        self.model.set_classifier(checkpoint)

    def set_budget_text(self, text: str) -> None:
        self.model.set_budget_text(text)

    def remember_dir(self, path: str) -> None:
        self.model.remember_dir(path)

    def _load_labels(self) -> None:
        """Read the label file of a newly loaded data folder (not again for the same one:
        that would forget what Backspace undoes)."""
        data = self.model.data
        if data is not None and data.folder != self.labels.folder:
            self.labels.load(data.folder, len(data.mnist.train_images))

    # ------------------------------------------------------------------ jobs, messages

    def request(self, key: str, label: str, action: Callable[[], object]) -> bool:
        """Ask for a job: `action` (which starts it) runs now, or when the running job
        ends, or not at all; the status bar says which. False only when refused."""
        decision = self.runner.request(Request(key, label, action))
        if decision.message:
            self.status(decision.message)
        return decision.outcome != "refused"

    def watch(self, update: Callable[[], object]) -> None:
        """Call `update` whenever what a tab's controls depend on may have changed."""
        self.jobs_changed.connect(update)  # a job started or ended, a request waits
        self.data_changed.connect(update)
        self.models_changed.connect(update)

    def status(self, text: str) -> None:
        self.status_message.emit(text)

    def request_open(self, kind: str) -> None:
        self.open_requested.emit(kind)


@runtime_checkable
class JobTab(Protocol):
    """What every tab that runs jobs offers the window (Data, Pretrain, Fine-tune,
    Evaluate, Compare; the Draw tab runs none)."""

    def start(self) -> bool:
        """Start (or queue) this tab's job: its Start button and F5. False when it cannot,
        with the reason in the status bar."""
        ...

    def stop(self) -> None:
        """Stop this tab's job, if it is the one running."""
        ...

    def settings_widgets(self) -> dict[str, QWidget]:
        """The controls remembered between sessions (keys are QSettings keys)."""
        ...

    def update_controls(self) -> None:
        """Enable what makes sense now (busy or not, what is loaded), with tooltips."""
        ...
