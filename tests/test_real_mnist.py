"""The real MNIST files: reading them, and a brief pretrain + fine-tune well above chance."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch

from engine.config import ArchConfig, TrainConfig
from engine.data.mnist import Split, label_budget, read_folder, split_train_val
from engine.learning.evaluate import evaluate
from engine.learning.training import finetune, pretrain

MNIST_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "mnist"

pytestmark = [
    pytest.mark.mnist,
    pytest.mark.skipif(
        not MNIST_DIR.is_dir(),
        reason=f"real MNIST not found at {MNIST_DIR} (the four IDX files as published)",
    ),
    pytest.mark.usefixtures("one_torch_thread"),
]

# As published (LeCun et al.): images per digit 0-9.
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(scope="module")
def mnist():
    return read_folder(MNIST_DIR)


def test_real_files_as_published(mnist):
    assert mnist.train_images.shape == (60_000, 28, 28)
    assert mnist.test_images.shape == (10_000, 28, 28)
    assert mnist.train_images.dtype == torch.uint8
    assert int(mnist.train_labels[0]) == 5 and int(mnist.test_labels[0]) == 7
    assert torch.bincount(mnist.train_labels.long(), minlength=10).tolist() == TRAIN_COUNTS
    assert torch.bincount(mnist.test_labels.long(), minlength=10).tolist() == TEST_COUNTS
    assert int(mnist.train_images.max()) == 255 and int(mnist.train_images[0, 0, 0]) == 0


def test_budget_on_real_labels(mnist):
    split = split_train_val(len(mnist.train_images))
    chosen = label_budget(mnist.train_labels, split.train, 100, seed=0)
    assert torch.bincount(mnist.train_labels[chosen].long(), minlength=10).tolist() == [10] * 10


def test_brief_pretrain_and_finetune_beat_chance(mnist):
    started = time.perf_counter()
    full = split_train_val(len(mnist.train_images))
    small = Split(train=full.train[:5000], val=full.val[:1000])  # a brief run
    arch = ArchConfig(arch="conv", latent=64, width=16, dropout=0.1)

    pre = pretrain(mnist, arch, TrainConfig(epochs=2, batch_size=64, lr=3e-3), split=small)
    assert pre.fit.finished.status == "completed"
    val = mnist.train_images[small.val].float() / 255
    blank_mse = float((val**2).mean())  # reconstructing every image as black
    assert pre.val_mse < 0.5 * blank_mse, f"MSE {pre.val_mse:.4f} vs blank {blank_mse:.4f}"

    labelled = label_budget(mnist.train_labels, full.train, 1000, seed=0)
    cfg = TrainConfig(epochs=8, batch_size=32, lr=3e-3, patience=8)
    fine = finetune(mnist, arch, cfg, labelled, pre.model.encoder, split=small)
    result = evaluate(fine.model, mnist.test_images, mnist.test_labels)
    seconds = time.perf_counter() - started
    print(f"real MNIST: test accuracy {result.accuracy:.4f} after {seconds:.1f} s")
    assert result.n == 10_000
    assert result.accuracy > 0.85, f"accuracy {result.accuracy:.4f} is not well above chance"
    assert result.confusion.sum(axis=1).tolist() == [4926, 5074]  # true even/odd counts
