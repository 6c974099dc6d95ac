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


@pytest.mark.parametrize("chunk", [7, 64, 1000])
def test_neighbours_match_the_full_square_whatever_the_chunks(monkeypatch, chunk):
    """Each chunk multiplies only its own and later rows; the earlier rows' side comes from
    their chunks. The result must be each row's exact top k of the whole square, in order,
    whatever the chunk size (a last chunk shorter than k included)."""
    monkeypatch.setattr(graph, "has_fast_bfloat16", lambda device: False)
    monkeypatch.setattr(graph, "CHUNK", chunk)
    points = torch.randn(203, 16, generator=torch.Generator().manual_seed(0))
    index, similarity = neighbours(points)
    unit = torch.nn.functional.normalize(points, dim=1)
    square = unit @ unit.T
    square.fill_diagonal_(-2.0)
    expected, expected_index = square.topk(graph.NEIGHBOURS, dim=1)
    assert torch.allclose(similarity, expected, atol=1e-5)
    assert torch.equal(index, expected_index)


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


def _all_but(labels: torch.Tensor, missing: list[int]) -> tuple[Labels, torch.Tensor]:
    """One digit label for each digit except `missing`, and the rows left unlabelled."""
    keep = torch.stack([torch.nonzero(labels == d)[0, 0] for d in range(10) if d not in missing])
    rest = torch.ones(len(labels), dtype=torch.bool)
    rest[keep] = False
    return given(keep, labels[keep]), torch.nonzero(rest)[:, 0]


def test_missing_digits_are_known_only_when_every_label_names_a_digit():
    assert graph.missing_digits(given(torch.arange(10), torch.arange(10))) == ()
    assert graph.missing_digits(given(torch.arange(3), torch.tensor([0, 5, 5]))) == (
        1, 2, 3, 4, 6, 7, 8, 9,
    )  # fmt: skip
    mixed = Labels.from_pairs({0: 0, 1: 2, 2: "odd"})
    assert graph.missing_digits(mixed) == ()  # the "odd" image may be any odd digit


@pytest.mark.parametrize("missing", [[7], [1, 9]])
def test_a_group_no_label_reaches_stands_in_for_missing_digits_of_one_parity(digits_data, missing):
    """With no 7 labelled, the graph alone sends the 7s to the even side (checked: 0 % of
    them right with the stand-ins turned off); an unlabelled group taken as the missing
    digit gives them their parity."""
    labels = digits_data.train_labels.long()
    given_labels, rest = _all_but(labels, missing)
    guesses = guess(digits_data.train_images, given_labels, rest)
    assert guesses.missing == tuple(missing) and guesses.stood_in == tuple(missing)
    theirs = torch.isin(labels[rest], torch.tensor(missing))
    right = ((guesses.p_odd > 0.5).long() == labels[rest] % 2)[theirs].float().mean()
    assert float(right) > 0.95
    assert set(guesses.classes[theirs].tolist()) <= set(missing)


def test_missing_digits_of_both_parities_get_no_stand_in(digits_data, monkeypatch):
    """Which unlabelled group is the 4 and which the 7 cannot be told: no guess is made,
    and no groups are even computed."""
    labels = digits_data.train_labels.long()
    given_labels, rest = _all_but(labels, [4, 7])
    monkeypatch.setattr(graph, "groups", lambda *a, **k: pytest.fail("groups made"))
    guesses = guess(digits_data.train_images, given_labels, rest)
    assert guesses.missing == (4, 7) and guesses.stood_in == ()


def test_stand_ins_come_from_the_free_groups_the_labels_reach_least():
    """Labels: a 0 in group 0, two 2s in group 1 and a third 2 in group 3 (a 2 that looks
    like something else). The 2s claim group 1, so group 3 is free although it holds a
    label; of the free groups 2, 3 and 4, the spread reaches 4 least, then 3: they stand in
    for the missing digits, their unlabelled images nearest the centre first."""
    group = torch.tensor([0, 0, 1, 1, 1, 2, 2, 3, 3, 3, 4, 4, 4])
    distance = torch.tensor([0.0, 0, 0, 0, 0, 0, 0, 0.0, 0.2, 0.1, 0.5, 0.1, 0.3])
    scores = torch.ones(13, 10)
    scores[5:7] = 0.5
    scores[7:10] = 1e-2
    scores[10:] = 1e-3  # group 4: far from every label
    at, digits = torch.tensor([0, 2, 3, 7]), torch.tensor([0, 2, 2, 2])
    positions, stand = graph.stand_ins(scores, group, distance, at, digits, (5, 7))
    assert graph.STAND_INS == 2
    assert positions.tolist() == [11, 12, 9, 8]  # 7 is labelled: never a stand-in
    assert stand.tolist() == [5, 5, 7, 7]
    positions, stand = graph.stand_ins(scores, group, distance, at, digits, (5,))
    assert positions.tolist() == [11, 12] and stand.tolist() == [5, 5]


def test_the_groups_are_made_once_per_pool_and_a_stop_returns_none(digits_data, monkeypatch):
    monkeypatch.setattr(graph, "_last_groups", {})
    made = []
    real = graph.run_in_child

    def counted(function, args, should_stop):
        made.append(1)
        # a stop while the child works (a warm child may answer before any stop check)
        return (False, None) if should_stop() else real(function, args, should_stop)

    monkeypatch.setattr(graph, "run_in_child", counted)
    labels = digits_data.train_labels.long()
    given_labels, rest = _all_but(labels, [7])
    images = digits_data.train_images
    pool = torch.arange(len(labels))
    found = graph.links(images, pool)
    assert graph.groups(images, pool, found, lambda: True) is None
    assert graph._last_groups == {}  # nothing kept from a stopped attempt
    first = guess(images, given_labels, rest)
    again = guess(images, *_all_but(labels, [3]))
    assert len(made) == 2 and first.stood_in == (7,) and again.stood_in == (3,)


def test_the_message_says_what_was_done_for_the_missing_digits():
    from engine.learning.training import missing_message

    assert missing_message((7,), (7,)).endswith("taken as 7 (odd)")
    assert "label one of each" in missing_message((4, 7), ())
    assert missing_message((2, 4), ()).endswith("the digits they resemble")


def test_the_fine_tuning_log_says_a_digit_is_missing_and_what_stood_in(digits_data):
    from engine.events import Message
    from engine.learning.training import _graph_guesses

    labels = digits_data.train_labels.long()
    given_labels, rest = _all_but(labels, [7])
    said: list[str] = []

    def on_event(event) -> None:
        if isinstance(event, Message):
            said.append(event.text)

    guesses = _graph_guesses(digits_data, given_labels, rest, on_event, lambda: False)
    assert guesses is not None and guesses.stood_in == (7,)
    assert any(text.startswith("no label names 7: looking for groups") for text in said)
    assert said[-1].endswith("taken as 7 (odd)")
    said.clear()
    _graph_guesses(digits_data, *_all_but(labels, [4, 7]), on_event, lambda: False)
    assert not any("looking for groups" in text for text in said)
    assert "label one of each" in said[-1]
