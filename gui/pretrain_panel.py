"""Pretrain tab: train the autoencoder on unlabelled images and watch it learn.

The job is `engine.training.pretrain`; this tab only collects settings, starts/stops it
through the shared JobRunner and shows its events. `TrainingMonitor` (progress bar, loss
curves, result line) is shared with the Fine-tune tab.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from gui import errors
from gui.plots import ImageGrid, LossPlot

if TYPE_CHECKING:
    from gui.main_window import AppState


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "…"
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def spin(low: int, high: int, value: int, tip: str, name: str, step: int = 1) -> QSpinBox:
    box = QSpinBox()
    box.setRange(low, high)
    box.setValue(value)
    box.setSingleStep(step)
    box.setToolTip(tip)
    box.setObjectName(name)
    return box


def dspin(
    low: float, high: float, value: float, decimals: int, step: float, tip: str, name: str
) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(low, high)
    box.setDecimals(decimals)
    box.setSingleStep(step)
    box.setValue(value)
    box.setToolTip(tip)
    box.setObjectName(name)
    return box


class TrainingMonitor(QWidget):
    """Progress bar with epoch/batch/ETA, live loss curves and a one-line outcome."""

    def __init__(self, prefix: str, accuracy: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.progress = QProgressBar()
        self.progress.setObjectName(f"{prefix}Progress")
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setFormat("idle")
        self.progress.setTextVisible(True)
        self.plot = LossPlot(accuracy=accuracy)
        self.plot.setObjectName(f"{prefix}LossPlot")
        self.result_label = QLabel("")
        self.result_label.setObjectName(f"{prefix}ResultLabel")
        self.result_label.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.progress)
        layout.addWidget(self.result_label)
        layout.addWidget(self.plot, 1)

    def reset(self, text: str, epochs: int = 1) -> None:
        self.plot.reset(epochs, waiting="waiting for the first batches …")
        self.progress.setValue(0)
        self.progress.setFormat(text)
        self.result_label.setText("")

    def handle(self, event: object) -> None:
        from engine.events import EpochEnd, Finished, Progress

        if isinstance(event, Progress):
            self.progress.setValue(int(1000 * event.fraction))
            loss = f" · loss {event.loss:.4f}" if event.loss is not None else ""
            self.progress.setFormat(
                f"epoch {event.epoch}/{event.epochs} · batch {event.batch}/{event.batches}"
                f"{loss} · ETA {format_seconds(event.eta)}"
            )
            self.plot.add_progress(event.epoch, event.batch, event.batches, event.loss)
        elif isinstance(event, EpochEnd):
            self.plot.add_epoch(
                event.epoch, event.train_loss, event.val_loss, event.best_epoch, event.val_accuracy
            )
            accuracy = (
                f", validation accuracy {event.val_accuracy:.2%}"
                if event.val_accuracy is not None
                else ""
            )
            self.result_label.setText(
                f"Epoch {event.epoch}: train {event.train_loss:.4f}, validation "
                f"{event.val_loss:.4f}{accuracy}; best so far epoch {event.best_epoch}."
            )
        elif isinstance(event, Finished):
            self.plot.finish(event.status, event.epochs_run, event.best_epoch)
            if event.status == "completed":
                self.progress.setValue(1000)
            self.progress.setFormat(
                f"{event.status.replace('_', ' ')} · {format_seconds(event.seconds)}"
            )
            self.result_label.setText(event.reason[:1].upper() + event.reason[1:] + ".")


class PretrainPanel(QWidget):
    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state

        self.arch_combo = QComboBox()
        self.arch_combo.setObjectName("pretrainArchCombo")
        self.arch_combo.addItems(["conv", "mlp"])
        self.arch_combo.setToolTip(
            "conv: small convolutional encoder (better on images); mlp: fully connected layers"
        )
        self.latent = spin(
            2, 1024, 64, "Size of the code the encoder compresses a digit to", "pretrainLatentSpin"
        )
        self.epochs = spin(
            1, 1000, 10, "Maximum passes over the training images", "pretrainEpochsSpin"
        )
        self.batch = spin(8, 4096, 128, "Images per optimiser step", "pretrainBatchSpin", 32)
        self.lr = dspin(1e-5, 1.0, 1e-3, 5, 1e-4, "Adam's (peak) learning rate", "pretrainLrSpin")
        self.dropout = dspin(
            0.0, 0.9, 0.1, 2, 0.05, "Dropout in the encoder (regularisation)", "pretrainDropoutSpin"
        )
        self.patience = spin(
            1,
            100,
            3,
            "Stop early after this many epochs without a better "
            "validation loss; the best weights are kept",
            "pretrainPatienceSpin",
        )
        self.seed = spin(
            0, 2**31 - 1, 0, "Random seed: same seed and settings, same model", "pretrainSeedSpin"
        )
        settings_box = QGroupBox("Autoencoder")
        form = QFormLayout(settings_box)
        form.addRow("Architecture:", self.arch_combo)
        form.addRow("Latent size:", self.latent)
        form.addRow("Epochs:", self.epochs)
        form.addRow("Batch size:", self.batch)
        form.addRow("Learning rate:", self.lr)
        form.addRow("Dropout:", self.dropout)
        form.addRow("Patience:", self.patience)
        form.addRow("Seed:", self.seed)

        self.start_button = QPushButton("Start")
        self.start_button.setObjectName("pretrainStartButton")
        self.start_button.setToolTip("Train the autoencoder on the training images (F5)")
        self.start_button.clicked.connect(self.start)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setObjectName("pretrainStopButton")
        self.stop_button.setToolTip("Stop within a second and keep the best weights so far (Esc)")
        self.stop_button.clicked.connect(self.state.runner.stop)
        self.save_encoder_button = QPushButton("Save encoder…")
        self.save_encoder_button.setObjectName("saveEncoderButton")
        self.save_encoder_button.setToolTip(
            "Save the trained encoder as a .pt checkpoint (for fine-tuning later)"
        )
        self.save_encoder_button.clicked.connect(lambda: self.save(kind="encoder"))
        self.save_ae_button = QPushButton("Save autoencoder…")
        self.save_ae_button.setObjectName("saveAutoencoderButton")
        self.save_ae_button.setToolTip(
            "Save encoder and decoder (the Draw tab can then show reconstructions)"
        )
        self.save_ae_button.clicked.connect(lambda: self.save(kind="autoencoder"))
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.stop_button)
        save_row = QHBoxLayout()
        save_row.addWidget(self.save_encoder_button)
        save_row.addWidget(self.save_ae_button)

        left = QVBoxLayout()
        left.addWidget(settings_box)
        left.addLayout(buttons)
        left.addLayout(save_row)
        self.model_label = QLabel("No autoencoder yet.")
        self.model_label.setObjectName("pretrainModelLabel")
        self.model_label.setWordWrap(True)
        left.addWidget(self.model_label)
        left.addStretch(1)

        self.monitor = TrainingMonitor("pretrain", accuracy=False)
        self.recon = ImageGrid(
            2,
            8,
            captions=False,
            row_labels=("original", "recon."),
            title="validation digits and their reconstructions",
            empty="reconstructions appear after each epoch",
        )
        self.recon.setObjectName("pretrainReconView")
        self.recon.setToolTip("Updated after every epoch")
        right = QVBoxLayout()
        right.addWidget(self.monitor, 3)
        right.addWidget(self.recon, 2)

        layout = QHBoxLayout(self)
        left_widget = QWidget()
        left_widget.setLayout(left)
        left_widget.setMaximumWidth(320)
        layout.addWidget(left_widget)
        layout.addLayout(right, 1)

        state.runner.busy_changed.connect(lambda _busy: self.update_controls())
        state.data_changed.connect(self.update_controls)
        state.models_changed.connect(self.update_controls)
        self.update_controls()

    def settings_widgets(self) -> dict[str, QWidget]:
        return {
            "arch": self.arch_combo,
            "latent": self.latent,
            "epochs": self.epochs,
            "batch_size": self.batch,
            "lr": self.lr,
            "dropout": self.dropout,
            "patience": self.patience,
            "seed": self.seed,
        }

    def arch_values(self) -> dict[str, Any]:
        """Architecture settings (also used by Fine-tune when training from scratch)."""
        return {
            "arch": self.arch_combo.currentText(),
            "latent": self.latent.value(),
            "dropout": self.dropout.value(),
        }

    def update_controls(self) -> None:
        busy = self.state.runner.is_busy()
        mine = busy and self.state.runner.name == "pretrain"
        self.start_button.setEnabled(not busy and self.state.data is not None)
        self.stop_button.setEnabled(mine)
        has_model = self.state.autoencoder is not None
        self.save_encoder_button.setEnabled(has_model and not mine)
        self.save_ae_button.setEnabled(has_model and not mine)
        for widget in self.settings_widgets().values():
            widget.setEnabled(not mine)
        if self.state.data is None and not busy:
            self.start_button.setToolTip("Load MNIST on the Data tab first")
        else:
            self.start_button.setToolTip("Train the autoencoder on the training images (F5)")

    def start(self) -> bool:
        state = self.state
        if state.data is None or state.runner.is_busy():
            return False
        data, split = state.data.mnist, state.data.split
        arch_values = self.arch_values()
        train_values = {
            "epochs": self.epochs.value(),
            "batch_size": self.batch.value(),
            "lr": self.lr.value(),
            "patience": self.patience.value(),
            "seed": self.seed.value(),
        }

        def job(on_event, should_stop):
            from engine.models import ArchConfig
            from engine.training import TrainConfig, pretrain

            arch = ArchConfig(**arch_values)
            cfg = TrainConfig(**train_values)
            result = pretrain(data, arch, cfg, on_event, should_stop, split=split)
            return result, arch, cfg

        self.monitor.reset("starting … (the first run loads torch)", self.epochs.value())
        self.recon.clear()
        started = state.runner.start(
            job,
            on_event=self._on_event,
            on_success=self._done,
            on_failure=self._failed,
            name="pretrain",
        )
        if started:
            state.status("Pretraining the autoencoder …")
            self.update_controls()
        return started

    def _on_event(self, event: object) -> None:
        from engine.events import Reconstructions

        if isinstance(event, Reconstructions):
            n = min(len(event.originals), 8)
            import numpy as np

            images = np.concatenate([event.originals[:n], event.reconstructions[:n]])
            self.recon.set_images(
                images, title=f"validation digits and reconstructions (epoch {event.epoch})"
            )
        else:
            self.monitor.handle(event)

    def _done(self, outcome: tuple) -> None:
        result, arch, cfg = outcome
        from engine.checkpoint import Checkpoint

        finished = result.fit.finished
        checkpoint = Checkpoint(
            kind="autoencoder",
            model=result.model,
            arch=arch,
            train_config=cfg.to_dict(),
            metrics={
                "val_mse": result.val_mse,
                "best_epoch": finished.best_epoch,
                "status": finished.status,
            },
            seed=cfg.seed,
        )
        if finished.epochs_run == 0:
            self.state.status("Pretraining stopped before the first epoch ended: no model.")
            self.update_controls()
            return
        self.state.set_autoencoder(checkpoint, sha256=None)
        self.model_label.setText(
            f"Autoencoder ready: {arch.arch}, latent {arch.latent}; validation MSE "
            f"{result.val_mse:.4f} (best epoch {finished.best_epoch}). Not saved yet."
        )
        self.state.status(f"Pretraining {finished.status.replace('_', ' ')}: {finished.reason}")

    def _failed(self, message: str, details: str) -> None:
        self.monitor.progress.setFormat("failed")
        self.state.status("Pretraining failed")
        errors.show_error(self, message, details)

    def save(self, kind: str = "encoder", path: str | None = None) -> str | None:
        """Save the trained encoder (or whole autoencoder); returns the path or None."""
        checkpoint = self.state.autoencoder
        if checkpoint is None:
            return None
        if path is None:
            default = self.state.last_dir() + f"/{kind}.pt"
            path, _ = QFileDialog.getSaveFileName(
                self, f"Save {kind}", default, "Checkpoints (*.pt)"
            )
            if not path:
                return None
        try:
            from engine.checkpoint import save_checkpoint

            sha = save_checkpoint(
                path,
                checkpoint.model,
                checkpoint.arch,
                kind=kind,
                train_config=checkpoint.train_config,
                metrics=checkpoint.metrics,
                seed=checkpoint.seed,
            )
        except Exception as exc:  # disk full, permissions, engine errors: all shown
            errors.show_error(self, *errors.describe(exc))
            return None
        self.state.set_autoencoder(checkpoint, sha256=sha)
        self.state.remember_dir(path)
        self.model_label.setText(
            self.model_label.text().replace(" Not saved yet.", "") + f" Saved {kind} to {path}."
        )
        self.state.status(f"Saved {kind} to {path} (sha256 {sha[:12]}…)")
        return path
