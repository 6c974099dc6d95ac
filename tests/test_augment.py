"""Batch augmentation: same shape and range, seeded, and the fast 3x3 filter is exact."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from engine.data.augment import _max3x3, augment_batch


def test_max3x3_equals_max_pool2d_including_edges() -> None:
    x = torch.randn(4, 1, 28, 28)  # negative values too, so the edge padding matters
    assert torch.equal(_max3x3(x), F.max_pool2d(x, 3, stride=1, padding=1))
    assert torch.equal(-_max3x3(-x), -F.max_pool2d(-x, 3, stride=1, padding=1))


def test_augment_keeps_shape_and_range_and_changes_images() -> None:
    x = torch.zeros(16, 1, 28, 28)
    x[:, :, 8:20, 12:16] = 1.0
    out = augment_batch(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    assert not torch.allclose(out, x)


def test_augment_is_reproducible_from_the_generator_seed() -> None:
    x = torch.rand(8, 1, 28, 28)
    first = augment_batch(x, torch.Generator().manual_seed(3))
    again = augment_batch(x, torch.Generator().manual_seed(3))
    other = augment_batch(x, torch.Generator().manual_seed(4))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
