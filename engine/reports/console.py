"""Showing engine events on a terminal: a live progress bar with ETA, or plain lines.

A terminal gets one redrawn line (carriage return); a pipe or log file gets a line per
epoch, so CI logs stay readable.
"""

from __future__ import annotations

import sys
from typing import TextIO

from engine.events import EpochEnd, Event, Finished, Message, Progress


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    seconds = round(seconds)
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


class ConsoleReporter:
    """An event sink for the command line."""

    def __init__(self, stream: TextIO | None = None, quiet: bool = False) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.quiet = quiet
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())
        self._bar_shown = False

    def _clear_bar(self) -> None:
        if self._bar_shown:
            self.stream.write("\r\033[K")
            self._bar_shown = False

    def _line(self, text: str) -> None:
        self._clear_bar()
        self.stream.write(text + "\n")
        self.stream.flush()

    def __call__(self, event: Event) -> None:
        if self.quiet:
            return
        if isinstance(event, Progress):
            if self.live:
                width = 28
                filled = int(width * event.fraction)
                where = (
                    f"epoch {event.epoch}/{event.epochs} batch {event.batch}/{event.batches}"
                    if event.epochs
                    else f"{event.done}/{event.total}"
                )
                loss = f" loss {event.loss:.4f}" if event.loss is not None else ""
                self.stream.write(
                    f"\r\033[K{event.phase:<9} [{'#' * filled}{'.' * (width - filled)}] "
                    f"{100 * event.fraction:3.0f}% {where}{loss} "
                    f"ETA {format_seconds(event.eta)}"
                )
                self.stream.flush()
                self._bar_shown = True
        elif isinstance(event, EpochEnd):
            accuracy = (
                f" val_acc {event.val_accuracy:.4f}" if event.val_accuracy is not None else ""
            )
            mark = " *" if event.best_epoch == event.epoch else ""
            self._line(
                f"{event.phase} epoch {event.epoch}/{event.epochs}: train_loss "
                f"{event.train_loss:.5f} val_loss {event.val_loss:.5f}{accuracy}{mark}"
            )
        elif isinstance(event, Finished):
            self._line(f"{event.phase}: {event.reason} ({format_seconds(event.seconds)})")
        elif isinstance(event, Message):
            self._line(("warning: " if event.level == "warning" else "") + event.text)
