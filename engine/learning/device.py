"""Choosing where tensors live (CUDA or Apple's MPS when present, the CPU otherwise) and
in what precision training multiplies matrices."""

from __future__ import annotations

import contextlib

import torch

from engine.config import PRECISIONS
from engine.errors import DeviceError

DEVICES = ("auto", "cpu", "cuda", "mps")


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


def flush_denormals(device: torch.device) -> None:
    """On the CPU, treat denormal floats (below 1.2e-38) as zero in this thread's arithmetic
    and in the threads it starts afterwards (torch's intra-op pool among them).

    Why: x86 CPUs compute with denormals up to a hundred times slower. With weight decay,
    Adam drives the weights of dead units towards zero until they become denormal: a conv
    study cell with weight decay 1e-4 took 115 s instead of 50 s (two seeds, one thread),
    and 53 s with denormals flushed. Default runs have none: flushing left their test
    accuracies and times unchanged (seeds 0 and 1). A pool of threads started before this
    call keeps its old setting, so it is called where training starts.
    """
    if device.type == "cpu":
        torch.set_flush_denormal(True)


def has_fast_bfloat16(device: torch.device) -> bool:
    """Whether bfloat16 matrix products run in hardware here: a CUDA GPU that supports
    them, or a CPU with AMX tiles (Intel Xeon since Sapphire Rapids) or AVX-512 BF16
    instructions (AMD Zen 4 and later, Intel Cooper Lake). Elsewhere bfloat16 is emulated
    and slower than float32. On a 2-core AMD EPYC with AVX-512 BF16 and no AMX, bfloat16
    against float32: an autoencoder epoch 2.17 against 3.36 s, and 1,024 x 784 images
    against 55,000 (a chunk of the neighbour graph) 0.25 against 0.59 s."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        probes = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")  # private: guarded
        return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in probes)
    return False


def training_precision(name: str, device: torch.device) -> torch.dtype:
    """float32 or bfloat16 for the matrix products of a training step; "auto" takes
    bfloat16 only where the hardware makes it faster."""
    if name not in PRECISIONS:
        raise DeviceError(f"precision must be one of {', '.join(PRECISIONS)}, not {name!r}")
    if name == "bfloat16" or (name == "auto" and has_fast_bfloat16(device)):
        return torch.bfloat16
    return torch.float32


def autocast(device: torch.device, dtype: torch.dtype) -> contextlib.AbstractContextManager:
    """Mixed precision for forward passes: matrix products and convolutions in `dtype`,
    weights, gradients and the optimiser kept in float32. A no-op for float32."""
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)
