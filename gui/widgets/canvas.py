"""The drawing surface of the Draw panel: dark ink on white paper, like a pen on a sheet.

Strokes are kept as a history of points (not only as pixels) so that undo, resizing and a
change of screen (device pixel ratio) can re-render the drawing exactly. While drawing,
each new point is painted into a QImage backing store as one short smoothed segment and
only that segment's rectangle is repainted, so drawing stays fluid on large canvases.

The backing store is capped at STORE_MAX_SIDE device pixels: the panel runs
`engine.data.preprocess.to_mnist` on `to_array()` many times a second while you draw, and its
cost grows with the pixel count (~5 ms at 280², ~70 ms at 1600²).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PySide6.QtCore import Property, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QImage,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPen,
    QResizeEvent,
    QTabletEvent,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

PAPER = QColor(255, 255, 255)
INK_DARK = QColor(20, 20, 20)
INK_LIGHT = QColor(240, 240, 240)  # for drawing over a loaded light-on-dark image
STORE_MAX_SIDE = 720  # device pixels; bounds the per-prediction preprocessing cost
MIN_BRUSH, MAX_BRUSH, DEFAULT_BRUSH = 2, 64, 18
TABLET_MIN_WIDTH = 0.35  # share of the brush size at zero pen pressure


@dataclass
class _Stroke:
    """One press-move-release: points (x, y, width) in widget (logical) coordinates."""

    color: QColor
    points: list[tuple[float, float, float]] = field(default_factory=list)


@dataclass
class _Snapshot:
    """What Clear or loading an image replaced, so that Undo can bring it back."""

    base: np.ndarray | None
    source: np.ndarray | None
    strokes: list[_Stroke]


_STROKE = "stroke"  # undo-history marker: the last stroke was added


def _gray_for_display(image: np.ndarray) -> np.ndarray:
    """Loaded image → uint8 gray as `to_mnist` reads it (transparency flattened its way).

    A white-ink-on-transparent PNG would vanish if composited over white paper, so the
    same rule as the preprocessing decides the background colour.
    """
    from engine.data.preprocess import _as_gray_alpha, _flatten_alpha  # same rules as the model

    gray, alpha = _as_gray_alpha(image)
    return np.round(_flatten_alpha(gray, alpha) * 255).astype(np.uint8)


def _qimage_from_gray(gray: np.ndarray) -> QImage:
    """A QImage that owns a copy of the pixels (numpy memory may go away)."""
    gray = np.ascontiguousarray(gray, dtype=np.uint8)
    h, w = gray.shape
    return QImage(gray.data, w, h, w, QImage.Format.Format_Grayscale8).copy()


class DrawCanvas(QWidget):
    """Paper to draw a digit on with mouse, pen or tablet; also shows a loaded image.

    Signals: `changed()` after every change of the pixels (many per second while drawing:
    consumers should throttle), `fileDropped(str)` for a local file dropped on it,
    `undoAvailable(bool)` when undo becomes possible or impossible.
    """

    changed = Signal()
    fileDropped = Signal(str)
    undoAvailable = Signal(bool)
    brushSizeChanged = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("drawCanvas")
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)  # we paint every pixel
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # so the panel's shortcuts work
        self.setAcceptDrops(True)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setMinimumSize(160, 160)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setToolTip("Draw a digit here, or drop an image file on it")
        self._brush = DEFAULT_BRUSH
        self._strokes: list[_Stroke] = []
        self._history: list[str | _Snapshot] = []
        self._current: _Stroke | None = None
        self._base: np.ndarray | None = None  # loaded image as displayed (uint8 gray)
        self._source: np.ndarray | None = None  # loaded image exactly as given
        self._base_qimage: QImage | None = None
        self._ink = INK_DARK
        self._revision = 0
        self._image = QImage()
        self._render()

    # ------------------------------------------------------------------ properties

    def sizeHint(self) -> QSize:
        return QSize(320, 320)

    def brush_size(self) -> int:
        """Pen diameter in logical pixels (pressure scales it down for a tablet pen)."""
        return self._brush

    def set_brush_size(self, size: int) -> None:
        size = int(max(MIN_BRUSH, min(MAX_BRUSH, size)))
        if size != self._brush:
            self._brush = size
            self.brushSizeChanged.emit(size)

    brushSize = Property(int, brush_size, set_brush_size, notify=brushSizeChanged)

    @property
    def revision(self) -> int:
        """Increases on every pixel change: lets consumers cache work per drawing state."""
        return self._revision

    def can_undo(self) -> bool:
        return bool(self._history)

    def is_blank(self) -> bool:
        """True when nothing was drawn or loaded (to_array would be all paper)."""
        return not self._strokes and self._base is None and self._current is None

    def stroke_count(self) -> int:
        return len(self._strokes)

    # ---------------------------------------------------------------------- actions

    def clear(self) -> None:
        """Blank the paper; undoable, so an accidental Clear loses nothing."""
        if self.is_blank():
            return
        self._finish_stroke()
        self._push(_Snapshot(self._base, self._source, list(self._strokes)))
        self._strokes = []
        self._set_base(None, None)
        self._render()
        self._changed()

    def undo(self) -> None:
        """Remove the last stroke, or bring back what Clear / an opened image replaced."""
        self._finish_stroke()
        if not self._history:
            return
        item = self._history.pop()
        if isinstance(item, _Snapshot):
            self._set_base(item.base, item.source)
            self._strokes = list(item.strokes)
        elif self._strokes:
            self._strokes.pop()
        self._render()
        self._changed()
        if not self._history:
            self.undoAvailable.emit(False)

    def load_array(self, image: np.ndarray) -> None:
        """Show a loaded image (gray, RGB or RGBA), fitted into the canvas; undoable.

        Raises engine.data.preprocess.ImageError for arrays that are not images.
        """
        base = _gray_for_display(image)
        self._finish_stroke()
        self._push(_Snapshot(self._base, self._source, list(self._strokes)))
        self._strokes = []
        self._set_base(base, np.array(image, copy=True))
        self._render()
        self._changed()

    def loaded_array(self) -> np.ndarray | None:
        """The loaded image exactly as given, while nothing is drawn over it; else None.

        Lets the panel classify an opened file from its original pixels, exactly like
        `evenodd predict`, instead of from its resized rendering on the canvas.
        """
        if self._source is None or self._strokes or self._current is not None:
            return None
        return self._source

    def to_array(self) -> np.ndarray:
        """The canvas as uint8 gray (H, W) in device pixels: a copy, safe to keep."""
        gray = self._image.convertToFormat(QImage.Format.Format_Grayscale8)
        h, w, stride = gray.height(), gray.width(), gray.bytesPerLine()
        buffer = np.frombuffer(gray.constBits(), dtype=np.uint8, count=stride * h)
        return buffer.reshape(h, stride)[:, :w].copy()

    # ------------------------------------------------------------------ internals

    def _push(self, item: str | _Snapshot) -> None:
        self._history.append(item)
        if len(self._history) == 1:
            self.undoAvailable.emit(True)

    def _changed(self) -> None:
        self._revision += 1
        self.changed.emit()

    def _set_base(self, base: np.ndarray | None, source: np.ndarray | None) -> None:
        self._base, self._source = base, source
        self._base_qimage = None if base is None else _qimage_from_gray(base)
        if self._base_qimage is not None and max(base.shape) > 2 * STORE_MAX_SIDE:
            # A 24-megapixel photo would be rescaled on every resize and undo: shrink once.
            self._base_qimage = self._base_qimage.scaled(
                2 * STORE_MAX_SIDE, 2 * STORE_MAX_SIDE, Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )  # fmt: skip
        # Ink must show on the loaded image's background: light ink on a dark one.
        dark_paper = base is not None and float(np.median(_border(base))) < 128
        self._ink = INK_LIGHT if dark_paper else INK_DARK

    def _store_scale(self) -> float:
        """Device pixels per logical pixel of the backing store (screen DPR, capped)."""
        side = max(self.width(), self.height(), 1)
        return min(self.devicePixelRatioF(), STORE_MAX_SIDE / side)

    def _render(self) -> None:
        """Re-create the backing store at the current size and replay everything."""
        scale = self._store_scale()
        w = max(1, round(self.width() * scale))
        h = max(1, round(self.height() * scale))
        self._image = QImage(w, h, QImage.Format.Format_RGB32)
        self._image.setDevicePixelRatio(scale)
        base = self._base
        if base is None:
            self._image.fill(PAPER)
        else:
            self._image.fill(QColor.fromRgb(*(int(np.median(_border(base))),) * 3))
        painter = QPainter(self._image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        if self._base_qimage is not None:
            painter.drawImage(self._fit_rect(self._base_qimage.size()), self._base_qimage)
        for stroke in self._strokes:
            for i in range(len(stroke.points)):
                self._paint_segment(painter, stroke, i)
            self._paint_tail(painter, stroke)
        painter.end()
        self.update()

    def _fit_rect(self, size: QSize) -> QRectF:
        """Where a loaded image goes: as large as fits, aspect kept, centred."""
        w, h = self.width(), self.height()
        k = min(w / max(size.width(), 1), h / max(size.height(), 1))
        iw, ih = size.width() * k, size.height() * k
        return QRectF((w - iw) / 2, (h - ih) / 2, iw, ih)

    @staticmethod
    def _pen(color: QColor, width: float) -> QPen:
        pen = QPen(color, width)
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
        return pen

    def _paint_segment(self, painter: QPainter, stroke: _Stroke, i: int) -> QRectF:
        """Paint the piece of `stroke` that point i completes; returns its bounds.

        Midpoint smoothing: the curve runs from the middle of one mouse step to the
        middle of the next with the sampled point as control point, so fast mouse moves
        give round curves instead of polygons, and each piece is final when painted.
        """
        pts = stroke.points
        x, y, width = pts[i]
        if i == 0:  # a dot, so that a click leaves a mark
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(stroke.color)
            painter.drawEllipse(QPointF(x, y), width / 2, width / 2)
            return QRectF(x - width / 2, y - width / 2, width, width)
        px, py, pw = pts[i - 1]
        path = QPainterPath()
        if i == 1:
            path.moveTo(px, py)
            path.lineTo((px + x) / 2, (py + y) / 2)
        else:
            qx, qy, _ = pts[i - 2]
            path.moveTo((qx + px) / 2, (qy + py) / 2)
            path.quadTo(px, py, (px + x) / 2, (py + y) / 2)
        pen_width = (pw + width) / 2
        painter.strokePath(path, self._pen(stroke.color, pen_width))
        half = pen_width / 2
        return path.controlPointRect().adjusted(-half, -half, half, half)

    def _paint_tail(self, painter: QPainter, stroke: _Stroke) -> QRectF:
        """The last half-step of a finished stroke, from the last midpoint to its end."""
        pts = stroke.points
        if len(pts) < 2:
            return QRectF()
        (px, py, _), (x, y, width) = pts[-2], pts[-1]
        path = QPainterPath()
        path.moveTo((px + x) / 2, (py + y) / 2)
        path.lineTo(x, y)
        painter.strokePath(path, self._pen(stroke.color, width))
        half = width / 2
        return path.controlPointRect().adjusted(-half, -half, half, half)

    def _paint_live(self, stroke: _Stroke, paint: str) -> None:
        """Paint the newest piece of `stroke` and repaint only that piece's rectangle."""
        painter = QPainter(self._image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if paint == "tail":
            rect = self._paint_tail(painter, stroke)
        else:
            rect = self._paint_segment(painter, stroke, len(stroke.points) - 1)
        painter.end()
        if not rect.isEmpty():
            self.update(rect.adjusted(-2, -2, 2, 2).toAlignedRect())
        self._changed()

    def _begin_stroke(self, pos: QPointF, pressure: float) -> None:
        self._finish_stroke()
        self._current = _Stroke(QColor(self._ink))
        self._add_point(pos, pressure)

    def _add_point(self, pos: QPointF, pressure: float) -> None:
        stroke = self._current
        if stroke is None:
            return
        width = self._brush * (TABLET_MIN_WIDTH + (1 - TABLET_MIN_WIDTH) * pressure)
        point = (pos.x(), pos.y(), max(1.0, width))
        if (
            stroke.points
            and abs(stroke.points[-1][0] - point[0]) < 0.5
            and abs(stroke.points[-1][1] - point[1]) < 0.5
        ):
            return  # sub-pixel jitter: nothing new to paint
        stroke.points.append(point)
        self._paint_live(stroke, "segment")

    def _finish_stroke(self) -> None:
        stroke, self._current = self._current, None
        if stroke is None or not stroke.points:
            return
        self._paint_live(stroke, "tail")
        self._strokes.append(stroke)
        self._push(_STROKE)

    # ----------------------------------------------------------------------- events

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        if abs(self._image.devicePixelRatio() - self._store_scale()) > 1e-6:
            painter.end()
            self._render()  # moved to a screen with another pixel ratio
            painter = QPainter(self)
        if abs(self._image.devicePixelRatio() - self.devicePixelRatioF()) > 1e-6:
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        # The paint event's region clips this, so a stroke step repaints only its rect.
        painter.drawImage(QRectF(self.rect()), self._image)
        if self.is_blank():
            painter.setPen(QColor(170, 170, 170))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "draw a digit here")
        painter.setPen(QPen(QColor(180, 180, 180), 1))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(self.rect().adjusted(0, 0, -1, -1))
        painter.end()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._finish_stroke()
        self._render()
        self._changed()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.setFocus(Qt.FocusReason.MouseFocusReason)
            self._begin_stroke(event.position(), 1.0)
            event.accept()
        else:
            super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._current is not None and event.buttons() & Qt.MouseButton.LeftButton:
            self._add_point(event.position(), 1.0)
            event.accept()
        else:
            super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self._current is not None:
            self._add_point(event.position(), 1.0)
            self._finish_stroke()
            event.accept()
        else:
            super().mouseReleaseEvent(event)

    def tabletEvent(self, event: QTabletEvent) -> None:
        """Pen input with pressure; accepted, so Qt does not also synthesise mouse events."""
        kind = event.type()
        pressure = float(event.pressure())
        if kind == QTabletEvent.Type.TabletPress:
            self.setFocus(Qt.FocusReason.MouseFocusReason)
            self._begin_stroke(event.position(), pressure)
        elif kind == QTabletEvent.Type.TabletMove and self._current is not None:
            self._add_point(event.position(), pressure)
        elif kind == QTabletEvent.Type.TabletRelease and self._current is not None:
            self._finish_stroke()
        event.accept()

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if _dropped_file(event) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if _dropped_file(event) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        path = _dropped_file(event)
        if path is None:
            event.ignore()
            return
        event.acceptProposedAction()
        self.fileDropped.emit(path)


def _dropped_file(event: QDropEvent) -> str | None:
    """The first local file of a drag, if any (the panel decides whether it is an image)."""
    mime = event.mimeData()
    if mime is None or not mime.hasUrls():
        return None
    for url in mime.urls():
        if url.isLocalFile() and url.toLocalFile():
            return url.toLocalFile()
    return None


def _border(a: np.ndarray) -> np.ndarray:
    """A ~2% frame of the image: its background colour, as engine.data.preprocess sees it."""
    h, w = a.shape
    k = max(1, min(h, w) // 50)
    return np.concatenate([a[:k].ravel(), a[-k:].ravel(), a[:, :k].ravel(), a[:, -k:].ravel()])
