"""The latent map on the Pretrain tab: the encoder's codes of validation digits in 2-D.

What it shows comes from `engine.reports.latent` as `LatentMap` values. During pretraining the
training thread sends a PCA map at each epoch's end (`engine.reports.latent.epoch_hook`); this
module only draws it. When an encoder is final (just trained, or opened from a file) a
`MapProjector` thread encodes the subset again, sends a PCA map at once and a t-SNE map
seconds later, which then replaces it. The t-SNE runs in a child process
(engine.reports.projection.TsneProcess) that is killed when its codes go stale (a newer
encoder, a new pretraining) or the window closes. Nothing here computes on the GUI
thread: the scatter (engine.reports.figures.latent_axes, the run report's builder) is
drawn by gui.widgets.plots' render thread like every live figure, and hovering finds the
nearest point from the axis limits (`figures.map_limits`) without touching the figure
(which the render thread may be drawing).

Labels colour the points (by digit, or even/odd) and score the codes; they never steer
anything.

torch and engine.reports.latent are imported only inside methods, so importing this module stays
cheap (the main window appears before torch has loaded).
"""

from __future__ import annotations

import contextlib
import copy
import sys
import threading
import traceback
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import shiboken6
from PySide6.QtCore import QObject, QPointF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QPen, QPixmap
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from engine.reports import figures
from engine.reports.figures import COLOURINGS
from gui.state.settings import open_settings
from gui.widgets.plots import LiveCanvas, changes_figure

if TYPE_CHECKING:
    import torch

    from engine.events import LatentMap

AXES = (0.02, 0.02, 0.96, 0.96)  # where the scatter's axes sit in the figure (fractions)
HOVER_PIXELS = 10  # a point this close to the pointer is under it
PREVIEW_SCALE = 3  # the hovered digit, 28x28 shown as 84x84
SETTINGS_KEY = "pretrain/latent_colour"


class LatentScatter(LiveCanvas):
    """The scatter of one LatentMap. `pointHovered(i)` / `pointClicked(i)` give the index
    of the point under the pointer in the map's arrays (-1: none)."""

    pointHovered = Signal(int)
    pointClicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, size=(4.4, 4.4))
        self.setMouseTracking(True)
        self.ax = self.figure.add_axes(AXES)
        self.artists = figures.latent_axes(self.ax, figures.PANEL)  # as in the run report
        self.points, self.waiting = self.artists.points, self.artists.waiting
        self.map: LatentMap | None = None
        self.colouring = COLOURINGS[0]
        self.limits = (0.0, 1.0, 0.0, 1.0)
        self.selected = -1
        self.clear("the map appears after pretraining's first epoch")

    def clear(self, waiting: str) -> None:
        self.map = None
        self.selected = -1
        self._clear(waiting)
        self.update()

    @changes_figure
    def _clear(self, waiting: str) -> None:
        self.artists.clear(waiting)

    def set_map(self, latent_map: LatentMap) -> None:
        self.limits = figures.map_limits(latent_map.points)  # what `_show` will set
        self.map = latent_map
        self.selected = -1
        self._show(latent_map, self.colouring)
        self.update()

    def set_colouring(self, colouring: str) -> None:
        self.colouring = colouring
        if self.map is not None:
            self._show(self.map, colouring)

    @changes_figure
    def _show(self, latent_map: LatentMap, colouring: str) -> None:
        self.artists.show(latent_map, colouring)

    def widget_positions(self) -> np.ndarray:
        """Where the points are in widget pixels (x right, y down), as last set."""
        if self.map is None or not len(self.map.points):
            return np.zeros((0, 2))
        x0, x1, y0, y1 = self.limits
        fx = AXES[0] + AXES[2] * (self.map.points[:, 0] - x0) / (x1 - x0)
        fy = AXES[1] + AXES[3] * (self.map.points[:, 1] - y0) / (y1 - y0)
        return np.stack([fx * self.width(), (1 - fy) * self.height()], axis=1)

    def point_at(self, pos: QPointF) -> int:
        """Index of the point nearest to `pos` within HOVER_PIXELS, or -1."""
        where = self.widget_positions()
        if not len(where):
            return -1
        distance = np.hypot(where[:, 0] - pos.x(), where[:, 1] - pos.y())
        nearest = int(distance.argmin())
        return nearest if distance[nearest] <= HOVER_PIXELS else -1

    def select(self, index: int) -> None:
        if index != self.selected:
            self.selected = index
            self.update()  # the ring is painted over the image, no redraw of the figure

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        index = self.point_at(event.position())
        if index >= 0:
            self.select(index)
            self.pointHovered.emit(index)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        index = self.point_at(event.position())
        if index >= 0:
            self.select(index)
            self.pointClicked.emit(index)

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        where = self.widget_positions()
        if 0 <= self.selected < len(where):
            painter = QPainter(self)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setPen(QPen(QColor("black"), 2))
            painter.drawEllipse(QPointF(*where[self.selected]), 6, 6)
            painter.end()


