"""The latent map's engine: the subset, encoding, PCA, t-SNE, the kNN score, the epoch
hook inside pretraining and the figure."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from helpers_data import small_mnist

from engine.config import ArchConfig, TrainConfig
from engine.data.mnist import split_train_val
from engine.events import LatentMap
from engine.learning.models import Dropout, build_encoder
from engine.learning.training import pretrain
from engine.reports import latent


def clusters(n: int = 900, dims: int = 16, spread: float = 0.05, seed: int = 0):
    """Codes of ten tight, far-apart clusters (one per digit), and their digits."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1, (10, dims)) * 10
    digits = rng.integers(0, 10, n)
    codes = centres[digits] + rng.normal(0, spread, (n, dims))
    return codes.astype(np.float32), digits


def test_knn_scores_separated_codes_perfectly_and_random_codes_near_chance() -> None:
    codes, digits = clusters()
    assert latent.knn_accuracy(codes, digits) == 1.0
    rng = np.random.default_rng(1)
    noise = rng.normal(0, 1, (3000, 16)).astype(np.float32)
    chance = latent.knn_accuracy(noise, rng.integers(0, 10, 3000))
    assert 0.05 < chance < 0.16


def test_knn_scores_only_the_held_out_part_and_votes_by_majority() -> None:
    # Neighbours: digit 1 at x=0 (three of them), digit 2 at x=10 (two); then queries.
    codes = np.array([[0.0], [0.1], [0.2], [10.0], [10.1], [0.05], [9.9], [5.2]])
    digits = np.array([1, 1, 1, 2, 2, 1, 2, 2])
    # 5 neighbours, 3 scored: 0.05 -> 1 (right), 9.9 -> majority is 1 (3 of 5): wrong,
    # 5.2 -> 1: wrong. With k=1 the last two are right.
    assert latent.knn_accuracy(codes, digits, k=5, reference=5 / 8) == pytest.approx(1 / 3)
    assert latent.knn_accuracy(codes, digits, k=1, reference=5 / 8) == pytest.approx(1.0)
    # A 2-2 tie among k=4 goes to the class of the nearer neighbours.
    tie = np.array([[0.0], [0.1], [3.0], [3.1], [1.0]])
    assert latent.knn_accuracy(tie, np.array([1, 1, 2, 2, 1]), k=4, reference=4 / 5) == 1.0
    assert latent.knn_accuracy(tie, np.array([1, 1, 2, 2, 2]), k=4, reference=4 / 5) == 0.0
    assert math.isnan(latent.knn_accuracy(codes[:1], digits[:1]))


def test_pca_recovers_known_axes_with_fixed_signs() -> None:
    rng = np.random.default_rng(0)
    raw = rng.normal(0, 1, (500, 2))
    u, _, _ = np.linalg.svd(raw - raw.mean(0), full_matrices=False)
    coords = u * np.array([50.0, 20.0])  # centred, uncorrelated, spreads 50 and 20
    basis, _ = np.linalg.qr(rng.normal(0, 1, (6, 6)))  # an orthonormal 6-D basis
    x = coords @ basis[:, :2].T + 3.0  # embedded in 6-D and shifted
    points = latent.pca(x)
    for axis in range(2):
        loading = basis[:, axis]
        sign = np.sign(loading[np.abs(loading).argmax()])  # largest loading made positive
        np.testing.assert_allclose(points[:, axis], sign * coords[:, axis], atol=1e-3)
    np.testing.assert_array_equal(latent.pca(x), points)  # deterministic
    assert latent.pca(x[:, :1]).shape == (500, 2)  # one code dimension: padded


def test_tsne_keeps_clusters_apart_and_survives_constant_codes() -> None:
    codes, digits = clusters(n=300, dims=64)
    points = latent.tsne(codes)
    assert points.shape == (300, 2)
    assert latent.knn_accuracy(points, digits) == 1.0
    assert not np.any(latent.tsne(np.ones((50, 8), np.float32)))


