"""How well does a model read drawings, compared with how well it reads MNIST?

MNIST's test accuracy says little about the Draw panel, where digits arrive on canvases of
any size, off-centre, thick or thin, dark on light. This benchmark makes a set of such
drawings from MNIST test digits (`engine.data.drawings.simulate_drawings`: random canvas size
and aspect, digit size and place, pen width, blur, polarity, noise), runs them through the
app's own preprocessing (`engine.data.preprocess.to_mnist`) and scores the model on them, beside
its score on the 10,000 MNIST test images and on the very digits the drawings came from
(the paired gap, which is free of the luck of which digits were drawn).

    python bench/drawing_accuracy.py [--model resources/default_model/classifier.pt]
        [--data-dir ../shared/mnist] [--n 5000] [--seed 0] [--json]

Target (issue 4): the drawing-set accuracy within one point of the MNIST test accuracy.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere, like the other benchmarks
    sys.path.insert(0, str(ROOT))

from engine.data.drawings import simulate_drawings  # noqa: E402
from engine.data.mnist import predicted_odd, read_folder  # noqa: E402
from engine.data.preprocess import NothingDrawnError, to_mnist  # noqa: E402
from engine.learning.training import predict_proba  # noqa: E402
from engine.store.checkpoint import load_checkpoint  # noqa: E402
from engine.store.resources import default_model_path  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "mnist"


@dataclass(frozen=True)
class DrawingAccuracy:
    mnist_accuracy: float  # on all MNIST test images
    mnist_n: int
    drawing_accuracy: float  # on the simulated drawings after to_mnist (blank = wrong)
    source_accuracy: float  # on the MNIST digits the drawings were made from
    n: int  # drawings
    blank: int  # drawings that to_mnist refused as "nothing drawn"
    seed: int
    seconds_simulate: float
    seconds_preprocess: float

    @property
    def gap(self) -> float:
        """MNIST test accuracy minus drawing accuracy, in points (positive = drawings worse)."""
        return 100 * (self.mnist_accuracy - self.drawing_accuracy)

    @property
    def paired_gap(self) -> float:
        """The same, against the source digits of the drawings only."""
        return 100 * (self.source_accuracy - self.drawing_accuracy)

    def to_dict(self) -> dict:
        return asdict(self) | {"gap_points": self.gap, "paired_gap_points": self.paired_gap}


def _accuracy(model: torch.nn.Module, images: np.ndarray, digits: np.ndarray) -> float:
    p_odd = predict_proba(model, torch.from_numpy(images)).cpu().numpy()
    return float(np.mean(predicted_odd(p_odd) == (digits % 2 == 1)))


def measure(
    model: torch.nn.Module,
    test_images: np.ndarray,
    test_labels: np.ndarray,
    n: int = 5_000,
    seed: int = 0,
) -> DrawingAccuracy:
    """Score `model` on MNIST test images and on `n` simulated drawings made from them."""
    test_images = np.asarray(test_images, dtype=np.uint8)
    test_labels = np.asarray(test_labels).astype(np.int64)
    started = time.perf_counter()
    # Passing indices as the "labels" tells which digit each drawing was made from.
    drawings, chosen = simulate_drawings(test_images, np.arange(len(test_images)), n, seed)
    simulated = time.perf_counter()
    processed = np.zeros((n, 28, 28), dtype=np.uint8)
    drawn = np.ones(n, dtype=bool)
    for i, drawing in enumerate(drawings):
        try:
            processed[i] = to_mnist(drawing)
        except NothingDrawnError:
            drawn[i] = False
    preprocessed = time.perf_counter()
    digits = test_labels[chosen]
    p_odd = predict_proba(model, torch.from_numpy(processed)).cpu().numpy()
    right = (predicted_odd(p_odd) == (digits % 2 == 1)) & drawn
    return DrawingAccuracy(
        mnist_accuracy=_accuracy(model, test_images, test_labels),
        mnist_n=len(test_images),
        drawing_accuracy=float(right.mean()),
        source_accuracy=_accuracy(model, test_images[chosen], digits),
        n=n,
        blank=int((~drawn).sum()),
        seed=seed,
        seconds_simulate=simulated - started,
        seconds_preprocess=preprocessed - simulated,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=default_model_path("classifier"))
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--n", type=int, default=5_000, help="number of simulated drawings")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    model = load_checkpoint(args.model, expect=("classifier",)).model
    data = read_folder(args.data_dir)
    result = measure(model, data.test_images.numpy(), data.test_labels.numpy(), args.n, args.seed)
    if args.json:
        print(json.dumps(result.to_dict()))
        return 0
    print(f"model: {args.model}")
    print(f"MNIST test accuracy:      {result.mnist_accuracy:.4f}  (n={result.mnist_n})")
    print(
        f"drawing-set accuracy:     {result.drawing_accuracy:.4f}  (n={result.n}, seed "
        f"{result.seed}, {result.blank} refused as blank)"
    )
    print(f"their source digits:      {result.source_accuracy:.4f}")
    print(
        f"gap: {result.gap:+.2f} points vs MNIST test, {result.paired_gap:+.2f} points vs the "
        f"same digits (target: within 1 point)"
    )
    print(
        f"time: simulate {result.seconds_simulate:.1f} s, preprocess "
        f"{result.seconds_preprocess:.1f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
