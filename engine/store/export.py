"""Export a classifier as ONNX, so it can be used outside the app (one place for CLI and app).

The exported graph is the classifier as the app runs it, and nothing else: input `image`,
float32 (N, 1, 28, 28), the MNIST-like 28x28 digit (white on black) scaled to [0, 1]
exactly as `engine.data.preprocess.to_model_input` makes it; output `p_odd`, float32 (N,),
the sigmoid of the logit. The batch axis is dynamic. When the classifier deskews
(`ArchConfig.deskew`), its Deskew module is part of the graph; the drawing-to-28x28
preprocessing (`to_mnist`) is not, since it is data-dependent numpy (cropping, scaling
with Pillow) that a caller outside the app has to do itself or skip for MNIST-like input.

Why the legacy TorchScript exporter (`dynamo=False`): it needs neither `onnxscript` nor
`torch.export`, and for a small conv net it gives a plain graph. Why opset 20: the
deskewing's affine grid (`F.affine_grid`) is the ONNX op AffineGrid, added in opset 20
(onnxruntime runs it); one opset for every classifier keeps one rule.

The checkpoint's lineage (kind, SHA-256 of the checkpoint, encoder SHA-256, training
settings and seed, metrics, app version, label info) goes into the model's
`metadata_props`, so an exported file can be traced back to what made it. The file is
written atomically. When onnxruntime is installed, every export is checked against torch
on a fixed batch before it is written.
"""

from __future__ import annotations

import copy
import importlib.util
import io
import json
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import engine
from engine.errors import UserError
from engine.files import atomic_write_bytes

if TYPE_CHECKING:  # torch is imported where it is used: the app asks `missing_package` early
    import torch
    from torch import nn

    from engine.store.checkpoint import Checkpoint

OPSET = 20
INPUT, OUTPUT = "image", "p_odd"
EXTRA = "onnx"  # pyproject's optional extra that brings onnx and onnxruntime
INSTALL_HINT = f"pip install 'evenodd-studio[{EXTRA}]' (or pip install onnx onnxruntime)"
TOLERANCE = 1e-4  # largest |P(odd) difference| between onnxruntime and torch we accept
PREFIX = "evenodd."  # of every metadata key we write
INPUT_TEXT = (
    "float32 (N, 1, 28, 28): a 28x28 MNIST-like digit, white ink on black, centred by "
    "mass, pixel value / 255 (no mean/std)"
)
OUTPUT_TEXT = "float32 (N,): P(odd); odd when P(odd) > 0.5"


class ExportError(UserError):
    """The model cannot be exported as asked; the message says why and what to do."""


@dataclass(frozen=True)
class Exported:
    """What `export_onnx` wrote: where, how big, with what metadata, and how it was checked
    (`max_difference` is None when onnxruntime is not installed to check with)."""

    path: Path
    size: int
    metadata: dict[str, str]
    max_difference: float | None
    checked_images: int
    seconds: float


def missing_package() -> str | None:
    """Why export cannot run here (the onnx package is not installed), or None; cheap (no
    import), so the app can say it before anything is clicked."""
    if importlib.util.find_spec("onnx") is not None:
        return None
    from engine.store.resources import is_frozen

    if is_frozen():  # nothing can be pip-installed into the bundle
        return (
            "ONNX export is not part of this bundle; it needs the app installed with pip "
            f"and its onnx extra: {INSTALL_HINT}"
        )
    return f"ONNX export needs the onnx package: {INSTALL_HINT}"


