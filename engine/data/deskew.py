"""Deskewing: shear each digit upright and centre it, by its image moments.

Writers slant their digits; a slanted 8 looks more like a slanted 3 than like an upright 8.
Shearing each image so that its ink's principal axis is vertical (the skew is the ink's
covariance of x and y over its variance in y) and moving its centre of mass to the middle
is the classic MNIST normalisation (LeCun et al. 1998 list deskewed inputs beside raw
ones). It takes the slant out of what a model has to learn, which matters most when there
are few labels to learn it from: with 100 labels the semi-supervised classifier reached
98.47 % on the validation images from raw input and 99.13 % from deskewed input (label
seeds 10-13, docs/measurements.md).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

# A lean of 45 degrees either way. A nearly flat stroke (a "-") has almost no spread in y,
# so its skew is huge; unclamped, the shear would throw its ink out of the frame.
MAX_SKEW = 1.0


def deskew(images: torch.Tensor) -> torch.Tensor:
    """Images (..., 28, 28) as floats in [0, 1], sheared upright and centred; same shape.

    Blank images stay blank. The result is a plain function of the pixels (no gradients
    flow into the moments), about 1 ms for 160 images on this machine's CPU.
    """
    shape = images.shape
    x = images.reshape(-1, *shape[-2:]).float()
    n, h, w = x.shape
    ys, xs = torch.meshgrid(
        torch.arange(float(h), device=x.device), torch.arange(float(w), device=x.device),
        indexing="ij",
    )  # fmt: skip
    with torch.no_grad():
        mass = x.sum((1, 2)).clamp(min=1e-6)
        mx = (x * xs).sum((1, 2)) / mass
        my = (x * ys).sum((1, 2)) / mass
        dy = ys - my[:, None, None]
        covariance = (x * (xs - mx[:, None, None]) * dy).sum((1, 2)) / mass
        variance = (x * dy**2).sum((1, 2)) / mass
        skew = (covariance / variance.clamp(min=1e-6)).clamp(-MAX_SKEW, MAX_SKEW)
        theta = torch.zeros(n, 2, 3, device=x.device)
        theta[:, 0, 0] = theta[:, 1, 1] = 1.0
        theta[:, 0, 1] = skew  # x_in = x_out + skew * y_out, both around the centre of mass
        theta[:, 0, 2] = (mx - (w - 1) / 2) / (w / 2)
        theta[:, 1, 2] = (my - (h - 1) / 2) / (h / 2)
        grid = F.affine_grid(theta, [n, 1, h, w], align_corners=False)
    out = F.grid_sample(x[:, None], grid, align_corners=False, padding_mode="zeros")
    return out.reshape(shape)


def deskew_uint8(images: torch.Tensor) -> torch.Tensor:
    """uint8 images (..., 28, 28), deskewed, as floats in [0, 1]."""
    return deskew(images.float().div(255))
