"""Turn any drawn or loaded image into the 28×28 picture an MNIST model expects.

A model trained on MNIST has only ever seen digits made one way: white ink on black, the
ink's bounding box scaled so its longer side is 20 px (aspect kept, antialiased), pasted
into 28×28 with the ink's centre of mass at the centre. A canvas drawing or a photo is
nothing like that (any size, off-centre, dark on light), so feeding it in raw gives
confident nonsense. `to_mnist` repeats MNIST's own recipe so the model sees familiar input.

The only numeric convention shared with the models is `PIXEL_SCALE`: pixel / 255, no
mean/std normalisation. `to_model_input` applies it; training code must use the same.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from engine.errors import ImageError, NothingDrawnError

PIXEL_SCALE = 1 / 255  # THE model input scaling: pixel / 255, no mean/std

BOX = 20  # MNIST: longer side of the ink's bounding box
SIZE = 28  # MNIST: canvas side
CENTRE = 14.0  # where the ink's centre of mass goes (row, column)

# Blank detection (see `_check_not_blank`): a drawing must differ from the background by at
# least MIN_CONTRAST (~30 grey levels), and must not be both a negligible amount of ink and
# a tiny speck.
MIN_CONTRAST = 0.12
MIN_INK_FRACTION = 0.001  # ink mass (in full-ink pixels) as a share of all pixels
MIN_EXTENT_PX = 3  # a bounding box smaller than this is a speck ...
MIN_EXTENT_FRACTION = 0.03  # ... and so is one under 3% of the canvas's longer side

NOISE_FLOOR = 0.06  # ink weaker than this (and than NOISE_SIGMAS noise sigmas) is background
NOISE_SIGMAS = 5.0
REL_FLOOR = 0.1  # ... and than this share of the strongest ink (JPEG halos, shadows)

MASS_TRIM = 0.001  # share of the ink mass the bounding box may leave out on each side

# A thin pen on a big canvas would shrink to a faint sub-pixel line at 20 px; MNIST strokes
# are 2-3 px wide, so strokes are thickened (never thinned) to at least this output width.
MIN_STROKE_PX = 2.0


def _as_gray_alpha(image: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Validate and split into gray (float 0..1) and optional alpha, so later steps see one type."""
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (2, 3, 4)):
        raise ImageError(
            f"expected a grayscale, RGB or RGBA image, got an array of shape {arr.shape}"
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ImageError(f"the image is empty (shape {arr.shape})")
    if arr.dtype == np.bool_:
        values = arr.astype(np.float64)
    elif arr.dtype == np.uint8:
        values = arr.astype(np.float64) / 255.0
    elif arr.dtype == np.uint16:
        values = arr.astype(np.float64) / 65535.0
    elif np.issubdtype(arr.dtype, np.integer):
        if arr.min() < 0 or arr.max() > 255:
            raise ImageError(f"integer image values must be in 0..255, got {arr.dtype}")
        values = arr.astype(np.float64) / 255.0
    elif np.issubdtype(arr.dtype, np.floating):
        values = arr.astype(np.float64)
        if not np.isfinite(values).all():
            raise ImageError("the image contains NaN or infinite values")
        if values.min() < -1e-6 or values.max() > 1 + 1e-6:
            raise ImageError("float image values must be in 0..1")
        values = np.clip(values, 0.0, 1.0)
    else:
        raise ImageError(f"unsupported image data type {arr.dtype}")
    if values.ndim == 2:
        return values, None
    channels = values.shape[2]
    color = values[:, :, : 3 if channels >= 3 else 1]
    # ITU-R 601 luma, the same weights Pillow uses for convert("L").
    gray = color[:, :, 0] if color.shape[2] == 1 else color @ np.array([0.299, 0.587, 0.114])
    alpha = values[:, :, -1] if channels in (2, 4) else None
    return gray, alpha


def _border(a: np.ndarray) -> np.ndarray:
    """Pixels of a frame ~2% wide: what a drawing's background looks like, ink rarely there."""
    h, w = a.shape
    k = max(1, min(h, w) // 50)
    return np.concatenate([a[:k].ravel(), a[-k:].ravel(), a[:, :k].ravel(), a[:, -k:].ravel()])


def _flatten_alpha(gray: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """Composite over a background colour so that transparent pixels read as background.

    If the opaque pixels own most of the border (a painted canvas), transparency takes that
    canvas colour; otherwise (ink on a transparent sheet) it takes black or white, whichever
    contrasts with the ink.
    """
    if alpha is None or alpha.min() >= 1.0:
        return gray
    opaque_border = _border(gray)[_border(alpha) > 0.5]
    if opaque_border.size * 2 > _border(alpha).size:
        back = float(np.median(opaque_border))
    else:
        weight = alpha.sum()
        ink = float((gray * alpha).sum() / weight) if weight > 0 else 0.0
        back = 1.0 if ink < 0.5 else 0.0
    return alpha * gray + (1.0 - alpha) * back


def _ink_signal(gray: np.ndarray) -> np.ndarray:
    """Ink strength 0..1 (white ink on black), whatever the input's polarity and levels.

    The background is the median of the border; ink is whatever departs from it in the
    direction with the larger departure, so dark-on-light and light-on-dark both work.
    Faint departures (noise, JPEG halos) are cut off and the rest is stretched so the
    strongest ink is 1, as in MNIST's mostly saturated strokes.
    """
    border = _border(gray)
    back = float(np.median(border))
    above, below = float(gray.max()) - back, back - float(gray.min())
    ink = (back - gray) if below > above else (gray - back)
    contrast = max(above, below)
    if contrast < MIN_CONTRAST:
        raise NothingDrawnError()
    sigma = 1.4826 * float(np.median(np.abs(border - back)))
    floor = max(NOISE_FLOOR, NOISE_SIGMAS * sigma, REL_FLOOR * contrast)
    ink = np.clip(ink - floor, 0.0, None)
    strong = ink[ink > 0]
    if strong.size == 0:
        raise NothingDrawnError()
    top = float(np.percentile(strong, 99))
    return np.clip(ink / top, 0.0, 1.0) if top > 0 else ink


def _bbox(ink: np.ndarray, trim: float = 0.0) -> tuple[int, int, int, int]:
    """Bounding box (top, bottom, left, right) of the ink, ignoring up to `trim` of its mass
    on each side, so a stray noise pixel far from the digit does not stretch the box."""
    rows, cols = ink.sum(axis=1), ink.sum(axis=0)
    limit = trim * float(rows.sum())

    def span(mass: np.ndarray) -> tuple[int, int]:
        first = int(np.argmax(np.cumsum(mass) > limit))
        last = len(mass) - int(np.argmax(np.cumsum(mass[::-1]) > limit))
        return first, last

    (top, bottom), (left, right) = span(rows), span(cols)
    return top, bottom, left, right


def _check_not_blank(ink: np.ndarray, box: tuple[int, int, int, int]) -> None:
    """Rule: blank if the ink mass is under 0.1% of the pixels AND its box is a speck.

    Both must hold: a small but real digit on a huge canvas has little ink but a real
    extent; a dot has neither. (Faint input was already refused by MIN_CONTRAST.)
    """
    top, bottom, left, right = box
    extent = max(bottom - top, right - left)
    speck = extent < max(MIN_EXTENT_PX, MIN_EXTENT_FRACTION * max(ink.shape))
    if speck and float(ink.sum()) < MIN_INK_FRACTION * ink.size:
        raise NothingDrawnError()


def _stroke_width(ink: np.ndarray) -> float:
    """Typical stroke width in pixels: area / half the boundary length (2L for a stroke)."""
    mask = ink > 0.5
    area = int(mask.sum())
    if area == 0:
        return 1.0
    padded = np.pad(mask, 1)
    inner = (
        padded[1:-1, 1:-1] & padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2]
    ) & padded[1:-1, 2:]
    boundary = area - int(inner.sum())
    return 2.0 * area / max(boundary, 1)


def _running_max(a: np.ndarray, size: int) -> np.ndarray:
    """Max over windows of `size` rows, by doubling: O(log size) passes, so a very thin pen on
    a huge photo (a window of hundreds of pixels) stays fast."""
    width = 1
    while width * 2 <= size:
        a = np.maximum(a[:-width], a[width:])
        width *= 2
    rest = size - width
    return np.maximum(a[: len(a) - rest], a[rest:]) if rest else a


def _dilate(ink: np.ndarray, size: int) -> np.ndarray:
    """Grey dilation by a size×size square, growing the array so no ink is cut off."""
    r = size // 2
    out = _running_max(np.pad(ink, 2 * r), size)
    return _running_max(out.T, size).T


def _thicken_thin_strokes(ink: np.ndarray) -> np.ndarray:
    scale = BOX / max(ink.shape)
    width = _stroke_width(ink)
    if width * scale >= MIN_STROKE_PX:
        return ink
    size = round(MIN_STROKE_PX / scale - width) + 1
    size += 1 - size % 2  # odd, so the dilation is symmetric
    if size < 3:
        return ink
    grown = _dilate(ink, size)
    top, bottom, left, right = _bbox(grown)
    return grown[top:bottom, left:right]


def _fit_box(ink: np.ndarray) -> np.ndarray:
    """Scale so the longer side is BOX px, aspect kept, with area averaging (no ringing)."""
    h, w = ink.shape
    scale = BOX / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    method = Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR
    small = Image.fromarray(ink.astype(np.float32), mode="F").resize(size, method)
    return np.clip(np.asarray(small, dtype=np.float64), 0.0, 1.0)


def _centre_by_mass(digit: np.ndarray) -> np.ndarray:
    """Paste into SIZE×SIZE with the centre of mass at CENTRE (rounded, kept inside)."""
    h, w = digit.shape
    mass = digit.sum()
    rows, cols = np.indices(digit.shape)
    cy = float((rows * digit).sum() / mass) if mass > 0 else (h - 1) / 2
    cx = float((cols * digit).sum() / mass) if mass > 0 else (w - 1) / 2
    top = int(np.clip(np.floor(CENTRE - cy + 0.5), 0, SIZE - h))
    left = int(np.clip(np.floor(CENTRE - cx + 0.5), 0, SIZE - w))
    canvas = np.zeros((SIZE, SIZE), dtype=np.float64)
    canvas[top : top + h, left : left + w] = digit
    return canvas


def to_mnist(image: np.ndarray) -> np.ndarray:
    """Any grayscale/RGB/RGBA drawing → (28, 28) uint8, white ink on black, MNIST-style.

    Raises NothingDrawnError for blank or near-blank input, ImageError for unusable arrays.
    """
    gray, alpha = _as_gray_alpha(image)
    ink = _ink_signal(_flatten_alpha(gray, alpha))
    box = _bbox(ink, trim=MASS_TRIM)
    _check_not_blank(ink, box)
    top, bottom, left, right = box
    ink = _thicken_thin_strokes(ink[top:bottom, left:right])
    digit = _fit_box(ink)
    peak = digit.max()
    if peak <= 0:
        raise NothingDrawnError()
    # Area averaging dims strokes thinner than a target pixel; MNIST strokes peak at full ink.
    digit = np.clip(digit / peak, 0.0, 1.0)
    return np.round(_centre_by_mass(digit) * 255).astype(np.uint8)


def _convert(img: Image.Image) -> np.ndarray:
    """Pillow image in any mode → uint8 gray (H, W) or RGBA (H, W, 4)."""
    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        values = np.asarray(img, dtype=np.float64)
        high = float(values.max()) if values.size else 0.0
        if high > 255:
            values = values * (255.0 / (65535.0 if high <= 65535 else high))
        return np.clip(np.round(values), 0, 255).astype(np.uint8)
    has_alpha = img.mode in ("LA", "La", "PA", "RGBA", "RGBa") or "transparency" in img.info
    if has_alpha:
        return np.asarray(img.convert("RGBA"), dtype=np.uint8)
    if img.mode not in ("L", "1"):
        img = img.convert("RGB")
    return np.asarray(img.convert("L"), dtype=np.uint8)


def _upright(img: Image.Image) -> Image.Image:
    """Apply the EXIF orientation (phone photos), ignoring broken EXIF rather than refusing."""
    try:
        return ImageOps.exif_transpose(img) or img
    except Exception:  # a bad orientation tag is no reason to reject the picture
        return img


def load_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Decode an image file to uint8 gray (H, W) or RGBA (H, W, 4).

    Files come from users, so every failure becomes an ImageError naming the file, and
    Pillow's decompression-bomb limit stays on (a tiny PNG can claim billions of pixels).
    """
    name = os.path.basename(os.fspath(path)) or os.fspath(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                img.load()
                return _convert(_upright(img))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(
            f"{name}: image is too large to open safely (more than "
            f"{Image.MAX_IMAGE_PIXELS:,} pixels)"
        ) from None
    except FileNotFoundError:
        raise ImageError(f"{name}: file not found") from None
    except IsADirectoryError:
        raise ImageError(f"{name}: is a folder, not an image file") from None
    except PermissionError:
        raise ImageError(f"{name}: no permission to read this file") from None
    except UnidentifiedImageError:
        raise ImageError(f"{name}: not an image file Pillow can read") from None
    except MemoryError:
        raise ImageError(f"{name}: image is too large to fit in memory") from None
    except Exception as exc:  # Pillow's decoders raise many exception types on bad data
        raise ImageError(f"{name}: image file is damaged or truncated ({exc})") from None


def preprocess_file(path: str | os.PathLike[str]) -> np.ndarray:
    """`to_mnist(load_image(path))`, with the file name in every error message."""
    image = load_image(path)
    name = os.path.basename(os.fspath(path)) or os.fspath(path)
    try:
        return to_mnist(image)
    except NothingDrawnError:
        raise NothingDrawnError(f"{name}: nothing drawn") from None
    except ImageError as exc:
        raise ImageError(f"{name}: {exc}") from None


def to_model_input(img28: np.ndarray) -> np.ndarray:
    """(28, 28) uint8 → float32 (1, 1, 28, 28) in [0, 1], scaled by PIXEL_SCALE only."""
    arr = np.asarray(img28)
    if arr.shape != (SIZE, SIZE) or arr.dtype != np.uint8:
        raise ValueError(f"expected a (28, 28) uint8 image, got {arr.shape} {arr.dtype}")
    return (arr.astype(np.float32) * np.float32(PIXEL_SCALE)).reshape(1, 1, SIZE, SIZE)
