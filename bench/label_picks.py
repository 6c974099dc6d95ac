"""Which representation chooses the images to label best: TypiClust (k-means into as many
clusters as labels, the most typical image of each) on three label-free representations.

- graph: the spectral codes of the neighbour graph of deskewed images (what the app uses,
  `engine.learning.choose.spectral_codes`);
- autoencoder: the pretrained encoder's codes (`--encoder`, default the shipped one);
- pixels: deskewed pixels, 50 principal components.

Each pick is scored without training a classifier: how many digits it covers, and how
many of the 55,000 pool images the graph's first guesses (`engine.learning.graph`) give
the right parity from the picked images' digit labels. MNIST's labels are read here only
to score. `random` draws are shown for reference.

    python bench/label_picks.py ../shared/mnist --budgets 10,20,100 --seeds 0-4
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch

from engine.data.deskew import deskew_uint8
from engine.data.labels import reveal
from engine.data.mnist import read_folder, split_train_val
from engine.learning import choose, graph
from engine.reports.latent import encode
from engine.store.checkpoint import load_checkpoint
from engine.store.resources import default_model_path


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True).clip(min=1e-12)


def typicality(features: torch.Tensor) -> np.ndarray:
    """Mean cosine similarity of each row to its nearest neighbours (TypiClust's density)."""
    found = graph.neighbours(features)
    assert found is not None
    return found[1].mean(1).numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir")
    parser.add_argument("--encoder", default=str(default_model_path("encoder")))
    parser.add_argument("--budgets", default="10,20,100")
    parser.add_argument("--seeds", default="0-4")
    args = parser.parse_args()
    low, _, high = args.seeds.partition("-")
    seeds = list(range(int(low), int(high or low) + 1))
    data = read_folder(args.data_dir)
    pool = split_train_val(len(data.train_images)).train
    digits = data.train_labels[pool].long()

    start = time.perf_counter()
    spectral, spectral_typical = choose.spectral_codes(data.train_images, pool)
    print(f"graph codes: {time.perf_counter() - start:.1f} s")
    start = time.perf_counter()
    encoder = load_checkpoint(args.encoder).encoder
    codes = unit(encode(encoder, data.train_images[pool]))
    representations = {
        "graph": (spectral, spectral_typical),
        "autoencoder": (codes, typicality(torch.from_numpy(codes))),
    }
    print(f"autoencoder codes: {time.perf_counter() - start:.1f} s")
    start = time.perf_counter()
    upright = torch.cat([deskew_uint8(data.train_images[r]) for r in pool.split(4096)])
    flat = upright.reshape(len(pool), -1).float().numpy()
    flat -= flat.mean(0)
    _, _, components = np.linalg.svd(flat[::11], full_matrices=False)
    pixels = unit(flat @ components[:50].T)
    representations["pixels"] = (pixels, typicality(torch.from_numpy(pixels)))
    print(f"pixel codes: {time.perf_counter() - start:.1f} s")

    def score(at: np.ndarray) -> tuple[int, float]:
        chosen = pool[torch.from_numpy(at)]
        labels = reveal(data.train_labels, chosen)
        rest = pool[~torch.isin(pool, chosen)]
        p_odd = graph.guess(data.train_images, labels, rest).p_odd
        truth = data.train_labels[rest].long() % 2
        right = float(((p_odd > 0.5).long() == truth).float().mean())
        return len(set(digits[torch.from_numpy(at)].tolist())), right

    print("| labels | chosen from | digits covered (min-max) | first guesses right (mean, worst) |")
    print("|---|---|---|---|")
    for budget in (int(b) for b in args.budgets.split(",")):
        rows: dict[str, list[tuple[int, float]]] = {}
        for seed in seeds:
            for name, (features, typical) in representations.items():
                at = choose.typical_picks(features, typical, budget, seed, np.empty(0, np.int64))
                rows.setdefault(name, []).append(score(at))
            at = np.random.default_rng(seed).choice(len(pool), budget, replace=False)
            rows.setdefault("random", []).append(score(at))
        for name, scores in rows.items():
            covered = [c for c, _ in scores]
            right = [100 * r for _, r in scores]
            print(
                f"| {budget} | {name} | {min(covered)}-{max(covered)} | "
                f"{statistics.mean(right):.2f} %, {min(right):.2f} % |",
                flush=True,
            )


if __name__ == "__main__":
    main()
