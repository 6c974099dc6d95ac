"""A test set that imitates what people draw on the Draw panel's canvas.

MNIST's test set says how well a model reads centred 28×28 white-on-black digits, but the
Draw panel gives it something else: a canvas of any size and shape, the digit somewhere
off-centre at any size, thin or thick pen, dark ink on a light background. These simulated
drawings, made from real MNIST digits, measure how much of that gap `engine.data.preprocess`
closes (accuracy on `to_mnist(drawing)` vs on the original digit).
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter, ImageOps

_WORK = 4  # the stroke-width filters run at 4× MNIST resolution: cheap and smooth enough
_PEN_FILTERS = (-5, -3, 0, 0, 3, 5, 7)  # <0: MinFilter(|k|) thins; >0: MaxFilter(k) thickens


def _ink_bbox(ink: np.ndarray) -> tuple[int, int, int, int] | None:
    rows = np.flatnonzero(ink.any(axis=1))
    cols = np.flatnonzero(ink.any(axis=0))
    if rows.size == 0:
        return None
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def _pen(digit: np.ndarray, pen: int) -> Image.Image:
    """The digit cropped to its ink, enlarged 4× with its strokes thinned or thickened."""
    box = _ink_bbox(digit > 0)
    if box is None:
        return Image.new("L", (1, 1), 0)
    top, bottom, left, right = box
    margin = _WORK  # room for MaxFilter to grow the strokes
    crop = np.pad(digit[top:bottom, left:right], 1)
    img = Image.fromarray(crop).resize(
        (crop.shape[1] * _WORK, crop.shape[0] * _WORK), Image.Resampling.BILINEAR
    )
    # A k×k square filter equals (k-1)/2 passes of 3×3, and 3×3 is much cheaper in Pillow.
    passes = abs(pen) // 2
    if pen > 0:
        img = ImageOps.expand(img, margin, fill=0)
        for _ in range(passes):
            img = img.filter(ImageFilter.MaxFilter(3))
    elif pen < 0:
        thinned = img
        for _ in range(passes):
            thinned = thinned.filter(ImageFilter.MinFilter(3))
        if thinned.getbbox() is not None:  # never erode a digit away entirely
            img = thinned
    bbox = img.getbbox()
    return img.crop(bbox) if bbox else img


def _one_drawing(
    digit: np.ndarray, rng: np.random.Generator, lo: int, hi: int, noise: np.ndarray
) -> np.ndarray:
    """One canvas: random size, digit size, position, pen, blur, polarity, levels, noise."""
    h = int(rng.integers(lo, hi + 1))
    w = int(rng.integers(max(lo, (h + 1) // 2), min(hi, 2 * h) + 1))  # aspect up to 2:1
    ink = _pen(digit, int(rng.choice(_PEN_FILTERS)))
    longer = float(rng.uniform(0.2, 0.9)) * min(h, w)
    scale = longer / max(ink.size)
    dw = int(np.clip(round(ink.size[0] * scale), 1, w))
    dh = int(np.clip(round(ink.size[1] * scale), 1, h))
    ink = ink.resize((dw, dh), Image.Resampling.BILINEAR)
    left, top = int(rng.integers(0, w - dw + 1)), int(rng.integers(0, h - dh + 1))
    if rng.random() < 0.5:  # blur only around the digit: blurring the whole canvas is slow
        radius = float(rng.uniform(0.5, 2.0))
        pad = int(np.ceil(3 * radius))
        ink = ImageOps.expand(ink, pad, fill=0).filter(ImageFilter.GaussianBlur(radius))
        left, top = left - pad, top - pad  # paste clips whatever falls off the canvas
    sheet = Image.new("L", (w, h), 0)
    sheet.paste(ink, (left, top))
    paper, pen = float(rng.uniform(230, 255)), float(rng.uniform(0, 40))
    if rng.random() < 0.5:  # light ink on a dark background
        paper, pen = 255.0 - paper, 255.0 - pen
    levels = np.round(paper + (pen - paper) * np.arange(256) / 255.0).astype(np.uint8)
    canvas = np.array(sheet.point(levels.tolist()), dtype=np.uint8)  # ink 0..255 → grey
    if rng.random() < 0.3:  # sensor-like noise: a random window of the shared noise field
        y, x = (
            int(rng.integers(0, noise.shape[0] - h + 1)),
            int(rng.integers(0, noise.shape[1] - w + 1)),
        )
        noisy = canvas + noise[y : y + h, x : x + w] * np.float32(rng.uniform(1, 6))
        canvas = np.clip(np.round(noisy), 0, 255).astype(np.uint8)
    return canvas


def simulate_drawings(
    images: np.ndarray,
    labels: np.ndarray,
    n: int,
    seed: int = 0,
    canvas_size_range: tuple[int, int] = (120, 600),
) -> tuple[list[np.ndarray], np.ndarray]:
    """Make `n` canvas-like drawings from MNIST digits (uint8 N×28×28, white on black).

    Returns the canvases (uint8 2-D arrays of varying shapes) and the labels of the digits
    they were made from. The same seed always gives the same drawings.
    """
    images = np.asarray(images)
    labels = np.asarray(labels)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 (N, H, W), got {images.dtype} {images.shape}")
    if labels.shape != (images.shape[0],):
        raise ValueError(f"need one label per image: {labels.shape} vs {images.shape[0]} images")
    if n < 0 or (n > 0 and images.shape[0] == 0):
        raise ValueError(f"cannot make {n} drawings from {images.shape[0]} images")
    lo, hi = (int(v) for v in canvas_size_range)
    if not 8 <= lo <= hi:
        raise ValueError(f"canvas_size_range must be (low, high) with 8 <= low <= high: {lo, hi}")
    rng = np.random.default_rng(seed)
    chosen = rng.choice(images.shape[0], size=n, replace=n > images.shape[0])
    # One noise field cut into windows: drawing fresh Gaussian noise per canvas was the
    # slowest step of the whole simulation.
    noise = rng.standard_normal((2 * hi, 2 * hi), dtype=np.float32)
    drawings = [_one_drawing(images[i], rng, lo, hi, noise) for i in chosen]
    return drawings, labels[chosen]
