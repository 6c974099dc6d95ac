"""Reproduce the default model shipped in resources/default_model/ and record how it was made.

The app ships a model so that the Draw panel and `evenodd predict` work on first launch
with no data and no network. That model must be nothing special: it is what the project's
own `evenodd run` makes with its default settings and a fixed seed, so anyone can check
it. This script runs exactly that command on the MNIST files, copies the three checkpoints
into resources/default_model/ and writes provenance.json and PROVENANCE.md beside them:
the command, seed, settings, SHA-256 of the four MNIST files (uncompressed content), test
accuracy, drawing-set accuracy (bench/drawing_accuracy.py), library versions and date.

    python packaging/make_default_model.py [--data-dir ../shared/mnist]
        [--run-dir runs/default-model] [--reuse] [--drawings 5000]

--reuse adopts a finished `evenodd run` in --run-dir instead of training again (training
takes several minutes on a 2-core CPU), after checking it used the default settings.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import platform
import shlex
import shutil
import sys
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from engine.store.resources import DEFAULT_MODEL_DIR  # noqa: E402

SEED = 0
KINDS = ("classifier", "encoder", "autoencoder")
DEFAULT_DATA = ROOT.parent / "shared" / "mnist"
# SHA-256 of the uncompressed MNIST files, as published with the data (shared/mnist/README.md).
KNOWN_MNIST_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
LIBRARIES = ("torch", "numpy", "Pillow", "scikit-learn", "matplotlib", "PySide6-Essentials")


def mnist_checksums(data_dir: Path) -> dict[str, dict]:
    """SHA-256 of each MNIST file's uncompressed bytes: gzip output differs between copies
    of MNIST, the content does not, so only this identifies the data."""
    from engine.data.mnist import find_files

    files = find_files(data_dir)
    if files is None:
        raise SystemExit(f"no MNIST files in {data_dir}")
    result = {}
    for path in files.values():
        opener = gzip.open if path.suffix == ".gz" else open
        digest = hashlib.sha256()
        with opener(path, "rb") as handle:
            for block in iter(lambda h=handle: h.read(1 << 20), b""):
                digest.update(block)
        name = path.name.removesuffix(".gz")
        known = KNOWN_MNIST_SHA256.get(name)
        result[name] = {
            "sha256": digest.hexdigest(),
            "matches_published": known == digest.hexdigest(),
        }
    return result


def run_command(data_dir: Path, run_dir: Path) -> list[str]:
    """The `evenodd run` arguments: default settings, only the data, output and seed given."""
    return ["run", "--data-dir", str(data_dir), "--out", str(run_dir), "--seed", str(SEED)]


def check_defaults(metrics: dict) -> None:
    """Refuse to adopt a run whose settings are not the defaults this script documents."""
    from engine.jobs.pipeline import RunSettings

    expected = RunSettings().to_dict()
    recorded = dict(metrics.get("settings", {}))
    for group in ("pretrain", "finetune"):  # the seed is given on the command line
        expected[group] = expected[group] | {"seed": SEED}
    if recorded != expected:
        raise SystemExit(
            f"the run was made with other settings than the defaults:\n{recorded}\nvs\n{expected}"
        )


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_markdown(path: Path, record: dict) -> None:
    """A person's view of provenance.json, so the model's origin shows on GitHub too."""
    drawing = record["drawing_set"]
    rows = "\n".join(
        f"| {name} | {info['sha256']} | {'yes' if info['matches_published'] else 'NO'} |"
        for name, info in record["mnist_sha256_uncompressed"].items()
    )
    files = "\n".join(
        f"| {name} | {info['bytes']:,} | {info['sha256']} |"
        for name, info in record["files"].items()
    )
    text = f"""# Default model: how it was made

Written by `packaging/make_default_model.py` on {record["date"]}; the same facts are in
`provenance.json`, which `--self-test` reads to check that the files are the ones made here.

Command (from the repository root):

    {record["command"]}

which ran `{record["evenodd_command"]}` (default settings of `engine/config.py`, seed
{record["seed"]}), in {record["seconds_run"]:.0f} s on {record["machine"]}.

| result | value |
|---|---|
| MNIST test accuracy (n = 10,000) | {record["test"]["accuracy"]:.4f} |
| MNIST test F1 (odd) | {record["test"]["f1"]:.4f} |
| drawing-set accuracy (n = {drawing["n"]:,}, seed {drawing["seed"]}) | \
{drawing["drawing_accuracy"]:.4f} |
| gap to MNIST test accuracy | {drawing["gap_points"]:+.2f} points |
| gap to the drawings' own source digits | {drawing["paired_gap_points"]:+.2f} points |

