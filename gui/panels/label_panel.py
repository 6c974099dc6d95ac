"""Label tab: the app asks about a few training images and you label them with the keys.

Which images: `engine.jobs.labelling.images_to_ask`, in the background. Before a
classifier fine-tuned on few labels exists, the most typical image of each group of
similar images, chosen from pixels alone; after one, the images it is least sure of, or,
while the labels leave some digit out, typical images of groups without a label again. The
shipped model and classifiers that learnt from every label (or chose them by reading every
label) are not used to choose: asking where they are unsure would bring in labels nobody
gave here.

Keys (on the grid, or anywhere on the tab but the number box): 0-9 give the digit, E / O
only the parity, Backspace undoes (the current image's label, else the last one given),
arrows move; after a label the selection moves to the next unlabelled image. Every change
is written to the label file of the data folder at once (`gui.state.labels.MyLabels`),
which the Fine-tune tab offers as "my labels".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeyEvent, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from engine.reports.console import format_seconds
from gui.state import errors
from gui.widgets.forms import spin
from gui.widgets.label_grid import LabelGrid, LargeImage, Value

if TYPE_CHECKING:
    from engine.data.labels import Labels
    from engine.store.checkpoint import Checkpoint
    from gui.state.signals import AppState

JOB = "ask"
DEFAULT_ASK = 20
# A classifier whose checkpoint says it learnt from these picks saw only the labels of the
# images chosen (engine.jobs.workflows.label_record): asking where it is unsure is honest.
FEW_LABEL_PICKS = ("given", "suggested", "random")
FILL_KINDS = {"digits": "digit", "even/odd": "parity"}  # the fill box's text -> label kind
KEYS_HELP = "Keys: 0–9 the digit · E even · O odd (parity only) · Backspace undo · arrows move"
MODIFIERS = (
    Qt.KeyboardModifier.ControlModifier
    | Qt.KeyboardModifier.AltModifier
    | Qt.KeyboardModifier.MetaModifier
)
FIRST_TIME = "the first time takes 10–40 s: the app links each image to its most similar ones"


def guiding_classifier(checkpoint: Checkpoint | None) -> Checkpoint | None:
    """The classifier "Ask me N more" may follow, or None (then: typical images)."""
    if checkpoint is None or checkpoint.extra.get("pick") not in FEW_LABEL_PICKS:
        return None
    return checkpoint


class LabelPanel(QWidget):
    """The asked images as a grid, the current one large, labelled with keys."""

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.labels = state.labels
        self._shown: list[Value | None] = []  # the label each grid row shows

        self.ask_spin = spin(1, 1000, DEFAULT_ASK, "How many images to ask about", "askCountSpin")
        self.ask_spin.valueChanged.connect(lambda _v: self.update_controls())
        self.ask_button = QPushButton()
        self.ask_button.setObjectName("askMoreButton")
        self.ask_button.clicked.connect(self.ask)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setObjectName("labelStopButton")
        self.stop_button.setToolTip("Stop choosing images (Esc); nothing is added")
        self.stop_button.clicked.connect(self.stop)
        self.progress = QProgressBar()
        self.progress.setObjectName("labelProgress")
        self.progress.setRange(0, 1000)
        self.progress.setFormat("idle")
        self.progress.setTextVisible(True)
        # the bar takes the room left and never claims more for a long text, which would
        # squeeze the buttons beside it
        self.progress.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.progress.setMinimumWidth(160)
        self.status_label = QLabel("")
        self.status_label.setObjectName("labelStatusLabel")
        self.status_label.setWordWrap(True)
        self.note_label = QLabel("")
        self.note_label.setObjectName("labelNoteLabel")
        self.note_label.setWordWrap(True)
        self.note_label.setStyleSheet("color: #a33;")
        self.note_label.setVisible(False)

        self.grid = LabelGrid()
        self.grid.on_key = self.handle_key
        self.grid.currentRowChanged.connect(self._show_current)
        self.grid.setToolTip(f"The images the app asked about, with your label under each. "
                             f"{KEYS_HELP}")  # fmt: skip
        self.large = LargeImage()
        self.keys_label = QLabel(KEYS_HELP.replace(" · ", "\n"))
        self.keys_label.setObjectName("labelKeysLabel")
        self.count_label = QLabel("")
        self.count_label.setObjectName("labelCountLabel")
        font = self.count_label.font()
        font.setBold(True)
        self.count_label.setFont(font)

        self.fill_combo = QComboBox()
        self.fill_combo.setObjectName("fillKindCombo")
        self.fill_combo.addItems(list(FILL_KINDS))
        self.fill_combo.setToolTip(
            "What the fill-in button gives: the digit, or only even/odd (as E / O would)"
        )
        self.reveal_button = QPushButton("Fill in MNIST's labels for these images")
        self.reveal_button.setObjectName("revealLabelsButton")
        self.reveal_button.clicked.connect(self.fill_in)
        self.clear_button = QPushButton("Clear my labels…")
        self.clear_button.setObjectName("clearLabelsButton")
        self.clear_button.clicked.connect(self.clear)
        self.file_label = QLabel("")
        self.file_label.setObjectName("labelFileLabel")
        self.file_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.file_label.setWordWrap(True)

        top = QHBoxLayout()
        top.addWidget(QLabel("How many:"))
        top.addWidget(self.ask_spin)
        top.addWidget(self.ask_button)
        top.addWidget(self.stop_button)
        top.addWidget(self.progress, 1)
        left = QVBoxLayout()
        left.addWidget(self.large)
        left.addWidget(self.count_label)
        left.addSpacing(8)
        left.addWidget(self.keys_label)
        left.addStretch(1)
        left_widget = QWidget()
        left_widget.setLayout(left)
        left_widget.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Preferred)
        middle = QHBoxLayout()
        middle.addWidget(left_widget)
        middle.addWidget(self.grid, 1)
        bottom = QHBoxLayout()
        bottom.addWidget(QLabel("Fill in as:"))
        bottom.addWidget(self.fill_combo)
        bottom.addWidget(self.reveal_button)
        bottom.addStretch(1)
        bottom.addWidget(self.clear_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.status_label)
        layout.addWidget(self.note_label)
        layout.addLayout(middle, 1)
        layout.addLayout(bottom)
        layout.addWidget(self.file_label)

        self.labels.changed.connect(self.sync)
        self.labels.problem.connect(self._problem)
        state.watch(self.update_controls)
        self.sync()

    # ------------------------------------------------------------ the tab protocol

    def settings_widgets(self) -> dict[str, QWidget]:
        return {"ask_count": self.ask_spin, "fill_kind": self.fill_combo}

    def start(self) -> bool:
        """F5 on this tab: the same as "Ask me N more"."""
        return self.ask()

    def stop(self) -> None:
        if self.state.runner.is_busy() and self.state.runner.name == JOB:
            self.state.runner.stop()

    def _reason_disabled(self) -> str:
        if self.state.data is None and not self.state.model.data_coming():
            return "Load MNIST on the Data tab first"
        return ""

    def update_controls(self) -> None:
        runner, labels = self.state.runner, self.labels
        mine = runner.is_busy() and runner.name == JOB
        reason = self._reason_disabled()
        n, more = self.ask_spin.value(), " more" if labels.order else ""
        self.ask_button.setText(f"Ask me {n}{more}")
        self.ask_button.setEnabled(not reason and not mine)
        self.ask_button.setToolTip(reason or self._ask_tip(n))
        self.stop_button.setEnabled(mine)
        self.ask_spin.setEnabled(not mine)
        missing = len(labels.unlabelled())
        has_data = self.state.data is not None
        self.reveal_button.setEnabled(has_data and missing > 0)
        self.fill_combo.setEnabled(has_data)
        self.reveal_button.setToolTip(
            "For demonstrations: fills in MNIST's own label of the asked images that have "
            "none yet, and of no other image (the simulated annotator the benchmarks use)"
            + ("" if missing else ". Every asked image has a label already")
        )
        self.clear_button.setEnabled(bool(labels.order))
        self.clear_button.setToolTip("Remove your labels for this data folder (asks first)")

    def _ask_tip(self, n: int) -> str:
        from engine.jobs.labelling import COVERING, ask_rule, describe_rule

        guide = guiding_classifier(self.state.classifier)
        if guide is not None:
            labels = guide.extra.get("labels", "?")
            known = self._known()
            if ask_rule(known, has_classifier=True) == COVERING:
                return (
                    f"Ask about {n} more images: {describe_rule(COVERING, known)}; the "
                    "current classifier never saw those digits, so it cannot tell where it "
                    "is wrong about them (F5)"
                )
            return (
                f"Ask about {n} more images: those the current classifier (fine-tuned on "
                f"{labels} labels) is least sure of (F5)"
            )
        why = ""
        if self.state.classifier is not None:
            why = (
                " (the current classifier learnt from every label, or is the shipped one, "
                "so it is not used to choose)"
            )
        return (
            f"Ask about {n} images: the most typical image of each group of similar images "
            f"without a label, chosen from pixels alone{why}; {FIRST_TIME} (F5)"
        )

    def _known(self) -> Labels:
        """The labels given so far, as the engine reads them."""
        from engine.data.labels import Labels

        return Labels.from_pairs(dict(self.labels.given))

    # -------------------------------------------------------------------- asking

    def ask(self) -> bool:
        """Ask the app for N more images to label, now or when the running job ends."""
        reason = self._reason_disabled()
        if reason:
            self.state.status(f"No images asked: {reason}.")
            return False
        n = self.ask_spin.value()
        return self.state.request(JOB, f"choose {n} images to label", self._start_ask)

    def _start_ask(self) -> None:
        state = self.state
        reason = self._reason_disabled()
        if reason or state.data is None:
            state.status(f"No images asked: {reason or 'no data'}.")
            return
        n, mnist = self.ask_spin.value(), state.data.mnist
        given, asked = dict(self.labels.given), self.labels.unlabelled()
        guide = guiding_classifier(state.classifier)
        model = guide.model if guide is not None else None

        def job(on_event, should_stop):
            import torch

            from engine.data.labels import Labels
            from engine.errors import StoppedError
            from engine.jobs.labelling import images_to_ask
            from engine.jobs.workflows import RunOptions

            run = RunOptions(None, on_event, should_stop)
            try:
                chosen = images_to_ask(
                    mnist, n, Labels.from_pairs(given), model, seed=0, run=run,
                    asked=torch.tensor(asked, dtype=torch.long),
                )  # fmt: skip
            except StoppedError:
                return None
            return chosen.tolist()

        from engine.jobs.labelling import ask_rule, describe_rule

        known = self._known()
        how = describe_rule(ask_rule(known, has_classifier=model is not None), known)
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setFormat(f"choosing {n} images ({how}) …")
        folder = self.labels.folder
        started = state.runner.start(
            job,
            on_event=self._event,
            on_success=lambda chosen: self._asked(chosen, folder),
            on_failure=self._failed,
            name=JOB,
        )
        if started:
            self.status_label.setText(
                f"Choosing {n} images to label: {how}, from pixels alone (no label read)"
                + (f"; {FIRST_TIME}." if model is None else ".")
            )
            state.status(f"Choosing {n} images to label …")
            self.update_controls()

    def _event(self, event: object) -> None:
        from engine.events import GRAPH_PHASE, Message, Progress

        if isinstance(event, Progress) and event.phase == GRAPH_PHASE:
            if event.done >= event.total:
                self.progress.setRange(0, 0)  # clustering: no steps to count
                self.progress.setFormat("grouping similar images …")
                return
            self.progress.setValue(int(1000 * event.fraction))
            self.progress.setFormat(
                f"linking similar images {event.done}/{event.total} · "
                f"ETA {format_seconds(event.eta)}"
            )
        elif isinstance(event, Message):
            self.status_label.setText(event.text[:1].upper() + event.text[1:] + " …")

    def _asked(self, chosen: list[int] | None, folder: str) -> None:
        self.progress.setRange(0, 1000)
        if chosen is None:
            self.progress.setValue(0)
            self.progress.setFormat("stopped")
            self.status_label.setText("Stopped: no images were added.")
            self.state.status("Stopped choosing images to label.")
            self.update_controls()
            return
        self.progress.setValue(1000)
        self.progress.setFormat(f"asked about {len(chosen)} images")
        if self.labels.folder != folder:
            self.status_label.setText("Another data folder was loaded meanwhile: nothing added.")
            self.update_controls()
            return
        new = self.labels.add_asked(chosen)
        self.select(self.labels.order.index(new[0]) if new else self.grid.currentRow())
        self.grid.setFocus()
        text = (
            f"Asked about {len(new)} more images. Label them with the keys: 0–9 the digit, "
            "E even, O odd."
            if new
            else "No new images: every image chosen was asked about already."
        )
        self.status_label.setText(text)
        self.state.status(text)
        self.update_controls()

    def _failed(self, message: str, details: str) -> None:
        self.progress.setRange(0, 1000)
        self.progress.setFormat("failed")
        self.status_label.setText(f"No images asked: {message}")
        self.state.status("Choosing images to label failed")
        errors.show_error(self, message, details)
        self.update_controls()

    # ------------------------------------------------------------------ labelling

    def handle_key(self, event: QKeyEvent) -> bool:
        """A key on the grid or the tab: True if it labelled, undid or was otherwise used."""
        if event.modifiers() & MODIFIERS or not self.labels.order:
            return False
        key = event.key()
        if Qt.Key.Key_0 <= key <= Qt.Key.Key_9:
            self.give(int(key) - int(Qt.Key.Key_0))
        elif key == Qt.Key.Key_E:
            self.give("even")
        elif key == Qt.Key.Key_O:
            self.give("odd")
        elif key in (Qt.Key.Key_Backspace, Qt.Key.Key_Delete):
            self.undo()
        else:
            return False
        return True

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if not self.handle_key(event):
            super().keyPressEvent(event)

    def current(self) -> int:
        """The grid row of the current image (the first when none is selected)."""
        row = self.grid.currentRow()
        return row if row >= 0 else 0

    def give(self, value: Value) -> None:
        """Label the current image and move to the next unlabelled one."""
        order = self.labels.order
        if not order:
            return
        row = self.current()
        self.labels.set_label(order[row], value)
        after = [*range(row + 1, len(order)), *range(row)]  # wraps round to the start
        nxt = next((r for r in after if order[r] not in self.labels.given), None)
        if nxt is None:
            self.select(row)
            self.status_label.setText(
                f"All {len(order)} images are labelled: fine-tune with 'my labels' on the "
                "Fine-tune tab, or ask for more."
            )
        else:
            self.select(nxt)

    def undo(self) -> None:
        """Backspace: remove the current image's label, else the last one given (and go
        back to that image)."""
        order = self.labels.order
        row = self.current()
        if order[row] in self.labels.given:
            self.labels.remove_label(order[row])
            self._show_current(row)
            return
        last = self.labels.last_labelled()
        if last is None:
            self.state.status("Nothing to undo.")
            return
        self.select(order.index(last))
        self.labels.remove_label(last)

    def select(self, row: int) -> None:
        if 0 <= row < self.grid.count():
            self.grid.setCurrentRow(row)
            self.grid.scrollToItem(self.grid.item(row))
            self._show_current(row)

    def fill_in(self) -> int:
        """Fill in MNIST's own labels for the asked images without one (and no other
        image): the simulated annotator. Returns how many were filled in."""
        data, missing = self.state.data, self.labels.unlabelled()
        if data is None or not missing:
            return 0
        from engine.data.labels import reveal

        kind = FILL_KINDS[self.fill_combo.currentText()]
        revealed = reveal(data.mnist.train_labels, missing, kind)
        self.labels.fill(revealed.as_pairs())
        what = "digits" if kind == "digit" else "even/odd labels"
        text = f"Filled in MNIST's {what} for {len(missing)} asked images (and no other image)."
        self.status_label.setText(text)
        self.state.status(text)
        return len(missing)

    def clear(self) -> bool:
        """Clear my labels (asks first: the labels only, or the asked images too)."""
        answer = self.ask_clear(len(self.labels.given), len(self.labels.order))
        if answer is None:
            return False
        self.labels.clear(forget_images=answer == "all")
        text = "Cleared your labels" + (" and the asked images." if answer == "all" else ".")
        self.status_label.setText(text)
        self.state.status(text)
        return True

    def ask_clear(self, n_labels: int, n_images: int) -> str | None:
        """ "labels", "all" or None (cancel). Tests replace this to answer for the user."""
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Clear my labels?")
        box.setText(f"Remove the {n_labels} labels you gave for this data folder?")
        box.setInformativeText(
            f"Keep the {n_images} asked images to label them again, or forget them too."
        )
        labels_only = box.addButton("Remove the labels", QMessageBox.ButtonRole.AcceptRole)
        everything = box.addButton("Remove labels and images", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        clicked = box.clickedButton()
        return "labels" if clicked is labels_only else "all" if clicked is everything else None

    # ----------------------------------------------------------------------- views

    def sync(self) -> None:
        """Show what `MyLabels` holds, touching only the tiles that changed."""
        order, given, data = self.labels.order, self.labels.given, self.state.data
        values = [given.get(p) for p in order]
        if data is None:
            self.grid.clear()
            self.grid.positions, self._shown = [], []
        elif self.grid.positions == order[: len(self.grid.positions)]:
            new = order[len(self.grid.positions) :]
            if new:
                images = data.mnist.train_images[new].numpy()
                self.grid.add_images(new, images, values[len(self._shown) :])
                self._shown += values[len(self._shown) :]
            for row, (old, value) in enumerate(zip(self._shown, values, strict=True)):
                if old != value:
                    self.grid.set_value(row, value)
            self._shown = values
        else:
            self.grid.show_images(order, data.mnist.train_images[order].numpy(), values)
            self._shown = values
        if order and self.grid.currentRow() < 0:
            self.grid.setCurrentRow(0)
        self._show_current(self.grid.currentRow())
        self._show_count()
        if not (self.labels.note or self.labels.write_error):
            self.note_label.setVisible(False)
        path = self.labels.path
        self.file_label.setText(f"Your labels are saved in {path}" if path is not None else "")
        self.update_controls()

    def _show_count(self) -> None:
        order, given = self.labels.order, self.labels.given
        if self.state.data is None:
            self.count_label.setText("No data loaded.")
            self.status_label.setText("Load MNIST on the Data tab first.")
            return
        if not order:
            self.count_label.setText("Nothing asked yet.")
            if not self.state.runner.is_busy() or self.state.runner.name != JOB:
                self.status_label.setText(
                    f"Click 'Ask me {self.ask_spin.value()}': the app chooses images worth "
                    "labelling from their pixels alone (no label read); "
                    f"{FIRST_TIME}."
                )
            return
        digits, parity = self.labels.counts()
        kinds = [f"{digits} digit{'s' * (digits != 1)}"] if digits else []
        kinds += [f"{parity} even/odd"] if parity else []
        detail = f" ({', '.join(kinds)})" if kinds else ""
        self.count_label.setText(f"{len(given)} of {len(order)} labelled{detail}")

    def _show_current(self, row: int) -> None:
        order, data = self.labels.order, self.state.data
        if data is None or not 0 <= row < len(order):
            self.large.show_image(None, "", None)
            return
        position = order[row]
        self.large.show_image(
            data.mnist.train_images[position].numpy(),
            f"image {row + 1} of {len(order)} · training image #{position}",
            self.labels.given.get(position),
        )

    def _problem(self, text: str) -> None:
        self.note_label.setText(f"⚠ {text}")
        self.note_label.setVisible(True)
        self.state.status(text)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.grid.setFocus()

    def shown_values(self) -> list[Any]:
        """The caption of each tile, in order (for tests and screenshots)."""
        return [self.grid.item(row).text() for row in range(self.grid.count())]
