"""Embedded matplotlib figures that never stall the window, however busy training is.

Why this shape: drawing a figure with Agg costs 40-70 ms of Python and C++ on a quiet
machine and 100-200 ms while training keeps both cores busy, far above the 100 ms the
window may freeze. So the GUI thread never draws. Each canvas owns a plain Agg figure; a
single background thread (`_Renderer`) draws it into an image and the widget only paints
that image, which costs a millisecond.

Changes to artists (`set_data`, `set_text`, ...) are cheap and stay in the methods that
make them, but a figure must not change while it is being drawn: each figure has a lock,
and a change made while the renderer holds it is queued and applied, in order, by the GUI
thread before the next draw is asked for (see `_Surface.change` and `_Surface.render`). A
QTimer at ~4 Hz asks for a new image only when something changed and the canvas is
visible, so training at any speed costs at most four draws per second per visible canvas.
The figures themselves (which artists, colours, labels) are built by engine.reports.figures, the
same builders the HTML reports use; the classes here only feed them new data in place.
"""

from __future__ import annotations

import atexit
import functools
import queue
import threading
import traceback
import weakref
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np
import shiboken6
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PySide6.QtCore import QObject, QPointF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from engine.reports import figures
from engine.reports.figures import PANEL, TILE

LOSS_HINT = "Loss curves appear here when training starts"  # before any run
REFRESH_MS = 250  # ~4 Hz: smooth enough to watch, cheap enough to never pile up
DPI = 100

Method = TypeVar("Method", bound=Callable[..., None])


class _Surface:
    """A matplotlib Figure with its Agg canvas, touched by one thread at a time.

    Plain Python (no Qt object), so the render thread can use it even after the widget
    that showed it is gone.
    """

    def __init__(self, figure: Figure) -> None:
        self.figure = figure
        self.agg = FigureCanvasAgg(figure)
        self.lock = threading.Lock()
        self.pending: deque[Callable[[], None]] = deque()
        self.image: QImage | None = None
        self.requested = False  # a render is queued or running

    def change(self, fn: Callable[[], None]) -> None:
        """Apply `fn` to the figure now, or queue it if a draw is running (see `render`)."""
        if self.lock.acquire(blocking=False):
            try:
                self._apply_pending()
                fn()
            finally:
                self.lock.release()
        else:
            self.pending.append(fn)

    def sync(self) -> None:
        """Wait for a running draw and apply every queued change (for readers)."""
        with self.lock:
            self._apply_pending()

    def _apply_pending(self) -> None:
        while self.pending:
            self.pending.popleft()()

    def apply_pending_if_free(self) -> bool:
        """Apply queued changes unless a draw is running; True when none are left."""
        if not self.pending:
            return True
        if not self.lock.acquire(blocking=False):
            return False
        try:
            self._apply_pending()
        finally:
            self.lock.release()
        return True

    def render(self, width: int, height: int, ratio: float) -> QImage:
        """Draw the figure at width x height device-independent pixels into an image.

        Changes still queued are not applied here but by the GUI thread (`sync`,
        `apply_pending_if_free`): they hold references to widgets, which must never be
        released, and so destroyed, in the render thread.
        """
        with self.lock:
            dpi = DPI * ratio
            self.figure.set_dpi(dpi)
            self.figure.set_size_inches(max(width, 1) / DPI, max(height, 1) / DPI)
            self.agg.draw()
            rgba = np.asarray(self.agg.buffer_rgba())
        h, w = rgba.shape[:2]
        image = QImage(rgba.data, w, h, 4 * w, QImage.Format.Format_RGBA8888).copy()
        image.setDevicePixelRatio(ratio)
        return image


class _Bridge(QObject):
    """Lives in the GUI thread; the renderer emits `rendered` to wake it."""

    rendered = Signal()


class _Renderer:
    """One background thread that draws queued surfaces, one at a time, oldest first."""

    def __init__(self) -> None:
        self.jobs: queue.Queue[tuple[_Surface, int, int, float] | None] = queue.Queue()
        self.bridge = _Bridge()
        self.views: weakref.WeakSet[LiveCanvas] = weakref.WeakSet()
        self.bridge.rendered.connect(self._repaint_views)
        self.thread = threading.Thread(target=self._run, name="figure-renderer", daemon=True)
        self.thread.start()
        atexit.register(self.stop)

    def submit(self, surface: _Surface, width: int, height: int, ratio: float) -> None:
        surface.requested = True
        self.jobs.put((surface, width, height, ratio))

    def stop(self) -> None:
        self.jobs.put(None)
        self.thread.join(timeout=5)

    def _run(self) -> None:
        while (job := self.jobs.get()) is not None:
            surface, width, height, ratio = job
            try:
                surface.image = surface.render(width, height, ratio)
            except Exception:  # a bad draw must not stop every later one
                traceback.print_exc()
            finally:
                surface.requested = False
            try:
                self.bridge.rendered.emit()
            except RuntimeError:  # the application is gone
                return

    def _repaint_views(self) -> None:
        for view in list(self.views):
            if shiboken6.isValid(view):  # its Qt half may be gone before its Python half
                view.take_image()


