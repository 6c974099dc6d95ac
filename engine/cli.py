"""`evenodd`: the engine on the command line (also `python main.py <command>`).

Exit status: 0 success, 1 failure (bad data, bad files, a run that diverged), 2 wrong
arguments, 130 stopped with Ctrl+C. Errors are one plain line on stderr; `--debug` shows
the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from engine.config import PRECISIONS

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_STOPPED = 0, 1, 2, 130


class UsageError(Exception):
    """Arguments that argparse accepted but that make no sense together."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not the whole usage text
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def int_at_least(low: int) -> Callable[[str], int]:
    """An argparse type: a whole number of at least `low` (also used by `compare`)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{value} must be {low} or more")
        return value

    return parse


def number_between(
    low: float, high: float = math.inf, *, low_included: bool = False, high_included: bool = False
) -> Callable[[str], float]:
    """An argparse type: a finite number between `low` and `high` (also used by `compare`)."""
    bounds = f"{'at least' if low_included else 'above'} {low:g}"
    if high != math.inf:
        bounds += f" and {'at most' if high_included else 'below'} {high:g}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        above = value >= low if low_included else value > low
        below = value <= high if high_included else value < high
        if not (above and below and math.isfinite(value)):
            raise argparse.ArgumentTypeError(f"{text} must be a number {bounds}")
        return value

    return parse


def _labels(text: str) -> str:
    if text.strip().lower() != "all":
        int_at_least(1)(text)
    return text


def _add_common(parser: argparse.ArgumentParser, data: bool = True) -> None:
    if data:
        parser.add_argument(
            "--data-dir",
            type=Path,
            default=None,
            help="folder with the four MNIST files (.gz or plain, flat or MNIST/raw); "
            "default: the per-user data folder, downloading MNIST there if needed",
        )
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")


def _add_arch(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--arch", choices=("conv", "mlp"), default="conv")
    parser.add_argument("--latent", type=int_at_least(1), default=64, help="latent size")
    parser.add_argument("--dropout", type=number_between(0, 1, low_included=True), default=0.1)
    parser.add_argument("--width", type=int_at_least(1), default=16, help="conv channels")


def _add_training(parser: argparse.ArgumentParser, prefix: str, defaults) -> None:
    """Training options; `prefix` ('' or 'pretrain-'/'finetune-') keeps `run`'s apart."""
    dest = prefix.replace("-", "_")
    parser.add_argument(
        f"--{prefix}epochs", dest=f"{dest}epochs", type=int_at_least(1), default=defaults.epochs
    )
    parser.add_argument(
        f"--{prefix}batch-size",
        dest=f"{dest}batch_size",
        type=int_at_least(1),
        default=defaults.batch_size,
    )
    parser.add_argument(
        f"--{prefix}lr",
        dest=f"{dest}lr",
        type=number_between(0),
        default=defaults.lr,
        help="learning rate (peak)",
    )
    parser.add_argument(
        f"--{prefix}patience",
        dest=f"{dest}patience",
        type=int_at_least(1),
        default=defaults.patience,
        help="early-stopping patience (epochs)",
    )
    parser.add_argument(
        f"--{prefix}min-delta", dest=f"{dest}min_delta", type=float, default=defaults.min_delta
    )
    parser.add_argument(
        f"--{prefix}precision",
        dest=f"{dest}precision",
        choices=PRECISIONS,
        default=defaults.precision,
        help="of the training step's matrix products; auto: bfloat16 where the hardware "
        "has it (CPUs with AMX, recent GPUs), float32 elsewhere",
    )


