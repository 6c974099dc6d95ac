"""Plain events that long-running engine work reports through a callback.

Events are frozen dataclasses of floats, strings and small CPU numpy arrays, so they can
cross a thread boundary (the GUI turns them into Qt signals) or be printed by the CLI
without either side knowing about the other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

GRAPH_PHASE = "graph"  # Progress's phase while the neighbour graph is made (engine.learning.graph)


@dataclass(frozen=True)
class Progress:
    """Where a long job is: `done` of `total` units (batches, bytes, cells)."""

    phase: str  # "pretrain", "finetune", "download", "compare", ...
    done: int
    total: int
    elapsed: float  # seconds since the job started
    eta: float | None  # seconds left, None while unknown
    epoch: int = 0  # 1-based epoch for training phases, 0 otherwise
    epochs: int = 0
    batch: int = 0  # 1-based batch within the epoch
    batches: int = 0
    loss: float | None = None  # running training loss of the current epoch

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 0.0


@dataclass(frozen=True)
class EpochEnd:
    """One finished epoch: losses on train and validation, and the best epoch so far.

    `keeps_best` False: the run keeps its last weights (a small label budget), so
    `best_epoch` (lowest validation loss) is only shown, never chosen, and says so where shown.
    """

    phase: str
    epoch: int
    epochs: int
    train_loss: float
    val_loss: float
    best_epoch: int
    best_val_loss: float
    val_accuracy: float | None = None  # classifier phases only
    steps: int = 0  # optimiser steps taken so far
    keeps_best: bool = True  # the run restores its best epoch (False: keeps the last)


@dataclass(frozen=True)
class Reconstructions:
    """A few validation digits and the autoencoder's reconstructions, as (n, 28, 28) floats."""

    epoch: int
    originals: np.ndarray
    reconstructions: np.ndarray


@dataclass(frozen=True)
class LatentMap:
    """Validation images' codes projected to 2-D, and how well the codes separate digits
    (see engine.reports.latent). `digits` serve only for colour and the kNN score."""

    projection: str  # "PCA" or "t-SNE"
    points: np.ndarray  # (n, 2) float32
    indices: np.ndarray  # (n,) int64: which training images (all from the validation split)
    digits: np.ndarray  # (n,) int64
    knn_accuracy: float  # k-nearest-neighbour digit accuracy on held-out codes; NaN: too few
    epoch: int = 0  # the pretraining epoch it shows; 0: the finished or loaded encoder
    pixels_knn_accuracy: float | None = None  # the same score on raw pixels
    seconds: float = 0.0  # what computing it took (encoding, projection, score)


@dataclass(frozen=True)
class Finished:
    """A training run ended. `reason` says why, in words the user can read."""

    phase: str
    status: str  # "completed", "early_stopped", "stopped", "diverged"
    reason: str
    best_epoch: int
    best_val_loss: float
    epochs_run: int
    steps: int
    seconds: float


@dataclass(frozen=True)
class PseudoLabels:
    """What semi-supervised fine-tuning did with the unlabelled images in one round.

    `confident` is the share of the round's unlabelled images whose prediction was sure
    enough to become a target; `odd` the share of those targets that said "odd". Neither
    reads a label of an unlabelled image. `guided`: in this round the targets were (also)
    the neighbour graph's guesses, not only the confident predictions.
    """

    epoch: int
    steps: int
    confident: float
    odd: float
    guided: bool = False


@dataclass(frozen=True)
class Message:
    """A line of information for the log or status bar."""

    text: str
    level: str = "info"  # "info" or "warning"


@dataclass(frozen=True)
class CellDone:
    """One cell of the pretraining study finished (see engine.study)."""

    family: str
    budget: str
    way: str
    seed: int
    accuracy: float
    steps_to_target: int | None
    extra: dict = field(default_factory=dict)


Event = (
    Progress | EpochEnd | Reconstructions | LatentMap | PseudoLabels | Finished | Message | CellDone
)
EventSink = Callable[[Event], None]
StopCheck = Callable[[], bool]


def ignore_event(event: Event) -> None:
    """Default sink: drop events (used when nobody listens)."""


def never_stop() -> bool:
    """Default stop check: run to the end."""
    return False


class Stopwatch:
    """Elapsed time and a smoothed ETA for `done` of `total` units of work."""

    def __init__(self) -> None:
        import time

        self._clock = time.perf_counter
        self._start = self._clock()

    @property
    def elapsed(self) -> float:
        return self._clock() - self._start

    def eta(self, done: int, total: int) -> float | None:
        if done <= 0 or total <= 0:
            return None
        return self.elapsed * (total - done) / done


def chunk_progress(phase: str, on_event: EventSink) -> Callable[[int, int], None]:
    """A `(done, total)` callback that reports Progress of `phase` with an ETA, for work
    that counts its own chunks (the neighbour graph's links)."""
    clock = Stopwatch()

    def chunk_done(done: int, total: int) -> None:
        on_event(Progress(phase, done, total, clock.elapsed, clock.eta(done, total)))

    return chunk_done
