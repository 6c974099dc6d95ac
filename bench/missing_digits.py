"""What the stand-ins for digits nobody labelled are worth: random draws of N labels from
the pool, and how many of the other pool images the neighbour graph's first guesses
(`engine.learning.graph.guess`) give the right parity, with and without a group of
unlabelled images standing in for each missing digit. No classifier is trained; MNIST's
labels are read for the drawn images only, and for the rest only to score.

    python bench/missing_digits.py ../shared/mnist --labels 20 --seeds 0-59

`--stand-ins N` sets how many images of a group stand in for a missing digit (default:
the app's, `engine.learning.graph.STAND_INS`).

Prints one line per draw (the digits it misses, then first guesses right without and with
stand-ins) and the mean and worst of each.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from engine.data.labels import reveal
from engine.data.mnist import read_folder, split_train_val
from engine.learning import choose, graph


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir")
    parser.add_argument("--labels", type=int, default=20)
    parser.add_argument("--seeds", default="0-59")
    parser.add_argument("--stand-ins", type=int, default=graph.STAND_INS)
    args = parser.parse_args()
    graph.STAND_INS = args.stand_ins
    low, _, high = args.seeds.partition("-")
    seeds = range(int(low), int(high or low) + 1)
    data = read_folder(args.data_dir)
    pool = split_train_val(len(data.train_images)).train
    grouped_from = graph.GROUPS_FROM
    rows: list[tuple[float, float]] = []
    for seed in seeds:
        chosen = choose.random_picks(pool, args.labels, seed)
        labels = reveal(data.train_labels, chosen)
        rest = pool[~torch.isin(pool, chosen)]
        truth = data.train_labels[rest].long() % 2
        right = []
        for groups_from in (10**12, grouped_from):  # stand-ins off, then on
            graph.GROUPS_FROM = groups_from
            found = graph.guess(data.train_images, labels, rest)
            assert found is not None
            right.append(100 * float(((found.p_odd > 0.5).long() == truth).float().mean()))
        graph.GROUPS_FROM = grouped_from
        rows.append((right[0], right[1]))
        missing = ",".join(str(d) for d in found.missing) or "-"
        stood = ",".join(str(d) for d in found.stood_in) or "-"
        print(
            f"seed {seed}: missing {missing} (stood in: {stood}): "
            f"{right[0]:.2f} % -> {right[1]:.2f} %",
            flush=True,
        )
    for name, column in (("without stand-ins", 0), ("with stand-ins", 1)):
        values = [row[column] for row in rows]
        print(f"{name}: mean {statistics.mean(values):.2f} %, worst {min(values):.2f} %")


if __name__ == "__main__":
    main()
