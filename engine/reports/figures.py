"""Every figure the reports and the app's tabs show, built once, without Qt.

Why one module: the run report and the Pretrain/Fine-tune/Evaluate tabs show the same
loss curves, confusion matrix and digit grids, and the study report and the Compare tab
the same accuracy-vs-labels plot; written twice, they drifted (other legends, colours,
colour scales). Each figure has one builder that makes its artists on an Axes or Figure
it is given and returns them as a small handle (`LossArtists`, `ConfusionArtists`,
`DigitGrid`; the study's `StudyArtists` are in `engine.study.figures`) whose `show*`
methods set the data. A report calls the builder once on a new Figure and saves it; a
live tab calls it once on its canvas's figure and then only calls `show*` again as
results arrive, which changes the artists in place (cheap; the tab's render thread draws them).

What differs between a page and a small panel is only text and marker sizes: the `Look`
(`REPORT` or `PANEL`). Figures are built from `matplotlib.figure.Figure` directly (no
pyplot), so this module never touches a GUI backend and is safe from any thread.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.text import Text

from engine.files import atomic_write_bytes

if TYPE_CHECKING:
    from matplotlib.collections import PathCollection

    from engine.events import EpochEnd, LatentMap


@dataclass(frozen=True)
class Look:
    """Text and marker sizes (points); None keeps matplotlib's default. A report is read
    full size on a page; a tab's panel is small, so its text is smaller."""

    title: float | None = None
    label: float | None = None
    tick: float | None = None
    legend: float | None = None
    note: float | None = None  # annotations inside the axes ("best epoch 3")
    cell: float | None = None  # the counts in a confusion matrix
    marker: float | None = None
    dot: float | None = None  # a scatter point's area (points squared), the latent map's
    name: float | None = None  # the digit names on the latent map


REPORT = Look(legend=8, note=8, dot=4, name=13)
PANEL = Look(title=9, label=8, tick=7, legend=7, note=7, cell=11, marker=3, dot=5, name=11)


def figure_png(figure: Figure) -> bytes:
    """The figure as PNG bytes, as every report embeds and saves it."""
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()


def save_figure(figure: Figure, path: Path) -> bytes:
    """Write the figure's PNG atomically; returns the bytes (to embed in a page too)."""
    png = figure_png(figure)
    atomic_write_bytes(path, png)
    return png


def _size(points: float | None) -> dict[str, float]:
    """`fontsize=` for a text, or nothing: matplotlib's own default (e.g. a larger title)
    applies only when no fontsize is passed, not with fontsize=None."""
    return {} if points is None else {"fontsize": points}


def label_axes(axes: Axes, look: Look, title: str, xlabel: str, ylabel: str = "") -> None:
    axes.set_title(title, **_size(look.title))
    axes.set_xlabel(xlabel, **_size(look.label))
    if ylabel:
        axes.set_ylabel(ylabel, **_size(look.label))
    if look.tick is not None:
        axes.tick_params(labelsize=look.tick)


def hint_text(axes: Axes, look: Look) -> Text:
    """The centred one-line message of an empty panel (see `set_hint`)."""
    return axes.text(
        0.5, 0.5, "", transform=axes.transAxes, ha="center", va="center", color="0.45",
        **_size(look.title),
    )  # fmt: skip


def set_hint(axes: Axes, hint: Text, message: str) -> None:
    """Show `message` in place of an empty panel, or ("") the panel's axes again.

    Why: before its first point a panel's axes span matplotlib's default -0.05 to 0.05
    and a legend of lines not drawn, which says nothing; one line saying what will appear
    there, and when, does. The title stays, so the panel keeps its name.
    """
    hint.set_text(message)
    bare = bool(message)
    axes.xaxis.set_visible(not bare)
    axes.yaxis.set_visible(not bare)
    for spine in axes.spines.values():
        spine.set_visible(not bare)
    legend = axes.get_legend()
    if legend is not None:
        legend.set_visible(not bare)


# ------------------------------------------------------------------------ loss curves

