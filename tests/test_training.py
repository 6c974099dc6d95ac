"""The training loop: early stopping, the stop flag, NaN, seeding, events, step caps."""

from __future__ import annotations

import copy
import math
import threading

import numpy as np
import pytest
import torch
from helpers_weights import same_weights, weights
from torch import nn
from torch.nn import functional as F

import engine.learning.device
from engine.config import ArchConfig, ConfigError, TrainConfig
from engine.data.mnist import label_budget
from engine.events import EpochEnd, Finished, Progress, Reconstructions
from engine.learning.device import training_precision
from engine.learning.models import Autoencoder
from engine.learning.training import (
    BatchStream,
    finetune,
    fit,
    make_optimizer,
    pretrain,
    reconstruction_mse,
)

ARCH = ArchConfig(arch="conv", latent=8, width=4, dropout=0.1, head_hidden=8)
FAST = TrainConfig(epochs=1, batch_size=32, lr=3e-3, max_steps=3)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def labelled(data, split):
    return label_budget(data.train_labels, split.train, 60, seed=0)


class Toy:
    """A linear model and a regression problem for driving `fit` directly."""

    def __init__(self, n: int = 40, batch_size: int = 10) -> None:
        torch.manual_seed(0)
        self.model = nn.Linear(4, 1)
        self.x, self.y = torch.randn(n, 4), torch.randn(n, 1)
        self.n, self.batches_made, self.snapshots = n, 0, {}
        self.cfg = TrainConfig(
            epochs=20, batch_size=batch_size, lr=0.1, patience=2, min_delta=0.0,
            schedule="constant",
        )  # fmt: skip

    def make_batch(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.batches_made += 1
        return self.x[index], self.y[index]

    @staticmethod
    def loss_fn(output, _inputs, target):
        return F.mse_loss(output, target)

    def snapshot(self, model: nn.Module, epoch: int) -> None:
        self.snapshots[epoch] = weights(model)

    def fit(self, validate, **kwargs):
        options = {"after_epoch": self.snapshot, **kwargs}
        cfg = options.pop("cfg", self.cfg)
        return fit(
            self.model, self.n, self.make_batch, self.loss_fn, validate, cfg, "toy", **options
        )


def scripted(losses: list[float]):
    values = iter(losses)
    return lambda model: (next(values), None)


# --------------------------------------------------------------------------- early stopping


def test_early_stopping_restores_best_weights():
    toy = Toy()
    events = []
    result = toy.fit(scripted([1.0, 0.5, 0.9, 0.95, 0.99]), on_event=events.append)
    finished = result.finished
    assert finished.status == "early_stopped"
    assert finished.best_epoch == 2 and finished.epochs_run == 4
    assert finished.best_val_loss == 0.5
    assert set(toy.snapshots) == {1, 2, 3, 4}
    assert not same_weights(toy.snapshots[2], toy.snapshots[4]), "weights should have moved on"
    assert same_weights(weights(toy.model), toy.snapshots[2])
    assert [e.best_epoch for e in result.history] == [1, 2, 2, 2]
    assert events[-1] is finished and not toy.model.training
    assert result.ok


def test_improvements_below_min_delta_do_not_count():
    toy = Toy()
    cfg = TrainConfig(epochs=20, batch_size=10, lr=0.1, patience=2, min_delta=0.01)
    result = toy.fit(scripted([1.0, 0.995, 0.991, 0.5]), cfg=cfg)
    assert result.finished.status == "early_stopped"
    assert result.finished.best_epoch == 1 and result.finished.epochs_run == 3
    assert same_weights(weights(toy.model), toy.snapshots[1])


def test_completed_run_keeps_best_not_last():
    toy = Toy()
    cfg = TrainConfig(epochs=3, batch_size=10, lr=0.1, patience=5, schedule="constant")
    result = toy.fit(scripted([0.8, 0.3, 0.6]), cfg=cfg)
    assert result.finished.status == "completed" and result.finished.best_epoch == 2
    assert same_weights(weights(toy.model), toy.snapshots[2])


def test_completed_run_can_keep_its_last_weights_instead():
    toy = Toy()
    cfg = TrainConfig(
        epochs=3, batch_size=10, lr=0.1, patience=5, schedule="constant", keep_best=False
    )
    result = toy.fit(scripted([0.8, 0.3, 0.6]), cfg=cfg)
    assert result.finished.status == "completed" and result.finished.best_epoch == 2
    assert same_weights(weights(toy.model), toy.snapshots[3])
    assert "last weights" in result.finished.reason
    # Epoch 2's lowest validation loss chose nothing: shown as such, never as "best epoch".
    assert "lowest validation loss: epoch 2, shown only" in result.finished.reason
    assert "best epoch" not in result.finished.reason
    assert [event.keeps_best for event in result.history] == [False] * 3


def test_a_stopped_run_keeping_the_last_weights_keeps_them_not_the_best():
    """keep_best=False is the honest mode for small label budgets: validation chooses
    nothing, not even when the user stops (issue 11)."""
    toy = Toy()
    calls, at_stop = 0, None

    def should_stop() -> bool:
        nonlocal calls, at_stop
        calls += 1
        if calls > 10:  # in epoch 3, after two validated epochs
            at_stop = at_stop or weights(toy.model)
            return True
        return False

    cfg = TrainConfig(epochs=5, batch_size=10, lr=0.1, patience=5, keep_best=False)
    result = toy.fit(scripted([0.3, 0.6, 0.9]), cfg=cfg, should_stop=should_stop)
    assert result.finished.status == "stopped"
    assert not same_weights(weights(toy.model), toy.snapshots[1])  # the best epoch by validation
    assert same_weights(weights(toy.model), at_stop)
    assert "last weights" in result.finished.reason


def test_a_diverged_run_keeping_the_last_weights_goes_back_to_its_last_finished_epoch():
    toy = Toy()
    cfg = TrainConfig(epochs=5, batch_size=10, lr=0.1, patience=5, keep_best=False)
    result = toy.fit(scripted([0.3, 0.6, math.nan]), cfg=cfg)
    assert result.finished.status == "diverged"
    assert same_weights(weights(toy.model), toy.snapshots[2])


# -------------------------------------------------------------------------------- stopping


def test_stop_flag_stops_within_one_batch():
    toy = Toy()  # 4 batches per epoch
    calls = 0

    def should_stop() -> bool:
        nonlocal calls
        calls += 1
        return calls > 6  # stop is asked for before the 7th batch (epoch 2, batch 3)

    result = toy.fit(scripted([1.0] * 10), should_stop=should_stop)
    assert toy.batches_made == 6
    finished = result.finished
    assert finished.status == "stopped" and finished.steps == 6
    assert finished.epochs_run == 1  # the partial epoch is not validated
    assert "kept the best weights (epoch 1)" in finished.reason
    assert same_weights(weights(toy.model), toy.snapshots[1])
    assert result.ok


def test_stop_before_first_batch():
    toy = Toy()
    result = toy.fit(scripted([1.0]), should_stop=lambda: True)
    assert toy.batches_made == 0
    assert result.finished.status == "stopped" and result.finished.steps == 0


def test_pretrain_stops_one_batch_after_the_flag(data, split):
    """The stop flag is set by the first progress event (after batch 1): one batch runs."""
    flag = {"stop": False}
    events = []

    def on_event(event) -> None:
        events.append(event)
        if isinstance(event, Progress):
            flag["stop"] = True

    cfg = TrainConfig(epochs=3, batch_size=16, lr=1e-3)
    result = pretrain(data, ARCH, cfg, on_event, lambda: flag["stop"], split=split)
    finished = result.fit.finished
    assert finished.status == "stopped" and finished.steps == 1
    assert not any(isinstance(e, EpochEnd) for e in events)
    assert isinstance(events[-1], Finished)


# ------------------------------------------------------------------------------------- NaN


def test_nan_loss_stops_as_diverged_and_keeps_best():
    toy = Toy()
    calls = 0

    def loss_fn(output, inputs, target):
        nonlocal calls
        calls += 1
        loss = F.mse_loss(output, target)
        return loss * float("nan") if calls == 6 else loss

    toy.loss_fn = loss_fn
    result = toy.fit(scripted([1.0] * 10))
    finished = result.finished
    assert finished.status == "diverged" and not result.ok
    assert "nan" in finished.reason and "learning rate" in finished.reason
    assert finished.steps == 5  # the NaN batch was not applied
    assert same_weights(weights(toy.model), toy.snapshots[1])
    assert all(torch.isfinite(p).all() for p in toy.model.parameters())


def test_inf_loss_in_first_epoch():
    toy = Toy()
    toy.loss_fn = lambda output, inputs, target: F.mse_loss(output, target) + math.inf
    before = weights(toy.model)
    result = toy.fit(scripted([1.0]))
    assert result.finished.status == "diverged" and "inf" in result.finished.reason
    assert same_weights(weights(toy.model), before)


def test_nan_validation_loss_is_diverged():
    toy = Toy()
    result = toy.fit(scripted([1.0, float("nan")]))
    assert result.finished.status == "diverged"
    assert "validation" in result.finished.reason
    assert same_weights(weights(toy.model), toy.snapshots[1])


@pytest.mark.parametrize(("lr", "status"), [(10.0, "diverged"), (1e-3, "completed")])
def test_huge_learning_rate_diverges_with_a_message(lr, status):
    """A real loss that overflows after one too-big step (no scripted NaN)."""
    torch.manual_seed(0)
    model = nn.Linear(784, 1)
    x, y = torch.rand(64, 784), torch.zeros(64)

    def make_batch(index):
        return x[index], y[index]

    def loss_fn(output, _, target):
        return torch.cosh(output.squeeze(1) - target).mean()

    cfg = TrainConfig(epochs=3, batch_size=16, lr=lr, schedule="constant", patience=50)
    events = []
    result = fit(model, 64, make_batch, loss_fn, lambda m: (1.0, None), cfg, "toy", events.append)
    assert result.finished.status == status
    assert isinstance(events[-1], Finished) and events[-1].status == status
    if status == "diverged":
        assert "try a smaller learning rate" in result.finished.reason


# ------------------------------------------------------------------------------- seeding


def _params(model: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def _all_equal(a, b) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def test_pretrain_same_seed_same_weights(data, split):
    runs = [
        pretrain(data, ARCH, TrainConfig(**{**FAST.to_dict(), "seed": seed}), split=split)
        for seed in (0, 0, 1)
    ]
    a, b, c = (_params(r.model) for r in runs)
    assert _all_equal(a, b)
    assert not _all_equal(a, c)


def test_finetune_same_seed_same_weights(data, split, labelled):
    encoder = Autoencoder(ARCH).encoder
    cfg = dict(FAST.to_dict(), augment=True)  # augmentation must be seeded too
    runs = [
        finetune(data, ARCH, TrainConfig(**{**cfg, "seed": s}), labelled, encoder, split=split)
        for s in (3, 3, 4)
    ]
    a, b, c = (_params(r.model) for r in runs)
    assert _all_equal(a, b)
    assert not _all_equal(a, c)


def test_finetune_from_scratch_same_seed_same_weights(data, split, labelled):
    cfg = TrainConfig(epochs=1, batch_size=16, max_steps=2, seed=5)
    a = _params(finetune(data, ARCH, cfg, labelled, None, split=split).model)
    b = _params(finetune(data, ARCH, cfg, labelled, None, split=split).model)
    assert _all_equal(a, b)


# ----------------------------------------------------------------------- phases and events


def test_pretrain_events_and_result(data, split):
    events = []
    cfg = TrainConfig(epochs=2, batch_size=32, lr=3e-3, patience=5)
    result = pretrain(data, ARCH, cfg, events.append, split=split, n_show=5)
    epochs = [e for e in events if isinstance(e, EpochEnd)]
    progress = [e for e in events if isinstance(e, Progress)]
    shown = [e for e in events if isinstance(e, Reconstructions)]
    batches = math.ceil(len(split.train) / 32)

    assert [e.epoch for e in epochs] == [1, 2]
    assert all(e.phase == "pretrain" and math.isfinite(e.val_loss) for e in epochs)
    assert all(e.val_accuracy is None for e in epochs)
    assert epochs[-1].steps == 2 * batches
    assert progress and all(p.phase == "pretrain" and p.total == 2 * batches for p in progress)
    assert progress[-1].done == 2 * batches and progress[-1].eta == pytest.approx(0.0)
    assert all(p.loss is not None and p.batches == batches for p in progress)
    assert [r.epoch for r in shown] == [1, 2]
    for r in shown:
        assert r.originals.shape == r.reconstructions.shape == (5, 28, 28)
        assert isinstance(r.reconstructions, np.ndarray)
        assert r.reconstructions.min() >= 0 and r.reconstructions.max() <= 1
    assert isinstance(events[-1], Finished) and events[-1] is result.fit.finished
    assert events[-1].status == "completed" and events[-1].epochs_run == 2
    assert result.fit.history == epochs

    # it learned something: better than the untrained network with the same seed
    torch.manual_seed(cfg.seed)
    untrained = Autoencoder(ARCH)
    val = data.train_images[split.val]
    assert result.val_mse < reconstruction_mse(untrained, val)
    assert result.val_mse == pytest.approx(reconstruction_mse(result.model, val))


def test_finetune_events_have_accuracy(data, split, labelled):
    events = []
    cfg = TrainConfig(epochs=2, batch_size=16, lr=3e-3, patience=5)
    result = finetune(data, ARCH, cfg, labelled, None, on_event=events.append, split=split)
    epochs = [e for e in events if isinstance(e, EpochEnd)]
    assert len(epochs) == 2 and all(e.phase == "finetune" for e in epochs)
    # accuracies of the validation images: whole counts of them, and the run's own is the
    # epoch it went back to (the best), scored again on its restored weights
    n_val = len(split.val)
    assert all(
        e.val_accuracy * n_val == pytest.approx(round(e.val_accuracy * n_val)) for e in epochs
    )
    assert result.val_accuracy == pytest.approx(epochs[epochs[-1].best_epoch - 1].val_accuracy)
    assert not any(isinstance(e, Reconstructions) for e in events)
    assert isinstance(events[-1], Finished) and events[-1].phase == "finetune"


def test_max_steps_is_respected(data, split):
    cfg = TrainConfig(epochs=5, batch_size=32, max_steps=7, patience=10)
    events = []
    result = pretrain(data, ARCH, cfg, events.append, split=split, n_show=0)
    assert result.fit.finished.steps == 7
    assert max(e.done for e in events if isinstance(e, Progress)) == 7
    assert all(e.total == 7 for e in events if isinstance(e, Progress))
    assert result.fit.finished.epochs_run == 2  # 6 steps in epoch 1, one in epoch 2


def test_max_steps_in_fit_counts_batches():
    toy = Toy()
    cfg = TrainConfig(epochs=20, batch_size=10, max_steps=9, patience=50)
    result = toy.fit(scripted([1.0] * 20), cfg=cfg)
    assert toy.batches_made == 9 and result.finished.steps == 9
    assert result.finished.status == "completed"


def test_finetune_never_changes_the_given_encoder(data, split, labelled):
    encoder = Autoencoder(ARCH).encoder
    before = weights(encoder)
    cfg = TrainConfig(epochs=1, batch_size=16, lr=1e-2, max_steps=3)
    result = finetune(data, ARCH, cfg, labelled, encoder, freeze=False, split=split)
    assert same_weights(weights(encoder), before)
    assert not same_weights(weights(result.model.encoder), before)  # the copy was trained


def test_frozen_encoder_is_not_trained(data, split, labelled):
    encoder = Autoencoder(ARCH).encoder
    cfg = TrainConfig(epochs=1, batch_size=16, lr=1e-2, max_steps=3)
    result = finetune(data, ARCH, cfg, labelled, encoder, freeze=True, split=split)
    assert same_weights(weights(result.model.encoder), weights(encoder))
    assert result.fit.finished.steps == 3


# ------------------------------------------------------------------------------- settings


@pytest.mark.parametrize(
    ("changes", "word"),
    [
        ({"epochs": 0}, "epochs"),
        ({"batch_size": 0}, "batch size"),
        ({"lr": 0.0}, "learning rate"),
        ({"lr": float("nan")}, "learning rate"),
        ({"lr": float("inf")}, "learning rate"),
        ({"weight_decay": -1.0}, "weight decay"),
        ({"patience": 0}, "patience"),
        ({"min_delta": -0.1}, "min_delta"),
        ({"max_steps": 0}, "max_steps"),
        ({"schedule": "cosine"}, "schedule"),
        ({"precision": "float16"}, "precision"),
    ],
)
def test_bad_train_config(changes, word, data, split):
    cfg = TrainConfig(**changes)
    with pytest.raises(ConfigError, match=word):
        cfg.validate()
    events = []
    with pytest.raises(ConfigError):
        pretrain(data, ARCH, cfg, events.append, split=split)
    assert events == []  # refused before anything ran


def test_finetune_needs_labels(data, split):
    with pytest.raises(ConfigError, match="labelled"):
        finetune(data, ARCH, FAST, torch.tensor([], dtype=torch.long), split=split)


def test_fit_refuses_a_model_with_nothing_to_train():
    toy = Toy()
    toy.model.requires_grad_(False)
    with pytest.raises(ConfigError, match="nothing to train"):
        toy.fit(scripted([1.0]))


def test_optimizer_is_adam_fused_on_the_cpu_with_the_same_updates():
    torch.manual_seed(0)
    a = nn.Linear(20, 3)
    b = copy.deepcopy(a)
    cfg = TrainConfig(lr=1e-2, weight_decay=1e-3)
    fused = make_optimizer(list(a.parameters()), cfg)
    plain = torch.optim.Adam(b.parameters(), lr=1e-2, weight_decay=1e-3)
    assert fused.defaults["fused"]
    x = torch.randn(32, 20)
    for _ in range(5):
        for model, optimizer in ((a, fused), (b, plain)):
            optimizer.zero_grad()
            model(x).square().mean().backward()
            optimizer.step()
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.allclose(p, q, atol=1e-6)


@pytest.mark.parametrize(
    ("name", "fast", "expected"),
    [
        ("float32", True, torch.float32),
        ("bfloat16", False, torch.bfloat16),
        ("auto", True, torch.bfloat16),
        ("auto", False, torch.float32),
    ],
)
def test_training_precision_auto_takes_bfloat16_only_where_it_is_fast(
    name, fast, expected, monkeypatch
):
    monkeypatch.setattr(engine.learning.device, "has_fast_bfloat16", lambda device: fast)
    assert training_precision(name, torch.device("cpu")) == expected


@pytest.mark.parametrize(
    ("amx", "avx512_bf16", "expected"),
    [(True, False, True), (False, True, True), (False, False, False)],
)
def test_a_cpu_has_fast_bfloat16_with_amx_or_avx512_bf16(amx, avx512_bf16, expected, monkeypatch):
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16, raising=False)
    assert engine.learning.device.has_fast_bfloat16(torch.device("cpu")) is expected


def test_bfloat16_training_keeps_float32_weights_and_changes_the_products(data, split):
    runs = {
        precision: pretrain(
            data, ARCH, TrainConfig(**{**FAST.to_dict(), "precision": precision}), split=split
        )
        for precision in ("float32", "bfloat16")
    }
    low = runs["bfloat16"]
    assert low.fit.finished.status == "completed" and math.isfinite(low.val_mse)
    assert all(p.dtype == torch.float32 for p in low.model.parameters())
    assert not _all_equal(_params(low.model), _params(runs["float32"].model))


def test_train_config_round_trip():
    cfg = TrainConfig(epochs=3, lr=0.01, max_steps=5, augment=True)
    assert TrainConfig.from_dict({**cfg.to_dict(), "unknown": 1}) == cfg


def test_batch_stream_uses_every_index_equally_often():
    stream = BatchStream(7, seed=0)
    taken = torch.cat([stream.take(5) for _ in range(7)])  # 35 = five passes over 7
    assert torch.bincount(taken, minlength=7).tolist() == [5] * 7
    assert torch.equal(BatchStream(7, seed=0).take(35), taken)


def test_finetune_in_rounds_validates_every_round_on_the_given_images(data, split):
    labelled = label_budget(data.train_labels, split.train, 20, seed=0)  # under one batch
    cfg = TrainConfig(epochs=3, batch_size=32, lr=1e-3, patience=10, max_steps=8)
    result = finetune(
        data, ArchConfig(arch="mlp"), cfg, labelled, val_indices=split.val[:10], round_steps=3
    )
    assert [e.steps for e in result.fit.history] == [3, 6, 8]  # rounds, cut at max_steps
    assert result.fit.finished.steps == 8
    assert result.val_accuracy * 10 == pytest.approx(round(result.val_accuracy * 10))


# ------------------------------------------------------------------------------ denormals


def test_training_on_the_cpu_flushes_denormals_in_its_thread():
    """Denormal weights (from weight decay) made steps twice as slow; fit flushes them."""
    seen: dict[str, float] = {}

    def train() -> None:  # in a thread of its own, so the test's thread keeps its setting
        if not torch.set_flush_denormal(False):
            seen["unsupported"] = 1.0
            return
        tiny = torch.tensor([1e-39])  # a denormal float32 (made here: flushing zeroes it)
        seen["before"] = float(tiny * 1.0)
        Toy().fit(scripted([1.0] * 20))
        seen["after"] = float(tiny * 1.0)
        torch.set_flush_denormal(False)

    thread = threading.Thread(target=train)
    thread.start()
    thread.join(60)
    if "unsupported" in seen:
        pytest.skip("this CPU cannot flush denormals")
    assert seen["before"] > 0.0  # the check sees denormals when they are not flushed
    assert seen["after"] == 0.0
