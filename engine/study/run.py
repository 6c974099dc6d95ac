"""Running the study: run_study (all cells, here or in worker processes).

One cell's training is `engine.study.cell.train_cell`; torch is imported only inside
functions. Tests that replace train_cell patch it here (engine.study.run), where
run_study looks it up.
"""

from __future__ import annotations

import math
import platform
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import engine
from engine.events import (
    CellDone,
    EventSink,
    Message,
    Progress,
    StopCheck,
    Stopwatch,
    ignore_event,
    never_stop,
)
from engine.study import resume
from engine.study.cell import CellRun, train_cell
from engine.study.pool import CellTask, default_workers, threads_per_worker, train_cells
from engine.study.report import write_outputs, write_progress
from engine.study.settings import (
    PRETRAINED_WAYS,
    UNLABELLED_WAYS,
    VAL_SUBSET_SEED,
    Cell,
    StudyError,
    StudyResult,
    StudySettings,
    budget_key,
)
from engine.study.stats import pct

if TYPE_CHECKING:
    import torch

    from engine.data.mnist import Mnist


# ------------------------------------------------------------------------------ training


def steps_to_target(curve: Sequence[tuple[int, float]], target: float) -> int | None:
    """Steps at the first validation round whose accuracy reached `target`."""
    return next((steps for steps, accuracy in curve if accuracy >= target), None)


# ----------------------------------------------------------------------------- the study


# Rough cost of a step, for the ETA. A semi-supervised step (32 labelled + 128 unlabelled
# distorted + 128 predicted) costs about 1.5 supervised ones (128 images).
WORK_WEIGHT = {
    "pretrain": 2.0,
    "scratch": 1.0,
    "frozen": 0.5,
    "finetune": 1.0,
    "scratch_unlabelled": 1.5,
    "finetune_unlabelled": 1.5,
}


class _Progress:
    """Turns the inner runs' Progress events into one study-wide Progress with an ETA.

    Work is counted in steps weighted by their rough cost (WORK_WEIGHT), so the ETA is
    sensible although pretraining steps cost more than frozen-encoder steps.
    """

    def __init__(self, total: float, on_event: EventSink) -> None:
        self.total, self.done, self.on_event = total, 0.0, on_event
        self.clock = Stopwatch()
        self.earlier_seconds = 0.0  # a resumed study's time in its earlier runs
        self.cells_done = 0
        self.cells_total = 0
        self._running: dict[Any, float] = {}  # work done so far by each unfinished run

    def sink(self, weight: float) -> EventSink:
        """Sink for a pretraining run: its Progress counts, its other events pass on."""

        def forward(event: Any) -> None:
            if isinstance(event, Progress):
                self.running("pretrain", weight * event.done)
            else:
                self.on_event(event)

        return forward

    def running(self, key: Any, units: float) -> None:
        """A run still going (cells may run side by side) has done `units` of work."""
        self._running[key] = units
        self.emit()

    def cell_running(self, key: Any, steps: int) -> None:
        """A cell (key: family, budget, seed, way) has taken `steps` steps so far."""
        self.running(key, WORK_WEIGHT[key[3]] * steps)

    def finish_run(self, key: Any, units: float) -> None:
        """A run ended: count its planned work, whatever early stopping saved."""
        self._running.pop(key, None)
        self.done += units

    def seconds(self) -> float:
        """The study's wall time so far, earlier runs of a resumed study included."""
        return self.earlier_seconds + self.clock.elapsed

    def emit(self) -> None:
        done = min(self.done + sum(self._running.values()), self.total)
        self.on_event(
            Progress(
                "compare",
                round(done),
                round(self.total),
                self.clock.elapsed,
                self.clock.eta(done, self.total),
                batch=self.cells_done,
                batches=self.cells_total,
            )
        )


def study_split(n: int):
    """The app's own train/validation split (engine.data.mnist decides the sizes)."""
    from engine.data.mnist import split_train_val

    return split_train_val(n)


