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

A second head, used while training only (`ClassHead`), learns the same way which class
each image belongs to (`engine.learning.graph.label_classes`: a digit, or the image of a
label that gave only the parity): the graph's class while guided, then its own confident
prediction. The parity head alone is taught that a 4 and a 9 differ in one bit, which a
few labels leave to the encoder's chance; the class head has to keep every digit's images
apart, and the parity head reads the sharper code. On validation images, 20 suggested
digit labels, label seeds 10-13: 99.08 % with it at weight 0.5 (`cfg.class_weight`),
99.07 % at weight 1, 98.90 % without; weight 2 was no better (seeds 10-11), and weight 1
slowed very short runs (81 % against 99 % after 60 steps on the test suite's small
digits, where 0.5 gave 99.5 %). It is dropped when training ends; the saved classifier is
the same network either way.

Once no longer guided, where the class head is sure of an image's class, that class's
parity (`class_parities`: a digit's own, or what its label said) is the parity head's
target too; the parity head's own reading counts only where the class head is unsure.
Read at the end of training, the class head told parity better than the parity head
(validation, 20 suggested digit labels, seeds 10-11: 99.18 / 99.20 % against 99.06 /
99.14 %); taking its word raised the parity head to 99.16 % on seeds 10-13 (from 99.08 %).

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
from engine.learning.models import Classifier


@dataclass
class RoundStats:
    """Running sums of one round, turned into a `PseudoLabels` event at its end."""

    seen: int = 0
    confident: int = 0
    odd: int = 0
    guided: bool = False  # some of its steps learnt from the graph's guesses


class ClassHead(nn.Module):
    """The classifier with a second head on its encoder's code that predicts `n_classes`
    classes; its output is (N, 1 + n_classes): the parity logit, then the class logits.
    Trained with the classifier and then dropped: `classifier` is what gets saved."""

    def __init__(self, classifier: Classifier, n_classes: int) -> None:
        super().__init__()
        cfg = classifier.cfg
        self.classifier = classifier
        self.head = nn.Sequential(
            nn.Linear(cfg.latent, cfg.head_hidden),
            nn.ReLU(),
            nn.Linear(cfg.head_hidden, n_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        net = self.classifier
        code = net.encoder(net.prepare(x))
        return torch.cat([net.head(code), self.head(code)], 1)


@dataclass
class UnlabelledBatch:
    """One step's unlabelled part: distorted images, their parity targets and weights
    and, with a class head, their class targets and weights (0: not learnt from)."""

    images: torch.Tensor
    targets: torch.Tensor
    weights: torch.Tensor
    classes: torch.Tensor | None = None
    class_weights: torch.Tensor | None = None


@dataclass
class Consistency:
    """Makes the unlabelled part of each step and reports what it did with it.

    `images` are the unlabelled uint8 images (N, 28, 28) on the model's device; their
    order of use is a seeded stream of reshuffled passes, so the same seed gives the same
    batches and the same weights. `guesses` (N,) are the graph's P(odd) for them, used as
    targets for the first `guided_steps` steps; None: the classifier's own from the start.
    With a class head (`model` a `ClassHead`), `classes` (N,) are the graph's classes of
    the same images, the class targets while guided, and `class_parities` (one per class
    of the head, 1.0 odd) say which parity each class stands for.
    """

    model: nn.Module
    images: torch.Tensor
    cfg: SemiSupConfig
    seed: int
    guesses: torch.Tensor | None = None
    guided_steps: int = 0
    classes: torch.Tensor | None = None
    class_parities: torch.Tensor | None = None
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
        for name in ("guesses", "classes"):
            given = getattr(self, name)
            if given is not None and given.shape != (len(self.images),):
                n, m = len(self.images), len(given)
                raise ValueError(f"{n} unlabelled images but {m} {name}")
        if self.guesses is not None and self.class_head and self.classes is None:
            raise ValueError("a class head learns the graph's classes while guided: none given")
        if self.class_head and self.class_parities is None:
            raise ValueError("a class head's classes need their parities: none given")

    @property
    def class_head(self) -> bool:
        return isinstance(self.model, ClassHead)

    def batch(self) -> UnlabelledBatch:
        """This step's unlabelled part.

        Weights are `cfg.unlabelled_weight` for confident images and 0 for the others, so the loss
        is a plain weighted BCE and unconfident images cost a forward pass, nothing more.
        While guided, every image's target is the graph's guess and weighs in; the
        classifier's own confidence is still measured, for the round's report. The class
        head's targets follow the same rule with its own confidence and `cfg.class_weight`;
        afterwards a sure class also sets the parity target (its class's parity).
        """
        index = self._stream.take(self.cfg.unlabelled_batch).to(self.images.device)
        clean = to_float_images(self.images[index])
        was_training = self.model.training
        self.model.eval()
        with torch.no_grad():
            outputs = self.model(clean).float()
        self.model.train(was_training)
        p_odd = torch.sigmoid(outputs[:, 0] if self.class_head else outputs)
        confident = torch.maximum(p_odd, 1 - p_odd) >= self.cfg.threshold
        targets = (p_odd > 0.5).float()
        classes = class_weights = None
        if self.class_head:
            sureness, classes = torch.softmax(outputs[:, 1:], 1).max(1)
            sure_class = sureness >= self.cfg.threshold
            class_weights = sure_class.float() * self.cfg.class_weight
            targets = torch.where(sure_class, self.class_parities[classes], targets)
            confident = confident | sure_class
        self._round.guided |= self.guided
        self._round.seen += len(index)
        self._round.confident += int(confident.sum())
        self._round.odd += int((confident & (targets > 0)).sum())
        weights = confident.float() * self.cfg.unlabelled_weight
        if self.guided:
            targets = (self.guesses[index] > 0.5).float()
            weights = torch.full_like(targets, self.cfg.unlabelled_weight)
            if self.class_head:
                classes = self.classes[index]
                class_weights = torch.full_like(targets, self.cfg.class_weight)
        self._steps += 1
        images = strong_augment(clean, self._generator)
        return UnlabelledBatch(images, targets, weights, classes, class_weights)

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
