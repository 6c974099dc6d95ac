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
from engine.learning.spectral import codes_from_links, picks_from_links, typical_picks
from engine.options import BALANCED, PICK_HELP, PICKS, RANDOM, SUGGESTED  # noqa: F401

__all__ = ["codes_from_links", "least_sure", "random_picks", "spectral_codes", "suggest",
           "typical_picks"]  # fmt: skip


def spectral_codes(
    images: torch.Tensor,
    pool: torch.Tensor,
    should_stop: Callable[[], bool] = lambda: False,
    on_chunk: Callable[[int, int], None] = lambda done, total: None,
) -> tuple[np.ndarray, np.ndarray] | None:
    """(codes, typicality) of the `pool` rows of `images` from the neighbour graph alone
    (`engine.learning.spectral.codes_from_links`); None if stopped."""
    found = links(images, pool, should_stop, on_chunk)
    if found is None:
        return None
    return codes_from_links(found[0].numpy(), found[1].numpy())


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
