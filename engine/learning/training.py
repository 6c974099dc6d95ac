"""One training loop for both phases: config in, events out, stop flag every batch.

`fit` is model-agnostic: the phases (`pretrain`, `finetune`) supply how a batch is made,
what the loss is and how validation is scored. Early stopping watches the validation
loss and always restores the best weights, also when the user stops or the loss blows up,
so whatever a run leaves behind is the best model it saw.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from engine.config import ArchConfig, ConfigError, SemiSupConfig, TrainConfig
from engine.data.augment import augment_batch
from engine.data.batches import BatchStream, to_float_images
from engine.data.labels import Labels, reveal
from engine.data.mnist import Mnist, Split, parity, split_train_val
from engine.events import (
    GRAPH_PHASE,
    EpochEnd,
    EventSink,
    Finished,
    Message,
    Progress,
    PseudoLabels,
    Reconstructions,
    StopCheck,
    Stopwatch,
    chunk_progress,
    ignore_event,
    never_stop,
)
from engine.learning.device import autocast, flush_denormals, pick_device, training_precision
from engine.learning.graph import (
    Guesses,
    class_count,
    class_parities,
    guess,
    label_classes,
    may_stand_in,
    missing_digits,
    one_parity,
)
from engine.learning.models import Autoencoder, Classifier
from engine.learning.semisup import ClassHead, Consistency

PROGRESS_INTERVAL = 0.1  # seconds between Progress events: enough for a smooth bar
EVAL_CHUNK = 2000  # images per forward pass when scoring, to bound memory


@dataclass
class FitResult:
    """What a run leaves: per-epoch history and how it ended."""

    history: list[EpochEnd] = field(default_factory=list)
    finished: Finished | None = None

    @property
    def ok(self) -> bool:
        return self.finished is not None and self.finished.status != "diverged"


def _seed_everything(seed: int) -> None:
    torch.manual_seed(seed)


def make_optimizer(params: list[nn.Parameter], cfg: TrainConfig) -> torch.optim.Adam:
    """Adam, fused into one kernel where torch has one (CPU, CUDA).

    The default (for-each) Adam launches a dozen whole-tensor operations per step; on the
    CPU that was a third of an MLP training step, and fusing it made the MLP autoencoder's
    step 15-35 % faster (batch 512 to 128, timed once). Same update rule, and the same
    weights again for the same seed.
    """
    fused = params[0].device.type in ("cpu", "cuda")
    return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=fused)


def fit(
    model: nn.Module,
    n_train: int,
    make_batch: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
    loss_fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
    validate: Callable[[nn.Module], tuple[float, float | None]],
    cfg: TrainConfig,
    phase: str,
    on_event: EventSink = ignore_event,
    should_stop: StopCheck = never_stop,
    after_epoch: Callable[[nn.Module, int], None] | None = None,
    epoch_order: Callable[[], torch.Tensor] | None = None,
) -> FitResult:
    """Train `model` (already on its device) and restore its best weights at the end.

    With `cfg.keep_best` False no weights are chosen by validation: a completed or
    stopped run keeps its last weights, a diverged one those of its last finished epoch.
    Validation figures are then only reported, which is what a small label budget needs
    (the validation labels are not part of it).

    make_batch(indices) -> (input, target); loss_fn(output, input, target) -> scalar;
    validate(model) -> (val_loss, val_accuracy or None); epoch_order() -> the `n_train`
    indices of the next epoch, in training order (default: a seeded random permutation).
    """
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ConfigError("the model has nothing to train")
    batches = max(1, math.ceil(n_train / cfg.batch_size))
    total_steps = cfg.epochs * batches
    if cfg.max_steps is not None:
        total_steps = min(total_steps, cfg.max_steps)
    optimizer = make_optimizer(params, cfg)
    device = params[0].device
    flush_denormals(device)
    precision = training_precision(cfg.precision, device)
    scheduler = None
    if cfg.schedule == "onecycle":
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=cfg.lr, total_steps=total_steps, pct_start=0.15
        )
    if epoch_order is None:
        order = torch.Generator().manual_seed(cfg.seed)
        epoch_order = lambda: torch.randperm(n_train, generator=order)  # noqa: E731
    clock = Stopwatch()
    result = FitResult()
    best_loss, best_epoch, best_state, bad_epochs = math.inf, 0, None, 0
    steps, epoch, status, reason = 0, 0, "completed", ""
    last_report = -math.inf

    for epoch in range(1, cfg.epochs + 1):
        model.train()
        permutation = epoch_order()
        running, seen = 0.0, 0
        for batch in range(batches):
            if should_stop():
                status, reason = "stopped", "stopped by the user"
                break
            if steps >= total_steps:
                break
            index = permutation[batch * cfg.batch_size : (batch + 1) * cfg.batch_size]
            inputs, targets = make_batch(index)
            with autocast(device, precision):
                outputs = model(inputs)
            loss = loss_fn(outputs.float(), inputs, targets)
            value = float(loss.detach())  # a sync per batch; cheap next to the step itself
            if not math.isfinite(value):
                status = "diverged"
                reason = (
                    f"the training loss became {value} in epoch {epoch}; "
                    "try a smaller learning rate"
                )
                break
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            steps += 1
            running += value * len(index)
            seen += len(index)
            now = time.perf_counter()
            last = batch + 1 == batches or steps >= total_steps  # 100% is always reported
            if now - last_report >= PROGRESS_INTERVAL or last:
                last_report = now
                on_event(
                    Progress(
                        phase,
                        steps,
                        total_steps,
                        clock.elapsed,
                        clock.eta(steps, total_steps),
                        epoch=epoch,
                        epochs=cfg.epochs,
                        batch=batch + 1,
                        batches=batches,
                        loss=running / seen,
                    )
                )
        if status != "completed" or seen == 0:
            break  # a partial epoch is not validated: stopping must be quick
        val_loss, val_accuracy = validate(model)
        if not math.isfinite(val_loss):
            status, reason = "diverged", f"the validation loss became {val_loss} in epoch {epoch}"
            break
        if val_loss < best_loss - cfg.min_delta:
            best_loss, best_epoch, bad_epochs = val_loss, epoch, 0
            if cfg.keep_best:
                best_state = copy.deepcopy(model.state_dict())
        else:
            bad_epochs += 1
        if not cfg.keep_best:  # a finished epoch to go back to if the loss blows up
            best_state = copy.deepcopy(model.state_dict())
        event = EpochEnd(
            phase,
            epoch,
            cfg.epochs,
            running / seen,
            val_loss,
            best_epoch,
            best_loss,
            val_accuracy,
            steps,
            cfg.keep_best,
        )
        result.history.append(event)
        on_event(event)
        if after_epoch is not None:
            after_epoch(model, epoch)
        if bad_epochs >= cfg.patience:
            status = "early_stopped"
            reason = (
                f"early stopping: no improvement for {cfg.patience} epochs; best epoch {best_epoch}"
            )
            break
        if steps >= total_steps:
            break

    keep_last = not cfg.keep_best and status != "diverged"
    if best_state is not None and not keep_last:
        model.load_state_dict(best_state)
    if status == "completed":
        reason = f"finished {len(result.history)} epochs; best epoch {best_epoch}"
        if keep_last:  # the lowest validation loss chose nothing: shown, not called best
            reason = (
                f"finished {len(result.history)} epochs; kept the last weights "
                f"(lowest validation loss: epoch {best_epoch}, shown only)"
            )
    elif keep_last and status == "stopped":
        reason += "; kept the last weights"
    elif best_state is not None and status in ("stopped", "diverged"):
        which = "best" if cfg.keep_best else "last finished epoch's"
        reason += f"; kept the {which} weights (epoch {best_epoch if cfg.keep_best else epoch - 1})"
    model.eval()
    result.finished = Finished(
        phase, status, reason, best_epoch, best_loss, len(result.history), steps, clock.elapsed
    )
    on_event(result.finished)
    return result


@torch.no_grad()
def _chunked(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Model outputs for uint8 images (on the model's device), in chunks, in eval mode."""
    was_training = model.training
    model.eval()
    outputs = [model(to_float_images(chunk)) for chunk in images.split(EVAL_CHUNK)]
    model.train(was_training)
    return torch.cat(outputs)


