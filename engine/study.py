"""The pretraining study: when does autoencoder pretraining beat training from scratch?

For every encoder family, label budget and seed, the same classifier is trained three ways
(WAYS): from scratch, on the frozen pretrained encoder, and fine-tuning the pretrained
encoder; each is scored on the MNIST test set. Fair by construction:

* one pretraining run per family (on the training split's images, labels unused), shared
  by every cell of that family;
* per (family, budget, seed) the class-balanced labelled subset is drawn ONCE and handed
  to all three ways (each cell records the SHA-256 of the indices it trained on);
* the three ways share head, optimiser (Adam, one-cycle schedule), learning rate, batch
  size, number of steps, augmentation, training seed (batch order, augmentation draws)
  and the early-stopping rule.

Step-based schedule (why not epochs): with 100 labels an epoch is a single batch, so an
epoch-based schedule would validate after every step for small budgets and only every 430
steps with all labels. Here every cell trains for `steps_for(n_labels)` optimiser steps,
drawing batches from an endless stream of reshuffled passes over its labelled images, and
validates every `val_every` steps on a fixed subset of the validation split (the same
images for every cell). The engine's `fit` loop does the training: one of its "epochs" is
one validation round of `val_every` steps, so its early stopping counts rounds (`patience`
rounds without a better validation loss) and it restores the weights of the best round.
Convergence is the number of steps after which the validation accuracy first reaches
`target` (None when it never does within the cell's steps).

Results are written while the study runs (study.json + cells.csv after every cell), so a
stopped or crashed study keeps its finished cells; at the end (or on stop) the summary
table (table.csv, table.json), the plot (accuracy_vs_labels.png) and report.html follow.
`load_study(folder)` reopens a saved study.

This module imports torch and matplotlib only inside the functions that train or draw:
`evenodd --help` and the GUI can import it (e.g. for load_study/summaries) cheaply.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import html
import io
import json
import math
import platform
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

import engine
from engine.config import ARCHS, DEFAULT_ARCH, ArchConfig, TrainConfig
from engine.events import (
    CellDone,
    EventSink,
    Message,
    Progress,
    StopCheck,
    Stopwatch,
    ignore_event,
    never_stop,
)
from engine.files import atomic_write_bytes

if TYPE_CHECKING:
    import torch

    from engine.data import Mnist

WAYS = ("scratch", "frozen", "finetune")
WAY_LABELS = {
    "scratch": "from scratch",
    "frozen": "frozen pretrained encoder",
    "finetune": "fine-tuned pretrained encoder",
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


class StudyError(ValueError):
    """Study settings or a saved study folder that cannot be used; the message says why."""


# ------------------------------------------------------------------------------ settings


def budget_key(budget: int | None) -> str:
    """Budget as used in tables and JSON keys: '100', ..., 'all'."""
    return "all" if budget is None else str(budget)


@dataclass(frozen=True)
class StudySettings:
    """Everything that defines a study; recorded in every result file."""

    budgets: tuple[int | None, ...] = (100, 300, 1000, 3000, None)  # None = all labels
    seeds: int = 3  # seeds 0..seeds-1: label subset and training seed of each cell
    families: tuple[str, ...] = ("mlp", "conv")
    # Steps per cell: about `passes` passes over the labelled images, clamped to
    # [min_steps, max_steps]; with the defaults every budget up to 3000 gets 500 steps
    # and all labels (55k) get 2000 steps (4.7 epochs).
    min_steps: int = 500
    max_steps: int = 2000
    passes: float = 20.0
    val_every: int = 50  # steps per validation round
    val_size: int = 1000  # validation images scored each round (fixed subset)
    patience: int = 6  # rounds without a better validation loss before stopping; 0 = never
    target: float = 0.95  # validation accuracy that defines "converged"
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 0.0
    augment: bool = True
    latent: int = DEFAULT_ARCH.latent
    width: int = DEFAULT_ARCH.width
    dropout: float = DEFAULT_ARCH.dropout
    head_hidden: int = DEFAULT_ARCH.head_hidden
    pretrain_epochs: int = 4
    pretrain_lr: float = 2e-3
    pretrain_seed: int = 0
    device: str = "auto"

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
        ]
        for ok, message in checks:
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

    def arch(self, family: str) -> ArchConfig:
        return ArchConfig(
            arch=family,
            latent=self.latent,
            dropout=self.dropout,
            width=self.width,
            head_hidden=self.head_hidden,
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
            patience=self.patience or rounds + 1,  # 0: train every step, keep the best
            seed=seed,
            device=self.device,
            max_steps=steps,
            augment=self.augment,
        )

    def pretrain_config(self) -> TrainConfig:
        return TrainConfig(
            epochs=self.pretrain_epochs,
            batch_size=self.batch_size,
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
        if "budgets" in known:
            known["budgets"] = tuple(None if str(b) == "all" else int(b) for b in known["budgets"])
        if "families" in known:
            known["families"] = tuple(known["families"])
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

    def summary(self) -> dict:
        return summarize(self.cells, self.settings)

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


# ---------------------------------------------------------------------------- statistics


def _std(values: Sequence[float]) -> float | None:
    """Sample standard deviation (n-1); None with fewer than two values (spread unknown)."""
    return float(np.std(values, ddof=1)) if len(values) >= 2 else None


def _t_quantile(df: int) -> float:
    """Two-sided CONFIDENCE quantile of Student's t (scipy ships with scikit-learn)."""
    from scipy.stats import t

    return float(t.ppf(0.5 + CONFIDENCE / 2, df))


