"""Draw the sample drawings the app ships in resources/samples/ (used by `--self-test`).

The samples are drawn here from scratch, stroke by stroke with Pillow, not cut from MNIST:
the app may ship them freely, and they look like what a person draws on the Draw panel
(pen strokes on a canvas of some size, off-centre, thick or thin, either polarity) rather
than like MNIST's centred 28×28 scans. Each file name carries the answer the self-test
checks: `<digit>_<even|odd>_<style>.png`.

    python packaging/make_samples.py [--out resources/samples]
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
Point = tuple[float, float]


def _arc(cx: float, cy: float, rx: float, ry: float, start: float, end: float) -> list[Point]:
    """Points along an ellipse arc; angles in degrees, 0 = right, 90 = down (screen y)."""
    steps = max(8, int(abs(end - start) / 6))
    return [
        (
            cx + rx * math.cos(math.radians(start + (end - start) * i / steps)),
            cy + ry * math.sin(math.radians(start + (end - start) * i / steps)),
        )
        for i in range(steps + 1)
    ]


# Each digit is a few strokes (polylines) in a box 0..1 wide and 0..1 tall, drawn the way
# people usually write them (an open 4, a 7 without a bar, a 1 with a small flag).
DIGITS: dict[int, Callable[[], list[list[Point]]]] = {
    0: lambda: [_arc(0.5, 0.5, 0.32, 0.48, -90, 275)],
    1: lambda: [[(0.35, 0.18), (0.55, 0.0), (0.55, 1.0)]],
    2: lambda: [[*_arc(0.5, 0.3, 0.32, 0.3, 190, 370), (0.15, 1.0), (0.9, 1.0)]],
    3: lambda: [_arc(0.48, 0.26, 0.3, 0.26, 200, 450) + _arc(0.48, 0.74, 0.34, 0.26, 270, 520)],
    4: lambda: [[(0.6, 0.0), (0.1, 0.65), (0.95, 0.65)], [(0.72, 0.3), (0.72, 1.0)]],
    5: lambda: [
        [(0.85, 0.0), (0.25, 0.0), (0.2, 0.45), *_arc(0.5, 0.7, 0.35, 0.3, 225, 500)],
    ],
    6: lambda: [[(0.75, 0.02), (0.4, 0.3), *_arc(0.5, 0.72, 0.3, 0.28, 200, 560)]],
    7: lambda: [[(0.1, 0.0), (0.9, 0.0), (0.4, 1.0)]],
    8: lambda: [_arc(0.5, 0.25, 0.25, 0.25, 90, 450), _arc(0.5, 0.74, 0.32, 0.26, -90, 270)],
    9: lambda: [_arc(0.48, 0.28, 0.3, 0.28, 0, 360), [(0.78, 0.28), (0.75, 1.0)]],
}


@dataclass(frozen=True)
class Style:
    """How one sample is drawn: canvas, digit size and place, pen, slant, polarity."""

    name: str
    canvas: tuple[int, int]  # width, height
    height: float  # digit height as a share of the canvas height
    centre: tuple[float, float]  # digit centre as shares of the canvas
    pen: float  # pen width as a share of the digit height
    slant: float  # x shift per unit of height (positive leans right)
    dark_on_light: bool


STYLES = (
    Style("thick", (280, 280), 0.7, (0.5, 0.5), 0.13, 0.1, True),
    Style("thin", (400, 300), 0.45, (0.35, 0.6), 0.04, 0.0, False),
    Style("offcentre", (520, 240), 0.8, (0.72, 0.48), 0.08, -0.08, True),
)


def draw(digit: int, style: Style) -> Image.Image:
    """One sample: the digit's strokes slanted, scaled and placed per `style`."""
    width, height = style.canvas
    size = style.height * height
    aspect = 0.6  # digits are narrower than tall
    cx, cy = style.centre[0] * width, style.centre[1] * height
    pen = max(1, round(style.pen * size))
    paper, ink = (245, 20) if style.dark_on_light else (15, 235)
    image = Image.new("L", (width, height), paper)
    canvas = ImageDraw.Draw(image)
    for stroke in DIGITS[digit]():
        points = [
            (
                cx + (x - 0.5) * size * aspect + (0.5 - y) * size * style.slant,
                cy + (y - 0.5) * size,
            )
            for x, y in stroke
        ]
        canvas.line(points, fill=ink, width=pen, joint="curve")
        for x, y in (points[0], points[-1]):  # round pen ends, as a real pen makes
            r = pen / 2
            canvas.ellipse((x - r, y - r, x + r, y + r), fill=ink)
    return image


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "resources" / "samples")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for old in args.out.glob("*.png"):
        old.unlink()
    for digit in range(10):
        for style in STYLES:
            parity = "odd" if digit % 2 else "even"
            path = args.out / f"{digit}_{parity}_{style.name}.png"
            draw(digit, style).save(path, optimize=True)
    print(f"wrote {10 * len(STYLES)} samples to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
