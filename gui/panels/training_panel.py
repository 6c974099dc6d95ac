"""What the Pretrain and Fine-tune tabs share.

Both tabs collect training settings, run one engine job through the shared JobRunner, show
its events in a `TrainingMonitor` and save the result as a checkpoint. `TrainingPanel` holds
those common parts; each tab subclasses it and keeps only what differs (its own settings,
the job, what the result is called).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import (
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLayout,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from engine.config import TrainConfig
from engine.options import TRAIN_OPTIONS
from engine.reports.console import format_seconds
from gui.state import errors
from gui.state.model import LONG_JOBS, job_title
from gui.widgets.forms import option_spin
from gui.widgets.plots import LOSS_HINT, LossPlot

if TYPE_CHECKING:
    from engine.events import EpochEnd
    from gui.state.signals import AppState
    from gui.state.worker import Job

# The training settings each training tab shows, by their row in the settings table, with
# the widget's object-name suffix; the row's name is also the remembered QSettings key.
TRAIN_SPINS = {"epochs": "Epochs", "batch_size": "Batch", "lr": "Lr", "patience": "Patience",
               "seed": "Seed"}  # fmt: skip


def as_sentence(text: str) -> str:
    """An engine line ("kept the last weights") as a sentence for the tab's status line."""
    return text[:1].upper() + text[1:] + "."


def best_so_far(event: EpochEnd) -> str:
    """The epoch of lowest validation loss, named as what it is: the weights the run goes
    back to, or (a run that keeps its last weights) a figure that is only shown."""
    if event.keeps_best:
        return f"best so far epoch {event.best_epoch}"
    return f"lowest validation loss so far: epoch {event.best_epoch} (shown only)"


class TrainingMonitor(QWidget):
    """Progress bar with epoch/batch/ETA, live loss curves and a one-line outcome."""

    def __init__(
        self, prefix: str, accuracy: bool, parent: QWidget | None = None, hint: str = LOSS_HINT
    ) -> None:
        """`hint`: the line in place of the loss curves before any run."""
        super().__init__(parent)
        self.progress = QProgressBar()
        self.progress.setObjectName(f"{prefix}Progress")
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setFormat("idle")
        self.progress.setTextVisible(True)
        self.plot = LossPlot(accuracy=accuracy, hint=hint)
        self.plot.setObjectName(f"{prefix}LossPlot")
        self.result_label = QLabel("")
        self.result_label.setObjectName(f"{prefix}ResultLabel")
        self.result_label.setWordWrap(True)
        # a warning stays for the whole run: the result line changes every epoch
        self.note_label = QLabel("")
        self.note_label.setObjectName(f"{prefix}NoteLabel")
        self.note_label.setWordWrap(True)
        self.note_label.setStyleSheet("color: #b35900;")
        self.note_label.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.progress)
        layout.addWidget(self.note_label)
        layout.addWidget(self.result_label)
        layout.addWidget(self.plot, 1)

    def reset(self, text: str, epochs: int = 1) -> None:
        self.plot.reset(epochs, waiting="waiting for the first batches …")
        self.progress.setValue(0)
        self.progress.setFormat(text)
        self.result_label.setText("")
        self.note_label.setText("")
        self.note_label.hide()

    def handle(self, event: object) -> None:
        from engine.events import GRAPH_PHASE, EpochEnd, Finished, Message, Progress, PseudoLabels

        if isinstance(event, Progress) and event.phase == GRAPH_PHASE:
            self.progress.setValue(int(1000 * event.fraction))
            self.progress.setFormat(
                f"linking similar images {event.done}/{event.total} · "
                f"ETA {format_seconds(event.eta)}"
            )
        elif isinstance(event, Message) and event.level == "warning":
            self.note_label.setText(as_sentence(event.text))
            self.note_label.show()
        elif isinstance(event, Message):
            self.result_label.setText(as_sentence(event.text))
        elif isinstance(event, Progress):
            self.progress.setValue(int(1000 * event.fraction))
            loss = f" · loss {event.loss:.4f}" if event.loss is not None else ""
            self.progress.setFormat(
                f"epoch {event.epoch}/{event.epochs} · batch {event.batch}/{event.batches}"
                f"{loss} · ETA {format_seconds(event.eta)}"
            )
            self.plot.add_progress(event.epoch, event.batch, event.batches, event.loss)
        elif isinstance(event, EpochEnd):
            self.plot.add_epoch(
                event.epoch,
                event.train_loss,
                event.val_loss,
                event.best_epoch,
                event.val_accuracy,
                event.keeps_best,
            )
            accuracy = (
                f", validation accuracy {event.val_accuracy:.2%}"
                if event.val_accuracy is not None
                else ""
            )
            self.result_label.setText(
                f"Epoch {event.epoch}: train {event.train_loss:.4f}, validation "
                f"{event.val_loss:.4f}{accuracy}; {best_so_far(event)}."
            )
        elif isinstance(event, PseudoLabels):
            self.plot.add_confident(event.epoch, event.confident, event.guided)
            source = "learning the graph's guesses; " if event.guided else ""
            self.result_label.setText(
                f"{self.result_label.text()} Unlabelled images: {source}{event.confident:.0%} "
                f"confident ({event.odd:.0%} of those odd)."
            )
        elif isinstance(event, Finished):
            self.plot.finish(event.status, event.epochs_run, event.best_epoch)
            if event.status == "completed":
                self.progress.setValue(1000)
            self.progress.setFormat(
                f"{event.status.replace('_', ' ')} · {format_seconds(event.seconds)}"
            )
            self.result_label.setText(as_sentence(event.reason))