def paired_gain(way: Sequence[float], scratch: Sequence[float]) -> dict:
    """Gain of a way over scratch from per-seed paired differences (same labels per seed).

    `clear` is True when the CONFIDENCE interval of the mean difference (Student's t over
    the seeds) excludes zero, i.e. the difference exceeds the seed-to-seed spread; None
    when there is only one seed and the spread is unknown.
    """
    diffs = [a - b for a, b in zip(way, scratch, strict=True)]
    if not diffs:
        return {"mean": None, "std": None, "low": None, "high": None, "diffs": [], "clear": None}
    mean = float(np.mean(diffs))
    std = _std(diffs)
    if std is None:
        return {"mean": mean, "std": None, "low": None, "high": None, "diffs": diffs, "clear": None}
    half = _t_quantile(len(diffs) - 1) * std / math.sqrt(len(diffs))
    low, high = mean - half, mean + half
    return {
        "mean": mean,
        "std": std,
        "low": low,
        "high": high,
        "diffs": diffs,
        "clear": bool(low > 0 or high < 0),
    }


def _ordered_budgets(cells: Sequence[Cell], settings: StudySettings) -> list[str]:
    keys = [budget_key(b) for b in settings.budgets]
    return keys + sorted({c.budget for c in cells} - set(keys))


def summarize(cells: Sequence[Cell], settings: StudySettings) -> dict:
    """The study table as plain JSON-ready data (the shape `evenodd compare --json` prints).

    ``table[family][budget][way]`` = {"mean", "std", "accuracies", "seeds", "n_labels",
    "steps", "steps_to_target", "reached"}; ``gains[family][budget][way]`` (way in frozen,
    finetune) = paired_gain(...) over the seeds both the way and scratch finished.
    Only combinations with at least one finished cell appear.
    """
    table: dict[str, dict[str, dict[str, dict]]] = {}
    gains: dict[str, dict[str, dict[str, dict]]] = {}
    budgets = _ordered_budgets(cells, settings)
    for family in settings.families:
        for budget in budgets:
            by_way = {
                way: sorted(
                    (c for c in cells if (c.family, c.budget, c.way) == (family, budget, way)),
                    key=lambda c: c.seed,
                )
                for way in WAYS
            }
            row = {way: _way_summary(found) for way, found in by_way.items() if found}
            if not row:
                continue
            table.setdefault(family, {})[budget] = row
            scratch = {c.seed: c.test_accuracy for c in by_way["scratch"]}
            for way in ("frozen", "finetune"):
                mine = {c.seed: c.test_accuracy for c in by_way[way]}
                seeds = sorted(set(mine) & set(scratch))
                if seeds:
                    gain = paired_gain([mine[s] for s in seeds], [scratch[s] for s in seeds])
                    gain["seeds"] = seeds
                    gains.setdefault(family, {}).setdefault(budget, {})[way] = gain
    return {"table": table, "gains": gains, "target": settings.target}


def _way_summary(found: Sequence[Cell]) -> dict:
    accuracies = [c.test_accuracy for c in found]
    reached = [c.steps_to_target for c in found if c.steps_to_target is not None]
    return {
        "mean": float(np.mean(accuracies)),
        "std": _std(accuracies),
        "accuracies": accuracies,
        "seeds": [c.seed for c in found],
        "n_labels": found[0].n_labels,
        "steps": [c.steps for c in found],
        "steps_to_target": [c.steps_to_target for c in found],
        "reached": len(reached),
        "mean_steps_to_target": float(np.mean(reached)) if reached else None,
    }


# --------------------------------------------------------------------- generated sentences


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def _pts(value: float) -> str:
    return f"{100 * value:+.1f} points"


def _cell_name(family: str, budget: str) -> str:
    labels = "all labels" if budget == "all" else f"{budget} labels"
    return f"{family.upper()}, {labels}"


def gain_sentence(family: str, budget: str, way: str, gain: dict) -> str:
    """One sentence on one gain, with its interval and whether it beats the seed spread."""
    name = f"{_cell_name(family, budget)}: {WAY_LABELS[way]} vs scratch"
    n = len(gain["diffs"])
    if gain["clear"] is None:
        return f"{name}: {_pts(gain['mean'])} (one seed only; the spread is unknown)."
    interval = (
        f"{int(CONFIDENCE * 100)}% interval {100 * gain['low']:+.1f} to "
        f"{100 * gain['high']:+.1f} over {n} paired seeds"
    )
    if gain["clear"]:
        verdict = "pretraining helped" if gain["mean"] > 0 else "pretraining hurt"
        return f"{name}: {_pts(gain['mean'])} ({interval}); {verdict}, beyond the seed spread."
    return (
        f"{name}: {_pts(gain['mean'])} ({interval}); within the spread across seeds, "
        "no clear difference."
    )


