"""The Draw panel: draw or open a digit and see, live, what the classifier makes of it.

The drawing goes through exactly the preprocessing of `evenodd predict`
(`engine.data.preprocess.to_mnist`, then `to_model_input`), and the 28×28 preview shows those
very pixels, so what you see is what the model sees. An opened file is classified from its
original pixels (not from its rendering on the canvas), so the app and the CLI agree.

torch is imported only inside methods: importing this module must stay cheap so the main
window can appear before torch has loaded. A model can only be handed to the panel once
torch is loaded anyway.
"""

from __future__ import annotations

import contextlib
import copy
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QPoint, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QColor, QFont, QImage, QKeySequence, QPainter, QPixmap
from PySide6.QtWidgets import (
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from engine.data import preprocess
from gui.state.drawings import MyDrawings
from gui.widgets.canvas import MAX_BRUSH, MIN_BRUSH, DrawCanvas
from gui.widgets.drawings_gallery import DrawingsGallery

if TYPE_CHECKING:
    from torch import nn

PREDICT_DELAY_MS = 80  # at most ~12 predictions a second while drawing, ~1 frame of lag
PREVIEW_SCALE = 5  # 28×28 shown as 140×140, nearest neighbour: every model pixel visible
BLANK_TEXT = "draw a digit"  # must never contain "even" or "odd": there is no prediction
NO_MODEL_TEXT = "no model loaded"  # ditto
MODEL_FAILED_TEXT = "model failed"  # ditto; the status text says why
IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.gif *.tif *.tiff *.webp);;All files (*)"

Prediction = tuple[str, float] | None  # (parity, P(odd)), or None when there is none


def show_error(parent: QWidget, message: str) -> None:
    """Modal error box, through the app's one error-dialog function (tests patch it there)."""
    from gui.state import errors

    errors.show_error(parent, message)


def _describe_model(model: Any, module: nn.Module) -> str:
    """Short human description: file name and architecture when we know them."""
    parts = []
    path = getattr(model, "path", None)
    if path:
        parts.append(Path(path).name)
    cfg = getattr(model, "arch", None) or getattr(module, "cfg", None)
    if cfg is not None and hasattr(cfg, "arch"):
        parts.append(f"{cfg.arch}, latent {cfg.latent}")
    else:
        parts.append(type(module).__name__)
    return " · ".join(parts)


def _cpu_eval_copy(module: nn.Module) -> nn.Module:
    """A private CPU copy in eval mode: the caller's model may be on a GPU, or be trained
    further elsewhere; switching *its* mode or device from here would disturb that."""
    clone = copy.deepcopy(module).cpu()
    clone.eval()
    return clone


def _gray_pixmap(img28: np.ndarray, scale: int = PREVIEW_SCALE) -> QPixmap:
    """A uint8 (28, 28) image enlarged with nearest neighbour, so pixels stay square."""
    arr = np.ascontiguousarray(img28, dtype=np.uint8)
    h, w = arr.shape
    image = QImage(arr.data, w, h, w, QImage.Format.Format_Grayscale8).copy()
    return QPixmap.fromImage(
        image.scaled(w * scale, h * scale, Qt.AspectRatioMode.IgnoreAspectRatio,
                     Qt.TransformationMode.FastTransformation)
    )  # fmt: skip


def _empty_pixmap(scale: int = PREVIEW_SCALE) -> QPixmap:
    """A dark square with a faint cross: 'nothing to show' at the preview's size."""
    side = preprocess.SIZE * scale
    pixmap = QPixmap(side, side)
    pixmap.fill(QColor(28, 28, 28))
    painter = QPainter(pixmap)
    painter.setPen(QColor(70, 70, 70))
    painter.drawLine(QPoint(0, 0), QPoint(side - 1, side - 1))
    painter.drawLine(QPoint(0, side - 1), QPoint(side - 1, 0))
    painter.end()
    return pixmap


