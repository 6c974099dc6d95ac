"""What "Ask me N more" is worth: label the suggested images, fine-tune, then label the
images that classifier is least sure of and fine-tune again, against spending the same
labels on suggested images from the start.

For each seed, three fine-tunings with the app's defaults (`engine.jobs.workflows.
finetune_and_save`, the shipped encoder, semi-supervised, 3,000 steps), MNIST's labels
revealed for the chosen images only (`engine.data.labels.reveal`), scored on the test set:

- FIRST suggested images;
- those, plus MORE images the first classifier is least sure of
  (`engine.jobs.labelling.images_to_ask`, as the Label tab's "Ask me N more");
- FIRST + MORE suggested images chosen at once.

    python bench/ask_more.py ../shared/mnist --out runs/ask_more --first 20 --more 10 --seeds 0-4

`--first-pick random` starts from FIRST random images instead (what a person labelling
whatever comes has), and compares two ways to ask for MORE: the images the first
classifier is least sure of, and the most typical images of clusters that hold no label
(`engine.learning.choose.suggest` given the labels so far). Validation accuracies are
recorded beside the test ones: the figure to choose a rule by.

Rows are appended to OUT/rows.jsonl as seeds finish; running again skips the seeds done.
`--class-weight W` sets the class head's weight (0: none; default: the app's); keep one
weight per OUT folder.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from label_protocols import (  # this folder, as the script's own
    read_rows,
    run_in_pool,
    seeds_from_text,
    worker_data,
)

from engine.config import SemiSupConfig
from engine.store.resources import default_model_path


def run_seed(task: tuple[int, int, int, str, float, str]) -> dict:
    """One seed: (seed, first, more, encoder file, class weight, first pick) -> the three
    runs' test and validation accuracies."""
    import torch

    from engine.config import DEFAULT_FINETUNE
    from engine.data.labels import reveal
    from engine.jobs.labelling import COVERING, LEAST_SURE, images_to_ask
    from engine.jobs.workflows import EncoderSource, FinetuneJob, evaluate_model, finetune_and_save
    from engine.store.checkpoint import load_checkpoint

    seed, first, more, encoder_file, class_weight, first_pick = task
    semisup = SemiSupConfig(class_weight=class_weight)
    data = worker_data()
    encoder = EncoderSource.from_checkpoint(load_checkpoint(encoder_file))
    train = replace(DEFAULT_FINETUNE, seed=seed)
    row: dict = {"seed": seed, "first": first, "more": more, "class_weight": class_weight,
                 "first_pick": first_pick}  # fmt: skip

    def fine_tune(name: str, job: FinetuneJob) -> torch.nn.Module:
        start = time.perf_counter()
        trained = finetune_and_save(data, replace(job, semisup=semisup))
        row[f"{name}_seconds"] = round(time.perf_counter() - start, 1)
        row[f"{name}_accuracy"] = evaluate_model(trained.model, data).accuracy
        row[f"{name}_val_accuracy"] = trained.checkpoint.metrics["val_accuracy"]
        row[f"{name}_indices"] = trained.checkpoint.extra["labelled_indices"]
        return trained.model

    first_job = FinetuneJob(train=train, labels=first, pick=first_pick, encoder=encoder)
    model = fine_tune("first", first_job)
    known = reveal(data.train_labels, torch.tensor(row["first_indices"]))
    if first_pick == "suggested":
        asked = images_to_ask(data, more, known, classifier=model, seed=seed)
        given = reveal(data.train_labels, torch.cat([known.indices, asked]))
        fine_tune("asked", FinetuneJob(train=train, given=given, encoder=encoder))
        fine_tune("at_once", FinetuneJob(train=train, labels=first + more, encoder=encoder))
        return row
    # the two rules side by side, whichever images_to_ask would take by itself
    for name, rule in (("least_sure", LEAST_SURE), ("covered", COVERING)):
        chosen = images_to_ask(data, more, known, classifier=model, seed=seed, rule=rule)
        given = reveal(data.train_labels, torch.cat([known.indices, chosen]))
        fine_tune(name, FinetuneJob(train=train, given=given, encoder=encoder))
    return row


def table(rows: list[dict]) -> str:
    if not rows:
        return "no rows yet"
    first, more = rows[0]["first"], rows[0]["more"]
    picked = rows[0].get("first_pick", "suggested")
    lines = [
        "| labels | chosen | mean | worst | validation mean | seeds | s/run |",
        "|---|---|---|---|---|---|---|",
    ]
    variants = [("first", first, picked)]
    if picked == "suggested":
        variants.append(("asked", first + more, f"{first} suggested + {more} least sure"))
        variants.append(("at_once", first + more, "suggested, all at once"))
    else:
        variants += [
            ("least_sure", first + more, f"{first} random + {more} least sure"),
            ("covered", first + more, f"{first} random + {more} typical of clusters with no label"),
        ]
    for name, labels, chosen in variants:
        accuracy = [100 * r[f"{name}_accuracy"] for r in rows]
        validation = [100 * r.get(f"{name}_val_accuracy", float("nan")) for r in rows]
        seconds = statistics.mean(r[f"{name}_seconds"] for r in rows)
        lines.append(
            f"| {labels} | {chosen} | {statistics.mean(accuracy):.2f} % | {min(accuracy):.2f} % | "
            f"{statistics.mean(validation):.2f} % | "
            f"{','.join(str(r['seed']) for r in rows)} | {seconds:.0f} |"
        )
    return "\n".join(lines)


def describe(row: dict) -> str:
    first, more = row["first"], row["more"]
    runs = [(f"{first}", "first"), (f"{more} asked", "asked"),
            (f"{first + more} at once", "at_once"), (f"{more} least sure", "least_sure"),
            (f"{more} covering", "covered")]  # fmt: skip
    said = [
        f"{100 * row[f'{name}_accuracy']:.2f} % (validation "
        f"{100 * row[f'{name}_val_accuracy']:.2f} %) with {what}"
        for what, name in runs
        if f"{name}_accuracy" in row
    ]
    return f"seed {row['seed']}: " + ", ".join(said)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir")
    parser.add_argument("--out", required=True)
    parser.add_argument("--first", type=int, default=20)
    parser.add_argument("--more", type=int, default=10)
    parser.add_argument("--seeds", default="0-4")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--encoder", default=str(default_model_path("encoder")))
    parser.add_argument(
        "--class-weight",
        type=float,
        default=SemiSupConfig().class_weight,
        help="the class head's weight (0: none; default: the app's)",
    )
    parser.add_argument(
        "--first-pick",
        default="suggested",
        choices=("suggested", "random"),
        help="how the FIRST images are chosen (random: compare two rules for the MORE)",
    )
    parser.add_argument("--table", action="store_true", help="only print the table")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = out / "rows.jsonl"
    rows = read_rows(log)
    if args.table:
        print(table(rows))
        return
    done = {(r["seed"], r["first"], r["more"]) for r in rows}
    tasks = [(s, args.first, args.more, args.encoder, args.class_weight, args.first_pick)
             for s in seeds_from_text(args.seeds)
             if (s, args.first, args.more) not in done]  # fmt: skip
    run_in_pool(run_seed, tasks, args.data_dir, args.workers, log, rows, describe)
    print(table(rows))


if __name__ == "__main__":
    main()