The drawing set: `python bench/drawing_accuracy.py --n {drawing["n"]} --seed {drawing["seed"]}`
(MNIST test digits drawn on canvases of random size, aspect, position, pen width, blur,
polarity and noise by `engine.data.drawings.simulate_drawings`, then
`engine.data.preprocess.to_mnist`).

MNIST files (SHA-256 of the uncompressed content):

| file | sha256 | matches the published checksum |
|---|---|---|
{rows}

Shipped files:

| file | bytes | sha256 |
|---|---|---|
{files}

Libraries: {", ".join(f"{k} {v}" for k, v in record["versions"].items())}.
{f"{chr(10)}Note: {record['note']}{chr(10)}" if record.get("note") else ""}"""
    path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--run-dir", type=Path, default=ROOT / "runs" / "default-model")
    parser.add_argument("--out", type=Path, default=ROOT / "resources" / DEFAULT_MODEL_DIR)
    parser.add_argument("--reuse", action="store_true", help="adopt a finished run in --run-dir")
    parser.add_argument("--drawings", type=int, default=5_000, help="size of the drawing set")
    parser.add_argument("--note", default="", help="anything a reader of the provenance must know")
    args = parser.parse_args(argv)
    data_dir, run_dir = args.data_dir.resolve(), args.run_dir.resolve()

    from bench.drawing_accuracy import measure
    from engine.cli.commands import main as evenodd
    from engine.data.mnist import read_folder
    from engine.store.checkpoint import load_checkpoint

    checksums = mnist_checksums(data_dir)
    bad = [name for name, info in checksums.items() if not info["matches_published"]]
    if bad:
        print(f"warning: these MNIST files differ from the published data: {bad}", file=sys.stderr)
    command = run_command(data_dir, run_dir)
    metrics_file = run_dir / "metrics.json"
    if args.reuse and metrics_file.is_file():
        print(f"adopting the finished run in {run_dir}")
    else:
        started = time.perf_counter()
        status = evenodd(command)
        if status != 0:
            print(f"evenodd run failed with status {status}", file=sys.stderr)
            return status
        print(f"evenodd run took {time.perf_counter() - started:.0f} s")
    metrics = json.loads(metrics_file.read_text(encoding="utf-8"))
    check_defaults(metrics)

    args.out.mkdir(parents=True, exist_ok=True)
    files = {}
    for kind in KINDS:
        source = run_dir / f"{kind}.pt"
        load_checkpoint(source, expect=(kind,))  # what the app will do with it
        target = args.out / f"{kind}.pt"
        shutil.copyfile(source, target)
        files[target.name] = {"sha256": _sha256(target), "bytes": target.stat().st_size}

    data = read_folder(data_dir)
    classifier = load_checkpoint(args.out / "classifier.pt", expect=("classifier",)).model
    drawing = measure(
        classifier, data.test_images.numpy(), data.test_labels.numpy(), args.drawings, SEED
    )
    shown_run_dir = run_dir.relative_to(ROOT) if run_dir.is_relative_to(ROOT) else run_dir
    record = {
        "command": "python packaging/make_default_model.py "
        + shlex.join(["--data-dir", str(args.data_dir), "--run-dir", str(shown_run_dir)]),
        "evenodd_command": "evenodd " + shlex.join(command),
        "seed": SEED,
        "settings": metrics["settings"],
        "mnist_sha256_uncompressed": checksums,
        "test": {k: metrics["test"][k] for k in ("accuracy", "precision", "recall", "f1", "n")},
        "validation_accuracy": metrics["finetune"]["val_accuracy"],
        "pretrain_val_mse": metrics["pretrain"]["val_mse"],
        "seconds_run": metrics["seconds_total"],
        "drawing_set": drawing.to_dict(),
        "versions": versions(),
        "trained_with": metrics.get("versions", {}),
        "machine": f"{platform.machine()} CPU, {metrics.get('device', 'cpu')}",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "files": files,
        "note": args.note,
    }
    (args.out / "provenance.json").write_text(json.dumps(record, indent=2) + "\n", "utf-8")
    write_markdown(args.out / "PROVENANCE.md", record)
    print(
        f"default model: test accuracy {record['test']['accuracy']:.4f}, drawing-set accuracy "
        f"{drawing.drawing_accuracy:.4f} (n={drawing.n}), gap {drawing.gap:+.2f} points; "
        f"wrote {args.out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
