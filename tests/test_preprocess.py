"""MNIST-style preprocessing: centring, polarity, aspect, blank input and file errors."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from engine.data.preprocess import (
    PIXEL_SCALE,
    ImageError,
    NothingDrawnError,
    load_image,
    preprocess_file,
    to_mnist,
    to_model_input,
)


def _centre_of_mass(img: np.ndarray) -> tuple[float, float]:
    rows, cols = np.indices(img.shape)
    mass = img.astype(np.float64).sum()
    return float((rows * img).sum() / mass), float((cols * img).sum() / mass)


def _extent(img: np.ndarray) -> tuple[int, int]:
    """Height and width of the box around every non-zero pixel."""
    rows, cols = np.flatnonzero(img.any(axis=1)), np.flatnonzero(img.any(axis=0))
    return int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel().astype(float), b.ravel().astype(float))[0, 1])


def _two(size: tuple[int, int], box: tuple[int, int, int, int], width: int) -> Image.Image:
    """A '2'-like drawing, white on black, inside box = (left, top, right, bottom)."""
    img = Image.new("L", size, 0)
    left, top, right, bottom = box
    mid_x, mid_y = (left + right) // 2, (top + bottom) // 2
    draw = ImageDraw.Draw(img)
    draw.arc((left, top, right, mid_y + (bottom - top) // 6), 180, 360, fill=255, width=width)
    draw.line([(right - width // 2, (top + mid_y) // 2), (left, bottom)], fill=255, width=width)
    draw.line([(left, bottom - width // 2), (right, bottom - width // 2)], fill=255, width=width)
    draw.line([(mid_x, mid_y), (mid_x, mid_y)], fill=255, width=width)
    return img


def _mnist_digit() -> np.ndarray:
    """A 28×28 digit made the MNIST way: 20 px box, antialiased, centred by mass."""
    big = _two((200, 200), (10, 10, 190, 190), 22)
    big = big.crop(big.getbbox())
    scale = 20 / max(big.size)
    size = (round(big.width * scale), round(big.height * scale))
    digit = np.asarray(big.resize(size, Image.Resampling.BOX))
    canvas = np.zeros((28, 28), dtype=np.uint8)
    canvas[4 : 4 + size[1], 4 : 4 + size[0]] = digit
    cy, cx = _centre_of_mass(canvas)
    return np.roll(canvas, (round(14 - cy), round(14 - cx)), axis=(0, 1))


def test_output_is_28x28_uint8_white_on_black() -> None:
    out = to_mnist(np.asarray(_two((300, 200), (40, 30, 200, 250), 12)))
    assert out.shape == (28, 28) and out.dtype == np.uint8
    assert out.max() == 255
    assert out[0].max() == 0 and out[-1].max() == 0 and out[:, 0].max() == 0


def test_off_centre_large_digit_comes_out_centred() -> None:
    drawing = 255 - np.asarray(_two((1000, 800), (620, 380, 960, 780), 40))  # dark on light
    out = to_mnist(drawing)
    cy, cx = _centre_of_mass(out)
    assert abs(cy - 14) <= 1 and abs(cx - 14) <= 1
    assert max(_extent(out)) in (19, 20, 21)


@pytest.mark.parametrize("size", [(400, 300), (1000, 1000), (50, 80), (28, 28)])
def test_any_canvas_size_works(size: tuple[int, int]) -> None:
    w, h = size
    box = (w // 5, h // 4, w // 5 + w // 2, h // 4 + h // 2)
    out = to_mnist(np.asarray(_two(size, box, max(2, w // 25))))
    cy, cx = _centre_of_mass(out)
    assert abs(cy - 14) <= 1 and abs(cx - 14) <= 1
    assert max(_extent(out)) in (19, 20, 21)


def test_polarity_does_not_matter() -> None:
    light = np.asarray(_two((500, 400), (50, 60, 300, 350), 25))
    assert np.abs(to_mnist(light).astype(int) - to_mnist(255 - light).astype(int)).max() <= 1
    # Grey paper and grey ink, both ways round: still the same digit.
    mask = light / 255.0
    pencil = np.round(240 - 205 * mask).astype(np.uint8)  # ink 35 on paper 240
    chalk = np.round(20 + 200 * mask).astype(np.uint8)  # ink 220 on board 20
    assert _pearson(to_mnist(pencil), to_mnist(chalk)) > 0.98


def test_aspect_ratio_is_kept() -> None:
    canvas = np.full((600, 600), 255, dtype=np.uint8)
    canvas[150:450, 280:292] = 0  # a tall thin stroke, 300 × 12
    height, width = _extent(to_mnist(canvas))
    assert height == 20
    assert width <= 4


def test_thin_pen_on_big_canvas_stays_visible() -> None:
    drawing = np.asarray(_two((1000, 1000), (200, 150, 700, 850), 3))
    out = to_mnist(drawing)
    assert out.max() == 255
    assert (out > 127).sum() > 40  # strokes thickened to MNIST-like width, not a faint trace


def test_blank_input_is_refused() -> None:
    for blank in (
        np.zeros((300, 300), np.uint8),
        np.full((120, 500), 255, np.uint8),
        np.ones((64, 64), np.float64),
        np.zeros((50, 40, 4), np.uint8),
    ):
        with pytest.raises(NothingDrawnError, match="nothing drawn"):
            to_mnist(blank)


def test_faint_speck_and_tiny_dot_are_nothing_drawn() -> None:
    faint = np.full((300, 300), 255, dtype=np.uint8)
    faint[120, 77] = 240
    with pytest.raises(NothingDrawnError):
        to_mnist(faint)
    dot = np.full((400, 400), 255, dtype=np.uint8)
    dot[200:202, 50:52] = 0
    with pytest.raises(NothingDrawnError):
        to_mnist(dot)
    noise = np.random.default_rng(0).normal(128, 4, (200, 200)).clip(0, 255).astype(np.uint8)
    with pytest.raises(NothingDrawnError):
        to_mnist(noise)


def test_nothing_drawn_is_an_image_error_and_a_value_error() -> None:
    assert issubclass(NothingDrawnError, ImageError)
    assert issubclass(ImageError, ValueError)


def test_rgba_with_transparent_background() -> None:
    mask = np.asarray(_two((300, 300), (40, 40, 260, 260), 18))
    expected = to_mnist(mask)
    black_ink = np.zeros((300, 300, 4), dtype=np.uint8)  # transparent pixels are (0,0,0,0)
    black_ink[..., 3] = mask
    assert _pearson(to_mnist(black_ink), expected) > 0.98
    white_ink = black_ink.copy()
    white_ink[..., :3] = 255
    assert _pearson(to_mnist(white_ink), expected) > 0.98


def test_rgb_and_float_inputs() -> None:
    mask = np.asarray(_two((200, 160), (20, 20, 140, 180), 12))
    expected = to_mnist(mask)
    rgb = np.stack([255 - mask, 255 - mask, np.full_like(mask, 255)], axis=-1)  # blue ink
    assert _pearson(to_mnist(rgb), expected) > 0.95
    assert np.abs(to_mnist(mask / 255.0).astype(int) - expected).max() <= 1


def test_unusable_arrays_raise_image_error() -> None:
    for bad in (np.zeros((5,)), np.zeros((0, 10)), np.zeros((4, 4, 5)), np.full((9, 9), 2.0)):
        with pytest.raises(ImageError):
            to_mnist(bad)
    with pytest.raises(ImageError, match="NaN"):
        to_mnist(np.full((9, 9), np.nan))


def test_round_trip_of_an_mnist_style_digit() -> None:
    digit = _mnist_digit()
    big = np.asarray(Image.fromarray(digit).resize((280, 280), Image.Resampling.BILINEAR))
    canvas = np.full((400, 500), 255, dtype=np.uint8)  # 500 wide, 400 high, dark ink
    canvas[90:370, 30:310] = 255 - big
    assert _pearson(to_mnist(canvas), digit) > 0.9


def test_load_image_errors_name_the_file(tmp_path: Path) -> None:
    text = tmp_path / "photo.txt"
    text.write_text("not an image")
    with pytest.raises(ImageError, match=r"photo\.txt: not an image file"):
        load_image(text)
    with pytest.raises(ImageError, match=r"missing\.png.*not found"):
        load_image(tmp_path / "missing.png")
    good = tmp_path / "good.png"
    Image.fromarray(np.asarray(_two((200, 200), (20, 20, 180, 180), 10))).save(good)
    truncated = tmp_path / "cut.png"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ImageError, match=r"cut\.png"):
        load_image(truncated)
    with pytest.raises(ImageError, match=tmp_path.name):
        load_image(tmp_path)


def _png_header_only(path: Path, width: int, height: int) -> None:
    """A 1-bit PNG claiming huge dimensions: a few bytes on disk, gigapixels if decoded."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def test_decompression_bomb_is_refused(tmp_path: Path) -> None:
    limit = Image.MAX_IMAGE_PIXELS
    bomb = tmp_path / "bomb.png"
    _png_header_only(bomb, 100_000, 100_000)  # 10 gigapixels, far over twice the limit
    with pytest.raises(ImageError, match=r"bomb\.png: image is too large"):
        load_image(bomb)
    assert limit == Image.MAX_IMAGE_PIXELS  # the safety limit was not switched off


