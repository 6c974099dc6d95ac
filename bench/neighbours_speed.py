"""How long the neighbour graph of the pool takes (`engine.learning.graph.neighbours`), in
bfloat16 and float32, against multiplying the full square, timed in the same run.

Similarity is symmetric, so the engine multiplies each chunk of rows only by the rows from
its own onwards; the reference here multiplies every chunk by all rows, as a plain top-k
would. Both find each deskewed image's 10 nearest others by cosine; the script also
reports how many rows got the same neighbours (in bfloat16, products round to 8 bits, so
near-ties are broken differently; the similarities are the same).

    python bench/neighbours_speed.py ../shared/mnist
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
from torch.nn import functional as F

from engine.data.deskew import deskew_uint8
from engine.data.mnist import read_folder, split_train_val
from engine.learning import graph


def full_square(features: torch.Tensor, low: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Every chunk of rows against all rows, each row's top k (the reference)."""
    unit = F.normalize(features.reshape(len(features), -1).float(), dim=1)
    unit = unit.to(torch.bfloat16) if low else unit
    n, k = len(unit), graph.NEIGHBOURS
    index, similarity = torch.empty(n, k, dtype=torch.long), torch.empty(n, k)
    for start in range(0, n, graph.CHUNK):
        block = (unit[start : start + graph.CHUNK] @ unit.T).float()
        rows = torch.arange(len(block))
        block[rows, rows + start] = -2.0
        similarity[start : start + len(block)], index[start : start + len(block)] = block.topk(
            k, dim=1
        )
    return index, similarity


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir")
    args = parser.parse_args()
    data = read_folder(args.data_dir)
    pool = split_train_val(len(data.train_images)).train
    upright = torch.cat([deskew_uint8(data.train_images[rows]) for rows in pool.split(4096)])
    print(f"{len(upright):,} images, {torch.get_num_threads()} threads")
    for low in (True, False):
        graph.has_fast_bfloat16 = lambda device, low=low: low  # this script's choice
        start = time.perf_counter()
        reference = full_square(upright, low)
        square_seconds = time.perf_counter() - start
        start = time.perf_counter()
        found = graph.neighbours(upright)
        seconds = time.perf_counter() - start
        assert found is not None
        same = (found[0].sort(1).values == reference[0].sort(1).values).all(1).float().mean()
        print(
            f"{'bfloat16' if low else 'float32 '}: {seconds:.1f} s "
            f"(full square {square_seconds:.1f} s); "
            f"rows with the same neighbours {100 * float(same):.1f} %, "
            f"largest similarity difference {float((found[1] - reference[1]).abs().max()):.1e}"
        )


if __name__ == "__main__":
    main()
