"""Settings of models and training runs: plain dataclasses, no torch.

Kept apart from the code that uses them so the command line, the GUI and checkpoints
can read and check settings without importing torch (which takes seconds to load).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from engine.errors import ArchError, ConfigError
from engine.options import (  # noqa: F401  (the schedule's numbers live with its option)
    ARCH_OPTIONS,
    ROUND_STEPS,
    SEMI_BATCH,
    SEMI_STEPS,
    SEMISUP_OPTIONS,
    SUPERVISED_MAX_STEPS,
    SUPERVISED_MIN_STEPS,
    SUPERVISED_PASSES,
    TRAIN_OPTIONS,
    check,
)

ARCHS = ("conv", "mlp")
PRECISIONS = ("auto", "float32", "bfloat16")  # of a training step's matrix products


class _Settings:
    """What every settings dataclass shares: the checks of its rows of the settings table,
    and the round trip through a plain dict (checkpoints, JSON)."""

    _error: ClassVar[type[ValueError]] = ConfigError
    _what: ClassVar[str] = "settings"

    def _check(self, options: dict) -> None:
        problem = check(options, self)
        if problem:
            raise self._error(problem)

    def to_dict(self) -> dict:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, values: dict) -> Any:
        known = {key: values[key] for key in cls.__dataclass_fields__ if key in values}  # type: ignore[attr-defined]
        try:
            return cls(**known).validate()  # type: ignore[attr-defined]
        except TypeError as exc:
            raise cls._error(f"bad {cls._what}: {exc}") from None


@dataclass(frozen=True)
class ArchConfig(_Settings):
    """Everything needed to rebuild a model from a checkpoint."""

    arch: str = "conv"
    latent: int = 64
    dropout: float = 0.1
    width: int = 16  # conv: channels of the first layer (second has 2x); mlp: ignored
    head_hidden: int = 64  # classifier head's hidden units
    # The classifier shears each input upright first (engine.data.deskew); the autoencoder
    # ignores it. Fine-tuning decides it per budget (engine.jobs.workflows.deskews);
    # checkpoints written before it existed load with False (engine.store.checkpoint).
    deskew: bool = False
    _error: ClassVar[type[ValueError]] = ArchError
    _what: ClassVar[str] = "architecture settings"

    def validate(self) -> ArchConfig:
        if self.arch not in ARCHS:
            raise ArchError(f"architecture must be one of {', '.join(ARCHS)}, not {self.arch!r}")
        self._check(ARCH_OPTIONS)  # latent, dropout, width, head: the one table
        if not isinstance(self.deskew, bool):
            raise ArchError(f"deskew must be true or false, not {self.deskew!r}")
        return self


@dataclass(frozen=True)
class TrainConfig(_Settings):
    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0
    patience: int = 3  # epochs without improvement before stopping early
    min_delta: float = 1e-4  # smaller improvements of the validation loss do not count
    seed: int = 0
    device: str = "auto"
    max_steps: int | None = None  # cap on optimiser steps (the study's equal-steps rule)
    augment: bool = False  # random shifts/rotations/stroke width (classifier phase)
    schedule: str = "onecycle"  # "onecycle" (warm up, then anneal) or "constant"
    precision: str = "float32"  # or "bfloat16", or "auto": bfloat16 where the hardware has it
    # True: a run keeps its best epoch's weights (by validation loss). False: nothing is
    # chosen by validation: a completed or stopped run keeps its last weights, a diverged
    # one its last finished epoch's (the honest mode for a small label budget).
    keep_best: bool = True

    def validate(self) -> TrainConfig:
        self._check(TRAIN_OPTIONS)  # epochs, batch size, lr, ...: the one table
        checks = [
            (self.max_steps is None or self.max_steps >= 1, "max_steps must be 1 or more"),
            (self.schedule in ("onecycle", "constant"), f"unknown schedule {self.schedule!r}"),
            (
                self.precision in PRECISIONS,
                f"precision must be one of {', '.join(PRECISIONS)}, not {self.precision!r}",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
        return self


@dataclass(frozen=True)
class SemiSupConfig(_Settings):
    """How semi-supervised fine-tuning learns from the unlabelled images (engine.learning.semisup).

    Each step adds `unlabelled_batch` unlabelled images: the classifier's prediction on
    the clean image becomes the target for a strongly distorted view of it when it is at
    least `threshold` sure; that loss counts `unlabelled_weight` times the labelled one.
    For the first `guided` share of the steps the targets are the neighbour graph's guesses
    instead (engine.learning.graph). A second head learns each image's class the same way,
    counting `class_weight` (0: no second head; engine.learning.semisup.ClassHead).
    """

    unlabelled_batch: int = 128
    threshold: float = 0.95
    unlabelled_weight: float = 1.0
    guided: float = 0.3
    class_weight: float = 0.5

    def validate(self) -> SemiSupConfig:
        self._check(SEMISUP_OPTIONS)  # the one settings table
        return self


# Defaults of `evenodd run` and the app, chosen by measurement (docs/measurements.md): the
# conv family reaches the accuracy target on a 2-core CPU in about three minutes.
DEFAULT_ARCH = ArchConfig(arch="conv", latent=64, dropout=0.1, width=16)
# Pretraining multiplies in bfloat16 where that is fast (1.3-1.6x per conv step here): a
# reconstruction loss needs no more. Fine-tuning stays in float32, where bfloat16 saves
# only about 10 % and the accuracy target is decided by a few dozen test images.
DEFAULT_PRETRAIN = TrainConfig(epochs=6, batch_size=256, lr=3e-3, patience=3, precision="auto")
DEFAULT_FINETUNE = TrainConfig(epochs=16, batch_size=128, lr=3e-3, patience=4, augment=True)
