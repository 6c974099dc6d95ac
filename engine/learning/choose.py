"""Which images to ask a person about: chosen from pixels alone, never from a label.

`suggested` (the default everywhere) is TypiClust (Hacohen et al. 2022): cut the pool into
as many clusters as labels to spend and ask about the most *typical* image of each, the
one most like its own neighbours. With few labels the typical images stand for their
digits well, and one per cluster covers the digits without reading a label. The clusters
are found in the label-free spectral codes of the neighbour graph of deskewed images
(`engine.learning.graph`): k-means there found all ten digits with 10 labels, where
k-means on deskewed pixels missed three of them (bench/label_picks.py compares the
representations, the autoencoder's codes included).

Once labels exist, asking again cuts the pool into (labels so far + asked) clusters and
asks about the largest clusters that hold no label yet (TypiClust's rule). After a first
classifier, `least_sure` asks about the images whose P(odd) is nearest one half.

`random` draws the images a person would meet by chance; `balanced` draws the same number
of every digit, which needs every image's label to choose: it is the benchmark protocol of
the semi-supervised literature, kept for comparison and named so wherever it is used.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from engine.errors import DataError
from engine.learning.graph import links
from engine.options import BALANCED, PICK_HELP, PICKS, RANDOM, SUGGESTED  # noqa: F401

SPECTRAL_DIMS = 20  # graph eigenvectors, the trivial one included; 10 missed digits, 20 none
KMEANS_STARTS = 3


def spectral_codes(
    images: torch.Tensor,
    pool: torch.Tensor,
    should_stop: Callable[[], bool] = lambda: False,
    on_chunk: Callable[[int, int], None] = lambda done, total: None,
) -> tuple[np.ndarray, np.ndarray] | None:
    """(codes (len(pool), SPECTRAL_DIMS - 1) on the unit sphere, typicality (len(pool),))
    of the `pool` rows of `images`, from the neighbour graph alone; None if stopped.

    The codes are the leading eigenvectors of the graph's normalised adjacency (spectral
    embedding; about 1 s for 55,000 images once the links exist); the typicality of an
    image is its mean similarity to its neighbours.
    """
    from scipy.sparse import coo_matrix, diags
    from scipy.sparse.linalg import LinearOperator, eigsh

    found = links(images, pool, should_stop, on_chunk)
    if found is None:
        return None
    index, similarity = found
    n, k = index.shape
    weight = (similarity.clamp(min=0) ** 3).numpy().astype(np.float64).ravel()
    rows = np.repeat(np.arange(n), k)
    adjacency = coo_matrix((weight, (rows, index.numpy().ravel())), shape=(n, n)).tocsr()
    adjacency = adjacency.maximum(adjacency.T)
    degree = np.asarray(adjacency.sum(1)).ravel().clip(min=1e-12)
    scale = 1.0 / np.sqrt(degree)
    normalised = diags(scale) @ adjacency @ diags(scale)
    # sqrt(degree) is always an eigenvector of eigenvalue 1 and says nothing about where an
    # image lies; it is moved to eigenvalue -1 so that the leading ones are the informative
    # ones. For a graph in several pieces (a small folder) eigenvalue 1 repeats and ARPACK
    # returns another basis of it on every call; the rows' distances, which are all
    # k-means sees, do not depend on the basis, so the picks stay the same.
    trivial = np.sqrt(degree) / np.linalg.norm(np.sqrt(degree))
    operator = LinearOperator(
        (n, n), matvec=lambda x: normalised @ x - 2.0 * trivial * (trivial @ x), dtype=np.float64
    )
    dims = min(SPECTRAL_DIMS - 1, n - 2)
    start = np.random.default_rng(0).standard_normal(n)  # eigsh's own start is random
    _, vectors = eigsh(operator, k=dims, which="LA", v0=start)
    codes = vectors * scale[:, None]
    codes /= np.linalg.norm(codes, axis=1, keepdims=True).clip(min=1e-12)
    # rounded: the last bits vary with the basis ARPACK returns (see above)
    return codes.round(5).astype(np.float32), similarity.mean(1).numpy()


def typical_picks(
    codes: np.ndarray, typicality: np.ndarray, n: int, seed: int, known: np.ndarray
) -> np.ndarray:
    """Positions (in `codes`) of `n` images to ask about: the most typical image of each of
    the largest clusters that hold none of the `known` positions (TypiClust)."""
    from sklearn.cluster import KMeans

    clusters = min(len(codes), n + len(known))
    found = KMeans(clusters, n_init=KMEANS_STARTS, random_state=seed).fit(codes).labels_
    sizes = np.bincount(found, minlength=clusters)
    covered = np.zeros(clusters, bool)
    covered[found[known]] = True
    order = sorted(range(clusters), key=lambda c: (covered[c], -sizes[c]))
    taken = np.zeros(len(codes), bool)
    taken[known] = True
    picks: list[int] = []
    for cluster in order * 2:  # a second pass when clusters run out of new images
        if len(picks) == n:
            break
        members = np.flatnonzero((found == cluster) & ~taken)
        if len(members):
            best = members[np.argmax(typicality[members])]
            picks.append(int(best))
            taken[best] = True
    return np.array(picks, dtype=np.int64)


def suggest(
    images: torch.Tensor,
    pool: torch.Tensor,
    n: int,
    seed: int = 0,
    known: torch.Tensor | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    on_chunk: Callable[[int, int], None] = lambda done, total: None,
) -> torch.Tensor | None:
    """`n` positions in the training file (from `pool`, sorted) worth labelling, chosen
    from pixels alone; `known` are positions labelled already. Sorted; None if stopped."""
    pool = pool.sort().values
    known = torch.empty(0, dtype=torch.long) if known is None else known
    _check_count(n, len(pool) - int(torch.isin(known, pool).sum()))
    found = spectral_codes(images, pool, should_stop, on_chunk)
    if found is None:
        return None
    known_at = torch.searchsorted(pool, known[torch.isin(known, pool)]).numpy()
    picks = typical_picks(*found, n, seed, known_at)
    return pool[torch.from_numpy(picks)].sort().values


def random_picks(pool: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """`n` positions drawn at random from `pool` with `seed`, sorted."""
    _check_count(n, len(pool))
    order = torch.randperm(len(pool), generator=torch.Generator().manual_seed(seed))
    return pool[order[:n]].sort().values


def least_sure(p_odd: torch.Tensor, candidates: torch.Tensor, n: int) -> torch.Tensor:
    """The `n` `candidates` whose P(odd) (one per candidate) is nearest one half, sorted:
    where the classifier is least sure, a label teaches it most (margin sampling)."""
    _check_count(n, len(candidates))
    margin = (p_odd.float() - 0.5).abs()
    return candidates[torch.argsort(margin, stable=True)[:n]].sort().values


def _check_count(n: int, available: int) -> None:
    if n < 1:
        raise DataError(f"ask about at least one image, not {n}")
    if n > available:
        raise DataError(f"asked for {n} images to label but only {available} are unlabelled")
