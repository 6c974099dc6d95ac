"""Data tab: where MNIST is, how it is split, what it looks like, and the label budget.

Loading and downloading run in the background worker (reading the gzip files and importing
torch take seconds); the result is a `LoadedData` with everything the tab shows already
computed as numpy, so the GUI thread does no tensor work. A folder asked for while another
job runs (e.g. Enter pressed while the shipped model loads at start-up) waits its turn.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import (
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from gui.state import errors
from gui.state.model import LoadedData
from gui.widgets.budget import BudgetCombo
from gui.widgets.plots import ImageGrid
from gui.widgets.tables import TextTable

if TYPE_CHECKING:
    from gui.state.signals import AppState

SAMPLE_ROWS, SAMPLE_COLS = 3, 12
SPLITS = ("train", "validation", "test")  # the counts table's rows


def summarise(mnist: Any) -> LoadedData:
    """Split and count a freshly read MNIST (runs in the worker thread)."""
    import torch

    from engine.jobs.workflows import validation_split

    split = validation_split(mnist)  # the split every training job uses
    labels = mnist.train_labels
    counts = {
        "train": torch.bincount(labels[split.train].long(), minlength=10).numpy(),
        "validation": torch.bincount(labels[split.val].long(), minlength=10).numpy(),
        "test": torch.bincount(mnist.test_labels.long(), minlength=10).numpy(),
    }
    pick = split.train[torch.randperm(len(split.train), generator=torch.Generator().manual_seed(0))]
    pick = pick[: SAMPLE_ROWS * SAMPLE_COLS]
    return LoadedData(
        mnist=mnist,
        split=split,
        folder=mnist.source,
        counts=counts,
        samples=mnist.train_images[pick].numpy(),
        sample_digits=labels[pick].numpy(),
    )


def load_folder_job(folder: str):  # -> Job
    def job(on_event, should_stop) -> LoadedData:
        from engine.data.mnist import read_folder

        return summarise(read_folder(folder))

    return job


def download_job():  # -> Job
    def job(on_event, should_stop) -> LoadedData:
        from engine.data.mnist import load_mnist

        return summarise(load_mnist(None, on_event, should_stop))

    return job


class DataPanel(QWidget):
    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self._loaded_folder = ""
        self._stopped = False  # the person pressed Stop on the running load

        self.dir_edit = QLineEdit()
        self.dir_edit.setObjectName("dataDirEdit")
        self.dir_edit.setPlaceholderText("folder with the four MNIST .gz files, then Enter")
        self.dir_edit.setToolTip(
            "Folder holding train-images-idx3-ubyte(.gz) and the other three MNIST files "
            "(flat, or torchvision's MNIST/raw layout). Press Enter to load it."
        )
        self.dir_edit.returnPressed.connect(self.load_from_edit)
        self.browse_button = QPushButton("Browse…")
        self.browse_button.setObjectName("dataBrowseButton")
        self.browse_button.setToolTip("Choose the MNIST folder")
        self.browse_button.clicked.connect(self.browse)
        self.load_button = QPushButton("Load")
        self.load_button.setObjectName("dataLoadButton")
        self.load_button.setToolTip("Load MNIST from the folder above")
        self.load_button.clicked.connect(self.load_from_edit)
        self.download_button = QPushButton("Download")
        self.download_button.setObjectName("dataDownloadButton")
        self.download_button.setToolTip(
            "Download MNIST (about 11 MB) into your per-user data folder and load it; "
            "uses the copy there if it is already downloaded"
        )
        self.download_button.clicked.connect(self.download)
        row = QHBoxLayout()
        row.addWidget(QLabel("MNIST folder:"))
        row.addWidget(self.dir_edit, 1)
        for button in (self.browse_button, self.load_button, self.download_button):
            row.addWidget(button)

        self.progress = QProgressBar()
        self.progress.setObjectName("dataProgress")
        self.progress.setVisible(False)
        self.status_label = QLabel("No data loaded yet.")
        self.status_label.setObjectName("dataStatusLabel")
        self.status_label.setWordWrap(True)

        self.counts_table = TextTable(
            [str(d) for d in range(10)] + ["even", "odd", "total"],
            "Images per digit in each split",
            "dataCountsTable",
            row_labels=SPLITS,
            centred=True,
        )
        self.counts_table.setFixedHeight(120)

        self.split_label = QLabel(
            "The validation split is held out of the training images with a fixed seed, "
            "so every run and every app sees the same split. It drives early stopping; "
            "the test split is only used on the Evaluate tab."
        )
        self.split_label.setObjectName("dataSplitLabel")
        self.split_label.setWordWrap(True)

        self.budget_combo = BudgetCombo(
            state,
            "labelBudgetCombo",
            "How many training images fine-tuning learns the labels of: a whole number, or "
            "'all'. Which images is set on the Fine-tune tab (by default the app suggests "
            "them from their pixels, reading no label). The autoencoder never sees labels.",
        )
        state.budget_changed.connect(self._show_budget_info)
        budget_box = QGroupBox("Fine-tuning labels")
        form = QFormLayout(budget_box)
        form.addRow("Label budget:", self.budget_combo)
        self.budget_info = QLabel("")
        self.budget_info.setWordWrap(True)
        form.addRow(self.budget_info)

        self.samples = ImageGrid(
            SAMPLE_ROWS,
            SAMPLE_COLS,
            title="sample training digits",
            empty="load MNIST to see sample digits",
        )
        self.samples.setObjectName("dataSampleGrid")
        self.samples.setToolTip("Random training digits with their label and parity")

        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.progress)
        layout.addWidget(self.status_label)
        layout.addWidget(self.counts_table)
        middle = QHBoxLayout()
        middle.addWidget(self.split_label, 2)
        middle.addWidget(budget_box, 1)
        layout.addLayout(middle)
        layout.addWidget(self.samples, 1)

        state.watch(self.update_controls)
        self.update_controls()

    # ------------------------------------------------------------ the tab protocol

    def settings_widgets(self) -> dict[str, QWidget]:
        return {"label_budget": self.budget_combo}

    def update_controls(self) -> None:
        """Nothing to switch: a folder asked for while a job runs waits its turn."""

    def start(self) -> bool:
        """F5 on this tab: load the folder typed above."""
        return self.load_from_edit()

    def stop(self) -> None:
        """Stop a download (reading a folder ends in seconds and is not interrupted)."""
        if self.state.runner.name in ("load", "download"):
            self._stopped = True  # its end is then news for the status line, not an error box
            self.state.runner.stop()

    # ----------------------------------------------------------------------- actions

    def browse(self) -> None:
        start = self.dir_edit.text() or str(Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Choose the MNIST folder", start)
        if folder:
            self.dir_edit.setText(folder)
            self.load_folder(folder)

    def load_from_edit(self) -> bool:
        text = self.dir_edit.text().strip()
        if not text:
            errors.show_error(self, "Type or choose the folder that holds the MNIST files.")
            return False
        return self.load_folder(text)

    def load_folder(self, folder: str) -> bool:
        """Load `folder` in the background, now or when the running job ends (the status
        bar says it is queued)."""
        return self._request(f"load MNIST from {folder}", lambda: self._start_load(folder))

    def download(self) -> bool:
        """Find or download MNIST in the per-user folder, now or when the running job ends."""
        return self._request("download MNIST", self._start_download)

    def _request(self, label: str, action: Callable[[], None]) -> bool:
        """Every way of getting data is one kind of request: the latest one wins."""
        accepted = self.state.request("data", label, action)
        if self.state.model.jobs.is_waiting("data"):
            self.status_label.setText(f"Waiting to {label} (queued) …")
        return accepted

    def _start_load(self, folder: str) -> None:
        self.state.runner.start(
            load_folder_job(folder),
            on_event=self._on_event,
            on_success=self._loaded,
            on_failure=self._failed,
            name="load",
        )
        self.status_label.setText(f"Loading {folder} …")
        self.state.status(f"Loading MNIST from {folder}")

    def _start_download(self) -> None:
        self.state.runner.start(
            download_job(),
            on_event=self._on_event,
            on_success=self._loaded,
            on_failure=self._failed,
            name="download",
        )
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        self.status_label.setText("Looking for MNIST in your data folder, downloading it …")

    def _on_event(self, event: object) -> None:
        from engine.events import Message, Progress

        if isinstance(event, Progress) and event.phase == "download":
            self.progress.setRange(0, max(event.total, 1))
            self.progress.setValue(event.done)
            left = "" if event.eta is None else f", about {event.eta:.0f} s left"
            self.progress.setFormat(
                f"downloading MNIST: {event.done / 1e6:.1f} of {event.total / 1e6:.1f} MB{left}"
            )
        elif isinstance(event, Message):
            self.status_label.setText(event.text)
            self.state.status(event.text)

    def _failed(self, message: str, details: str) -> None:
        self.progress.setVisible(False)
        if self._loaded_folder:
            self.dir_edit.setText(self._loaded_folder)  # nothing changed: show what is loaded
            self.status_label.setText(f"Still using {self._loaded_folder}.")
        else:
            self.status_label.setText("No data loaded.")
        if self._stopped:
            self._stopped = False
            self.status_label.setText(message)
            self.state.status(message)
            return
        self.state.status("Could not load MNIST")
        errors.show_error(self, message, details)

    def _loaded(self, loaded: LoadedData) -> None:
        self.progress.setVisible(False)
        self._stopped = False
        self._loaded_folder = loaded.folder
        self.dir_edit.setText(loaded.folder)
        self.state.set_data(loaded)
        self.show_data(loaded)
        # replaces "Loading MNIST from …", which would otherwise stay up after the load
        images = sum(int(counts.sum()) for counts in loaded.counts.values())
        self.state.status(f"Loaded MNIST from {loaded.folder}: {images:,} images")

    def show_data(self, loaded: LoadedData) -> None:
        total = {name: int(c.sum()) for name, c in loaded.counts.items()}
        self.status_label.setText(
            f"Loaded {loaded.folder}: {total['train']:,} training, "
            f"{total['validation']:,} validation and {total['test']:,} test images."
        )
        for row, name in enumerate(SPLITS):
            counts = loaded.counts[name]
            values = [
                *counts.tolist(),
                int(counts[0::2].sum()),
                int(counts[1::2].sum()),
                int(counts.sum()),
            ]
            for col, value in enumerate(values):
                self.counts_table.set_text(row, col, f"{value:,}")
        pool = total["train"] + total["validation"]
        self.split_label.setText(
            f"Validation split: {total['validation']:,} of the {pool:,}"
            " training images are held out with a fixed seed, so every run sees the same "
            "split. It drives early stopping; the test split is only used on Evaluate."
        )
        digits = loaded.sample_digits
        captions = [f"{d} {'odd' if d % 2 else 'even'}" for d in digits]
        colors = ["tab:red" if d % 2 else "tab:blue" for d in digits]
        self.samples.set_images(loaded.samples, captions, colors)
        self._show_budget_info(self.state.budget_text)

    def _show_budget_info(self, text: str) -> None:
        data = self.state.data
        n_train = len(data.split.train) if data is not None else None
        # A preview only (no engine import here: torch must not load before the window
        # shows); engine.data.mnist.parse_budget checks the value for real when fine-tuning starts.
        clean = text.strip().lower()
        if clean == "all":
            self.budget_info.setText(
                "Fine-tuning uses every training label" + (f" ({n_train:,})." if n_train else ".")
            )
        elif clean.isdigit() and int(clean) >= 1:
            self.budget_info.setText(
                f"Fine-tuning uses {int(clean):,} labels"
                + (f" (of {n_train:,} training images)." if n_train else ".")
            )
        else:
            self.budget_info.setText("⚠ the label budget must be a whole number or 'all'")