# --------------------------------------------------------------------------- pretraining


@dataclass
class PretrainResult:
    model: Autoencoder
    fit: FitResult
    val_mse: float


def pretrain(
    data: Mnist,
    arch: ArchConfig,
    cfg: TrainConfig,
    on_event: EventSink = ignore_event,
    should_stop: StopCheck = never_stop,
    split: Split | None = None,
    n_show: int = 8,
    after_epoch: Callable[[nn.Module, int], None] | None = None,
) -> PretrainResult:
    """Train an autoencoder on the training split's images, without their labels.

    `after_epoch(model, epoch)` runs in this thread after each epoch's reconstructions
    (e.g. `engine.reports.latent.epoch_hook`, the latent map); it must not change the model.
    """
    cfg = cfg.validate()
    arch = arch.validate()
    split = split or split_train_val(len(data.train_images))
    device = pick_device(cfg.device)
    _seed_everything(cfg.seed)
    model = Autoencoder(arch).to(device)
    train_x = data.train_images[split.train].to(device)
    val_x = data.train_images[split.val].to(device)
    shown = val_x[:n_show]

    def make_batch(index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = to_float_images(train_x[index.to(device)])
        return x, x

    def loss_fn(output: torch.Tensor, inputs: torch.Tensor, _: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(output, inputs)

    def validate(net: nn.Module) -> tuple[float, None]:
        return reconstruction_mse(net, val_x), None

    def show(net: nn.Module, epoch: int) -> None:
        if n_show:
            recon = _chunked(net, shown).squeeze(1).cpu().numpy()
            original = to_float_images(shown).squeeze(1).cpu().numpy()
            on_event(Reconstructions(epoch, original, recon))
        if after_epoch is not None:
            after_epoch(net, epoch)

    result = fit(
        model,
        len(train_x),
        make_batch,
        loss_fn,
        validate,
        cfg,
        "pretrain",
        on_event,
        should_stop,
        after_epoch=show,
    )
    return PretrainResult(model, result, reconstruction_mse(model, val_x))


def reconstruction_mse(model: nn.Module, images: torch.Tensor) -> float:
    """Mean squared error per pixel of reconstructions of uint8 images."""
    total = 0.0
    for chunk in images.split(EVAL_CHUNK):
        recon = _chunked(model, chunk)
        total += float(F.mse_loss(recon, to_float_images(chunk), reduction="sum"))
    return total / (len(images) * 28 * 28)


# ----------------------------------------------------------------------------- fine-tuning


@dataclass
class FinetuneResult:
    model: Classifier
    fit: FitResult
    val_accuracy: float
    unlabelled: int = 0  # unlabelled images learned from (semi-supervised mode), else 0
    pseudo_labels: list[PseudoLabels] = field(default_factory=list)  # one per round
    n_labelled: int = 0  # images trained on: the labelled indices plus any `extra` ones


def make_classifier(arch: ArchConfig, encoder: nn.Module | None, freeze: bool) -> Classifier:
    """A classifier on a copy of `encoder` (None: a fresh one, i.e. from scratch)."""
    encoder = copy.deepcopy(encoder) if encoder is not None else None
    model = Classifier(arch, encoder)
    model.set_frozen(freeze)
    return model


def finetune(
    data: Mnist,
    arch: ArchConfig,
    cfg: TrainConfig,
    labelled: Labels | torch.Tensor,
    encoder: nn.Module | None = None,
    freeze: bool = False,
    on_event: EventSink = ignore_event,
    should_stop: StopCheck = never_stop,
    split: Split | None = None,
    *,
    val_indices: torch.Tensor | None = None,
    round_steps: int | None = None,
    unlabelled: torch.Tensor | None = None,
    semisup: SemiSupConfig | None = None,
    extra: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> FinetuneResult:
    """Train the even/odd classifier on the `labelled` training images: `Labels` (digits,
    parities or both, as a person gave them), or training indices whose MNIST labels are
    revealed as digits (the simulated annotator, `engine.data.labels.reveal`).

    `encoder` is copied, never changed; None trains from scratch with a fresh encoder of
    the same architecture. Validation (early stopping) uses the split's validation images,
    or the training images `val_indices` when given.

    `round_steps` switches from epochs to rounds (used by the study, where a 100-label
    epoch is a single batch): every round is `round_steps` batches drawn from a
    `BatchStream` over the labelled images, then a validation, so `cfg.epochs` and
    `cfg.patience` count rounds and the best round's weights are kept.

    `unlabelled` (training indices) switches on semi-supervised fine-tuning
    (`engine.learning.semisup`): each step also learns from `semisup.unlabelled_batch` of those
    images, of which only the pixels are read. It needs `round_steps` (a round is then a
    fixed number of steps, as with few labels an epoch would be a single batch).

    `extra` = (uint8 images (M, 28, 28), parity targets (M,) 0 even / 1 odd) are labelled
    images from elsewhere (the user's own drawings), trained on with the `labelled` ones;
    `n_labelled` in the result counts both.
    """
    cfg = cfg.validate()
    arch = arch.validate()
    labels = labelled if isinstance(labelled, Labels) else reveal(data.train_labels, labelled)
    if len(labels) == 0:
        raise ConfigError("fine-tuning needs at least one labelled image")
    if round_steps is not None and round_steps < 1:
        raise ConfigError(f"a round must have at least one step, not {round_steps}")
    split = split or split_train_val(len(data.train_images))
    val_indices = split.val if val_indices is None else val_indices
    device = pick_device(cfg.device)
    _seed_everything(cfg.seed)
    model = make_classifier(arch, encoder, freeze).to(device)
    train_x = data.train_images[labels.indices]
    train_y = labels.odd.clone()
    if extra is not None:
        train_x, train_y = _append_extra(train_x, train_y, extra)
    # each labelled image's class for a class head (graph.label_classes); a drawing is a
    # class of its own, as a parity-only label is
    n_classes = class_count(labels) + len(train_x) - len(labels)
    drawings = torch.arange(class_count(labels), n_classes)
    train_class = torch.cat([label_classes(labels), drawings])
    parities = class_parities(train_class, train_y, n_classes)
    train_x, train_y, train_class = train_x.to(device), train_y.to(device), train_class.to(device)
    val_x = data.train_images[val_indices].to(device)
    val_y = parity(data.train_labels[val_indices]).to(device)
    augmenter = torch.Generator(device=device).manual_seed(cfg.seed + 1)
    epoch_order = None
    n_train = len(train_x)
    if round_steps is not None:  # a round's batches come from an endless stream of passes
        n_train = round_steps * cfg.batch_size
        stream = BatchStream(len(train_x), cfg.seed)
        epoch_order = lambda: stream.take(n_train)  # noqa: E731

    def labelled_batch(index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        index = index.to(device)
        x = to_float_images(train_x[index])
        if cfg.augment:
            x = augment_batch(x, augmenter)
        return x, train_y[index]

    def loss_fn(output: torch.Tensor, _: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(output, target)

    net: nn.Module = model  # what trains: the classifier, or it with a class head
    make_batch, after_round, consistency = labelled_batch, None, None
    if unlabelled is not None:
        if round_steps is None:
            raise ConfigError("semi-supervised fine-tuning trains in rounds of steps")
        semisup = (semisup or SemiSupConfig()).validate()
        total_steps = cfg.max_steps or cfg.epochs * round_steps
        guided_steps = round(semisup.guided * total_steps)
        guesses = None
        if guided_steps:
            guesses = _graph_guesses(data, labels, unlabelled, on_event, should_stop)
        if semisup.class_weight > 0:
            net = ClassHead(model, n_classes).to(device)
        consistency = Consistency(
            net, data.train_images[unlabelled].to(device), semisup, cfg.seed,
            guesses=None if guesses is None else guesses.p_odd.to(device),
            guided_steps=guided_steps,
            classes=None if guesses is None else guesses.classes.to(device),
            class_parities=parities.to(device),
        )  # fmt: skip

        def make_batch(index: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
            """Labelled then unlabelled images; targets: (parity, its weight) and, with a
            class head, (class, its weight) per image."""
            x, y = labelled_batch(index)
            index = index.to(device)
            part = consistency.batch()
            weights = torch.cat([torch.full_like(y, 1 / len(y)), part.weights / len(part.targets)])
            x = torch.cat([x, part.images])
            targets = (torch.cat([y, part.targets]), weights)
            if part.classes is None:
                return x, targets
            class_weights = torch.cat([
                torch.full_like(y, semisup.class_weight / len(y)),
                part.class_weights / len(part.classes),
            ])  # fmt: skip
            return x, (*targets, torch.cat([train_class[index], part.classes]), class_weights)

        def loss_fn(output: torch.Tensor, _: torch.Tensor, target: tuple) -> torch.Tensor:
            """Mean BCE of the labelled images + weight x mean masked BCE of the others; with
            a class head, the same of its cross-entropy."""
            logit = output[:, 0] if output.dim() == 2 else output
            losses = F.binary_cross_entropy_with_logits(logit, target[0], reduction="none")
            loss = (losses * target[1]).sum()
            if len(target) == 4:
                classes = F.cross_entropy(output[:, 1:], target[2], reduction="none")
                loss = loss + (classes * target[3]).sum()
            return loss

        def after_round(_: nn.Module, epoch: int) -> None:
            consistency.end_round(epoch, epoch * round_steps, on_event)

    def validate(_: nn.Module) -> tuple[float, float]:
        """The classifier's validation loss and accuracy (a class head aside)."""
        logits = _chunked(model, val_x)
        loss = float(F.binary_cross_entropy_with_logits(logits, val_y))
        accuracy = float(((logits > 0).float() == val_y).float().mean())
        return loss, accuracy

    result = fit(
        net, n_train, make_batch, loss_fn, validate, cfg, "finetune", on_event, should_stop,
        after_epoch=after_round, epoch_order=epoch_order,
    )  # fmt: skip
    if consistency is None:
        return FinetuneResult(model, result, validate(model)[1], n_labelled=len(train_x))
    return FinetuneResult(
        model,
        result,
        validate(model)[1],
        len(unlabelled),
        list(consistency.history),
        n_labelled=len(train_x),
    )


def _graph_guesses(
    data: Mnist,
    labels: Labels,
    unlabelled: torch.Tensor,
    on_event: EventSink,
    should_stop: StopCheck,
) -> Guesses | None:
    """The neighbour graph's guesses for the unlabelled images (engine.learning.graph),
    read from the given labels alone; None if stopped meanwhile (then `fit` stops at its
    first batch)."""
    clock = Stopwatch()
    on_event(Message(f"spreading the {len(labels)} labels over a graph of similar images"))
    missing = missing_digits(labels)
    if may_stand_in(missing, len(labels) + len(unlabelled)):
        names = ", ".join(str(d) for d in missing)
        on_event(Message(f"no label names {names}: looking for groups of images no label reaches"))
    guesses = guess(
        data.train_images, labels, unlabelled, should_stop, chunk_progress(GRAPH_PHASE, on_event)
    )
    if guesses is not None:
        done = f"first guesses for {len(unlabelled):,} unlabelled images in {clock.elapsed:.0f} s"
        on_event(Message(done))
        if guesses.missing:
            # a warning: the app keeps it in view for the whole run
            on_event(Message(missing_message(guesses.missing, guesses.stood_in), "warning"))
    return guesses


def missing_message(missing: tuple[int, ...], stood_in: tuple[int, ...]) -> str:
    """One line on the digits no label named and what the first guesses did about them."""
    names = ", ".join(str(d) for d in missing)
    if stood_in:
        taken = ", ".join(str(d) for d in stood_in)
        parity = "odd" if stood_in[0] % 2 else "even"
        return f"no label names {names}: groups no label reached were taken as {taken} ({parity})"
    if not one_parity(missing):
        return (
            f"no label names {names}, even and odd digits both: their images get the parity "
            "of the labelled digits they resemble; label one of each for a sure answer"
        )
    return f"no label names {names}: their images get the parity of the digits they resemble"


def _append_extra(
    images: torch.Tensor, targets: torch.Tensor, extra: tuple[torch.Tensor, torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor]:
    """`images`/`targets` with the extra labelled images after them, checked first."""
    extra_x, extra_y = extra
    if extra_x.dtype != torch.uint8 or extra_x.shape[1:] != images.shape[1:]:
        raise ConfigError(
            f"extra images must be uint8 (N, 28, 28), not {extra_x.dtype} {tuple(extra_x.shape)}"
        )
    if extra_y.shape != (len(extra_x),):
        raise ConfigError(f"{len(extra_x)} extra images but {tuple(extra_y.shape)} targets")
    if not bool(((extra_y == 0) | (extra_y == 1)).all()):
        raise ConfigError("extra targets must be 0 (even) or 1 (odd)")
    return torch.cat([images, extra_x.cpu()]), torch.cat([targets, extra_y.float().cpu()])


def predict_proba(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """P(odd) for uint8 images (N, 28, 28), on the CPU."""
    device = next(model.parameters()).device
    return torch.sigmoid(_chunked(model, images.to(device))).cpu()