def build_parser() -> argparse.ArgumentParser:
    from engine import __version__

    # engine.config has no torch import, so `evenodd --help` and usage errors stay quick.
    from engine.config import DEFAULT_FINETUNE, DEFAULT_PRETRAIN

    parser = _Parser(prog="evenodd", description="Even/Odd Studio on the command line.")
    parser.add_argument("--version", action="version", version=f"evenodd {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    p = commands.add_parser("pretrain", help="train an autoencoder without labels")
    _add_common(p)
    _add_arch(p)
    _add_training(p, "", DEFAULT_PRETRAIN)
    p.add_argument("--seed", type=int_at_least(0), default=0)
    p.add_argument("--out", type=Path, required=True, help="folder for the checkpoints")

    p = commands.add_parser("finetune", help="train the even/odd classifier")
    _add_common(p)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--encoder", type=Path, help="encoder (or autoencoder) checkpoint")
    source.add_argument("--scratch", action="store_true", help="fresh encoder, no pretraining")
    _add_arch(p)
    _add_training(p, "", DEFAULT_FINETUNE)
    p.add_argument("--labels", type=_labels, default="all", help="label budget: N or all")
    p.add_argument("--freeze-encoder", action="store_true")
    p.add_argument("--no-augment", action="store_true", help="no training-time augmentation")
    p.add_argument("--seed", type=int_at_least(0), default=0)
    p.add_argument("--out", type=Path, required=True)

    p = commands.add_parser(
        "evaluate", help="score a classifier on the MNIST test set or on your drawings"
    )
    _add_common(p)
    p.add_argument("--model", type=Path, required=True, help="classifier checkpoint")
    p.add_argument(
        "--drawings",
        type=Path,
        default=None,
        metavar="DIR",
        help="score on a folder of 28x28 PNGs with a labels.csv (columns file,parity) "
        "instead of MNIST, e.g. the one the Draw tab saves into",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = commands.add_parser("predict", help="even or odd for image files")
    _add_common(p, data=False)
    p.add_argument("--model", type=Path, default=None, help="default: the shipped model")
    p.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    p.add_argument("--json", action="store_true", help="one JSON object per image")

    p = commands.add_parser("run", help="the whole job: pretrain, fine-tune, evaluate, report")
    _add_common(p)
    _add_arch(p)
    _add_training(p, "pretrain-", DEFAULT_PRETRAIN)
    _add_training(p, "finetune-", DEFAULT_FINETUNE)
    p.add_argument("--labels", type=_labels, default="all")
    p.add_argument("--freeze-encoder", action="store_true")
    p.add_argument("--no-augment", action="store_true")
    p.add_argument("--seed", type=int_at_least(0), default=0)
    p.add_argument("--out", type=Path, required=True)

    try:
        from engine.study.cli import add_compare_parser
    except ImportError:
        pass
    else:
        add_compare_parser(commands, _add_common)
    return parser


def _stop_on_ctrl_c() -> threading.Event:
    """First Ctrl+C asks the training loop to stop (best weights kept); a second one kills."""
    stop = threading.Event()

    def handler(signum, frame) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        print("\nstopping after this batch (Ctrl+C again to abort)", file=sys.stderr)

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, handler)
    return stop


def _train_config(args: argparse.Namespace, prefix: str = "", augment: bool = False):
    from engine.config import TrainConfig

    get = lambda name: getattr(args, f"{prefix}{name}")  # noqa: E731
    return TrainConfig(
        epochs=get("epochs"),
        batch_size=get("batch_size"),
        lr=get("lr"),
        patience=get("patience"),
        min_delta=get("min_delta"),
        precision=get("precision"),
        seed=args.seed,
        device=args.device,
        augment=augment,
    ).validate()


def _arch(args: argparse.Namespace):
    from engine.config import ArchConfig

    return ArchConfig(
        arch=args.arch, latent=args.latent, dropout=args.dropout, width=args.width
    ).validate()


def _data(args: argparse.Namespace, report):
    from engine.data import load_mnist

    return load_mnist(args.data_dir, report)


def _print(text: str) -> None:
    print(text, flush=True)


def cmd_pretrain(args: argparse.Namespace, report, stop) -> int:
    from engine.checkpoint import save_checkpoint
    from engine.training import pretrain

    arch, cfg = _arch(args), _train_config(args)
    data = _data(args, report)
    result = pretrain(data, arch, cfg, report, stop.is_set)
    finished = result.fit.finished
    metrics = {"val_mse": result.val_mse, "best_epoch": finished.best_epoch}
    common = {"train_config": cfg.to_dict(), "metrics": metrics, "seed": cfg.seed}
    save_checkpoint(args.out / "autoencoder.pt", result.model, arch, **common)
    save_checkpoint(args.out / "encoder.pt", result.model, arch, kind="encoder", **common)
    _print(
        f"validation MSE {result.val_mse:.5f}; wrote {args.out / 'encoder.pt'} and "
        f"{args.out / 'autoencoder.pt'}"
    )
    return _status_code(finished.status)


def _status_code(status: str) -> int:
    return {"diverged": EXIT_FAILURE, "stopped": EXIT_STOPPED}.get(status, EXIT_OK)


def cmd_finetune(args: argparse.Namespace, report, stop) -> int:
    from engine.checkpoint import load_checkpoint, save_checkpoint
    from engine.data import label_budget, parse_budget, split_train_val
    from engine.training import finetune

    cfg = _train_config(args, augment=not args.no_augment)
    encoder, encoder_sha = None, None
    if args.encoder is not None:
        loaded = load_checkpoint(args.encoder)
        arch, encoder, encoder_sha = loaded.arch, loaded.encoder, loaded.sha256
    else:
        arch = _arch(args)
    data = _data(args, report)
    split = split_train_val(len(data.train_images))
    labelled = label_budget(data.train_labels, split.train, parse_budget(args.labels), args.seed)
    result = finetune(
        data, arch, cfg, labelled, encoder, args.freeze_encoder, report, stop.is_set, split=split
    )
    save_checkpoint(
        args.out / "classifier.pt",
        result.model,
        arch,
        train_config=cfg.to_dict(),
        metrics={"val_accuracy": result.val_accuracy},
        seed=cfg.seed,
        encoder_sha256=encoder_sha,
        extra={"labels": len(labelled), "freeze_encoder": args.freeze_encoder},
    )
    _print(
        f"validation accuracy {result.val_accuracy:.4f} with {len(labelled)} labels; "
        f"wrote {args.out / 'classifier.pt'}"
    )
    return _status_code(result.fit.finished.status)


def cmd_evaluate(args: argparse.Namespace, report, stop) -> int:
    from engine.checkpoint import load_checkpoint
    from engine.evaluate import evaluate

    if args.drawings is not None and args.data_dir is not None:
        print("evenodd evaluate: error: give --drawings or --data-dir, not both", file=sys.stderr)
        return EXIT_USAGE
    model = load_checkpoint(args.model, expect=("classifier",)).model
    names: list[str] = []  # of the drawings, when scoring drawings
    if args.drawings is not None:
        result, names = _evaluate_drawings(model, args.drawings)
    else:
        data = _data(args, report)
        result = evaluate(model, data.test_images, data.test_labels)
    if args.json:
        _print(json.dumps(result.to_dict()))
    else:
        _print(
            f"accuracy {result.accuracy:.4f}  precision {result.precision:.4f}  "
            f"recall {result.recall:.4f}  F1 {result.f1:.4f}  (n={result.n})"
        )
        _print(result.report_text)
        _print(f"confusion matrix (rows true even/odd, columns predicted):\n{result.confusion}")
        if names:
            wrong = [f"{names[i]} (P(odd) {result.p_odd[i]:.2f})" for i in result.misclassified]
            _print(f"misclassified drawings: {', '.join(wrong) or 'none'}")
    return EXIT_OK


def _evaluate_drawings(model, folder: Path):
    """Score on a drawings folder; each skipped file is one warning line on stderr."""
    from engine.personal import evaluate_drawings, load_drawings

    drawings = load_drawings(folder)
    for problem in drawings.problems:
        print(f"evenodd: skipped {problem}", file=sys.stderr)
    return evaluate_drawings(model, drawings), drawings.files


def cmd_predict(args: argparse.Namespace, report, stop) -> int:
    import torch

    from engine.checkpoint import CheckpointError, load_checkpoint
    from engine.preprocess import ImageError, preprocess_file, to_model_input
    from engine.resources import default_model_path

    path = args.model
    if path is None:
        path = default_model_path()
        if not path.is_file():
            raise CheckpointError(
                "no default model is shipped with this copy of the app; pass --model FILE"
            )
    model = load_checkpoint(path, expect=("classifier",)).model
    failed = 0
    for image in args.images:
        try:
            pixels = preprocess_file(image)
        except ImageError as exc:
            failed += 1
            if args.json:
                _print(json.dumps({"file": str(image), "error": str(exc)}))
            else:
                print(f"{image}: error: {exc}", file=sys.stderr)
            continue
        with torch.no_grad():
            p_odd = float(torch.sigmoid(model(torch.from_numpy(to_model_input(pixels))))[0])
        parity = "odd" if p_odd > 0.5 else "even"
        if args.json:
            _print(json.dumps({"file": str(image), "parity": parity, "p_odd": p_odd}))
        else:
            _print(f"{image}: {parity} (P(odd) = {p_odd:.3f})")
    return EXIT_FAILURE if failed else EXIT_OK


def cmd_run(args: argparse.Namespace, report, stop) -> int:
    from engine.data import parse_budget
    from engine.pipeline import RunSettings, run_pipeline

    settings = RunSettings(
        arch=_arch(args),
        pretrain=_train_config(args, "pretrain_"),
        finetune=_train_config(args, "finetune_", augment=not args.no_augment),
        labels=parse_budget(args.labels),
        freeze_encoder=args.freeze_encoder,
    )
    data = _data(args, report)
    outcome = run_pipeline(data, args.out, settings, report, stop.is_set)
    if outcome.metrics:
        test = outcome.metrics["test"]
        _print(
            f"test accuracy {test['accuracy']:.4f}  F1 {test['f1']:.4f}  "
            f"in {outcome.metrics['seconds_total']:.0f} s"
        )
    for role, path in outcome.files.items():
        _print(f"{role}: {path}")
    return _status_code(outcome.status)


COMMANDS = {
    "pretrain": cmd_pretrain,
    "finetune": cmd_finetune,
    "evaluate": cmd_evaluate,
    "predict": cmd_predict,
    "run": cmd_run,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from engine.console import ConsoleReporter

    report = ConsoleReporter(quiet=args.quiet)
    stop = _stop_on_ctrl_c()
    handler = COMMANDS.get(args.command) or getattr(args, "handler", None)
    try:
        return handler(args, report, stop)
    except ValueError as exc:  # the engine's errors all say in plain words what is wrong
        if args.debug:
            raise
        print(f"evenodd: error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("evenodd: stopped", file=sys.stderr)
        return EXIT_STOPPED
    except Exception as exc:
        if args.debug:
            raise
        print(
            f"evenodd: unexpected error: {type(exc).__name__}: {exc} "
            "(run again with --debug for details)",
            file=sys.stderr,
        )
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
