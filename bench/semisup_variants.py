"""Try variants of semi-supervised fine-tuning that the engine does not have, on our own seeds.

A research loop, not a second implementation of the app's mode: it rebuilds FixMatch's
step around the engine's classifier, batches and distortions so that one change at a time
can be measured against it, on label seeds of our own (never 0-2) and the 5,000
validation images (never the test set). What it found is in docs/measurements.md;
a variant that paid would move into `engine.learning.semisup`, and only then into the
app, the CLI and the study.

Variants: `--target digits` (a 10-way head trained on the digits of the budget's
images, parity read from it), `--align` (distribution alignment of the 10-way
predictions to the labels' digit shares), `--weak-view` (pseudo-labels from a lightly
distorted view instead of the clean image), `--adamw`, `--width`, `--unlabelled-batch`,
`--steps`, `--contrastive STEPS` (first pretrain the encoder with a SimCLR loss on
two strong views of the unlabelled images, then fine-tune from it), `--deskew` (the
classifier shears its input upright, engine.data.deskew) and `--graph-steps N` (the first
N steps learn the neighbour graph's guesses, engine.learning.graph; `--graph-mode fade`
mixes them out over N steps, `--graph-agree` then keeps only the confident predictions
that agree with them). The engine's mode is `--deskew --graph-steps 900`.

    python bench/semisup_variants.py ../shared/mnist --labels 100 --seeds 10,11 --weak-view
    python bench/semisup_variants.py ../shared/mnist --labels 20 --deskew --graph-steps 900
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch
import torch.nn.functional as F
from torch import nn

from engine.config import DEFAULT_ARCH
from engine.data.augment import augment_batch, strong_augment
from engine.data.batches import BatchStream, to_float_images
from engine.data.labels import reveal
from engine.data.mnist import Mnist, label_budget, parity, read_folder
from engine.jobs.workflows import validation_split
from engine.learning import graph
from engine.learning.models import Classifier

LABELLED_BATCH = 32


def contrastive_pretrain(
    encoder: nn.Module, images: torch.Tensor, steps: int, seed: int, batch: int = 256
) -> None:
    """SimCLR (Chen et al. 2020): two strong views of an image should find each other among
    the batch's other views (temperature 0.2, a 64-128-32 projection head)."""
    latent = encoder[-2].out_features
    projection = nn.Sequential(nn.Linear(latent, 128), nn.ReLU(), nn.Linear(128, 32))
    params = list(encoder.parameters()) + list(projection.parameters())
    optimizer = torch.optim.Adam(params, lr=2e-3)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, 2e-3, total_steps=steps)
    stream, generator = BatchStream(len(images), seed + 5), torch.Generator().manual_seed(seed + 6)
    for _ in range(steps):
        x = to_float_images(images[stream.take(batch)])
        views = torch.cat([strong_augment(x, generator), strong_augment(x, generator)])
        z = F.normalize(projection(encoder(views)), dim=1)
        similarity = (z @ z.T / 0.2).fill_diagonal_(-1e9)
        partner = torch.cat([torch.arange(batch, 2 * batch), torch.arange(batch)])
        loss = F.cross_entropy(similarity, partner)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()


def parity_logit(outputs: torch.Tensor) -> torch.Tensor:
    """The odd-vs-even logit of 10 digit logits (or the one logit of a parity head)."""
    if outputs.shape[1] == 1:
        return outputs[:, 0]
    return outputs[:, 1::2].logsumexp(1) - outputs[:, 0::2].logsumexp(1)


