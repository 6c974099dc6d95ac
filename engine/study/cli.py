"""`evenodd compare`: the study's command-line parser, settings from arguments, output.

Separate because only engine.cli.commands needs it (add_compare_parser registers the command).
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
from engine.study.resume import OtherStudyError, saved_study
from engine.study.run import run_study
from engine.study.settings import (
    REPORT_FILE,
    WAYS,
    StudyError,
    StudySettings,
    budget_key,
    semi_budgets_from_text,
)
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
    """Register `evenodd compare` on the CLI's subparsers (called by engine.cli.commands)."""
    from engine.options import (
        LABEL_KINDS,
        PICK_HELP,
        PICKS,
        STUDY_OPTIONS,
        TRAIN_OPTIONS,
        int_at_least,
    )

    o = STUDY_OPTIONS  # bounds and help, as the Compare tab has them

    d = StudySettings()
    p = commands.add_parser(
        "compare",
        help="the study: scratch vs pretrained encoder, with and without unlabelled images",
        description="Train the even/odd classifier from scratch, on the frozen pretrained "
        "encoder and fine-tuning it, and (semi-supervised) from scratch or the pretrained "
        "encoder plus the unlabelled images, for several label budgets, seeds and encoder "
        "families; write a table (CSV, JSON), plots and an HTML report to --out.",
    )
    add_common(p)
    p.add_argument("--out", type=Path, required=True, help="folder for the study's files")
    p.add_argument("--labels", default=",".join(budget_key(b) for b in d.budgets),
                   help="label budgets")  # fmt: skip
    p.add_argument("--seeds", type=o["seeds"].parse, default=d.seeds, help=o["seeds"].help)
    p.add_argument("--arch", type=_families, default=d.families, help="e.g. mlp,conv")
    p.add_argument("--steps", type=o["min_steps"].parse, default=d.min_steps,
                   help=o["min_steps"].help)  # fmt: skip
    p.add_argument("--max-steps", type=o["max_steps"].parse, default=None,
                   help=f"{o['max_steps'].help} (default {d.max_steps}, "
                   "at least --steps)")  # fmt: skip
    p.add_argument("--val-every", type=o["val_every"].parse, default=d.val_every,
                   help=o["val_every"].help)  # fmt: skip
    p.add_argument("--val-size", type=o["val_size"].parse, default=d.val_size,
                   help=o["val_size"].help)  # fmt: skip
    p.add_argument("--target", type=o["target"].parse, default=d.target,
                   help=o["target"].help)  # fmt: skip
    p.add_argument("--lr", type=TRAIN_OPTIONS["lr"].parse, default=d.lr,
                   help="peak learning rate of every cell (all ways alike)")  # fmt: skip
    p.add_argument("--pretrain-epochs", type=o["pretrain_epochs"].parse,
                   default=d.pretrain_epochs, help=o["pretrain_epochs"].help)  # fmt: skip
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
    p.add_argument(
        "--semi-arch",
        type=_families,
        default=d.semi_families,
        help="families the two semi-supervised ways (scratch + unlabelled, pretrained + "
        f"unlabelled) run for (default {','.join(d.semi_families)}); must be among --arch",
    )
    p.add_argument(
        "--semi-labels",
        default=",".join(str(b) for b in d.semi_budgets),
        help="budgets the semi-supervised ways run at (default %(default)s); must be among "
        "--labels and below all; 'none' skips them",
    )
    p.add_argument("--semi-steps", type=o["semi_steps"].parse, default=d.semi_steps,
                   help=o["semi_steps"].help)  # fmt: skip
    p.add_argument(
        "--restart",
        action="store_true",
        help="start over: delete the study already in --out (its files only) instead of "
        "resuming it; without this, a study stopped in --out with the same settings "
        "keeps its finished cells and trains only the missing ones",
    )
    p.add_argument("--pick", choices=PICKS, default=d.pick,
                   help="which images of each budget get labelled: "
                   + "; ".join(f"{name}: {words}" for name, words in PICK_HELP.items())
                   + f" (default {d.pick})")  # fmt: skip
    p.add_argument("--label-kind", choices=LABEL_KINDS, default=d.label_kind,
                   help=f"what those images are labelled with (default {d.label_kind})",
                   )  # fmt: skip
    p.add_argument("--json", action="store_true", help="print the table as JSON on stdout")
    p.set_defaults(handler=cmd_compare)


def settings_from_args(args: argparse.Namespace) -> StudySettings:
    from engine.data.mnist import budgets_from_text

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
        semi_families=tuple(args.semi_arch),
        semi_budgets=semi_budgets_from_text(args.semi_labels),
        semi_steps=args.semi_steps,
        pick=args.pick,
        label_kind=args.label_kind,
    ).validate()


def table_text(summary: dict) -> str:
    """The table for a terminal: mean ± std (%) per way that ran, gains over scratch."""
    ways = [
        w for w in WAYS if any(w in row for b in summary["table"].values() for row in b.values())
    ]
    short = {"scratch_unlabelled": "scratch+unl", "finetune_unlabelled": "finetune+unl"}
    lines = [
        f"{'family':<7}{'labels':>7}  "
        + "".join(f"{short.get(w, w):>15}" for w in ways)
        + f"  {'frozen-scratch':>26}  {'finetune-scratch':>26}"
    ]
    for family, per_budget in summary["table"].items():
        for budget, row in per_budget.items():
            gains = summary["gains"].get(family, {}).get(budget, {})
            cells = "".join(f"{fmt_mean_std(row[w]) if w in row else '':>15}" for w in ways)
            lines.append(
                f"{family:<7}{budget:>7}  {cells}  {fmt_gain(gains.get('frozen')):>26}"
                f"  {fmt_gain(gains.get('finetune')):>26}"
            )
    return "\n".join(lines)


def cmd_compare(args: argparse.Namespace, report: EventSink, stop: Any) -> int:
    """`evenodd compare`: run the study; exit 0 when complete, 130 when stopped.

    A study already in --out with the same settings is resumed (its finished cells kept);
    one with other settings is refused with one line, unless --restart.

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
    from engine.data.mnist import load_mnist

    settings = settings_from_args(args)
    try:  # before loading MNIST: a folder holding another study is refused at once
        saved_study(args.out, settings, restart=False)
    except OtherStudyError as exc:
        if not args.restart:
            raise StudyError(f"{exc}; use another --out, or --restart to replace it") from None
    data = load_mnist(args.data_dir, report)
    try:
        result = run_study(data, settings, report, stop.is_set, args.out, args.restart)
    except OtherStudyError as exc:  # other data
        raise StudyError(f"{exc}; use another --out, or --restart to replace it") from None
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