def test_map_indices_are_a_fixed_subset_of_the_candidates() -> None:
    candidates = torch.arange(100, 5100)
    first = latent.map_indices(candidates, size=3000)
    assert torch.equal(first, latent.map_indices(candidates, size=3000))
    assert len(first) == 3000 and len(set(first.tolist())) == 3000
    assert set(first.tolist()) <= set(candidates.tolist())
    assert not torch.equal(first, first.sort().values)  # random order: a random kNN cut
    assert len(latent.map_indices(candidates[:40], size=3000)) == 40
    assert not torch.equal(first, latent.map_indices(candidates, size=3000, seed=1))


def test_encode_is_deterministic_and_restores_training_mode() -> None:
    torch.manual_seed(0)
    encoder = build_encoder(ArchConfig(arch="mlp", latent=8, dropout=0.5))
    encoder.train()
    images = torch.randint(0, 256, (50, 28, 28), dtype=torch.uint8)
    codes = latent.encode(encoder, images)
    assert codes.shape == (50, 8) and codes.dtype == np.float32
    np.testing.assert_array_equal(codes, latent.encode(encoder, images))  # no dropout
    assert encoder.training
    assert all(m.training for m in encoder.modules() if isinstance(m, Dropout))


def test_pretraining_sends_a_map_of_the_model_after_each_epoch() -> None:
    data = small_mnist(n_train=600, n_test=100)
    split = split_train_val(len(data.train_images), 150)
    shown = latent.map_indices(split.val)
    events: list[object] = []
    hook = latent.epoch_hook(
        data.train_images[shown], shown, data.train_labels[shown], events.append
    )
    arch = ArchConfig(arch="mlp", latent=16, dropout=0.0)
    cfg = TrainConfig(epochs=2, batch_size=64, lr=3e-3, patience=10)
    result = pretrain(data, arch, cfg, events.append, split=split, after_epoch=hook)
    maps = [e for e in events if isinstance(e, LatentMap)]
    assert [m.epoch for m in maps] == [1, 2]
    last = maps[-1]
    assert last.projection == "PCA" and last.points.shape == (150, 2)
    np.testing.assert_array_equal(last.indices, shown.numpy())
    np.testing.assert_array_equal(last.digits, data.train_labels[shown].numpy())
    if result.fit.finished.best_epoch == 2:  # the model kept is the one mapped last
        codes = latent.encode(result.model.encoder, data.train_images[shown])
        np.testing.assert_allclose(last.points, latent.pca(codes), atol=1e-4)
        assert last.knn_accuracy == latent.knn_accuracy(codes, last.digits)
    pixels = latent.pixel_knn_accuracy(data.train_images[shown], last.digits)
    assert last.pixels_knn_accuracy == pixels > 0.5  # the synthetic digits are easy


def test_encoder_maps_give_pca_then_tsne_with_one_score() -> None:
    data = small_mnist(n_train=300, n_test=50)
    indices = torch.arange(120)
    encoder = build_encoder(ArchConfig(arch="mlp", latent=8, dropout=0.0))
    maps = list(
        latent.encoder_maps(encoder, data.train_images[indices], indices, data.train_labels[:120])
    )
    assert [m.projection for m in maps] == ["PCA", "t-SNE"]
    assert maps[0].knn_accuracy == maps[1].knn_accuracy  # scored on codes, not on the picture
    assert all(m.points.shape == (120, 2) and m.epoch == 0 for m in maps)


def test_map_figure_has_a_panel_per_projection(tmp_path) -> None:
    codes, digits = clusters(n=200)
    maps = [latent.make_map(codes, np.arange(200), digits, p) for p in ("PCA", "t-SNE")]
    figure = latent.map_figure(maps)
    assert [ax.get_title().split(" ")[0] for ax in figure.axes] == ["PCA", "t-SNE"]
    assert "100.0%" in figure.texts[0].get_text()
    from engine.reports.figures import save_figure

    png = save_figure(figure, tmp_path / "latent_map.png")
    assert png.startswith(b"\x89PNG") and (tmp_path / "latent_map.png").is_file()