def convergence_sentence(family: str, budget: str, row: dict, target: float) -> str | None:
    """How many steps each way needed to reach the target validation accuracy."""
    parts = []
    for way in WAYS:
        if way not in row:
            continue
        info = row[way]
        n = len(info["accuracies"])
        if info["reached"]:
            parts.append(
                f"{way} after {info['mean_steps_to_target']:.0f} steps "
                f"({info['reached']}/{n} seeds)"
            )
        else:
            parts.append(f"{way} never (0/{n} seeds)")
    if not parts:
        return None
    return (
        f"{_cell_name(family, budget)}: reached {_pct(target)} validation accuracy: "
        + "; ".join(parts)
        + "."
    )


def _comparison_lists(gains: dict) -> tuple[list[str], list[str], list[str], list[str]]:
    helped, hurt, unclear, unknown = [], [], [], []
    for family, per_budget in gains.items():
        for budget, per_way in per_budget.items():
            for way, gain in per_way.items():
                tag = f"{family} {budget} {way}"
                if gain["clear"] is None:
                    unknown.append(tag)
                elif gain["clear"] and gain["mean"] > 0:
                    helped.append(tag)
                elif gain["clear"]:
                    hurt.append(tag)
                else:
                    unclear.append(tag)
    return helped, hurt, unclear, unknown


def faster_sentences(summary: dict) -> list[str]:
    """Convergence of each pretrained way vs scratch: first how many seeds reached the
    target at all, then (if equally many) the mean steps of those seeds."""
    out = []
    for family, per_budget in summary["table"].items():
        for budget, row in per_budget.items():
            scratch = row.get("scratch")
            for way in ("frozen", "finetune"):
                mine = row.get(way)
                if not scratch or not mine or not (mine["reached"] or scratch["reached"]):
                    continue
                out.append(
                    _convergence_verdict(f"{_cell_name(family, budget)}, {way}", mine, scratch)
                )
    return out


def _convergence_verdict(name: str, mine: dict, scratch: dict) -> str:
    def text(info: dict) -> str:
        n = len(info["accuracies"])
        if not info["reached"]:
            return f"never, 0/{n} seeds"
        return f"{info['mean_steps_to_target']:.0f} steps, {info['reached']}/{n} seeds"

    a, b = mine["mean_steps_to_target"], scratch["mean_steps_to_target"]
    if mine["reached"] != scratch["reached"]:
        more = mine["reached"] > scratch["reached"]
        verdict = f"reached the target in {'more' if more else 'fewer'} seeds than"
    elif a < b:
        verdict = "converged faster than"
    elif a > b:
        verdict = "converged slower than"
    else:
        verdict = "converged as fast as"
    return f"{name}: {verdict} scratch ({text(mine)}; scratch {text(scratch)})."


def sentences(summary: dict) -> list[str]:
    """The report's conclusions, computed from the numbers only (none written by hand)."""
    table, gains = summary["table"], summary["gains"]
    helped, hurt, unclear, unknown = _comparison_lists(gains)
    total = len(helped) + len(hurt) + len(unclear) + len(unknown)
    out = []
    if total:
        out.append(
            f"Of {total} comparisons with scratch (family, budget, pretrained way), "
            f"pretraining helped beyond the seed spread in {len(helped)}, hurt beyond it in "
            f"{len(hurt)}, was within the spread in {len(unclear)}"
            + (f" and could not be judged (one seed) in {len(unknown)}" if unknown else "")
            + "."
        )
    for label, items in (("Helped", helped), ("Hurt", hurt)):
        if items:
            out.append(f"{label}: {', '.join(items)}.")
    for family, per_budget in table.items():
        best = []
        for budget, row in per_budget.items():
            way = max(row, key=lambda w: row[w]["mean"])
            best.append(f"{budget}: {way} {_pct(row[way]['mean'])}")
        out.append(f"{family.upper()} best way per budget: " + "; ".join(best) + ".")
    for family, per_budget in gains.items():
        for budget, per_way in per_budget.items():
            for way, gain in per_way.items():
                out.append(gain_sentence(family, budget, way, gain))
    out.extend(faster_sentences(summary))
    return out


# --------------------------------------------------------------------------------- files


def _write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


CELL_COLUMNS = [
    "family",
    "budget",
    "n_labels",
    "seed",
    "way",
    "test_accuracy",
    "val_accuracy",
    "steps",
    "planned_steps",
    "steps_to_target",
    "status",
    "best_round",
    "seconds",
    "labels_sha256",
]


def cells_csv(cells: Sequence[Cell]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CELL_COLUMNS)
    for cell in cells:
        values = cell.to_dict()
        writer.writerow(["" if values[c] is None else values[c] for c in CELL_COLUMNS])
    return buffer.getvalue()


