"""The label-free codes of the neighbour graph, and the picks made from them.

This is the part of choosing images (`engine.learning.choose`) that runs in the kept child
process (`engine.learning.child`): it needs numpy, scipy and scikit-learn, never torch, so
a fresh child starts without importing torch (about 2 s of its start-up on this machine).
In the child the interpreter lock does not matter, so the graph is a scipy CSR matrix:
the codes of the 55,000 pool images of MNIST took 8.9 s, against 32.1 s with torch's
sparse COO product, with the same picks on label seeds 0-4 at 10, 20 and 100 labels.
"""

from __future__ import annotations

import numpy as np

SPECTRAL_DIMS = 20  # graph eigenvectors, the trivial one included; 10 missed digits, 20 none
KMEANS_STARTS = 3
# k-means starts tried for the ten groups of `digit_groups`, the one cutting the graph
# least kept: on the 55,000 pool images of MNIST the eight starts of seeds 0-7 gave
# groups that agreed with the digits on 80.9-96.1 % of images, and the smallest cut was
# always the 96.1 % one (MNIST's labels read only to score).
GROUP_STARTS = 8
# Graphs up to this size are solved densely. ARPACK restarts from a random vector when it
# meets an invariant subspace, as in a small folder whose graph falls apart in pieces, and
# keeps its random state between calls: in the kept child the same small pool gave other
# codes on a second call. LAPACK's dense solver has no state (2,000 images: about 1 s).
DENSE_UP_TO = 2000


def codes_from_links(index: np.ndarray, similarity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(codes (N, SPECTRAL_DIMS - 1) on the unit sphere, typicality (N,)) from the links
    (`engine.learning.graph.links`, as numpy arrays): the leading eigenvectors of the
    graph's normalised adjacency (spectral embedding), and each image's mean similarity to
    its neighbours."""
    return _spectral_codes(*_normalised_adjacency(index, similarity)), similarity.mean(1)


def _spectral_codes(normalised, degree: np.ndarray) -> np.ndarray:
    """The codes of `codes_from_links` from the graph's normalised adjacency and degrees."""
    from scipy.sparse.linalg import LinearOperator, eigsh

    n = len(degree)
    scale = 1.0 / np.sqrt(degree)
    # sqrt(degree) is always an eigenvector of eigenvalue 1 and says nothing about where an
    # image lies; it is moved to eigenvalue -1 so that the leading ones are the informative
    # ones. For a graph in several pieces (a small folder) eigenvalue 1 repeats and ARPACK
    # returns another basis of it on every call; the rows' distances, which are all
    # k-means sees, do not depend on the basis, so the picks stay the same.
    trivial = np.sqrt(degree) / np.linalg.norm(np.sqrt(degree))
    dims = min(SPECTRAL_DIMS - 1, n - 2)
    if n <= DENSE_UP_TO:
        deflated = normalised.toarray() - 2.0 * np.outer(trivial, trivial)
        vectors = np.linalg.eigh(deflated)[1][:, ::-1][:, :dims]  # the largest eigenvalues
    else:

        def matvec(x: np.ndarray) -> np.ndarray:
            v = np.asarray(x, dtype=np.float64).reshape(-1)
            return normalised @ v - 2.0 * trivial * (trivial @ v)

        operator = LinearOperator((n, n), matvec=matvec, dtype=np.float64)
        start = np.random.default_rng(0).standard_normal(n)  # eigsh's own start is random
        _, vectors = eigsh(operator, k=dims, which="LA", v0=start)
    codes = vectors * scale[:, None]
    codes /= np.linalg.norm(codes, axis=1, keepdims=True).clip(min=1e-12)
    # rounded: the last bits vary with the basis of a repeated eigenvalue (see above)
    return codes.round(5).astype(np.float32)


def _normalised_adjacency(index: np.ndarray, similarity: np.ndarray):
    """D^-1/2 W D^-1/2 as a scipy CSR matrix (float64), and the degrees D, of the links
    made symmetric: W[i, j] = max of the two directions' similarity cubed."""
    from scipy.sparse import csr_matrix

    n, k = index.shape
    weight = (np.clip(similarity, 0, None).astype(np.float64) ** 3).reshape(-1)
    rows = np.repeat(np.arange(n, dtype=np.int64), k)
    cols = index.reshape(-1).astype(np.int64)
    keys = np.concatenate([rows * n + cols, cols * n + rows])
    unique, inverse = np.unique(keys, return_inverse=True)
    values = np.zeros(len(unique))
    np.maximum.at(values, inverse, np.concatenate([weight, weight]))
    i, j = unique // n, unique % n
    degree = np.bincount(i, weights=values, minlength=n).clip(min=1e-12)
    scale = 1.0 / np.sqrt(degree)
    return csr_matrix((values * scale[i] * scale[j], (i, j)), shape=(n, n)), degree


def digit_groups(
    index: np.ndarray, similarity: np.ndarray, n_groups: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """(group (N,), distance (N,) to its group's centre) of each image: the graph's spectral
    codes cut into `n_groups` by k-means, for a guess at which images form a digit nobody
    labelled (`engine.learning.graph.stand_ins`).

    k-means on the codes ends in different groupings from different starts; of
    `GROUP_STARTS` starts this keeps the one whose groups the graph's links leave least
    (normalised cut, Shi and Malik 2000), a measure of the graph alone.
    """
    from scipy.sparse import csr_matrix
    from sklearn.cluster import KMeans

    normalised, degree = _normalised_adjacency(index, similarity)  # made once for both uses
    codes = _spectral_codes(normalised, degree)
    root = np.sqrt(degree)
    weights = normalised.multiply(root[:, None]).multiply(root[None, :]).tocsr()
    n_groups = min(n_groups, len(codes))
    best: tuple[float, np.ndarray, np.ndarray] | None = None
    for start in range(GROUP_STARTS):
        found = KMeans(n_groups, n_init=1, random_state=start).fit(codes)
        members = csr_matrix(
            (np.ones(len(codes)), (np.arange(len(codes)), found.labels_)),
            shape=(len(codes), n_groups),
        )
        inside = np.asarray((weights @ members).multiply(members).sum(0)).reshape(-1)
        volume = np.bincount(found.labels_, weights=degree, minlength=n_groups)
        cut = float(((volume - inside) / volume.clip(min=1e-12)).sum())
        if best is None or cut < best[0]:
            centre = found.cluster_centers_[found.labels_]
            best = (cut, found.labels_.astype(np.int64), ((codes - centre) ** 2).sum(1))
    assert best is not None
    return best[1], best[2].astype(np.float32)


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


def picks_from_links(
    index: np.ndarray, similarity: np.ndarray, n: int, seed: int, known: np.ndarray
) -> np.ndarray:
    """The spectral codes of the links, then `typical_picks`: what `suggest` runs in a
    child process."""
    return typical_picks(*codes_from_links(index, similarity), n, seed, known)
