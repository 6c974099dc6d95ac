"""First guesses for the unlabelled images: the budget's labels spread over similar images.

With 2 labels per digit, a classifier's first reading of its few examples decides a whole
digit's parity, and consistency training then only makes it surer (docs/method.md).
A neighbour graph decides each image's digit from many paths to the labelled ones instead.
Images are deskewed first (`engine.data.deskew`): among raw pixels a slanted 8 sits next
to slanted 3s and 9s. On label seeds 10-13, 20 labels, the guessed digits of the 55,000
pool images were 81-93 % right on raw pixels and 92-96 % after deskewing.

The steps: deskew, link each image to its `NEIGHBOURS` most similar ones (cosine), spread
the labels along the links (Zhou et al. 2004, "learning with local and global
consistency"; a digit label spreads as its digit, a parity-only label as "even" or
"odd"), then balance the guesses so each class keeps the territory the graph gives it
(Sinkhorn-Knopp), which keeps one class's images from being absorbed by a neighbour
without taking the class's size from a handful of labels. Only the given labels are read;
every other image gives its pixels, which is what `tests/test_semisup.py` checks. The
same links give the label-free codes that choose which images to label
(`engine.learning.choose`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from engine.data.deskew import deskew_uint8
from engine.data.labels import Labels
from engine.learning.child import run_in_child
from engine.learning.device import has_fast_bfloat16
from engine.learning.spectral import digit_groups

NEIGHBOURS = 10
SPREAD = 0.99  # the share of each spreading step that comes from the neighbours
SPREAD_STEPS = 30
BALANCE_STEPS = 50
CHUNK = 1024  # rows of the similarity matrix at a time: 1024 x 55,000 floats, 225 MB

# Images of a group no labelled digit claims given a missing digit, as if labelled: on
# random draws of 20 labels of the pool (seeds 0-59, bfloat16 links), 1, 2 and 10 of them
# gave first guesses 94.91, 94.90 and 94.79 % right, 89.32 % without
# (bench/missing_digits.py --stand-ins N); under an earlier rule 50 and 200 did worse
# still (94.0 and 93.5 % against 94.4 % for 2).
STAND_INS = 2
GROUPS_FROM = 200  # fewer pool images than this: no groups (ten groups of a handful say little)

# The links depend only on the pixels of the images in the graph, not on which of them are
# labelled, so a study's cells and an app's repeated runs on the same pool share them.
# One entry: the last pool's key and its links.
_last_links: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}


def neighbours(
    features: torch.Tensor,
    should_stop: Callable[[], bool] = lambda: False,
    on_chunk: Callable[[int, int], None] = lambda done, total: None,
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Each row's `NEIGHBOURS` most similar other rows by cosine: (indices, similarities),
    both (N, k), most similar first; None when `should_stop` said so between two chunks.
    `on_chunk(done, total)` follows the chunks, for a progress bar.

    Similarity is symmetric, so each chunk of rows is multiplied only by the rows from its
    own onwards, and the product serves both sides: its rows' neighbours among the later
    rows, and the later rows' neighbours among its rows. That is half the products of the
    full square (55,000 deskewed images, 2 threads, AVX-512 BF16: 13.3 against 25.7 s in
    bfloat16, 21.6 against 36.4 s in float32 with the same neighbours; bfloat16 products
    round to 8 bits, which breaks near-ties either way; bench/neighbours_speed.py).

    Products in bfloat16 where the hardware has it: 3.3x faster than float32 with AMX
    (55,000 x 784 against itself: 5.4 s against 17.8 s with 2 threads), 2.3x with AVX-512
    BF16 (a chunk of 1,024 rows: 0.25 against 0.59 s); the neighbours whose order that
    swaps are near-ties.
    """
    fast = has_fast_bfloat16(torch.device("cpu"))
    unit = F.normalize(features.reshape(len(features), -1).float(), dim=1)
    unit = unit.to(torch.bfloat16) if fast else unit
    n, k = len(unit), min(NEIGHBOURS, len(unit) - 1)
    similarity = torch.full((n, k), -3.0)  # below any cosine: filled as chunks come
    index = torch.zeros(n, k, dtype=torch.long)
    for start in range(0, n, CHUNK):
        if should_stop():
            return None
        end = min(start + CHUNK, n)
        block = (unit[start:end] @ unit[start:].T).float()  # these rows against the rest
        rows = torch.arange(end - start)
        block[rows, rows] = -2.0  # not its own neighbour
        values, found = block.topk(min(k, n - start), dim=1)
        _keep_best(similarity, index, start, values, found + start)
        if end < n:  # the later rows' best among these rows
            values, found = block[:, end - start :].topk(min(k, end - start), dim=0)
            _keep_best(similarity, index, end, values.T, found.T + start)
        on_chunk(start // CHUNK + 1, -(-n // CHUNK))
    return index, similarity


def _keep_best(
    similarity: torch.Tensor,
    index: torch.Tensor,
    first: int,
    values: torch.Tensor,
    found: torch.Tensor,
) -> None:
    """Merge candidate neighbours (`values`, `found`: rows `first` on) into the best
    `similarity` and `index` kept so far, in place."""
    last = first + len(values)
    k = similarity.shape[1]
    merged = torch.cat([similarity[first:last], values], dim=1)
    best, at = merged.topk(k, dim=1)
    similarity[first:last] = best
    index[first:last] = torch.cat([index[first:last], found], dim=1).gather(1, at)


def spread(index: torch.Tensor, similarity: torch.Tensor, seeds: torch.Tensor) -> torch.Tensor:
    """Scores (N, C): the `seeds` rows (N, C; one-hot where labelled, 0 elsewhere) spread
    along the symmetric graph.

    A link i -> index[i, j] carries scores both ways, weighted by similarity cubed (near
    neighbours count far more than far ones) and normalised by both ends' degrees.
    """
    n, k = index.shape
    weight = similarity.clamp(min=0) ** 3
    flat = index.reshape(-1)
    degree = weight.sum(1).index_add_(0, flat, weight.reshape(-1))
    scale = degree.clamp(min=1e-12).rsqrt()
    link = (weight * scale[:, None] * scale[index])[..., None]  # (N, k, 1)

    def step(scores: torch.Tensor) -> torch.Tensor:
        gathered = (link * scores[index]).sum(1)  # from each image's own neighbours
        return gathered.index_add_(0, flat, (link * scores[:, None, :]).reshape(n * k, -1))

    scores = seeds.clone()
    for _ in range(SPREAD_STEPS):
        scores = SPREAD * step(scores) + (1 - SPREAD) * seeds
    return scores


def territories(scores: torch.Tensor) -> torch.Tensor:
    """Each class's share of the images, estimated from the spread itself (sum 1).

    Each column is first divided by its total (class mass normalisation, Zhu et al. 2003),
    so a class is not larger for having more labels; each image then counts for the class
    it scores highest in. Why not the labels' own shares: a random draw of 20 labels with
    five 8s gave "8" a quarter of all images, and 60 % parity accuracy after training;
    on random draws of 20 labels (seeds 5-9) the guessed parities were 77-90 % right with
    the labels' shares and 87-93 % with these (bench/label_picks.py).
    """
    rows = scores / scores.sum(1, keepdim=True).clamp(min=1e-12)
    columns = rows / rows.sum(0).clamp(min=1e-12)
    counts = torch.bincount(columns.argmax(1), minlength=scores.shape[1]).float()
    return counts / counts.sum()


def balance(scores: torch.Tensor, shares: torch.Tensor) -> torch.Tensor:
    """Rows of `scores` as probabilities whose column totals follow `shares` (sum 1);
    a class with no share (no label, or no territory) gets no images."""
    q = scores / scores.sum(1, keepdim=True).clamp(min=1e-12) + 1e-9
    want = shares * len(q)
    for _ in range(BALANCE_STEPS):
        total = q.sum(0)
        q = q * torch.where(total > 0, want / total.clamp(min=1e-30), 0.0)
        q = q / q.sum(1, keepdim=True).clamp(min=1e-30)
    return q


def _pool_key(images: torch.Tensor, rows: torch.Tensor) -> str:
    digest = hashlib.sha256(rows.numpy().tobytes())
    digest.update(images[rows[:: max(1, len(rows) // 64)]].numpy().tobytes())
    return f"{images.data_ptr()}:{tuple(images.shape)}:{digest.hexdigest()}"


def links(
    images: torch.Tensor,
    pool: torch.Tensor,
    should_stop: Callable[[], bool] = lambda: False,
    on_chunk: Callable[[int, int], None] = lambda done, total: None,
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The neighbour links of the `pool` rows (sorted indices) of `images` (N, 28, 28 uint8,
    on the CPU), deskewed: (indices, similarities), indices counting positions in `pool`.
    Made once per pool and kept (see `_last_links`); None if stopped while made."""
    key = _pool_key(images, pool)
    found = _last_links.get(key)
    if found is None:
        # deskewed a chunk at a time: all 55,000 at once would hold ~1 GB of temporaries
        upright = torch.cat([deskew_uint8(images[rows]) for rows in pool.split(4096)])
        found = neighbours(upright, should_stop, on_chunk)
        if found is None:
            return None
        _last_links.clear()
        _last_links[key] = found
    return found


# Like the links, the groups depend on the pool alone: (key, (group, distance)).
_last_groups: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}


def groups(
    images: torch.Tensor,
    pool: torch.Tensor,
    found: tuple[torch.Tensor, torch.Tensor],
    should_stop: Callable[[], bool] = lambda: False,
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Ten label-free groups of the `pool` rows of `images` from their `found` links
    (`engine.learning.spectral.digit_groups`, run in the kept child process, as choosing
    is: it holds the interpreter lock): (group, distance to its centre) per pool position.
    Made once per pool and kept; None if stopped."""
    key = _pool_key(images, pool)
    kept = _last_groups.get(key)
    if kept is None:
        args = (found[0].numpy(), found[1].numpy())
        finished, made = run_in_child(digit_groups, args, should_stop)
        if not finished:
            return None
        kept = (torch.from_numpy(made[0]), torch.from_numpy(made[1]))
        _last_groups.clear()
        _last_groups[key] = kept
    return kept


def missing_digits(labels: Labels) -> tuple[int, ...]:
    """The digits no label names, when every label names a digit (a label that gives only
    the parity may be of any digit, so then none is known to be missing)."""
    digits = labels.digits.cpu().long()
    if len(digits) == 0 or bool((digits < 0).any()):
        return ()
    return tuple(sorted(set(range(10)) - set(digits.tolist())))


def may_stand_in(missing: tuple[int, ...], n_images: int) -> bool:
    """Whether groups of a pool of `n_images` may stand in for these missing digits: some
    are missing and all of one parity (which group is which digit is never known, only
    that they share it), and the pool is large enough to group (`GROUPS_FROM`)."""
    return one_parity(missing) and n_images >= GROUPS_FROM


def one_parity(digits: tuple[int, ...]) -> bool:
    """Whether these digits (at least one) are all even or all odd."""
    return len({d % 2 for d in digits}) == 1


def stand_ins(
    scores: torch.Tensor,
    group: torch.Tensor,
    distance: torch.Tensor,
    at_labelled: torch.Tensor,
    digits: torch.Tensor,
    missing: tuple[int, ...],
) -> tuple[torch.Tensor, torch.Tensor]:
    """(positions, digits): for each `missing` digit, the `STAND_INS` unlabelled images
    nearest the centre of a group that no labelled digit claims, taken as that digit.

    Each labelled digit claims one group, the one holding most of its labels (`at_labelled`
    positions, `digits`), together as many as possible (an odd-looking 3 may sit in
    another digit's group); a digit whose labels no free group holds claims the group its
    spread (`scores`) reaches best. Of the groups left, those the spread reaches least
    stand in first: a digit nobody labelled is a group of its own that the labels reach
    only through its borders. On random draws of 20 labels of the pool (seeds 0-59), first
    guesses 94.8 % right; 94.4 % when only groups holding no label at all could stand in.
    Which missing digit goes to which group is not known, so this is only used when the
    missing digits share a parity (`guess`).
    """
    from scipy.optimize import linear_sum_assignment

    n_groups = int(group.max()) + 1
    reach = scores.sum(1).clamp(min=1e-30).log()
    reached = torch.stack([reach[group == g].median() for g in range(n_groups)]).double()
    present = sorted(set(digits.tolist()))
    held = torch.zeros(n_groups, 10, dtype=torch.float64)
    held.index_put_((group[at_labelled], digits.long()), torch.ones(len(digits)).double(), True)
    cost = -held[:, present] * 1e6 - reached[:, None]  # labels first, reach breaks ties
    claimed, _ = linear_sum_assignment(cost.numpy())
    free = sorted(set(range(n_groups)) - set(claimed.tolist()), key=lambda g: float(reached[g]))
    positions, stand = [], []
    unlabelled = torch.ones(len(group), dtype=torch.bool)
    unlabelled[at_labelled] = False
    for digit, g in zip(missing, free, strict=False):
        members = torch.nonzero((group == g) & unlabelled)[:, 0]
        nearest = members[torch.argsort(distance[members], stable=True)[:STAND_INS]]
        positions.append(nearest)
        stand.append(torch.full_like(nearest, digit))
    if not positions:
        return torch.empty(0, dtype=torch.long), torch.empty(0, dtype=torch.long)
    return torch.cat(positions), torch.cat(stand)


# Columns of the spread: the ten digits, then "even" and "odd" for labels that give the
# parity alone. A parity label is not shared among the digits of its parity: it spreads as
# its own class, so a picture called "odd" pulls only images like itself towards odd.
N_COLUMNS = 12
ODD_COLUMNS = [1, 3, 5, 7, 9, 11]


def label_columns(digits: torch.Tensor, odd: torch.Tensor) -> torch.Tensor:
    """The spread's column of each label: its digit, or 10 / 11 for even / odd alone."""
    return torch.where(digits >= 0, digits.long(), 10 + odd.long())


def label_classes(labels: Labels) -> torch.Tensor:
    """Each label's class, for a class head (engine.learning.semisup.ClassHead): a digit
    label's is its digit; a label that gives only the parity does not say which digit the
    image is, so its image is a class of its own, 10 + its place among those labels. On
    validation images, 20 suggested parity-only labels, seeds 10-11: 99.04 % with a class
    per image, 98.98 % (seed 11) with one class per parity, 98.85 % without a class head."""
    digits = labels.digits.cpu().long()
    parity_only = digits < 0
    return torch.where(parity_only, 10 + parity_only.long().cumsum(0) - 1, digits)


def class_count(labels: Labels) -> int:
    """How many classes `label_classes` can give for these labels."""
    return 10 + int((labels.digits < 0).sum())


def class_parities(classes: torch.Tensor, odd: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Which parity each of `n_classes` classes stands for (1.0 odd), for the class head's
    parity targets: a digit's own, and for a class of its own (a parity-only label's image,
    or a drawing), what its label said. `classes` and `odd` are the labelled images'
    classes (as `label_classes` numbers them) and parities (1 odd)."""
    parities = (torch.arange(n_classes) % 2).float()
    parities[classes.cpu().long()] = odd.cpu().float()
    return parities


@dataclass(frozen=True)
class Guesses:
    """The graph's guesses for the unlabelled images: P(odd) (U,), and the class each one
    most likely belongs to (U,), as `label_classes` numbers them. `missing` are the digits
    no label named; `stood_in` those of them a group of unlabelled images stood in for."""

    p_odd: torch.Tensor
    classes: torch.Tensor
    missing: tuple[int, ...] = ()
    stood_in: tuple[int, ...] = ()


def guess(
    images: torch.Tensor,
    labels: Labels,
    unlabelled: torch.Tensor,
    should_stop: Callable[[], bool] = lambda: False,
    on_chunk: Callable[[int, int], None] = lambda done, total: None,
) -> Guesses | None:
    """Guesses for the `unlabelled` rows of `images` (N, 28, 28 uint8, on the CPU) from
    `labels` alone (digits, parities or both); None if stopped. `on_chunk` follows the
    making of the links (see `neighbours`), when they are made.

    Each class's share comes from the graph (`territories`), never from how many labels
    it has. A digit nobody labelled has no label to spread from: when the missing digits
    share a parity, the unlabelled group least reached by the labels stands in for each
    (`stand_ins`), so its images get that parity instead of their look-alikes' (on random
    draws of 20 labels of the pool, seeds 0-59: 94.8 % of first guesses right against
    89.3 % with float32 links, 94.9 % with bfloat16 ones); when they do not, which group
    is which cannot be known, and a missing digit's images go to the labelled images they
    resemble most.
    """
    labelled = labels.indices.cpu()
    pool, order = torch.cat([labelled, unlabelled.cpu()]).sort()
    found = links(images, pool, should_stop, on_chunk)
    if found is None:
        return None
    position = torch.empty_like(order)
    position[order] = torch.arange(len(order))  # where each of cat(labelled, unlabelled) sits
    at_labelled, at_unlabelled = position[: len(labelled)], position[len(labelled) :]
    seeds = torch.zeros(len(pool), N_COLUMNS)
    seeds[at_labelled, label_columns(labels.digits.cpu(), labels.odd.cpu())] = 1.0
    scores = spread(*found, seeds)
    missing, stood_in = missing_digits(labels), ()
    if may_stand_in(missing, len(pool)):
        grouped = groups(images, pool, found, should_stop)
        if grouped is None:
            return None
        positions, digits = stand_ins(
            scores, *grouped, at_labelled, labels.digits.cpu().long(), missing
        )
        seeds[positions, digits] = 1.0
        scores = spread(*found, seeds)
        stood_in = tuple(sorted(set(digits.tolist())))
    q = balance(scores, territories(scores))[at_unlabelled]
    p_odd, classes = q[:, ODD_COLUMNS].sum(1), q.argmax(1)
    if bool((labels.digits < 0).any()):  # the classes differ from the spread's columns
        seeds = torch.zeros(len(pool), class_count(labels))
        seeds[at_labelled, label_classes(labels)] = 1.0
        scores = spread(*found, seeds)
        classes = balance(scores, territories(scores))[at_unlabelled].argmax(1)
    return Guesses(p_odd=p_odd, classes=classes, missing=missing, stood_in=stood_in)