def table_csv(summary: dict) -> str:
    """One row per family, budget and way: mean, std, per-seed accuracies, gain."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        [
            "family",
            "budget",
            "n_labels",
            "way",
            "mean",
            "std",
            "n_seeds",
            "accuracies",
            "gain_vs_scratch",
            "gain_std",
            "gain_low",
            "gain_high",
            "gain_clear",
            "mean_steps_to_target",
            "reached_target",
        ]
    )
    for family, per_budget in summary["table"].items():
        for budget, row in per_budget.items():
            for way, info in row.items():
                gain = summary["gains"].get(family, {}).get(budget, {}).get(way, {})
                writer.writerow(
                    [
                        family,
                        budget,
                        info["n_labels"],
                        way,
                        f"{info['mean']:.6f}",
                        "" if info["std"] is None else f"{info['std']:.6f}",
                        len(info["accuracies"]),
                        " ".join(f"{a:.6f}" for a in info["accuracies"]),
                        *[
                            "" if gain.get(k) is None else f"{gain[k]:.6f}"
                            for k in ("mean", "std", "low", "high")
                        ],
                        "" if gain.get("clear") is None else gain["clear"],
                        ""
                        if info["mean_steps_to_target"] is None
                        else f"{info['mean_steps_to_target']:.1f}",
                        f"{info['reached']}/{len(info['accuracies'])}",
                    ]
                )
    return buffer.getvalue()


def table_json(result: StudyResult) -> dict:
    """What `evenodd compare --json` prints and table.json holds (see cmd_compare)."""
    summary = result.summary()
    return {
        "status": result.status,
        "cells_done": len(result.cells),
        "cells_planned": result.planned_cells,
        "seconds": result.seconds,
        **summary,
        "sentences": sentences(summary),
        "settings": result.settings.to_dict(),
    }


def write_progress(out: Path, result: StudyResult) -> None:
    """The incremental files, rewritten after every cell: study.json and cells.csv."""
    _write_text(out / STUDY_FILE, json.dumps(result.to_dict(), indent=1))
    _write_text(out / CELLS_FILE, cells_csv(result.cells))


def write_outputs(out: Path, result: StudyResult) -> dict[str, Path]:
    """All result files of a (finished or stopped) study; returns them by role."""
    write_progress(out, result)
    summary = result.summary()
    _write_text(out / TABLE_CSV, table_csv(summary))
    _write_text(out / TABLE_JSON, json.dumps(table_json(result), indent=1))
    plot = figure_png(accuracy_figure(summary, result.settings))
    atomic_write_bytes(out / PLOT_FILE, plot)
    convergence = figure_png(convergence_figure(summary, result.settings))
    atomic_write_bytes(out / CONVERGENCE_PLOT_FILE, convergence)
    _write_text(out / REPORT_FILE, report_html(result, summary, plot, convergence))
    return {
        "study": out / STUDY_FILE,
        "cells": out / CELLS_FILE,
        "table_csv": out / TABLE_CSV,
        "table_json": out / TABLE_JSON,
        "plot": out / PLOT_FILE,
        "convergence_plot": out / CONVERGENCE_PLOT_FILE,
        "report": out / REPORT_FILE,
    }


def load_study(folder: str | Path) -> StudyResult:
    """Reopen a saved study folder (its study.json); never runs anything."""
    folder = Path(folder)
    path = folder / STUDY_FILE
    if not path.is_file():
        raise StudyError(f"{folder} holds no saved study ({STUDY_FILE} not found)")
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StudyError(f"{path.name}: cannot be read as a study ({exc})") from None
    if not isinstance(values, dict):
        raise StudyError(f"{path.name}: not a saved study")
    try:
        result = StudyResult.from_dict(values)
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, StudyError):
            raise
        raise StudyError(f"{path.name}: damaged study file ({exc})") from None
    result.out_dir = folder
    return result


# --------------------------------------------------------------------------------- plots


def x_positions(summary: dict, budgets: Sequence[str]) -> dict[str, int]:
    """Number of labels of each budget that has results (x axis of the plots)."""
    found: dict[str, int] = {}
    for per_budget in summary["table"].values():
        for budget, row in per_budget.items():
            found[budget] = next(iter(row.values()))["n_labels"]
    return {b: found[b] for b in budgets if b in found}


def accuracy_figure(summary: dict, settings: StudySettings):
    """Test accuracy vs labels (log x), error bars = std over seeds; a panel per family."""
    from matplotlib.figure import Figure

    families = list(settings.families)
    figure = Figure(figsize=(5.2 * len(families), 3.8))
    budgets = [budget_key(b) for b in settings.budgets]
    for i, family in enumerate(families, start=1):
        axes = figure.add_subplot(1, len(families), i)
        rows = summary["table"].get(family, {})
        for way in WAYS:
            points = [
                (row[way]["n_labels"], row[way]["mean"], row[way]["std"] or 0.0)
                for b, row in rows.items()
                if way in row and b in budgets
            ]
            if points:
                x, y, err = zip(*sorted(points), strict=True)
                axes.errorbar(
                    x,
                    [100 * v for v in y],
                    yerr=[100 * e for e in err],
                    marker="o",
                    capsize=3,
                    label=WAY_LABELS[way],
                )
        _label_axes(axes, family, "test accuracy (%)", x_positions(summary, budgets))
    figure.tight_layout()
    return figure


def convergence_figure(summary: dict, settings: StudySettings):
    """Mean steps to reach the target validation accuracy (seeds that reached it)."""
    from matplotlib.figure import Figure

    families = list(settings.families)
    figure = Figure(figsize=(5.2 * len(families), 3.6))
    for i, family in enumerate(families, start=1):
        axes = figure.add_subplot(1, len(families), i)
        for way in WAYS:
            points = [
                (row[way]["n_labels"], row[way]["mean_steps_to_target"])
                for row in summary["table"].get(family, {}).values()
                if way in row and row[way]["mean_steps_to_target"] is not None
            ]
            if points:
                x, y = zip(*sorted(points), strict=True)
                axes.plot(x, y, marker="o", label=WAY_LABELS[way])
        ticks = x_positions(summary, [budget_key(b) for b in settings.budgets])
        _label_axes(axes, family, f"steps to {_pct(settings.target)} val. acc.", ticks)
    figure.tight_layout()
    return figure


def _label_axes(axes, family: str, ylabel: str, ticks: dict[str, int] | None = None) -> None:
    axes.set_xscale("log")
    if ticks:  # the budgets themselves, not 2x10^1 style log ticks
        from matplotlib.ticker import NullFormatter

        axes.set_xticks(list(ticks.values()), [f"{n:,}" for n in ticks.values()])
        axes.xaxis.set_minor_formatter(NullFormatter())
    axes.set_xlabel("labelled images (log scale)")
    axes.set_ylabel(ylabel)
    axes.set_title(f"{family.upper()} encoder")
    axes.grid(alpha=0.3, which="both")
    if axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize=8)


def figure_png(figure) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()


# ---------------------------------------------------------------------------------- html


def fmt_mean_std(info: dict) -> str:
    std = "n/a" if info["std"] is None else f"{100 * info['std']:.2f}"
    return f"{100 * info['mean']:.2f} ± {std}"


def fmt_gain(gain: dict | None) -> str:
    if not gain or gain.get("mean") is None:
        return ""
    if gain["low"] is None:
        return f"{100 * gain['mean']:+.2f} (1 seed)"
    mark = " *" if gain["clear"] else ""
    return f"{100 * gain['mean']:+.2f} [{100 * gain['low']:+.2f}, {100 * gain['high']:+.2f}]{mark}"


def summary_table_html(summary: dict) -> str:
    head = (
        "<tr><th>family</th><th>labels</th>"
        + "".join(f"<th>{w} (%)</th>" for w in WAYS)
        + "<th>frozen − scratch</th><th>finetune − scratch</th>"
        + "".join(f"<th>{w}: steps to target</th>" for w in WAYS)
        + "</tr>"
    )
    rows = []
    for family, per_budget in summary["table"].items():
        for budget, row in per_budget.items():
            gains = summary["gains"].get(family, {}).get(budget, {})
            cells = [family, budget]
            cells += [fmt_mean_std(row[w]) if w in row else "" for w in WAYS]
            cells += [fmt_gain(gains.get("frozen")), fmt_gain(gains.get("finetune"))]
            for way in WAYS:
                info = row.get(way)
                if info is None:
                    cells.append("")
                elif info["mean_steps_to_target"] is None:
                    cells.append(f"never (0/{len(info['accuracies'])})")
                else:
                    cells.append(
                        f"{info['mean_steps_to_target']:.0f} "
                        f"({info['reached']}/{len(info['accuracies'])})"
                    )
            rows.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells))
    return f"<table>{head}{''.join(rows)}</table>"


def report_html(result: StudyResult, summary: dict, plot: bytes, convergence: bytes) -> str:
    from engine.report import embed_png, html_page, settings_table

    settings = result.settings
    steps = {
        key: settings.steps_for(_n_for(summary, key) or 0)
        for key in (budget_key(b) for b in settings.budgets)
        if _n_for(summary, key)
    }
    facts = {
        "status": result.status,
        "cells finished": f"{len(result.cells)} of {result.planned_cells}",
        "wall time": f"{result.seconds:.0f} s",
        "steps per cell": ", ".join(f"{k}: {v}" for k, v in steps.items()),
        **{f"pretraining {k}": _pretrain_text(v) for k, v in result.pretraining.items()},
        **{k: v for k, v in result.info.items() if isinstance(v, str | int | float)},
    }
    conclusions = "".join(f"<li>{html.escape(s)}</li>" for s in sentences(summary))
    how = (
        f"<p>Each number is the even/odd accuracy on the {result.info.get('test_images', '')} "
        "MNIST test images, mean ± "
        "sample standard deviation over seeds (percent). Gains are per-seed paired "
        f"differences with a {int(CONFIDENCE * 100)}% Student-t interval; * marks a gain "
        "whose interval excludes zero (larger than the spread across seeds). Steps to "
        f"target: mean optimiser steps to reach {_pct(settings.target)} accuracy on "
        f"{settings.val_size} validation images, checked every {settings.val_every} steps, "
        "over the seeds that reached it (count in brackets).</p>"
    )
    sections = [
        ("Conclusions (computed from the numbers)", f"<ul>{conclusions}</ul>"),
        ("Accuracy vs labels", embed_png(plot, "test accuracy vs number of labels")),
        ("Results", how + summary_table_html(summary)),
        ("Convergence", embed_png(convergence, "steps to the target validation accuracy")),
        ("Run", settings_table(facts)),
        ("Settings", settings_table(settings.to_dict())),
    ]
    return html_page("Pretraining study: scratch vs frozen vs fine-tuned encoder", sections)


def _n_for(summary: dict, budget: str) -> int | None:
    for per_budget in summary["table"].values():
        if budget in per_budget:
            return next(iter(per_budget[budget].values()))["n_labels"]
    return None


def _pretrain_text(info: dict) -> str:
    return (
        f"{info.get('status')}, {info.get('epochs_run')} epochs, val MSE "
        f"{info.get('val_mse', float('nan')):.5f}, {info.get('seconds', 0):.0f} s"
    )


# ------------------------------------------------------------------------------ training


def indices_sha256(indices: torch.Tensor) -> str:
    """Fingerprint of a set of labelled indices (as int64), to prove the ways share it."""
    import torch

    return hashlib.sha256(indices.to(torch.int64).contiguous().numpy().tobytes()).hexdigest()


@dataclass
class CellRun:
    """What `train_cell` returns: the trained model's scores and its training curve."""

    test_accuracy: float
    val_accuracy: float
    steps: int
    status: str
    best_round: int
    curve: list[tuple[int, float]]
    labels_sha256: str
    seconds: float


