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
from engine.learning.child import run_in_child
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
    found = links(images, pool, should_stop, on_chunk)
    if found is None:
        return None
    return codes_from_links(found[0].numpy(), found[1].numpy())


def codes_from_links(index: np.ndarray, similarity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`spectral_codes` from the links (`engine.learning.graph.links`, as numpy arrays)."""
    from scipy.sparse.linalg import LinearOperator, eigsh

    index_t, similarity_t = torch.from_numpy(index), torch.from_numpy(similarity)
    normalised, degree = _normalised_adjacency(index_t, similarity_t)
    n = len(degree)
    scale = 1.0 / np.sqrt(degree)
    # sqrt(degree) is always an eigenvector of eigenvalue 1 and says nothing about where an
    # image lies; it is moved to eigenvalue -1 so that the leading ones are the informative
    # ones. For a graph in several pieces (a small folder) eigenvalue 1 repeats and ARPACK
    # returns another basis of it on every call; the rows' distances, which are all
    # k-means sees, do not depend on the basis, so the picks stay the same.
    trivial = np.sqrt(degree) / np.linalg.norm(np.sqrt(degree))
    trivial_t = torch.from_numpy(trivial)

    def matvec(x: np.ndarray) -> np.ndarray:
        v = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64).reshape(-1))
        product = torch.sparse.mm(normalised, v[:, None])[:, 0]
        return (product - 2.0 * trivial_t * (trivial_t @ v)).numpy()

    operator = LinearOperator((n, n), matvec=matvec, dtype=np.float64)
    dims = min(SPECTRAL_DIMS - 1, n - 2)
    start = np.random.default_rng(0).standard_normal(n)  # eigsh's own start is random
    _, vectors = eigsh(operator, k=dims, which="LA", v0=start)
    codes = vectors * scale[:, None]
    codes /= np.linalg.norm(codes, axis=1, keepdims=True).clip(min=1e-12)
    # rounded: the last bits vary with the basis ARPACK returns (see above)
    return codes.round(5).astype(np.float32), similarity.mean(1)


def _normalised_adjacency(
    index: torch.Tensor, similarity: torch.Tensor
) -> tuple[torch.Tensor, np.ndarray]:
    """D^-1/2 W D^-1/2 as a sparse tensor (float64), and the degrees D, of the links
    made symmetric: W[i, j] = max of the two directions' similarity cubed.

    Built with torch rather than scipy.sparse: scipy's transpose, maximum and products
    of 55,000 x 55,000 matrices held the interpreter lock for up to 245 ms at a time, a
    visible freeze of the app's window while it chose images; torch releases it.
    """
    n, k = index.shape
    weight = (similarity.clamp(min=0).double() ** 3).reshape(-1)
    rows = torch.arange(n).repeat_interleave(k)
    cols = index.reshape(-1)
    keys = torch.cat([rows * n + cols, cols * n + rows])
    unique, inverse = torch.unique(keys, return_inverse=True)
    values = torch.zeros(len(unique), dtype=torch.float64)
    values.scatter_reduce_(0, inverse, torch.cat([weight, weight]), "amax", include_self=False)
    i, j = unique // n, unique % n
    degree = torch.zeros(n, dtype=torch.float64).index_add_(0, i, values).clamp(min=1e-12)
    scale = degree.rsqrt()
    normalised = torch.sparse_coo_tensor(
        torch.stack([i, j]), values * scale[i] * scale[j], (n, n), is_coalesced=True,
        check_invariants=False,  # the keys are unique and sorted by construction
    )  # fmt: skip
    return normalised, degree.numpy()


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
    found = links(images, pool, should_stop, on_chunk)
    if found is None:
        return None
    known_at = torch.searchsorted(pool, known[torch.isin(known, pool)]).numpy()
    args = (found[0].numpy(), found[1].numpy(), n, seed, known_at)
    finished, picks = run_in_child(picks_from_links, args, should_stop)  # see engine.learning.child
    if not finished:
        return None
    return pool[torch.from_numpy(picks)].sort().values


def picks_from_links(
    index: np.ndarray, similarity: np.ndarray, n: int, seed: int, known: np.ndarray
) -> np.ndarray:
    """The spectral codes of the links, then `typical_picks`: what `suggest` runs in a
    child process."""
    return typical_picks(*codes_from_links(index, similarity), n, seed, known)


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