def validation_subset(split: Any, size: int) -> torch.Tensor:
    """The same `size` validation indices for every cell (sorted, seeded)."""
    import torch

    order = torch.randperm(len(split.val), generator=torch.Generator().manual_seed(VAL_SUBSET_SEED))
    return split.val[order[: min(size, len(split.val))]].sort().values


def plan_cells(settings: StudySettings) -> list[tuple[str, int | None, int, str]]:
    """Every cell of a study, in training order: (family, budget, seed, way).

    Seed by seed (so a stopped study has whole curves for its first seeds), family,
    budget, and the ways of each labelled subset in a row.
    """
    return [
        (family, budget, seed, way)
        for seed in range(settings.seeds)
        for family in settings.families
        for budget in settings.budgets
        for way in settings.ways_for(family, budget)
    ]


def run_study(
    data: Mnist,
    settings: StudySettings = StudySettings(),  # noqa: B008 (frozen dataclass, immutable)
    on_event: EventSink = ignore_event,
    should_stop: StopCheck = never_stop,
    out_dir: str | Path | None = None,
    restart: bool = False,
) -> StudyResult:
    """Run the study; cells are reported (CellDone) and saved (out_dir) as they finish.

    Order: pretrain every family first, then the cells of plan_cells. Stopping keeps
    every finished cell; the unfinished ones are dropped.

    Resuming: when `out_dir` already holds this study (same settings, same data), its
    finished cells are kept (and reported again as CellDone, first) and only the missing
    ones are trained, on the pretrained encoders saved there; the result equals an
    uninterrupted run's cell for cell. A folder holding another study raises
    OtherStudyError, unless `restart` deletes that study's files first.
    """
    import torch

    from engine.jobs.workflows import RunOptions, pick_labels

    settings = settings.validate()
    out = Path(out_dir) if out_dir is not None else None
    split = study_split(len(data.train_images))
    for budget in settings.budgets:
        if budget is not None and budget > len(split.train):
            raise StudyError(
                f"label budget {budget} is larger than the {len(split.train)} training images"
            )
    saved = resume.saved_study(out, settings, restart) if out is not None else None
    data_sha = resume.data_sha256(data)
    plan = plan_cells(settings)
    kept: dict[resume.CellKey, Cell] = {}
    if saved is not None:
        resume.check_same_data(saved, data_sha, out)
        planned = {resume.plan_key(*key) for key in plan}
        kept = {resume.cell_key(c): c for c in saved.cells if resume.cell_key(c) in planned}
    missing = [key for key in plan if resume.plan_key(*key) not in kept]
    families = [f for f in settings.families if any(key[0] == f for key in missing)]
    encoders = _saved_encoders(out, saved, families)

    n_labels = {b: len(split.train) if b is None else b for b in settings.budgets}
    pre_cfg = settings.pretrain_config()
    pre_steps = pre_cfg.epochs * math.ceil(len(split.train) / pre_cfg.batch_size)
    to_pretrain = [f for f in families if f not in encoders]
    total = len(to_pretrain) * pre_steps * WORK_WEIGHT["pretrain"] + sum(
        settings.cell_config(way, 0, n_labels[budget]).max_steps * WORK_WEIGHT[way]
        for _, budget, _, way in missing
    )
    workers = settings.workers or default_workers()
    progress = _Progress(total, on_event)
    progress.cells_total = len(plan)
    result = StudyResult(settings, planned_cells=progress.cells_total, out_dir=out)
    result.info = {
        "data_source": data.source,
        "data_sha256": data_sha,
        "train_images": len(split.train),
        "val_images_scored": min(settings.val_size, len(split.val)),
        "test_images": len(data.test_images),
        "torch": torch.__version__,
        "workers": workers,  # cells trained side by side
        "threads": threads_per_worker(workers) if workers > 1 else torch.get_num_threads(),
        "python": platform.python_version(),
        "evenodd_studio": engine.__version__,
    }
    if saved is not None:
        progress.earlier_seconds = saved.seconds
        result.pretraining = dict(saved.pretraining)
        result.info["sessions"] = int(saved.info.get("sessions", 1)) + 1
        on_event(
            Message(
                f"resuming the study in {out}: {len(kept)} of {progress.cells_total} cells "
                f"kept, {len(missing)} to train"
                + (f"; pretrained encoders reused: {', '.join(encoders)}" if encoders else "")
            )
        )
    for cell in kept.values():  # never written without them: a crash now loses nothing
        _record(result, cell, progress, on_event, None, kept=True)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        write_progress(out, result)

    def finish(status: str) -> StudyResult:
        result.status = status
        result.seconds = progress.seconds()
        if out is not None:
            write_outputs(out, result)
        return result

    for family in to_pretrain:
        encoder = _pretrain(data, split, settings, family, progress, result, should_stop)
        if encoder is None:
            stopped = result.pretraining[family]["status"] == "stopped"
            return finish("stopped" if stopped else "failed")
        recorded = saved.pretraining.get(family) if saved is not None else None
        if any(key[0] == family for key in kept) and not resume.same_pretraining(
            recorded, result.pretraining[family]
        ):
            raise StudyError(
                f"the {family} encoder that the finished cells were trained on is missing from "
                f"{out}, and pretraining again gave other weights; start the study over"
            )
        if out is not None:
            result.pretraining[family]["encoder_file"] = resume.save_encoder(
                out, family, settings.arch(family), encoder, result.pretraining[family]["val_mse"]
            )
            write_progress(out, result)
        encoders[family] = encoder

    val_indices = validation_subset(split, settings.val_size)
    tasks = []
    subsets: dict[tuple, Any] = {}
    for family, budget, seed, way in missing:
        if (budget, seed) not in subsets:  # one labelled subset shared by every way
            chosen = pick_labels(
                data, split.train, budget, settings.pick, settings.label_kind, seed,
                RunOptions(on_event=_messages_only(on_event), should_stop=should_stop),
            )  # fmt: skip
            if chosen is None:  # stopped while choosing: the cells kept so far stay
                return finish("stopped")
            subsets[budget, seed] = chosen
        labelled = subsets[budget, seed]
        cfg = settings.cell_config(way, seed, len(labelled))
        encoder = encoders[family] if way in PRETRAINED_WAYS else None
        unlabelled = None
        if way in UNLABELLED_WAYS:  # every other training image, without its label
            unlabelled = split.train[~torch.isin(split.train, labelled.indices)]
        task = CellTask(
            (family, budget, seed, way), settings.arch(family, budget), cfg, labelled, encoder,
            way == "frozen", unlabelled,
        )  # fmt: skip
        tasks.append(task)

    def done(task: CellTask, run: CellRun) -> None:
        if run.status == "stopped":
            return  # an unfinished cell is dropped
        family, budget, seed, way = task.key
        cell = Cell(
            family=family,
            budget=budget_key(budget),
            n_labels=len(task.labelled),
            seed=seed,
            way=way,
            test_accuracy=run.test_accuracy,
            val_accuracy=run.val_accuracy,
            steps=run.steps,
            planned_steps=task.cfg.max_steps,
            steps_to_target=steps_to_target(run.curve, settings.target),
            status=run.status,
            best_round=run.best_round,
            seconds=run.seconds,
            labels_sha256=run.labels_sha256,
            curve=run.curve,
        )
        progress.finish_run(task.key, task.cfg.max_steps * WORK_WEIGHT[way])
        _record(result, cell, progress, on_event, out)

    if not tasks:
        stopped = False
    elif workers == 1:
        stopped = _train_here(
            data, val_indices, settings.val_every, tasks, progress, done, should_stop
        )
    else:
        stopped = train_cells(
            data, val_indices, settings.val_every, tasks, workers, progress.cell_running,
            done, should_stop,
        )  # fmt: skip
    return finish("stopped" if stopped else "completed")