_renderer: _Renderer | None = None


def _the_renderer() -> _Renderer:
    """The app's renderer, started on first use from the GUI thread."""
    global _renderer
    if _renderer is None:
        _renderer = _Renderer()
    return _renderer


def changes_figure(method: Method) -> Method:
    """Run a plot method that changes artists through `_Surface.change` (see module doc)."""

    @functools.wraps(method)
    def wrapper(self: LiveCanvas, *args: Any, **kwargs: Any) -> None:
        self._surface.change(functools.partial(method, self, *args, **kwargs))
        self._dirty = True

    return wrapper  # type: ignore[return-value]


class LiveCanvas(QWidget):
    """A widget showing a figure that the render thread redraws at most every REFRESH_MS,
    and only when it changed and is visible. Subclasses change artists only in methods
    decorated with `changes_figure`, and call `sync()` before reading artists back."""

    def __init__(self, parent: QWidget | None = None, size: tuple[float, float] = (5, 3)):
        super().__init__(parent)
        self.figure = Figure(figsize=size, dpi=DPI)
        self._surface = _Surface(self.figure)
        self._size_hint = QSize(round(size[0] * DPI), round(size[1] * DPI))
        self._shown: QImage | None = None
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(200, 140)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self._dirty = True
        _the_renderer().views.add(self)
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self._refresh)
        self._timer.start()

    def sizeHint(self) -> QSize:
        return self._size_hint

    def mark_dirty(self) -> None:
        self._dirty = True

    def sync(self) -> None:
        """Make the artists reflect every change made so far (before reading them)."""
        self._surface.sync()

    def _wanted_size(self) -> tuple[int, int, float]:
        return self.width(), self.height(), self.devicePixelRatioF()

    def _refresh(self) -> None:
        surface = self._surface
        if self._dirty and self.isVisible() and not surface.requested:
            if not surface.apply_pending_if_free():
                return
            self._dirty = False
            _the_renderer().submit(self._surface, *self._wanted_size())

    def flush(self) -> None:
        """Draw now, in this thread, and show the result (screenshots, tests)."""
        self._dirty = False
        self.sync()
        self._surface.image = self._surface.render(*self._wanted_size())
        self.take_image()

    def take_image(self) -> None:
        """Show the renderer's newest image, if there is one we have not shown."""
        image = self._surface.image
        if image is not None and image is not self._shown:
            self._shown = image
            self.update()

    def resizeEvent(self, event: Any) -> None:
        self._dirty = True  # the old image is shown stretched until the new one is drawn
        super().resizeEvent(event)

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        QTimer.singleShot(0, self._refresh)  # a first image without waiting for the timer

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        if self._shown is None:
            painter.fillRect(self.rect(), QColor("white"))
        else:
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            painter.drawImage(self.rect(), self._shown)
        painter.end()

    def to_figure(self, x: float, y: float) -> tuple[float, float]:
        """Widget coordinates -> matplotlib display coordinates of the last drawn image."""
        ratio = self._shown.devicePixelRatio() if self._shown is not None else 1.0
        width = self._shown.width() / ratio if self._shown is not None else self.width()
        height = self._shown.height() / ratio if self._shown is not None else self.height()
        sx, sy = width / max(self.width(), 1), height / max(self.height(), 1)
        return x * sx * ratio, (self.height() - y) * sy * ratio


