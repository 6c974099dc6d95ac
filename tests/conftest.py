"""Shared test set-up: headless Qt, isolated settings, no leaked threads, tiny MNIST.

QT_QPA_PLATFORM must be set before anything imports Qt, which is why it is the first thing
here. `tiny_mnist_dir` is a plain (non-GUI) fixture any test may use.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("MPLBACKEND", "Agg")

from pathlib import Path

import numpy as np
import pytest

TINY_TRAIN, TINY_TEST = 600, 200


def _templates(seed: int = 7) -> np.ndarray:
    """Ten clearly different 28x28 patterns (bars and blocks), one per digit."""
    rng = np.random.default_rng(seed)
    templates = np.zeros((10, 28, 28), dtype=np.float32)
    for digit in range(10):
        for _ in range(4):
            top, left = rng.integers(5, 17, size=2)
            h, w = (
                (2, int(rng.integers(6, 12)))
                if rng.random() < 0.5
                else (int(rng.integers(6, 12)), 2)
            )
            if rng.random() < 0.3:
                h, w = int(rng.integers(3, 6)), int(rng.integers(3, 6))
            templates[digit, top : top + h, left : left + w] = 1.0
    return templates


def make_tiny_digits(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`n` learnable digit-like images (uint8, white on black) and their labels."""
    rng = np.random.default_rng(seed)
    templates = _templates()
    labels = (np.arange(n) % 10).astype(np.uint8)
    rng.shuffle(labels)
    images = np.empty((n, 28, 28), dtype=np.uint8)
    for i, digit in enumerate(labels):
        dy, dx = rng.integers(-2, 3, size=2)
        image = np.roll(templates[digit], (int(dy), int(dx)), axis=(0, 1))
        image = image * rng.uniform(0.7, 1.0) + rng.normal(0.0, 0.06, (28, 28))
        images[i] = np.clip(image * 255, 0, 255).astype(np.uint8)
    return images, labels


def write_tiny_mnist(folder: Path, n_train: int = TINY_TRAIN, n_test: int = TINY_TEST) -> Path:
    from engine.data import FILES
    from engine.idx import write_idx

    folder.mkdir(parents=True, exist_ok=True)
    train_x, train_y = make_tiny_digits(n_train, 0)
    test_x, test_y = make_tiny_digits(n_test, 1)
    arrays = {
        "train_images": train_x,
        "train_labels": train_y,
        "test_images": test_x,
        "test_labels": test_y,
    }
    for key, array in arrays.items():
        write_idx(folder / (FILES[key] + ".gz"), array)
    return folder


@pytest.fixture(scope="session")
def tiny_mnist_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the four MNIST .gz files: 600 training and 200 test images of ten
    synthetic, learnable 'digits'. Shared by the session: do not write into it."""
    return write_tiny_mnist(tmp_path_factory.mktemp("tiny_mnist"))


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own settings file; the user's real settings are never touched."""
    path = tmp_path / "settings" / "EvenOddStudio.ini"
    monkeypatch.setenv("EVENODD_SETTINGS_FILE", str(path))
    return path


@pytest.fixture(autouse=True)
def no_leaked_threads(request: pytest.FixtureRequest):
    """Fail any test that leaves a QThread started through gui.worker running."""
    yield
    import sys

    if "gui.worker" not in sys.modules:
        return
    from gui.worker import running_threads

    alive = running_threads()
    if alive:
        for thread in alive:  # do not poison the next test: stop them, then fail
            thread.quit()
            thread.wait(10_000)
        pytest.fail(f"{request.node.name} left {len(alive)} QThread(s) running")
