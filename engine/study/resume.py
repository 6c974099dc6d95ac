"""Resuming a study: which saved cells a run may keep, and the pretrained encoders on disk.

Why: the default study takes 11-13 minutes; a stop or a crash at cell 80 of 90 must not
cost the 80 finished cells. A cell is seeded and depends only on the study's settings, the
data and its family's pretrained encoder, so a run into a folder that already holds the
same study keeps the saved cells and trains only the missing ones, and its table equals an
uninterrupted run's cell for cell. The encoders are saved beside the cells (one checkpoint
per family), because the finished cells were trained on exactly those weights and
pretraining again costs about a minute per family.

Cells are keyed by (family, budget, seed, way) and settings are compared field by field
over StudySettings.to_dict(), so a new way or a new setting needs no change here.
No torch at module level: the GUI checks a folder (`saved_study`) before starting a job.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.config import ARCHS
from engine.files import check_output_folder
from engine.study.report import RESULT_FILES, load_study
from engine.study.settings import (
    STUDY_FILE,
    Cell,
    StudyError,
    StudyResult,
    StudySettings,
    budget_key,
)

if TYPE_CHECKING:
    from engine.config import ArchConfig
    from engine.data.mnist import Mnist

# Settings that change how cells are scheduled, not what a cell computes: a study may be
# resumed with other values. Every other field of StudySettings must match.
SCHEDULING_FIELDS = frozenset({"workers"})
ENCODER_FILE = "encoder-{family}.pt"  # the pretrained encoder of one family


class OtherStudyError(StudyError):
    """The output folder holds a different (or unreadable) study; `differences` says how.

    Callers offer to start over: `evenodd compare --restart`, a question in the app.
    """

    def __init__(self, message: str, differences: list[str] | None = None) -> None:
        super().__init__(message)
        self.differences = list(differences or [])


CellKey = tuple[str, str, int, str]  # (family, budget key, seed, way)


def cell_key(cell: Cell) -> CellKey:
    return (cell.family, cell.budget, cell.seed, cell.way)


def plan_key(family: str, budget: int | None, seed: int, way: str) -> CellKey:
    """The key of a planned cell, comparable with `cell_key` of a saved one."""
    return (family, budget_key(budget), seed, way)


def fingerprint(settings: StudySettings) -> dict[str, Any]:
    """What defines a study's numbers: every setting except the scheduling ones."""
    return {k: v for k, v in settings.to_dict().items() if k not in SCHEDULING_FIELDS}


def differences(saved: StudySettings, wanted: StudySettings) -> list[str]:
    """Human-readable differences, e.g. "lr 0.01 there, 0.005 now"; empty if the same."""
    there, now = fingerprint(saved), fingerprint(wanted)
    return [
        f"{name} {_show(there.get(name))} there, {_show(now.get(name))} now"
        for name in [*there, *(k for k in now if k not in there)]
        if there.get(name) != now.get(name)
    ]


def _show(value: Any) -> str:
    return ",".join(str(v) for v in value) if isinstance(value, list) else str(value)


def study_files(out: Path) -> list[Path]:
    """The files a study writes into its folder (nothing else there is ever touched)."""
    names = [*RESULT_FILES.values(), *(ENCODER_FILE.format(family=f) for f in ARCHS)]
    return [out / name for name in names]


def saved_study(
    out: str | Path, settings: StudySettings, restart: bool = False
) -> StudyResult | None:
    """The study in `out` that a run with `settings` continues, or None for a fresh start.

    Raises OtherStudyError if `out` holds a study with other settings or an unreadable
    one, and a plain error if `out` cannot be a folder we write in. With restart=True the
    old study's files are deleted instead (only those: other files in `out` stay).
    """
    out = Path(out)
    check_output_folder(out)
    if not (out / STUDY_FILE).exists():
        return None
    if restart:
        for path in study_files(out):
            path.unlink(missing_ok=True)
        return None
    try:
        saved = load_study(out)
    except StudyError as exc:
        raise OtherStudyError(f"{out} holds a study that cannot be resumed: {exc}") from None
    found = differences(saved.settings, settings)
    if found:
        raise OtherStudyError(
            f"{out} holds another study, with other settings ({'; '.join(found)})", found
        )
    return saved


def check_same_data(saved: StudyResult, data_sha256: str, out: Path) -> None:
    recorded = saved.info.get("data_sha256")
    if recorded and recorded != data_sha256:
        source = saved.info.get("data_source", "other data")
        raise OtherStudyError(
            f"{out} holds a study of other data (it read {source}); its cells cannot be kept"
        )


def same_pretraining(recorded: dict | None, new: dict) -> bool:
    """Whether a pretraining done again equals the recorded one: same weights, or (for a
    study saved before weights were fingerprinted) the same validation MSE to the bit."""
    if not recorded or recorded.get("status") in (None, "stopped", "diverged"):
        return True  # nothing was trained on it
    if recorded.get("weights_sha256"):
        return recorded["weights_sha256"] == new.get("weights_sha256")
    return recorded.get("val_mse") == new.get("val_mse")


def data_sha256(data: Mnist) -> str:
    """Fingerprint of the four MNIST arrays (~0.1 s), so a study resumes on the same data."""
    digest = hashlib.sha256()
    for tensor in (data.train_images, data.train_labels, data.test_images, data.test_labels):
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.contiguous().numpy().tobytes())
    return digest.hexdigest()


def weights_sha256(module: Any) -> str:
    """Fingerprint of a module's weights (names, shapes, bytes), independent of any file."""
    import torch

    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype}".encode())
        raw = tensor.detach().cpu().contiguous().view(-1).view(torch.uint8)
        digest.update(raw.numpy().tobytes())
    return digest.hexdigest()


def save_encoder(out: Path, family: str, arch: ArchConfig, encoder: Any, val_mse: float) -> str:
    """Write one family's pretrained encoder (an ordinary encoder checkpoint, so the app's
    Fine-tune tab can load it too); returns the file name recorded in study.json."""
    from engine.store.checkpoint import save_checkpoint

    name = ENCODER_FILE.format(family=family)
    metrics = {"val_mse": val_mse}
    save_checkpoint(out / name, encoder, arch, kind="encoder", metrics=metrics)
    return name


def load_encoder(out: Path, family: str, recorded: dict) -> Any | None:
    """The saved encoder of `family` if its weights are the ones recorded, else None."""
    from engine.store.checkpoint import CheckpointError, load_checkpoint

    name = recorded.get("encoder_file")
    wanted = recorded.get("weights_sha256")
    if not name or not wanted or not (out / name).is_file():
        return None
    try:
        encoder = load_checkpoint(out / name, expect=("encoder",)).model
    except CheckpointError:
        return None
    return encoder if weights_sha256(encoder) == wanted else None