def train_cell(
    data: Mnist,
    arch: ArchConfig,
    cfg: TrainConfig,
    labelled: torch.Tensor,
    encoder: Any,
    freeze: bool,
    val_indices: torch.Tensor,
    val_every: int,
    on_event: EventSink = ignore_event,
    should_stop: StopCheck = never_stop,
) -> CellRun:
    """Train one classifier the study's way and score it on the test set.

    That is engine.training.finetune (same model, loss, augmentation, Adam + one-cycle)
    in rounds of `val_every` steps, validated on the study's fixed `val_indices`.
    """
    import torch

    from engine.data import parity
    from engine.training import finetune, predict_proba

    clock = Stopwatch()
    result = finetune(
        data, arch, cfg, labelled, encoder, freeze, on_event, should_stop,
        val_indices=val_indices, round_steps=val_every,
    )  # fmt: skip
    finished = result.fit.finished
    curve = [(e.steps, float(e.val_accuracy or 0.0)) for e in result.fit.history]
    p_odd = predict_proba(result.model, data.test_images)
    truth = parity(data.test_labels)
    test_accuracy = float(((p_odd > 0.5).float() == truth).float().mean())
    return CellRun(
        test_accuracy=test_accuracy,
        val_accuracy=result.val_accuracy,
        steps=finished.steps,
        status=finished.status,
        best_round=finished.best_epoch,
        curve=curve,
        labels_sha256=indices_sha256(labelled.to(torch.int64)),
        seconds=clock.elapsed,
    )


