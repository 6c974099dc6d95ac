"""Study settings and results: constants, StudyError, StudySettings, Cell, StudyResult.

Separate because every other part of the study (statistics, files, training, CLI) and the
GUI need these plain data types, and they must import cheaply (no torch, no matplotlib).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from engine.config import (
    ARCHS,
    DEFAULT_ARCH,
    DEFAULT_FINETUNE,
    DEFAULT_PRETRAIN,
    SEMI_BATCH,
    SEMI_STEPS,
    SUPERVISED_MAX_STEPS,
    SUPERVISED_MIN_STEPS,
    SUPERVISED_PASSES,
    ArchConfig,
    TrainConfig,
)
from engine.errors import StudyError
from engine.options import BALANCED, LABEL_KINDS, PICKS

WAYS = ("scratch", "frozen", "finetune", "scratch_unlabelled", "finetune_unlabelled")
WAY_LABELS = {
    "scratch": "from scratch",
    "frozen": "frozen pretrained encoder",
    "finetune": "fine-tuned pretrained encoder",
    "scratch_unlabelled": "from scratch + unlabelled images",
    "finetune_unlabelled": "fine-tuned pretrained encoder + unlabelled images",
}
PRETRAINED_WAYS = ("frozen", "finetune", "finetune_unlabelled")  # start from the encoder
UNLABELLED_WAYS = ("scratch_unlabelled", "finetune_unlabelled")  # semi-supervised
# What each difference between two ways on the same labels measures (engine.study.stats).
EFFECTS = {
    "unlabelled_scratch": ("scratch_unlabelled", "scratch", "the unlabelled images add"),
    "unlabelled_pretrained": ("finetune_unlabelled", "finetune", "the unlabelled images add"),
    "pretraining_unlabelled": (
        "finetune_unlabelled",
        "scratch_unlabelled",
        "the pretrained encoder adds",
    ),
}
STUDY_FILE = "study.json"
CELLS_FILE = "cells.csv"
TABLE_CSV = "table.csv"
TABLE_JSON = "table.json"
PLOT_FILE = "accuracy_vs_labels.png"
CONVERGENCE_PLOT_FILE = "steps_to_target.png"
REPORT_FILE = "report.html"
FORMAT = "evenodd-study"
FORMAT_VERSION = 1
VAL_SUBSET_SEED = 777  # fixes which validation images the study scores (same for all)
CONFIDENCE = 0.95  # two-sided level of the paired intervals on gains


# ------------------------------------------------------------------------------ settings


def semi_budgets_from_text(text: str) -> tuple[int, ...]:
    """'20,100' -> (20, 100); '' or 'none' -> (): no semi-supervised cells."""
    from engine.data.mnist import budgets_from_text

    if text.strip().lower() in ("", "none"):
        return ()
    budgets = budgets_from_text(text)
    if None in budgets:
        raise StudyError("with all labels nothing is unlabelled: give numbers of labels")
    return tuple(budgets)


def budget_key(budget: int | None) -> str:
    """Budget as used in tables and JSON keys: '100', ..., 'all'."""
    return "all" if budget is None else str(budget)


@dataclass(frozen=True)
class StudySettings:
    """Everything that defines a study; recorded in every result file."""

    budgets: tuple[int | None, ...] = (20, 100, 300, 1000, 3000, None)  # None = all labels
    seeds: int = 3  # seeds 0..seeds-1: label subset and training seed of each cell
    families: tuple[str, ...] = ("mlp", "conv")
    # Steps per cell: about `passes` passes over the labelled images, clamped to
    # [min_steps, max_steps]; with the defaults every budget up to 3000 gets 500 steps
    # and all labels (55k) get max_steps, 4297: 10 epochs of 128 (`evenodd run`
    # fine-tunes 16; the study would then take longer than 15 minutes).
    min_steps: int = SUPERVISED_MIN_STEPS
    max_steps: int = SUPERVISED_MAX_STEPS
    passes: float = SUPERVISED_PASSES
    val_every: int = 50  # steps per validation round
    val_size: int = 1000  # validation images scored each round (fixed subset)
    # Rounds without a better validation loss before a cell stops and goes back to its
    # best round; 0 = never: every step is trained and the last weights are kept, where
    # the one-cycle schedule ends. 0 by default: with all labels, both stopping early and
    # going back to the best round (by the loss on 1,000 images) picked weights from the
    # schedule's hot middle (docs/measurements.md).
    patience: int = 0
    target: float = 0.95  # validation accuracy that defines "converged"
    batch_size: int = 128
    # Peak of every cell's one-cycle schedule. Higher than the app's fine-tuning (3e-3),
    # because a cell gets fewer steps: with all labels (10 epochs, conv from scratch,
    # mean of seeds 0-6) 3e-3 gave 99.46 %, 5e-3 and 1e-2 99.51 %; in 500 steps it also
    # lets the head on a frozen encoder learn more (docs/measurements.md).
    lr: float = 1e-2
    weight_decay: float = 0.0
    augment: bool = True
    latent: int = DEFAULT_ARCH.latent
    width: int = DEFAULT_ARCH.width
    dropout: float = DEFAULT_ARCH.dropout
    head_hidden: int = DEFAULT_ARCH.head_hidden
    pretrain_epochs: int = DEFAULT_PRETRAIN.epochs
    pretrain_lr: float = DEFAULT_PRETRAIN.lr
    pretrain_seed: int = 0
    device: str = "auto"
    workers: int = 0  # cells trained side by side, one process each; 0 = one per core
    # The two semi-supervised ways (UNLABELLED_WAYS) run for those of these families and
    # budgets that the study has: with every family and budget they would not fit the
    # 25-minute target on two cores (docs/measurements.md). `--semi-families mlp,conv --semi-budgets
    # 20,100,300,1000,3000` runs the full grid. With all labels nothing is unlabelled.
    semi_families: tuple[str, ...] = ("conv",)
    semi_budgets: tuple[int, ...] = (20, 100, 1000)
    # the app's schedule below SEMI_MORE_FROM labels (engine.options.semi_steps); one count
    # for every budget, so the study's semi-supervised cells compare like with like
    semi_steps: int = SEMI_STEPS
    semi_lr: float = DEFAULT_FINETUNE.lr  # the peak rate the semi-supervised mode was tuned at
    # Which images of a (budget, seed) get labelled, and what their labels say
    # (engine.jobs.workflows.pick_labels); every way of the pair learns from the same ones.
    pick: str = PICKS[0]
    label_kind: str = LABEL_KINDS[0]

    def validate(self) -> StudySettings:
        checks = [
            (len(self.budgets) > 0, "give at least one label budget"),
            (len(set(self.budgets)) == len(self.budgets), "label budgets are repeated"),
            (all(b is None or b >= 1 for b in self.budgets), "label budgets must be >= 1"),
            (1 <= self.seeds <= 100, f"seeds must be between 1 and 100, not {self.seeds}"),
            (len(self.families) > 0, "give at least one encoder family (mlp, conv)"),
            (
                all(f in ARCHS for f in self.families),
                f"encoder families must be among {', '.join(ARCHS)}, not {self.families}",
            ),
            (len(set(self.families)) == len(self.families), "encoder families are repeated"),
            (1 <= self.min_steps <= self.max_steps, "need 1 <= min_steps <= max_steps"),
            (self.passes > 0, "passes must be above 0"),
            (self.val_every >= 1, "val_every must be 1 or more"),
            (self.val_size >= 1, "val_size must be 1 or more"),
            (0 < self.target <= 1, f"target accuracy must be in (0, 1], not {self.target}"),
            (self.pretrain_epochs >= 1, "pretrain_epochs must be 1 or more"),
            (self.patience >= 0, "patience must be 0 (no early stopping) or more"),
            (
                0 <= self.workers <= 64,
                f"workers must be 0 (one per core) to 64, not {self.workers}",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise StudyError(message)
        semi_checks = [
            (
                all(f in ARCHS for f in self.semi_families),
                f"semi-supervised families must be among {', '.join(ARCHS)}",
            ),
            (
                all(b is not None and b >= 1 for b in self.semi_budgets),
                "semi-supervised budgets must be numbers of labels (with all labels nothing "
                "is unlabelled)",
            ),
            (self.semi_steps >= 1, "semi_steps must be 1 or more"),
            (self.pick in PICKS, f"pick must be one of {', '.join(PICKS)}, not {self.pick!r}"),
            (
                self.label_kind in LABEL_KINDS,
                f"label kind must be one of {', '.join(LABEL_KINDS)}, not {self.label_kind!r}",
            ),
        ]
        for ok, message in semi_checks:
            if not ok:
                raise StudyError(message)
        for family in self.families:
            self.arch(family).validate()
        self.train_config(0, self.min_steps).validate()
        self.pretrain_config().validate()
        return self

    def steps_for(self, n_labels: int) -> int:
        """Optimiser steps of a cell with `n_labels` labelled images (same for all ways)."""
        wanted = math.ceil(self.passes * n_labels / self.batch_size)
        return int(min(self.max_steps, max(self.min_steps, wanted)))

    def arch(self, family: str, budget: int | None = None) -> ArchConfig:
        """A family's architecture; the classifier of a `budget` below all labels deskews
        its input, as the app's does (engine.jobs.workflows.deskews)."""
        from engine.jobs.workflows import deskews

        return ArchConfig(
            arch=family,
            latent=self.latent,
            dropout=self.dropout,
            width=self.width,
            head_hidden=self.head_hidden,
            deskew=deskews(budget is not None),
        )

    def train_config(self, seed: int, steps: int) -> TrainConfig:
        """The one classifier config of a cell; only `seed` and `steps` vary between cells.

        One `fit` epoch is one validation round, so `epochs` is the number of rounds.
        """
        rounds = math.ceil(steps / self.val_every)
        return TrainConfig(
            epochs=rounds,
            batch_size=self.batch_size,
            lr=self.lr,
            weight_decay=self.weight_decay,
            patience=self.patience or rounds + 1,  # 0: train every step ...
            keep_best=self.patience > 0,  # ... and keep the last weights
            seed=seed,
            device=self.device,
            max_steps=steps,
            augment=self.augment,
        )

    def ways_for(self, family: str, budget: int | None) -> tuple[str, ...]:
        """The ways a (family, budget) pair is trained in: the semi-supervised two only
        for the semi families and budgets that the study also has (never all labels)."""
        semi = family in self.semi_families and budget in self.semi_budgets
        return WAYS if semi else tuple(w for w in WAYS if w not in UNLABELLED_WAYS)

    def cell_config(self, way: str, seed: int, n_labels: int) -> TrainConfig:
        """The classifier config of one cell: the semi-supervised schedule for the
        UNLABELLED_WAYS, the study's equal-steps rule for the others."""
        if way in UNLABELLED_WAYS:
            return self.semi_config(seed)
        return self.train_config(seed, self.steps_for(n_labels))

    def semi_config(self, seed: int) -> TrainConfig:
        """A semi-supervised cell: the app's schedule (steps, batch of labels, peak lr),
        in the study's validation rounds, keeping its last weights."""
        return replace(
            self.train_config(seed, self.semi_steps), batch_size=SEMI_BATCH, lr=self.semi_lr
        )

    def pretrain_config(self) -> TrainConfig:
        """The app's pretraining (batch, precision), with the study's epochs, lr and seed."""
        return replace(
            DEFAULT_PRETRAIN,
            epochs=self.pretrain_epochs,
            lr=self.pretrain_lr,
            patience=self.pretrain_epochs,  # no early stop inside so few epochs
            seed=self.pretrain_seed,
            device=self.device,
        )

    def to_dict(self) -> dict:
        values = asdict(self)
        values["budgets"] = [budget_key(b) for b in self.budgets]
        values["families"] = list(self.families)
        return values

    @classmethod
    def from_dict(cls, values: dict) -> StudySettings:
        known = {f.name: values[f.name] for f in fields(cls) if f.name in values}
        known.setdefault("pick", BALANCED)  # studies saved before the choice drew balanced
        if "budgets" in known:
            known["budgets"] = tuple(None if str(b) == "all" else int(b) for b in known["budgets"])
        if "families" in known:
            known["families"] = tuple(known["families"])
        for key in ("semi_families", "semi_budgets"):
            if key in known:
                known[key] = tuple(known[key])
        try:
            return cls(**known).validate()
        except (TypeError, ValueError) as exc:
            raise StudyError(f"bad study settings: {exc}") from None