def test_image_over_the_warning_limit_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "big.png"
    Image.new("L", (40, 40), 255).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 1600 px: a warning, not an error
    with pytest.raises(ImageError, match=r"big\.png: image is too large"):
        load_image(path)


def test_load_image_converts_modes(tmp_path: Path) -> None:
    gray = np.asarray(_two((60, 50), (5, 5, 45, 55), 6))
    cases = {
        "p.png": (Image.fromarray(gray).convert("P"), 2),
        "la.png": (Image.fromarray(gray).convert("LA"), 3),
        "i16.png": (Image.fromarray(gray.astype(np.uint16) * 257), 2),
        "cmyk.tif": (Image.fromarray(gray).convert("CMYK"), 2),
        "rgb.png": (Image.fromarray(gray).convert("RGB"), 2),
    }
    for name, (img, ndim) in cases.items():
        img.save(tmp_path / name)
        loaded = load_image(tmp_path / name)
        assert loaded.dtype == np.uint8 and loaded.ndim == ndim, name
        assert loaded.shape[:2] == (50, 60), name
        assert _pearson(to_mnist(loaded), to_mnist(gray)) > 0.98, name


def test_preprocess_file_round_trip(tmp_path: Path) -> None:
    drawing = 255 - np.asarray(_two((320, 240), (60, 50, 220, 270), 14))
    path = tmp_path / "drawing.png"
    Image.fromarray(drawing).save(path)
    assert np.array_equal(preprocess_file(path), to_mnist(drawing))
    blank = tmp_path / "blank.png"
    Image.new("RGB", (100, 100), "white").save(blank)
    with pytest.raises(NothingDrawnError, match=r"blank\.png: nothing drawn"):
        preprocess_file(blank)


def test_to_model_input_is_pixel_over_255() -> None:
    assert PIXEL_SCALE == 1 / 255
    img = np.arange(784, dtype=np.int64).reshape(28, 28).astype(np.uint8)
    x = to_model_input(img)
    assert x.shape == (1, 1, 28, 28) and x.dtype == np.float32
    np.testing.assert_allclose(x[0, 0], img / 255.0, rtol=1e-6)
    assert x.min() >= 0 and x.max() <= 1
    with pytest.raises(ValueError):
        to_model_input(np.zeros((28, 27), np.uint8))
    with pytest.raises(ValueError):
        to_model_input(np.zeros((28, 28), np.float32))
