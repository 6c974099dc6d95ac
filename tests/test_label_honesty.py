"""Honest labels, end to end: with the default protocol (the app suggests which images to
label), nothing reads a label outside the chosen images.

The picks are computed first; then every other training and validation label is changed
to another digit, and the whole `finetune_and_save` workflow and the CLI's `run` are run
again: the picks and the classifier's weights must be bit-identical. A label read
anywhere (to choose the images, to balance classes, to stop early, to pick a best epoch)
would change them.
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from helpers_cli import cli
from helpers_data import write_small_mnist

from engine.config import DEFAULT_FINETUNE, ArchConfig
from engine.data.idx import write_idx
from engine.data.mnist import FILES, Mnist, read_folder
from engine.jobs.workflows import FinetuneJob, finetune_and_save
from engine.store.checkpoint import load_checkpoint

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = ArchConfig(arch="conv", latent=16, width=4)


def corrupted(data: Mnist, keep: torch.Tensor) -> Mnist:
    """`data` with every training label outside `keep` moved to the next digit."""
    labels = (data.train_labels.long() + 1) % 10
    labels[keep] = data.train_labels[keep].long()
    return replace(data, train_labels=labels.to(torch.uint8))


def weights_equal(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Mnist:
    return read_folder(write_small_mnist(tmp_path_factory.mktemp("honest"), 600, 100))


@pytest.mark.parametrize("kind", ["digit", "parity"])
def test_finetune_and_save_reads_only_the_labels_of_the_images_it_chose(data, kind):
    job = FinetuneJob(
        arch=TINY, train=replace(DEFAULT_FINETUNE, seed=3), labels=20, label_kind=kind, steps=30
    )
    assert job.pick == "suggested"  # the default protocol
    first = finetune_and_save(data, job)
    picks = torch.tensor(first.checkpoint.extra["labelled_indices"])
    assert len(picks) == 20 and first.checkpoint.extra["label_kind"] == kind
    assert first.checkpoint.extra["mode"] == "semi-supervised"  # the graph runs too

    lied_to = corrupted(data, picks)
    changed = int((lied_to.train_labels != data.train_labels).sum())
    assert changed == len(data.train_labels) - 20  # every other label, validation included
    second = finetune_and_save(lied_to, job)
    assert second.checkpoint.extra["labelled_indices"] == picks.tolist()
    assert weights_equal(first.model, second.model)


def test_a_label_read_outside_the_picks_would_show(data):
    """The same check against the benchmark protocol, which reads every label to choose:
    its picks change when the other labels do, so the check above can fail."""
    job = FinetuneJob(arch=TINY, labels=20, pick="balanced", steps=5)
    first = finetune_and_save(data, job)
    picks = torch.tensor(first.checkpoint.extra["labelled_indices"])
    second = finetune_and_save(corrupted(data, picks), job)
    assert second.checkpoint.extra["labelled_indices"] != picks.tolist()


def test_the_run_command_reads_only_the_labels_of_the_images_it_chose(tmp_path):
    honest = write_small_mnist(tmp_path / "honest", 600, 100)
    args = ["--width", "4", "--latent", "16", "--pretrain-epochs", "1", "--labels", "20"]
    args += ["--steps", "30", "--unlabelled-batch", "32", "--pretrain-batch-size", "64"]
    args += ["--seed", "2", "--quiet"]
    assert cli(["run", "--data-dir", honest, "--out", tmp_path / "a", *args]) == 0
    metrics = json.loads((tmp_path / "a" / "metrics.json").read_text())
    picks = torch.tensor(metrics["finetune"]["labelled_indices"])
    assert metrics["finetune"]["pick"] == "suggested" and len(picks) == 20

    data = read_folder(honest)
    lied_to = write_small_mnist(tmp_path / "lied_to", 600, 100)  # same images
    labels = corrupted(data, picks).train_labels.numpy().astype(np.uint8)
    write_idx(lied_to / (FILES["train_labels"] + ".gz"), labels)
    assert cli(["run", "--data-dir", lied_to, "--out", tmp_path / "b", *args]) == 0
    again = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert again["finetune"]["labelled_indices"] == picks.tolist()
    a = load_checkpoint(tmp_path / "a" / "classifier.pt").model
    b = load_checkpoint(tmp_path / "b" / "classifier.pt").model
    assert weights_equal(a, b)
