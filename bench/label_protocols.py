"""The label-protocol table: which images get labelled (suggested / random / balanced), what
the annotator says (digits / parity only), at several label budgets and seeds.

Every cell is the app's default fine-tuning (`engine.jobs.workflows.finetune_and_save`:
the pretrained encoder, semi-supervised, the fixed schedule of `engine.options.semi_steps`)
on one shared pretrained encoder (by default the shipped one, which `evenodd run --seed 0`
made; pretraining reads no label), scored on the MNIST test set. MNIST's
labels are revealed for the chosen images only (`engine.data.labels.reveal`); "balanced"
reads every label to choose, as the literature's benchmark protocol does.

    python bench/label_protocols.py ../shared/mnist --out runs/protocols \
        --picks suggested,random,balanced --budgets 10,20,100 --kinds digit,parity --seeds 0-4

Cells are appended to OUT/cells.jsonl as they finish; running again skips those done.
`--table` prints the table (mean, worst, steps, seconds) from what is there. `--steps N`
trains N steps instead of the app's schedule, for tuning: each cell also records its
validation accuracy, the figure to choose by; the table keeps each step count apart.
`--class-weight W` sets the weight of the class head (0: none; default: the app's), also
kept apart in the table.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.config import SemiSupConfig
from engine.options import semi_steps
from engine.store.resources import default_model_path


def seeds_from_text(text: str) -> list[int]:
    if "-" in text:
        low, high = text.split("-")
        return list(range(int(low), int(high) + 1))
    return [int(part) for part in text.split(",")]


_data = None  # a worker's MNIST (`_worker_init`); `worker_data()` from other bench scripts


def worker_data():
    """The MNIST this worker process read (engine.data.mnist.Mnist)."""
    return _data


def _worker_init(folder: str) -> None:
    import torch

    from engine.data.mnist import read_folder

    torch.set_num_threads(1)
    global _data
    _data = read_folder(folder)


def run_cell(cell: tuple[str, int, str, int, str, int | None, float]) -> dict:
    """One fine-tuning: (pick, budget, kind, seed, encoder file, steps, class weight) -> its
    scores; steps None: the app's schedule."""
    import torch

    from engine.config import DEFAULT_FINETUNE
    from engine.jobs.workflows import EncoderSource, FinetuneJob, evaluate_model, finetune_and_save
    from engine.store.checkpoint import load_checkpoint

    pick, budget, kind, seed, encoder_file, steps, class_weight = cell
    encoder = EncoderSource.from_checkpoint(load_checkpoint(encoder_file))
    job = FinetuneJob(
        train=replace(DEFAULT_FINETUNE, seed=seed),
        labels=budget,
        pick=pick,
        label_kind=kind,
        encoder=encoder,
        steps=steps,
        semisup=SemiSupConfig(class_weight=class_weight),
    )
    start = time.perf_counter()
    trained = finetune_and_save(_data, job)
    seconds = time.perf_counter() - start
    evaluation = evaluate_model(trained.model, _data)
    chosen = torch.tensor(trained.checkpoint.extra["labelled_indices"])
    digits = sorted(_data.train_labels[chosen].tolist())  # for the report only
    return {
        "pick": pick,
        "budget": budget,
        "kind": kind,
        "seed": seed,
        "test_accuracy": evaluation.accuracy,
        "val_accuracy": trained.checkpoint.metrics["val_accuracy"],  # for tuning: never test
        "seconds": round(seconds, 1),
        "steps": trained.checkpoint.train_config["max_steps"],
        "class_weight": class_weight,
        "digits_covered": len(set(digits)),
        "digits": digits,
    }


