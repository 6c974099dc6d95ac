"""The latent map: where the encoder puts digits, drawn in two dimensions without labels.

Why: reconstructions show that an autoencoder can copy a digit; they do not show whether
it groups digits by shape before it has seen a single label, which is what pretraining
is for. So a fixed, seeded subset of the validation images is encoded, and the codes are
projected to 2-D by methods that never see a label: PCA (exact, milliseconds, used at
every epoch's end) and t-SNE (scikit-learn; seconds, so run once the encoder is final,
off any GUI thread). Labels are used only to colour the points and to score the codes.

The score is k-nearest-neighbour accuracy in the full latent space: the subset's first
two thirds are the neighbours, the last third is classified by majority vote of its k
nearest codes. A code that puts each digit in its own region scores near 100 %; one that
mixes them scores near chance (10 %). The same score on raw pixels says whether the
encoder improved on the images it was given.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from engine.events import EventSink, LatentMap
from engine.learning.training import EVAL_CHUNK, to_float_images
from engine.reports.projection import pca, tsne

MAP_IMAGES = 3000  # validation images on the map: enough for structure, t-SNE in seconds
MAP_SEED = 0  # which ones (fixed: every map of every encoder shows the same digits)
KNN_K = 5
KNN_REFERENCE = 2 / 3  # fraction of the subset used as neighbours; the rest is scored


def map_indices(
    candidates: torch.Tensor, size: int = MAP_IMAGES, seed: int = MAP_SEED
) -> torch.Tensor:
    """A fixed, seeded random subset of `candidates` (validation indices), in random order
    (so the kNN score's neighbour/scored cut is itself a random one)."""
    order = torch.randperm(len(candidates), generator=torch.Generator().manual_seed(seed))
    return candidates[order[:size]]


@torch.no_grad()
def encode(encoder: nn.Module, images: torch.Tensor) -> np.ndarray:
    """Codes (n, latent) as float32 for uint8 images (n, 28, 28), in eval mode (no dropout).

    The encoder's train/eval mode is restored afterwards, so this may run inside training.
    """
    device = next(encoder.parameters()).device
    was_training = encoder.training
    encoder.eval()
    try:
        codes = [
            encoder(to_float_images(chunk.to(device))).float().cpu()
            for chunk in images.split(EVAL_CHUNK)
        ]
    finally:
        encoder.train(was_training)
    return torch.cat(codes).numpy()


PROJECTIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {"PCA": pca, "t-SNE": tsne}


def reference_count(n: int, reference: float = KNN_REFERENCE) -> int:
    """How many of `n` codes serve as neighbours in `knn_accuracy` (the rest are scored)."""
    return min(max(1, round(n * reference)), n)


def knn_accuracy(
    codes: np.ndarray, labels: np.ndarray, k: int = KNN_K, reference: float = KNN_REFERENCE
) -> float:
    """Accuracy of k-nearest-neighbour digit votes: the first `reference` fraction of the
    codes are the neighbours, the rest are scored. Ties go to the class of the nearer
    neighbours. NaN when there are no codes to score."""
    x = torch.as_tensor(np.asarray(codes), dtype=torch.float32).flatten(1)
    y = torch.as_tensor(np.asarray(labels)).long()
    n_ref = reference_count(len(x), reference)
    if len(x) - n_ref < 1:
        return float("nan")
    k = min(k, n_ref)
    ref_x, ref_y = x[:n_ref], y[:n_ref]
    classes = int(y.max()) + 1
    # Rank r of k votes weighs 1 + (k - r) / 1000: the majority wins, a tie goes nearer.
    weights = 1.0 + torch.arange(k, 0, -1, dtype=torch.float64) / 1000
    correct = 0
    for start in range(n_ref, len(x), 1000):  # 1000 x n_ref distances at a time
        query = x[start : start + 1000]
        nearest = torch.cdist(query, ref_x).topk(k, largest=False).indices
        votes = torch.zeros(len(query), classes, dtype=torch.float64)
        votes.scatter_add_(1, ref_y[nearest], weights.expand(len(query), k).contiguous())
        correct += int((votes.argmax(1) == y[start : start + 1000]).sum())
    return correct / (len(x) - n_ref)


def pixel_knn_accuracy(images: torch.Tensor, labels: np.ndarray) -> float:
    """The same score on raw pixels in [0, 1]: what the encoder has to beat."""
    return knn_accuracy(to_float_images(images).flatten(1).numpy(), labels)


def make_map(
    codes: np.ndarray,
    indices: np.ndarray,
    digits: np.ndarray,
    projection: str = "PCA",
    epoch: int = 0,
    pixels_knn: float | None = None,
    started: float | None = None,
    points: np.ndarray | None = None,
) -> LatentMap:
    """Project `codes` with `projection` ("PCA" or "t-SNE") and score them; `points`, when
    given, is that projection computed elsewhere (e.g. by a `TsneProcess`)."""
    started = time.perf_counter() if started is None else started
    points = PROJECTIONS[projection](codes) if points is None else points
    return LatentMap(
        projection=projection,
        points=points,
        indices=np.asarray(indices, dtype=np.int64),
        digits=np.asarray(digits, dtype=np.int64),
        knn_accuracy=knn_accuracy(codes, digits),
        epoch=epoch,
        pixels_knn_accuracy=pixels_knn,
        seconds=time.perf_counter() - started,
    )


def encoder_maps(
    encoder: nn.Module,
    images: torch.Tensor,
    indices: torch.Tensor,
    digits: torch.Tensor,
    tsne_with: Callable[[np.ndarray], np.ndarray | None] = tsne,
) -> Iterator[LatentMap]:
    """Encode the subset once, then its PCA map and its t-SNE map, the quick one first (the
    GUI shows each as soon as it comes; `run` keeps both).

    `tsne_with(codes)` computes the t-SNE: here by default; the app passes one that runs
    it in a `TsneProcess` and returns None when it was cancelled (then no t-SNE map comes).
    """
    started = time.perf_counter()
    labels, at = digits.numpy(), indices.numpy()
    pixels = pixel_knn_accuracy(images, labels)
    codes = encode(encoder, images)
    yield make_map(codes, at, labels, "PCA", 0, pixels, started)
    started = time.perf_counter()
    points = tsne_with(codes)
    if points is not None:
        yield make_map(codes, at, labels, "t-SNE", 0, pixels, started, points=points)


def epoch_hook(
    images: torch.Tensor, indices: torch.Tensor, digits: torch.Tensor, on_event: EventSink
) -> Callable[[nn.Module, int], None]:
    """An `after_epoch` hook for `training.pretrain`: a PCA map of the subset (`images`,
    taken from the training images at `indices`) after each epoch, sent as a LatentMap.

    It runs in the training thread, which owns the model: about 0.1-0.3 s an epoch for
    3000 images. The raw-pixel score is computed once, at the first epoch.
    """
    pixels: list[float] = []

    def after_epoch(model: nn.Module, epoch: int) -> None:
        started = time.perf_counter()
        if not pixels:
            pixels.append(pixel_knn_accuracy(images, digits.numpy()))
        codes = encode(model.encoder, images)
        on_event(make_map(codes, indices.numpy(), digits.numpy(), "PCA", epoch, pixels[0], started))

    return after_epoch


def write_latent_map(
    encoder: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    candidates: torch.Tensor,
    path: Path,
) -> dict:
    """`run`'s latent map: PCA and t-SNE of the subset of `candidates` (validation indices
    into `images`), side by side in a PNG at `path`; returns what goes into metrics.json.
    It reads the subset's labels for colour and the score only: nothing it computes
    reaches training."""
    from engine.reports.figures import save_figure

    indices = map_indices(candidates)
    maps = list(encoder_maps(encoder, images[indices], indices, labels[indices]))
    save_figure(map_figure(maps), path)
    return {
        "knn_accuracy": maps[0].knn_accuracy,
        "pixels_knn_accuracy": maps[0].pixels_knn_accuracy,
        "knn_k": KNN_K,
        "images": len(indices),
        "scored_images": len(indices) - reference_count(len(indices)),
        "seconds": {m.projection: m.seconds for m in maps},
    }


def score_text(latent_map: LatentMap) -> str:
    """The kNN score in words, with the raw-pixel score beside it when known."""
    if not np.isfinite(latent_map.knn_accuracy):
        return "kNN accuracy: too few images to score"
    text = f"{KNN_K}-NN digit accuracy on codes: {latent_map.knn_accuracy:.1%}"
    if latent_map.pixels_knn_accuracy is not None:
        text += f" (raw pixels: {latent_map.pixels_knn_accuracy:.1%})"
    return text


def map_figure(maps: Sequence[LatentMap]) -> Figure:
    """Side-by-side latent maps (e.g. PCA and t-SNE), coloured by digit, as the report
    shows them; each panel is engine.reports.figures' `latent_axes`, as on the tab."""
    from engine.reports.figures import REPORT, latent_axes

    figure = Figure(figsize=(5.2 * max(1, len(maps)), 5.0))
    for i, latent_map in enumerate(maps, start=1):
        axes = figure.add_subplot(1, len(maps), i)
        latent_axes(axes, REPORT).show(latent_map, "digit")
        axes.set_title(f"{latent_map.projection} of {len(latent_map.points)} validation codes")
    if maps:
        figure.suptitle(
            score_text(maps[0]) + " · labels used only for colour and this score", fontsize=10
        )
    figure.tight_layout()
    return figure
