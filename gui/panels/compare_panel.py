"""The Compare panel: run the pretraining study in the background and watch it fill in.

What it is for: the study (engine.study) answers when autoencoder pretraining beats
training from scratch. This panel sets it up, runs it on the app's one JobRunner on the
MNIST loaded on the Data tab, fills the table and the accuracy-vs-labels plot as cells
finish, shows the conclusions computed by the engine, and reopens saved study folders
("Open study…"). Like every tab that runs jobs (gui.state.signals.JobTab):

    panel = ComparePanel(state)            # the app's AppState
    panel.start() -> bool                  # the Start button, F5; False if refused (why:
                                           # in the status bar). An output folder holding
                                           # this study resumes it; one holding another
                                           # asks first whether to start over
    panel.resume() -> bool                 # the Resume button: continue the unfinished
                                           # study shown (opened or stopped) in its folder
    panel.stop()                           # the Stop button; finished cells are kept
    panel.settings_widgets() -> dict       # remembered between sessions
    panel.update_controls()
    panel.open_study(folder) -> bool       # also "Open study…"; shows a saved study
    signals: cell_done(object CellDone), study_finished(object StudyResult)

Where a study's files go: the Output folder, or a new timestamped folder under the
per-user data folder when it is empty.

Nothing here trains or computes statistics: engine.study does. torch is never imported at
module level (engine.study itself is light; the job imports torch in the worker thread).
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from engine.errors import UserError
from engine.options import LABEL_KINDS, PICK_HELP, PICKS, STUDY_OPTIONS, TRAIN_OPTIONS
from engine.reports.console import format_seconds
from engine.reports.figures import PANEL
from engine.study import figures as study_figures
from engine.study.figures import ACCURACY_LABEL, StudyArtists
from engine.study.settings import WAYS, StudySettings, budget_key, semi_budgets_from_text
from gui.state import errors
from gui.state.model import LONG_JOBS, job_title
from gui.state.signals import AppState
from gui.widgets.forms import option_spin, settings_form, side_by_side
from gui.widgets.plots import LiveCanvas, changes_figure
from gui.widgets.tables import TextTable

FAMILIES = ("mlp", "conv")
WAY_HEADERS = {"scratch_unlabelled": "scratch + unl.", "finetune_unlabelled": "finetune + unl."}
COLUMNS = (
    "family",
    "labels",
    *(f"{WAY_HEADERS.get(way, way)} (%)" for way in WAYS),
    "frozen − scratch",
    "finetune − scratch",
)


def default_studies_dir() -> Path:
    """Where studies go when the user did not choose a folder (per-user data folder)."""
    import platformdirs

    return Path(platformdirs.user_data_dir("EvenOddStudio", appauthor=False)) / "studies"


# ---------------------------------------------------------------------------------- plot


class StudyPlot(LiveCanvas):
    """Accuracy vs labels (log x), one panel per family, one line per way, error bars:
    engine.reports.figures' study panels, as in the study's report.

    Axes are made once per study (`reset`); each finished cell only changes the artists'
    data (`update_summary`), and LiveCanvas redraws at most ~4 times a second.
    """

    HINT = "Accuracy appears here as the study runs"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, size=(8, 3.4))
        self.panels: dict[str, StudyArtists] = {}
        self.reset(FAMILIES)

    @changes_figure
    def reset(self, families: tuple[str, ...]) -> None:
        self.figure.clear()
        self.panels = study_figures.study_panels(
            self.figure, families, ACCURACY_LABEL, PANEL, hint=self.HINT
        )
        self.figure.subplots_adjust(left=0.08, right=0.98, bottom=0.17, top=0.9, wspace=0.25)
        self.mark_dirty()

    @changes_figure
    def update_summary(self, summary: dict) -> None:
        """Set every line from engine.study.stats.summarize output (mean ± std per way)."""
        study_figures.show_accuracy(self.panels, summary)
        self.mark_dirty()

    def series(self, family: str, way: str) -> tuple[list[float], list[float]]:
        """The plotted (x, y) of one line (for tests and diagnostics); empty for a way
        with no results yet."""
        self.sync()
        drawn = self.panels[family].ways.get(way)
        if drawn is None:
            return [], []
        return list(drawn.line.get_xdata()), list(drawn.line.get_ydata())


# --------------------------------------------------------------------------------- panel


class ComparePanel(QWidget):
    """Settings, Start/Stop/Open, progress with ETA, live table and plot, conclusions."""

    cell_done = Signal(object)
    study_finished = Signal(object)

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.runner = state.runner  # the app's one runner: a study never runs beside a job
        self._cells: list[Any] = []
        self._settings: Any = None  # engine.study.settings.StudySettings of what is shown
        self._out: Path | None = None
        self._started = 0.0
        self.result: Any = None  # the last StudyResult (finished, stopped or opened)
        self._resumable: tuple[Any, Path] | None = None  # (settings, folder) of Resume
        self._build()
        state.watch(self.update_controls)
        self.update_controls()

    # ----------------------------------------------------------------------- layout

    def _build(self) -> None:
        self.mlp_check = QCheckBox("MLP")
        self.conv_check = QCheckBox("conv")
        self.mlp_check.setChecked(True)
        self.conv_check.setChecked(True)
        d = StudySettings()  # the engine's defaults, as `evenodd compare` has them
        self.labels_edit = QLineEdit(",".join(budget_key(b) for b in d.budgets))
        self.labels_edit.setToolTip("label budgets, comma separated; 'all' = every label")
        o = STUDY_OPTIONS  # bounds and help, as `evenodd compare` has them
        self.seeds_spin = option_spin(o["seeds"], d.seeds, "compareSeedsSpin")
        self.steps_spin = option_spin(o["min_steps"], d.min_steps, "compareStepsSpin")
        self.max_steps_spin = option_spin(o["max_steps"], d.max_steps, "compareMaxStepsSpin")
        self.val_every_spin = option_spin(o["val_every"], d.val_every, "compareValEverySpin")
        self.pretrain_spin = option_spin(o["pretrain_epochs"], d.pretrain_epochs,
                                         "comparePretrainSpin")  # fmt: skip
        self.target_spin = option_spin(o["target"], d.target, "compareTargetSpin")
        self.lr_spin = option_spin(
            TRAIN_OPTIONS["lr"], d.lr, "compareLrSpin",
            "peak learning rate of every cell, the same for all three ways",
        )  # fmt: skip
        self.lr_spin.setSingleStep(1e-3)  # the study's learning rates are larger
        self.semi_mlp_check = QCheckBox("MLP")
        self.semi_conv_check = QCheckBox("conv")
        self.semi_mlp_check.setChecked("mlp" in d.semi_families)
        self.semi_conv_check.setChecked("conv" in d.semi_families)
        for box in (self.semi_mlp_check, self.semi_conv_check):
            box.setToolTip(
                "families trained in the two semi-supervised ways too (scratch + unlabelled "
                "images, pretrained + unlabelled images); a semi-supervised cell takes "
                "several times longer than a supervised one"
            )
        self.semi_labels_edit = QLineEdit(",".join(str(b) for b in d.semi_budgets))
        self.semi_labels_edit.setObjectName("compareSemiLabelsEdit")
        self.semi_labels_edit.setToolTip(
            "label budgets for the semi-supervised ways, comma separated, among the label "
            "budgets above ('all' has nothing unlabelled); empty: none"
        )
        self.semi_steps_spin = option_spin(o["semi_steps"], d.semi_steps, "compareSemiStepsSpin")
        self.pick_combo = QComboBox()
        self.pick_combo.setObjectName("comparePickCombo")
        for name in PICKS:
            self.pick_combo.addItem(name)
            self.pick_combo.setItemData(
                self.pick_combo.count() - 1, PICK_HELP[name], Qt.ItemDataRole.ToolTipRole
            )
        self.pick_combo.setCurrentText(d.pick)
        self.pick_combo.setToolTip(
            "which images of each budget get labelled; every way of a budget and seed learns "
            "from the same ones. balanced reads every image's label to choose (the "
            "literature's benchmark protocol)"
        )
        self.kind_combo = QComboBox()
        self.kind_combo.setObjectName("compareLabelKindCombo")
        self.kind_combo.addItems(list(LABEL_KINDS))
        self.kind_combo.setCurrentText(d.label_kind)
        self.kind_combo.setToolTip(
            "what the chosen images are labelled with: their digit, or only even/odd"
        )
        self.out_edit = QLineEdit()
        self.out_edit.setPlaceholderText("automatic: a new folder under the app's data folder")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse_output)

        self.settings_box = settings_form(
            "Study",
            [
                ("Encoder families", side_by_side(self.mlp_check, self.conv_check, stretch=True)),
                ("Label budgets", self.labels_edit),
                ("Labelled images", self.pick_combo),
                ("Labels say", self.kind_combo),
                ("Seeds", self.seeds_spin),
                ("Steps per cell", self.steps_spin),
                ("Steps, all labels", self.max_steps_spin),
                ("Validate every", self.val_every_spin),
                ("Target val. accuracy", self.target_spin),
                ("Peak learning rate", self.lr_spin),
                ("Pretraining epochs", self.pretrain_spin),
                (
                    "+ unlabelled: families",
                    side_by_side(self.semi_mlp_check, self.semi_conv_check, stretch=True),
                ),
                ("+ unlabelled: budgets", self.semi_labels_edit),
                ("+ unlabelled: steps", self.semi_steps_spin),
                ("Output folder", side_by_side(self.out_edit, browse)),
            ],
        )

        self.start_button = QPushButton("Start")
        self.stop_button = QPushButton("Stop")
        self.open_button = QPushButton("Open study…")
        self.resume_button = QPushButton("Resume")
        self.resume_button.setObjectName("compareResumeButton")
        self.start_button.clicked.connect(self.start)
        self.stop_button.clicked.connect(self.stop)
        self.open_button.clicked.connect(self._choose_study)
        self.resume_button.clicked.connect(self.resume)
        buttons = QHBoxLayout()
        for button in (self.start_button, self.resume_button, self.stop_button, self.open_button):
            buttons.addWidget(button)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)
        self.status_label = QLabel("No study yet. Start one, or open a saved study.")
        self.status_label.setWordWrap(True)

        left = QVBoxLayout()
        left.addWidget(self.settings_box)
        left.addLayout(buttons)
        left.addWidget(self.progress)
        left.addWidget(self.status_label)
        left.addStretch()
        left_widget = QWidget()
        left_widget.setLayout(left)

        self.table = TextTable(
            COLUMNS,
            "mean ± std over seeds; gains are paired per seed with a 95% interval, "
            "* = larger than the spread across seeds",
        )
        self.table.verticalHeader().setVisible(False)
        self.plot = StudyPlot(self)
        self.conclusions = QTextBrowser()
        self.conclusions.setPlaceholderText("Conclusions appear when the study ends.")
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.plot)
        right.addWidget(self.table)
        right.addWidget(self.conclusions)
        right.setSizes([320, 220, 160])

        layout = QHBoxLayout(self)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left_widget)
        splitter.addWidget(right)
        splitter.setSizes([300, 800])
        layout.addWidget(splitter)

    def settings_widgets(self) -> dict[str, QWidget]:
        """Controls worth remembering between sessions (see gui.state.settings)."""
        return {
            "mlp": self.mlp_check,
            "conv": self.conv_check,
            "labels": self.labels_edit,
            "seeds": self.seeds_spin,
            "steps": self.steps_spin,
            "max_steps": self.max_steps_spin,
            "val_every": self.val_every_spin,
            "target": self.target_spin,
            "lr": self.lr_spin,
            "pretrain_epochs": self.pretrain_spin,
            "semi_mlp": self.semi_mlp_check,
            "semi_conv": self.semi_conv_check,
            "semi_labels": self.semi_labels_edit,
            "semi_steps": self.semi_steps_spin,
            "pick": self.pick_combo,
            "label_kind": self.kind_combo,
            "output": self.out_edit,
        }

    # --------------------------------------------------------------------- settings

    def study_settings(self) -> Any:
        """The engine.study.settings.StudySettings the controls describe (raises StudyError)."""
        from engine.data.mnist import budgets_from_text
        from engine.study.settings import StudyError

        families = tuple(
            family
            for family, box in (("mlp", self.mlp_check), ("conv", self.conv_check))
            if box.isChecked()
        )
        if not families:
            raise StudyError("tick at least one encoder family (MLP, conv)")
        return StudySettings(
            budgets=tuple(budgets_from_text(self.labels_edit.text())),
            seeds=self.seeds_spin.value(),
            families=families,
            min_steps=self.steps_spin.value(),
            max_steps=max(self.steps_spin.value(), self.max_steps_spin.value()),
            val_every=self.val_every_spin.value(),
            target=self.target_spin.value(),
            lr=self.lr_spin.value(),
            pretrain_epochs=self.pretrain_spin.value(),
            semi_families=tuple(
                family
                for family, box in (("mlp", self.semi_mlp_check), ("conv", self.semi_conv_check))
                if box.isChecked()
            ),
            semi_budgets=semi_budgets_from_text(self.semi_labels_edit.text()),
            semi_steps=self.semi_steps_spin.value(),
            pick=self.pick_combo.currentText(),
            label_kind=self.kind_combo.currentText(),
        ).validate()

    def apply_settings(self, settings: Any) -> None:
        """Put a StudySettings into the controls (an opened study can be run again)."""
        self.mlp_check.setChecked("mlp" in settings.families)
        self.conv_check.setChecked("conv" in settings.families)
        self.labels_edit.setText(",".join(budget_key(b) for b in settings.budgets))
        self.seeds_spin.setValue(settings.seeds)
        self.steps_spin.setValue(settings.min_steps)
        self.max_steps_spin.setValue(settings.max_steps)
        self.val_every_spin.setValue(settings.val_every)
        self.target_spin.setValue(settings.target)
        self.lr_spin.setValue(settings.lr)
        self.pretrain_spin.setValue(settings.pretrain_epochs)
        self.semi_mlp_check.setChecked("mlp" in settings.semi_families)
        self.semi_conv_check.setChecked("conv" in settings.semi_families)
        self.semi_labels_edit.setText(",".join(str(b) for b in settings.semi_budgets))
        self.semi_steps_spin.setValue(settings.semi_steps)
        self.pick_combo.setCurrentText(settings.pick)
        self.kind_combo.setCurrentText(settings.label_kind)

    def _output_folder(self) -> Path:
        text = self.out_edit.text().strip()
        if text:
            return Path(text).expanduser()
        return default_studies_dir() / time.strftime("study-%Y%m%d-%H%M%S")

    def _browse_output(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder for the study's files")
        if folder:
            self.out_edit.setText(folder)

    # ------------------------------------------------------------------------ running

    def is_running(self) -> bool:
        """A study (not another tab's job) is running."""
        return self.runner.is_busy() and self.runner.name == "compare"

    def _reason_disabled(self) -> str:
        if self.state.data is None and not self.state.model.data_coming():
            return "Load MNIST on the Data tab first"
        return ""

    def update_controls(self) -> None:
        """Start when MNIST is there and no training or study runs (behind a short job it
        waits its turn); Stop, locked settings and no "Open study…" while the study runs."""
        busy = self.runner.is_busy()
        mine = busy and self.runner.name == "compare"
        reason = self._reason_disabled()
        if not reason and busy and self.runner.name in LONG_JOBS:
            reason = f"Wait until {job_title(self.runner.name)} ends, or stop it (Esc)"
        self.start_button.setEnabled(not reason)
        self.start_button.setToolTip(
            reason
            or "Run the study with these settings (F5); if the output folder already holds "
            "this study, it is resumed: its finished cells are kept"
        )
        self.resume_button.setEnabled(not reason and self._resumable is not None)
        self.resume_button.setToolTip(
            reason
            or (
                f"Continue the study in {self._resumable[1]} with its own settings: its "
                "finished cells are kept, only the missing ones are trained"
                if self._resumable
                else "Open or stop a study that has cells left to train to resume it"
            )
        )
        self.open_button.setEnabled(not mine)
        self.settings_box.setEnabled(not mine)
        self.stop_button.setEnabled(mine)

    def start(self) -> bool:
        """Start a study with the current settings, now or when a short job ends; False,
        with a message, if the settings are wrong or it is refused.

        If the output folder holds this study, it is resumed (its finished cells kept);
        if it holds another study, the user is asked whether to start over."""
        try:
            settings = self.study_settings()
        except UserError as exc:
            errors.show_error(self, str(exc))
            return False
        return self._request(settings, self._output_folder())

    def resume(self) -> bool:
        """Continue the unfinished study shown (opened, stopped or failed) in its folder,
        with its own settings (which may include some the controls do not show)."""
        if self._resumable is None:
            self.state.status("Study not resumed: no unfinished study is shown.")
            return False
        settings, folder = self._resumable
        return self._request(settings, folder)

    def _request(self, settings: Any, out: Path) -> bool:
        reason = self._reason_disabled()
        if reason and not self.runner.is_busy():
            self.state.status(f"Study not started: {reason}.")
            return False
        restart = self._ask_about_folder(settings, out)
        if restart is None:
            return False
        return self.state.request(
            "compare", "the study", lambda: self._start_when_due(settings, out, restart)
        )

    def _ask_about_folder(self, settings: Any, out: Path) -> bool | None:
        """Whether to start over in `out` (False: it is free or holds this study, which is
        resumed); None if the user keeps the other study there or `out` is unusable.
        Reads study.json only: quick enough for the GUI thread."""
        from PySide6.QtWidgets import QMessageBox

        from engine.study.resume import OtherStudyError, saved_study

        try:
            saved = saved_study(out, settings)
        except OtherStudyError as exc:
            answer = QMessageBox.question(
                self,
                errors.TITLE,
                f"{exc}.\n\nStart over, replacing that study's files?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No,
            )
            if answer != QMessageBox.StandardButton.Yes:
                self._status(f"Study not started: {out} holds another study.")
                return None
            return True
        except UserError as exc:  # e.g. the folder is a file
            errors.show_error(self, str(exc))
            return None
        if saved is not None:
            self._status(f"resuming {out}: {len(saved.cells)} of {saved.planned_cells} cells kept")
        return False

    def _start_when_due(self, settings: Any, out: Path, restart: bool) -> None:
        reason = self._reason_disabled()
        if reason:
            self.state.status(f"Study not started: {reason}.")
            return
        data = self.state.data.mnist

        def job(on_event, should_stop):
            from engine.study.run import run_study

            return run_study(data, settings, on_event, should_stop, out, restart)

        self._show_new(settings, out)
        self._started = time.monotonic()
        self.runner.start(
            job,
            on_event=self._on_event,
            on_success=self._on_success,
            on_failure=self._on_failure,
            name="compare",
        )

    def stop(self) -> None:
        """Ask the study to stop; every finished cell stays (in the table and on disk)."""
        if self.runner.is_busy() and self.runner.name == "compare":
            self.runner.stop()
            self._status("stopping after the current batch…")

    def _on_event(self, event: object) -> None:
        from engine.events import CellDone, Message, Progress

        if isinstance(event, Progress):
            self._on_progress(event)
        elif isinstance(event, CellDone):
            self._on_cell(event)
        elif isinstance(event, Message):
            self.state.status(event.text)

    def _on_progress(self, event: Any) -> None:
        self.progress.setValue(round(1000 * event.fraction))
        what = {"compare": "study", "download": "downloading MNIST"}.get(event.phase, event.phase)
        cells = f" · cell {event.batch}/{event.batches}" if event.batches else ""
        self._status(
            f"{what}: {100 * event.fraction:.0f}%{cells} · elapsed "
            f"{format_seconds(event.elapsed)} · ETA {format_seconds(event.eta)}"
        )

    def _on_cell(self, event: Any) -> None:
        from engine.study.settings import Cell

        self._cells.append(Cell.from_dict(event.extra))
        self._refresh_results()
        self.cell_done.emit(event)

    def _on_success(self, result: Any) -> None:
        self.result = result
        self._set_resumable(result, self._out)
        self._cells = list(result.cells)
        self._refresh_results(final=True)
        if result.status == "completed":
            self.progress.setValue(1000)
        self._status(
            f"{result.status}: {len(result.cells)}/{result.planned_cells} cells in "
            f"{format_seconds(result.seconds)}. Files in {self._out} (report.html)."
        )
        self.study_finished.emit(result)

    def _on_failure(self, message: str, details: str) -> None:
        self._status(f"failed: {message}")
        if self._out is not None:  # the cells finished before the failure are on disk
            from engine.study.report import load_study

            with contextlib.suppress(UserError):  # no study written yet: nothing to resume
                self._set_resumable(load_study(self._out), self._out)
        errors.show_error(self, message, details)

    # ----------------------------------------------------------------- saved studies

    def _choose_study(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a saved study folder")
        if folder:
            self.open_study(folder)

    def open_study(self, folder: str | Path) -> bool:
        """Show a saved study (its study.json); False with a message if it cannot be read
        or a study is running (its table and plot are on show)."""
        if self.runner.is_busy() and self.runner.name == "compare":
            self.state.status("Stop the running study before opening another one.")
            return False
        from engine.study.report import load_study

        try:
            result = load_study(folder)
        except UserError as exc:
            errors.show_error(self, str(exc))
            return False
        self._show_new(result.settings, Path(folder))
        self.apply_settings(result.settings)
        self.result = result
        self._set_resumable(result, Path(folder))
        self._cells = list(result.cells)
        self._refresh_results(final=True)
        done = len(result.cells) / result.planned_cells if result.planned_cells else 0
        self.progress.setValue(round(1000 * done))
        status = "interrupted" if result.status == "running" else result.status  # a crash
        more = " · Resume trains the missing cells" if self._resumable else ""
        self._status(
            f"opened {folder}: {status}, {len(result.cells)}/{result.planned_cells} "
            f"cells, {format_seconds(result.seconds)}{more}"
        )
        self.study_finished.emit(result)
        return True

    def _set_resumable(self, result: Any, folder: Path | None) -> None:
        """Offer Resume for a study with cells still to train and a folder to train into."""
        unfinished = folder is not None and len(result.cells) < result.planned_cells
        self._resumable = (result.settings, folder) if unfinished else None
        self.update_controls()

    # ------------------------------------------------------------------- showing data

    def _show_new(self, settings: Any, out: Path) -> None:
        self._settings, self._out, self._cells, self.result = settings, out, [], None
        self._resumable = None
        self.progress.setValue(0)
        self.table.setRowCount(0)
        self.conclusions.clear()
        self.plot.reset(tuple(settings.families))

    def summary(self) -> dict:
        """engine.study.stats.summarize of the cells shown so far."""
        from engine.study.stats import summarize

        return summarize(self._cells, self._settings)

    def _refresh_results(self, final: bool = False) -> None:
        summary = self.summary()
        self.plot.update_summary(summary)
        self._fill_table(summary)
        if final:
            from engine.study.stats import sentences

            items = "".join(f"<li>{_escape(s)}</li>" for s in sentences(summary))
            self.conclusions.setHtml(f"<ul>{items}</ul>" if items else "")

    def _fill_table(self, summary: dict) -> None:
        from engine.study.report import fmt_gain, fmt_mean_std

        rows = [
            (family, budget, row, summary["gains"].get(family, {}).get(budget, {}))
            for family, per_budget in summary["table"].items()
            for budget, row in per_budget.items()
        ]
        self.table.setRowCount(len(rows))
        for r, (family, budget, row, gains) in enumerate(rows):
            values = [family, budget]
            values += [fmt_mean_std(row[w]) if w in row else "" for w in WAYS]
            values += [fmt_gain(gains.get("frozen")), fmt_gain(gains.get("finetune"))]
            for c, value in enumerate(values):
                self.table.set_text(r, c, value)

    def table_text(self) -> list[list[str]]:
        """The table's cells as text (tests, copying)."""
        return self.table.texts()

    def _status(self, text: str) -> None:
        self.status_label.setText(text)
        self.state.status(text)


def _escape(text: str) -> str:
    import html

    return html.escape(text)
