"""The settings people can set, and how the command line reads them.

Apart from `engine.cli` so that `engine.study.cli` (which `engine.cli` imports to add
`compare`) can use the same argparse types without importing its importer.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def int_at_least(low: int) -> Callable[[str], int]:
    """An argparse type: a whole number of at least `low` (also used by `compare`)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{value} must be {low} or more")
        return value

    return parse


def number_between(
    low: float, high: float = math.inf, *, low_included: bool = False, high_included: bool = False
) -> Callable[[str], float]:
    """An argparse type: a finite number between `low` and `high` (also used by `compare`)."""
    bounds = f"{'at least' if low_included else 'above'} {low:g}"
    if high != math.inf:
        bounds += f" and {'at most' if high_included else 'below'} {high:g}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        above = value >= low if low_included else value > low
        below = value <= high if high_included else value < high
        if not (above and below and math.isfinite(value)):
            raise argparse.ArgumentTypeError(f"{text} must be a number {bounds}")
        return value

    return parse