STOP_WORDS = {"early_stopped": "early stop", "stopped": "stopped", "diverged": "diverged"}


@dataclass
class LossArtists:
    """The artists of one panel of loss curves (see `loss_axes`)."""

    axes: Axes
    train: Line2D
    val: Line2D
    best: Line2D  # vertical line at the best epoch
    stop: Line2D  # vertical line where training ended early
    note: Text  # "best epoch N · early stop after epoch M"
    waiting: Text  # the hint in place of the axes while there is nothing to plot yet
    running: Line2D | None = None  # the loss of each batch, where it is known

    def clear(self, waiting: str = "") -> None:
        """No curves; `waiting` (one line) is shown in their place (`set_hint`)."""
        lines = (self.running, self.train, self.val)
        for line in lines:
            if line is not None:
                line.set_data([], [])
        self.best.set_visible(False)
        self.stop.set_visible(False)
        self.note.set_text("")
        set_hint(self.axes, self.waiting, waiting)

    @property
    def empty(self) -> bool:
        """True while no point is plotted."""
        lines = (self.running, self.train, self.val)
        return not any(len(line.get_xdata()) for line in lines if line is not None)

    def show_running(self, xs: Sequence[float], losses: Sequence[float]) -> None:
        """Per-batch loss at fractional epochs (x = epoch - 1 + batch / batches)."""
        if self.running is not None:
            set_hint(self.axes, self.waiting, "")
            self.running.set_data(xs, losses)

    def show_epochs(
        self,
        epochs: Sequence[float],
        train: Sequence[float],
        val: Sequence[float],
        best_epoch: int,
        keeps_best: bool = True,
    ) -> None:
        """Train and validation loss per epoch; the best epoch marked once there is one
        (worded as only the lowest validation loss when the run keeps its last weights)."""
        set_hint(self.axes, self.waiting, "")
        self.train.set_data(epochs, train)
        self.val.set_data(epochs, val)
        if best_epoch:
            self.best.set_xdata([best_epoch, best_epoch])
            self.best.set_visible(True)
            self.note.set_text(best_words(best_epoch, keeps_best))

    def show_history(self, history: Sequence[EpochEnd]) -> None:
        """A finished run's epochs (engine.events.EpochEnd), as a report shows them."""
        self.show_epochs(
            [e.epoch for e in history],
            [e.train_loss for e in history],
            [e.val_loss for e in history],
            history[-1].best_epoch if history else 0,
            history[-1].keeps_best if history else True,
        )

    def show_end(
        self, status: str, epochs_run: int, best_epoch: int, keeps_best: bool = True
    ) -> None:
        """How the run ended: a line and a word where it stopped before its last epoch."""
        if status in STOP_WORDS and epochs_run:
            self.stop.set_xdata([epochs_run, epochs_run])
            self.stop.set_visible(True)
        parts = [best_words(best_epoch, keeps_best)] if best_epoch else []
        if status in STOP_WORDS:
            parts.append(f"{STOP_WORDS[status]} after epoch {epochs_run}")
        self.note.set_text(" · ".join(parts))


def best_words(best_epoch: int, keeps_best: bool) -> str:
    """How a figure names the epoch of lowest validation loss: the "best epoch" only when
    the run goes back to it; a run that keeps its last weights chose nothing by it."""
    return f"best epoch {best_epoch}" if keeps_best else f"lowest val. loss: epoch {best_epoch}"