def steps_to_target(curve: Sequence[tuple[int, float]], target: float) -> int | None:
    """Steps at the first validation round whose accuracy reached `target`."""
    return next((steps for steps, accuracy in curve if accuracy >= target), None)


# ----------------------------------------------------------------------------- the study


WORK_WEIGHT = {"pretrain": 2.0, "scratch": 1.0, "frozen": 0.5, "finetune": 1.0}  # for ETA


class _Progress:
    """Turns the inner runs' Progress events into one study-wide Progress with an ETA.

    Work is counted in steps weighted by their rough cost (WORK_WEIGHT), so the ETA is
    sensible although pretraining steps cost more than frozen-encoder steps.
    """

    def __init__(self, total: float, on_event: EventSink) -> None:
        self.total, self.done, self.on_event = total, 0.0, on_event
        self.clock = Stopwatch()
        self.cells_done = 0
        self.cells_total = 0

    def sink(self, weight: float, passthrough: bool = False) -> EventSink:
        """Sink for one inner run; `passthrough` also forwards its other events (epochs)."""

        def forward(event: Any) -> None:
            if isinstance(event, Progress):
                self.emit(self.done + weight * event.done)
            elif passthrough:
                self.on_event(event)

        return forward

    def advance(self, units: float) -> None:
        self.done += units
        self.emit(self.done)

    def emit(self, done: float) -> None:
        done = min(done, self.total)
        self.on_event(
            Progress(
                "compare",
                round(done),
                round(self.total),
                self.clock.elapsed,
                self.clock.eta(done, self.total),
                batch=self.cells_done,
                batches=self.cells_total,
            )
        )


def _study_split(n: int):
    """The app's own train/validation split (engine.data decides the sizes)."""
    from engine.data import split_train_val

    return split_train_val(n)


def _validation_subset(split: Any, size: int) -> torch.Tensor:
    """The same `size` validation indices for every cell (sorted, seeded)."""
    import torch

    order = torch.randperm(len(split.val), generator=torch.Generator().manual_seed(VAL_SUBSET_SEED))
    return split.val[order[: min(size, len(split.val))]].sort().values