POLL_SECONDS = 0.05  # how often the projector looks for a stale request or a close


@dataclass
class _Request:
    generation: int
    encoder: Any  # a private copy of the encoder: no other thread touches it
    images: torch.Tensor
    indices: torch.Tensor
    digits: torch.Tensor


class MapProjector(QObject):
    """Makes the maps of a final encoder in a background thread: PCA first, then t-SNE in
    a child process (engine.reports.projection.TsneProcess).

    One thread at a time, started on demand and ended when there is nothing left to do.
    A new request makes every older one stale: its results are dropped, and its t-SNE is
    killed (the thread looks every POLL_SECONDS). `shutdown` (the window closes) kills the
    t-SNE and waits for the thread, so neither outlives the window.
    """

    ready = Signal(object, int)  # (LatentMap, generation), delivered in the GUI thread
    failed = Signal(str, int)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.generation = 0
        self._lock = threading.Lock()
        self._pending: _Request | None = None
        self._thread: threading.Thread | None = None
        self._child: Any = None  # the running TsneProcess, if any (tests, diagnostics)
        self._closing = threading.Event()

    def request(
        self,
        encoder: torch.nn.Module,
        images: torch.Tensor,
        indices: torch.Tensor,
        digits: torch.Tensor,
    ) -> int:
        """Map `encoder` (copied here) on the subset; returns the request's generation."""
        with self._lock:
            self.generation += 1
            if self._closing.is_set():
                return self.generation
            self._pending = _Request(
                self.generation, copy.deepcopy(encoder), images, indices, digits
            )
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="latent-map", daemon=True)
                self._thread.start()
            return self.generation

    def cancel(self) -> None:
        """Make every request so far stale (e.g. a new pretraining starts); a running
        t-SNE is killed within POLL_SECONDS."""
        with self._lock:
            self.generation += 1
            self._pending = None

    def shutdown(self, timeout: float = 10.0) -> bool:
        """Kill any t-SNE and wait for the thread (the window closes); True when it ended.
        Later requests are ignored."""
        self._closing.set()
        self.cancel()
        with self._lock:
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def is_busy(self) -> bool:
        with self._lock:
            return self._thread is not None

    def child(self) -> Any:
        """The TsneProcess computing now, or None."""
        with self._lock:
            return self._child

    def current(self, generation: int) -> bool:
        return generation == self.generation and not self._closing.is_set()

    def _take(self) -> _Request | None:
        with self._lock:
            request, self._pending = self._pending, None
            if request is None:
                self._thread = None  # checked and cleared under the lock: no lost request
            return request

    def _run(self) -> None:
        from engine.reports.latent import encoder_maps

        _lower_this_threads_priority()
        try:
            while (request := self._take()) is not None:
                generation = request.generation
                try:
                    maps = encoder_maps(
                        request.encoder,
                        request.images,
                        request.indices,
                        request.digits,
                        tsne_with=lambda codes, g=generation: self._tsne(codes, g),
                    )
                    for latent_map in maps:  # the t-SNE starts when the PCA map is out
                        if not self.current(generation):
                            break  # stale: drop it, and do not start the t-SNE
                        if not self._emit("ready", latent_map, generation):
                            return
                except Exception as exc:  # shown in the panel; the thread carries on
                    traceback.print_exc()
                    message = f"The latent map failed: {exc}"
                    if not self._emit("failed", message, generation):
                        return
        finally:
            with self._lock:  # also when the panel is gone; never a newer thread's mark
                if self._thread is threading.current_thread():
                    self._thread = None

    def _tsne(self, codes: np.ndarray, generation: int) -> np.ndarray | None:
        """The t-SNE of `codes` from a child process; None (the child killed) as soon as
        the request is stale or the window closes."""
        from engine.reports.projection import TsneProcess

        if not self.current(generation):
            return None
        process = TsneProcess(codes)
        with self._lock:
            self._child = process
        try:
            while self.current(generation):
                points = process.result(timeout=POLL_SECONDS)
                if points is not None:
                    return points
            return None
        finally:
            process.cancel()
            with self._lock:
                self._child = None

    def _emit(self, signal: str, *args: Any) -> bool:
        """Emit `signal` unless the panel (and this QObject) is gone; False when it is."""
        if not shiboken6.isValid(self):
            return False
        try:
            getattr(self, signal).emit(*args)
        except RuntimeError:  # deleted between the check and the emit
            return False
        return True