def loss_axes(
    axes: Axes,
    title: str,
    look: Look,
    *,
    ylabel: str = "",
    running: bool = False,
    log: bool = False,
    hint: str = "",
) -> LossArtists:
    """Empty loss curves on `axes`: train (with the per-batch loss when `running`) and
    validation loss per epoch, the best epoch and an early stop marked, a log y axis
    when `log` (a finished run's loss spans orders of magnitude); `hint` is shown in
    their place until the first point."""
    label_axes(axes, look, title, "epoch", ylabel)
    axes.grid(alpha=0.3)
    if log:
        axes.set_yscale("log")
    running_line = None
    if running:
        (running_line,) = axes.plot(
            [], [], color="tab:blue", alpha=0.35, lw=1, label="train (running)"
        )
    ms = look.marker
    (train,) = axes.plot([], [], "o-", color="tab:blue", ms=ms, label="train")
    (val,) = axes.plot([], [], "s-", color="tab:orange", ms=ms, label="validation")
    best = axes.axvline(0, color="tab:green", ls="--", lw=1, visible=False)
    stop = axes.axvline(0, color="tab:red", ls=":", lw=1.5, visible=False)
    note = axes.text(
        0.98, 0.95, "", transform=axes.transAxes, ha="right", va="top", fontsize=look.note,
        color="0.25",
    )  # fmt: skip
    axes.legend(fontsize=look.legend, loc="upper center", frameon=False, ncol=3)
    artists = LossArtists(axes, train, val, best, stop, note, hint_text(axes, look), running_line)
    set_hint(axes, artists.waiting, hint)
    return artists


@dataclass
class AccuracyArtists:
    """Fine-tuning's second panel: validation accuracy per epoch and, in semi-supervised
    rounds, the share of unlabelled images confident enough to learn from, with the
    rounds that learnt the neighbour graph's guesses shaded."""

    axes: Axes
    look: Look
    line: Line2D
    confident: Line2D  # engine.events.PseudoLabels; stays empty otherwise
    hint: Text  # in place of the axes until the first point (`set_hint`)
    guided: Rectangle | None = None  # the shaded guided rounds, once there are any

    def clear(self, hint: str = "") -> None:
        """No points; `hint` (one line) is shown in their place."""
        set_hint(self.axes, self.hint, hint)
        self.line.set_data([], [])
        self.confident.set_data([], [])
        if self.guided is not None:
            self.guided.remove()
            self.guided = None
        self.axes.set_title("validation accuracy", **_size(self.look.title))
        legend = self.axes.get_legend()
        if legend is not None:
            legend.remove()

    def show_accuracy(self, epochs: Sequence[float], accuracy: Sequence[float]) -> None:
        """Validation accuracy per epoch (or round)."""
        set_hint(self.axes, self.hint, "")
        self.line.set_data(epochs, accuracy)

    def show_confident(
        self, rounds: Sequence[float], shares: Sequence[float], guided_rounds: int = 0
    ) -> None:
        """The confident share per round; the panel's title and legend then say so.
        Rounds 1..`guided_rounds` learnt (also) from the graph's guesses: shaded."""
        set_hint(self.axes, self.hint, "")
        new_legend = len(self.confident.get_xdata()) == 0
        if guided_rounds and self.guided is None:
            self.guided = self.axes.axvspan(
                0, guided_rounds, color="0.88", zorder=0, label="learning the graph's guesses"
            )
            new_legend = True
        if self.guided is not None:
            self.guided.set_width(guided_rounds)
        if new_legend:
            self.axes.set_title("accuracy and unlabelled images", **_size(self.look.title))
            self.axes.legend(fontsize=self.look.legend, loc="lower right", frameon=False)
        self.confident.set_data(rounds, shares)


def accuracy_axes(axes: Axes, look: Look, hint: str = "") -> AccuracyArtists:
    """An empty accuracy panel (see `AccuracyArtists`), `hint` in place of its axes."""
    label_axes(axes, look, "validation accuracy", "epoch")
    axes.grid(alpha=0.3)
    ms = look.marker
    (line,) = axes.plot([], [], "o-", color="tab:purple", ms=ms, label="validation")
    (confident,) = axes.plot(
        [], [], "^--", color="tab:green", ms=ms, label="unlabelled: confident share"
    )
    artists = AccuracyArtists(axes, look, line, confident, hint_text(axes, look))
    set_hint(axes, artists.hint, hint)
    return artists


