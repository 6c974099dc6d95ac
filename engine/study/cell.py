"""One cell of the study: one classifier trained the study's way and scored.

Apart from `run` (which plans and records the cells) so that the worker processes of
`pool` can import it without importing the planner that starts them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.config import ArchConfig, TrainConfig
from engine.events import EventSink, StopCheck, Stopwatch, ignore_event, never_stop

if TYPE_CHECKING:
    import torch

    from engine.data.labels import Labels
    from engine.data.mnist import Mnist


def indices_sha256(indices: torch.Tensor) -> str:
    """Fingerprint of a set of labelled indices (as int64), to prove the ways share it."""
    import torch

    return hashlib.sha256(indices.to(torch.int64).contiguous().numpy().tobytes()).hexdigest()


@dataclass
class CellRun:
    """What `train_cell` returns: the trained model's scores and its training curve."""

    test_accuracy: float
    val_accuracy: float
    steps: int
    status: str
    best_round: int
    curve: list[tuple[int, float]]
    labels_sha256: str
    seconds: float


def train_cell(
    data: Mnist,
    arch: ArchConfig,
    cfg: TrainConfig,
    labelled: Labels,
    encoder: Any,
    freeze: bool,
    val_indices: torch.Tensor,
    val_every: int,
    on_event: EventSink = ignore_event,
    should_stop: StopCheck = never_stop,
    unlabelled: torch.Tensor | None = None,
) -> CellRun:
    """Train one classifier the study's way and score it on the test set.

    That is engine.learning.training.finetune (same model, loss, augmentation, Adam + one-cycle)
    in rounds of `val_every` steps, validated on the study's fixed `val_indices`; with
    `unlabelled` (training indices), its semi-supervised mode with the app's settings.
    """
    from engine.data.mnist import parity, predicted_odd
    from engine.learning.training import finetune, predict_proba

    clock = Stopwatch()
    result = finetune(
        data, arch, cfg, labelled, encoder, freeze, on_event, should_stop,
        val_indices=val_indices, round_steps=val_every, unlabelled=unlabelled,
    )  # fmt: skip
    finished = result.fit.finished
    curve = [(e.steps, float(e.val_accuracy or 0.0)) for e in result.fit.history]
    p_odd = predict_proba(result.model, data.test_images)
    truth = parity(data.test_labels)
    test_accuracy = float((predicted_odd(p_odd).float() == truth).float().mean())
    return CellRun(
        test_accuracy=test_accuracy,
        val_accuracy=result.val_accuracy,
        steps=finished.steps,
        status=finished.status,
        best_round=finished.best_epoch,
        curve=curve,
        labels_sha256=indices_sha256(labelled.indices),
        seconds=clock.elapsed,
    )