def _lower_this_threads_priority() -> None:
    """Make the calling thread (and the threads it starts, e.g. torch's) yield the CPU to
    the window and to training: the map is the least urgent work (on Linux a thread has
    its own nice value; elsewhere nothing changes)."""
    import os

    if sys.platform.startswith("linux") and hasattr(os, "setpriority"):
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)


def _digit_pixmap(image: np.ndarray) -> QPixmap:
    """A uint8 28x28 digit as a pixmap, enlarged without smoothing."""
    pixels = np.ascontiguousarray(image, dtype=np.uint8)
    h, w = pixels.shape
    qimage = QImage(pixels.data, w, h, w, QImage.Format.Format_Grayscale8).copy()
    return QPixmap.fromImage(qimage).scaled(
        w * PREVIEW_SCALE, h * PREVIEW_SCALE, mode=Qt.TransformationMode.FastTransformation
    )


class LatentMapPanel(QWidget):
    """The scatter, its colouring switch, what it shows (projection, epoch, kNN score) and
    the digit under the pointer. Fed by the Pretrain tab (`training_started`, `show_map`)
    and by AppState: a newly trained or opened encoder is mapped in the background."""

    def __init__(self, state: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.scatter = LatentScatter()
        self.scatter.setObjectName("latentMapView")
        self.scatter.setToolTip(
            "Validation digits placed by their codes, without labels; "
            "hover or click a point to see its digit"
        )
        self.colour_combo = QComboBox()
        self.colour_combo.setObjectName("latentColourCombo")
        self.colour_combo.addItems(COLOURINGS)
        self.colour_combo.setToolTip(
            "Colour the points by digit or by even/odd (labels are used only for colour "
            "and the kNN score)"
        )
        remembered = open_settings().value(SETTINGS_KEY)
        if remembered in COLOURINGS:
            self.colour_combo.setCurrentText(str(remembered))
        self.scatter.set_colouring(self.colour_combo.currentText())
        self.colour_combo.currentTextChanged.connect(self._colouring_changed)
        self.info = QLabel("No encoder yet: pretrain one, or open an encoder file.")
        self.info.setObjectName("latentInfoLabel")
        self.info.setWordWrap(True)
        self.preview = QLabel()
        self.preview.setObjectName("latentPreview")
        self.preview.setFixedSize(28 * PREVIEW_SCALE, 28 * PREVIEW_SCALE)
        self.preview.setStyleSheet("background: black;")
        self.preview_text = QLabel("Hover over a point\nto see its digit.")
        self.preview_text.setObjectName("latentPreviewText")
        self.preview_text.setWordWrap(True)

        top = QHBoxLayout()
        title = QLabel("<b>Latent map</b>")
        top.addWidget(title)
        top.addStretch(1)
        top.addWidget(QLabel("Colour by:"))
        top.addWidget(self.colour_combo)
        bottom = QHBoxLayout()
        bottom.addWidget(self.preview)
        bottom.addWidget(self.preview_text, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.info)
        layout.addWidget(self.scatter, 1)
        layout.addLayout(bottom)

        self.projector = MapProjector(self)
        self.projector.ready.connect(self._projected)
        self.projector.failed.connect(self._projection_failed)
        self.scatter.pointHovered.connect(self.show_point)
        self.scatter.pointClicked.connect(self.show_point)
        self.source = ""  # which encoder the map shows, in words
        self._seen: tuple[Any, Any, Any] = (None, None, None)  # autoencoder, file, data
        self._current: tuple[Any, str] | None = None  # the checkpoint mapped, and its name
        self.maps_shown = 0  # how many maps were shown (tests, diagnostics)
        state.models_changed.connect(self.models_changed)
        state.data_changed.connect(self.models_changed)

    # ------------------------------------------------------------------ from the tab

    def training_started(self) -> None:
        """A new pretraining: older maps are stale; epoch maps will follow."""
        self.projector.cancel()
        self.source = "the autoencoder being trained"
        self.scatter.clear("the map appears after the first epoch")
        self.info.setText("Pretraining: a PCA map follows each epoch.")
        self._clear_preview()

    def shutdown(self) -> None:
        """The window closes: kill a running t-SNE and end the projector's thread."""
        if not self.projector.shutdown():
            print("the latent map's thread did not end within 10 s", file=sys.stderr)

    def show_map(self, latent_map: LatentMap) -> None:
        """Show a map now (the epoch maps come this way, from the training thread)."""
        self.scatter.set_map(latent_map)
        self.maps_shown += 1
        self._describe(latent_map, pending=False)
        self._clear_preview()

    # ------------------------------------------------------------------ from the state

    def models_changed(self) -> None:
        """Map the encoder that changed last (trained here, or opened from a file) in the
        background, or the same encoder again on new data; nothing when nothing changed."""
        state = self.state
        autoencoder, encoder_file, data = state.autoencoder, state.encoder_file, state.data
        last_ae, last_file, last_data = self._seen
        self._seen = (autoencoder, encoder_file, data)
        if autoencoder is not None and autoencoder is not last_ae:
            self._current = (autoencoder, "the autoencoder trained here")
        elif encoder_file is not None and encoder_file is not last_file:
            self._current = (encoder_file, f"encoder file {_file_name(encoder_file)}")
        elif data is last_data:
            return
        if self._current is None:
            return
        if data is None:
            self.info.setText("Load MNIST on the Data tab to see the latent map.")
            return
        checkpoint, source = self._current
        self.map_encoder(checkpoint.encoder, source)

    def map_encoder(self, encoder: Any, source: str) -> None:
        """Map `encoder` in the background (PCA at once, t-SNE when ready)."""
        from engine.reports.latent import map_indices

        data = self.state.data
        indices = map_indices(data.split.val)
        self.source = source
        self.info.setText(f"Encoding validation digits with {source} …")
        self.projector.request(
            encoder, data.mnist.train_images[indices], indices, data.mnist.train_labels[indices]
        )

    # ------------------------------------------------------------------------ inside

    def _projected(self, latent_map: LatentMap, generation: int) -> None:
        if not self.projector.current(generation):
            return  # a newer encoder or a new pretraining made it stale
        self.show_map(latent_map)
        self._describe(latent_map, pending=latent_map.projection == "PCA")

    def _projection_failed(self, message: str, generation: int) -> None:
        if self.projector.current(generation):
            self.info.setText(message)

    def _describe(self, latent_map: LatentMap, pending: bool) -> None:
        from engine.reports.latent import score_text

        n = len(latent_map.points)
        when = f", epoch {latent_map.epoch}" if latent_map.epoch else ""
        what = f"{latent_map.projection} of {n} validation codes ({self.source}{when})"
        later = " · t-SNE computing …" if pending else ""
        self.info.setText(f"{what}{later}\n{score_text(latent_map)}")

    def _colouring_changed(self, colouring: str) -> None:
        self.scatter.set_colouring(colouring)
        open_settings().setValue(SETTINGS_KEY, colouring)

    def show_point(self, index: int) -> None:
        """Show the digit behind point `index` of the current map."""
        latent_map = self.scatter.map
        data = self.state.data
        if latent_map is None or data is None or not 0 <= index < len(latent_map.indices):
            return
        image_index = int(latent_map.indices[index])
        self.preview.setPixmap(_digit_pixmap(data.mnist.train_images[image_index].numpy()))
        digit = int(latent_map.digits[index])
        parity = "odd" if digit % 2 else "even"
        self.preview_text.setText(f"Digit {digit} ({parity})\nvalidation image #{image_index}")

    def _clear_preview(self) -> None:
        self.preview.clear()
        self.preview_text.setText("Hover over a point\nto see its digit.")


def _file_name(checkpoint: Any) -> str:
    path = getattr(checkpoint, "path", None)
    return path.name if path is not None else "(unsaved)"