def loss_figure(histories: Mapping[str, Sequence[EpochEnd]]) -> Figure:
    """A report's loss curves: one panel per phase (title -> its epochs)."""
    figure = Figure(figsize=(5 * max(1, len(histories)), 3.4))
    for i, (title, history) in enumerate(histories.items(), start=1):
        axes = figure.add_subplot(1, len(histories), i)
        artists = loss_axes(axes, title, REPORT, ylabel="loss", log=True)
        artists.show_history(history)
        axes.relim(visible_only=True)
        axes.autoscale_view()
    figure.tight_layout()
    return figure


# ------------------------------------------------------------------- confusion matrix

WHITE_TEXT_ABOVE = 0.6  # of the largest count: darker cells get white numbers


@dataclass
class ConfusionArtists:
    """The artists of a confusion matrix (see `confusion_axes`)."""

    axes: Axes
    image: object  # matplotlib AxesImage
    texts: list[list[Text]]
    highlight: Rectangle
    hint: Text  # in place of the matrix until there are counts (`set_hint`)

    def clear(self, hint: str) -> None:
        """No counts; `hint` (one line) is shown in place of the matrix."""
        for row in self.texts:
            for text in row:
                text.set_text("")
        self.highlight.set_visible(False)
        self.image.set_visible(False)
        set_hint(self.axes, self.hint, hint)

    def show(self, matrix: np.ndarray) -> None:
        """Counts, true class by row and predicted by column; colours from 0 to the
        largest count, so the same count has the same shade in every matrix."""
        set_hint(self.axes, self.hint, "")
        self.image.set_visible(True)
        matrix = np.asarray(matrix, dtype=int)
        top = max(int(matrix.max()), 1)
        self.image.set_data(matrix)
        self.image.set_clim(0, top)
        for (row, col), count in np.ndenumerate(matrix):
            text = self.texts[row][col]
            text.set_text(str(count))
            text.set_color("white" if count > top * WHITE_TEXT_ABOVE else "black")
        self.highlight.set_visible(False)

    def select(self, true: int, predicted: int) -> None:
        """Outline one cell (the one whose digits are on show)."""
        self.highlight.set_xy((predicted - 0.5, true - 0.5))
        self.highlight.set_visible(True)


def confusion_axes(
    axes: Axes, names: Sequence[str], title: str, look: Look, hint: str = ""
) -> ConfusionArtists:
    """An empty len(names) x len(names) confusion matrix on `axes`; with a `hint`, the
    hint in its place until the first `show`."""
    n = len(names)
    image = axes.imshow(np.zeros((n, n), dtype=int), cmap="Blues", vmin=0, vmax=1)
    axes.set_xticks(range(n), labels=list(names), **_size(look.label))
    axes.set_yticks(range(n), labels=list(names), **_size(look.label))
    axes.set_xlabel("predicted", **_size(look.label))
    axes.set_ylabel("true", **_size(look.label))
    axes.set_title(title, **_size(look.title))
    texts = [
        [axes.text(c, r, "", ha="center", va="center", fontsize=look.cell) for c in range(n)]
        for r in range(n)
    ]
    highlight = Rectangle((-0.5, -0.5), 1, 1, fill=False, ec="tab:red", lw=2.5, visible=False)
    axes.add_patch(highlight)
    artists = ConfusionArtists(axes, image, texts, highlight, hint_text(axes, look))
    if hint:
        artists.clear(hint)
    return artists


def confusion_figure(confusion: np.ndarray, names: Sequence[str] = ("even", "odd")) -> Figure:
    """A report's confusion matrix of the test set."""
    figure = Figure(figsize=(3.6, 3.2))
    artists = confusion_axes(figure.add_subplot(), names, "confusion matrix (test set)", REPORT)
    artists.show(confusion)
    figure.tight_layout()
    return figure


# --------------------------------------------------------- digit grids (reconstructions)

TILE = 28
GAP = 2
LABEL_BAND = 9  # pixels under each tile for its caption


