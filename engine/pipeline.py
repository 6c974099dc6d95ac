"""The whole job in one call: pretrain, fine-tune, evaluate, write checkpoints and a report.

Used by `evenodd run`; the GUI runs the same phases one by one. Every file lands at the
top level of the output folder, named for its role.
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

import engine
from engine.checkpoint import save_checkpoint
from engine.config import (
    DEFAULT_ARCH,
    DEFAULT_FINETUNE,
    DEFAULT_PRETRAIN,
    ArchConfig,
    TrainConfig,
)
from engine.data import Mnist, label_budget, split_train_val
from engine.evaluate import Evaluation, evaluate
from engine.events import EventSink, Message, StopCheck, ignore_event, never_stop
from engine.files import atomic_write_bytes
from engine.latent import write_latent_map
from engine.report import (
    confusion_figure,
    digits_figure,
    embed_png,
    html_page,
    loss_figure,
    save_figure,
    settings_table,
)
from engine.training import finetune, pretrain


@dataclass(frozen=True)
class RunSettings:
    arch: ArchConfig = DEFAULT_ARCH
    pretrain: TrainConfig = DEFAULT_PRETRAIN
    finetune: TrainConfig = DEFAULT_FINETUNE
    labels: int | None = None  # label budget for fine-tuning; None = all
    freeze_encoder: bool = False

    def to_dict(self) -> dict:
        return {
            "arch": self.arch.to_dict(),
            "pretrain": self.pretrain.to_dict(),
            "finetune": self.finetune.to_dict(),
            "labels": "all" if self.labels is None else self.labels,
            "freeze_encoder": self.freeze_encoder,
        }


@dataclass
class RunOutcome:
    status: str  # "completed", "stopped", "diverged"
    metrics: dict = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)


def metrics_of(evaluation: Evaluation) -> dict:
    summary = evaluation.to_dict()
    summary.pop("misclassified")
    summary["misclassified_count"] = len(evaluation.misclassified)
    return summary


def run_pipeline(
    data: Mnist,
    out_dir: str | Path,
    settings: RunSettings = RunSettings(),
    on_event: EventSink = ignore_event,
    should_stop: StopCheck = never_stop,
) -> RunOutcome:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    split = split_train_val(len(data.train_images))
    outcome = RunOutcome("completed")

    pre = pretrain(data, settings.arch, settings.pretrain, on_event, should_stop, split=split)
    pre_seconds = pre.fit.finished.seconds
    common = {"seed": settings.pretrain.seed, "train_config": settings.pretrain.to_dict()}
    metrics = {"val_mse": pre.val_mse, "best_epoch": pre.fit.finished.best_epoch}
    save_checkpoint(out / "autoencoder.pt", pre.model, settings.arch, metrics=metrics, **common)
    encoder_sha = save_checkpoint(
        out / "encoder.pt", pre.model, settings.arch, kind="encoder", metrics=metrics, **common
    )
    outcome.files.update(autoencoder=out / "autoencoder.pt", encoder=out / "encoder.pt")
    if pre.fit.finished.status in ("stopped", "diverged"):
        outcome.status = pre.fit.finished.status
        on_event(Message(f"pretraining {outcome.status}; fine-tuning skipped", "warning"))
        return outcome
    latent = write_latent_map(
        pre.model.encoder, data.train_images, data.train_labels, split.val, out / "latent_map.png"
    )
    outcome.files["latent_map"] = out / "latent_map.png"
    on_event(
        Message(f"latent map: {latent['knn_k']}-NN digit accuracy {latent['knn_accuracy']:.2%}")
    )

    labelled = label_budget(data.train_labels, split.train, settings.labels, settings.finetune.seed)
    fine = finetune(
        data,
        settings.arch,
        settings.finetune,
        labelled,
        pre.model.encoder,
        settings.freeze_encoder,
        on_event,
        should_stop,
        split=split,
    )
    evaluation = evaluate(fine.model, data.test_images, data.test_labels)
    metrics = metrics_of(evaluation) | {"val_accuracy": fine.val_accuracy}
    save_checkpoint(
        out / "classifier.pt",
        fine.model,
        settings.arch,
        metrics=metrics,
        seed=settings.finetune.seed,
        train_config=settings.finetune.to_dict(),
        encoder_sha256=encoder_sha,
        extra={"labels": len(labelled)},
    )
    outcome.files["classifier"] = out / "classifier.pt"
    if fine.fit.finished.status in ("stopped", "diverged"):
        outcome.status = fine.fit.finished.status

    outcome.metrics = {
        "test": metrics,
        "pretrain": {
            "val_mse": pre.val_mse,
            "best_epoch": pre.fit.finished.best_epoch,
            "epochs_run": pre.fit.finished.epochs_run,
            "status": pre.fit.finished.status,
            "seconds": pre_seconds,
        },
        "finetune": {
            "val_accuracy": fine.val_accuracy,
            "best_epoch": fine.fit.finished.best_epoch,
            "epochs_run": fine.fit.finished.epochs_run,
            "status": fine.fit.finished.status,
            "seconds": fine.fit.finished.seconds,
            "labels": len(labelled),
        },
        "latent_map": latent,
        "seconds_total": time.perf_counter() - started,
        "settings": settings.to_dict(),
        "encoder_sha256": encoder_sha,
        "data_source": data.source,
        "versions": {
            "evenodd_studio": engine.__version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
        "device": str(next(fine.model.parameters()).device),
    }
    payload = json.dumps(outcome.metrics, indent=2).encode()
    atomic_write_bytes(out / "metrics.json", payload)
    outcome.files["metrics"] = out / "metrics.json"
    outcome.files.update(_write_report(out, data, pre, fine, evaluation, outcome.metrics))
    return outcome


def _write_report(out: Path, data: Mnist, pre, fine, evaluation: Evaluation, metrics: dict) -> dict:
    histories = {"pretraining (MSE)": pre.fit.history, "fine-tuning (BCE)": fine.fit.history}
    loss_png = save_figure(loss_figure(histories), out / "loss_curves.png")
    confusion_png = save_figure(
        confusion_figure(evaluation.confusion), out / "confusion_matrix.png"
    )
    wrong = evaluation.misclassified[:40]
    captions = [
        f"{int(data.test_labels[i])}: P(odd)={evaluation.p_odd[i]:.2f}" for i in wrong.tolist()
    ]
    wrong_png = save_figure(
        digits_figure(data.test_images[wrong].numpy(), captions), out / "misclassified.png"
    )
    test = metrics["test"]
    figures = {
        "accuracy": f"{test['accuracy']:.4f}",
        "precision (odd)": f"{test['precision']:.4f}",
        "recall (odd)": f"{test['recall']:.4f}",
        "F1 (odd)": f"{test['f1']:.4f}",
        "test images": test["n"],
        "misclassified": test["misclassified_count"],
        "pretraining validation MSE": f"{metrics['pretrain']['val_mse']:.5f}",
        "pretraining time (s)": f"{metrics['pretrain']['seconds']:.1f}",
        "fine-tuning time (s)": f"{metrics['finetune']['seconds']:.1f}",
        "labels used": metrics["finetune"]["labels"],
        "latent kNN digit accuracy (codes / raw pixels)": (
            f"{metrics['latent_map']['knn_accuracy']:.4f} / "
            f"{metrics['latent_map']['pixels_knn_accuracy']:.4f}"
        ),
    }
    settings = metrics["settings"]
    flat = {
        f"{group}.{k}": v
        for group in ("arch", "pretrain", "finetune")
        for k, v in settings[group].items()
    }
    flat.update(labels=settings["labels"], freeze_encoder=settings["freeze_encoder"])
    page = html_page(
        "Even/Odd Studio run report",
        [
            ("Results on the MNIST test set", settings_table(figures)),
            ("Loss curves", embed_png(loss_png, "loss curves")),
            (
                "Latent map: the encoder's codes of validation digits, placed without labels",
                embed_png((out / "latent_map.png").read_bytes(), "latent map"),
            ),
            ("Confusion matrix", embed_png(confusion_png, "confusion matrix")),
            ("Classification report", f"<pre>{evaluation.report_text}</pre>"),
            (f"Misclassified digits (first {len(wrong)})", embed_png(wrong_png, "misclassified")),
            ("Settings", settings_table(flat)),
        ],
    )
    atomic_write_bytes(out / "report.html", page.encode())
    return {
        "loss_curves": out / "loss_curves.png",
        "confusion_matrix": out / "confusion_matrix.png",
        "misclassified": out / "misclassified.png",
        "report": out / "report.html",
    }
