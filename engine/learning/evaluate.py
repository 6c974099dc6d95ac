"""Scoring a classifier on the MNIST test set with scikit-learn's metrics."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from sklearn.metrics import (
    accuracy_score,
    classification_report,
    confusion_matrix,
    precision_recall_fscore_support,
)
from torch import nn

from engine.data.mnist import parity, predicted_odd
from engine.errors import DrawingsError
from engine.learning.training import predict_proba

if TYPE_CHECKING:
    from engine.data.personal import DrawingSet

CLASS_NAMES = ("even", "odd")


@dataclass(frozen=True)
class Evaluation:
    """Metrics for the positive class 'odd'; the confusion matrix has rows = true even/odd."""

    accuracy: float
    precision: float
    recall: float
    f1: float
    confusion: np.ndarray  # (2, 2) int: [[even->even, even->odd], [odd->even, odd->odd]]
    report_text: str
    report: dict
    misclassified: np.ndarray  # indices into the evaluated images
    p_odd: np.ndarray  # (n,) probability of odd for each image
    n: int

    def to_dict(self) -> dict:
        """JSON-ready summary (no per-image arrays except the misclassified indices)."""
        return {
            "accuracy": self.accuracy,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "confusion_matrix": self.confusion.tolist(),
            "n": self.n,
            "misclassified": self.misclassified.tolist(),
            "classification_report": self.report,
        }


def score(y_true: np.ndarray, p_odd: np.ndarray) -> Evaluation:
    """Metrics from true even/odd targets (0/1) and predicted P(odd)."""
    y_true = np.asarray(y_true).astype(int)
    p_odd = np.asarray(p_odd, dtype=np.float64)
    y_pred = predicted_odd(p_odd).astype(int)
    precision, recall, f1, _ = precision_recall_fscore_support(
        y_true, y_pred, average="binary", pos_label=1, zero_division=0
    )
    kwargs = {"labels": [0, 1], "target_names": list(CLASS_NAMES), "zero_division": 0}
    return Evaluation(
        accuracy=float(accuracy_score(y_true, y_pred)),
        precision=float(precision),
        recall=float(recall),
        f1=float(f1),
        confusion=confusion_matrix(y_true, y_pred, labels=[0, 1]),
        report_text=classification_report(y_true, y_pred, digits=4, **kwargs),
        report=classification_report(y_true, y_pred, output_dict=True, **kwargs),
        misclassified=np.flatnonzero(y_pred != y_true),
        p_odd=p_odd,
        n=len(y_true),
    )


def evaluate(model: nn.Module, images: torch.Tensor, digits: torch.Tensor) -> Evaluation:
    """Score `model` on uint8 images (N, 28, 28) with digit labels (N,)."""
    p_odd = predict_proba(model, images).numpy()
    return score(parity(digits).numpy(), p_odd)


def evaluate_drawings(model: nn.Module, drawings: DrawingSet) -> Evaluation:
    """Score a classifier on loaded drawings: the same metrics (and JSON keys) as on MNIST.

    Raises DrawingsError when the set is empty (its `problems` say what was skipped).
    """
    if not len(drawings):
        skipped = f" ({len(drawings.problems)} skipped)" if drawings.problems else ""
        raise DrawingsError(f"no usable drawings in {drawings.folder}{skipped}")
    images, _ = drawings.tensors()
    return score(drawings.targets, predict_proba(model, images).numpy())
