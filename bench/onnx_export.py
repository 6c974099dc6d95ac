"""Does the exported ONNX model answer as the app does, and how fast is it beside torch?

Exports a classifier (`engine.store.export.export_onnx`, as `evenodd export` does), then on
the 10,000 real MNIST test images, scaled as `preprocess.to_model_input` scales them:
- how many get a different parity from onnxruntime than from torch, and the largest
  |P(odd)| difference;
- single-image latency (one 28x28 image per call, as the Draw tab classifies): the median
  and 90th percentile of `--calls` calls of onnxruntime's `session.run` and of the app's
  own torch path (`workflows.odd_probabilities`), timed alternately in the same run so both
  see the same machine load; with one thread and with each library's default.

    python bench/onnx_export.py [--model resources/default_model/classifier.pt]
        [--data-dir ../shared/mnist] [--calls 1000] [--json]

Needs the onnx extra (pip install -e ".[onnx]").
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere, like the other benchmarks
    sys.path.insert(0, str(ROOT))

from engine.data.mnist import predicted_odd, read_folder  # noqa: E402
from engine.data.preprocess import PIXEL_SCALE  # noqa: E402
from engine.jobs.workflows import odd_probabilities  # noqa: E402
from engine.store.checkpoint import load_checkpoint  # noqa: E402
from engine.store.export import INPUT, OUTPUT, export_onnx, onnx_session  # noqa: E402
from engine.store.resources import default_model_path  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "mnist"
WARM_UP = 50


def model_inputs(images: torch.Tensor) -> np.ndarray:
    """uint8 (N, 28, 28) -> float32 (N, 1, 28, 28), scaled exactly as to_model_input does."""
    scaled = images.numpy().astype(np.float32) * np.float32(PIXEL_SCALE)
    return scaled.reshape(-1, 1, 28, 28)


def agreement(session, model, inputs: np.ndarray) -> dict:
    onnx_p = session.run([OUTPUT], {INPUT: inputs})[0]
    torch_p = np.concatenate(
        [odd_probabilities(model, inputs[i : i + 1000]) for i in range(0, len(inputs), 1000)]
    )
    differs = predicted_odd(onnx_p) != predicted_odd(torch_p)
    return {
        "images": len(inputs),
        "parity_differs": int(differs.sum()),
        "max_abs_diff_p_odd": float(np.abs(onnx_p - torch_p).max()),
    }


def latency(session, model, image: np.ndarray, calls: int) -> dict:
    """Median and 90th percentile (ms) of single-image calls, the two libraries alternating."""
    times: dict[str, list[float]] = {"onnxruntime": [], "torch": []}
    for i in range(WARM_UP + calls):
        for name in ("onnxruntime", "torch") if i % 2 else ("torch", "onnxruntime"):
            start = time.perf_counter()
            if name == "torch":
                odd_probabilities(model, image)
            else:
                session.run([OUTPUT], {INPUT: image})
            if i >= WARM_UP:
                times[name].append((time.perf_counter() - start) * 1000)
    result = {}
    for name, values in times.items():
        values.sort()
        result[name] = {
            "median_ms": statistics.median(values),
            "p90_ms": values[int(0.9 * (len(values) - 1))],
        }
    result["torch_over_onnxruntime"] = (
        result["torch"]["median_ms"] / result["onnxruntime"]["median_ms"]
    )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=default_model_path("classifier"))
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    checkpoint = load_checkpoint(args.model, expect=("classifier",))
    model = checkpoint.model
    inputs = model_inputs(read_folder(args.data_dir).test_images)
    default_threads = torch.get_num_threads()
    with tempfile.TemporaryDirectory() as folder:
        exported = export_onnx(checkpoint, Path(folder) / "classifier.onnx")
        sessions = {
            "1": onnx_session(exported.path, threads=1),
            "default": onnx_session(exported.path),
        }
    report: dict = {
        "model": str(args.model),
        "deskew": checkpoint.arch.deskew,
        "onnx_bytes": exported.size,
        "export_seconds": exported.seconds,
        "agreement": agreement(sessions["default"], model, inputs),
        "latency": {},
        "calls": args.calls,
        "torch_default_threads": default_threads,
        "load_average_1min": os.getloadavg()[0],
    }
    for threads, session in sessions.items():
        torch.set_num_threads(1 if threads == "1" else default_threads)
        report["latency"][f"threads={threads}"] = latency(session, model, inputs[:1], args.calls)
    torch.set_num_threads(default_threads)

    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    agree = report["agreement"]
    print(f"model {args.model} (deskew {report['deskew']}); ONNX {exported.size / 1024:.0f} KB, "
          f"exported in {exported.seconds:.1f} s")  # fmt: skip
    print(f"MNIST test, {agree['images']:,} images: parity differs on {agree['parity_differs']}, "
          f"max |ΔP(odd)| {agree['max_abs_diff_p_odd']:.2e}")  # fmt: skip
    print(f"single-image latency, median (p90) of {args.calls} calls each, alternating "
          f"(load average {report['load_average_1min']:.1f}):")  # fmt: skip
    for threads, result in report["latency"].items():
        ort, pt = result["onnxruntime"], result["torch"]
        print(f"  {threads:<16} onnxruntime {ort['median_ms']:.3f} ms ({ort['p90_ms']:.3f})  "
              f"torch {pt['median_ms']:.3f} ms ({pt['p90_ms']:.3f})  "
              f"torch/onnxruntime {result['torch_over_onnxruntime']:.1f}x")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