def train_variant(args: argparse.Namespace, data: Mnist, seed: int) -> Classifier:
    split = validation_split(data)
    torch.manual_seed(seed)
    labelled = label_budget(data.train_labels, split.train, args.labels, seed)
    keep = ~torch.isin(split.train, labelled)
    unlabelled = data.train_images[split.train[keep]]
    graph_odd = None
    if args.graph_steps:
        started = time.perf_counter()
        graph_odd = graph.guess(
            data.train_images, reveal(data.train_labels, labelled), split.train[keep]
        ).p_odd
        truth = data.train_labels[split.train[keep]].long()
        print(
            f"  graph: {time.perf_counter() - started:.0f} s, parity "
            f"{100 * float(((graph_odd > 0.5).long() == truth % 2).float().mean()):.1f} %",
            flush=True,
        )
    model = Classifier(dataclasses.replace(DEFAULT_ARCH, width=args.width, deskew=args.deskew))
    outputs = 10 if args.target == "digits" else 1
    model.head[-1] = nn.Linear(model.head[-1].in_features, outputs)
    if args.contrastive:
        contrastive_pretrain(model.encoder, unlabelled, args.contrastive, seed)
    images, digits = data.train_images[labelled], data.train_labels[labelled].long()
    targets = digits if outputs == 10 else parity(digits)
    prior = torch.bincount(digits, minlength=10).float() / len(digits)
    adam = torch.optim.AdamW if args.adamw else torch.optim.Adam
    optimizer = adam(model.parameters(), lr=args.lr, weight_decay=args.weight_decay, fused=True)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, args.lr, total_steps=args.steps, pct_start=0.15
    )
    labelled_stream, unlabelled_stream = (
        BatchStream(len(images), seed),
        BatchStream(len(unlabelled), seed + 2),
    )
    light, strong, weak = (torch.Generator().manual_seed(seed + k) for k in (1, 3, 4))
    running_mean = None

    def raw(x: torch.Tensor) -> torch.Tensor:
        return model.head(model.encoder(model.prepare(x)))

    for step in range(args.steps):
        if args.trace and step % args.trace == 0:
            print(f"  step {step}: validation per digit {per_digit_text(model, data)}", flush=True)
        index = labelled_stream.take(LABELLED_BATCH)
        x = augment_batch(to_float_images(images[index]), light)
        taken = unlabelled_stream.take(args.unlabelled_batch)
        clean = to_float_images(unlabelled[taken])
        teacher_view = augment_batch(clean, weak) if args.weak_view else clean
        model.eval()
        with torch.no_grad():
            guess = raw(teacher_view)
        model.train()
        if outputs == 10:
            probs = guess.softmax(1)
            if args.align:
                mean = probs.mean(0)
                running_mean = mean if running_mean is None else 0.999 * running_mean + 0.001 * mean
                probs = probs * (prior / running_mean)
                probs = probs / probs.sum(1, keepdim=True)
            confidence, pseudo = probs.max(1)
        else:
            p_odd = torch.sigmoid(guess[:, 0])
            confidence, pseudo = torch.maximum(p_odd, 1 - p_odd), (p_odd > 0.5).float()
        mask = (confidence >= args.threshold).float()
        if graph_odd is not None and step < args.graph_steps:
            share = 1.0 if args.graph_mode == "switch" else 1.0 - step / args.graph_steps
            p_odd = share * graph_odd[taken] + (1 - share) * (
                torch.sigmoid(guess[:, 0]) if outputs == 1 else probs[:, 1::2].sum(1)
            )
            if outputs == 1:
                confidence, pseudo = torch.maximum(p_odd, 1 - p_odd), (p_odd > 0.5).float()
                mask = (confidence >= args.graph_threshold).float()
        elif graph_odd is not None and args.graph_agree and outputs == 1:
            mask = mask * (pseudo == (graph_odd[taken] > 0.5).float()).float()
        out = raw(torch.cat([x, strong_augment(clean, strong)]))
        if outputs == 10:
            supervised = F.cross_entropy(out[: len(x)], targets[index])
            consistency = F.cross_entropy(out[len(x) :], pseudo, reduction="none")
        else:
            supervised = F.binary_cross_entropy_with_logits(out[: len(x), 0], targets[index])
            consistency = F.binary_cross_entropy_with_logits(
                out[len(x) :, 0], pseudo, reduction="none"
            )
        loss = supervised + (consistency * mask).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    model.eval()
    return model


def per_digit_text(model: Classifier, data: Mnist) -> str:
    """Parity accuracy (%) of each digit on the validation images, and overall."""
    split = validation_split(data)
    digits = data.train_labels[split.val].long()
    images = to_float_images(data.train_images[split.val])
    was_training = model.training
    model.eval()
    with torch.no_grad():
        chunks = [
            model.head(model.encoder(model.prepare(images[k : k + 1000])))
            for k in range(0, len(images), 1000)
        ]
    model.train(was_training)
    right = (parity_logit(torch.cat(chunks)) > 0).float() == parity(digits)
    each = " ".join(f"{100 * float(right[digits == d].float().mean()):.0f}" for d in range(10))
    return f"{each} (all {100 * float(right.float().mean()):.2f} %)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--labels", type=int, default=100)
    parser.add_argument("--seeds", default="10,11")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--threshold", type=float, default=0.95)
    parser.add_argument("--unlabelled-batch", type=int, default=128)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--target", choices=("parity", "digits"), default="parity")
    parser.add_argument("--align", action="store_true")
    parser.add_argument("--weak-view", action="store_true")
    parser.add_argument("--adamw", action="store_true")
    parser.add_argument("--weight-decay", type=float, default=0.0)
    parser.add_argument("--width", type=int, default=DEFAULT_ARCH.width)
    parser.add_argument("--contrastive", type=int, default=0, help="SimCLR steps first")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--graph-steps", type=int, default=0, help="graph guesses as targets first")
    parser.add_argument("--graph-mode", choices=("switch", "fade"), default="switch")
    parser.add_argument("--deskew", action="store_true", help="the classifier deskews its input")
    parser.add_argument("--graph-agree", action="store_true", help="then only where graph agrees")
    parser.add_argument("--graph-threshold", type=float, default=0.5)
    parser.add_argument("--trace", type=int, default=0, help="per-digit scores every N steps")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = read_folder(args.data_dir)
    settings = {k: v for k, v in vars(args).items() if k not in ("data_dir", "seeds", "labels")}
    for seed in (int(s) for s in args.seeds.split(",")):
        started = time.perf_counter()
        model = train_variant(args, data, seed)
        print(
            f"labels {args.labels} seed {seed} {settings}: {time.perf_counter() - started:.0f} s; "
            f"validation per digit {per_digit_text(model, data)}",
            flush=True,
        )


if __name__ == "__main__":
    main()