class LossPlot(LiveCanvas):
    """Training curves: running and per-epoch train loss, validation loss, best epoch,
    early stop; with `accuracy=True` a second panel shows validation accuracy. The
    artists are engine.reports.figures' (`loss_axes`, `accuracy_axes`), as in the run report."""

    ACCURACY_HINT = "Validation accuracy appears after the first epoch"

    def __init__(
        self,
        parent: QWidget | None = None,
        accuracy: bool = False,
        hint: str = LOSS_HINT,
    ) -> None:
        """`hint`: the line shown in place of the curves before any run."""
        super().__init__(parent, size=(6, 3))
        self.hint = hint
        fig = self.figure
        if accuracy:
            self.ax = fig.add_subplot(1, 2, 1)
            self.acc_ax = fig.add_subplot(1, 2, 2)
            fig.subplots_adjust(left=0.1, right=0.98, bottom=0.17, top=0.9, wspace=0.3)
        else:
            self.ax = fig.add_subplot(1, 1, 1)
            self.acc_ax = None
            fig.subplots_adjust(left=0.12, right=0.97, bottom=0.17, top=0.9)
        self.artists = figures.loss_axes(self.ax, "loss", PANEL, running=True)
        self.accuracy = (
            figures.accuracy_axes(self.acc_ax, PANEL) if self.acc_ax is not None else None
        )
        self.acc_line = self.accuracy.line if self.accuracy is not None else None
        self.confident_line = self.accuracy.confident if self.accuracy is not None else None
        self.reset()

    @changes_figure
    def reset(self, epochs: int = 1, waiting: str = "") -> None:
        """Clear the curves; the x axis spans the planned epochs so it does not jump.
        `waiting` (default: the plot's `hint`) is shown in their place until data comes."""
        self._max_epochs = max(int(epochs), 1)
        self._running: tuple[list[float], list[float]] = ([], [])
        self._epochs: list[float] = []
        self._train: list[float] = []
        self._val: list[float] = []
        self._keeps_best = True  # as the last epoch said
        self._acc: list[float] = []
        self._confident: tuple[list[float], list[float]] = ([], [])
        self._guided_rounds = 0  # the last round that learnt the graph's guesses
        self.artists.clear(waiting or self.hint)
        if self.accuracy is not None:
            self.accuracy.clear(self.ACCURACY_HINT)
        for ax in (self.ax, self.acc_ax):
            if ax is not None:
                ax.set_xlim(0, self._max_epochs + 0.05)
        self._rescale()

    @changes_figure
    def add_progress(self, epoch: int, batch: int, batches: int, loss: float | None) -> None:
        if loss is None or not batches:
            return
        xs, ys = self._running
        xs.append(epoch - 1 + batch / batches)
        ys.append(loss)
        self.artists.show_running(xs, ys)
        self._rescale()

    @changes_figure
    def add_epoch(
        self,
        epoch: int,
        train: float,
        val: float,
        best_epoch: int,
        accuracy: float | None,
        keeps_best: bool = True,
    ) -> None:
        self._epochs.append(epoch)
        self._train.append(train)
        self._val.append(val)
        self._keeps_best = keeps_best
        self.artists.show_epochs(self._epochs, self._train, self._val, best_epoch, keeps_best)
        if accuracy is not None and self.accuracy is not None:
            self._acc.append(accuracy)
            self.accuracy.show_accuracy(self._epochs, self._acc)
        self._rescale()

    @changes_figure
    def add_confident(self, epoch: int, confident: float, guided: bool = False) -> None:
        """Semi-supervised rounds: the share of unlabelled images the model is confident
        about; `guided` rounds learnt from the neighbour graph's guesses (shaded)."""
        if self.accuracy is None:
            return
        xs, ys = self._confident
        xs.append(epoch)
        ys.append(confident)
        if guided:
            self._guided_rounds = epoch
        self.accuracy.show_confident(xs, ys, self._guided_rounds)
        self._rescale()

    @changes_figure
    def finish(self, status: str, epochs_run: int, best_epoch: int) -> None:
        if self.artists.empty:  # stopped before its first batch: not waiting any more
            self.artists.clear(self.hint)
        self.artists.show_end(status, epochs_run, best_epoch, self._keeps_best)
        self.mark_dirty()

    def hint_shown(self) -> str:
        """The loss panel's hint, "" once it shows curves (for tests)."""
        self.sync()
        return self.artists.waiting.get_text()

    def _rescale(self) -> None:
        for ax in (self.ax, self.acc_ax):
            if ax is not None:
                ax.relim()
                ax.autoscale_view(scalex=False)
        self.mark_dirty()

    def series(self) -> dict[str, list[float]]:
        """The plotted numbers (for tests and export)."""
        self.sync()
        return {
            "epochs": list(self._epochs),
            "train": list(self._train),
            "val": list(self._val),
            "accuracy": list(self._acc),
            "running": list(self._running[1]),
            "confident": list(self._confident[1]),
            "guided": list(range(1, self._guided_rounds + 1)),  # rounds shaded as guided
        }


