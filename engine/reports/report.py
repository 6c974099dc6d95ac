"""Figures and the HTML report of a run, drawn with matplotlib's Agg backend only.

Figures are built with `matplotlib.figure.Figure` directly (no pyplot), so this module
never touches a GUI backend and is safe from any thread.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from engine.events import EpochEnd
from engine.files import atomic_write_bytes


def figure_png(figure: Figure) -> bytes:
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()


def loss_figure(histories: dict[str, Sequence[EpochEnd]]) -> Figure:
    """One panel per phase: train and validation loss per epoch, best epoch marked."""
    figure = Figure(figsize=(5 * max(1, len(histories)), 3.4))
    for i, (title, history) in enumerate(histories.items(), start=1):
        axes = figure.add_subplot(1, len(histories), i)
        epochs = [e.epoch for e in history]
        axes.plot(epochs, [e.train_loss for e in history], "o-", label="train")
        axes.plot(epochs, [e.val_loss for e in history], "s-", label="validation")
        if history:
            best = history[-1].best_epoch
            axes.axvline(best, color="grey", linestyle=":", label=f"best epoch {best}")
        axes.set_title(title)
        axes.set_xlabel("epoch")
        axes.set_ylabel("loss")
        axes.set_yscale("log")
        axes.grid(alpha=0.3)
        axes.legend()
    figure.tight_layout()
    return figure


def confusion_figure(confusion: np.ndarray, names: Sequence[str] = ("even", "odd")) -> Figure:
    figure = Figure(figsize=(3.6, 3.2))
    axes = figure.add_subplot()
    axes.imshow(confusion, cmap="Blues")
    for (row, col), count in np.ndenumerate(confusion):
        color = "white" if count > confusion.max() / 2 else "black"
        axes.text(col, row, str(count), ha="center", va="center", color=color)
    axes.set_xticks(range(len(names)), names)
    axes.set_yticks(range(len(names)), names)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title("confusion matrix (test set)")
    figure.tight_layout()
    return figure


def digits_figure(images: np.ndarray, captions: Sequence[str], columns: int = 10) -> Figure:
    """A grid of 28x28 digits with a caption under each."""
    count = max(1, len(images))
    rows = (count + columns - 1) // columns
    figure = Figure(figsize=(columns * 0.9, rows * 1.1))
    for i, (image, caption) in enumerate(zip(images, captions, strict=True)):
        axes = figure.add_subplot(rows, columns, i + 1)
        axes.imshow(image, cmap="gray_r", vmin=0, vmax=255)
        axes.set_title(caption, fontsize=7)
        axes.axis("off")
    figure.tight_layout()
    return figure


def save_figure(figure: Figure, path: Path) -> bytes:
    png = figure_png(figure)
    atomic_write_bytes(path, png)
    return png


def _table(rows: dict) -> str:
    cells = "".join(
        f"<tr><th>{html.escape(str(key))}</th><td>{html.escape(str(value))}</td></tr>"
        for key, value in rows.items()
    )
    return f"<table>{cells}</table>"


def html_page(title: str, sections: Sequence[tuple[str, str]]) -> str:
    """A self-contained page; `sections` are (heading, html body) pairs."""
    body = "".join(f"<h2>{html.escape(head)}</h2>\n{content}\n" for head, content in sections)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5em 0; }}
th, td {{ border: 1px solid #ccc; padding: 4px 10px; text-align: left; }}
th {{ background: #f4f4f4; }}
img {{ max-width: 100%; }}
pre {{ background: #f7f7f7; padding: 0.8em; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
{body}</body></html>
"""


def embed_png(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def settings_table(settings: dict) -> str:
    return _table(settings)