def odd_probability_module(classifier: nn.Module) -> nn.Module:
    """The classifier with its sigmoid: (N, 1, 28, 28) in [0, 1] -> P(odd) (N,)."""
    import torch

    class OddProbability(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.classifier = classifier

        def forward(self, image: torch.Tensor) -> torch.Tensor:
            return torch.sigmoid(self.classifier(image))

    return OddProbability()


def _text(value: Any) -> str:
    """A metadata value: strings as they are, the rest as JSON (metadata_props are strings)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def lineage(checkpoint: Checkpoint) -> dict[str, str]:
    """The metadata an exported file carries: what the classifier is and where it came from."""
    extra = dict(checkpoint.extra)
    labels = {key: value for key, value in extra.items() if "label" in key or key == "drawings"}
    import torch

    values: dict[str, Any] = {
        "kind": checkpoint.kind,
        "checkpoint_file": checkpoint.path.name if checkpoint.path else "",
        # An unsaved classifier (trained in the app, not yet saved) has no file to hash.
        "checkpoint_sha256": checkpoint.sha256 or "not saved to a file",
        "encoder_sha256": checkpoint.encoder_sha256 or "none recorded",
        "arch": checkpoint.arch.to_dict(),
        "deskew": bool(checkpoint.arch.deskew),
        "train_config": checkpoint.train_config,
        "seed": checkpoint.seed,
        "metrics": checkpoint.metrics,
        "labels": labels,
        "extra": extra,
        "created": checkpoint.created,
        "checkpoint_versions": checkpoint.versions,
        "app_version": engine.__version__,
        "torch_version": str(torch.__version__),
        "input": INPUT_TEXT,
        "output": OUTPUT_TEXT,
    }
    return {PREFIX + key: _text(value) for key, value in values.items()}


def _import_onnx() -> Any:
    try:
        import onnx
    except ImportError:
        raise ExportError(missing_package() or f"onnx cannot be imported: {INSTALL_HINT}") from None
    return onnx


def probe_batch(n: int = 32, seed: int = 0) -> torch.Tensor:
    """A fixed batch to compare onnxruntime with torch: sparse bright ink on black (80 % of
    pixels 0, the rest in (0.8, 1]), digit-like in its range, so the deskewing's moments
    and the convolutions see the values they see in use. Deterministic, so a failed check
    can be repeated."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 28, 28, generator=generator)
    return torch.where(x > 0.8, x, torch.zeros(())).contiguous()


def _graph_bytes(classifier: nn.Module) -> bytes:
    """The ONNX graph of P(odd) for a CPU classifier in eval mode."""
    import torch

    module = odd_probability_module(classifier).eval()
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # The tracer notes that the image size (28) becomes a constant: it is meant to be.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export")
        warnings.filterwarnings("ignore", message=".*feature will be removed")
        torch.onnx.export(
            module,
            (probe_batch(2),),
            buffer,
            dynamo=False,
            opset_version=OPSET,
            input_names=[INPUT],
            output_names=[OUTPUT],
            dynamic_axes={INPUT: {0: "batch"}, OUTPUT: {0: "batch"}},
        )
    return buffer.getvalue()


def onnx_session(model: bytes | str | os.PathLike, threads: int | None = None) -> Any:
    """An onnxruntime CPU session (`threads`: intra-op threads; None: onnxruntime's default)."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise ExportError(f"running an ONNX model needs onnxruntime: {INSTALL_HINT}") from None
    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    source = model if isinstance(model, bytes) else os.fspath(model)
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def max_difference(session: Any, classifier: nn.Module, images: torch.Tensor) -> float:
    """Largest |P(odd)| difference between onnxruntime and torch on `images` (N, 1, 28, 28)."""
    import torch

    with torch.no_grad():
        expected = torch.sigmoid(classifier(images)).numpy()
    got = session.run([OUTPUT], {INPUT: images.numpy()})[0]
    if got.shape != expected.shape:
        raise ExportError(f"the exported model gives shape {got.shape}, not {expected.shape}")
    return float(abs(got - expected).max())


def _check(data: bytes, classifier: nn.Module) -> tuple[float | None, int]:
    """(max |ΔP(odd)|, images) against torch; (None, 0) when onnxruntime is not installed."""
    try:
        session = onnx_session(data)
    except ExportError:
        return None, 0
    images = probe_batch()
    difference = max_difference(session, classifier, images)
    if not difference <= TOLERANCE:
        raise ExportError(
            f"the exported model disagrees with torch (P(odd) differs by {difference:.2g}, "
            f"more than {TOLERANCE:g}); nothing was written"
        )
    return difference, len(images)


def export_onnx(checkpoint: Checkpoint, out: str | os.PathLike) -> Exported:
    """Write `checkpoint`'s classifier to `out` as ONNX with its lineage (see the module doc).

    Raises ExportError (no onnx package, not a classifier, a failed check) or PathError
    (cannot write `out`); on any error `out` is left as it was.
    """
    if checkpoint.kind != "classifier":
        raise ExportError(f"only a classifier can be exported, not an {checkpoint.kind}")
    onnx = _import_onnx()
    start = time.perf_counter()
    # A copy on the CPU in eval mode (no dropout): the caller's model is never touched,
    # whatever device or mode it is in (the app's Draw tab may be using it meanwhile).
    classifier = copy.deepcopy(checkpoint.model).cpu().eval()
    graph = onnx.load_from_string(_graph_bytes(classifier))
    metadata = lineage(checkpoint)
    onnx.helper.set_model_props(graph, metadata)
    graph.producer_name = "evenodd-studio"
    graph.producer_version = engine.__version__
    graph.doc_string = (
        f"Even/Odd Studio classifier. Input {INPUT}: {INPUT_TEXT}. Output {OUTPUT}: {OUTPUT_TEXT}."
    )
    onnx.checker.check_model(graph)
    data = graph.SerializeToString()
    difference, checked = _check(data, classifier)
    atomic_write_bytes(out, data)
    return Exported(
        Path(out), len(data), metadata, difference, checked, time.perf_counter() - start
    )