def mosaic(images: np.ndarray, rows: int, cols: int, band: int = 0) -> np.ndarray:
    """(n, 28, 28) images in [0, 1] -> one (rows, cols) picture with grey gaps.

    One picture, not an axes per digit: it draws as fast as a single image.
    """
    cell_h, cell_w = TILE + band + GAP, TILE + GAP
    out = np.full((rows * cell_h + GAP, cols * cell_w + GAP), 0.18, dtype=np.float32)
    for i, image in enumerate(images[: rows * cols]):
        r, c = divmod(i, cols)
        top, left = GAP + r * cell_h, GAP + c * cell_w
        out[top : top + TILE, left : left + TILE] = image
        if band:
            out[top + TILE : top + TILE + band, left : left + TILE] = 1.0  # caption background
    return out


def to_unit(images: np.ndarray) -> np.ndarray:
    """uint8 (0..255) or float images -> float32 in [0, 1]."""
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images.astype(np.float32) / 255.0
    return np.clip(images.astype(np.float32), 0.0, 1.0)


def grid_size(rows: int, cols: int) -> tuple[float, float]:
    """A figure size (inches) in which a rows x cols digit grid reads well."""
    return cols * 0.6 + 0.6, rows * 0.65 + 0.4


@dataclass
class DigitGrid:
    """A fixed rows x cols grid of 28x28 digits, captions under them (see `digit_grid`)."""

    axes: Axes
    rows: int
    cols: int
    band: int
    image: object  # matplotlib AxesImage of the whole mosaic
    title: Text
    empty: Text  # shown while the grid holds no digit
    captions: list[Text] = field(default_factory=list)

    def show(
        self,
        images: np.ndarray,
        captions: Sequence[str] = (),
        colors: Sequence[str] = (),
        title: str | None = None,
    ) -> int:
        """Show the first rows x cols of `images` (uint8 or [0, 1] floats) with a caption
        (and its colour) under each; returns how many are shown."""
        images = to_unit(images) if len(images) else np.zeros((0, TILE, TILE), np.float32)
        count = min(len(images), self.rows * self.cols)
        self.image.set_data(mosaic(images, self.rows, self.cols, self.band))
        self.empty.set_visible(count == 0)
        for i, text in enumerate(self.captions):
            text.set_text(captions[i] if i < len(captions) and i < count else "")
            text.set_color(colors[i] if i < len(colors) else "black")
        if title is not None:
            self.title.set_text(title)
        return count


def digit_grid(
    figure: Figure,
    rows: int,
    cols: int,
    look: Look,
    *,
    captions: bool = True,
    title: str = "",
    row_labels: Sequence[str] = (),
    empty: str = "",
) -> DigitGrid:
    """An empty digit grid filling `figure`, with a label left of each row if given."""
    band = LABEL_BAND if captions else 0
    height = rows * (TILE + band + GAP) + GAP
    width = cols * (TILE + GAP) + GAP
    left = 0.1 if row_labels else 0.01
    axes = figure.add_axes((left, 0.01, 0.99 - left, 0.88 if title else 0.98))
    axes.set_axis_off()
    image = axes.imshow(
        np.zeros((height, width), dtype=np.float32),
        cmap="gray",
        vmin=0.0,
        vmax=1.0,
        interpolation="nearest",
        aspect="equal",
    )
    title_text = axes.set_title(title, **_size(look.title))
    texts = []
    if captions:
        for i in range(rows * cols):
            r, c = divmod(i, cols)
            x = GAP + c * (TILE + GAP) + TILE / 2
            y = GAP + r * (TILE + band + GAP) + TILE + band / 2
            texts.append(axes.text(x, y, "", ha="center", va="center", fontsize=6.5))
    for r, label in enumerate(row_labels):
        y = GAP + r * (TILE + band + GAP) + TILE / 2
        axes.text(-3, y, label, ha="right", va="center", fontsize=7.5, clip_on=False)
    empty_text = axes.text(
        width / 2, height / 2, empty, ha="center", va="center", fontsize=look.title, color="0.85"
    )
    return DigitGrid(axes, rows, cols, band, image, title_text, empty_text, texts)


