"""Evaluate tab: score the classifier on the test set and look at its mistakes.

`engine.evaluate.evaluate` runs in the worker; this tab shows the metrics, the
classification report as a table, the confusion matrix (click a cell to see those digits)
and a gallery of misclassified digits with P(odd).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from gui import errors
from gui.plots import ConfusionPlot, ImageGrid

if TYPE_CHECKING:
    from gui.state_signals import AppState

GALLERY_ROWS, GALLERY_COLS = 4, 12
NAMES = ("even", "odd")


class EvaluatePanel(QWidget):
    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.evaluation: Any = None
        self._true: np.ndarray | None = None  # parity of each test image
        self._pred: np.ndarray | None = None

        self.evaluate_button = QPushButton("Evaluate on the test set")
        self.evaluate_button.setObjectName("evaluateButton")
        self.evaluate_button.clicked.connect(self.evaluate)
        self.model_label = QLabel("")
        self.model_label.setObjectName("evaluateModelLabel")
        self.model_label.setWordWrap(True)
        top = QHBoxLayout()
        top.addWidget(self.evaluate_button)
        top.addWidget(self.model_label, 1)

        metrics_box = QGroupBox("Test set (odd is the positive class)")
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

        self.report_table = QTableWidget(0, 4)
        self.report_table.setObjectName("reportTable")
        self.report_table.setToolTip("scikit-learn's classification report")
        self.report_table.setHorizontalHeaderLabels(["precision", "recall", "f1-score", "support"])
        self.report_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.report_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)

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
        layout.addLayout(middle, 2)
        layout.addWidget(self.gallery, 3)

        state.watch(self.update_controls)
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
        ckpt = state.classifier
        if ckpt is None:
            self.model_label.setText("No classifier.")
        else:
            source = ckpt.path.name if ckpt.path else "trained in this session"
            self.model_label.setText(
                f"Classifier: {source} ({ckpt.arch.arch}, latent {ckpt.arch.latent})"
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
            from engine.workflows import evaluate_model

            return evaluate_model(model, mnist)

        state.runner.start(job, on_success=self._done, on_failure=self._failed, name="evaluate")
        state.status("Evaluating on the test set …")

    def _failed(self, message: str, details: str) -> None:
        self.state.status("Evaluation failed")
        errors.show_error(self, message, details)

    def _done(self, evaluation: Any) -> None:
        from engine.data import predicted_odd

        self.evaluation = evaluation
        digits = self.state.data.mnist.test_labels.numpy()
        self._digits = digits
        self._true = digits % 2
        self._pred = predicted_odd(evaluation.p_odd).astype(int)
        for key, label in self.metric_labels.items():
            label.setText(
                f"{getattr(evaluation, key):.2%}"
                if key == "accuracy"
                else f"{getattr(evaluation, key):.3f}"
            )
        self._fill_report(evaluation.report)
        self.confusion.set_matrix(evaluation.confusion)
        self._show_indices(evaluation.misclassified, "misclassified test digits")
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
            for c, field in enumerate(("precision", "recall", "f1-score", "support")):
                value = entry.get(field, "")
                text = f"{int(value):,}" if field == "support" else f"{value:.4f}"
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                self.report_table.setItem(r, c, item)
        if "accuracy" in report:
            labels.append("accuracy")
            item = QTableWidgetItem(f"{report['accuracy']:.4f}")
            item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
            self.report_table.setItem(len(rows), 2, item)
        self.report_table.setVerticalHeaderLabels(labels)

    def show_cell(self, true: int, predicted: int) -> np.ndarray:
        """Show the test digits in confusion cell (true, predicted); returns their indices."""
        if self._true is None or self._pred is None:
            return np.zeros(0, dtype=int)
        indices = np.flatnonzero((self._true == true) & (self._pred == predicted))
        self.confusion.select(true, predicted)
        verdict = "correct" if true == predicted else "wrong"
        self._show_indices(indices, f"true {NAMES[true]}, predicted {NAMES[predicted]} ({verdict})")
        return indices

    def _show_indices(self, indices: np.ndarray, what: str) -> None:
        shown = indices[: GALLERY_ROWS * GALLERY_COLS]
        images = self.state.data.mnist.test_images[shown].numpy() if len(shown) else []
        p_odd = self.evaluation.p_odd
        captions = [f"{self._digits[i]}  {p_odd[i]:.2f}" for i in shown]
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
