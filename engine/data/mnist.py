"""MNIST in memory: finding the files, downloading them, splits and label budgets.

The whole set is kept as uint8 tensors (47 MB for the training images) and batches are
made by indexing with a shuffled index, which is what makes an epoch take seconds instead
of the minute a per-sample PIL DataLoader needs.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from engine.data.download import download
from engine.data.idx import IMAGES_MAGIC, LABELS_MAGIC, IdxError, read_idx
from engine.errors import DataError
from engine.events import EventSink, Message, StopCheck, ignore_event, never_stop

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
VAL_SIZE = 5000  # images held out of the 60k training set for early stopping
SPLIT_SEED = 12345  # fixed, so the validation split is the same in every run and app


@dataclass(frozen=True)
class Mnist:
    """The four MNIST arrays as uint8 tensors on the CPU: images (N, 28, 28), labels (N,)."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    source: str  # the folder the files were read from

    def __post_init__(self) -> None:
        for images, labels, name in (
            (self.train_images, self.train_labels, "training"),
            (self.test_images, self.test_labels, "test"),
        ):
            if images.shape[0] != labels.shape[0]:
                raise DataError(
                    f"the {name} images ({images.shape[0]}) and labels ({labels.shape[0]}) "
                    "do not match in number"
                )
            if images.shape[1:] != (28, 28):
                raise DataError(f"the {name} images are not 28x28 pixels")
            if labels.numel() and int(labels.max()) > 9:
                raise DataError(f"the {name} labels are not digits 0-9")


def parity(digits: torch.Tensor) -> torch.Tensor:
    """Even/odd target from digit labels: even (0, 2, 4, 6, 8) -> 0, odd -> 1."""
    return (digits.long() % 2).float()


# A classifier outputs P(odd); this is the one place that turns it into a decision.
ODD_THRESHOLD = 0.5


def predicted_odd(p_odd):  # float, numpy array or tensor in; the same kind of bools out
    """True where P(odd) means "odd": above ODD_THRESHOLD (0.5 itself counts as even)."""
    return p_odd > ODD_THRESHOLD


def parity_word(p_odd: float) -> str:
    """ "odd" or "even" for one P(odd), by the same rule as `predicted_odd`."""
    return "odd" if predicted_odd(p_odd) else "even"


def default_data_dir() -> Path:
    """The per-user folder where downloaded MNIST lives (platform convention)."""
    override = os.environ.get("EVENODD_DATA_DIR")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_data_dir("EvenOddStudio", appauthor=False)) / "mnist"


def find_files(folder: Path) -> dict[str, Path] | None:
    """Locate the four files in `folder`, flat or in torchvision's MNIST/raw layout.

    Each file may be plain or .gz. Returns None when the folder does not hold all four.
    """
    for candidate in (folder, folder / "MNIST" / "raw", folder / "raw"):
        found: dict[str, Path] = {}
        for key, stem in FILES.items():
            for name in (stem, stem + ".gz"):
                if (candidate / name).is_file():
                    found[key] = candidate / name
                    break
        if len(found) == len(FILES):
            return found
    return None


def _missing_files(folder: Path) -> list[str]:
    """The file names missing from the candidate place (flat or MNIST/raw) that holds most."""
    best: list[str] = list(FILES.values())
    for candidate in (folder, folder / "MNIST" / "raw", folder / "raw"):
        missing = [
            stem
            for stem in FILES.values()
            if not any((candidate / name).is_file() for name in (stem, stem + ".gz"))
        ]
        if len(missing) < len(best):
            best = missing
    return best


