"""Fine-tune tab: train the even/odd classifier on my labels or a budget of MNIST labels.

Labels: "my labels", the ones given on the Label tab (`gui.state.labels.MyLabels`), or
MNIST's own labels for a budget of images chosen by a pick protocol (suggested: from
pixels alone; random; balanced: reads every label, the benchmark protocol), revealed as
digits or as even/odd only. My drawings can be added to either.

Encoder source: the autoencoder just trained on the Pretrain tab, an encoder loaded from a
file, or none (train from scratch with the Pretrain tab's architecture). The saved
classifier records which encoder file it came from (`encoder_sha256`), when there is one.
What this tab shares with the Pretrain tab (training settings, Start/Stop, the monitor,
saving) is in `gui.panels.training_panel`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QLabel, QPushButton, QRadioButton, QWidget

from engine.config import DEFAULT_FINETUNE, SEMI_BATCH, SemiSupConfig
from engine.options import SCHEDULE_TEXT, STEPS_OPTION
from gui.panels.training_panel import TrainingPanel
from gui.widgets.budget import BudgetCombo
from gui.widgets.forms import check_box, option_spin, settings_form, side_by_side

if TYPE_CHECKING:
    from gui.state.signals import AppState

SOURCES = ("Just trained (Pretrain tab)", "Loaded from file", "None (from scratch)")
JUST_TRAINED, FROM_FILE, SCRATCH = range(3)
# The pick protocols as the box shows them (engine.learning.choose.PICKS, in its order).
PICK_TEXTS = {"suggested": "suggested", "random": "random",
              "balanced": "balanced (reads every label)"}  # fmt: skip
PICK_NOTES = {
    "suggested": "chosen from pixels, no label read",
    "random": "drawn at random, no label read",
    "balanced": "the same number of each digit: reads every label to choose",
}
KIND_TEXTS = {"digit": "digits", "parity": "even/odd only"}  # engine.data.labels.LABEL_KINDS


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
        self.freeze_check = check_box(
            "Freeze the encoder (train only the head)",
            "finetuneFreezeCheck",
            "Frozen: the pretrained features stay as they are and only "
            "the small classifier head learns",
        )
        self.mine_choice = QRadioButton("my labels")
        self.mine_choice.setObjectName("myLabelsChoice")
        self.mine_choice.setToolTip(
            "Learn from the labels you gave on the Label tab (kept for this data folder)"
        )
        self.mnist_choice = QRadioButton("MNIST's labels:")
        self.mnist_choice.setObjectName("mnistLabelsChoice")
        self.mnist_choice.setToolTip(
            "Learn from MNIST's own labels of a number of training images, chosen by the "
            "pick below (the simulated annotator of the benchmarks)"
        )
        self.mnist_choice.setChecked(True)
        for choice in (self.mine_choice, self.mnist_choice):
            choice.toggled.connect(lambda _on: self._labels_choice_changed())
        self.labels_combo = BudgetCombo(
            state,
            "finetuneLabelsCombo",
            "How many MNIST labels to learn from: a number (the images chosen by the pick "
            "below, seeded) or 'all'; same as on the Data tab",
        )
        self.pick_combo = QComboBox()
        self.pick_combo.setObjectName("finetunePickCombo")
        for pick, text in PICK_TEXTS.items():
            self.pick_combo.addItem(text, pick)
        self.pick_combo.setToolTip("Which images get MNIST's label (details once MNIST is loaded)")
        self.pick_combo.currentIndexChanged.connect(lambda _i: self.show_label_count())
        self.kind_combo = QComboBox()
        self.kind_combo.setObjectName("finetuneLabelKindCombo")
        for kind, text in KIND_TEXTS.items():
            self.kind_combo.addItem(text, kind)
        self.kind_combo.setToolTip(
            "What the label of each chosen image says: its digit, or only whether it is "
            "even or odd (as the E / O keys on the Label tab)"
        )
        self.kind_combo.currentIndexChanged.connect(lambda _i: self.show_label_count())
        self.unlabelled_check = check_box(
            "Also learn from the unlabelled images",
            "finetuneUnlabelledCheck",
            "Semi-supervised: besides your labels, learn from every other training image "
            "(its pixels, never its label). First from your labels spread over a graph of "
            "similar images, then from its own confident predictions on clean images as "
            "targets for distorted views of them. Below all labels only.",
            checked=True,
        )
        self.steps_spin = option_spin(STEPS_OPTION, 0, "finetuneStepsSpin")
        self.steps_spin.setMinimum(0)  # 0: the schedule's own number of steps
        self.steps_spin.setValue(0)  # the table's range starts at 1, which clamped it there
        self.steps_spin.setSpecialValueText("automatic")
        self.labels_combo.currentTextChanged.connect(lambda _t: self.update_controls())
        self._own_tips = {w: w.toolTip() for w in (self.epochs, self.patience, self.batch)}
        self.unlabelled_check.toggled.connect(lambda _on: self.update_controls())
        self.drawings_check = check_box(
            "Add my drawings to the labelled images",
            "finetuneDrawingsCheck",
            "Also train on the drawings you marked even or odd on the Draw tab (they count "
            "as labels); the Evaluate tab can score the result on them",
        )
        self.drawings_check.toggled.connect(lambda _on: self.show_label_count())
        self.labels_info = QLabel("")
        self.labels_info.setObjectName("finetuneLabelsInfo")
        self.labels_info.setWordWrap(True)
        self.augment_check = check_box(
            "Augment (small shifts, rotations, stroke width)",
            "finetuneAugmentCheck",
            "Random distortions of each batch: helps with few labels and with hand-drawn digits",
            checked=DEFAULT_FINETUNE.augment,
        )

        box = settings_form(
            "Classifier",
            [
                ("Encoder:", self.source_combo),
                ("", self.load_encoder_button),
                self.encoder_label,
                self.freeze_check,
                ("Labels:", self.mine_choice),
                ("", side_by_side(self.mnist_choice, self.labels_combo)),
                ("Picked:", side_by_side(self.pick_combo, QLabel("as"), self.kind_combo)),
                self.unlabelled_check,
                ("Steps:", self.steps_spin),
                self.drawings_check,
                self.labels_info,
                ("Epochs:", self.epochs),
                ("Batch size:", self.batch),
                ("Learning rate:", self.lr),
                ("Patience:", self.patience),
                ("Seed:", self.seed),
                self.augment_check,
            ],
        )

        self.save_button = QPushButton("Save classifier…")
        self.save_button.setObjectName("saveClassifierButton")
        self.save_button.setToolTip("Save the classifier as a .pt checkpoint (Ctrl+S)")
        self.save_button.clicked.connect(lambda: self.save())
        self._finish_setup(box, self.save_button, self.monitor, left_width=340)
        state.budget_changed.connect(lambda _text: self.show_label_count())
        state.data_changed.connect(self.show_label_count)
        state.drawings.changed.connect(self.show_label_count)
        state.labels.changed.connect(self._labels_choice_changed)
        state.data_changed.connect(self._explain_picks)
        self.show_label_count()

    def settings_widgets(self) -> dict[str, QWidget]:
        return {
            "encoder_source": self.source_combo,
            "freeze": self.freeze_check,
            **self.train_widgets,
            "augment": self.augment_check,
            "unlabelled": self.unlabelled_check,
            "steps_below_all": self.steps_spin,
            "add_drawings": self.drawings_check,
            "my_labels": self.mine_choice,  # restoring False leaves "MNIST's labels" on
            "pick": self.pick_combo,
            "label_kind": self.kind_combo,
        }

    def _explain_picks(self) -> None:
        """The pick box's tooltips from engine.learning.choose.PICK_HELP, once MNIST is
        loaded: that module imports torch, which the window must not wait for."""
        if self.state.data is None:
            return
        from engine.learning.choose import PICK_HELP

        for row in range(self.pick_combo.count()):
            help_text = PICK_HELP[self.pick_combo.itemData(row)]
            tip = help_text[:1].upper() + help_text[1:]
            self.pick_combo.setItemData(row, tip, Qt.ItemDataRole.ToolTipRole)
        self.pick_combo.setToolTip(
            "Which images get MNIST's label: "
            + "; ".join(f"{pick}: {PICK_HELP[pick]}" for pick in PICK_TEXTS)
        )

    def _labels_choice_changed(self) -> None:
        self.update_controls()
        self.show_label_count()

    def uses_my_labels(self) -> bool:
        return self.mine_choice.isChecked()

    def pick(self) -> str:
        return str(self.pick_combo.currentData())

    def label_kind(self) -> str:
        return str(self.kind_combo.currentData())

    def show_label_count(self) -> None:
        """The labels fine-tuning will use, e.g. "my labels (20: 14 digits, 6 even/odd)" or
        "100 MNIST labels, suggested (chosen from pixels, no label read)", plus my
        drawings when they are added."""
        mine = self.state.labels
        self.mine_choice.setText(f"my labels ({len(mine.given)})")
        n_labels: int | None
        if self.uses_my_labels():
            n_labels = len(mine.given)
            labels = f"my labels ({mine.summary()})"
        else:
            text, data = self.state.budget_text.strip().lower(), self.state.data
            n_labels = int(text) if text.isdigit() else None
            if text == "all" and data is not None:
                n_labels = len(data.split.train)
            if text == "all" or (data is not None and n_labels is not None
                                 and n_labels >= len(data.split.train)):  # fmt: skip
                labels = f"all {n_labels:,} MNIST labels" if n_labels else "all MNIST labels"
            else:
                count = f"{n_labels:,}" if n_labels is not None else text
                pick = self.pick()
                labels = f"{count} MNIST labels, {pick} ({PICK_NOTES[pick]})"
            if self.label_kind() != "digit":
                labels += ", even/odd only"
        if not self.drawings_check.isChecked():
            self.labels_info.setText(labels)
            self.labels_info.setToolTip("")
            return
        drawings = self.state.drawings
        if not drawings.loaded():  # read in the background; `changed` comes when done
            if not drawings.reading():
                drawings.read()
            self.labels_info.setText(f"{labels} + my drawings (counting …)")
            return
        n = len(drawings.current())
        extra = f"{n:,} of my drawings" if n else "no drawings yet (mark some on the Draw tab)"
        total = f" = {n_labels + n:,} labels" if n_labels is not None and n else ""
        self.labels_info.setText(f"{labels} + {extra}{total}")
        self.labels_info.setToolTip(f"My drawings: {drawings.folder()}")

    def encoder_choice(self) -> Any:
        """The engine.jobs.workflows.EncoderSource the source combo names (module, lineage)."""
        from engine.jobs.workflows import EncoderSource

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
        if self.uses_my_labels() and state.data is not None and not state.labels.given:
            return (
                "You have no labels for this data folder yet: label some images on the "
                "Label tab, or choose MNIST's labels"
            )
        return ""

    def _update_own_controls(self, busy: bool, mine: bool) -> None:
        self.save_button.setEnabled(self.state.classifier is not None and not mine)
        # Tighter than the settings lock: from scratch there is no encoder to freeze.
        self.freeze_check.setEnabled(not mine and self.source_combo.currentIndex() != SCRATCH)
        mnist = not self.uses_my_labels()
        self.mnist_choice.setEnabled(not mine)
        self.labels_combo.setEnabled(not mine and mnist)  # saved with the Data tab's settings
        self.pick_combo.setEnabled(not mine and mnist and self._below_all())
        self.kind_combo.setEnabled(not mine and mnist)
        # Below all labels the schedule is fixed and nothing is chosen by the validation
        # labels (they are not in the budget), so epochs and patience do not apply.
        below_all = self._below_all()
        self.unlabelled_check.setEnabled(not mine and below_all)
        self.steps_spin.setEnabled(not mine and below_all)
        schedule_tip = (
            f"Below all labels the run trains a fixed schedule ({SCHEDULE_TEXT}) and keeps "
            "its last weights: early stopping would read the validation labels, which are "
            "not in your budget"
        )
        for widget in (self.epochs, self.patience):
            widget.setEnabled(not mine and not below_all)
            widget.setToolTip(schedule_tip if below_all else self._own_tips[widget])
        # Semi-supervised steps take SEMI_BATCH labelled images (and the unlabelled batch).
        semi = below_all and self.unlabelled_check.isChecked()
        self.batch.setEnabled(not mine and not semi)
        self.batch.setToolTip(
            f"Semi-supervised steps take {SEMI_BATCH} labelled and "
            f"{SemiSupConfig().unlabelled_batch} unlabelled images"
            if semi
            else self._own_tips[self.batch]
        )
        ckpt = self.state.encoder_file
        self.encoder_label.setText(
            f"File: {ckpt.path.name if ckpt.path else '?'} ({ckpt.kind}, {ckpt.arch.arch}, "
            f"latent {ckpt.arch.latent})"
            if ckpt is not None
            else "No encoder file loaded."
        )

    def _planned_epochs(self) -> int:
        """Below all labels the run has rounds of ROUND_STEPS steps, not epochs."""
        if not self._below_all():
            return self.epochs.value()
        from engine.jobs.workflows import SEMI_SUPERVISED, SUPERVISED, budget_schedule

        mode = SEMI_SUPERVISED if self.unlabelled_check.isChecked() else SUPERVISED
        if self.uses_my_labels():
            n_labels = max(1, len(self.state.labels.given))
        else:
            n_labels = int(self.labels_combo.currentText().strip())
        cfg, _ = budget_schedule(self.defaults, n_labels, mode, self.steps_spin.value() or None)
        return cfg.epochs

    def _below_all(self) -> bool:
        """Whether the labels leave training images unlabelled."""
        if self.uses_my_labels():
            return True  # a person labels a few images, not 55,000
        text = self.labels_combo.currentText().strip().lower()
        if not text.isdigit():
            return False  # 'all' (or not a number yet)
        data = self.state.data
        return data is None or int(text) < len(data.split.train)

    def _start_job(self) -> bool:
        data = self.state.data.mnist
        encoder = self.encoder_choice()
        scratch = encoder.module is None
        arch_values = dict(self.arch_values()) if scratch else encoder.arch.to_dict()
        freeze = self.freeze_check.isChecked() and not scratch
        budget_text = self.labels_combo.currentText()
        train_values = {**self._train_values(), "augment": self.augment_check.isChecked()}
        unlabelled = self.unlabelled_check.isChecked()
        steps = self.steps_spin.value() or None
        drawings_folder = self.state.drawings.folder() if self.drawings_check.isChecked() else None
        given = self.state.labels.labels() if self.uses_my_labels() else None
        pick, label_kind = self.pick(), self.label_kind()

        def job(on_event, should_stop):
            from engine.config import ArchConfig, TrainConfig
            from engine.data.mnist import parse_budget
            from engine.jobs.workflows import FinetuneJob, RunOptions, finetune_and_save

            extra = None
            if drawings_folder is not None:
                from engine.data.personal import DrawingsError, load_drawings

                drawings = load_drawings(drawings_folder) if drawings_folder.exists() else None
                if drawings is None or not len(drawings):
                    raise DrawingsError(
                        f"no usable drawings in {drawings_folder}: mark some on the Draw tab, "
                        "or untick 'Add my drawings'"
                    )
                extra = drawings.tensors()
            settings = FinetuneJob(
                arch=ArchConfig.from_dict(arch_values),
                train=TrainConfig(**train_values),
                labels=None if given is not None else parse_budget(budget_text),
                pick=pick,
                label_kind=label_kind,
                given=given,
                encoder=encoder,
                freeze=freeze,
                unlabelled=unlabelled,
                steps=steps,
                extra=extra,
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
        drawings = extra.get("drawings", 0)
        pick = extra.get("pick", "")
        parts = [{"given": "my labels", "all": "all labels"}.get(pick, f"{pick} pick")] * bool(pick)
        parts += [f"{drawings:,} of them my drawings"] * bool(drawings)
        mine = f" ({'; '.join(parts)})" if parts else ""
        unlabelled = f" + {extra['unlabelled']:,} unlabelled images" if extra["unlabelled"] else ""
        self.model_label.setText(
            f"Classifier ready: {extra['labels']:,} labels{mine}{unlabelled}, "
            f"{extra['encoder_source']}"
            f"{' (frozen)' if extra['freeze_encoder'] else ''}"
            f"{', deskewed input' if checkpoint.arch.deskew else ''}; validation accuracy "
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
