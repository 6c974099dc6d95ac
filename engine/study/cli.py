"""`evenodd compare`: the study's command-line parser, settings from arguments, output.

Separate because only engine.cli needs it (add_compare_parser registers the command).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.config import ARCHS
from engine.events import EventSink
from engine.study.report import fmt_gain, fmt_mean_std, table_json
from engine.study.run import run_study
from engine.study.settings import REPORT_FILE, WAYS, StudySettings, budget_key
from engine.study.stats import sentences, summarize

# ------------------------------------------------------------------------------------ CLI


def _families(text: str) -> tuple[str, ...]:
    families = tuple(part.strip().lower() for part in text.split(",") if part.strip())
    bad = [f for f in families if f not in ARCHS]
    if not families or bad:
        raise argparse.ArgumentTypeError(
            f"encoder families must be a comma list of {', '.join(ARCHS)}, not {text!r}"
        )
    return families


def add_compare_parser(commands: Any, add_common: Callable[..., None]) -> None:
    """Register `evenodd compare` on the CLI's subparsers (called by engine.cli)."""
    from engine.options import TRAIN_OPTIONS, int_at_least, number_between

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
    p.add_argument("--labels", default=",".join(budget_key(b) for b in d.budgets),
                   help="label budgets")  # fmt: skip
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
    p.add_argument("--target", type=number_between(0, 1, high_included=True), default=d.target,
                   help="validation accuracy that counts as converged")  # fmt: skip
    p.add_argument("--lr", type=TRAIN_OPTIONS["lr"].parse, default=d.lr,
                   help="peak learning rate of every cell (all ways alike)")  # fmt: skip
    p.add_argument("--pretrain-epochs", type=int_at_least(1), default=d.pretrain_epochs)
    p.add_argument(
        "--patience",
        type=int_at_least(0),
        default=d.patience,
        help="validation rounds without improvement before a cell stops early; 0 = never",
    )
    p.add_argument(
        "--workers",
        type=int_at_least(0),
        default=d.workers,
        help="cells trained side by side, one process each; 0 = one per CPU core, "
        "1 = one after the other in this process",
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
        lr=args.lr,
        pretrain_epochs=args.pretrain_epochs,
        patience=args.patience,
        device=args.device,
        workers=args.workers,
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
        summary = summarize(result.cells, result.settings)
        print(table_text(summary), flush=True)
        print("", flush=True)
        for sentence in sentences(summary):
            print(sentence, flush=True)
        print(f"\n{result.status}: {len(result.cells)}/{result.planned_cells} cells in "
              f"{result.seconds:.0f} s; report: {args.out / REPORT_FILE}", flush=True)  # fmt: skip
    return 130 if result.status == "stopped" else (1 if result.status == "failed" else 0)