def read_folder(folder: str | os.PathLike) -> Mnist:
    """Read MNIST from a folder the user chose; never writes to it."""
    folder = Path(folder).expanduser()
    if folder.is_file():
        raise DataError(f"data folder {folder} is a file; choose the folder that holds it")
    if not folder.is_dir():
        raise DataError(f"data folder not found: {folder}")
    files = find_files(folder)
    if files is None:
        missing = ", ".join(f"{stem}(.gz)" for stem in _missing_files(folder))
        raise DataError(f"{folder} does not hold the MNIST files: missing {missing}")
    try:
        arrays = {
            key: read_idx(path, IMAGES_MAGIC if key.endswith("images") else LABELS_MAGIC)
            for key, path in files.items()
        }
    except IdxError as exc:
        raise DataError(str(exc)) from None
    tensors = {key: torch.from_numpy(value) for key, value in arrays.items()}
    return Mnist(**tensors, source=str(folder))


def load_mnist(
    folder: str | os.PathLike | None = None,
    on_event: EventSink = ignore_event,
    should_stop: StopCheck = never_stop,
) -> Mnist:
    """MNIST from `folder`, or from the per-user folder, downloading it there if needed."""
    if folder is not None:
        return read_folder(folder)
    home = default_data_dir()
    if find_files(home) is None:
        on_event(Message(f"MNIST not found in {home}; downloading it"))
        download(home, on_event, should_stop)
    return read_folder(home)


@dataclass(frozen=True)
class Split:
    """Indices into the 60k training set: `train` for fitting, `val` for early stopping."""

    train: torch.Tensor
    val: torch.Tensor


def split_train_val(n: int, val_size: int | None = None, seed: int = SPLIT_SEED) -> Split:
    """A deterministic random split; the same `n` and seed always give the same indices.

    By default VAL_SIZE images are held out, or a tenth of a smaller set (a small folder
    of MNIST-format files must still train).
    """
    if val_size is None:
        val_size = min(VAL_SIZE, max(1, n // 10))
    if not 0 < val_size < n:
        raise DataError(f"validation size {val_size} must be between 1 and {n - 1}")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return Split(train=order[val_size:].sort().values, val=order[:val_size].sort().values)


def parse_budget(text: str | int | None) -> int | None:
    """'all' or None -> None (every label); otherwise a positive whole number."""
    if text is None or (isinstance(text, str) and text.strip().lower() == "all"):
        return None
    try:
        value = int(text)
    except (TypeError, ValueError):
        raise DataError(f"label budget must be a whole number or 'all', not {text!r}") from None
    if value < 1:
        raise DataError(f"label budget must be at least 1, not {value}")
    return value


def label_budget(
    digits: torch.Tensor, pool: torch.Tensor, budget: int | None, seed: int
) -> torch.Tensor:
    """A seeded, class-balanced subset of `pool` (indices into `digits`) with `budget` labels.

    budget=100 gives 10 images of each digit; a remainder goes to randomly chosen digits.
    None means every index in the pool. The result is sorted, so two calls with the same
    arguments give identical tensors.
    """
    if budget is None or budget == len(pool):  # every image: no balance to strike
        return pool.clone()
    if budget > len(pool):
        raise DataError(f"asked for {budget} labels but only {len(pool)} training images exist")
    generator = torch.Generator().manual_seed(seed)
    pool_digits = digits[pool].long()
    classes = torch.unique(pool_digits)
    per_class = torch.full((len(classes),), budget // len(classes), dtype=torch.long)
    extra = torch.randperm(len(classes), generator=generator)[: budget % len(classes)]
    per_class[extra] += 1
    chosen: list[torch.Tensor] = []
    for cls, count in zip(classes.tolist(), per_class.tolist(), strict=True):
        members = pool[pool_digits == cls]
        if count > len(members):
            raise DataError(f"not enough images of digit {cls} for a budget of {budget}")
        chosen.append(members[torch.randperm(len(members), generator=generator)[:count]])
    return torch.cat(chosen).sort().values


def budgets_from_text(text: str) -> list[int | None]:
    """'100,300,all' -> [100, 300, None]."""
    parts: Sequence[str] = [part for part in text.split(",") if part.strip()]
    if not parts:
        raise DataError("give at least one label budget, e.g. 100,1000,all")
    return [parse_budget(part) for part in parts]
