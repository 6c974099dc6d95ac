"""Small, learnable MNIST-like data for the engine tests, written with engine.data.idx.write_idx.

Every digit gets its own fixed synthetic pattern (a few bright bars and blocks), and each
image is its digit's pattern shifted by up to 2 px with noise on top. A small model learns
the digits (and so even/odd) from a few hundred of these in a second, which is what the
training, CLI and pipeline tests need; nothing here is meant to look like handwriting.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from engine.data.idx import write_idx
from engine.data.mnist import FILES, Mnist


def digit_templates(seed: int = 1234) -> np.ndarray:
    """Ten distinct 28x28 float patterns in [0, 1], ink inside the central 20x20 box."""
    rng = np.random.default_rng(seed)
    templates = np.zeros((10, 28, 28), dtype=np.float32)
    for digit in range(10):
        for _ in range(4):
            top, left = rng.integers(4, 18, size=2)
            if rng.random() < 0.5:  # a bar, horizontal or vertical
                length = int(rng.integers(6, 14))  # clipped at the margin below
                if rng.random() < 0.5:
                    templates[digit, top : top + 2, left : left + length] = 1.0
                else:
                    templates[digit, top : top + length, left : left + 2] = 1.0
            else:  # a block
                h, w = rng.integers(3, 7, size=2)
                templates[digit, top : top + h, left : left + w] = 1.0
        templates[digit, :4] = templates[digit, 24:] = 0  # keep a 4 px margin
        templates[digit, :, :4] = templates[digit, :, 24:] = 0
    return templates


def make_digits(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`n` images (uint8, n x 28 x 28, white on black) and their digit labels (uint8).

    Labels cycle through 0-9 in a shuffled order, so every digit has n // 10 or one more.
    """
    rng = np.random.default_rng(seed)
    templates = digit_templates()
    labels = (np.arange(n) % 10).astype(np.uint8)
    rng.shuffle(labels)
    images = np.empty((n, 28, 28), dtype=np.uint8)
    for i, digit in enumerate(labels):
        dy, dx = rng.integers(-2, 3, size=2)
        shifted = np.roll(templates[digit], (int(dy), int(dx)), axis=(0, 1))
        noisy = shifted * rng.uniform(0.7, 1.0) + rng.normal(0.0, 0.08, (28, 28))
        images[i] = np.clip(noisy * 255, 0, 255).astype(np.uint8)
    return images, labels


def small_mnist(n_train: int = 600, n_test: int = 200, seed: int = 0) -> Mnist:
    """The same data as write_small_mnist, in memory."""
    train_x, train_y = make_digits(n_train, seed)
    test_x, test_y = make_digits(n_test, seed + 1)
    return Mnist(
        torch.from_numpy(train_x),
        torch.from_numpy(train_y),
        torch.from_numpy(test_x),
        torch.from_numpy(test_y),
        source="memory",
    )


def write_small_mnist(
    folder: str | Path,
    n_train: int = 600,
    n_test: int = 200,
    *,
    gz: bool = True,
    layout: str = "flat",
    seed: int = 0,
) -> Path:
    """Write the four IDX files into `folder` ("flat") or `folder`/MNIST/raw ("raw").

    Returns `folder` (the folder to hand to read_folder / --data-dir).
    """
    folder = Path(folder)
    target = folder / "MNIST" / "raw" if layout == "raw" else folder
    if layout not in ("flat", "raw"):
        raise ValueError(f"layout must be 'flat' or 'raw', not {layout!r}")
    target.mkdir(parents=True, exist_ok=True)
    train_x, train_y = make_digits(n_train, seed)
    test_x, test_y = make_digits(n_test, seed + 1)
    suffix = ".gz" if gz else ""
    arrays = {
        "train_images": train_x,
        "train_labels": train_y,
        "test_images": test_x,
        "test_labels": test_y,
    }
    for key, array in arrays.items():
        write_idx(target / (FILES[key] + suffix), array)
    return folder


def single_torch_thread():
    """Generator for a fixture: torch on one thread while the fixture lives.

    The tests train tiny models, where a second thread gains little; on a busy machine
    (other jobs on both cores) OpenMP's waiting threads made the same steps ~20x slower.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
