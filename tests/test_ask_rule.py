"""Which images "Ask me N more" asks about after a fine-tuning: where the classifier is
least sure, unless the labels name digits only and leave some out; a classifier that never
saw a digit is sure of the wrong answer there, so typical images of clusters without a
label come first again."""

from __future__ import annotations

import pytest
import torch
from helpers_data import small_mnist
from torch import nn

from engine.data.labels import Labels, reveal
from engine.jobs import labelling
from engine.jobs.workflows import RunOptions, validation_split


class Brightness(nn.Module):
    """P(odd) from an image's mean ink: a classifier whose unsure images are known."""

    def __init__(self, middle: float) -> None:
        super().__init__()
        self.middle = middle
        self.scale = nn.Parameter(torch.tensor(40.0))  # predict_proba reads its device

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * (x.flatten(1).mean(1) - self.middle)


@pytest.fixture(scope="module")
def data():
    return small_mnist(600, 10, seed=7)


@pytest.fixture(scope="module")
def pool(data):
    return validation_split(data).train


def first_of_each(data, pool, digits) -> torch.Tensor:
    """The first pool image of each of `digits`."""
    return torch.stack([pool[data.train_labels[pool] == d][0] for d in digits])


def test_the_rule_follows_the_labels_given() -> None:
    all_digits = Labels.from_pairs({i: i for i in range(10)})
    no_4_no_7 = Labels.from_pairs({i: i for i in range(10) if i not in (4, 7)})
    with_parity = Labels.from_pairs({0: 0, 1: 1, 2: "even"})
    assert labelling.ask_rule(all_digits, has_classifier=False) == labelling.TYPICAL
    assert labelling.ask_rule(all_digits, has_classifier=True) == labelling.LEAST_SURE
    assert labelling.ask_rule(no_4_no_7, has_classifier=True) == labelling.COVERING
    # a parity-only label may be of any digit: no digit is known to be missing
    assert labelling.ask_rule(with_parity, has_classifier=True) == labelling.LEAST_SURE
    said = labelling.describe_rule(labelling.COVERING, no_4_no_7)
    assert "no label names 4, 7" in said


def test_with_every_digit_labelled_it_asks_where_the_classifier_is_least_sure(data, pool):
    known = reveal(data.train_labels, first_of_each(data, pool, range(10)))
    candidates = pool[~torch.isin(pool, known.indices)]
    brightness = data.train_images[candidates].float().div(255).flatten(1).mean(1)
    model = Brightness(float(brightness.median()))
    chosen = labelling.images_to_ask(data, 5, known, classifier=model)
    margin = (brightness - float(brightness.median())).abs()
    least_sure = candidates[torch.argsort(margin, stable=True)[:5]].sort().values
    assert chosen.tolist() == least_sure.tolist()


def test_with_digits_missing_it_asks_about_clusters_without_a_label(data, pool):
    messages: list[str] = []
    run = RunOptions(None, lambda event: messages.append(getattr(event, "text", "")))
    known = reveal(data.train_labels, first_of_each(data, pool, [0, 1, 2, 3, 5, 6, 8, 9]))
    model = Brightness(0.1)
    chosen = labelling.images_to_ask(data, 6, known, classifier=model, run=run)
    typical = labelling.images_to_ask(data, 6, known)  # as if no classifier existed
    assert chosen.tolist() == typical.tolist()
    assert not bool(torch.isin(chosen, known.indices).any())
    assert any("no label names 4, 7" in text for text in messages)