def run_study(
    data: Mnist,
    settings: StudySettings = StudySettings(),
    on_event: EventSink = ignore_event,
    should_stop: StopCheck = never_stop,
    out_dir: str | Path | None = None,
) -> StudyResult:
    """Run the study; cells are reported (CellDone) and saved (out_dir) as they finish.

    Order: pretrain every family first, then seed by seed (so a stopped study has whole
    curves for its first seeds), family, budget, and the three ways of each labelled
    subset in a row. Stopping keeps every finished cell; the unfinished one is dropped.
    """
    import torch

    from engine.data import label_budget
    from engine.training import pretrain

    settings = settings.validate()
    out = Path(out_dir) if out_dir is not None else None
    split = _study_split(len(data.train_images))
    for budget in settings.budgets:
        if budget is not None and budget > len(split.train):
            raise StudyError(
                f"label budget {budget} is larger than the {len(split.train)} training images"
            )
    n_labels = {b: len(split.train) if b is None else b for b in settings.budgets}
    plan = [
        (seed, family, budget)
        for seed in range(settings.seeds)
        for family in settings.families
        for budget in settings.budgets
    ]
    pre_cfg = settings.pretrain_config()
    pre_steps = pre_cfg.epochs * math.ceil(len(split.train) / pre_cfg.batch_size)
    total = len(settings.families) * pre_steps * WORK_WEIGHT["pretrain"] + sum(
        settings.steps_for(n_labels[b]) * WORK_WEIGHT[w] for _, _, b in plan for w in WAYS
    )
    progress = _Progress(total, on_event)
    progress.cells_total = len(plan) * len(WAYS)
    result = StudyResult(settings, planned_cells=progress.cells_total, out_dir=out)
    result.info = {
        "data_source": data.source,
        "train_images": len(split.train),
        "val_images_scored": min(settings.val_size, len(split.val)),
        "test_images": len(data.test_images),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "evenodd_studio": engine.__version__,
    }
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        write_progress(out, result)

    def finish(status: str) -> StudyResult:
        result.status = status
        result.seconds = progress.clock.elapsed
        if out is not None:
            write_outputs(out, result)
        return result

    encoders = {}
    for family in settings.families:
        on_event(Message(f"pretraining the {family} autoencoder ({pre_cfg.epochs} epochs)"))
        sink = progress.sink(WORK_WEIGHT["pretrain"], passthrough=True)
        pre = pretrain(
            data, settings.arch(family), pre_cfg, sink, should_stop, split=split, n_show=0
        )
        done = pre.fit.finished
        result.pretraining[family] = {
            "status": done.status,
            "epochs_run": done.epochs_run,
            "steps": done.steps,
            "val_mse": pre.val_mse,
            "seconds": done.seconds,
        }
        progress.advance(pre_steps * WORK_WEIGHT["pretrain"])
        if done.status in ("stopped", "diverged"):
            return finish("stopped" if done.status == "stopped" else "failed")
        encoders[family] = pre.model.encoder

    val_indices = _validation_subset(split, settings.val_size)
    for seed, family, budget in plan:
        labelled = label_budget(data.train_labels, split.train, budget, seed)  # once per 3 ways
        steps = settings.steps_for(len(labelled))
        cfg = settings.train_config(seed, steps)
        for way in WAYS:
            if should_stop():
                return finish("stopped")
            run = train_cell(
                data,
                settings.arch(family),
                cfg,
                labelled,
                None if way == "scratch" else encoders[family],
                way == "frozen",
                val_indices,
                settings.val_every,
                progress.sink(WORK_WEIGHT[way]),
                should_stop,
            )
            if run.status == "stopped":
                return finish("stopped")
            cell = Cell(
                family=family,
                budget=budget_key(budget),
                n_labels=len(labelled),
                seed=seed,
                way=way,
                test_accuracy=run.test_accuracy,
                val_accuracy=run.val_accuracy,
                steps=run.steps,
                planned_steps=steps,
                steps_to_target=steps_to_target(run.curve, settings.target),
                status=run.status,
                best_round=run.best_round,
                seconds=run.seconds,
                labels_sha256=run.labels_sha256,
                curve=run.curve,
            )
            _record(result, cell, progress, steps * WORK_WEIGHT[way], on_event, out)
    return finish("completed")


def _record(
    result: StudyResult,
    cell: Cell,
    progress: _Progress,
    units: float,
    on_event: EventSink,
    out: Path | None,
) -> None:
    result.cells.append(cell)
    result.seconds = progress.clock.elapsed
    progress.cells_done += 1
    if out is not None:
        write_progress(out, result)
    progress.advance(units)
    on_event(
        CellDone(
            cell.family,
            cell.budget,
            cell.way,
            cell.seed,
            cell.test_accuracy,
            cell.steps_to_target,
            extra=cell.to_dict(),
        )
    )
    on_event(
        Message(
            f"cell {progress.cells_done}/{progress.cells_total}: {cell.family} "
            f"{cell.budget} labels seed {cell.seed} {cell.way}: test accuracy "
            f"{_pct(cell.test_accuracy)} after {cell.steps} steps ({cell.seconds:.1f} s)"
        )
    )


# ------------------------------------------------------------------------------------ CLI


def _families(text: str) -> tuple[str, ...]:
    families = tuple(part.strip().lower() for part in text.split(",") if part.strip())
    bad = [f for f in families if f not in ARCHS]
    if not families or bad:
        raise argparse.ArgumentTypeError(
            f"encoder families must be a comma list of {', '.join(ARCHS)}, not {text!r}"
        )
    return families


def _accuracy(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"{text} must be above 0 and at most 1")
    return value


