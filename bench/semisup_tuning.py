"""Tune semi-supervised fine-tuning on label seeds and images of our own, not the test set.

Trains the app's classifier with `engine.learning.training.finetune` in its semi-supervised mode
(or supervised, `--supervised`) on a class-balanced budget drawn with each `--seeds`
seed, and scores it on the 5,000 validation images, which no training decision reads.
Prints one line per seed with accuracy, seconds and the per-digit accuracy, so cluster
mistakes (a whole digit given the wrong parity) show. The defaults were chosen with this
on seeds 10 and 11 (docs/measurements.md); final figures use seeds 0-2 and the test set
(`evenodd run --labels N`, `evenodd compare`).

    python bench/semisup_tuning.py ../shared/mnist --labels 100 --seeds 10,11 --threshold 0.8
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.config import DEFAULT_ARCH, SemiSupConfig
from engine.data.mnist import label_budget, parity, predicted_odd, read_folder
from engine.jobs.workflows import (
    SEMI_SUPERVISED,
    SUPERVISED,
    FinetuneJob,
    budget_schedule,
    validation_split,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--labels", type=int, default=100)
    parser.add_argument("--seeds", default="10,11")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--threshold", type=float, default=SemiSupConfig.threshold)
    parser.add_argument("--unlabelled-batch", type=int, default=SemiSupConfig.unlabelled_batch)
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--encoder", type=Path, default=None, help="an encoder checkpoint")
    parser.add_argument("--supervised", action="store_true")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args()

    import torch

    from engine.learning.training import finetune, predict_proba
    from engine.store.checkpoint import load_checkpoint

    if args.threads:
        torch.set_num_threads(args.threads)
    data = read_folder(args.data_dir)
    split = validation_split(data)
    encoder = load_checkpoint(args.encoder).encoder if args.encoder else None
    semisup = SemiSupConfig(
        unlabelled_batch=args.unlabelled_batch, threshold=args.threshold
    ).validate()
    mode = SUPERVISED if args.supervised else SEMI_SUPERVISED
    digits = data.train_labels[split.val].long()
    truth = parity(digits)
    for seed in (int(s) for s in args.seeds.split(",")):
        job = FinetuneJob()
        train = dataclasses.replace(job.train, seed=seed)
        if args.lr:
            train = dataclasses.replace(train, lr=args.lr)
        labelled = label_budget(data.train_labels, split.train, args.labels, seed)
        cfg, round_steps = budget_schedule(train, len(labelled), mode, args.steps)
        unlabelled = None
        if mode == SEMI_SUPERVISED:
            unlabelled = split.train[~torch.isin(split.train, labelled)]
        started = time.perf_counter()
        result = finetune(
            data, DEFAULT_ARCH, cfg, labelled, encoder, split=split,
            round_steps=round_steps, unlabelled=unlabelled, semisup=semisup,
        )  # fmt: skip
        seconds = time.perf_counter() - started
        odd = predicted_odd(predict_proba(result.model, data.train_images[split.val])).float()
        right = odd == truth
        per_digit = [f"{100 * float(right[digits == d].float().mean()):.0f}" for d in range(10)]
        print(
            f"labels {args.labels} seed {seed} {mode} steps {cfg.max_steps} "
            f"threshold {semisup.threshold}: validation {100 * float(right.float().mean()):.2f} % "
            f"in {seconds:.0f} s; per digit {' '.join(per_digit)}",
            flush=True,
        )


if __name__ == "__main__":
    main()