class ImageGrid(LiveCanvas):
    """A fixed rows x cols grid of 28x28 digits with an optional caption under each
    (engine.reports.figures.digit_grid, as the run report's gallery)."""

    def __init__(
        self,
        rows: int,
        cols: int,
        parent: QWidget | None = None,
        captions: bool = True,
        title: str = "",
        row_labels: Sequence[str] = (),
        size: tuple[float, float] | None = None,
        empty: str = "",
    ) -> None:
        self.rows, self.cols = rows, cols
        super().__init__(parent, size=size or figures.grid_size(rows, cols))
        self.grid = figures.digit_grid(
            self.figure, rows, cols, PANEL, captions=captions, title=title,
            row_labels=row_labels, empty=empty,
        )  # fmt: skip
        self.ax, self.image, self.title = self.grid.axes, self.grid.image, self.grid.title
        self.captions = self.grid.captions
        self.count = 0

    def set_images(self, images: np.ndarray, *labels: Any, **named: Any) -> None:
        """Show `images` with the captions, colours and title engine.reports.figures.DigitGrid.show
        takes. `count` is current at once; the figure changes when no draw is running."""
        self.count = min(len(images), self.rows * self.cols)
        self._show(images, *labels, **named)

    @changes_figure
    def _show(self, images: np.ndarray, *labels: Any, **named: Any) -> None:
        self.grid.show(images, *labels, **named)
        self.mark_dirty()

    def clear(self, title: str | None = None) -> None:
        self.set_images(np.zeros((0, TILE, TILE), np.float32), title=title)


class ConfusionPlot(LiveCanvas):
    """The 2x2 even/odd confusion matrix; clicking a cell emits (true, predicted). The
    artists come from engine.reports.figures.confusion_axes, as in the run report."""

    cellClicked = Signal(int, int)

    def __init__(self, parent: QWidget | None = None, names: Sequence[str] = ("even", "odd")):
        super().__init__(parent, size=(3.6, 3.2))
        self.names = list(names)
        self.setObjectName("confusionMatrixView")
        self.setToolTip("Click a cell to see those test digits below")
        self.ax = self.figure.add_subplot(1, 1, 1)
        self.figure.subplots_adjust(left=0.22, right=0.97, bottom=0.2, top=0.88)
        self.matrix = np.zeros((2, 2), dtype=int)
        self.artists = figures.confusion_axes(
            self.ax, self.names, "confusion matrix (click a cell)", PANEL,
            hint=self.HINT,
        )  # fmt: skip
        self.filled = False  # counts are shown (else the hint, and clicks do nothing)

    HINT = "Evaluate a classifier to fill this in"

    def set_matrix(self, matrix: np.ndarray) -> None:
        self.matrix = np.asarray(matrix, dtype=int)
        self.filled = True
        self._show(self.matrix)

    def clear(self, hint: str = "") -> None:
        """No counts: `hint` (default `HINT`) in place of the matrix."""
        self.matrix = np.zeros((2, 2), dtype=int)
        self.filled = False
        self._clear(hint or self.HINT)

    @changes_figure
    def _clear(self, hint: str) -> None:
        self.artists.clear(hint)
        self.mark_dirty()

    def hint_shown(self) -> str:
        """The hint on show, "" while counts are (for tests)."""
        self.sync()
        return self.artists.hint.get_text()

    @changes_figure
    def _show(self, matrix: np.ndarray) -> None:
        self.artists.show(matrix)
        self.mark_dirty()

    @changes_figure
    def select(self, true: int, predicted: int) -> None:
        self.artists.select(true, predicted)
        self.mark_dirty()

    def click_cell(self, true: int, predicted: int) -> None:
        """What a click on a cell does (also callable from tests and keyboard)."""
        self.select(true, predicted)
        self.cellClicked.emit(true, predicted)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton or self._shown is None or not self.filled:
            return
        cell = self.cell_at(event.position())
        if cell is not None:
            self.click_cell(*cell)

    def cell_at(self, point: QPointF) -> tuple[int, int] | None:
        """(true, predicted) of the matrix cell under a widget point, or None."""
        x, y = self.to_figure(point.x(), point.y())
        with self._surface.lock:
            if not self.ax.contains_point((x, y)):
                return None
            col, row = self.ax.transData.inverted().transform((x, y))
        col, row = round(col), round(row)
        return (row, col) if 0 <= row < 2 and 0 <= col < 2 else None
