"""Choosing where tensors live: CUDA or Apple's MPS when present, the CPU otherwise."""

from __future__ import annotations

import torch

DEVICES = ("auto", "cpu", "cuda", "mps")


class DeviceError(ValueError):
    """A device the user asked for is not available on this machine."""


def pick_device(name: str = "auto") -> torch.device:
    name = (name or "auto").lower()
    if name not in DEVICES:
        raise DeviceError(f"device must be one of {', '.join(DEVICES)}, not {name!r}")
    mps = getattr(torch.backends, "mps", None)
    has_mps = bool(mps and mps.is_available())
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if has_mps else torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise DeviceError("CUDA was asked for but no CUDA GPU is available; use cpu or auto")
    if name == "mps" and not has_mps:
        raise DeviceError("MPS was asked for but is not available on this machine")
    return torch.device(name)
