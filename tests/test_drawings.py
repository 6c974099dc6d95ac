"""The drawing simulator: shapes, determinism, variety, and that preprocessing undoes it."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from engine.data.drawings import simulate_drawings
from engine.data.preprocess import to_mnist


def _digits() -> tuple[np.ndarray, np.ndarray]:
    """Three MNIST-like 28×28 digits (white on black, ~20 px box, centred) and labels."""
    shapes = []
    for kind in range(3):
        img = Image.new("L", (280, 280), 0)
        draw = ImageDraw.Draw(img)
        if kind == 0:  # a '0'
            draw.ellipse((60, 40, 220, 240), outline=255, width=24)
        elif kind == 1:  # a '7'
            draw.line([(50, 45), (230, 45), (120, 240)], fill=255, width=24, joint="curve")
        else:  # a '4'
            draw.line([(170, 240), (170, 40), (50, 170), (235, 170)], fill=255, width=24)
        shapes.append(_mnist_style(img))
    return np.stack(shapes), np.array([0, 7, 4])


def _mnist_style(img: Image.Image) -> np.ndarray:
    """Crop to the ink, scale the longer side to 20 px, centre the mass in 28×28."""
    img = img.crop(img.getbbox())
    scale = 20 / max(img.size)
    small = np.asarray(
        img.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.BOX)
    )
    canvas = np.zeros((28, 28), dtype=np.uint8)
    canvas[: small.shape[0], : small.shape[1]] = small
    rows, cols = np.indices(canvas.shape)
    mass = canvas.sum(dtype=np.float64)
    cy, cx = (rows * canvas).sum() / mass, (cols * canvas).sum() / mass
    return np.roll(canvas, (round(14 - cy), round(14 - cx)), axis=(0, 1))


def test_shapes_dtypes_and_labels() -> None:
    images, labels = _digits()
    drawings, out_labels = simulate_drawings(images, labels, 30, seed=3)
    assert len(drawings) == 30 and out_labels.shape == (30,)
    assert set(out_labels.tolist()) <= {0, 7, 4}
    for d in drawings:
        assert d.dtype == np.uint8 and d.ndim == 2
        h, w = d.shape
        assert 120 <= h <= 600 and 120 <= w <= 600
        assert max(h, w) <= 2 * min(h, w) + 1
    assert len({d.shape for d in drawings}) > 10  # canvases of many sizes


def test_labels_follow_the_source_images() -> None:
    images, _ = _digits()
    drawings, labels = simulate_drawings(images, np.array([10, 11, 12]), 12, seed=0)
    for d, label in zip(drawings, labels, strict=True):
        src = images[label - 10]
        assert np.corrcoef(to_mnist(d).ravel(), src.ravel())[0, 1] > 0.5


def test_same_seed_same_drawings_and_different_seeds_differ() -> None:
    images, labels = _digits()
    a, la = simulate_drawings(images, labels, 10, seed=7)
    b, lb = simulate_drawings(images, labels, 10, seed=7)
    c, _ = simulate_drawings(images, labels, 10, seed=8)
    assert np.array_equal(la, lb)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert any(x.shape != y.shape or not np.array_equal(x, y) for x, y in zip(a, c, strict=True))


def test_both_polarities_occur() -> None:
    images, labels = _digits()
    drawings, _ = simulate_drawings(images, labels, 40, seed=1)
    backgrounds = [float(np.median(np.concatenate([d[0], d[-1]]))) for d in drawings]
    assert any(b > 200 for b in backgrounds)  # dark ink on light paper
    assert any(b < 55 for b in backgrounds)  # light ink on a dark background


def test_preprocessing_recovers_the_source_digit() -> None:
    images, labels = _digits()
    drawings, out_labels = simulate_drawings(images, labels, 60, seed=2)
    index = {int(label): i for i, label in enumerate(labels)}
    corr = [
        np.corrcoef(to_mnist(d).ravel().astype(float), images[index[int(lab)]].ravel())[0, 1]
        for d, lab in zip(drawings, out_labels, strict=True)
    ]
    assert np.median(corr) > 0.85
    assert min(corr) > 0.5


def test_custom_canvas_range_and_empty_request() -> None:
    images, labels = _digits()
    drawings, _ = simulate_drawings(images, labels, 5, seed=0, canvas_size_range=(50, 80))
    assert all(50 <= s <= 80 for d in drawings for s in d.shape)
    none, none_labels = simulate_drawings(images, labels, 0)
    assert none == [] and none_labels.shape == (0,)


def test_bad_arguments_raise_value_error() -> None:
    images, labels = _digits()
    with pytest.raises(ValueError):
        simulate_drawings(images, labels[:2], 5)
    with pytest.raises(ValueError):
        simulate_drawings(images.astype(np.float32), labels, 5)
    with pytest.raises(ValueError):
        simulate_drawings(images, labels, 5, canvas_size_range=(300, 100))
    with pytest.raises(ValueError):
        simulate_drawings(images, labels, -1)
