"""Pretrain tab: train the autoencoder on unlabelled images and watch it learn.

The job is `engine.jobs.workflows.pretrain_and_save`; this tab only collects settings,
starts/stops it through the shared JobRunner and shows its events. What it shares with the
Fine-tune tab (training settings, Start/Stop, `TrainingMonitor`, saving) is in
`gui.panels.training_panel`; here is only what is particular to the autoencoder: its
architecture, the reconstructions and the latent map (gui.widgets.latent_map).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QComboBox, QHBoxLayout, QPushButton, QVBoxLayout, QWidget

from engine.config import DEFAULT_ARCH, DEFAULT_PRETRAIN
from engine.options import ARCH_OPTIONS
from gui.panels.training_panel import TrainingPanel
from gui.widgets.forms import option_spin, settings_form, side_by_side
from gui.widgets.latent_map import LatentMapPanel
from gui.widgets.plots import ImageGrid

if TYPE_CHECKING:
    from gui.state.signals import AppState


class PretrainPanel(TrainingPanel):
    """The autoencoder's tab: its architecture settings and live reconstructions."""

    job_name = "pretrain"
    job_title = "Pretraining"
    start_tip = "Train the autoencoder on the training images (F5)"
    epochs_tip = "Maximum passes over the training images"
    seed_tip = "Random seed: same seed and settings, same model"
    defaults = DEFAULT_PRETRAIN
    no_model_text = "No autoencoder yet."
    shows_accuracy = False

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(state, parent)
        self.arch_combo = QComboBox()
        self.arch_combo.setObjectName("pretrainArchCombo")
        self.arch_combo.addItems(["conv", "mlp"])
        self.arch_combo.setCurrentText(DEFAULT_ARCH.arch)
        self.arch_combo.setToolTip(
            "conv: small convolutional encoder (better on images); mlp: fully connected layers"
        )
        self.latent = option_spin(ARCH_OPTIONS["latent"], DEFAULT_ARCH.latent, "pretrainLatentSpin")
        self.dropout = option_spin(
            ARCH_OPTIONS["dropout"], DEFAULT_ARCH.dropout, "pretrainDropoutSpin"
        )
        settings_box = settings_form(
            "Autoencoder",
            [
                ("Architecture:", self.arch_combo),
                ("Latent size:", self.latent),
                ("Epochs:", self.epochs),
                ("Batch size:", self.batch),
                ("Learning rate:", self.lr),
                ("Dropout:", self.dropout),
                ("Patience:", self.patience),
                ("Seed:", self.seed),
            ],
        )

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
        save_row = side_by_side(self.save_encoder_button, self.save_ae_button)

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
        self.latent_map = LatentMapPanel(state)
        curves = QVBoxLayout()
        curves.addWidget(self.monitor, 3)
        curves.addWidget(self.recon, 2)
        right = QHBoxLayout()
        right.addLayout(curves, 3)
        right.addWidget(self.latent_map, 2)
        self._finish_setup(settings_box, save_row, right, left_width=320)

    def settings_widgets(self) -> dict[str, QWidget]:
        return {
            "arch": self.arch_combo,
            "latent": self.latent,
            "dropout": self.dropout,
            **self.train_widgets,
        }

    def arch_values(self) -> dict[str, Any]:
        """Architecture settings (also used by Fine-tune when training from scratch)."""
        return {
            "arch": self.arch_combo.currentText(),
            "latent": self.latent.value(),
            "dropout": self.dropout.value(),
        }

    def _reason_disabled(self) -> str:
        if self.state.data is None and not self.state.model.data_coming():
            return "Load MNIST on the Data tab first"
        return ""

    def _update_own_controls(self, busy: bool, mine: bool) -> None:
        has_model = self.state.autoencoder is not None
        self.save_encoder_button.setEnabled(has_model and not mine)
        self.save_ae_button.setEnabled(has_model and not mine)

    def _start_job(self) -> bool:
        data = self.state.data.mnist
        arch_values = self.arch_values()
        train_values = self._train_values()

        def job(on_event, should_stop):
            from engine.config import ArchConfig, TrainConfig
            from engine.jobs.workflows import (
                PretrainJob,
                RunOptions,
                pretrain_and_save,
                validation_split,
            )
            from engine.reports.latent import epoch_hook, map_indices

            settings = PretrainJob(ArchConfig(**arch_values), TrainConfig(**train_values))
            shown = map_indices(validation_split(data).val)  # the latent map's digits
            hook = epoch_hook(data.train_images[shown], shown, data.train_labels[shown], on_event)
            run = RunOptions(None, on_event, should_stop)
            return pretrain_and_save(data, settings, run, hook)

        self.recon.clear()
        started = self._run(
            job,
            starting="starting … (the first run loads torch)",
            status="Pretraining the autoencoder …",
            on_event=self._on_event,
            on_success=self._done,
        )
        if started:
            self.latent_map.training_started()
        return started

    def _on_event(self, event: object) -> None:
        from engine.events import LatentMap, Reconstructions

        if isinstance(event, LatentMap):
            self.latent_map.show_map(event)
        elif isinstance(event, Reconstructions):
            n = min(len(event.originals), 8)
            import numpy as np

            images = np.concatenate([event.originals[:n], event.reconstructions[:n]])
            self.recon.set_images(
                images, title=f"validation digits and reconstructions (epoch {event.epoch})"
            )
        else:
            self.monitor.handle(event)

    def _done(self, trained: Any) -> None:
        finished, checkpoint = trained.finished, trained.checkpoint
        if self._nothing_trained(finished):
            return
        self.state.set_autoencoder(checkpoint, sha256=None)
        arch = checkpoint.arch
        self.model_label.setText(
            f"Autoencoder ready: {arch.arch}, latent {arch.latent}; validation MSE "
            f"{trained.result.val_mse:.4f} (best epoch {finished.best_epoch}). Not saved yet."
        )
        self.state.status(f"Pretraining {finished.status.replace('_', ' ')}: {finished.reason}")

    def save(self, kind: str = "encoder", path: str | None = None) -> str | None:
        """Save the trained encoder (or whole autoencoder); returns the path or None."""
        checkpoint = self.state.autoencoder
        if checkpoint is None:
            return None
        written = self._write_checkpoint(checkpoint, kind, path)
        if written is None:
            return None
        path, sha = written
        self.state.set_autoencoder(checkpoint, sha256=sha)
        self._show_saved(f" Saved {kind} to {path}.")
        self.state.status(f"Saved {kind} to {path} (sha256 {sha[:12]}…)")
        return path
