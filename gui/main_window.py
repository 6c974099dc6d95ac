"""The main window: tabs in workflow order, menus, shortcuts, status bar, settings.

What the app holds lives in `gui.state.model` (no Qt), which the tabs reach through the
`gui.state.signals.AppState` adapter: it owns the single JobRunner, so only one heavy job
runs at a time, and a request made meanwhile waits its turn or is refused with a message.
Tabs talk to each other only through AppState's signals; none of them imports this module.

Nothing here imports torch; engine modules are imported inside the functions that need
them, so the window paints before the heavy libraries load.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from engine.learning import child as choosing_child
from gui.panels.data_panel import DataPanel
from gui.panels.evaluate_panel import EvaluatePanel
from gui.panels.finetune_panel import FROM_FILE, FinetunePanel
from gui.panels.label_panel import LabelPanel
from gui.panels.pretrain_panel import PretrainPanel
from gui.state import errors
from gui.state.settings import open_settings, restore_widgets, save_widgets
from gui.state.signals import AppState, JobTab

APP_TITLE = "Even/Odd Studio"
ABOUT = (
    "<b>Even/Odd Studio</b><br>Learn from unlabelled MNIST: pretrain an autoencoder on the "
    "images alone, then fine-tune an even/odd classifier with a few labels, evaluate it, "
    "and try it on your own drawings."
)

EXPORT_TIP = (
    "Write the classifier as an ONNX file (28x28 image in, P(odd) out) for use outside the "
    "app, e.g. with onnxruntime"
)


def load_default_model_job(on_event: Any, should_stop: Any) -> tuple[Any, Any]:
    """The shipped classifier, and its autoencoder when it is shipped too."""
    from engine.store.checkpoint import load_checkpoint
    from engine.store.resources import default_model_path

    classifier = load_checkpoint(default_model_path("classifier"), expect=("classifier",))
    path = default_model_path("autoencoder")
    autoencoder = load_checkpoint(path, expect=("autoencoder",)) if path.is_file() else None
    return classifier, autoencoder


def load_checkpoint_job(path: str, expect: tuple[str, ...]):  # -> Job
    def job(on_event, should_stop) -> Any:
        from engine.store.checkpoint import load_checkpoint

        return load_checkpoint(path, expect=expect)

    return job


class MainWindow(QMainWindow):
    """The app window. `MainWindow()` builds everything (tests construct it directly);
    `MainWindow(defer_draw=True)` leaves the Draw tab to `finish_startup()` so the window
    can paint before the drawing panel's imports run."""

    def __init__(self, parent: QWidget | None = None, defer_draw: bool = False) -> None:
        super().__init__(parent)
        self.setWindowTitle(APP_TITLE)
        self.state = AppState(self)
        self.state.status_message.connect(lambda text: self.statusBar().showMessage(text, 8000))
        self.state.open_requested.connect(self._open_requested)
        self.state.models_changed.connect(self._models_changed)
        self.state.data_changed.connect(self._data_changed)
        self.state.runner.busy_changed.connect(self._busy_changed)
        self.state.jobs_changed.connect(self._update_summary)

        self.tabs = QTabWidget()
        self.tabs.setObjectName("mainTabs")
        self.data_panel = DataPanel(self.state)
        self.pretrain_panel = PretrainPanel(self.state)
        self.label_panel = LabelPanel(self.state)
        self.finetune_panel = FinetunePanel(self.state, self.pretrain_panel.arch_values)
        self.evaluate_panel = EvaluatePanel(self.state)
        self.draw_panel: Any = None
        self.compare_panel: Any = None
        for panel, title in (
            (self.data_panel, "Data"),
            (self.pretrain_panel, "Pretrain"),
            (self.label_panel, "Label"),
            (self.finetune_panel, "Fine-tune"),
            (self.evaluate_panel, "Evaluate"),
        ):
            panel.setObjectName(f"{title.lower().replace('-', '')}Panel")
            self.tabs.addTab(panel, title)
        self._draw_placeholder = self._placeholder("The Draw tab is loading …")
        self._compare_placeholder = self._placeholder("The Compare tab is loading …")
        self.tabs.addTab(self._draw_placeholder, "Draw")
        self.tabs.addTab(self._compare_placeholder, "Compare")
        self.setCentralWidget(self.tabs)

        self.summary_label = QLabel("")
        self.summary_label.setObjectName("stateSummaryLabel")
        self.statusBar().addPermanentWidget(self.summary_label)
        self._build_menus()
        self._restore_settings()
        self._update_summary()
        if not defer_draw:
            self.finish_startup()

    # ------------------------------------------------------------------ construction

    @staticmethod
    def _placeholder(text: str) -> QWidget:
        widget = QWidget()
        label = QLabel(text)
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        label.setWordWrap(True)
        QVBoxLayout(widget).addWidget(label)
        return widget

    def finish_startup(self) -> None:
        """Create the Draw and Compare tabs (their imports are heavier), replacing the
        placeholders, so the window paints first."""
        if self.draw_panel is not None:
            return
        from gui.panels.compare_panel import ComparePanel
        from gui.panels.draw_panel import DrawPanel

        current = self.tabs.currentIndex()
        self.draw_panel = self._replace_tab(
            self.tabs.indexOf(self._draw_placeholder),
            DrawPanel(drawings=self.state.drawings),
            "Draw",
            "drawPanel",
        )
        self.compare_panel = self._replace_tab(
            self.tabs.indexOf(self._compare_placeholder),
            ComparePanel(self.state),
            "Compare",
            "comparePanel",
        )
        restore_widgets(open_settings(), "compare", self.compare_panel.settings_widgets())
        self.tabs.setCurrentIndex(current)
        self._data_changed()
        self._models_changed()

    def _replace_tab(self, index: int, panel: QWidget, title: str, name: str) -> QWidget:
        panel.setObjectName(name)
        old = self.tabs.widget(index)
        self.tabs.removeTab(index)
        old.deleteLater()
        self.tabs.insertTab(index, panel, title)
        return panel

    def _action(
        self, menu: Any, text: str, slot: Any, shortcut: Any = None, tip: str = "", name: str = ""
    ) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.setStatusTip(tip)
        action.setToolTip(tip)
        if name:
            action.setObjectName(name)
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.setToolTipsVisible(True)  # a greyed-out item says why on hover
        self.open_data_action = self._action(
            file_menu,
            "Open data folder…",
            self.data_panel.browse,
            QKeySequence.StandardKey.Open,
            "Choose the folder with the MNIST files",
            "openDataAction",
        )
        self.open_encoder_action = self._action(
            file_menu,
            "Open encoder…",
            lambda: self.open_checkpoint("encoder"),
            "Ctrl+Shift+O",
            "Load an encoder or autoencoder checkpoint for fine-tuning",
            "openEncoderAction",
        )
        self.open_classifier_action = self._action(
            file_menu,
            "Open classifier…",
            lambda: self.open_checkpoint("classifier"),
            "Ctrl+L",
            "Load a classifier checkpoint to evaluate or draw with",
            "openClassifierAction",
        )
        file_menu.addSeparator()
        self.save_encoder_action = self._action(
            file_menu,
            "Save encoder…",
            lambda: self.pretrain_panel.save("encoder"),
            "Ctrl+Shift+S",
            "Save the pretrained encoder",
            "saveEncoderAction",
        )
        self.save_classifier_action = self._action(
            file_menu,
            "Save classifier…",
            lambda: self.finetune_panel.save(),
            QKeySequence.StandardKey.Save,
            "Save the classifier",
            "saveClassifierAction",
        )
        self.export_onnx_action = self._action(
            file_menu,
            "Export classifier as ONNX…",
            lambda: self.export_onnx(),
            None,
            EXPORT_TIP,
            "exportOnnxAction",
        )
        file_menu.addSeparator()
        self._action(
            file_menu, "Quit", self.close, QKeySequence.StandardKey.Quit, "Quit", "quitAction"
        )

        run_menu = bar.addMenu("&Run")
        self.start_action = self._action(
            run_menu,
            "Start (current tab)",
            self.start_current,
            "F5",
            "Start pretraining, fine-tuning or evaluation on the current tab",
            "startAction",
        )
        self.stop_action = self._action(
            run_menu,
            "Stop",
            self.stop,
            "Ctrl+.",
            "Stop the running job within a second (what was trained so far is kept)",
            "stopAction",
        )
        escape = QShortcut(QKeySequence(Qt.Key.Key_Escape), self)
        escape.activated.connect(self.stop)
        for i in range(9):
            shortcut = QShortcut(QKeySequence(f"Ctrl+{i + 1}"), self)
            shortcut.activated.connect(lambda i=i: self._go_to_tab(i))

        help_menu = bar.addMenu("&Help")
        self._action(
            help_menu, "About Even/Odd Studio", self.about, None, "About this app", "aboutAction"
        )
        self._busy_changed(False)

    def _go_to_tab(self, index: int) -> None:
        if index < self.tabs.count():
            self.tabs.setCurrentIndex(index)

    # ----------------------------------------------------------------------- actions

    def start_current(self) -> bool:
        """F5: start (or queue) the current tab's job; False, with the reason in the status
        bar, when it cannot."""
        panel = self.tabs.currentWidget()
        if isinstance(panel, JobTab):
            return panel.start()
        title = self.tabs.tabText(self.tabs.currentIndex())
        self.state.status(f"Nothing to start on the {title} tab.")
        return False

    def stop(self) -> None:
        """Stop and Esc: stop the running job, whichever tab started it."""
        self.state.runner.stop()

    def about(self) -> None:
        QMessageBox.about(self, f"About {APP_TITLE}", ABOUT)

    def export_onnx(self, path: str | None = None) -> bool:
        """Write the current classifier as ONNX (engine.store.export) in the background,
        now or when the running job ends; False, saying why, when it cannot start."""
        reason = self._export_unavailable()
        if reason:
            self.state.status(f"Not exported: {reason}")
            return False
        checkpoint = self.state.classifier
        if path is None:
            stem = checkpoint.path.stem if checkpoint.path else "classifier"
            path, _ = QFileDialog.getSaveFileName(
                self,
                "Export classifier as ONNX",
                f"{self.state.last_dir()}/{stem}.onnx",
                "ONNX models (*.onnx);;All files (*)",
            )
            if not path:
                return False
        # A copy made here: the job's thread never touches the model the Draw tab uses.
        snapshot = dataclasses.replace(checkpoint, model=copy.deepcopy(checkpoint.model))
        name = Path(path).name

        def job(on_event: Any, should_stop: Any) -> Any:
            from engine.store.export import export_onnx

            return export_onnx(snapshot, path)

        def exported(result: Any) -> None:
            self.state.remember_dir(path)
            checked = (
                "; onnxruntime agrees with torch"
                if result.max_difference is not None
                else "; not checked (onnxruntime is not installed)"
            )
            self.state.status(f"Exported the classifier to {path}{checked}")

        def failed(message: str, details: str) -> None:
            self.state.status(f"Could not export {name}")
            errors.show_error(self, message, details)

        def start() -> None:
            self.state.runner.start(job, on_success=exported, on_failure=failed, name="export-onnx")
            self.state.status(f"Exporting the classifier to {name} …")

        return self.state.request("export-onnx", f"export {name}", start)

    def _export_unavailable(self) -> str:
        """Why the classifier cannot be exported now, or "" (cheap: imports no torch)."""
        if self.state.classifier is None:
            return "there is no classifier yet: open one (File → Open classifier…) or train one"
        from engine.store.export import missing_package

        return missing_package() or ""

    def _open_requested(self, kind: str) -> None:
        self.open_checkpoint(kind)

    def open_checkpoint(self, kind: str, path: str | None = None) -> bool:
        """Load an encoder ("encoder": encoder or autoencoder file) or a classifier in the
        background, now or when the running job ends. On failure the error is shown and
        nothing that was loaded changes. False if no file was chosen."""
        if path is None:
            path, _ = QFileDialog.getOpenFileName(
                self, f"Open {kind}", self.state.last_dir(), "Checkpoints (*.pt);;All files (*)"
            )
            if not path:
                return False
        expect = ("encoder", "autoencoder") if kind == "encoder" else ("classifier",)

        def loaded(checkpoint: Any) -> None:
            self.state.remember_dir(path)
            if kind == "encoder":
                self.state.set_encoder_file(checkpoint)
                self.finetune_panel.source_combo.setCurrentIndex(FROM_FILE)
            else:
                self.state.set_classifier(checkpoint)
            self.state.status(
                f"Loaded {checkpoint.kind} {Path(path).name} (sha256 {checkpoint.sha256[:12]}…)"
            )

        def failed(message: str, details: str) -> None:
            self.state.status(f"Could not open {Path(path).name}")
            errors.show_error(self, message, details)

        def start() -> None:
            self.state.runner.start(
                load_checkpoint_job(path, expect),
                on_success=loaded,
                on_failure=failed,
                name=f"open-{kind}",
            )

        return self.state.request(f"open-{kind}", f"open {kind} {Path(path).name}", start)

    # ------------------------------------------------------------------------ state

    def _busy_changed(self, busy: bool) -> None:
        # Opening and Start stay enabled while busy: they wait their turn or say why not.
        self.stop_action.setEnabled(busy)
        self.save_encoder_action.setEnabled(self.state.autoencoder is not None)
        self.save_classifier_action.setEnabled(self.state.classifier is not None)
        reason = self._export_unavailable()
        self.export_onnx_action.setEnabled(not reason)
        tip = f"{EXPORT_TIP} (unavailable: {reason})" if reason else EXPORT_TIP
        self.export_onnx_action.setStatusTip(tip)
        self.export_onnx_action.setToolTip(tip)

    def _models_changed(self) -> None:
        self._busy_changed(self.state.runner.is_busy())
        self._update_summary()
        panel = self.draw_panel
        if panel:
            try:
                panel.set_classifier(self.state.classifier)
                panel.set_autoencoder(self.state.decoder_model())
            except Exception as exc:  # the draw panel's problem must not break training
                self.statusBar().showMessage(f"Draw tab: {exc}", 8000)

    def _data_changed(self) -> None:
        self._update_summary()

    def _update_summary(self) -> None:
        state = self.state
        data = (
            "no data"
            if state.data is None
            else f"{len(state.data.mnist.train_images):,} training images"
        )
        parts = [
            data,
            "autoencoder ✓" if state.autoencoder is not None else "no autoencoder",
            "classifier ✓" if state.classifier is not None else "no classifier",
        ]
        parts += [f"waiting: {request.label}" for request in state.model.jobs.waiting]
        self.summary_label.setText(" · ".join(parts))

    # --------------------------------------------------------------------- settings

    def _panels_with_settings(self) -> dict[str, JobTab]:
        return {
            "data": self.data_panel,
            "pretrain": self.pretrain_panel,
            "label": self.label_panel,
            "finetune": self.finetune_panel,
            **({"compare": self.compare_panel} if self.compare_panel is not None else {}),
        }

    def _restore_settings(self) -> None:
        settings = open_settings()
        geometry = settings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1200, 800)
        for group, panel in self._panels_with_settings().items():
            restore_widgets(settings, group, panel.settings_widgets())
        folder = settings.value("data/folder")
        if folder:
            self.data_panel.dir_edit.setText(str(folder))
        self.state.model.last_dir = str(settings.value("paths/last_dir") or "")
        with contextlib.suppress(TypeError, ValueError):
            self.tabs.setCurrentIndex(int(settings.value("window/tab", 0)))

    def save_settings(self) -> None:
        settings = open_settings()
        settings.setValue("window/geometry", self.saveGeometry())
        settings.setValue("window/tab", self.tabs.currentIndex())
        for group, panel in self._panels_with_settings().items():
            save_widgets(settings, group, panel.settings_widgets())
        if self.state.data is not None:
            settings.setValue("data/folder", self.state.data.folder)
        settings.setValue("paths/last_dir", self.state.model.last_dir)
        settings.sync()

    def load_default_model(self, then: Any = None) -> bool:
        """Load the model shipped in resources/ in the background, so the Draw tab works on
        first launch with no data and no network. `then` runs afterwards in any case."""

        def finish() -> None:
            if then is not None:
                then()

        if self.state.classifier is not None:
            finish()
            return False

        def loaded(result: tuple[Any, Any]) -> None:
            if self.state.model.set_shipped(*result):  # not if the user opened one meanwhile
                self.state.status("Loaded the shipped default model: draw a digit on the Draw tab")
            finish()

        def failed(message: str, details: str) -> None:
            self.state.status(f"No default model: {message}")
            finish()

        started = self.state.runner.start(
            load_default_model_job, on_success=loaded, on_failure=failed, name="open-default"
        )
        if not started:
            finish()
        return started

    def remembered_data_folder(self) -> str:
        return str(open_settings().value("data/folder") or "")

    def load_remembered_data(self) -> bool:
        """Load the data folder used last time (called by the app after the first paint),
        unless the user already asked for a folder while the app was starting."""
        if self.state.model.jobs.is_waiting("data"):
            return False
        folder = self.remembered_data_folder()
        if folder and Path(folder).is_dir():
            return self.data_panel.load_folder(folder)
        return False

    # ------------------------------------------------------------------------ close

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.state.runner.is_busy():
            answer = QMessageBox.question(
                self,
                "Quit while training?",
                "A job is still running. Stop it and quit? (The model being trained is lost "
                "unless you saved it.)",
            )
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
            self.statusBar().showMessage("Stopping …")
            if not self.state.runner.shutdown(timeout_ms=30_000):
                event.ignore()  # never destroy a running thread
                QTimer.singleShot(200, self.close)
                return
        self.save_settings()
        self.state.labels.flush()  # the last label typed is on disk
        if self.draw_panel:
            self.draw_panel.close()
        self.pretrain_panel.latent_map.shutdown()  # kills a running t-SNE child process
        choosing_child.shutdown()  # the child kept for choosing images to label
        event.accept()
