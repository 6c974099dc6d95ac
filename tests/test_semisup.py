"""Semi-supervised fine-tuning: it really uses the unlabelled pixels, never their labels,
and runs through the one `fit` loop (seeding, Stop within a batch, NaN stop)."""

from __future__ import annotations

import dataclasses
from dataclasses import replace

import pytest
import torch
from helpers_weights import same_weights, weights

from engine.config import ArchConfig, ConfigError, SemiSupConfig, TrainConfig
from engine.data.augment import strong_augment
from engine.data.mnist import label_budget
from engine.events import GRAPH_PHASE, Message, Progress, PseudoLabels
from engine.learning.graph import N_COLUMNS, links
from engine.learning.models import Classifier
from engine.learning.semisup import ClassHead, Consistency
from engine.learning.training import finetune

ARCH = ArchConfig(arch="conv", latent=8, width=4, dropout=0.1, head_hidden=8)
CFG = TrainConfig(
    epochs=3, batch_size=16, lr=3e-3, max_steps=12, augment=True, patience=4, keep_best=False
)
SEMI = SemiSupConfig(unlabelled_batch=24, threshold=0.5)  # every image is "confident"
ROUND = 4


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def labelled(data, split):
    return label_budget(data.train_labels, split.train, 20, seed=0)


def _semi(data, split, labelled, **kwargs):
    options = dict(round_steps=ROUND, unlabelled=split.train, semisup=SEMI, split=split)
    return finetune(data, ARCH, kwargs.pop("cfg", CFG), labelled, **(options | kwargs))


def test_labels_outside_the_budget_never_reach_training(data, split, labelled):
    """Every label but the budget's changed to the wrong parity: bit-identical weights."""
    before = _semi(data, split, labelled)
    wrong = (data.train_labels.long() + 1) % 10  # each digit -> one of the other parity
    keep = torch.zeros(len(wrong), dtype=torch.bool)
    keep[labelled] = True
    relabelled = torch.where(keep, data.train_labels.long(), wrong).to(data.train_labels.dtype)
    assert int((relabelled != data.train_labels).sum()) == len(wrong) - len(labelled)
    after = finetune(
        dataclasses.replace(data, train_labels=relabelled), ARCH, CFG, labelled,
        round_steps=ROUND, unlabelled=split.train, semisup=SEMI, split=split,
    )  # fmt: skip
    assert same_weights(weights(before.model), weights(after.model))


