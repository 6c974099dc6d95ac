"""Fine-tune tab: train the even/odd classifier on a budget of labels.

Encoder source: the autoencoder just trained on the Pretrain tab, an encoder loaded from a
file, or none (train from scratch with the Pretrain tab's architecture). The saved
classifier records which encoder file it came from (`encoder_sha256`), when there is one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from gui import errors
from gui.data_panel import BUDGET_CHOICES
from gui.pretrain_panel import TrainingMonitor, dspin, spin

if TYPE_CHECKING:
    from gui.main_window import AppState

SOURCES = ("Just trained (Pretrain tab)", "Loaded from file", "None (from scratch)")
JUST_TRAINED, FROM_FILE, SCRATCH = range(3)


class FinetunePanel(QWidget):
    def __init__(
        self, state: AppState, arch_values: Any = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.state = state
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
        self.labels_combo = QComboBox()
        self.labels_combo.setObjectName("finetuneLabelsCombo")
        self.labels_combo.setEditable(True)
        self.labels_combo.addItems(BUDGET_CHOICES)
        self.labels_combo.setToolTip(
            "Labelled training images to use: a number (balanced over "
            "digits, seeded) or 'all'; same as on the Data tab"
        )
        self.labels_combo.currentTextChanged.connect(state.set_budget_text)
        state.budget_changed.connect(self._show_budget)
        self.epochs = spin(
            1, 1000, 10, "Maximum passes over the labelled images", "finetuneEpochsSpin"
        )
        self.batch = spin(8, 4096, 64, "Images per optimiser step", "finetuneBatchSpin", 32)
        self.lr = dspin(1e-5, 1.0, 1e-3, 5, 1e-4, "Adam's (peak) learning rate", "finetuneLrSpin")
        self.patience = spin(
            1,
            100,
            3,
            "Stop early after this many epochs without a better "
            "validation loss; the best weights are kept",
            "finetunePatienceSpin",
        )
        self.seed = spin(
            0,
            2**31 - 1,
            0,
            "Random seed (also picks which images are labelled)",
            "finetuneSeedSpin",
        )
        self.augment_check = QCheckBox("Augment (small shifts, rotations, stroke width)")
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

        self.start_button = QPushButton("Start")
        self.start_button.setObjectName("finetuneStartButton")
        self.start_button.clicked.connect(self.start)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setObjectName("finetuneStopButton")
        self.stop_button.setToolTip("Stop within a second and keep the best weights so far (Esc)")
        self.stop_button.clicked.connect(self.state.runner.stop)
        self.save_button = QPushButton("Save classifier…")
        self.save_button.setObjectName("saveClassifierButton")
        self.save_button.setToolTip("Save the classifier as a .pt checkpoint (Ctrl+S)")
        self.save_button.clicked.connect(lambda: self.save())
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.stop_button)
        self.model_label = QLabel("No classifier yet.")
        self.model_label.setObjectName("finetuneModelLabel")
        self.model_label.setWordWrap(True)

        left = QVBoxLayout()
        left.addWidget(box)
        left.addLayout(buttons)
        left.addWidget(self.save_button)
        left.addWidget(self.model_label)
        left.addStretch(1)
        left_widget = QWidget()
        left_widget.setLayout(left)
        left_widget.setMaximumWidth(340)

        self.monitor = TrainingMonitor("finetune", accuracy=True)
        layout = QHBoxLayout(self)
        layout.addWidget(left_widget)
        layout.addWidget(self.monitor, 1)

        state.runner.busy_changed.connect(lambda _busy: self.update_controls())
        state.data_changed.connect(self.update_controls)
        state.models_changed.connect(self.update_controls)
        self.update_controls()

    def settings_widgets(self) -> dict[str, QWidget]:
        return {
            "encoder_source": self.source_combo,
            "freeze": self.freeze_check,
            "epochs": self.epochs,
            "batch_size": self.batch,
            "lr": self.lr,
            "patience": self.patience,
            "seed": self.seed,
            "augment": self.augment_check,
        }

    def _show_budget(self, text: str) -> None:
        if self.labels_combo.currentText() != text:
            self.labels_combo.blockSignals(True)
            self.labels_combo.setEditText(text)
            self.labels_combo.blockSignals(False)

    def encoder_choice(self) -> tuple[Any, Any, str | None, str]:
        """(encoder module or None, ArchConfig or None, lineage sha, description)."""
        state, source = self.state, self.source_combo.currentIndex()
        if source == JUST_TRAINED and state.autoencoder is not None:
            ae = state.autoencoder
            return ae.encoder, ae.arch, state.autoencoder_sha, "the autoencoder just trained"
        if source == FROM_FILE and state.encoder_file is not None:
            ckpt = state.encoder_file
            name = ckpt.path.name if ckpt.path else "file"
            return ckpt.encoder, ckpt.arch, ckpt.sha256, f"encoder file {name}"
        return None, None, None, "no encoder (from scratch)"

    def _reason_disabled(self) -> str:
        state, source = self.state, self.source_combo.currentIndex()
        if state.data is None:
            return "Load MNIST on the Data tab first"
        if source == JUST_TRAINED and state.autoencoder is None:
            return "Pretrain an autoencoder first, or choose another encoder source"
        if source == FROM_FILE and state.encoder_file is None:
            return "Open an encoder file first (File ▸ Open encoder…)"
        return ""

    def update_controls(self) -> None:
        busy = self.state.runner.is_busy()
        mine = busy and self.state.runner.name == "finetune"
        reason = self._reason_disabled()
        self.start_button.setEnabled(not busy and not reason)
        self.start_button.setToolTip(reason or "Train the even/odd classifier (F5)")
        self.stop_button.setEnabled(mine)
        self.save_button.setEnabled(self.state.classifier is not None and not mine)
        self.load_encoder_button.setEnabled(not busy)
        self.freeze_check.setEnabled(not mine and self.source_combo.currentIndex() != SCRATCH)
        for widget in (
            self.source_combo,
            self.labels_combo,
            self.epochs,
            self.batch,
            self.lr,
            self.patience,
            self.seed,
            self.augment_check,
        ):
            widget.setEnabled(not mine)
        ckpt = self.state.encoder_file
        self.encoder_label.setText(
            f"File: {ckpt.path.name if ckpt.path else '?'} ({ckpt.kind}, {ckpt.arch.arch}, "
            f"latent {ckpt.arch.latent})"
            if ckpt is not None
            else "No encoder file loaded."
        )

    def start(self) -> bool:
        state = self.state
        if state.runner.is_busy() or self._reason_disabled():
            return False
        data, split = state.data.mnist, state.data.split
        encoder, arch, lineage, description = self.encoder_choice()
        arch_values = dict(arch.to_dict()) if arch is not None else dict(self.arch_values())
        freeze = self.freeze_check.isChecked() and encoder is not None
        budget_text = self.labels_combo.currentText()
        train_values = {
            "epochs": self.epochs.value(),
            "batch_size": self.batch.value(),
            "lr": self.lr.value(),
            "patience": self.patience.value(),
            "seed": self.seed.value(),
            "augment": self.augment_check.isChecked(),
        }

        def job(on_event, should_stop):
            from engine.data import label_budget, parse_budget
            from engine.models import ArchConfig
            from engine.training import TrainConfig, finetune

            arch_cfg = ArchConfig.from_dict(arch_values)
            cfg = TrainConfig(**train_values)
            budget = parse_budget(budget_text)
            labelled = label_budget(data.train_labels, split.train, budget, cfg.seed)
            result = finetune(
                data,
                arch_cfg,
                cfg,
                labelled,
                encoder=encoder,
                freeze=freeze,
                on_event=on_event,
                should_stop=should_stop,
                split=split,
            )
            return result, arch_cfg, cfg, len(labelled)

        self.monitor.reset("starting …", self.epochs.value())
        info = {
            "lineage": lineage,
            "description": description,
            "freeze": freeze,
            "budget": budget_text,
        }
        started = state.runner.start(
            job,
            on_event=self.monitor.handle,
            on_success=lambda out: self._done(out, info),
            on_failure=self._failed,
            name="finetune",
        )
        if started:
            state.status(f"Fine-tuning from {description} …")
            self.update_controls()
        return started

    def _done(self, outcome: tuple, info: dict) -> None:
        result, arch, cfg, n_labels = outcome
        from engine.checkpoint import Checkpoint

        finished = result.fit.finished
        if finished.epochs_run == 0:
            self.state.status("Fine-tuning stopped before the first epoch ended: no model.")
            self.update_controls()
            return
        checkpoint = Checkpoint(
            kind="classifier",
            model=result.model,
            arch=arch,
            train_config=cfg.to_dict(),
            metrics={
                "val_accuracy": result.val_accuracy,
                "labels": n_labels,
                "best_epoch": finished.best_epoch,
                "frozen": info["freeze"],
            },
            seed=cfg.seed,
            encoder_sha256=info["lineage"],
            extra={"encoder_source": info["description"]},
        )
        self.state.set_classifier(checkpoint)
        self.model_label.setText(
            f"Classifier ready: {n_labels:,} labels, {info['description']}"
            f"{' (frozen)' if info['freeze'] else ''}; validation accuracy "
            f"{result.val_accuracy:.2%}. Not saved yet."
        )
        self.state.status(
            f"Fine-tuning {finished.status.replace('_', ' ')}: "
            f"validation accuracy {result.val_accuracy:.2%}"
        )

    def _failed(self, message: str, details: str) -> None:
        self.monitor.progress.setFormat("failed")
        self.state.status("Fine-tuning failed")
        errors.show_error(self, message, details)

    def save(self, path: str | None = None) -> str | None:
        checkpoint = self.state.classifier
        if checkpoint is None:
            return None
        if path is None:
            path, _ = QFileDialog.getSaveFileName(
                self,
                "Save classifier",
                self.state.last_dir() + "/classifier.pt",
                "Checkpoints (*.pt)",
            )
            if not path:
                return None
        try:
            from engine.checkpoint import save_checkpoint

            sha = save_checkpoint(
                path,
                checkpoint.model,
                checkpoint.arch,
                kind="classifier",
                train_config=checkpoint.train_config,
                metrics=checkpoint.metrics,
                seed=checkpoint.seed,
                encoder_sha256=checkpoint.encoder_sha256,
                extra=checkpoint.extra,
            )
        except Exception as exc:
            errors.show_error(self, *errors.describe(exc))
            return None
        checkpoint.sha256 = sha
        self.state.remember_dir(path)
        lineage = (
            f"; encoder sha256 {checkpoint.encoder_sha256[:12]}…"
            if checkpoint.encoder_sha256
            else ""
        )
        self.state.status(f"Saved classifier to {path}{lineage}")
        self.model_label.setText(
            self.model_label.text().replace(" Not saved yet.", "") + f" Saved to {path}."
        )
        return path
