"""Deskewing: slanted strokes come out upright and centred; blank and odd inputs are safe."""

from __future__ import annotations

import torch

from engine.data.deskew import MAX_SKEW, deskew, deskew_uint8


def _slanted_bar(lean: float, shift: int = 0) -> torch.Tensor:
    """A 2-px-wide bar from top to bottom whose x moves `lean` px per row (28, 28)."""
    image = torch.zeros(28, 28)
    for row in range(4, 24):
        col = round(13.5 + lean * (row - 13.5)) + shift
        image[row, col : col + 2] = 1.0
    return image


def _columns_spread(image: torch.Tensor) -> float:
    """How far the ink's x strays from its mean (0 for a perfectly upright bar)."""
    xs = torch.arange(28.0)
    column_mass = image.sum(0)
    mean = float((column_mass * xs).sum() / column_mass.sum())
    return float((column_mass * (xs - mean) ** 2).sum() / column_mass.sum()) ** 0.5


def test_a_slanted_bar_comes_out_upright_and_centred():
    slanted = _slanted_bar(0.5, shift=-5)
    upright = deskew(slanted)
    assert _columns_spread(slanted) > 2.5
    assert _columns_spread(upright) < 1.0
    xs = torch.arange(28.0)
    centre = float((upright.sum(0) * xs).sum() / upright.sum())
    assert abs(centre - 13.5) < 0.6  # moved from about 9 to the middle


def test_shapes_ranges_and_the_uint8_form():
    batch = torch.rand(5, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    out = deskew(batch)
    assert out.shape == batch.shape and out.dtype == torch.float32
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    as_bytes = (batch[:, 0] * 255).round().to(torch.uint8)
    torch.testing.assert_close(deskew_uint8(as_bytes), deskew(as_bytes.float() / 255))


def test_blank_images_stay_blank_and_flat_strokes_stay_in_the_frame():
    assert float(deskew(torch.zeros(3, 28, 28)).abs().sum()) == 0.0
    dash = torch.zeros(28, 28)
    dash[14, 6:22] = 1.0  # almost no spread in y: unclamped, its skew would be enormous
    dash[15, 6] = 1.0
    out = deskew(dash)
    assert torch.isfinite(out).all() and float(out.sum()) > 0.5 * float(dash.sum())
    assert MAX_SKEW == 1.0