class TrainingPanel(QWidget):
    """A tab that runs one training job: the settings every training has, Start/Stop, the
    monitor, the "model ready" line, and saving the result.

    A subclass sets the class attributes below, builds its own settings form around the
    widgets made here, and calls `_finish_setup` last in its `__init__`.
    """

    job_name: str  # "pretrain" or "finetune": the runner's job name and the object-name prefix
    job_title: str  # "Pretraining" or "Fine-tuning": how status lines name the job
    start_tip: str  # the Start button's tooltip when it can start
    epochs_tip: str  # what one epoch passes over
    seed_tip: str  # what the seed decides
    defaults: TrainConfig  # the engine's defaults for this job, shown until the user changes them
    no_model_text: str  # the model line before anything is trained
    shows_accuracy: bool  # the monitor plots validation accuracy too (classifiers)

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        name = self.job_name
        d = self.defaults
        tips = {"epochs": self.epochs_tip, "seed": self.seed_tip}  # what they mean on this tab
        self.train_widgets = {
            key: option_spin(
                TRAIN_OPTIONS[key], getattr(d, key), f"{name}{suffix}Spin", tips.get(key)
            )
            for key, suffix in TRAIN_SPINS.items()
        }
        self.epochs, self.batch, self.lr, self.patience, self.seed = self.train_widgets.values()

        self.start_button = QPushButton("Start")
        self.start_button.setObjectName(f"{name}StartButton")
        self.start_button.clicked.connect(self.start)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setObjectName(f"{name}StopButton")
        self.stop_button.setToolTip(
            "Stop within a second (Esc): with all labels the best weights so far are kept, "
            "below all labels the last ones"
        )
        self.stop_button.clicked.connect(self.stop)
        self.model_label = QLabel(self.no_model_text)
        self.model_label.setObjectName(f"{name}ModelLabel")
        self.model_label.setWordWrap(True)
        self.monitor = TrainingMonitor(
            name,
            accuracy=self.shows_accuracy,
            hint=f"Loss curves appear here when {self.job_title.lower()} starts",
        )

    def _finish_setup(
        self,
        settings_box: QGroupBox,
        save_buttons: QWidget | QLayout,
        right: QWidget | QLayout,
        left_width: int,
    ) -> None:
        """Lay the tab out (settings, Start/Stop, save, model line | `right`) and keep the
        controls in step with the app: called last, once every widget exists."""
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.stop_button)
        left = QVBoxLayout()
        left.addWidget(settings_box)
        left.addLayout(buttons)
        _add(left, save_buttons)
        left.addWidget(self.model_label)
        left.addStretch(1)
        left_widget = QWidget()
        left_widget.setLayout(left)
        left_widget.setMaximumWidth(left_width)
        layout = QHBoxLayout(self)
        layout.addWidget(left_widget)
        _add(layout, right, 1)

        self.state.watch(self.update_controls)
        self.update_controls()

    # ------------------------------------------------------------------ to override

    def settings_widgets(self) -> dict[str, QWidget]:
        """The settings remembered between sessions (the keys are QSettings keys)."""
        raise NotImplementedError

    def _start_job(self) -> bool:
        """Start this tab's job on the runner, which is idle; False if it did not start."""
        raise NotImplementedError

    def _reason_disabled(self) -> str:
        """Why this tab's job cannot start with what the app holds (shown as Start's
        tooltip, and in the status bar when asked anyway), or "" when it can."""
        raise NotImplementedError

    def _update_own_controls(self, busy: bool, mine: bool) -> None:
        """Enable the tab's other controls; `mine` is True while this tab's job runs."""

    # ------------------------------------------------------------------------ shared

    def update_controls(self) -> None:
        """Start when the tab has what it needs and no training or study runs (behind a
        short job it waits its turn); Stop, and locked settings, only while this tab's own
        job runs (another tab's job leaves them editable)."""
        runner = self.state.runner
        busy = runner.is_busy()
        mine = busy and runner.name == self.job_name
        reason = self._reason_disabled()
        if not reason and busy and runner.name in LONG_JOBS:
            reason = f"Wait until {job_title(runner.name)} ends, or stop it (Esc)"
        self.start_button.setEnabled(not reason)
        self.start_button.setToolTip(reason or self.start_tip)
        self.stop_button.setEnabled(mine)
        for widget in self.settings_widgets().values():
            widget.setEnabled(not mine)
        self._update_own_controls(busy, mine)

    def start(self) -> bool:
        """Start button and F5: start now, or when a short job ends (queued); refused, with
        the reason in the status bar, while a training or study runs or when the tab lacks
        what it needs. False when refused."""
        reason = self._reason_disabled()
        if reason and not self.state.runner.is_busy():
            self.state.status(f"{self.job_title} not started: {reason}.")
            return False
        return self.state.request(self.job_name, self.job_title.lower(), self._start_when_due)

    def stop(self) -> None:
        """Stop this tab's training; what it trained so far is kept (the best weights with
        all labels, the last below all labels)."""
        if self.state.runner.is_busy() and self.state.runner.name == self.job_name:
            self.state.runner.stop()

    def _start_when_due(self) -> None:
        """The request's action: by its turn the app may have changed (a queued data load
        may have failed), so check again."""
        reason = self._reason_disabled()
        if reason:
            self.state.status(f"{self.job_title} not started: {reason}.")
            return
        self._start_job()

    def _train_values(self) -> dict[str, Any]:
        """TrainConfig fields from the shared spin boxes, read in the GUI thread."""
        values = {key: box.value() for key, box in self.train_widgets.items()}
        return values | {"precision": self.defaults.precision}  # the engine's choice; no widget

    def _planned_epochs(self) -> int:
        """How many epochs (or rounds) the monitor's x axis spans for the next run."""
        return self.epochs.value()

    def _run(
        self,
        job: Job,
        starting: str,
        status: str,
        on_event: Callable[[object], None],
        on_success: Callable[[Any], None],
    ) -> bool:
        """Reset the monitor and start `job` on the shared runner; False if it did not start."""
        self.monitor.reset(starting, self._planned_epochs())
        started = self.state.runner.start(
            job,
            on_event=on_event,
            on_success=on_success,
            on_failure=self._failed,
            name=self.job_name,
        )
        if started:
            self.state.status(status)
            self.update_controls()
        return started

    def _nothing_trained(self, finished: Any) -> bool:
        """True (and said in the status bar) when the job stopped before one epoch ended."""
        if finished.epochs_run != 0:
            return False
        self.state.status(f"{self.job_title} stopped before the first epoch ended: no model.")
        self.update_controls()
        return True

    def _failed(self, message: str, details: str) -> None:
        self.monitor.progress.setFormat("failed")
        self.state.status(f"{self.job_title} failed")
        errors.show_error(self, message, details)

    def _write_checkpoint(
        self, checkpoint: Any, kind: str, path: str | None
    ) -> tuple[str, str] | None:
        """Write `checkpoint` as `kind` to `path` (asked for when None); (path, sha256), or
        None when cancelled or failed (the error is shown)."""
        if path is None:
            default = self.state.last_dir() + f"/{kind}.pt"
            path, _ = QFileDialog.getSaveFileName(
                self, f"Save {kind}", default, "Checkpoints (*.pt)"
            )
            if not path:
                return None
        try:
            from engine.jobs.workflows import save_model

            sha = save_model(checkpoint, path, kind)
        except Exception as exc:  # disk full, permissions, engine errors: all shown
            errors.show_error(self, *errors.describe(exc))
            return None
        self.state.remember_dir(path)
        return path, sha

    def _show_saved(self, note: str) -> None:
        """Replace the model line's "Not saved yet." with where it was saved."""
        self.model_label.setText(self.model_label.text().replace(" Not saved yet.", "") + note)


def _add(layout: QHBoxLayout | QVBoxLayout, item: QWidget | QLayout, stretch: int = 0) -> None:
    if isinstance(item, QLayout):
        layout.addLayout(item, stretch)
    else:
        layout.addWidget(item, stretch)
