"""Train one kind of study cell for several seeds and learning rates, and print the scores.

A full study takes 11-13 minutes here; when a question concerns one kind of cell (say conv
from scratch with all labels, the cells that decide the 99.5 % target), this trains just
those cells, exactly as `evenodd compare` trains them (`engine.study.run.train_cell` with
`StudySettings`' config, in the study's worker processes, on the study's split and
validation images), for every learning rate and seed given, side by side.

    python bench/study_cells.py [--data-dir ../shared/mnist] [--family conv]
        [--labels all] [--way scratch] [--seeds 0,1,2] [--lr 3e-3,5e-3,1e-2] [--workers 0]

For seeds 0..n-1 the accuracies are those of the same cells in `evenodd compare --seeds n
--lr LR` (to within a test image or so: the tested seeds, same thread count).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere, like the other benchmarks
    sys.path.insert(0, str(ROOT))

from engine.data.mnist import label_budget, parse_budget, read_folder  # noqa: E402
from engine.learning.training import pretrain  # noqa: E402
from engine.study.pool import CellTask, default_workers, train_cells  # noqa: E402
from engine.study.run import study_split, validation_subset  # noqa: E402
from engine.study.settings import WAYS, StudySettings  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "mnist"


def _numbers(kind: type, text: str) -> list:
    return [kind(part) for part in text.split(",") if part.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--family", choices=("mlp", "conv"), default="conv")
    parser.add_argument("--labels", default="all", help="one label budget, e.g. 100 or all")
    parser.add_argument("--way", choices=WAYS, default="scratch")
    parser.add_argument("--seeds", default="0,1,2", help="comma list of seeds")
    parser.add_argument("--lr", default=str(StudySettings().lr), help="comma list of peak lrs")
    parser.add_argument("--workers", type=int, default=0, help="0 = one per core")
    args = parser.parse_args(argv)

    base = StudySettings()
    data = read_folder(args.data_dir)
    split = study_split(len(data.train_images))
    val_indices = validation_subset(split, base.val_size)
    budget = parse_budget(args.labels)
    arch = base.arch(args.family)
    encoder = None
    if args.way != "scratch":
        print(f"pretraining the {args.family} autoencoder as the study does ...", flush=True)
        encoder = pretrain(data, arch, base.pretrain_config(), split=split, n_show=0).model.encoder

    tasks = []
    for lr in _numbers(float, args.lr):
        settings = replace(base, lr=lr).validate()
        for seed in _numbers(int, args.seeds):
            labelled = label_budget(data.train_labels, split.train, budget, seed)
            cfg = settings.train_config(seed, settings.steps_for(len(labelled)))
            tasks.append(CellTask((lr, seed), arch, cfg, labelled, encoder, args.way == "frozen"))

    results: dict[float, dict[int, tuple[float, float]]] = {}

    def done(task: CellTask, run) -> None:
        lr, seed = task.key
        results.setdefault(lr, {})[seed] = (run.test_accuracy, run.seconds)
        print(f"lr {lr:g} seed {seed}: {100 * run.test_accuracy:.2f} % ({run.seconds:.0f} s)",
              flush=True)  # fmt: skip

    workers = args.workers or default_workers()
    clock = time.perf_counter()
    train_cells(data, val_indices, base.val_every, tasks, workers, lambda *_: None, done,
                lambda: False)  # fmt: skip
    print(f"\n{args.family} {args.labels} labels, {args.way}, {len(tasks)} cells on {workers} "
          f"workers in {time.perf_counter() - clock:.0f} s")  # fmt: skip
    for lr, per_seed in results.items():
        accuracies = [100 * per_seed[s][0] for s in sorted(per_seed)]
        shown = " ".join(f"{a:.2f}" for a in accuracies)
        print(f"lr {lr:<8g} mean {statistics.mean(accuracies):.3f} %   seeds: {shown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
