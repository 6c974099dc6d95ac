"""Each job the front ends run, written once: pretrain, fine-tune, evaluate, predict.

`evenodd pretrain/finetune/evaluate/predict`, `evenodd run` and the app's tabs all call
these, so the validation split, the label budget, the metadata a checkpoint carries
(metrics, settings, lineage) and how it is saved cannot drift apart between them. A
`*_and_save` function trains and, given a folder, saves atomically; the app passes no
folder, keeps the returned in-memory checkpoint and saves it later with `save_model`.

A job's settings are one frozen dataclass (`PretrainJob`, `FinetuneJob`): a new kind of
fine-tuning is a new field there and a branch in `finetune_and_save`, not a change to
every caller. How a job runs, apart from what it trains (where it saves, who hears its
events, when it stops), is one `RunOptions` shared by every job. Torch is imported inside
the functions, so importing this module is cheap.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine import options  # the fixed schedule's numbers (budget_schedule)
from engine.config import (
    DEFAULT_ARCH,
    DEFAULT_FINETUNE,
    DEFAULT_PRETRAIN,
    ArchConfig,
    SemiSupConfig,
    TrainConfig,
)
from engine.errors import ConfigError, StoppedError
from engine.events import (
    GRAPH_PHASE,
    EventSink,
    Message,
    StopCheck,
    chunk_progress,
    ignore_event,
    never_stop,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy as np
    import torch
    from torch import nn

    from engine.data.labels import Labels
    from engine.data.mnist import Mnist, Split
    from engine.events import Finished
    from engine.learning.evaluate import Evaluation
    from engine.store.checkpoint import Checkpoint

SCRATCH = "no encoder (from scratch)"
SUPERVISED, SEMI_SUPERVISED = "supervised", "semi-supervised"  # fine-tuning modes


@dataclass(frozen=True)
class RunOptions:
    """How a job runs, apart from what it trains: `out` is the folder to save into (None:
    keep the model in memory only); `on_event` hears progress; `should_stop` is asked
    every batch."""

    out: str | Path | None = None
    on_event: EventSink = ignore_event
    should_stop: StopCheck = never_stop


@dataclass(frozen=True)
class PretrainJob:
    """Everything that decides a pretraining (the data aside)."""

    arch: ArchConfig = DEFAULT_ARCH
    train: TrainConfig = DEFAULT_PRETRAIN


@dataclass(frozen=True)
class EncoderSource:
    """The encoder a classifier starts from, with its lineage; no module = from scratch."""

    module: Any = None  # nn.Module; copied by the training, never changed
    arch: ArchConfig | None = None
    sha256: str | None = None  # of the saved encoder file; recorded in the classifier
    description: str = SCRATCH  # for people: status lines and the checkpoint's extra

    @classmethod
    def from_checkpoint(cls, checkpoint: Checkpoint) -> EncoderSource:
        """The encoder inside a loaded encoder or autoencoder file."""
        name = checkpoint.path.name if checkpoint.path else "file"
        return cls(checkpoint.encoder, checkpoint.arch, checkpoint.sha256, f"encoder file {name}")

    @classmethod
    def just_trained(cls, autoencoder: Checkpoint, sha256: str | None) -> EncoderSource:
        """The encoder of an autoencoder trained in this process (`sha256`: once saved)."""
        return cls(autoencoder.encoder, autoencoder.arch, sha256, "the autoencoder just trained")


@dataclass(frozen=True)
class FinetuneJob:
    """Everything that decides a fine-tuning (the data aside).

    `arch` builds a fresh encoder when `encoder` has none; otherwise the encoder's own
    architecture is used. The labels learnt from are `given` (a person's, e.g. from the
    label file) when set; otherwise `labels` images (None: every training image) are
    chosen by `pick` with the training seed, and MNIST's own labels are revealed for
    those images only, as `label_kind` (the simulated annotator of the benchmarks).
    """

    arch: ArchConfig = DEFAULT_ARCH
    train: TrainConfig = DEFAULT_FINETUNE
    labels: int | None = None
    pick: str = "suggested"  # engine.learning.choose.PICKS
    label_kind: str = "digit"  # engine.data.labels.LABEL_KINDS
    given: Labels | None = None
    encoder: EncoderSource = field(default_factory=EncoderSource)
    freeze: bool = False
    # Below all labels: also learn from the unlabelled training images (engine.learning.semisup).
    unlabelled: bool = True
    semisup: SemiSupConfig = field(default_factory=SemiSupConfig)
    steps: int | None = None  # below all labels: optimiser steps; None: the mode's default
    deskew: bool | None = None  # the classifier deskews its input; None: `deskews`'s rule
    # labelled images from elsewhere (my drawings): uint8 (M, 28, 28), parity targets (M,)
    extra: tuple[torch.Tensor, torch.Tensor] | None = None

    @property
    def model_arch(self) -> ArchConfig:
        has_encoder = self.encoder.module is not None and self.encoder.arch is not None
        return self.encoder.arch if has_encoder else self.arch


@dataclass
class Trained:
    """A trained model as a checkpoint (in memory; `files` once saved) and how it ended."""

    checkpoint: Checkpoint
    result: Any  # engine.learning.training.PretrainResult or FinetuneResult
    files: dict[str, Path] = field(default_factory=dict)
    sha256: dict[str, str] = field(default_factory=dict)  # role -> SHA-256 of the saved file

    @property
    def model(self) -> nn.Module:
        return self.checkpoint.model

    @property
    def finished(self) -> Finished:
        return self.result.fit.finished


def validation_split(data: Mnist) -> Split:
    """The one train/validation split every front end uses (engine.data.mnist's rule)."""
    from engine.data.mnist import split_train_val

    return split_train_val(len(data.train_images))


def _in_memory(kind: str, model: nn.Module, arch: ArchConfig, cfg: TrainConfig, **meta: Any):
    from engine.store.checkpoint import Checkpoint

    return Checkpoint(
        kind=kind, model=model, arch=arch, train_config=cfg.to_dict(), seed=cfg.seed, **meta
    )


def save_model(checkpoint: Checkpoint, path: str | Path, kind: str | None = None) -> str:
    """Write `checkpoint` atomically with all its metadata (as `kind`: e.g. "encoder" for
    an autoencoder's encoder alone); returns the file's SHA-256."""
    from engine.store.checkpoint import save_checkpoint

    return save_checkpoint(
        path,
        checkpoint.model,
        checkpoint.arch,
        kind=kind or checkpoint.kind,
        train_config=checkpoint.train_config,
        metrics=checkpoint.metrics,
        seed=checkpoint.seed,
        encoder_sha256=checkpoint.encoder_sha256,
        extra=checkpoint.extra,
    )


def pretrain_and_save(
    data: Mnist,
    job: PretrainJob,
    run: RunOptions = RunOptions(),
    after_epoch: Callable[[nn.Module, int], None] | None = None,
) -> Trained:
    """Train an autoencoder without labels; with `run.out`, write autoencoder.pt and
    encoder.pt there (`sha256["encoder"]` is the lineage a classifier records).
    `after_epoch` goes to `training.pretrain` (the app's latent map)."""
    from engine.learning.training import pretrain

    result = pretrain(
        data, job.arch, job.train, run.on_event, run.should_stop, split=validation_split(data),
        after_epoch=after_epoch,
    )  # fmt: skip
    finished = result.fit.finished
    metrics = _fit_metrics(finished, val_mse=result.val_mse)
    trained = Trained(
        _in_memory("autoencoder", result.model, job.arch, job.train, metrics=metrics), result
    )
    if run.out is not None:
        for kind in ("autoencoder", "encoder"):
            _save_into(trained, Path(run.out) / f"{kind}.pt", kind)
    return trained


def finetune_and_save(data: Mnist, job: FinetuneJob, run: RunOptions = RunOptions()) -> Trained:
    """Train the even/odd classifier on the labels a person gave (`job.given`) or on
    `job.labels` images chosen by `job.pick`; with `run.out`, write classifier.pt there.

    Below all labels the run is honest: no label beyond the given or chosen images is read
    (by default they are chosen from pixels alone), and nothing is steered by the
    validation labels, which are not part of the budget. It trains a fixed number of steps
    in rounds (`budget_schedule`) and keeps the last weights; validation accuracy is only
    reported. With `job.unlabelled` it also learns from every other training image's
    pixels. `tests/test_label_honesty.py` corrupts every other label and gets the same
    weights, bit for bit.
    """
    from engine.learning.training import finetune

    split = validation_split(data)
    given = job.given if job.given is not None else choose_labels(data, split, job, run)
    if given is None:
        raise StoppedError("stopped while choosing the images to label")
    given = _in_pool(given, split.train, len(data.train_images), run.on_event)
    labelled = given.indices
    below_all = len(labelled) < len(split.train)
    mode = SEMI_SUPERVISED if job.unlabelled and below_all else SUPERVISED
    if job.unlabelled and not below_all:
        run.on_event(Message("every training image is labelled, so nothing is unlabelled: "
                             "fine-tuning with the labels alone"))  # fmt: skip
    cfg, round_steps, unlabelled = job.train, None, None
    if below_all:
        cfg, round_steps = budget_schedule(job.train, len(labelled), mode, job.steps)
    if mode == SEMI_SUPERVISED:
        unlabelled = _complement(split.train, labelled)
    arch = replace(job.model_arch, deskew=deskews(below_all, job.deskew))
    result = finetune(
        data, arch, cfg, given, job.encoder.module, job.freeze, run.on_event,
        run.should_stop, split=split, round_steps=round_steps, unlabelled=unlabelled,
        semisup=job.semisup, extra=job.extra,
    )  # fmt: skip
    finished = result.fit.finished
    metrics = _fit_metrics(finished, val_accuracy=result.val_accuracy)
    extra = {
        "labels": result.n_labelled,  # the MNIST labels and any extra (drawings)
        "freeze_encoder": job.freeze,
        "encoder_source": job.encoder.description,
        "mode": mode,
        "unlabelled": result.unlabelled,
        "semisup": job.semisup.to_dict() if mode == SEMI_SUPERVISED else None,
        "confident": result.pseudo_labels[-1].confident if result.pseudo_labels else None,
    }
    extra.update(label_record(job, given))
    if job.extra is not None:
        extra["drawings"] = len(job.extra[0])
    checkpoint = _in_memory(
        "classifier", result.model, arch, cfg, metrics=metrics, extra=extra,
        encoder_sha256=job.encoder.sha256,
    )  # fmt: skip
    trained = Trained(checkpoint, result)
    if run.out is not None:
        _save_into(trained, Path(run.out) / "classifier.pt", "classifier")
    return trained


def choose_labels(data: Mnist, split: Split, job: FinetuneJob, run: RunOptions) -> Labels | None:
    """The labels a fine-tuning learns from when no person gave them: `job.labels` images
    chosen by `job.pick` with the training seed (every training image with no budget)."""
    return pick_labels(data, split.train, job.labels, job.pick, job.label_kind, job.train.seed, run)


def pick_labels(
    data: Mnist,
    pool: torch.Tensor,
    n: int | None,
    pick: str,
    kind: str,
    seed: int,
    run: RunOptions | None = None,
) -> Labels | None:
    """`n` images of `pool` chosen by `pick`, then MNIST's labels for those images alone,
    as `kind` (the simulated annotator); None (every image) takes the whole pool. None
    if stopped while choosing. The one rule for `finetune`, `run`, `compare` and the app.

    Only `balanced` reads labels to choose (every image's, to take the same number of
    each digit): it is the literature's benchmark protocol and named as such.
    """
    from engine.data.labels import reveal
    from engine.data.mnist import label_budget
    from engine.learning import choose

    run = run or RunOptions()
    if pick not in choose.PICKS:
        raise ConfigError(f"--pick must be one of {', '.join(choose.PICKS)}, not {pick!r}")
    if n is None or n >= len(pool) or pick == choose.BALANCED:
        chosen = label_budget(data.train_labels, pool, n, seed)  # all, or balanced
    elif pick == choose.RANDOM:
        chosen = choose.random_picks(pool, n, seed)
    else:
        chosen = suggest_images(data, pool, n, seed, None, run)
        if chosen is None:
            return None
    return reveal(data.train_labels, chosen, kind)


def suggest_images(
    data: Mnist, pool: torch.Tensor, n: int, seed: int, known: Any, run: RunOptions
) -> torch.Tensor | None:
    """`engine.learning.choose.suggest` with the job's message, graph progress and stop
    flag: the one way the fine-tuning and the Label tab ask for typical images."""
    from engine.learning import choose

    run.on_event(Message(f"choosing {n} images to label from their pixels alone"))
    return choose.suggest(
        data.train_images, pool, n, seed, known, run.should_stop,
        chunk_progress(GRAPH_PHASE, run.on_event),
    )  # fmt: skip


def _in_pool(given: Labels, pool: torch.Tensor, n_train: int, on_event: EventSink) -> Labels:
    """The labels of training images only: a label on a validation image is left out
    (said in a message), since validation must stay unseen by training; a position past
    the training file means the labels belong to other data."""
    import torch

    from engine.data.labels import Labels
    from engine.errors import DataError

    if len(given) and int(given.indices.max()) >= n_train:
        raise DataError(
            f"the labels name image {int(given.indices.max())}, but the training file has "
            f"{n_train} images: they were given for another data folder"
        )

    inside = torch.isin(given.indices, pool)
    if bool(inside.all()):
        return given
    outside = int((~inside).sum())
    on_event(Message(f"{outside} labelled images are validation images and are not learnt from"))
    return Labels(given.indices[inside], given.digits[inside], given.odd[inside])


LABEL_RECORD = ("pick", "label_kind", "labelled_indices")  # what label_record says
PICK_WORDS = {  # how reports name each way of choosing the labelled images
    "suggested": "the app (most typical image of each cluster; no label read)",
    "random": "chance (drawn at random)",
    "balanced": "reading every label (the same number of each digit; benchmark protocol)",
    "given": "a person (the label file)",
    "all": "every training image is labelled",
}


def label_record(job: FinetuneJob, given: Labels) -> dict[str, Any]:
    """What a checkpoint and metrics.json say of the labels: how the images were chosen,
    what kind of label was given, and which images (positions in the training file)."""
    pick = "given" if job.given is not None else job.pick
    if job.given is None and job.labels is None:
        pick = "all"
    return {
        "pick": pick,
        "label_kind": given.kind,
        "labelled_indices": given.indices.tolist(),
    }


def deskews(below_all: bool, choice: bool | None = None) -> bool:
    """Whether a classifier deskews its input (engine.data.deskew): `choice`, or by
    default below all labels only.

    With few labels it takes the slant out of what there is to learn: 100 labels,
    semi-supervised, validation images, label seeds 10-13: 99.13 % deskewed against
    98.47 % raw. With all 55,000 labels the network learns slant from the data and the
    shear costs a little: 99.60 / 99.44 % deskewed against 99.72 / 99.56 % raw (seeds 10 /
    11, `evenodd finetune --scratch --labels all [--deskew off]`; docs/measurements.md).
    """
    return below_all if choice is None else choice


def budget_schedule(
    cfg: TrainConfig, n_labels: int, mode: str, steps: int | None = None
) -> tuple[TrainConfig, int]:
    """The fixed schedule of a fine-tuning below all labels: (config, steps per round).

    Decided by the number of labels and the mode alone, never by validation: `steps`
    (default: `semi_steps(n_labels)`, or SUPERVISED_PASSES passes over the labels within
    [SUPERVISED_MIN_STEPS, SUPERVISED_MAX_STEPS], all in engine.options) in rounds of
    ROUND_STEPS, no early stopping, the last weights kept. Semi-supervised steps take
    SEMI_BATCH labelled images.
    """
    import math

    if mode == SEMI_SUPERVISED:
        cfg = replace(cfg, batch_size=options.SEMI_BATCH)
        steps = steps or options.semi_steps(n_labels)
    else:
        wanted = math.ceil(options.SUPERVISED_PASSES * n_labels / cfg.batch_size)
        steps = steps or min(
            options.SUPERVISED_MAX_STEPS, max(options.SUPERVISED_MIN_STEPS, wanted)
        )
    rounds = math.ceil(steps / options.ROUND_STEPS)
    honest = replace(cfg, epochs=rounds, max_steps=steps, patience=rounds + 1, keep_best=False)
    return honest.validate(), options.ROUND_STEPS


def _fit_metrics(finished: Finished, **scores: float) -> dict:
    """A checkpoint's metrics: its validation score and how its training ended."""
    return {**scores, "best_epoch": finished.best_epoch, "status": finished.status}


def _complement(pool: Any, chosen: Any) -> Any:
    """The indices of `pool` that are not in `chosen` (both sorted index tensors)."""
    import torch

    return pool[~torch.isin(pool, chosen)]


def _save_into(trained: Trained, path: Path, kind: str) -> None:
    trained.sha256[kind] = save_model(trained.checkpoint, path, kind)
    trained.files[kind] = path


def evaluate_model(model: nn.Module, data: Mnist) -> Evaluation:
    """Score a classifier on the MNIST test set."""
    from engine.learning.evaluate import evaluate

    return evaluate(model, data.test_images, data.test_labels)


def odd_probabilities(model: nn.Module, inputs: np.ndarray) -> np.ndarray:
    """P(odd) for model inputs (N, 1, 28, 28) made by `preprocess.to_model_input`."""
    import torch

    with torch.no_grad():
        return torch.sigmoid(model(torch.from_numpy(inputs))).reshape(-1).numpy()


def odd_probability(model: nn.Module, img28: np.ndarray) -> float:
    """P(odd) for one MNIST-like 28x28 uint8 image (what the Draw tab and `predict` see)."""
    from engine.data.preprocess import to_model_input

    return float(odd_probabilities(model, to_model_input(img28))[0])


@dataclass(frozen=True)
class Prediction:
    """Even or odd for one image file, or why the file could not be read."""

    file: Path
    parity: str | None = None  # "even" / "odd"
    p_odd: float | None = None
    error: str | None = None


def predict_images(model: nn.Module, paths: list[Path]) -> list[Prediction]:
    """Read, preprocess and classify each image file; an unreadable one is reported, not
    raised, so one bad file does not hide the others' answers."""
    from engine.data.mnist import parity_word
    from engine.data.preprocess import preprocess_file
    from engine.errors import ImageError

    predictions = []
    for path in paths:
        try:
            pixels = preprocess_file(path)
        except ImageError as exc:
            predictions.append(Prediction(Path(path), error=str(exc)))
            continue
        p_odd = odd_probability(model, pixels)
        predictions.append(Prediction(Path(path), parity_word(p_odd), p_odd))
    return predictions
