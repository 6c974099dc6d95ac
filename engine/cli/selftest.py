"""`--self-test`: prove that this copy of the app (frozen or not) can read drawings.

A bundle can build fine and still be broken where it matters: a model file left out or
damaged, a missing native library that only `import torch` notices, preprocessing that
drifted from the model. The self-test does what the Draw panel does on first launch:
loads the shipped default model, preprocesses the shipped sample drawings (whose names
carry their parity, e.g. `7_odd_thick.png`) and checks every answer. It opens no window,
needs no network and no torchvision, and takes a few seconds, so the build script can run
it on every fresh bundle.

Prints one line and returns 0, or prints the reason on stderr and returns 1.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from engine.errors import SelfTestError
from engine.store.resources import DEFAULT_MODEL_DIR, resource_path

if TYPE_CHECKING:
    import torch

SAMPLES_DIR = "samples"
SAMPLE_NAME = re.compile(r"^(\d)_(even|odd)(?:_[\w-]+)?\.png$")
MODEL_KINDS = ("classifier", "encoder", "autoencoder")  # what the app loads at start-up
PROVENANCE = "provenance.json"
TSNE_CHECK_TIMEOUT = 60.0  # seconds; a few on this machine, mostly starting the child
EXIT_OK, EXIT_FAILED = 0, 1


@dataclass(frozen=True)
class Sample:
    path: Path
    digit: int
    parity: str  # "even" or "odd"


def find_samples(folder: Path) -> list[Sample]:
    """The sample drawings in `folder`; a name whose digit and parity disagree is an error,
    because a wrong expected answer would make the test pass or fail for the wrong reason."""
    if not folder.is_dir():
        raise SelfTestError(f"no sample drawings folder at {folder}")
    samples = []
    for path in sorted(folder.glob("*.png")):
        match = SAMPLE_NAME.match(path.name)
        if match is None:
            raise SelfTestError(
                f"sample {path.name}: name must look like 7_odd_thick.png (digit_parity_style)"
            )
        digit, parity = int(match.group(1)), match.group(2)
        if (digit % 2 == 1) != (parity == "odd"):
            raise SelfTestError(f"sample {path.name}: {digit} is not {parity}")
        samples.append(Sample(path, digit, parity))
    if not samples:
        raise SelfTestError(f"no sample drawings (*.png) in {folder}")
    return samples


def _expected_sha256(model_dir: Path) -> dict[str, str]:
    """SHA-256 of each checkpoint as recorded when the default model was made, if recorded."""
    path = model_dir / PROVENANCE
    if not path.is_file():
        return {}
    try:
        recorded = json.loads(path.read_text(encoding="utf-8")).get("files", {})
    except (OSError, ValueError, AttributeError):
        raise SelfTestError(f"{path.name} in {model_dir} is not readable JSON") from None
    return {
        Path(name).stem: info["sha256"]
        for name, info in recorded.items()
        if isinstance(info, dict) and "sha256" in info
    }


def run_self_test(model_dir: Path, samples_dir: Path) -> str:
    """Run every check; returns the success line or raises SelfTestError."""
    started = time.perf_counter()
    samples = find_samples(samples_dir)  # cheap checks first: no point loading torch for these
    expected = _expected_sha256(model_dir)

    import torch

    from engine.data.mnist import parity_word
    from engine.data.preprocess import ImageError, preprocess_file, to_model_input
    from engine.jobs.workflows import odd_probabilities
    from engine.store.checkpoint import CheckpointError, load_checkpoint

    loaded = {}
    for kind in MODEL_KINDS:
        path = model_dir / f"{kind}.pt"
        if not path.is_file():
            raise SelfTestError(f"the default {kind} model is missing: {path}")
        try:
            loaded[kind] = load_checkpoint(path, expect=(kind,))
        except CheckpointError as exc:
            raise SelfTestError(f"the default {kind} model cannot be loaded: {exc}") from None
        if kind in expected and loaded[kind].sha256 != expected[kind]:
            raise SelfTestError(
                f"{path.name} differs from the file recorded in {PROVENANCE} "
                f"(sha256 {loaded[kind].sha256[:12]}… instead of {expected[kind][:12]}…)"
            )
    classifier = loaded["classifier"]
    drawings = []  # uint8 28x28, what the model sees
    for sample in samples:
        try:
            drawings.append(preprocess_file(sample.path))
        except ImageError as exc:
            raise SelfTestError(f"sample drawing could not be read: {exc}") from None
    p_odd = odd_probabilities(classifier.model, np.concatenate(list(map(to_model_input, drawings))))
    wrong = [
        f"{sample.path.name} read as {parity_word(p)} (P(odd) = {p:.2f})"
        for sample, p in zip(samples, p_odd.tolist(), strict=True)
        if parity_word(p) != sample.parity
    ]
    if wrong:
        raise SelfTestError(
            f"{len(wrong)} of {len(samples)} sample drawings answered wrong: " + "; ".join(wrong)
        )
    tsne_seconds = _check_tsne_child(classifier.model, torch.from_numpy(np.stack(drawings)))
    choose_seconds = _check_choosing_child(torch.from_numpy(np.stack(drawings)))
    if "torchvision" in sys.modules:  # the bundle leaves it out: nothing here may need it
        raise SelfTestError("torchvision was imported, but the app must work without it")
    seconds = time.perf_counter() - started
    return (
        f"self-test passed: {len(samples)}/{len(samples)} sample drawings, "
        f"model sha256 {classifier.sha256[:16]}, torch {torch.__version__}, "
        f"t-SNE child {tsne_seconds:.1f} s, choosing child {choose_seconds:.1f} s, "
        f"{seconds:.1f} s"
    )


def _check_choosing_child(images: torch.Tensor) -> float:
    """Choose 5 of the sample drawings to label, as the Label tab chooses (its spectral
    codes and k-means run in the kept child process, `engine.learning.child`), and return
    the seconds it took; the child is ended afterwards."""
    import torch

    from engine.errors import UserError
    from engine.learning import child, choose

    started = time.perf_counter()
    try:
        picks = choose.suggest(images, torch.arange(len(images)), 5)
    except UserError as exc:
        raise SelfTestError(f"choosing images to label failed: {exc}") from None
    finally:
        child.shutdown()
    if picks is None or len(picks.unique()) != 5:
        raise SelfTestError(f"choosing 5 images to label gave {picks}")
    return time.perf_counter() - started


def _check_tsne_child(model: torch.nn.Module, images: torch.Tensor) -> float:
    """Project the sample drawings' codes with t-SNE in a child process, as the latent map
    does, and return the seconds it took.

    A frozen app starts such a child by running its own executable again, which only works
    when `main.py` hands the child to `multiprocessing.freeze_support()` before anything
    else; this is the check that the bundle does (the study's workers rely on it too).
    """
    from engine.reports.latent import encode
    from engine.reports.projection import ProjectionError, TsneProcess

    started = time.perf_counter()
    codes = encode(model.encoder, images)  # as the latent map encodes its images
    child = TsneProcess(codes)
    try:
        points = child.result(timeout=TSNE_CHECK_TIMEOUT)
    except ProjectionError as exc:
        raise SelfTestError(f"the latent map's t-SNE process failed: {exc}") from None
    finally:
        child.cancel()
    if points is None:
        raise SelfTestError(f"the t-SNE process gave no result in {TSNE_CHECK_TIMEOUT:.0f} s")
    if points.shape != (len(codes), 2) or not np.isfinite(points).all():
        raise SelfTestError(f"the latent map's t-SNE process gave {points.shape} points")
    return time.perf_counter() - started


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `main.py --self-test [--model-dir DIR] [--samples DIR]`."""
    parser = argparse.ArgumentParser(
        prog="evenodd-studio --self-test",
        description="Check the shipped model on the shipped sample drawings; no window.",
    )
    parser.add_argument(
        "--model-dir",
        type=Path,
        default=resource_path(DEFAULT_MODEL_DIR),
        help="folder with classifier.pt, encoder.pt, autoencoder.pt (default: the shipped one)",
    )
    parser.add_argument(
        "--samples",
        type=Path,
        default=resource_path(SAMPLES_DIR),
        help="folder of sample drawings named like 7_odd_thick.png (default: the shipped one)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="also write the result line to this file (a windowed Windows app has no console)",
    )
    args = parser.parse_args(list(argv or []))
    try:
        line, status = run_self_test(args.model_dir, args.samples), EXIT_OK
    except SelfTestError as exc:
        line, status = f"self-test failed: {exc}", EXIT_FAILED
    except Exception as exc:  # a broken bundle fails in ways no check foresaw: say which
        line, status = f"self-test failed: unexpected {type(exc).__name__}: {exc}", EXIT_FAILED
    print(line, file=sys.stdout if status == EXIT_OK else sys.stderr, flush=True)
    if args.output is not None:
        args.output.write_text(line + "\n", encoding="utf-8")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