def _saved_encoders(out: Path | None, saved: StudyResult | None, families: list[str]) -> dict:
    """The pretrained encoders a resumed study can reuse from its folder, by family."""
    if out is None or saved is None:
        return {}
    found = {}
    for family in families:
        encoder = resume.load_encoder(out, family, saved.pretraining.get(family) or {})
        if encoder is not None:
            found[family] = encoder
    return found


def _pretrain(
    data: Mnist,
    split: Any,
    settings: StudySettings,
    family: str,
    progress: _Progress,
    result: StudyResult,
    should_stop: StopCheck,
) -> Any:
    """Pretrain one family's autoencoder and record it; its encoder, None if stopped/diverged."""
    from engine.learning.training import pretrain

    pre_cfg = settings.pretrain_config()
    pre_steps = pre_cfg.epochs * math.ceil(len(split.train) / pre_cfg.batch_size)
    progress.on_event(Message(f"pretraining the {family} autoencoder ({pre_cfg.epochs} epochs)"))
    sink = progress.sink(WORK_WEIGHT["pretrain"])
    pre = pretrain(data, settings.arch(family), pre_cfg, sink, should_stop, split=split, n_show=0)
    done = pre.fit.finished
    progress.finish_run("pretrain", pre_steps * WORK_WEIGHT["pretrain"])
    progress.emit()
    result.pretraining[family] = {
        "status": done.status,
        "epochs_run": done.epochs_run,
        "steps": done.steps,
        "val_mse": pre.val_mse,
        "seconds": done.seconds,
    }
    if done.status in ("stopped", "diverged"):
        return None
    result.pretraining[family]["weights_sha256"] = resume.weights_sha256(pre.model.encoder)
    return pre.model.encoder


