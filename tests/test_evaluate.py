"""Scoring: metrics from hand-made predictions, where every number is known."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from engine.learning.evaluate import evaluate, score

# true:      even even even even  odd  odd  odd  odd  odd  odd
# predicted: even even even odd   even even odd  odd  odd  odd
Y_TRUE = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 1])
P_ODD = np.array([0.1, 0.2, 0.5, 0.9, 0.3, 0.0, 0.51, 0.8, 0.99, 1.0])


def test_known_metrics():
    result = score(Y_TRUE, P_ODD)
    assert result.n == 10
    assert result.accuracy == pytest.approx(0.7)
    assert result.precision == pytest.approx(4 / 5)  # of 5 called odd, 4 are odd
    assert result.recall == pytest.approx(4 / 6)  # of 6 odd, 4 found
    assert result.f1 == pytest.approx(2 * 0.8 * (4 / 6) / (0.8 + 4 / 6))


def test_confusion_rows_are_true_even_odd():
    result = score(Y_TRUE, P_ODD)
    assert result.confusion.tolist() == [[3, 1], [2, 4]]
    assert result.confusion.sum() == 10


def test_misclassified_indices():
    assert score(Y_TRUE, P_ODD).misclassified.tolist() == [3, 4, 5]


def test_half_is_even():
    """P(odd) = 0.5 exactly is not 'odd' (index 2 above counts as a correct even)."""
    assert score(np.array([0]), np.array([0.5])).accuracy == 1.0
    assert score(np.array([1]), np.array([0.5])).accuracy == 0.0


def test_all_one_class_does_not_crash():
    result = score(np.zeros(4, int), np.zeros(4))
    assert result.accuracy == 1.0 and result.confusion.tolist() == [[4, 0], [0, 0]]
    assert result.precision == 0.0 and result.recall == 0.0  # zero_division, no warning


def test_report_and_json():
    result = score(Y_TRUE, P_ODD)
    assert "even" in result.report_text and "odd" in result.report_text
    assert result.report["odd"]["recall"] == pytest.approx(4 / 6)
    summary = json.loads(json.dumps(result.to_dict()))
    assert {"accuracy", "precision", "recall", "f1", "confusion_matrix", "n"} <= set(summary)
    assert summary["confusion_matrix"] == [[3, 1], [2, 4]]
    assert summary["misclassified"] == [3, 4, 5]


class Brightness(nn.Module):
    """Says 'odd' for bright images: logit = 10 * (mean pixel - 0.5)."""

    def __init__(self) -> None:
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 10 * (x.mean(dim=(1, 2, 3)) - 0.5) + self.dummy


def test_evaluate_model_on_images():
    digits = torch.tensor([0, 1, 2, 3, 4, 5], dtype=torch.uint8)
    bright = torch.tensor([0, 1, 0, 1, 1, 0], dtype=torch.bool)  # 4 (even) and 5 (odd) wrong
    images = torch.zeros(6, 28, 28, dtype=torch.uint8)
    images[bright] = 255
    result = evaluate(Brightness(), images, digits)
    assert result.n == 6
    assert result.misclassified.tolist() == [4, 5]
    assert result.confusion.tolist() == [[2, 1], [1, 2]]
    assert result.p_odd[1] > 0.99 and result.p_odd[0] < 0.01