def digits_figure(
    images: np.ndarray,
    captions: Sequence[str],
    colors: Sequence[str] = (),
    title: str = "",
    columns: int = 10,
) -> Figure:
    """A report's grid of digits with a caption under each (e.g. the misclassified)."""
    rows = max(1, -(-len(images) // columns))
    figure = Figure(figsize=grid_size(rows, columns))
    digit_grid(figure, rows, columns, REPORT, title=title).show(images, captions, colors)
    return figure


# ------------------------------------------------------------------------- latent map

PARITY_COLOURS = ("tab:blue", "tab:orange")  # even, odd
COLOURINGS = ("digit", "even/odd")
MAP_MARGIN = 0.05  # room around the points, as a fraction of their spread


def digit_colours(digits: np.ndarray) -> np.ndarray:
    """RGBA per point: matplotlib's ten-colour cycle, one colour per digit."""
    from matplotlib import colormaps

    return colormaps["tab10"](np.asarray(digits) % 10)


def parity_colours(digits: np.ndarray) -> np.ndarray:
    """RGBA per point: blue for even digits, orange for odd."""
    from matplotlib.colors import to_rgba_array

    return to_rgba_array(PARITY_COLOURS)[np.asarray(digits) % 2]


def map_limits(points: np.ndarray) -> tuple[float, float, float, float]:
    """(x0, x1, y0, y1) around the points with MAP_MARGIN on each side: what `LatentArtists.
    show` sets, so a live tab can find the point under the pointer without reading the
    figure (which its render thread may be drawing)."""
    points = np.asarray(points, dtype=np.float64)
    if not len(points):
        return (0.0, 1.0, 0.0, 1.0)
    low, high = points.min(0), points.max(0)
    pad = np.maximum(high - low, 1e-6) * MAP_MARGIN
    (x0, y0), (x1, y1) = low - pad, high + pad
    return (float(x0), float(x1), float(y0), float(y1))


@dataclass
class LatentArtists:
    """The artists of one latent map (see `latent_axes`)."""

    axes: Axes
    points: PathCollection
    names: list[Text]  # "0" ... "9", each at its digit's median point
    waiting: Text  # centred message while there is no map

    def clear(self, waiting: str = "") -> None:
        self.points.set_offsets(np.zeros((0, 2)))
        for text in self.names:
            text.set_visible(False)
        self.waiting.set_text(waiting)

    def show(self, latent_map: LatentMap, colouring: str = "digit") -> None:
        """The map's points coloured by digit or "even/odd", each digit's name where most
        of its points are, and the limits of `map_limits`."""
        colour = digit_colours if colouring == "digit" else parity_colours
        points, digits = latent_map.points, latent_map.digits
        self.points.set_offsets(points)
        self.points.set_facecolors(colour(digits))
        x0, x1, y0, y1 = map_limits(points)
        self.axes.set_xlim(x0, x1)
        self.axes.set_ylim(y0, y1)
        self.waiting.set_text("")
        for digit, text in enumerate(self.names):
            at = points[digits == digit]
            text.set_visible(len(at) > 0)
            if len(at):
                text.set_position(tuple(np.median(at, axis=0)))
                text.set_color(colour(np.array([digit]))[0])


def latent_axes(axes: Axes, look: Look) -> LatentArtists:
    """An empty latent map on `axes`: a scatter without ticks, ten digit names, a message."""
    axes.set_xticks([])
    axes.set_yticks([])
    points = axes.scatter(np.zeros(0), np.zeros(0), s=look.dot, linewidths=0)
    names = [
        axes.text(0, 0, str(digit), ha="center", va="center", weight="bold", visible=False,
                  bbox={"boxstyle": "circle,pad=0.15", "fc": "white", "alpha": 0.7, "lw": 0},
                  **_size(look.name))
        for digit in range(10)
    ]  # fmt: skip
    waiting = axes.text(
        0.5, 0.5, "", transform=axes.transAxes, ha="center", va="center",
        color="0.45", wrap=True, **_size(look.title),
    )  # fmt: skip
    return LatentArtists(axes, points, names, waiting)
