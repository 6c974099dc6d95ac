"""The workflow layer: one split, one parity rule, one save with all the metadata."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from engine.config import ArchConfig, TrainConfig
from engine.data.mnist import (
    ODD_THRESHOLD,
    parity_word,
    predicted_odd,
    read_folder,
    split_train_val,
)
from engine.jobs.workflows import (
    EncoderSource,
    FinetuneJob,
    PretrainJob,
    RunOptions,
    finetune_and_save,
    predict_images,
    pretrain_and_save,
    validation_split,
)
from engine.learning.models import Deskew
from engine.store.checkpoint import file_sha256, load_checkpoint

TINY = ArchConfig(arch="mlp", latent=8, width=4)
ONE_EPOCH = TrainConfig(epochs=1, batch_size=64)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def mnist(tiny_mnist_dir):
    return read_folder(tiny_mnist_dir)


def test_one_parity_rule_for_numbers_arrays_and_tensors():
    assert ODD_THRESHOLD == 0.5
    assert parity_word(0.5) == "even" and parity_word(0.5001) == "odd"
    assert predicted_odd(np.array([0.2, 0.5, 0.9])).tolist() == [False, False, True]
    assert predicted_odd(torch.tensor([0.7, 0.1])).tolist() == [True, False]


def test_the_app_splits_like_the_engine(mnist):
    from gui.panels.data_panel import summarise

    app = summarise(mnist).split
    engine_split = split_train_val(len(mnist.train_images))
    assert torch.equal(app.val, engine_split.val) and torch.equal(app.train, engine_split.train)
    assert torch.equal(validation_split(mnist).val, engine_split.val)
    assert len(app.val) == len(mnist.train_images) // 10  # a small set holds out a tenth


def test_pretrain_then_finetune_save_files_with_lineage(mnist, tmp_path):
    pre = pretrain_and_save(mnist, PretrainJob(TINY, ONE_EPOCH), RunOptions(tmp_path))
    assert set(pre.files) == {"autoencoder", "encoder"}
    assert pre.sha256["encoder"] == file_sha256(tmp_path / "encoder.pt")
    encoder = EncoderSource.from_checkpoint(load_checkpoint(tmp_path / "encoder.pt"))
    job = FinetuneJob(train=ONE_EPOCH, labels=50, encoder=encoder, freeze=True, steps=20)
    fine = finetune_and_save(mnist, job, RunOptions(tmp_path / "clf"))
    saved = load_checkpoint(tmp_path / "clf" / "classifier.pt")
    # the encoder's architecture, not the job's default; below all labels it deskews
    assert saved.arch == dataclasses.replace(TINY, deskew=True)
    assert saved.encoder_sha256 == pre.sha256["encoder"]
    n_train = len(validation_split(mnist).train)
    assert saved.extra == {
        "labels": 50,
        "freeze_encoder": True,
        "encoder_source": "encoder file encoder.pt",
        "mode": "semi-supervised",  # below all labels, by default
        "unlabelled": n_train - 50,
        "semisup": job.semisup.to_dict(),
        "confident": fine.result.pseudo_labels[-1].confident,
        "pick": "suggested",  # chosen from pixels alone, by default
        "label_kind": "digit",
        "labelled_indices": fine.checkpoint.extra["labelled_indices"],
    }
    assert saved.train_config["max_steps"] == 20 and saved.train_config["keep_best"] is False
    assert saved.metrics["val_accuracy"] == fine.result.val_accuracy
    assert saved.metrics["status"] == fine.finished.status


@pytest.mark.parametrize(
    ("labels", "choice", "deskewed"),
    [(50, None, True), (None, None, False), (50, False, False), (None, True, True)],
    ids=["few-labels", "all-labels", "few-but-off", "all-but-on"],
)
def test_the_classifier_deskews_below_all_labels_unless_told(mnist, labels, choice, deskewed):
    job = FinetuneJob(TINY, ONE_EPOCH, labels=labels, unlabelled=False, steps=2, deskew=choice)
    trained = finetune_and_save(mnist, job)
    assert trained.checkpoint.arch.deskew is deskewed
    assert isinstance(trained.model.prepare, Deskew) is deskewed


def test_the_study_deskews_as_the_app_does():
    from engine.study.settings import StudySettings

    assert StudySettings().arch("conv", 100).deskew is True
    assert StudySettings().arch("conv", None).deskew is False


def test_without_a_folder_nothing_is_written(mnist, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    trained = pretrain_and_save(mnist, PretrainJob(TINY, ONE_EPOCH))
    assert trained.files == {} and list(tmp_path.iterdir()) == []
    assert trained.checkpoint.kind == "autoencoder" and trained.checkpoint.seed == 0


def test_predict_images_reports_a_bad_file_and_goes_on(tmp_path):
    from PIL import Image

    from engine.learning.models import Classifier

    good = tmp_path / "seven.png"
    canvas = np.zeros((28, 28), np.uint8)
    canvas[4:24, 12:16] = 255
    Image.fromarray(canvas).save(good)
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image")
    model = Classifier(TINY).eval()
    first, second = predict_images(model, [bad, good])
    assert first.error and first.parity is None
    assert second.error is None and second.parity == parity_word(second.p_odd)


def test_the_semi_supervised_schedule_grows_from_a_hundred_labels() -> None:
    """3,000 steps below SEMI_MORE_FROM labels, 6,000 from there on; --steps overrides."""
    from engine import options
    from engine.config import DEFAULT_FINETUNE
    from engine.jobs.workflows import SEMI_SUPERVISED, budget_schedule

    def steps(n: int, given: int | None = None) -> int:
        return budget_schedule(DEFAULT_FINETUNE, n, SEMI_SUPERVISED, given)[0].max_steps

    assert steps(20) == steps(options.SEMI_MORE_FROM - 1) == options.SEMI_STEPS == 3000
    assert steps(options.SEMI_MORE_FROM) == steps(1000) == options.SEMI_MORE_STEPS == 6000
    assert steps(100, given=500) == 500
