"""The study's figures (accuracy and steps against labels, one panel per encoder family),
built once for the study report and the Compare tab, with the shared builders' `Look`.

Here rather than in `engine.reports.figures` because they read the study's ways and
statistics, and the study is the layer above the reports.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.text import Text
from matplotlib.ticker import NullFormatter

from engine.reports.figures import REPORT, Look, hint_text, label_axes, set_hint
from engine.study.settings import WAY_LABELS, WAYS, StudySettings
from engine.study.stats import pct

# Colour and marker of each way of training a study cell, in every study figure. A way
# missing here (a newer study file) still gets its own colour from FALLBACK_COLORS.
WAY_STYLES = {
    "scratch": ("tab:gray", "o"),
    "frozen": ("tab:blue", "s"),
    "finetune": ("tab:orange", "^"),
    "scratch_unlabelled": ("tab:green", "D"),
    "finetune_unlabelled": ("tab:red", "v"),
}
FALLBACK_COLORS = ("tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan")
CAPSIZE = 3  # half-width of an error bar's caps, points

Points = list[tuple[float, float, float]]  # (labels, value, error) sorted by labels


def way_style(way: str, ways: Sequence[str]) -> tuple[str, str]:
    """(colour, marker) of `way`; `ways` (all the ways known) picks a fallback colour."""
    if way in WAY_STYLES:
        return WAY_STYLES[way]
    others = [w for w in ways if w not in WAY_STYLES]
    index = others.index(way) if way in others else len(others)
    return FALLBACK_COLORS[index % len(FALLBACK_COLORS)], "o"


def accuracy_points(rows: Mapping[str, Mapping[str, dict]]) -> dict[str, Points]:
    """Per way: (labels, test accuracy %, std over seeds %) from one family's summary
    rows (engine.study.summarize's table[family]: budget -> way -> numbers)."""
    points: dict[str, Points] = {}
    for row in rows.values():
        for way, info in row.items():
            value = (info["n_labels"], 100 * info["mean"], 100 * (info["std"] or 0.0))
            points.setdefault(way, []).append(value)
    return {way: sorted(p) for way, p in points.items()}


def steps_points(rows: Mapping[str, Mapping[str, dict]]) -> dict[str, Points]:
    """Per way: (labels, mean steps to the target accuracy, 0) where seeds reached it."""
    points: dict[str, Points] = {}
    for row in rows.values():
        for way, info in row.items():
            if info["mean_steps_to_target"] is not None:
                value = (info["n_labels"], info["mean_steps_to_target"], 0.0)
                points.setdefault(way, []).append(value)
    return {way: sorted(p) for way, p in points.items()}


@dataclass
class WayArtists:
    line: Line2D
    bars: LineCollection  # error bars
    caps: Line2D  # their caps


@dataclass
class StudyArtists:
    """One family's panel of a study figure: a line per way (see `study_axes`)."""

    axes: Axes
    look: Look
    hint: Text  # in place of the axes until the first point (figures.set_hint)
    legend_loc: str = "lower right"
    ways: dict[str, WayArtists] = field(default_factory=dict)

    def show(
        self, points: Mapping[str, Points], top: float | None = None, ticks: Sequence[int] = ()
    ) -> None:
        """Set every way's points (a line, error bars, caps); a way seen for the first
        time gets its artists and joins the legend. `top` caps the y axis (100.5 for
        accuracy in %); `ticks` are the budgets to mark (default: those plotted)."""

        if any(points.values()):
            set_hint(self.axes, self.hint, "")
        known = list(WAYS) + sorted(w for w in points if w not in WAYS)
        new = [w for w in known if w in points and w not in self.ways]
        for way in new:
            self._add_way(way, WAY_LABELS.get(way, way), known)
        for way, artists in self.ways.items():
            shown = points.get(way, [])
            artists.line.set_data([p[0] for p in shown], [p[1] for p in shown])
            bars = [[(x, y - e), (x, y + e)] for x, y, e in shown if e]
            artists.bars.set_segments(bars)
            artists.caps.set_data(
                [x for x, _, e in shown if e for _ in (0, 1)],
                [y + s * e for _, y, e in shown if e for s in (-1, 1)],
            )
        if new:
            handles = [self.ways[w].line for w in known if w in self.ways]
            self.axes.legend(handles=handles, fontsize=self.look.legend, loc=self.legend_loc)
        self._frame([p for shown in points.values() for p in shown], top, ticks)

    def _add_way(self, way: str, label: str, known: Sequence[str]) -> None:
        color, marker = way_style(way, known)
        (line,) = self.axes.plot(
            [], [], marker=marker, ms=self.look.marker, color=color, label=label
        )
        bars = LineCollection([], colors=color, linewidths=1.2)
        self.axes.add_collection(bars)
        (caps,) = self.axes.plot([], [], ls="none", marker="_", ms=2 * CAPSIZE, color=color)
        self.ways[way] = WayArtists(line, bars, caps)

    def _frame(self, points: Points, top: float | None, ticks: Sequence[int]) -> None:
        """Limits and ticks for what is shown: the budgets themselves on the log x axis
        (not 2x10^1 style ticks), the values and their error bars on y."""
        if not points:
            return
        axes = self.axes
        xs = sorted(set(ticks) | {p[0] for p in points})
        axes.set_xlim(min(xs) / 1.5, max(xs) * 1.5)
        axes.set_xticks(xs, [f"{n:,}" for n in xs])
        axes.xaxis.set_minor_formatter(NullFormatter())
        low = min(y - e for _, y, e in points)
        high = max(y + e for _, y, e in points)
        pad = max(0.5, 0.05 * (high - low))
        axes.set_ylim(low - pad, high + pad if top is None else min(top, high + pad))


def study_axes(
    axes: Axes,
    family: str,
    ylabel: str,
    look: Look,
    legend_loc: str = "lower right",
    hint: str = "",
) -> StudyArtists:
    """An empty panel of a study figure for one encoder family (log x: labels), `hint`
    in its place until the first point. The legend goes lower right by default, where
    accuracy rising with labels leaves room."""
    axes.set_xscale("log")
    label_axes(axes, look, f"{family.upper()} encoder", "labelled images (log scale)", ylabel)
    axes.grid(alpha=0.3, which="both")
    artists = StudyArtists(axes, look, hint_text(axes, look), legend_loc)
    set_hint(axes, artists.hint, hint)
    return artists


def study_panels(
    figure: Figure,
    families: Iterable[str],
    ylabel: str,
    look: Look,
    legend_loc: str = "lower right",
    hint: str = "",
) -> dict[str, StudyArtists]:
    """One `study_axes` panel per family, side by side."""
    families = list(families)
    return {
        family: study_axes(
            figure.add_subplot(1, len(families), i), family, ylabel, look, legend_loc, hint
        )
        for i, family in enumerate(families, start=1)
    }


ACCURACY_LABEL = "test accuracy (%)"


def show_accuracy(panels: Mapping[str, StudyArtists], summary: dict) -> None:
    """Accuracy vs labels (mean ± std over seeds) of engine.study.summarize's output."""
    for family, panel in panels.items():
        panel.show(accuracy_points(summary["table"].get(family, {})), top=100.5)


def accuracy_figure(summary: dict, settings: StudySettings) -> Figure:
    """The study report's test accuracy vs labels, a panel per family."""
    figure = Figure(figsize=(5.2 * len(settings.families), 3.8))
    show_accuracy(study_panels(figure, settings.families, ACCURACY_LABEL, REPORT), summary)
    figure.tight_layout()
    return figure


def convergence_figure(summary: dict, settings: StudySettings) -> Figure:
    """Mean steps to reach the target validation accuracy (seeds that reached it)."""

    figure = Figure(figsize=(5.2 * len(settings.families), 3.6))
    ylabel = f"steps to {pct(settings.target)} val. acc."
    panels = study_panels(figure, settings.families, ylabel, REPORT, legend_loc="best")
    for family, panel in panels.items():
        rows = summary["table"].get(family, {})
        budgets = [next(iter(row.values()))["n_labels"] for row in rows.values()]
        panel.show(steps_points(rows), ticks=budgets)
    figure.tight_layout()
    return figure