def test_the_unlabelled_pixels_are_learned_from(data, split, labelled):
    """Not a silent fall-back to supervised training: other weights than the supervised run
    with the same seed, other weights again when the unlabelled pixels change, and a
    report of how many images were used and what was done with them each round."""
    events = []
    semi = _semi(data, split, labelled, on_event=events.append)
    supervised = finetune(data, ARCH, CFG, labelled, round_steps=ROUND, split=split)
    assert not same_weights(weights(semi.model), weights(supervised.model))
    assert semi.unlabelled == len(split.train) and supervised.unlabelled == 0
    rounds = [e for e in events if isinstance(e, PseudoLabels)]
    assert [e.epoch for e in rounds] == [1, 2, 3]
    assert all(e.confident == 1.0 for e in rounds)  # threshold 0.5: every image counts
    assert semi.pseudo_labels == rounds
    others = split.train.flip(0)[: len(split.train) // 2]
    changed = _semi(data, split, labelled, unlabelled=others)
    assert not same_weights(weights(semi.model), weights(changed.model))


def test_a_threshold_no_prediction_reaches_learns_nothing_from_the_unlabelled(
    data, split, labelled
):
    """With a 0.999 threshold an untrained model is confident about nothing early on, and
    the confident share it reports says so."""
    events = []
    strict = dataclasses.replace(SEMI, threshold=0.999)
    _semi(data, split, labelled, semisup=strict, on_event=events.append)
    first = next(e for e in events if isinstance(e, PseudoLabels))
    assert first.confident < 0.5


def test_same_seed_same_weights_other_seed_other_weights(data, split, labelled):
    a, b = _semi(data, split, labelled), _semi(data, split, labelled)
    assert same_weights(weights(a.model), weights(b.model))
    c = _semi(data, split, labelled, cfg=dataclasses.replace(CFG, seed=1))
    assert not same_weights(weights(a.model), weights(c.model))


def test_stop_is_honoured_within_a_batch(data, split, labelled, monkeypatch):
    """Stop asked at the sixth check: five steps, the graph's links made beforehand (made
    during the run, they would take a check of their own per chunk)."""
    pool = torch.cat([labelled, split.train]).sort().values  # as the graph will ask
    monkeypatch.setattr("engine.learning.graph._last_links", {})
    assert links(data.train_images, pool) is not None
    calls = 0

    def should_stop() -> bool:
        nonlocal calls
        calls += 1
        return calls > 5

    result = _semi(data, split, labelled, should_stop=should_stop)
    assert result.fit.finished.status == "stopped"
    assert result.fit.finished.steps == 5


def test_a_nan_loss_stops_as_diverged(data, split, labelled, monkeypatch):
    """Distorted views that turn into NaN from step 5 on: the run stops as diverged and
    keeps the weights of its last finished round, which are finite."""
    made = 0

    def poisoned(x, generator):
        nonlocal made
        made += 1
        out = strong_augment(x, generator)
        return out if made < 5 else out.fill_(float("nan"))

    monkeypatch.setattr("engine.learning.semisup.strong_augment", poisoned)
    result = _semi(data, split, labelled)
    assert result.fit.finished.status == "diverged"
    assert result.fit.finished.steps == 4
    for value in result.model.state_dict().values():
        assert torch.isfinite(value.float()).all()


def test_semi_supervised_needs_rounds(data, split, labelled):
    with pytest.raises(ConfigError, match="rounds"):
        finetune(data, ARCH, CFG, labelled, unlabelled=split.train, split=split)


@pytest.mark.parametrize(
    "changes",
    [{"threshold": 0.4}, {"threshold": 1.0}, {"unlabelled_batch": 0}, {"unlabelled_weight": 0.0}],
)
def test_bad_semi_supervised_settings(changes):
    with pytest.raises(ConfigError):
        SemiSupConfig(**changes).validate()


def test_strong_augment_is_seeded_in_range_and_moves_pixels():
    x = torch.rand(6, 1, 28, 28)
    a = strong_augment(x, torch.Generator().manual_seed(0))
    b = strong_augment(x, torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and a.shape == x.shape
    assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0
    assert float((a - x).abs().mean()) > 0.05


class _SaysEven(torch.nn.Module):
    """A stand-in classifier that is sure every image is even."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.full((len(x),), -9.0)


def test_guided_steps_take_the_graph_guesses_then_the_classifiers_own():
    """The first `guided_steps` batches learn every image as the graph guessed it (odd
    here), whatever the classifier says; afterwards its own confident guesses (even)."""
    images = torch.randint(0, 256, (40, 28, 28), dtype=torch.uint8)
    consistency = Consistency(
        _SaysEven(), images, SEMI, seed=0, guesses=torch.ones(40), guided_steps=2
    )
    for _ in range(2):
        assert consistency.guided
        part = consistency.batch()
        assert (part.targets == 1).all() and (part.weights == SEMI.unlabelled_weight).all()
        assert part.classes is None and part.class_weights is None  # no class head
    assert not consistency.guided
    assert (consistency.batch().targets == 0).all()
    with pytest.raises(ValueError, match="guesses"):
        Consistency(_SaysEven(), images, SEMI, seed=0, guesses=torch.ones(3), guided_steps=1)


PARITIES = (torch.arange(N_COLUMNS) % 2).float()  # each class of _SaysEvenThree: 1.0 odd


class _SaysEvenThree(ClassHead):
    """A stand-in classifier with a class head, sure that every image is even and a 3."""

    def __init__(self, sure: bool = True) -> None:
        torch.nn.Module.__init__(self)
        self.sure = sure

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = torch.full((len(x), 1 + N_COLUMNS), -9.0)
        logits[:, 1 + 3] = 9.0 if self.sure else -8.0  # unsure: 3 barely above the rest
        return logits


def test_a_class_head_learns_the_graphs_classes_then_its_own_confident_ones():
    """While guided the class targets are the graph's classes (7 here) for every image;
    afterwards the head's own sure class (3), each weighing `class_weight`; an unsure
    head's classes weigh nothing."""
    images = torch.randint(0, 256, (40, 28, 28), dtype=torch.uint8)
    cfg = replace(SEMI, class_weight=0.5)
    sevens = torch.full((40,), 7)
    consistency = Consistency(
        _SaysEvenThree(), images, cfg, seed=0, guesses=torch.zeros(40), guided_steps=1,
        classes=sevens, class_parities=PARITIES,
    )  # fmt: skip
    part = consistency.batch()
    assert (part.targets == 0).all() and (part.classes == 7).all()
    assert (part.class_weights == 0.5).all()
    part = consistency.batch()
    assert (part.classes == 3).all() and (part.class_weights == 0.5).all()
    unsure = Consistency(_SaysEvenThree(sure=False), images, cfg, 0, class_parities=PARITIES)
    part = unsure.batch()
    assert (part.classes == 3).all() and (part.class_weights == 0).all()
    with pytest.raises(ValueError, match="classes"):
        Consistency(
            _SaysEvenThree(), images, cfg, seed=0, guesses=torch.ones(40), guided_steps=1,
            class_parities=PARITIES,
        )  # fmt: skip
    with pytest.raises(ValueError, match="parities"):
        Consistency(_SaysEvenThree(), images, cfg, seed=0)


def test_a_sure_class_sets_the_parity_target_after_the_guided_steps():
    """Once unguided, the parity head's target is the parity of the class the class head is
    sure of (3: odd), against the parity head's own sure "even"; what that parity is comes
    from `class_parities` (3 said even there: even). Where the class head is unsure, the
    parity head's own confident reading (even) stays the target."""
    images = torch.randint(0, 256, (40, 28, 28), dtype=torch.uint8)
    cfg = replace(SEMI, class_weight=0.5)
    part = Consistency(_SaysEvenThree(), images, cfg, 0, class_parities=PARITIES).batch()
    assert (part.targets == 1).all() and (part.weights == cfg.unlabelled_weight).all()
    three_even = PARITIES.clone()
    three_even[3] = 0.0
    part = Consistency(_SaysEvenThree(), images, cfg, 0, class_parities=three_even).batch()
    assert (part.targets == 0).all() and (part.weights == cfg.unlabelled_weight).all()
    unsure = Consistency(_SaysEvenThree(sure=False), images, cfg, 0, class_parities=PARITIES)
    part = unsure.batch()
    assert (part.targets == 0).all() and (part.weights == cfg.unlabelled_weight).all()


class _UnsureParitySureThree(_SaysEvenThree):
    """A parity head that cannot tell (P(odd) one half) beside a class head sure of 3."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = super().forward(x)
        logits[:, 0] = 0.0
        return logits


def test_the_rounds_report_counts_what_the_class_head_made_a_target():
    """The parity head is unsure, the class head sure: every image still becomes a target
    (odd, 3's parity), and the round's report says all of them were learnt from, as odd."""
    images = torch.randint(0, 256, (40, 28, 28), dtype=torch.uint8)
    cfg = replace(SEMI, threshold=0.95, class_weight=0.5)
    consistency = Consistency(_UnsureParitySureThree(), images, cfg, 0, class_parities=PARITIES)
    part = consistency.batch()
    assert (part.targets == 1).all() and (part.weights == cfg.unlabelled_weight).all()
    events = []
    consistency.end_round(1, 1, events.append)
    assert events[0].confident == 1.0 and events[0].odd == 1.0


def test_a_guided_run_differs_from_an_unguided_one_and_says_which_rounds_were(
    data, split, labelled, monkeypatch
):
    """Guided by default (CFG's 12 steps x 0.3 = 4: the first round); turning it off
    changes the weights, so the guesses are not silently ignored."""
    events = []
    monkeypatch.setattr("engine.learning.graph._last_links", {})  # links made afresh
    guided = _semi(data, split, labelled, on_event=events.append)
    rounds = [e for e in events if isinstance(e, PseudoLabels)]
    assert [e.guided for e in rounds] == [True, False, False]
    assert any(isinstance(e, Message) and "graph" in e.text for e in events)
    making = [e for e in events if isinstance(e, Progress) and e.phase == GRAPH_PHASE]
    assert making and making[-1].done == making[-1].total and making[-1].eta == 0
    unguided = _semi(data, split, labelled, semisup=dataclasses.replace(SEMI, guided=0.0))
    assert not same_weights(weights(guided.model), weights(unguided.model))


def test_the_class_head_shapes_the_classifier_and_is_dropped_after_training(data, split, labelled):
    """The class head's loss counts (the same head weighing twice as much changes the
    weights), and what training returns is the classifier alone, with the keys of a
    classifier made afresh."""
    with_head = _semi(data, split, labelled)
    heavier = _semi(data, split, labelled, semisup=dataclasses.replace(SEMI, class_weight=2.0))
    assert not same_weights(weights(with_head.model), weights(heavier.model))
    assert type(with_head.model) is Classifier
    assert with_head.model.state_dict().keys() == Classifier(ARCH).state_dict().keys()


def test_stop_while_the_graph_is_built_stops_before_the_first_step(
    data, split, labelled, monkeypatch
):
    """The graph gives up between two chunks of its links (no 'first guesses' line), then
    the run stops as every run does, before its first step."""
    monkeypatch.setattr("engine.learning.graph._last_links", {})
    events = []
    result = _semi(data, split, labelled, should_stop=lambda: True, on_event=events.append)
    assert result.fit.finished.status == "stopped"
    assert result.fit.finished.steps == 0
    lines = [e.text for e in events if isinstance(e, Message)]
    assert any("graph" in line for line in lines)
    assert not any("first guesses" in line for line in lines)
