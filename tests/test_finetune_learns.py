"""Fine-tuning learns: a few seconds that fail when the classifier stops learning.

Every other training test checks what a run leaves (events, files, seeds, stops); this one
checks that it learns at all. The task is helpers_data's synthetic digits: ten fixed
patterns, shifted and noisy, whose parity a small network learns in a few dozen steps. The
test set holds as many even as odd digits, so always answering one class scores 0.5; a run
whose optimiser no longer moves the weights (a zero learning rate, a detached loss, a
frozen model) stays near that, and the 0.9 asked for here is far above it.
"""

from __future__ import annotations

import pytest
from helpers_data import small_mnist

from engine.config import ArchConfig, TrainConfig
from engine.jobs.workflows import FinetuneJob, evaluate_model, finetune_and_save
from engine.learning.models import Classifier

# An MLP trains here in well under a second; the conv net learns the same but 5x slower.
ARCH = ArchConfig(arch="mlp", latent=16, head_hidden=16)
TRAIN = TrainConfig(epochs=6, batch_size=32, lr=3e-3, patience=10)
WELL_ABOVE_CHANCE = 0.9

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def digits():
    """400 training images (40 of them validation) and 200 test images, half of them odd."""
    data = small_mnist(400, 200, seed=3)
    assert int((data.test_labels % 2).sum()) == 100  # chance is 0.5
    return data


def test_an_untrained_classifier_is_near_chance(digits):
    """What the threshold is measured against: the same network before any step."""
    assert abs(evaluate_model(Classifier(ARCH).eval(), digits).accuracy - 0.5) < 0.2


def test_finetuning_with_every_label_learns_parity(digits):
    trained = finetune_and_save(digits, FinetuneJob(ARCH, TRAIN, labels=None))
    assert trained.finished.status == "completed"
    assert trained.result.val_accuracy >= WELL_ABOVE_CHANCE  # the engine's own validation
    assert evaluate_model(trained.model, digits).accuracy >= WELL_ABOVE_CHANCE  # unseen images


def test_finetuning_a_small_budget_learns_parity(digits):
    """The app's default below all labels: 20 labels, the fixed schedule in rounds, the
    unlabelled images learned from alongside (engine.learning.semisup)."""
    job = FinetuneJob(ARCH, TRAIN, labels=20, steps=60)
    trained = finetune_and_save(digits, job)
    assert trained.checkpoint.extra["mode"] == "semi-supervised"
    assert trained.finished.steps == 60
    assert evaluate_model(trained.model, digits).accuracy >= WELL_ABOVE_CHANCE