# ------------------------------------------------------------------------------- results


@dataclass
class Cell:
    """One finished (family, budget, seed, way) training run and its scores."""

    family: str
    budget: str  # '100', ..., 'all'
    n_labels: int
    seed: int
    way: str
    test_accuracy: float
    val_accuracy: float
    steps: int  # optimiser steps actually taken (fewer when stopped early)
    planned_steps: int
    steps_to_target: int | None
    status: str  # fit's status: "completed" or "early_stopped"
    best_round: int
    seconds: float
    labels_sha256: str  # of the labelled indices this run trained on
    curve: list[tuple[int, float]] = field(default_factory=list)  # (steps, val accuracy)

    def to_dict(self) -> dict:
        values = asdict(self)
        values["curve"] = [[s, a] for s, a in self.curve]
        return values

    @classmethod
    def from_dict(cls, values: dict) -> Cell:
        known = {f.name: values[f.name] for f in fields(cls) if f.name in values}
        known["curve"] = [(int(s), float(a)) for s, a in known.get("curve", [])]
        return cls(**known)


@dataclass
class StudyResult:
    """A study's settings, its finished cells and how it ended."""

    settings: StudySettings
    cells: list[Cell] = field(default_factory=list)
    pretraining: dict[str, dict] = field(default_factory=dict)
    status: str = "running"  # "running", "completed", "stopped"
    seconds: float = 0.0
    planned_cells: int = 0
    out_dir: Path | None = None
    info: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "status": self.status,
            "seconds": self.seconds,
            "planned_cells": self.planned_cells,
            "settings": self.settings.to_dict(),
            "pretraining": self.pretraining,
            "info": self.info,
            "cells": [cell.to_dict() for cell in self.cells],
        }

    @classmethod
    def from_dict(cls, values: dict) -> StudyResult:
        if values.get("format") != FORMAT:
            raise StudyError("not a saved Even/Odd Studio study")
        if values.get("format_version") != FORMAT_VERSION:
            raise StudyError(f"study format version {values.get('format_version')} unsupported")
        return cls(
            settings=StudySettings.from_dict(values.get("settings") or {}),
            cells=[Cell.from_dict(c) for c in values.get("cells") or []],
            pretraining=dict(values.get("pretraining") or {}),
            status=str(values.get("status", "unknown")),
            seconds=float(values.get("seconds", 0.0)),
            planned_cells=int(values.get("planned_cells", 0)),
            info=dict(values.get("info") or {}),
        )