def read_rows(log: Path) -> list[dict]:
    """The rows a benchmark appended to `log` (JSON lines) so far; none if it is missing."""
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def run_in_pool(
    work: Callable[[Any], dict],
    tasks: list,
    data_dir: str,
    workers: int,
    log: Path,
    rows: list[dict],
    describe: Callable[[dict], str],
) -> None:
    """`work(task)` for every task in `workers` spawned processes, each holding the MNIST of
    `data_dir` (`worker_data()`); each row is appended to `log` and `rows` as it comes, and
    `describe(row)` printed, so a stopped benchmark keeps what it finished."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers, _worker_init, (data_dir,)) as pool:
        for row in pool.imap_unordered(work, tasks):
            with log.open("a") as handle:
                handle.write(json.dumps(row) + "\n")
            rows.append(row)
            print(describe(row), flush=True)


def table(rows: list[dict]) -> str:
    import statistics

    lines = [
        "| pick | labels | kind | class head | mean | worst | seeds | digits covered (min) | "
        "steps | s/run |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        key = (row["pick"], row["budget"], row["kind"], row["class_weight"], row["steps"])
        groups.setdefault(key, []).append(row)
    for (pick, budget, kind, head, steps), cells in sorted(
        groups.items(), key=lambda g: (g[0][1], g[0])
    ):
        accuracy = [100 * c["test_accuracy"] for c in cells]
        lines.append(
            f"| {pick} | {budget} | {kind} | {head:g} | {statistics.mean(accuracy):.2f} % | "
            f"{min(accuracy):.2f} % | {','.join(str(c['seed']) for c in cells)} | "
            f"{min(c['digits_covered'] for c in cells)} | {steps} | "
            f"{statistics.mean(c['seconds'] for c in cells):.0f} |"
        )
    return "\n".join(lines)


def describe(row: dict) -> str:
    return (
        f"{row['pick']:>9} {row['budget']:>4} {row['kind']:>6} class head "
        f"{row['class_weight']:g} seed {row['seed']}: "
        f"{100 * row['test_accuracy']:.2f} % "
        f"(validation {100 * row['val_accuracy']:.2f} %, {row['digits_covered']} digits, "
        f"{row['seconds']:.0f} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir")
    parser.add_argument("--out", required=True)
    parser.add_argument("--picks", default="suggested,random,balanced")
    parser.add_argument("--budgets", default="10,20,100")
    parser.add_argument("--kinds", default="digit,parity")
    parser.add_argument("--seeds", default="0-4")
    parser.add_argument(
        "--plan",
        help="groups PICKS:BUDGETS:KINDS separated by ';', run in that order (instead of "
        "--picks/--budgets/--kinds), e.g. 'suggested:20,100:digit;random:20:digit'",
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--encoder",
        default=str(default_model_path("encoder")),
        help="the pretrained encoder every cell starts from (default: the shipped one, made by "
        "`evenodd run --seed 0`; pretraining reads no label)",
    )
    parser.add_argument(
        "--steps", type=int, help="fine-tuning steps (default: the app's schedule); for tuning"
    )
    parser.add_argument(
        "--class-weight",
        type=float,
        default=SemiSupConfig().class_weight,
        help="the class head's weight (0: none; default: the app's)",
    )
    parser.add_argument("--table", action="store_true", help="only print the table")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = out / "cells.jsonl"
    rows = read_rows(log)
    if args.table:
        print(table(rows))
        return
    encoder_file = Path(args.encoder)
    done = {(r["pick"], r["budget"], r["kind"], r["seed"], r["steps"], r["class_weight"])
            for r in rows}  # fmt: skip
    groups = args.plan.split(";") if args.plan else [f"{args.picks}:{args.budgets}:{args.kinds}"]
    cells = []
    for group in groups:  # in the order given, so the rows wanted first finish first
        picks, budgets, kinds = group.split(":")
        for pick in picks.split(","):
            for kind in kinds.split(","):
                for budget in budgets.split(","):
                    for seed in seeds_from_text(args.seeds):
                        key = (pick, int(budget), kind, seed)
                        steps = args.steps or semi_steps(int(budget))  # done: ran this many
                        if (*key, steps, args.class_weight) not in done and key not in [
                            c[:4] for c in cells
                        ]:
                            cells.append((*key, str(encoder_file), args.steps, args.class_weight))
    run_in_pool(run_cell, cells, args.data_dir, args.workers, log, rows, describe)
    print(table(rows))


if __name__ == "__main__":
    main()
