"""Which images to ask a person about next: the one job behind the Label tab's grid, its
"Ask me N more" and the benches that measure them (bench/ask_more.py).

Before any classifier exists the images come from `engine.learning.choose.suggest` (the
most typical image of each cluster without a label); after a fine-tuning, from where that
classifier is least sure, unless the labels so far name digits only and leave some out.
A classifier that never saw a 4 is not unsure about 4s, it calls them 9s, so then the
typical images of clusters without a label come first again (`ask_rule`; measured in
docs/measurements.md). None of this reads a label: only pixels, the labels already given
(`known`) and the classifier's own outputs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.errors import StoppedError
from engine.events import Message
from engine.jobs.workflows import RunOptions, suggest_images, validation_split

if TYPE_CHECKING:
    import torch
    from torch import nn

    from engine.data.labels import Labels
    from engine.data.mnist import Mnist


TYPICAL = "typical"
LEAST_SURE = "least sure"
COVERING = "covering"


def ask_rule(known: Labels, has_classifier: bool) -> str:
    """How `images_to_ask` chooses for these labels: `TYPICAL` without a classifier,
    `COVERING` (typical images of clusters without a label) when the labels name digits
    only and some digit none of them, `LEAST_SURE` otherwise."""
    from engine.learning.graph import missing_digits

    if not has_classifier:
        return TYPICAL
    return COVERING if missing_digits(known) else LEAST_SURE


def describe_rule(rule: str, known: Labels) -> str:
    """A few words on `rule` for the app's status line and tooltips."""
    from engine.learning.graph import missing_digits

    if rule == LEAST_SURE:
        return "where the classifier is least sure"
    if rule == COVERING:
        digits = ", ".join(str(d) for d in missing_digits(known))
        missing = f" (no label names {digits} yet)" if digits else ""
        return f"typical images of groups without a label{missing}"
    return "typical images"


def images_to_ask(
    data: Mnist,
    n: int,
    known: Labels,
    classifier: nn.Module | None = None,
    seed: int = 0,
    run: RunOptions | None = None,
    asked: torch.Tensor | None = None,
    rule: str | None = None,
) -> torch.Tensor:
    """`n` positions in the MNIST training file (training split only, none in `known` or
    `asked`), sorted: the most typical unlabelled images, or with a `classifier` those it
    is least sure of (see `ask_rule`). `asked` are positions asked about already and not
    labelled yet (the Label tab's open questions): never asked again, and, like labels,
    they count as covering their clusters. `rule` overrides `ask_rule` (LEAST_SURE needs a
    `classifier`), for the benches that compare the rules. Raises StoppedError when
    `run.should_stop` says so while the graph is made."""
    import torch

    from engine.learning import choose
    from engine.learning.training import predict_proba

    run = run or RunOptions()
    pool = validation_split(data).train
    taken = known.indices if asked is None else torch.cat([known.indices, asked.long()]).unique()
    rule = rule or ask_rule(known, classifier is not None)
    if rule != LEAST_SURE:
        if rule == COVERING:
            run.on_event(Message(f"asking about {describe_rule(rule, known)}"))
        chosen = suggest_images(data, pool, n, seed, taken, run)
        if chosen is None:
            raise StoppedError("stopped while choosing the images to label")
        return chosen
    candidates = pool[~torch.isin(pool, taken)]
    run.on_event(Message(f"finding the {n} images the classifier is least sure of"))
    p_odd = predict_proba(classifier, data.train_images[candidates])
    return choose.least_sure(p_odd, candidates, n)