def _train_here(
    data: Mnist,
    val_indices: torch.Tensor,
    val_every: int,
    tasks: list[CellTask],
    progress: _Progress,
    on_done: Callable[[CellTask, CellRun], None],
    should_stop: StopCheck,
) -> bool:
    """The cells one after the other in this process (workers=1); True if stopped."""
    for task in tasks:
        if should_stop():
            return True

        def forward(event: Any, key: Any = task.key) -> None:
            if isinstance(event, Progress):
                progress.cell_running(key, event.done)

        run = train_cell(
            data, task.arch, task.cfg, task.labelled, task.encoder, task.freeze, val_indices,
            val_every, forward, should_stop, task.unlabelled,
        )  # fmt: skip
        on_done(task, run)
        if run.status == "stopped":
            return True
    return False


def _record(
    result: StudyResult,
    cell: Cell,
    progress: _Progress,
    on_event: EventSink,
    out: Path | None,
    kept: bool = False,
) -> None:
    """Add a finished cell: save it (out), count it, report it (CellDone, a Message).

    `kept`: a cell a resumed study kept from its folder; reported as CellDone only.
    """
    result.cells.append(cell)
    result.seconds = progress.seconds()
    progress.cells_done += 1
    if out is not None:
        write_progress(out, result)
    if not kept:
        progress.emit()
    on_event(
        CellDone(
            cell.family,
            cell.budget,
            cell.way,
            cell.seed,
            cell.test_accuracy,
            cell.steps_to_target,
            extra=cell.to_dict(),
        )
    )
    if not kept:
        on_event(
            Message(
                f"cell {progress.cells_done}/{progress.cells_total}: {cell.family} "
                f"{cell.budget} labels seed {cell.seed} {cell.way}: test accuracy "
                f"{pct(cell.test_accuracy)} after {cell.steps} steps ({cell.seconds:.1f} s)"
            )
        )


def _messages_only(on_event: EventSink) -> EventSink:
    """Passes on the lines a job says, not its progress (the study counts its own)."""
    from engine.events import Message

    return lambda event: on_event(event) if isinstance(event, Message) else None