class DrawPanel(QWidget):
    """Canvas on the left; prediction, what the model sees, brush and actions on the right.

    API for the main window: `set_classifier`, `set_autoencoder`, `predict_now`, the
    `predictionChanged(object)` signal (None or (parity, p_odd)), `open_image(path)` and
    `mark(parity)`, which saves the drawing into `drawings` (the app's MyDrawings; a
    panel of its own makes one).
    """

    predictionChanged = Signal(object)

    def __init__(self, parent: QWidget | None = None, drawings: MyDrawings | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("drawPanel")
        self.drawings = drawings if drawings is not None else MyDrawings(self)
        self._classifier: nn.Module | None = None
        self._autoencoder: nn.Module | None = None
        self._classifier_text = ""
        self._prediction: Prediction = None
        self._input28: np.ndarray | None = None
        self._cache: tuple[int, np.ndarray | None] | None = None  # (canvas revision, 28×28)
        self._file_error = ""  # last file that could not be opened; cleared on change
        self._model_error = ""  # from the last prediction
        self._loaded_name = ""
        self._saved_text = ""  # "Saved drawing-0003.png as odd." until the next stroke

        self.canvas = DrawCanvas(self)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(PREDICT_DELAY_MS)
        self._timer.timeout.connect(self.predict_now)
        self._build_ui()

        self.canvas.changed.connect(self._schedule)
        self.canvas.fileDropped.connect(self.open_image)
        self.canvas.undoAvailable.connect(self.undo_button.setEnabled)
        self.predict_now()

    # ------------------------------------------------------------------------ UI

    def _build_ui(self) -> None:
        self.prediction_label = QLabel(self)
        self.prediction_label.setObjectName("predictionLabel")
        font = QFont(self.prediction_label.font())
        font.setPointSizeF(max(font.pointSizeF(), 9.0) * 2.0)
        font.setBold(True)
        self.prediction_label.setFont(font)
        self.prediction_label.setWordWrap(True)
        self.prediction_label.setMinimumHeight(self.prediction_label.fontMetrics().height() * 2)
        self.prediction_label.setAlignment(
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
        )
        self.prediction_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.preview = QLabel(self)
        self.preview.setObjectName("modelInputPreview")
        self.preview.setFixedSize(QSize(28 * PREVIEW_SCALE, 28 * PREVIEW_SCALE))
        self.preview.setToolTip(
            "Exactly what the classifier sees: your drawing cropped, scaled to 20 px, "
            "centred by mass in 28×28, white on black — like MNIST"
        )
        self.reconstruction = QLabel(self)
        self.reconstruction.setObjectName("reconstructionPreview")
        self.reconstruction.setFixedSize(self.preview.size())
        self.reconstruction.setToolTip(
            "The autoencoder's reconstruction of the model input: how well the pretrained "
            "encoder captures this drawing"
        )
        preview_caption = QLabel("model input (28×28)", self)
        self.reconstruction_caption = QLabel("reconstruction", self)
        previews = QGridLayout()
        previews.setHorizontalSpacing(10)
        previews.addWidget(self.preview, 0, 0)
        previews.addWidget(self.reconstruction, 0, 1)
        previews.addWidget(preview_caption, 1, 0)
        previews.addWidget(self.reconstruction_caption, 1, 1)
        previews.setColumnStretch(2, 1)

        self.brush_slider = QSlider(Qt.Orientation.Horizontal, self)
        self.brush_slider.setObjectName("brushSizeSlider")
        self.brush_slider.setRange(MIN_BRUSH, MAX_BRUSH)
        self.brush_slider.setValue(self.canvas.brush_size())
        self.brush_slider.setToolTip("Pen width in pixels")
        self.brush_value = QLabel(self)
        self.brush_value.setMinimumWidth(self.brush_value.fontMetrics().horizontalAdvance("00 px"))
        self.brush_slider.valueChanged.connect(self.canvas.set_brush_size)
        self.brush_slider.valueChanged.connect(lambda v: self.brush_value.setText(f"{v} px"))
        self.brush_value.setText(f"{self.canvas.brush_size()} px")
        brush_row = QHBoxLayout()
        brush_row.addWidget(QLabel("Brush", self))
        brush_row.addWidget(self.brush_slider, 1)
        brush_row.addWidget(self.brush_value)

        self.undo_button = QPushButton("Undo", self)
        self.undo_button.setObjectName("undoButton")
        self.clear_button = QPushButton("Clear", self)
        self.clear_button.setObjectName("clearButton")
        self.open_button = QPushButton("Open image…", self)
        self.open_button.setObjectName("openImageButton")
        self.undo_button.setEnabled(False)
        self.undo_button.clicked.connect(self.canvas.undo)
        self.clear_button.clicked.connect(self.canvas.clear)
        self.open_button.clicked.connect(self.open_image_dialog)

        # Shortcuts live on actions scoped to this panel (focus inside it), so they cannot
        # clash with other panels' Delete or Undo while those are in use.
        self.undo_action = self._action("Undo", [QKeySequence(QKeySequence.StandardKey.Undo)],
                                        self.canvas.undo)  # fmt: skip
        self.clear_action = self._action(
            "Clear", [QKeySequence(Qt.Key.Key_Delete), QKeySequence(Qt.Key.Key_Backspace)],
            self.canvas.clear,
        )  # fmt: skip
        undo_keys = self.undo_action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
        self.undo_button.setToolTip(f"Take back the last stroke or Clear ({undo_keys})")
        self.clear_button.setToolTip("Erase the canvas (Delete or Backspace; undoable)")
        self.open_button.setToolTip(
            "Classify a picture of a digit from a file (you can also drop a file on the canvas)"
        )
        buttons = QHBoxLayout()
        buttons.addWidget(self.undo_button)
        buttons.addWidget(self.clear_button)
        buttons.addStretch(1)

        self.mark_buttons: dict[str, QPushButton] = {}
        marks = QHBoxLayout()
        for parity in ("even", "odd"):
            button = QPushButton(f"Mark {parity}", self)
            button.setObjectName(f"mark{parity.capitalize()}Button")
            button.clicked.connect(lambda _checked=False, p=parity: self.mark(p))
            marks.addWidget(button)
            self.mark_buttons[parity] = button
        self.gallery = DrawingsGallery(self.drawings, self)
        self._marked_revision = -1
        self.drawings.saved.connect(self._drawing_saved)
        self.drawings.failed.connect(self._drawing_failed)

        self.status_label = QLabel(self)
        self.status_label.setObjectName("drawStatus")
        self.status_label.setWordWrap(True)
        self.status_label.setTextFormat(Qt.TextFormat.PlainText)
        small = QFont(self.status_label.font())
        small.setPointSizeF(max(small.pointSizeF(), 9.0) * 0.9)
        self.status_label.setFont(small)
        self.status_label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)

        side = QVBoxLayout()
        side.addWidget(self.prediction_label)
        side.addSpacing(6)
        side.addLayout(previews)
        side.addSpacing(12)
        side.addLayout(brush_row)
        side.addLayout(buttons)
        side.addWidget(self.open_button, 0, Qt.AlignmentFlag.AlignLeft)
        side.addSpacing(8)
        side.addWidget(self.status_label)
        side.addSpacing(8)
        side.addLayout(marks)
        side.addWidget(self.gallery, 1)
        side_widget = QWidget(self)
        side_widget.setLayout(side)
        side_widget.setFixedWidth(2 * 28 * PREVIEW_SCALE + 40)

        layout = QHBoxLayout(self)
        layout.addWidget(self.canvas, 1)
        layout.addWidget(side_widget, 0)
        self._show_reconstruction(None)

    def _action(self, text: str, keys: list[QKeySequence], slot: Any) -> QAction:
        action = QAction(text, self)
        action.setShortcuts(keys)
        action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        action.triggered.connect(slot)
        self.addAction(action)
        return action

    # ----------------------------------------------------------------------- API

    def set_classifier(self, model: Any) -> None:
        """Use `model` for predictions: a classifier Checkpoint, an nn.Module, or None.

        The panel keeps its own CPU copy in eval mode; later changes to `model` do not
        reach it (call again after retraining). Raises CheckpointError for a checkpoint of
        another kind, TypeError for anything that is not a model.
        """
        if model is None:
            self._classifier, self._classifier_text = None, ""
        else:
            module = self._module_of(model, "classifier")
            self._classifier = _cpu_eval_copy(module)
            self._classifier_text = _describe_model(model, module)
            self._warm_up(self._classifier)
        self.predict_now()

    def set_autoencoder(self, model: Any) -> None:
        """Show reconstructions from an autoencoder Checkpoint or Autoencoder (None: hide).

        A checkpoint without a decoder (an encoder, a classifier) simply hides the
        reconstruction: there is nothing to reconstruct with.
        """
        module = None
        if model is not None:
            if hasattr(model, "kind") and hasattr(model, "model"):  # a Checkpoint
                module = model.model if getattr(model, "has_decoder", False) else None
            else:
                module = self._module_of(model, "autoencoder")
                if not hasattr(module, "decoder"):
                    module = None
        self._autoencoder = None if module is None else _cpu_eval_copy(module)
        if self._autoencoder is not None:
            self._warm_up(self._autoencoder)
        self.predict_now()

    def prediction(self) -> Prediction:
        """The current (parity, P(odd)), or None."""
        return self._prediction

    def model_input(self) -> np.ndarray | None:
        """The (28, 28) uint8 image last given to the model (None when nothing drawn)."""
        return None if self._input28 is None else self._input28.copy()

    def predict_now(self) -> Prediction:
        """Recompute preview, prediction and reconstruction synchronously; returns it."""
        self._timer.stop()
        self._model_error = ""
        img28 = self._current_input()
        self._input28 = img28
        prediction: Prediction = None
        recon = None
        if img28 is not None:
            try:
                if self._classifier is not None:
                    prediction = self._classify(img28)
                if self._autoencoder is not None:
                    recon = self._reconstruct(img28)
            except Exception as exc:  # a foreign nn.Module may not fit 28×28 input
                from gui.state import errors

                self._model_error = f"the model failed on this input: {errors.describe(exc)[0]}"
                prediction, recon = None, None
        self.preview.setPixmap(_gray_pixmap(img28) if img28 is not None else _empty_pixmap())
        self._show_reconstruction(recon)
        self._show_prediction(img28, prediction)
        self._update_mark_buttons(img28 is not None)
        self._show_status()
        if prediction != self._prediction:
            self._prediction = prediction
            self.predictionChanged.emit(prediction)
        return prediction

    def mark(self, parity: str) -> bool:
        """Save the current drawing, as the model sees it, with `parity` into My drawings.

        The files are written in the background; once they are, the canvas is cleared
        for the next drawing (Undo brings it back) unless it was drawn on meanwhile.
        False when there is nothing to save or a save is still being written.
        """
        img28 = self._current_input()
        if img28 is None or self.drawings.busy():
            self._file_error = "nothing drawn to save" if img28 is None else ""
            self._show_status()
            return False
        raw = None if self.canvas.loaded_array() is not None else self.canvas.to_array()
        self._marked_revision = self.canvas.revision
        self.drawings.add(img28, parity, raw)
        self._saved_text = f"Saving as {parity} …"
        self._update_mark_buttons(True)
        self._show_status()
        return True

    def _drawing_saved(self, name: str, parity: str) -> None:
        if self.canvas.revision == self._marked_revision:  # not drawn on since: next one
            self.canvas.clear()
            self.predict_now()
        self._saved_text = f"Saved {name} as {parity}."
        self._update_mark_buttons(self._input28 is not None)
        self._show_status()

    def _drawing_failed(self, message: str) -> None:
        self._file_error, self._saved_text = message, ""
        self._update_mark_buttons(self._input28 is not None)
        self._show_status()
        show_error(self, message)

    def open_image_dialog(self) -> None:
        """Ask for an image file and classify it."""
        path, _ = QFileDialog.getOpenFileName(self, "Open image of a digit", "", IMAGE_FILTER)
        if path:
            self.open_image(path)

    def open_image(self, path: str) -> bool:
        """Load an image file onto the canvas and classify it; False if it cannot be used.

        On failure the canvas, prediction and preview stay as they were; the reason is
        shown in the panel and in an error box.
        """
        try:
            image = preprocess.load_image(path)
            self.canvas.load_array(image)
        except preprocess.ImageError as exc:
            self._file_error = str(exc)
            self._show_status()
            show_error(self, str(exc))
            return False
        self._file_error = ""
        self._loaded_name = Path(path).name
        self.predict_now()
        return True

    # ------------------------------------------------------------------ internals

    @staticmethod
    def _module_of(model: Any, kind: str) -> nn.Module:
        from torch import nn

        from engine.errors import CheckpointError

        if hasattr(model, "kind") and hasattr(model, "model"):  # engine.store.checkpoint.Checkpoint
            if model.kind != kind:
                name = Path(model.path).name if getattr(model, "path", None) else "checkpoint"
                raise CheckpointError(f"{name} holds an {model.kind}, but a {kind} is needed here")
            model = model.model
        if not isinstance(model, nn.Module):
            raise TypeError(f"expected a {kind} checkpoint or torch module, got {type(model)}")
        return model

    @staticmethod
    def _warm_up(module: nn.Module) -> None:
        """One throwaway forward pass: torch's first call is ~50× slower than the rest,
        and it should not land in the middle of the user's first stroke."""
        import torch

        with torch.no_grad(), contextlib.suppress(Exception):  # real errors show on use
            module(torch.zeros(1, 1, preprocess.SIZE, preprocess.SIZE))

    def _schedule(self) -> None:
        """Coalesce the canvas's many change signals into one prediction per interval.

        The timer is not restarted while running, so predictions keep coming at a steady
        rate during a long stroke instead of waiting for the pen to stop.
        """
        self._file_error = ""  # the failed file is old news once the drawing changes
        self._saved_text = ""
        if not self._timer.isActive():
            self._timer.start()

    def _current_input(self) -> np.ndarray | None:
        """The 28×28 model input for the canvas as it is now (cached per canvas revision)."""
        revision = self.canvas.revision
        if self._cache is not None and self._cache[0] == revision:
            return self._cache[1]
        source = self.canvas.loaded_array()
        if source is None:
            source = self.canvas.to_array()
        try:
            img28: np.ndarray | None = preprocess.to_mnist(source)
        except preprocess.NothingDrawnError:
            img28 = None
        except preprocess.ImageError as exc:  # cannot happen for canvas pixels; be safe
            self._model_error = str(exc)
            img28 = None
        self._cache = (revision, img28)
        return img28

    def _classify(self, img28: np.ndarray) -> tuple[str, float]:
        """The same function as `evenodd predict` (engine.jobs.workflows.odd_probability)."""
        from engine.data.mnist import parity_word
        from engine.jobs.workflows import odd_probability

        assert self._classifier is not None
        p_odd = odd_probability(self._classifier, img28)
        return parity_word(p_odd), p_odd

    def _reconstruct(self, img28: np.ndarray) -> np.ndarray:
        import torch

        assert self._autoencoder is not None
        x = torch.from_numpy(preprocess.to_model_input(img28))
        with torch.no_grad():
            out = self._autoencoder(x).reshape(28, 28).clamp(0, 1).numpy()
        return np.round(out * 255).astype(np.uint8)

    def _show_reconstruction(self, recon: np.ndarray | None) -> None:
        visible = self._autoencoder is not None
        self.reconstruction.setVisible(visible)
        self.reconstruction_caption.setVisible(visible)
        if visible:
            self.reconstruction.setPixmap(
                _gray_pixmap(recon) if recon is not None else _empty_pixmap()
            )

    def _show_prediction(self, img28: np.ndarray | None, prediction: Prediction) -> None:
        label = self.prediction_label
        if prediction is not None:
            parity, p_odd = prediction
            label.setText(f"{parity} — P(odd) = {p_odd:.2f}")
            label.setStyleSheet("color: #1f5fbf;" if parity == "even" else "color: #b8420f;")
        else:
            if self._classifier is None:
                label.setText(NO_MODEL_TEXT)
            else:
                label.setText(MODEL_FAILED_TEXT if self._model_error else BLANK_TEXT)
            label.setStyleSheet("color: #888;")

    def _update_mark_buttons(self, drawn: bool) -> None:
        for parity, button in self.mark_buttons.items():
            button.setEnabled(drawn and not self.drawings.busy())
            button.setToolTip(
                f"Save this drawing as an {parity} digit in "
                "My drawings (below), to evaluate or fine-tune the classifier on your own "
                "handwriting"
                if drawn
                else "Draw a digit (or open an image) first"
            )

    def _show_status(self) -> None:
        lines = [f"⚠ {error}" for error in (self._file_error, self._model_error) if error]
        if self._saved_text:
            lines.append(self._saved_text)
        if self._classifier is None:
            lines.append("Load or train a classifier to see predictions. The preview "
                         "already shows what it would be given.")  # fmt: skip
        else:
            lines.append(f"Classifier: {self._classifier_text}")
        if self._autoencoder is not None:
            lines.append("Autoencoder reconstruction shown beside the input.")
        if self.canvas.loaded_array() is not None:
            lines.append(f"Showing {self._loaded_name or 'an image'} "
                         "(classified from the file's own pixels).")  # fmt: skip
        self.status_label.setText("\n".join(lines))
        error = self._file_error or self._model_error
        self.status_label.setStyleSheet("color: #a33;" if error else "color: #666;")


def _main() -> None:  # pragma: no cover - manual tryout: python -m gui.panels.draw_panel [model.pt]
    import sys

    from PySide6.QtWidgets import QApplication

    app = QApplication(sys.argv)
    panel = DrawPanel()
    if len(sys.argv) > 1:
        from engine.store.checkpoint import load_checkpoint

        panel.set_classifier(load_checkpoint(sys.argv[1], expect=("classifier",)))
    panel.resize(900, 520)
    panel.show()
    sys.exit(app.exec())


if __name__ == "__main__":
    _main()
