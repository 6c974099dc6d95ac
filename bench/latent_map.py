"""What one refresh of the latent map costs on real MNIST, and what it scores.

Times, for an encoder (default: the shipped model's), the two kinds of refresh the app
makes: the PCA map sent at each pretraining epoch's end (`engine.reports.latent.epoch_hook`:
encoding the 3000 validation images, PCA, kNN score; the first call also scores raw
pixels) and the t-SNE map computed in the background once the encoder is final, here and
as the app computes it, in a child process (with the time a stale one takes to die when
killed). Prints the kNN digit accuracy on codes and on raw pixels beside them.

    python bench/latent_map.py [--encoder FILE] [--data-dir ../shared/mnist] [--repeats 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere, like the other benchmarks
    sys.path.insert(0, str(ROOT))

from engine.data.mnist import read_folder, split_train_val  # noqa: E402
from engine.reports import latent  # noqa: E402
from engine.reports.projection import TsneProcess  # noqa: E402
from engine.store.checkpoint import load_checkpoint  # noqa: E402
from engine.store.resources import default_model_path  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "mnist"


class _Holder(torch.nn.Module):
    """What the epoch hook is given in training: a model with an `encoder`."""

    def __init__(self, encoder: torch.nn.Module) -> None:
        super().__init__()
        self.encoder = encoder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", type=Path, default=default_model_path("encoder"))
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    data = read_folder(args.data_dir)
    encoder = load_checkpoint(args.encoder).encoder
    shown = latent.map_indices(split_train_val(len(data.train_images)).val)
    images, digits = data.train_images[shown], data.train_labels[shown]
    print(
        f"encoder {args.encoder}, {len(shown)} validation images, {torch.get_num_threads()} threads"
    )

    maps = []
    hook = latent.epoch_hook(images, shown, digits, maps.append)
    model = _Holder(encoder)
    for i in range(args.repeats):
        started = time.perf_counter()
        hook(model, i + 1)
        note = " (with the raw-pixel score, first epoch only)" if i == 0 else ""
        print(f"PCA refresh {i + 1}: {time.perf_counter() - started:.2f} s{note}")
    print(latent.score_text(maps[-1]))
    codes = latent.encode(encoder, images)
    for i in range(args.repeats):
        started = time.perf_counter()
        here = latent.make_map(codes, shown.numpy(), digits.numpy(), "t-SNE")
        print(f"t-SNE {i + 1}: {time.perf_counter() - started:.2f} s")
    # What the app does: the t-SNE in a child process, and a stale one killed.
    for i in range(args.repeats):
        started = time.perf_counter()
        child = TsneProcess(codes)
        while (points := child.result(timeout=0.01)) is None:
            pass
        same = "same points" if np.array_equal(points, here.points) else "OTHER POINTS"
        print(f"t-SNE in a child process {i + 1}: {time.perf_counter() - started:.2f} s ({same})")
    started = time.perf_counter()
    child = TsneProcess(codes)
    while child.result(timeout=0.01) is None and time.perf_counter() - started < 3:
        pass  # started: starting the child, importing scikit-learn, computing
    killed = time.perf_counter()
    child.cancel()
    print(
        f"cancelled after {killed - started:.1f} s: "
        f"the child was gone {time.perf_counter() - killed:.3f} s later"
    )


if __name__ == "__main__":
    main()
