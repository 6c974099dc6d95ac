"""Making batches from uint8 images in memory: scaling to floats, endless seeded streams.

Shared by the training loop and semi-supervised fine-tuning, which draws its unlabelled
images from a stream of its own.
"""

from __future__ import annotations

import torch

from engine.data.preprocess import PIXEL_SCALE


def to_float_images(images: torch.Tensor) -> torch.Tensor:
    """uint8 (B, 28, 28) -> float (B, 1, 28, 28) in [0, 1], on the images' device."""
    return images.float().mul_(PIXEL_SCALE).unsqueeze(1)


class BatchStream:
    """Endless seeded stream of indices 0..n-1: reshuffled passes, cut into batches.

    Every index is used equally often (to within one) whatever the relation between n
    and the batch size, which epochs cannot promise when n is smaller than a batch.
    """

    def __init__(self, n: int, seed: int) -> None:
        self._n = n
        self._generator = torch.Generator().manual_seed(seed)
        self._order = torch.empty(0, dtype=torch.long)
        self._pos = 0

    def take(self, count: int) -> torch.Tensor:
        parts = []
        while count > 0:
            if self._pos >= len(self._order):
                self._order = torch.randperm(self._n, generator=self._generator)
                self._pos = 0
            part = self._order[self._pos : self._pos + count]
            self._pos += len(part)
            count -= len(part)
            parts.append(part)
        return torch.cat(parts)
