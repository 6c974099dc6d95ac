"""The neighbour graph's first guesses: right on learnable data, balanced, stoppable,
cached by pool, and made from the labelled images' digits alone."""

from __future__ import annotations

import pytest
import torch
from helpers_data import small_mnist

import engine.learning.graph as graph
from engine.data.labels import Labels
from engine.learning.graph import balance, guess, neighbours, territories


def given(indices: torch.Tensor, digits: torch.Tensor) -> Labels:
    """Digit labels for `indices` (any order)."""
    return Labels.from_pairs(dict(zip(indices.tolist(), digits.tolist(), strict=True)))


@pytest.fixture(scope="module")
def digits_data():
    return small_mnist(300, 10, seed=3)


def _one_per_digit(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    labelled = torch.stack([torch.nonzero(labels == d)[0, 0] for d in range(10)])
    rest = torch.ones(len(labels), dtype=torch.bool)
    rest[labelled] = False
    return labelled, torch.nonzero(rest)[:, 0]


def test_one_label_per_digit_spreads_to_the_right_parity(digits_data):
    labels = digits_data.train_labels.long()
    labelled, unlabelled = _one_per_digit(labels)
    p_odd = guess(digits_data.train_images, given(labelled, labels[labelled]), unlabelled).p_odd
    assert p_odd.shape == (len(unlabelled),)
    assert float(p_odd.min()) >= 0.0 and float(p_odd.max()) <= 1.0 + 1e-6
    right = ((p_odd > 0.5).long() == labels[unlabelled] % 2).float().mean()
    assert float(right) > 0.95


def test_the_guesses_follow_the_labels_given_not_the_true_ones(digits_data):
    """Tell the graph that every labelled image is its digit + 1 (the other parity): the
    guesses flip with it, so they come from the labels handed in and nothing else."""
    labels = digits_data.train_labels.long()
    labelled, unlabelled = _one_per_digit(labels)
    told = (labels[labelled] + 1) % 10
    p_odd = guess(digits_data.train_images, given(labelled, told), unlabelled).p_odd
    right = ((p_odd > 0.5).long() == labels[unlabelled] % 2).float().mean()
    assert float(right) < 0.05


def test_balance_gives_each_digit_its_share():
    """Every row leans to digit 0, but the shares say half are 1s: the half leaning least
    to 0 go to 1, so one digit cannot absorb its neighbour."""
    lean = torch.linspace(0.0, 0.4, 100)
    scores = torch.zeros(100, 10)
    scores[:, 0], scores[:, 1] = 1.0, 0.5 + lean
    shares = torch.zeros(10)
    shares[:2] = 0.5
    q = balance(scores, shares)
    assert torch.allclose(q.sum(1), torch.ones(100))
    assert abs(float(q.sum(0)[1]) - 50) < 1.0
    chosen = q.argmax(1)
    assert (chosen[:45] == 0).all() and (chosen[55:] == 1).all()


def test_neighbours_are_the_nearest_others_and_stop_between_chunks(monkeypatch):
    points = torch.tensor([[1.0, 0.0], [0.99, 0.1], [0.0, 1.0], [0.1, 0.99], [-1.0, 0.0]])
    monkeypatch.setattr(graph, "NEIGHBOURS", 1)
    index, similarity = neighbours(points)
    assert index[:, 0].tolist()[:4] == [1, 0, 3, 2]
    assert float(similarity[0, 0]) > 0.9
    monkeypatch.setattr(graph, "CHUNK", 2)
    calls = 0

    def stop_on_second_chunk() -> bool:
        nonlocal calls
        calls += 1
        return calls >= 2

    assert neighbours(points, stop_on_second_chunk) is None
    assert calls == 2


def test_links_are_made_once_per_pool_and_a_stop_returns_none(digits_data, monkeypatch):
    made = []
    real = graph.neighbours
    monkeypatch.setattr(graph, "_last_links", {})
    monkeypatch.setattr(graph, "neighbours", lambda *a: made.append(1) or real(*a))
    labels = digits_data.train_labels.long()
    labelled, unlabelled = _one_per_digit(labels)
    images = digits_data.train_images
    assert guess(images, given(labelled, labels[labelled]), unlabelled, lambda: True) is None
    guess(images, given(labelled, labels[labelled]), unlabelled)
    # the same pool with other images labelled: the same links
    guess(
        images,
        given(unlabelled[:10], labels[unlabelled[:10]]),
        torch.cat([labelled, unlabelled[10:]]),
    )
    assert len(made) == 2  # the stopped attempt and one real one
    guess(images, given(labelled, labels[labelled]), unlabelled[:-5])  # another pool
    assert len(made) == 3


def _accuracy(p_odd: torch.Tensor, digits: torch.Tensor) -> float:
    return float(((p_odd > 0.5).long() == digits % 2).float().mean())


def test_parity_only_labels_spread_too(digits_data):
    """Two labels per digit that say only even or odd still give the right parities."""
    labels = digits_data.train_labels.long()
    labelled = torch.cat([torch.nonzero(labels == d)[:2, 0] for d in range(10)])
    unlabelled = torch.nonzero(~torch.isin(torch.arange(len(labels)), labelled))[:, 0]
    parity_only = given(labelled, labels[labelled]).parity_only()
    assert parity_only.kind == "parity"
    p_odd = guess(digits_data.train_images, parity_only, unlabelled).p_odd
    assert _accuracy(p_odd, labels[unlabelled]) > 0.95


def test_mixed_digit_and_parity_labels(digits_data):
    labels = digits_data.train_labels.long()
    labelled, unlabelled = _one_per_digit(labels)
    pairs = given(labelled, labels[labelled]).as_pairs()
    for position in list(pairs)[::2]:  # every other label gives its parity alone
        pairs[position] = "odd" if int(labels[position]) % 2 else "even"
    mixed = Labels.from_pairs(pairs)
    assert mixed.kind == "mixed"
    p_odd = guess(digits_data.train_images, mixed, unlabelled).p_odd
    assert _accuracy(p_odd, labels[unlabelled]) > 0.9


def test_each_label_gives_a_class_digit_labels_their_digit_parity_labels_their_own(
    digits_data,
):
    """Digit labels' classes are their digits; each parity-only label's image is a class of
    its own after the ten digits, whose parity is what its label said; the graph's classes
    for the unlabelled images are those of the labelled images they resemble: with one
    label per digit, each image's class is mostly its own digit's, whether the label said
    the digit or only the parity."""
    labels = digits_data.train_labels.long()
    labelled, unlabelled = _one_per_digit(labels)  # labelled[d] is a d
    pairs = given(labelled, labels[labelled]).as_pairs()
    for position in labelled[[1, 4, 7]].tolist():  # a 1, a 4 and a 7 say only their parity
        pairs[position] = "odd" if int(labels[position]) % 2 else "even"
    mixed = Labels.from_pairs(pairs)
    classes = graph.label_classes(mixed)
    assert graph.class_count(mixed) == 13
    by_digit = dict(zip(labels[mixed.indices].tolist(), classes.tolist(), strict=True))
    assert by_digit == {0: 0, 1: 10, 2: 2, 3: 3, 4: 11, 5: 5, 6: 6, 7: 12, 8: 8, 9: 9}
    # a drawing said "even" (class 13); the 4 said only "even" (class 11)
    parities = graph.class_parities(
        torch.cat([classes, torch.tensor([13])]), torch.cat([mixed.odd, torch.zeros(1)]), 14
    )
    assert parities.tolist() == [0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 1, 0, 1, 0]
    guesses = graph.guess(digits_data.train_images, mixed, unlabelled)
    expected = torch.tensor([by_digit[d] for d in labels[unlabelled].tolist()])
    assert float((guesses.classes == expected).float().mean()) > 0.9
    digit_only = graph.guess(
        digits_data.train_images, given(labelled, labels[labelled]), unlabelled
    )
    assert float((digit_only.classes == labels[unlabelled]).float().mean()) > 0.9


def test_territories_ignore_how_many_labels_a_class_has():
    """Class 0 seeded four times as strongly as class 1 over half the rows each: each still
    takes about half of the rows."""
    scores = torch.zeros(100, 10)
    scores[:50, 0], scores[50:, 1] = 4.0, 1.0
    scores[:50, 1], scores[50:, 0] = 0.1, 0.4  # class 0 leaks more into class 1's rows
    shares = territories(scores)
    assert abs(float(shares[0]) - 0.5) < 0.05 and abs(float(shares[1]) - 0.5) < 0.05
    assert float(shares[2:].sum()) == 0.0