def add_compare_parser(commands: Any, add_common: Callable[..., None]) -> None:
    """Register `evenodd compare` on the CLI's subparsers (called by engine.cli)."""
    from engine.cli import int_at_least

    d = StudySettings()
    p = commands.add_parser(
        "compare",
        help="the pretraining study: scratch vs frozen vs fine-tuned encoder",
        description="Train the even/odd classifier from scratch, on the frozen pretrained "
        "encoder and fine-tuning it, for several label budgets, seeds and encoder families; "
        "write a table (CSV, JSON), plots and an HTML report to --out.",
    )
    add_common(p)
    p.add_argument("--out", type=Path, required=True, help="folder for the study's files")
    p.add_argument("--labels", default="100,300,1000,3000,all", help="label budgets")
    p.add_argument("--seeds", type=int_at_least(1), default=d.seeds, help="seeds per cell")
    p.add_argument("--arch", type=_families, default=d.families, help="e.g. mlp,conv")
    p.add_argument("--steps", type=int_at_least(1), default=d.min_steps,
                   help="optimiser steps per cell for small budgets")  # fmt: skip
    p.add_argument("--max-steps", type=int_at_least(1), default=None,
                   help=f"steps for the largest budgets (default {d.max_steps}, "
                   "at least --steps)")  # fmt: skip
    p.add_argument("--val-every", type=int_at_least(1), default=d.val_every,
                   help="steps between validations")  # fmt: skip
    p.add_argument("--val-size", type=int_at_least(1), default=d.val_size)
    p.add_argument("--target", type=_accuracy, default=d.target,
                   help="validation accuracy that counts as converged")  # fmt: skip
    p.add_argument("--pretrain-epochs", type=int_at_least(1), default=d.pretrain_epochs)
    p.add_argument(
        "--patience",
        type=int_at_least(0),
        default=d.patience,
        help="validation rounds without improvement before a cell stops early; 0 = never",
    )
    p.add_argument("--json", action="store_true", help="print the table as JSON on stdout")
    p.set_defaults(handler=cmd_compare)


def settings_from_args(args: argparse.Namespace) -> StudySettings:
    from engine.data import budgets_from_text

    d = StudySettings()
    max_steps = args.max_steps if args.max_steps is not None else max(d.max_steps, args.steps)
    return StudySettings(
        budgets=tuple(budgets_from_text(args.labels)),
        seeds=args.seeds,
        families=tuple(args.arch),
        min_steps=args.steps,
        max_steps=max_steps,
        val_every=args.val_every,
        val_size=args.val_size,
        target=args.target,
        pretrain_epochs=args.pretrain_epochs,
        patience=args.patience,
        device=args.device,
    ).validate()


def table_text(summary: dict) -> str:
    """The table for a terminal: mean ± std (%) per way, gains with their intervals."""
    lines = [
        f"{'family':<7}{'labels':>7}  {'scratch':>14}{'frozen':>14}{'finetune':>14}"
        f"  {'frozen-scratch':>26}  {'finetune-scratch':>26}"
    ]
    for family, per_budget in summary["table"].items():
        for budget, row in per_budget.items():
            gains = summary["gains"].get(family, {}).get(budget, {})
            ways = "".join(f"{fmt_mean_std(row[w]) if w in row else '':>14}" for w in WAYS)
            lines.append(
                f"{family:<7}{budget:>7}  {ways}  {fmt_gain(gains.get('frozen')):>26}"
                f"  {fmt_gain(gains.get('finetune')):>26}"
            )
    return "\n".join(lines)


def cmd_compare(args: argparse.Namespace, report: EventSink, stop: Any) -> int:
    """`evenodd compare`: run the study; exit 0 when complete, 130 when stopped.

    With --json, stdout gets one JSON object (also saved as table.json):
    {"status": "completed"|"stopped", "cells_done": int, "cells_planned": int,
     "seconds": float, "target": float,
     "table": {family: {budget: {way: {"mean": float, "std": float|null,
               "accuracies": [float per seed], "seeds": [int], "n_labels": int,
               "steps": [int], "steps_to_target": [int|null], "reached": int,
               "mean_steps_to_target": float|null}}}},
     "gains": {family: {budget: {"frozen"|"finetune": {"mean", "std", "low", "high",
               "diffs": [float per seed], "seeds": [int], "clear": bool|null}}}},
     "sentences": [str], "settings": {...}}
    with family in "mlp"/"conv", budget "100", ..., "all", way "scratch"/"frozen"/"finetune";
    accuracies are fractions (0.93 = 93%); std is null with a single seed.
    """
    from engine.data import load_mnist

    settings = settings_from_args(args)
    data = load_mnist(args.data_dir, report)
    result = run_study(data, settings, report, stop.is_set, out_dir=args.out)
    if args.json:
        print(json.dumps(table_json(result)), flush=True)
    else:
        summary = result.summary()
        print(table_text(summary), flush=True)
        print("", flush=True)
        for sentence in sentences(summary):
            print(sentence, flush=True)
        print(f"\n{result.status}: {len(result.cells)}/{result.planned_cells} cells in "
              f"{result.seconds:.0f} s; report: {args.out / REPORT_FILE}", flush=True)  # fmt: skip
    return 130 if result.status == "stopped" else (1 if result.status == "failed" else 0)
