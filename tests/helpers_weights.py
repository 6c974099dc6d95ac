"""Snapshots of a model's weights, to tell whether training changed them or repeated them."""

from __future__ import annotations

import torch
from torch import nn


def weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """A copy of every tensor in the model's state, unchanged by later training."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    """Bit-identical snapshots: the same names and equal tensors."""
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
