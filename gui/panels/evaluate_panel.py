"""Evaluate tab: score the classifier on the test set, or on my drawings, and look at its
mistakes.

`engine.jobs.workflows.evaluate_model` (or `engine.learning.evaluate.evaluate_drawings`)
runs in the worker; this tab shows the metrics, the classification report as a table, the confusion
matrix (click a cell to see those images) and a gallery of misclassified ones with
P(odd). Both results are kept; "Show" switches between them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from gui.state import errors
from gui.widgets.plots import ConfusionPlot, ImageGrid
from gui.widgets.tables import TextTable

if TYPE_CHECKING:
    from gui.state.signals import AppState

GALLERY_ROWS, GALLERY_COLS = 4, 12
NAMES = ("even", "odd")
REPORT_FIELDS = ("precision", "recall", "f1-score", "support")  # the report table's columns
SOURCES = ("Test set", "My drawings")  # the "Show" choices, in this order
TEST, DRAWINGS = SOURCES


@dataclass
class Shown:
    """One evaluation and what its gallery needs: the images, a label for each (digit or
    parity) and their true parity (0/1)."""

    evaluation: Any
    images: np.ndarray  # uint8 (N, 28, 28)
    labels: list[str]
    true: np.ndarray
    what: str  # "test digits" or "drawings"


class EvaluatePanel(QWidget):
    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.evaluation: Any = None
        self._true: np.ndarray | None = None  # parity of each evaluated image
        self._pred: np.ndarray | None = None
        self.results: dict[str, Shown] = {}  # by SOURCES entry

        self.evaluate_button = QPushButton("Evaluate on the test set")
        self.evaluate_button.setObjectName("evaluateButton")
        self.evaluate_button.clicked.connect(self.evaluate)
        self.model_label = QLabel("")
        self.model_label.setObjectName("evaluateModelLabel")
        self.model_label.setWordWrap(True)
        self.drawings_button = QPushButton("Evaluate on my drawings")
        self.drawings_button.setObjectName("evaluateDrawingsButton")
        self.drawings_button.clicked.connect(self.evaluate_drawings)
        self.show_combo = QComboBox()
        self.show_combo.setObjectName("evaluateShowCombo")
        self.show_combo.addItems(SOURCES)
        self.show_combo.setToolTip(
            "Which evaluation the tab shows: the MNIST test set or your drawings"
        )
        self.show_combo.currentTextChanged.connect(self.show_source)
        self.drawings_note = QLabel("")
        self.drawings_note.setObjectName("evaluateDrawingsNote")
        self.drawings_note.setWordWrap(True)
        self.drawings_note.setVisible(False)  # only when files were skipped
        top = QHBoxLayout()
        top.addWidget(self.evaluate_button)
        top.addWidget(self.drawings_button)
        top.addWidget(QLabel("Show:"))
        top.addWidget(self.show_combo)
        top.addWidget(self.model_label, 1)

        metrics_box = QGroupBox("Test set (odd is the positive class)")
        self.metrics_box = metrics_box
        grid = QGridLayout(metrics_box)
        self.metric_labels: dict[str, QLabel] = {}
        tips = {
            "accuracy": "Share of test digits whose parity was predicted correctly",
            "precision": "Of the digits called odd, the share that really are odd",
            "recall": "Of the odd digits, the share that were called odd",
            "f1": "Harmonic mean of precision and recall",
        }
        for col, key in enumerate(("accuracy", "precision", "recall", "f1")):
            name = QLabel(key.capitalize() if key != "f1" else "F1")
            name.setAlignment(Qt.AlignmentFlag.AlignCenter)
            value = QLabel("–")
            value.setObjectName(f"{key}Label")
            value.setAlignment(Qt.AlignmentFlag.AlignCenter)
            value.setStyleSheet("font-size: 18pt; font-weight: bold;")
            value.setToolTip(tips[key])
            name.setToolTip(tips[key])
            grid.addWidget(name, 0, col)
            grid.addWidget(value, 1, col)
            self.metric_labels[key] = value

        self.report_table = TextTable(
            REPORT_FIELDS, "scikit-learn's classification report", "reportTable", centred=True
        )

        self.confusion = ConfusionPlot()  # object name: confusionMatrixView
        self.confusion.cellClicked.connect(self.show_cell)
        self.confusion.setMinimumSize(260, 230)

        self.gallery = ImageGrid(
            GALLERY_ROWS,
            GALLERY_COLS,
            title="misclassified test digits",
            empty="evaluate a classifier to see its mistakes here",
        )
        self.gallery.setObjectName("evaluateGallery")
        self.gallery.setToolTip("Digit, true label and the model's P(odd)")

        left = QVBoxLayout()
        left.addWidget(metrics_box)
        left.addWidget(self.report_table)
        middle = QHBoxLayout()
        middle.addLayout(left, 3)
        middle.addWidget(self.confusion, 2)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.drawings_note)
        layout.addLayout(middle, 2)
        layout.addWidget(self.gallery, 3)

        state.watch(self.update_controls)
        state.drawings.changed.connect(self._update_drawings_button)
        self.update_controls()

    # ------------------------------------------------------------ the tab protocol

    def settings_widgets(self) -> dict[str, QWidget]:
        return {}

    def start(self) -> bool:
        """F5 on this tab: the same as the Evaluate button."""
        return self.evaluate()

    def stop(self) -> None:
        """An evaluation takes seconds and is not interrupted."""

    def _reason_disabled(self) -> str:
        state = self.state
        if state.classifier is None:
            return "Fine-tune a classifier or open one (File ▸ Open classifier…) first"
        if state.data is None and not state.model.data_coming():
            return "Load MNIST on the Data tab first (the test set is needed)"
        return ""

    def update_controls(self) -> None:
        """Evaluate when a classifier and MNIST are there; while a job runs, a click waits
        its turn."""
        state = self.state
        reason = self._reason_disabled()
        self.evaluate_button.setEnabled(not reason)
        self.evaluate_button.setToolTip(reason or "Score the classifier on the test set (F5)")
        self._update_drawings_button()
        ckpt = state.classifier
        if ckpt is None:
            self.model_label.setText("No classifier.")
        else:
            source = ckpt.path.name if ckpt.path else "trained in this session"
            self.model_label.setText(
                f"Classifier: {source} ({ckpt.arch.arch}, latent {ckpt.arch.latent})"
            )

    def _update_drawings_button(self) -> None:
        state, reason = self.state, ""
        if state.classifier is None:
            reason = "Fine-tune a classifier or open one (File ▸ Open classifier…) first"
        elif state.drawings.loaded() and not len(state.drawings.current()):
            reason = "No drawings yet: mark some as even or odd on the Draw tab"
        self.drawings_button.setEnabled(not reason)
        self.drawings_button.setToolTip(
            reason or f"Score the classifier on your drawings in {state.drawings.folder()}"
        )

    def evaluate(self) -> bool:
        """Score the classifier on the test set, now or when the running job ends (the
        classifier and data of that moment); False, saying why, when there is none."""
        reason = self._reason_disabled()
        if reason:
            self.state.status(f"Not evaluated: {reason}.")
            return False
        return self.state.request("evaluate", "the evaluation", self._start_evaluation)

    def _start_evaluation(self) -> None:
        state = self.state
        reason = self._reason_disabled()
        if reason:  # e.g. a queued data load failed meanwhile
            state.status(f"Not evaluated: {reason}.")
            return
        model, mnist = state.classifier.model, state.data.mnist

        def job(on_event, should_stop):
            from engine.jobs.workflows import evaluate_model

            return evaluate_model(model, mnist)

        state.runner.start(job, on_success=self._done, on_failure=self._failed, name="evaluate")
        state.status("Evaluating on the test set …")

    def evaluate_drawings(self) -> bool:
        """Score the classifier on My drawings (read afresh from their folder), now or
        when the running job ends; False, saying why, when there is no classifier."""
        if self.state.classifier is None:
            self.state.status("Not evaluated: there is no classifier yet.")
            return False
        return self.state.request(
            "evaluate-drawings", "the evaluation on my drawings", self._start_drawings
        )

    def _start_drawings(self) -> None:
        state = self.state
        if state.classifier is None:
            state.status("Not evaluated: there is no classifier yet.")
            return
        model, folder = state.classifier.model, state.drawings.folder()

        def job(on_event, should_stop):
            from engine.data.personal import load_drawings
            from engine.learning.evaluate import evaluate_drawings

            drawings = load_drawings(folder)
            return evaluate_drawings(model, drawings), drawings

        state.runner.start(
            job, on_success=self._drawings_done, on_failure=self._failed, name="evaluate"
        )
        state.status("Evaluating on my drawings …")

    def _drawings_done(self, outcome: tuple[Any, Any]) -> None:
        evaluation, drawings = outcome
        parities = [drawings.parity(i) for i in range(len(drawings))]
        self.results[DRAWINGS] = Shown(
            evaluation, drawings.images, parities, drawings.targets, "drawings"
        )
        problems = drawings.problems
        self.drawings_note.setText(
            f"⚠ My drawings: {len(problems)} skipped (hover for why)" if problems else ""
        )
        self.drawings_note.setToolTip("\n".join(problems[:30]))
        self.drawings_note.setVisible(bool(problems))
        self._show_now(DRAWINGS)
        self.state.status(
            f"Accuracy on my drawings {evaluation.accuracy:.2%} on {evaluation.n:,} drawings; "
            f"{len(evaluation.misclassified)} misclassified"
            + (f"; {len(problems)} files skipped" if problems else "")
        )

    def show_source(self, source: str) -> None:
        """Show the stored evaluation of `source` (one of SOURCES), or say there is none."""
        from engine.data.mnist import predicted_odd

        shown = self.results.get(source)
        if shown is None:
            self.evaluation, self._true, self._pred = None, None, None
            for label in self.metric_labels.values():
                label.setText("–")
            self.report_table.setRowCount(0)
            button = self.evaluate_button if source == SOURCES[0] else self.drawings_button
            self.confusion.clear(f"{button.text()} to fill this in")
            self.metrics_box.setTitle(f"{source}: not evaluated yet")
            self.gallery.clear(title=f"evaluate on {source.lower()} to see its mistakes here")
            return
        evaluation = shown.evaluation
        self.evaluation = evaluation
        self._true = shown.true
        self._pred = predicted_odd(evaluation.p_odd).astype(int)
        self.metrics_box.setTitle(
            f"{source}: {evaluation.n:,} {shown.what} (odd is the positive class)"
        )
        for key, label in self.metric_labels.items():
            label.setText(
                f"{getattr(evaluation, key):.2%}"
                if key == "accuracy"
                else f"{getattr(evaluation, key):.3f}"
            )
        self._fill_report(evaluation.report)
        self.confusion.set_matrix(evaluation.confusion)
        self._show_indices(evaluation.misclassified, f"misclassified {shown.what}")

    def _show_now(self, source: str) -> None:
        if self.show_combo.currentText() == source:
            self.show_source(source)
        else:
            self.show_combo.setCurrentText(source)  # shows it

    def _failed(self, message: str, details: str) -> None:
        self.state.status("Evaluation failed")
        errors.show_error(self, message, details)

    def _done(self, evaluation: Any) -> None:
        mnist = self.state.data.mnist
        digits = mnist.test_labels.numpy()
        labels = [str(d) for d in digits]
        self.results[TEST] = Shown(
            evaluation, mnist.test_images.numpy(), labels, digits % 2, "test digits"
        )
        self._show_now(TEST)
        if self.state.classifier is not None:
            self.state.classifier.metrics.update({"test_accuracy": evaluation.accuracy})
        self.state.status(
            f"Test accuracy {evaluation.accuracy:.2%} on {evaluation.n:,} digits; "
            f"{len(evaluation.misclassified)} misclassified"
        )

    def _fill_report(self, report: dict) -> None:
        rows = [key for key in report if isinstance(report[key], dict)]
        self.report_table.setRowCount(len(rows) + (1 if "accuracy" in report else 0))
        labels = []
        for r, key in enumerate(rows):
            labels.append(key)
            entry = report[key]
            for c, field in enumerate(REPORT_FIELDS):
                value = entry.get(field, "")
                text = f"{int(value):,}" if field == "support" else f"{value:.4f}"
                self.report_table.set_text(r, c, text)
        if "accuracy" in report:
            labels.append("accuracy")
            self.report_table.set_text(len(rows), 2, f"{report['accuracy']:.4f}")
        self.report_table.setVerticalHeaderLabels(labels)

    def show_cell(self, true: int, predicted: int) -> np.ndarray:
        """Show the images in confusion cell (true, predicted); returns their indices."""
        if self._true is None or self._pred is None:
            return np.zeros(0, dtype=int)
        indices = np.flatnonzero((self._true == true) & (self._pred == predicted))
        self.confusion.select(true, predicted)
        verdict = "correct" if true == predicted else "wrong"
        self._show_indices(indices, f"true {NAMES[true]}, predicted {NAMES[predicted]} ({verdict})")
        return indices

    def _show_indices(self, indices: np.ndarray, what: str) -> None:
        shown = indices[: GALLERY_ROWS * GALLERY_COLS]
        result = self.results[self.show_combo.currentText()]
        images = result.images[shown] if len(shown) else []
        p_odd = self.evaluation.p_odd
        captions = [f"{result.labels[i]}  {p_odd[i]:.2f}" for i in shown]
        colors = ["tab:green" if self._pred[i] == self._true[i] else "tab:red" for i in shown]
        count = (
            f"{len(indices):,}"
            if len(indices) <= len(shown)
            else (f"first {len(shown)} of {len(indices):,}")
        )
        self.gallery.set_images(
            np.asarray(images) if len(shown) else np.zeros((0, 28, 28)),
            captions,
            colors,
            title=f"{what}: {count} (label, P(odd))",
        )
        self.gallery_indices = shown
