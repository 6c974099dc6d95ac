"""The whole job in one call: pretrain, fine-tune, evaluate, write checkpoints and a report.

Used by `evenodd run`; its phases are engine.jobs.workflows' jobs, which the GUI runs one by
one. Every file lands at the top level of the output folder, named for its role.
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

import engine
from engine.data.mnist import Mnist
from engine.events import EventSink, Message, StopCheck, ignore_event, never_stop
from engine.files import atomic_write_bytes
from engine.jobs.workflows import (
    LABEL_RECORD,
    PICK_WORDS,
    EncoderSource,
    FinetuneJob,
    PretrainJob,
    RunOptions,
    evaluate_model,
    finetune_and_save,
    pretrain_and_save,
    save_model,
    validation_split,
)
from engine.learning.evaluate import Evaluation
from engine.reports.figures import confusion_figure, digits_figure, loss_figure, save_figure
from engine.reports.latent import write_latent_map
from engine.reports.report import embed_png, html_page, settings_table


@dataclass(frozen=True)
class RunSettings:
    """What decides a whole run: the pretraining job and the fine-tuning job that follows it.

    The fine-tuning starts from the encoder the run pretrains, with the pretraining's
    architecture, so its own `encoder` and `arch` are not used; every other setting of
    the run is a field of the two jobs, not a copy of them.
    """

    pretrain: PretrainJob = field(default_factory=PretrainJob)
    finetune: FinetuneJob = field(default_factory=FinetuneJob)

    def to_dict(self) -> dict:
        fine = self.finetune
        return {
            "arch": self.pretrain.arch.to_dict(),
            "pretrain": self.pretrain.train.to_dict(),
            "finetune": fine.train.to_dict(),
            "labels": "all" if fine.labels is None else fine.labels,
            "pick": fine.pick,
            "label_kind": fine.label_kind,
            "labels_given": None if fine.given is None else len(fine.given),
            "freeze_encoder": fine.freeze,
            "unlabelled": fine.unlabelled,
            "semisup": fine.semisup.to_dict(),
            "steps": fine.steps,
            "deskew": fine.deskew,  # None: below all labels only (workflows.deskews)
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
    outcome = RunOutcome("completed")

    pre = pretrain_and_save(data, settings.pretrain, RunOptions(out, on_event, should_stop))
    outcome.files.update(pre.files)
    if pre.finished.status in ("stopped", "diverged"):
        outcome.status = pre.finished.status
        on_event(Message(f"pretraining {outcome.status}; fine-tuning skipped", "warning"))
        return outcome
    latent = write_latent_map(
        pre.model.encoder,
        data.train_images,
        data.train_labels,
        validation_split(data).val,
        out / "latent_map.png",
    )
    outcome.files["latent_map"] = out / "latent_map.png"
    on_event(
        Message(f"latent map: {latent['knn_k']}-NN digit accuracy {latent['knn_accuracy']:.2%}")
    )

    encoder_sha = pre.sha256["encoder"]
    fine_job = replace(
        settings.finetune,
        arch=settings.pretrain.arch,
        encoder=EncoderSource.just_trained(pre.checkpoint, encoder_sha),
    )
    fine = finetune_and_save(data, fine_job, RunOptions(None, on_event, should_stop))
    evaluation = evaluate_model(fine.model, data)
    # The run's classifier also carries its test scores, which a bare fine-tuning cannot.
    metrics = metrics_of(evaluation) | {"val_accuracy": fine.result.val_accuracy}
    fine.checkpoint.metrics.update(metrics)
    save_model(fine.checkpoint, out / "classifier.pt")
    outcome.files["classifier"] = out / "classifier.pt"
    if fine.finished.status in ("stopped", "diverged"):
        outcome.status = fine.finished.status

    outcome.metrics = {
        "test": metrics,
        "pretrain": {
            "val_mse": pre.result.val_mse,
            "best_epoch": pre.finished.best_epoch,
            "epochs_run": pre.finished.epochs_run,
            "status": pre.finished.status,
            "seconds": pre.finished.seconds,
        },
        "finetune": {
            "val_accuracy": fine.result.val_accuracy,
            "best_epoch": fine.finished.best_epoch,
            "epochs_run": fine.finished.epochs_run,
            "status": fine.finished.status,
            "seconds": fine.finished.seconds,
            "labels": fine.checkpoint.extra["labels"],
            "mode": fine.checkpoint.extra["mode"],
            "deskewed": fine.checkpoint.arch.deskew,
            "unlabelled": fine.checkpoint.extra["unlabelled"],
            "steps": fine.finished.steps,
            "confident": fine.checkpoint.extra["confident"],
            **{key: fine.checkpoint.extra[key] for key in LABEL_RECORD},
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
    histories = {
        "pretraining (MSE)": pre.result.fit.history,
        "fine-tuning (BCE)": fine.result.fit.history,
    }
    loss_png = save_figure(loss_figure(histories), out / "loss_curves.png")
    confusion_png = save_figure(
        confusion_figure(evaluation.confusion), out / "confusion_matrix.png"
    )
    wrong = evaluation.misclassified[:40]
    # As the Evaluate tab's gallery shows them: the true digit and P(odd) under each.
    captions = [f"{int(data.test_labels[i])}  {evaluation.p_odd[i]:.2f}" for i in wrong.tolist()]
    wrong_png = save_figure(
        digits_figure(
            data.test_images[wrong].numpy(),
            captions,
            colors=["tab:red"] * len(captions),
            title="misclassified test digits (label, P(odd))",
        ),
        out / "misclassified.png",
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
        "labelled images chosen by": PICK_WORDS.get(
            metrics["finetune"]["pick"], metrics["finetune"]["pick"]
        ),
        "labels given as": metrics["finetune"]["label_kind"],
        "labelled images (positions in the training file)": _positions_text(
            metrics["finetune"]["labelled_indices"]
        ),
        "fine-tuning mode": metrics["finetune"]["mode"],
        "classifier input": "deskewed" if metrics["finetune"]["deskewed"] else "raw pixels",
        "unlabelled images learned from": metrics["finetune"]["unlabelled"],
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


def _positions_text(positions: list[int], shown: int = 40) -> str:
    """The labelled images' positions for the report: all of a few-label run's, the first
    `shown` of a larger one (metrics.json lists every one)."""
    if len(positions) == len(set(positions)) and len(positions) > shown:
        head = ", ".join(str(p) for p in positions[:shown])
        return f"{head}, … ({len(positions):,} in all; every one in metrics.json)"
    return ", ".join(str(p) for p in positions)
