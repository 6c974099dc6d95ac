"""The settings people can set, written once: name, type, default, bounds and help.

The command line's options (`engine.cli.commands`), the app's spin boxes
(`gui.widgets.forms.option_spin`) and the keys it remembers them under
(`gui.panels.training_panel`, `gui.panels.pretrain_panel`), and the
checks of `TrainConfig` and `ArchConfig` are all made from the rows of `TRAIN_OPTIONS` and
`ARCH_OPTIONS`, so a bound cannot say one thing in the app and another on the command
line. A row's `name` is the config field, the remembered key and (with dashes) the
command-line flag. The defaults are the config dataclasses' own (per job:
`engine.config.DEFAULT_*`).

No torch and nothing from the rest of the engine but its errors: the CLI builds its
parser from here before anything heavy loads.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Option:
    """One number a person can set, and the interval it must lie in."""

    name: str  # config field, remembered key, and `--name-with-dashes`
    kind: type  # int or float
    label: str  # how messages name it
    help: str  # command-line help and the app's tooltip
    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False  # True: `low` itself is not allowed
    high_open: bool = False
    decimals: int = 0  # a float's spin box shows this many decimals
    step: float = 1  # a spin box's arrow step

    def bounds_text(self) -> str:
        def fmt(value: float) -> str:
            return f"{value:,}" if self.kind is int else f"{value:g}"

        low = f"{'above' if self.low_open else 'at least'} {fmt(self.low)}"
        high = f"{'below' if self.high_open else 'at most'} {fmt(self.high)}"
        if self.kind is int and not self.low_open and self.high == math.inf:
            return f"{fmt(self.low)} or more"
        if self.kind is int and not (self.low_open or self.high_open):
            return f"between {fmt(self.low)} and {fmt(self.high)}"
        if self.high == math.inf:
            return low
        return f"{low} and {high}"

    def problem(self, value: float) -> str | None:
        """Why `value` is not allowed, in words, or None when it is."""
        if isinstance(value, float) and not math.isfinite(value):
            return f"{self.label} must be a finite number {self.bounds_text()}, not {value}"
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return (
            None if above and below else f"{self.label} must be {self.bounds_text()}, not {value}"
        )

    def parse(self, text: str) -> float:
        """An argparse type: the number in `text`, if it is allowed."""
        try:
            value = self.kind(text)
        except ValueError:
            word = "whole number" if self.kind is int else "number"
            raise argparse.ArgumentTypeError(f"{text!r} is not a {word}") from None
        problem = self.problem(value)
        if problem:
            raise argparse.ArgumentTypeError(problem)
        return value

    def widget_range(self) -> tuple[float, float]:
        """The closed range a spin box can offer: an open end moves in by the smallest step
        the box can show (for a float, one unit of its last decimal)."""
        unit = 1 if self.kind is int else 10.0**-self.decimals
        low = self.low + unit if self.low_open else self.low
        high = self.high - unit if self.high_open else self.high
        return low, high


def int_at_least(low: int) -> Callable[[str], int]:
    """An argparse type: a whole number of at least `low`."""
    return Option("value", int, "the value", "", low=low).parse


def number_between(
    low: float, high: float = math.inf, *, low_included: bool = False, high_included: bool = False
) -> Callable[[str], float]:
    """An argparse type: a finite number between `low` and `high`."""
    option = Option("value", float, "the value", "", low, high, not low_included, not high_included)
    return option.parse


def _table(*options: Option) -> dict[str, Option]:
    """Rows of the settings table by name (the config field they set)."""
    return {option.name: option for option in options}


_SEED_HELP = "random seed: the same seed and settings give the same model"

TRAIN_OPTIONS: dict[str, Option] = _table(
    Option("epochs", int, "epochs", "maximum passes over the training images", 1, 10_000),
    Option("batch_size", int, "batch size", "images per optimiser step", 1, 65_536, step=32),
    Option(
        "lr",
        float,
        "learning rate",
        "Adam's (peak) learning rate",
        0,
        1.0,
        low_open=True,
        decimals=5,
        step=1e-4,
    ),
    Option("weight_decay", float, "weight decay", "Adam's weight decay", 0),
    Option(
        "patience",
        int,
        "patience",
        "stop early after this many epochs without a better validation loss; "
        "the best weights are kept",
        1,
        100_000,
    ),
    Option(
        "min_delta",
        float,
        "min_delta",
        "smaller improvements of the validation loss do not count for early stopping",
        0,
    ),
    Option("seed", int, "seed", _SEED_HELP, 0, 2**31 - 1),
)

ARCH_OPTIONS: dict[str, Option] = _table(
    Option(
        "latent",
        int,
        "latent size",
        "size of the code the encoder compresses a digit to",
        2,
        1024,
    ),
    Option(
        "dropout",
        float,
        "dropout",
        "dropout in the encoder (regularisation)",
        0,
        1,
        high_open=True,
        decimals=2,
        step=0.05,
    ),
    Option("width", int, "width", "conv: channels of the first layer", 4, 256),
    Option("head_hidden", int, "head size", "hidden units of the classifier head", 4, 1024),
)


SEMISUP_OPTIONS: dict[str, Option] = _table(
    Option(
        "unlabelled_batch",
        int,
        "unlabelled batch",
        "unlabelled images added to every step of semi-supervised fine-tuning",
        1,
        65_536,
        step=32,
    ),
    Option(
        "threshold",
        float,
        "confidence threshold",
        "how sure a prediction on an unlabelled image must be to become its target",
        0.5,
        1.0,
        high_open=True,
        decimals=3,
        step=0.01,
    ),
    Option(
        "unlabelled_weight",
        float,
        "unlabelled weight",
        "how much the unlabelled images' loss counts next to the labelled one",
        0,
        100,
        low_open=True,
        decimals=2,
        step=0.1,
    ),
    Option(
        "guided",
        float,
        "guided share",
        "share of the semi-supervised steps (the first ones) whose unlabelled targets are the "
        "labels spread over a graph of similar deskewed images, not the classifier's own "
        "guesses; 0: never",
        0,
        1,
        decimals=2,
        step=0.05,
    ),
    Option(
        "class_weight",
        float,
        "class weight",
        "how much a second head that tells the digits apart counts while training (it learns "
        "the graph's digits, then its own confident ones, whose parities the parity head "
        "then learns; dropped after training); 0: none",
        0,
        100,
        decimals=2,
        step=0.1,
    ),
)


# Fine-tuning below all labels runs a fixed schedule (engine.jobs.workflows.budget_schedule).
# Semi-supervised: 3000 steps of 32 labelled and 128 unlabelled images, tuned on label
# seeds 10-11 and validation images, never the test set (docs/measurements.md); from
# SEMI_MORE_FROM labels on, SEMI_MORE_STEPS: with 100 suggested labels, validation
# accuracy (seeds 10-13) rose from 99.15 to 99.28 %, where 20 labels keep the shorter
# schedule for `evenodd run --labels 20` to stay within 150 s.
# Supervised: the study's rule, 20 passes over the labels within 500-4297 steps.
SEMI_STEPS, SEMI_BATCH = 3000, 32
SEMI_MORE_STEPS, SEMI_MORE_FROM = 6000, 100
SUPERVISED_PASSES, SUPERVISED_MIN_STEPS, SUPERVISED_MAX_STEPS = 20.0, 500, 4297
ROUND_STEPS = 100  # steps between the validation figures of a small-budget run
SCHEDULE_TEXT = (
    f"{SEMI_STEPS} steps semi-supervised ({SEMI_MORE_STEPS} from {SEMI_MORE_FROM} labels); "
    f"{SUPERVISED_PASSES:g} passes over the labels, "
    f"{SUPERVISED_MIN_STEPS}-{SUPERVISED_MAX_STEPS} steps, supervised"
)


def semi_steps(n_labels: int) -> int:
    """Semi-supervised steps of the fixed schedule for `n_labels` labels."""
    return SEMI_MORE_STEPS if n_labels >= SEMI_MORE_FROM else SEMI_STEPS


STEPS_OPTION = Option(
    "steps",
    int,
    "steps",
    f"below all labels: optimiser steps of the fixed schedule (default: {SCHEDULE_TEXT})",
    1,
    1_000_000,
    step=100,
)


# The study's own numbers (engine.study.settings.StudySettings), for `evenodd compare` and
# the Compare tab alike.
STUDY_OPTIONS: dict[str, Option] = _table(
    Option("seeds", int, "seeds", "seeds per cell (label subset and training seed)", 1, 100),
    Option(
        "min_steps", int, "steps", "optimiser steps per cell for small budgets", 1, 1_000_000,
        step=100,
    ),
    Option(
        "max_steps", int, "max steps", "optimiser steps for the largest budgets", 1, 1_000_000,
        step=100,
    ),
    Option("val_every", int, "validation interval", "steps between validations", 1, 100_000,
           step=10),
    Option("val_size", int, "validation size", "validation images scored each round", 1),
    Option(
        "target", float, "target", "validation accuracy that counts as converged", 0, 1,
        low_open=True, decimals=3, step=0.005,
    ),
    Option("pretrain_epochs", int, "pretraining epochs", "autoencoder epochs per family", 1,
           10_000),
    Option(
        "semi_steps", int, "semi-supervised steps", "optimiser steps of a semi-supervised cell",
        1, 1_000_000, step=100,
    ),
)  # fmt: skip


def check(options: dict[str, Option], values: object) -> str | None:
    """The first problem among `options` in the dataclass `values`, or None."""
    for option in options.values():
        problem = option.problem(getattr(values, option.name))
        if problem:
            return problem
    return None


# Which images get labelled below all labels (engine.learning.choose), and what the person
# labelling says of each (engine.data.labels). The first of each is the default.
SUGGESTED, RANDOM, BALANCED = "suggested", "random", "balanced"
PICKS = (SUGGESTED, RANDOM, BALANCED)
PICK_HELP = {
    SUGGESTED: "the most typical image of each cluster of similar images (reads no label)",
    RANDOM: "images drawn at random, as a person labelling whatever comes would get",
    BALANCED: "the same number of each digit: reads every image's label to choose "
    "(the benchmark protocol of the literature, not something a person can do)",
}
DIGIT, PARITY = "digit", "parity"
LABEL_KINDS = (DIGIT, PARITY)
