"""One checkpoint format for encoders, autoencoders and classifiers.

A checkpoint is a plain dict of tensors, numbers and strings, written atomically and read
only with `torch.load(weights_only=True)`: a file from outside can never run code here.
Anything that is not exactly what we wrote (random bytes, a truncated file, a pickle with
code, weights for another architecture) raises CheckpointError and nothing is built.
"""

from __future__ import annotations

import hashlib
import io
import os
import platform
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import torch
from torch import nn

import engine
from engine.config import ArchConfig, ArchError
from engine.data.preprocess import PIXEL_SCALE
from engine.errors import CheckpointError
from engine.files import atomic_write_bytes
from engine.learning.models import Autoencoder, Classifier

FORMAT = "evenodd-studio-checkpoint"
FORMAT_VERSION = 1
KINDS = ("encoder", "autoencoder", "classifier")
PREPROCESSING = {"size": 28, "pixel_scale": PIXEL_SCALE, "ink": "white on black"}


@dataclass
class Checkpoint:
    """A loaded checkpoint: the model built from it, and everything recorded with it."""

    kind: str
    model: nn.Module  # Sequential encoder, Autoencoder or Classifier, in eval mode
    arch: ArchConfig
    path: Path | None = None
    sha256: str = ""
    train_config: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    seed: int | None = None
    versions: dict = field(default_factory=dict)
    encoder_sha256: str | None = None  # lineage: the encoder file a classifier came from
    created: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def encoder(self) -> nn.Module:
        """The encoder inside any kind of checkpoint."""
        return self.model if self.kind == "encoder" else self.model.encoder

    @property
    def has_decoder(self) -> bool:
        return self.kind == "autoencoder"


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _kind_of(model: nn.Module) -> str:
    if isinstance(model, Classifier):
        return "classifier"
    if isinstance(model, Autoencoder):
        return "autoencoder"
    return "encoder"


def save_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    arch: ArchConfig,
    *,
    kind: str | None = None,
    train_config: dict | None = None,
    metrics: dict | None = None,
    seed: int | None = None,
    encoder_sha256: str | None = None,
    extra: dict | None = None,
) -> str:
    """Save `model` (or, with kind="encoder", its encoder) atomically; returns the SHA-256."""
    kind = kind or _kind_of(model)
    if kind not in KINDS:
        raise CheckpointError(f"unknown checkpoint kind {kind!r}")
    module = model.encoder if kind == "encoder" and hasattr(model, "encoder") else model
    state = {name: tensor.detach().cpu().clone() for name, tensor in module.state_dict().items()}
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "arch": arch.to_dict(),
        "state_dict": state,
        "preprocessing": dict(PREPROCESSING),
        "train_config": dict(train_config or {}),
        "metrics": {k: v for k, v in (metrics or {}).items()},
        "seed": seed,
        "encoder_sha256": encoder_sha256,
        "versions": {
            "evenodd_studio": engine.__version__,
            "torch": str(torch.__version__),  # TorchVersion is not weights_only-loadable
            "python": platform.python_version(),
        },
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "extra": dict(extra or {}),
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    data = buffer.getvalue()
    try:  # never write a file that load_checkpoint would refuse (e.g. a numpy scalar inside)
        torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:
        lines = [line.strip() for line in str(exc).splitlines() if "global" in line.lower()]
        detail = lines[0][:200] if lines else type(exc).__name__
        raise CheckpointError(
            f"{Path(path).name}: refusing to save something that cannot be loaded safely "
            f"(only tensors, numbers and strings may go in a checkpoint). {detail}"
        ) from None
    atomic_write_bytes(path, data)
    return hashlib.sha256(data).hexdigest()


def _build(kind: str, arch: ArchConfig) -> nn.Module:
    if kind == "classifier":
        return Classifier(arch)
    autoencoder = Autoencoder(arch)
    return autoencoder if kind == "autoencoder" else autoencoder.encoder


def load_checkpoint(path: str | os.PathLike, expect: tuple[str, ...] = KINDS) -> Checkpoint:
    """Load and verify a checkpoint; `expect` lists the kinds the caller can use."""
    path = Path(path)
    name = path.name
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"{name}: file not found") from None
    except IsADirectoryError:
        raise CheckpointError(f"{name}: is a folder, not a checkpoint file") from None
    except OSError as exc:
        raise CheckpointError(f"{name}: cannot be read ({exc.strerror or exc})") from None
    try:
        payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # refused pickle, truncated zip, random bytes: all the same to us
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"{name}: not a valid checkpoint file (it is damaged, or holds something other "
            f"than model weights; it was not run). Details: {first}"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{name}: not an Even/Odd Studio checkpoint")
    if payload.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{name}: checkpoint format version {payload.get('format_version')} is not "
            f"supported (this app reads version {FORMAT_VERSION})"
        )
    kind = payload.get("kind")
    if kind not in KINDS:
        raise CheckpointError(f"{name}: unknown checkpoint kind {kind!r}")
    if kind not in expect:
        raise CheckpointError(f"{name}: holds an {kind}, but a {' or '.join(expect)} is needed")
    try:
        # A file from before ArchConfig.deskew existed holds a classifier without it.
        arch = ArchConfig.from_dict({"deskew": False, **(payload.get("arch") or {})})
    except ArchError as exc:
        raise CheckpointError(f"{name}: {exc}") from None
    model = _build(kind, arch)
    state = payload.get("state_dict")
    if not isinstance(state, dict):
        raise CheckpointError(f"{name}: holds no weights")
    try:
        model.load_state_dict(state, strict=True)
    except (RuntimeError, KeyError, TypeError) as exc:
        detail = str(exc).strip().splitlines()[0][:160]
        raise CheckpointError(
            f"{name}: the weights do not fit the {arch.arch} architecture it names "
            f"(made for a different model?). Details: {detail}"
        ) from None
    model.eval()
    return Checkpoint(
        kind=kind,
        model=model,
        arch=arch,
        path=path,
        sha256=hashlib.sha256(data).hexdigest(),
        train_config=dict(payload.get("train_config") or {}),
        metrics=dict(payload.get("metrics") or {}),
        seed=payload.get("seed"),
        versions=dict(payload.get("versions") or {}),
        encoder_sha256=payload.get("encoder_sha256"),
        created=str(payload.get("created") or ""),
        extra=dict(payload.get("extra") or {}),
    )
