"""Fine-tune tab: train the even/odd classifier on a budget of labels.

Encoder source: the autoencoder just trained on the Pretrain tab, an encoder loaded from a
file, or none (train from scratch with the Pretrain tab's architecture). The saved
classifier records which encoder file it came from (`encoder_sha256`), when there is one.
What this tab shares with the Pretrain tab (training settings, Start/Stop, the monitor,
saving) is in `gui.training_panel`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QPushButton,
    QWidget,
)

from engine.config import DEFAULT_FINETUNE
from gui.data_panel import BudgetCombo
from gui.training_panel import TrainingPanel

if TYPE_CHECKING:
    from gui.state_signals import AppState

SOURCES = ("Just trained (Pretrain tab)", "Loaded from file", "None (from scratch)")
JUST_TRAINED, FROM_FILE, SCRATCH = range(3)


class FinetunePanel(TrainingPanel):
    """The classifier's tab: which encoder it starts from, how many labels it learns from."""

    job_name = "finetune"
    job_title = "Fine-tuning"
    start_tip = "Train the even/odd classifier (F5)"
    epochs_tip = "Maximum passes over the labelled images"
    seed_tip = "Random seed (also picks which images are labelled)"
    defaults = DEFAULT_FINETUNE
    no_model_text = "No classifier yet."
    shows_accuracy = True

    def __init__(
        self, state: AppState, arch_values: Any = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(state, parent)
        self.arch_values = arch_values or (lambda: {})

        self.source_combo = QComboBox()
        self.source_combo.setObjectName("finetuneEncoderCombo")
        self.source_combo.addItems(SOURCES)
        self.source_combo.setToolTip(
            "Which encoder the classifier starts from: the autoencoder trained on the "
            "Pretrain tab, an encoder file (File ▸ Open encoder…), or none: a fresh encoder "
            "with the Pretrain tab's architecture, trained from scratch"
        )
        self.source_combo.currentIndexChanged.connect(lambda _i: self.update_controls())
        self.load_encoder_button = QPushButton("Open encoder…")
        self.load_encoder_button.setObjectName("finetuneLoadEncoderButton")
        self.load_encoder_button.setToolTip("Load an encoder or autoencoder .pt file")
        self.load_encoder_button.clicked.connect(lambda: self.state.request_open("encoder"))
        self.encoder_label = QLabel("")
        self.encoder_label.setObjectName("finetuneEncoderLabel")
        self.encoder_label.setWordWrap(True)
        self.freeze_check = QCheckBox("Freeze the encoder (train only the head)")
        self.freeze_check.setObjectName("finetuneFreezeCheck")
        self.freeze_check.setToolTip(
            "Frozen: the pretrained features stay as they are and only "
            "the small classifier head learns"
        )
        self.labels_combo = BudgetCombo(
            state,
            "finetuneLabelsCombo",
            "Labelled training images to use: a number (balanced over "
            "digits, seeded) or 'all'; same as on the Data tab",
        )
        self.augment_check = QCheckBox("Augment (small shifts, rotations, stroke width)")
        self.augment_check.setChecked(DEFAULT_FINETUNE.augment)
        self.augment_check.setObjectName("finetuneAugmentCheck")
        self.augment_check.setToolTip(
            "Random distortions of each batch: helps with few labels and with hand-drawn digits"
        )

        box = QGroupBox("Classifier")
        form = QFormLayout(box)
        form.addRow("Encoder:", self.source_combo)
        form.addRow("", self.load_encoder_button)
        form.addRow(self.encoder_label)
        form.addRow(self.freeze_check)
        form.addRow("Labels:", self.labels_combo)
        form.addRow("Epochs:", self.epochs)
        form.addRow("Batch size:", self.batch)
        form.addRow("Learning rate:", self.lr)
        form.addRow("Patience:", self.patience)
        form.addRow("Seed:", self.seed)
        form.addRow(self.augment_check)

        self.save_button = QPushButton("Save classifier…")
        self.save_button.setObjectName("saveClassifierButton")
        self.save_button.setToolTip("Save the classifier as a .pt checkpoint (Ctrl+S)")
        self.save_button.clicked.connect(lambda: self.save())
        self._finish_setup(box, self.save_button, self.monitor, left_width=340)

    def settings_widgets(self) -> dict[str, QWidget]:
        return {
            "encoder_source": self.source_combo,
            "freeze": self.freeze_check,
            **self.train_widgets,
            "augment": self.augment_check,
        }

    def encoder_choice(self) -> Any:
        """The engine.workflows.EncoderSource the source combo names (module, lineage)."""
        from engine.workflows import EncoderSource

        state, source = self.state, self.source_combo.currentIndex()
        if source == JUST_TRAINED and state.autoencoder is not None:
            return EncoderSource.just_trained(state.autoencoder, state.autoencoder_sha)
        if source == FROM_FILE and state.encoder_file is not None:
            return EncoderSource.from_checkpoint(state.encoder_file)
        return EncoderSource()

    def _reason_disabled(self) -> str:
        state, source = self.state, self.source_combo.currentIndex()
        if state.data is None and not self.state.model.data_coming():
            return "Load MNIST on the Data tab first"
        if source == JUST_TRAINED and state.autoencoder is None:
            return "Pretrain an autoencoder first, or choose another encoder source"
        if source == FROM_FILE and state.encoder_file is None:
            return "Open an encoder file first (File ▸ Open encoder…)"
        return ""

    def _update_own_controls(self, busy: bool, mine: bool) -> None:
        self.save_button.setEnabled(self.state.classifier is not None and not mine)
        # Tighter than the settings lock: from scratch there is no encoder to freeze.
        self.freeze_check.setEnabled(not mine and self.source_combo.currentIndex() != SCRATCH)
        self.labels_combo.setEnabled(not mine)  # saved with the Data tab's settings
        ckpt = self.state.encoder_file
        self.encoder_label.setText(
            f"File: {ckpt.path.name if ckpt.path else '?'} ({ckpt.kind}, {ckpt.arch.arch}, "
            f"latent {ckpt.arch.latent})"
            if ckpt is not None
            else "No encoder file loaded."
        )

    def _start_job(self) -> bool:
        data = self.state.data.mnist
        encoder = self.encoder_choice()
        scratch = encoder.module is None
        arch_values = dict(self.arch_values()) if scratch else encoder.arch.to_dict()
        freeze = self.freeze_check.isChecked() and not scratch
        budget_text = self.labels_combo.currentText()
        train_values = {**self._train_values(), "augment": self.augment_check.isChecked()}

        def job(on_event, should_stop):
            from engine.config import ArchConfig, TrainConfig
            from engine.data import parse_budget
            from engine.workflows import FinetuneJob, RunOptions, finetune_and_save

            settings = FinetuneJob(
                arch=ArchConfig.from_dict(arch_values),
                train=TrainConfig(**train_values),
                labels=parse_budget(budget_text),
                encoder=encoder,
                freeze=freeze,
            )
            return finetune_and_save(data, settings, RunOptions(None, on_event, should_stop))

        return self._run(
            job,
            starting="starting …",
            status=f"Fine-tuning from {encoder.description} …",
            on_event=self.monitor.handle,
            on_success=self._done,
        )

    def _done(self, trained: Any) -> None:
        finished, checkpoint = trained.finished, trained.checkpoint
        if self._nothing_trained(finished):
            return
        self.state.set_classifier(checkpoint)
        extra, accuracy = checkpoint.extra, trained.result.val_accuracy
        self.model_label.setText(
            f"Classifier ready: {extra['labels']:,} labels, {extra['encoder_source']}"
            f"{' (frozen)' if extra['freeze_encoder'] else ''}; validation accuracy "
            f"{accuracy:.2%}. Not saved yet."
        )
        self.state.status(
            f"Fine-tuning {finished.status.replace('_', ' ')}: validation accuracy {accuracy:.2%}"
        )

    def save(self, path: str | None = None) -> str | None:
        """Save the classifier with its encoder lineage; returns the path or None."""
        checkpoint = self.state.classifier
        if checkpoint is None:
            return None
        written = self._write_checkpoint(checkpoint, "classifier", path)
        if written is None:
            return None
        path, sha = written
        checkpoint.sha256 = sha
        lineage = (
            f"; encoder sha256 {checkpoint.encoder_sha256[:12]}…"
            if checkpoint.encoder_sha256
            else ""
        )
        self.state.status(f"Saved classifier to {path}{lineage}")
        self._show_saved(f" Saved to {path}.")
        return path
