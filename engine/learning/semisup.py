"""Learning from the unlabelled images while fine-tuning: confident predictions as targets.

Every step of semi-supervised fine-tuning adds a batch of unlabelled training images to
the labelled batch. The classifier (in eval mode, without gradients) predicts each clean
unlabelled image; where it is at least `threshold` sure, that prediction becomes the
target for a strongly distorted view of the same image (`engine.data.augment.strong_augment`).
This is FixMatch's consistency rule (Sohn et al. 2020) with a clean image as the weak view.

For the first `cfg.guided` share of the steps the targets come instead from `guesses`: the
budget's labels spread over a graph of similar images (`engine.learning.graph`), which
decides each digit's parity from many images rather than from the classifier's first
reading of its two or ten labelled examples. With 20 labels (seed 10) that reading had the
8s odd, and consistency training kept them so (89.98 % on the validation images); started
from the graph's guesses the same run reached 98.98 %.

Only pixels of the unlabelled images are read here: this module never sees a label
outside the budget, which `tests/test_semisup.py` checks by changing all of them and
getting bit-identical weights. Why this method and these settings: docs/method.md and
docs/measurements.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from engine.config import SemiSupConfig
from engine.data.augment import strong_augment
from engine.data.batches import BatchStream, to_float_images
from engine.events import EventSink, PseudoLabels


@dataclass
class RoundStats:
    """Running sums of one round, turned into a `PseudoLabels` event at its end."""

    seen: int = 0
    confident: int = 0
    odd: int = 0
    guided: bool = False  # some of its steps learnt from the graph's guesses


@dataclass
class Consistency:
    """Makes the unlabelled part of each step and reports what it did with it.

    `images` are the unlabelled uint8 images (N, 28, 28) on the model's device; their
    order of use is a seeded stream of reshuffled passes, so the same seed gives the same
    batches and the same weights. `guesses` (N,) are the graph's P(odd) for them, used as
    targets for the first `guided_steps` steps; None: the classifier's own from the start.
    """

    model: nn.Module
    images: torch.Tensor
    cfg: SemiSupConfig
    seed: int
    guesses: torch.Tensor | None = None
    guided_steps: int = 0
    history: list[PseudoLabels] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.cfg = self.cfg.validate()
        if len(self.images) == 0:
            raise ValueError("semi-supervised fine-tuning needs unlabelled images")
        self._stream = BatchStream(len(self.images), self.seed + 2)
        device = self.images.device
        self._generator = torch.Generator(device=device).manual_seed(self.seed + 3)
        self._round = RoundStats()
        self._steps = 0
        if self.guesses is not None and self.guesses.shape != (len(self.images),):
            n, m = len(self.images), len(self.guesses)
            raise ValueError(f"{n} unlabelled images but {m} guesses")

    def batch(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(distorted images, targets, per-image weights) for this step's unlabelled part.

        Weights are `cfg.unlabelled_weight` for confident images and 0 for the others, so the loss
        is a plain weighted BCE and unconfident images cost a forward pass, nothing more.
        While guided, every image's target is the graph's guess and weighs in; the
        classifier's own confidence is still measured, for the round's report.
        """
        index = self._stream.take(self.cfg.unlabelled_batch).to(self.images.device)
        clean = to_float_images(self.images[index])
        was_training = self.model.training
        self.model.eval()
        with torch.no_grad():
            p_odd = torch.sigmoid(self.model(clean).float())
        self.model.train(was_training)
        confident = torch.maximum(p_odd, 1 - p_odd) >= self.cfg.threshold
        targets = (p_odd > 0.5).float()
        self._round.guided |= self.guided
        self._round.seen += len(index)
        self._round.confident += int(confident.sum())
        self._round.odd += int((confident & (targets > 0)).sum())
        weights = confident.float() * self.cfg.unlabelled_weight
        if self.guided:
            targets = (self.guesses[index] > 0.5).float()
            weights = torch.full_like(targets, self.cfg.unlabelled_weight)
        self._steps += 1
        return strong_augment(clean, self._generator), targets, weights

    @property
    def guided(self) -> bool:
        """Whether this step's targets are the graph's guesses."""
        return self.guesses is not None and self._steps < self.guided_steps

    def end_round(self, epoch: int, steps: int, on_event: EventSink) -> None:
        """Report the round's share of confident images (and how many said odd)."""
        stats, self._round = self._round, RoundStats()
        if stats.seen == 0:
            return
        event = PseudoLabels(
            epoch=epoch,
            steps=steps,
            confident=stats.confident / stats.seen,
            odd=stats.odd / stats.confident if stats.confident else 0.0,
            guided=stats.guided,
        )
        self.history.append(event)
        on_event(event)
