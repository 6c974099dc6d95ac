"""Draw the app icon: resources/icons/app.png (Linux, Qt), app.ico (Windows), app.icns (macOS).

Drawn with Pillow from the same pen strokes as the sample drawings, so the project owns
every pixel it ships and nobody needs an image editor to change it: a tile split into an
"even" half with a hand-drawn 2 and an "odd" half with a hand-drawn 7.

    python packaging/make_icons.py [--out resources/icons]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_samples import DIGITS

ROOT = Path(__file__).resolve().parent.parent
SIZE = 1024  # drawn large, then scaled down with antialiasing
EVEN, ODD, INK = (38, 110, 160), (230, 126, 34), (255, 255, 255)
ICO_SIZES = [(16, 16), (24, 24), (32, 32), (48, 48), (64, 64), (128, 128), (256, 256)]


def _digit(canvas: ImageDraw.ImageDraw, digit: int, cx: float, cy: float, size: float) -> None:
    pen = size * 0.14
    for stroke in DIGITS[digit]():
        points = [(cx + (x - 0.5) * size * 0.6, cy + (y - 0.5) * size) for x, y in stroke]
        canvas.line(points, fill=INK, width=round(pen), joint="curve")
        for x, y in (points[0], points[-1]):
            canvas.ellipse((x - pen / 2, y - pen / 2, x + pen / 2, y + pen / 2), fill=INK)


def draw_icon() -> Image.Image:
    """The icon at SIZE×SIZE, transparent outside a rounded tile."""
    tile = Image.new("RGBA", (SIZE, SIZE), ODD)
    canvas = ImageDraw.Draw(tile)
    canvas.polygon([(0, 0), (SIZE, 0), (0, SIZE)], fill=EVEN)  # diagonal split
    _digit(canvas, 2, SIZE * 0.32, SIZE * 0.36, SIZE * 0.42)
    _digit(canvas, 7, SIZE * 0.68, SIZE * 0.64, SIZE * 0.42)
    mask = Image.new("L", (SIZE, SIZE), 0)
    margin = SIZE // 32
    ImageDraw.Draw(mask).rounded_rectangle(
        (margin, margin, SIZE - margin, SIZE - margin), radius=SIZE // 6, fill=255
    )
    icon = Image.new("RGBA", (SIZE, SIZE), (0, 0, 0, 0))
    icon.paste(tile, (0, 0), mask)
    return icon


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "resources" / "icons")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    icon = draw_icon()
    icon.resize((256, 256), Image.Resampling.LANCZOS).save(args.out / "app.png", optimize=True)
    icon.save(args.out / "app.ico", sizes=ICO_SIZES)
    icon.resize((512, 512), Image.Resampling.LANCZOS).save(args.out / "app.icns")
    print(f"wrote app.png, app.ico, app.icns to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
