"""Which images to ask a person about next: the one job behind the Label tab's grid, its
"Ask me N more" and `evenodd ask`-style scripts.

Before any classifier exists the images come from `engine.learning.choose.suggest` (the
most typical image of each cluster without a label); after a fine-tuning, from where that
classifier is least sure. Neither reads a label: only pixels, the labels already given
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


def images_to_ask(
    data: Mnist,
    n: int,
    known: Labels,
    classifier: nn.Module | None = None,
    seed: int = 0,
    run: RunOptions | None = None,
    asked: torch.Tensor | None = None,
) -> torch.Tensor:
    """`n` positions in the MNIST training file (training split only, none in `known` or
    `asked`), sorted: the most typical unlabelled images, or with a `classifier` those it
    is least sure of. `asked` are positions asked about already and not labelled yet (the
    Label tab's open questions): never asked again, and, like labels, they count as
    covering their clusters. Raises StoppedError when `run.should_stop` says so while the
    graph is made."""
    import torch

    from engine.learning import choose
    from engine.learning.training import predict_proba

    run = run or RunOptions()
    pool = validation_split(data).train
    taken = known.indices if asked is None else torch.cat([known.indices, asked.long()]).unique()
    if classifier is None:
        chosen = suggest_images(data, pool, n, seed, taken, run)
        if chosen is None:
            raise StoppedError("stopped while choosing the images to label")
        return chosen
    candidates = pool[~torch.isin(pool, taken)]
    run.on_event(Message(f"finding the {n} images the classifier is least sure of"))
    p_odd = predict_proba(classifier, data.train_images[candidates])
    return choose.least_sure(p_odd, candidates, n)
