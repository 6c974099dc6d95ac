"""The study's files (study.json, cells.csv, tables), its plots and its HTML report.

Separate because writing and reopening results (write_outputs, load_study) does not need
training; the figures come from engine.reports.figures, imported (with matplotlib) only when the
report is written.
"""

from __future__ import annotations

import csv
import html
import io
import json
from collections.abc import Sequence
from pathlib import Path

from engine.files import atomic_write_bytes
from engine.study.settings import (
    CELLS_FILE,
    CONFIDENCE,
    CONVERGENCE_PLOT_FILE,
    PLOT_FILE,
    REPORT_FILE,
    STUDY_FILE,
    TABLE_CSV,
    TABLE_JSON,
    WAYS,
    Cell,
    StudyError,
    StudyResult,
    StudySettings,
    budget_key,
)
from engine.study.stats import pct, sentences, summarize

# --------------------------------------------------------------------------------- files

# Every file a study writes into its folder, by role (write_outputs' result); with the
# pretrained encoders, what a restart deletes (engine.study.resume.study_files).
RESULT_FILES = {
    "study": STUDY_FILE,
    "cells": CELLS_FILE,
    "table_csv": TABLE_CSV,
    "table_json": TABLE_JSON,
    "plot": PLOT_FILE,
    "convergence_plot": CONVERGENCE_PLOT_FILE,
    "report": REPORT_FILE,
}


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
    summary = summarize(result.cells, result.settings)
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
    summary = summarize(result.cells, result.settings)
    _write_text(out / TABLE_CSV, table_csv(summary))
    _write_text(out / TABLE_JSON, json.dumps(table_json(result), indent=1))
    from engine.reports.figures import save_figure
    from engine.study.figures import accuracy_figure, convergence_figure

    plot = save_figure(accuracy_figure(summary, result.settings), out / PLOT_FILE)
    convergence = save_figure(
        convergence_figure(summary, result.settings), out / CONVERGENCE_PLOT_FILE
    )
    _write_text(out / REPORT_FILE, report_html(result, summary, plot, convergence))
    return {role: out / name for role, name in RESULT_FILES.items()}


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
    """Accuracy per way, gains over scratch, and per way the steps and seconds a cell
    took (a semi-supervised step costs more than a supervised one) and steps to target."""
    rows_in = [row for per_budget in summary["table"].values() for row in per_budget.values()]
    ways = [w for w in WAYS if any(w in row for row in rows_in)]
    head = (
        "<tr><th>family</th><th>labels</th>"
        + "".join(f"<th>{w} (%)</th>" for w in ways)
        + "<th>frozen − scratch</th><th>finetune − scratch</th>"
        + "".join(f"<th>{w}: steps, seconds per cell</th>" for w in ways)
        + "".join(f"<th>{w}: steps to target</th>" for w in ways)
        + "</tr>"
    )
    rows = []
    for family, per_budget in summary["table"].items():
        for budget, row in per_budget.items():
            gains = summary["gains"].get(family, {}).get(budget, {})
            cells = [family, budget]
            cells += [fmt_mean_std(row[w]) if w in row else "" for w in ways]
            cells += [fmt_gain(gains.get("frozen")), fmt_gain(gains.get("finetune"))]
            for way in ways:
                info = row.get(way)
                cells.append(
                    ""
                    if info is None
                    else f"{max(info['steps'])}, {info.get('mean_seconds', 0.0):.1f} s"
                )
            for way in ways:
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


def semi_coverage(settings: StudySettings) -> str:
    """Where the semi-supervised ways ran, said plainly, with the option for the rest."""
    families = [f for f in settings.families if f in settings.semi_families]
    budgets = [b for b in settings.budgets if b in settings.semi_budgets]
    if not families or not budgets:
        return (
            "The semi-supervised ways did not run in this study (see --semi-arch, --semi-labels)."
        )
    every = [b for b in settings.budgets if b is not None]
    text = (
        f"The two semi-supervised ways ran for {', '.join(families)} at "
        f"{', '.join(map(str, budgets))} labels ({settings.semi_steps} steps each, the app's "
        "schedule: the labels spread over a graph of similar images are the first targets). "
        "With all labels nothing is unlabelled, so those cells are skipped. Below all labels "
        "every way's classifier deskews its input, as the app's does."
    )
    if families != list(settings.families) or budgets != every:
        text += (
            " The full grid is one option away: --semi-arch "
            f"{','.join(settings.families)} --semi-labels {','.join(map(str, every))}."
        )
    return text


def report_html(result: StudyResult, summary: dict, plot: bytes, convergence: bytes) -> str:
    from engine.reports.report import embed_png, html_page, settings_table

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
        f"target: mean optimiser steps to reach {pct(settings.target)} accuracy on "
        f"{settings.val_size} validation images, checked every {settings.val_every} steps, "
        "over the seeds that reached it (count in brackets).</p>"
    )
    how += f"<p>{html.escape(semi_coverage(settings))}</p>"
    sections = [
        ("Conclusions (computed from the numbers)", f"<ul>{conclusions}</ul>"),
        ("Accuracy vs labels", embed_png(plot, "test accuracy vs number of labels")),
        ("Results", how + summary_table_html(summary)),
        ("Convergence", embed_png(convergence, "steps to the target validation accuracy")),
        ("Run", settings_table(facts)),
        ("Settings", settings_table(settings.to_dict())),
    ]
    return html_page(
        "Study: scratch vs pretrained encoder, with and without the unlabelled images", sections
    )


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
