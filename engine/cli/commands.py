"""`evenodd`: the engine on the command line (also `python main.py <command>`).

Exit status: 0 success, 1 failure (bad data, bad files, a run that diverged), 2 wrong
arguments, 130 stopped with Ctrl+C. Errors are one plain line on stderr; `--debug` shows
the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from engine.config import PRECISIONS
from engine.options import (
    ARCH_OPTIONS,
    SEMISUP_OPTIONS,
    STEPS_OPTION,
    TRAIN_OPTIONS,
    Option,
    int_at_least,
    number_between,  # noqa: F401  (tests and older callers)
)

if TYPE_CHECKING:  # the CLI loads torch only for commands that train
    from engine.config import ArchConfig, TrainConfig
    from engine.jobs.workflows import EncoderSource, FinetuneJob

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_STOPPED = 0, 1, 2, 130


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not the whole usage text
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


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


def _add_option(
    parser: argparse.ArgumentParser, option: Option, default: float, prefix: str = ""
) -> None:
    """`--{prefix}{name}` from a row of the settings table (engine.options)."""
    parser.add_argument(
        f"--{prefix}{option.name.replace('_', '-')}",
        dest=f"{prefix.replace('-', '_')}{option.name}",
        type=option.parse,
        default=default,
        help=f"{option.help} ({option.bounds_text()}; default %(default)s)",
    )


def _add_arch(parser: argparse.ArgumentParser) -> None:
    from engine.config import DEFAULT_ARCH

    parser.add_argument("--arch", choices=("conv", "mlp"), default=DEFAULT_ARCH.arch)
    for name in ("latent", "dropout", "width"):
        _add_option(parser, ARCH_OPTIONS[name], getattr(DEFAULT_ARCH, name))


def _add_training(parser: argparse.ArgumentParser, prefix: str, defaults) -> None:
    """Training options; `prefix` ('' or 'pretrain-'/'finetune-') keeps `run`'s apart."""
    for name in ("epochs", "batch_size", "lr", "patience", "min_delta"):
        _add_option(parser, TRAIN_OPTIONS[name], getattr(defaults, name), prefix)
    parser.add_argument(
        f"--{prefix}precision",
        dest=f"{prefix.replace('-', '_')}precision",
        choices=PRECISIONS,
        default=defaults.precision,
        help="of the training step's matrix products; auto: bfloat16 where the hardware "
        "has it (CPUs with AMX or AVX-512 BF16, recent GPUs), float32 elsewhere",
    )


def _add_budget(parser: argparse.ArgumentParser) -> None:
    """The label budget and, below all labels, how the unlabelled images are used."""
    from engine.config import SemiSupConfig
    from engine.options import LABEL_KINDS, PICK_HELP, PICKS

    parser.add_argument(
        "--labels", type=_labels, default=None, help="label budget: N labelled images, or all"
    )
    parser.add_argument(
        "--pick",
        choices=PICKS,
        default=PICKS[0],
        help="below all labels, which images get labelled: "
        + "; ".join(f"{name}: {words}" for name, words in PICK_HELP.items())
        + f" (default {PICKS[0]})",
    )
    parser.add_argument(
        "--label-kind",
        choices=LABEL_KINDS,
        default=LABEL_KINDS[0],
        help="what the chosen images are labelled with: their digit, or only even/odd "
        f"(default {LABEL_KINDS[0]})",
    )
    parser.add_argument(
        "--labels-file",
        type=Path,
        default=None,
        help="learn from the labels in this CSV (index,label: the position in the MNIST "
        "training file, and a digit 0-9, even or odd), as the app's Label tab writes them; "
        "instead of --labels and --pick",
    )
    parser.add_argument(
        "--no-unlabelled",
        dest="unlabelled",
        action="store_false",
        help="below all labels, learn from the N labelled images alone (default: also from "
        "the unlabelled training images, semi-supervised)",
    )
    parser.add_argument("--steps", type=STEPS_OPTION.parse, default=None, help=STEPS_OPTION.help)
    parser.add_argument(
        "--deskew",
        choices=tuple(DESKEW_CHOICES),
        default="auto",
        help="the classifier shears each digit upright before reading it; auto: below all "
        "labels only, where it pays (default auto)",
    )
    for option in SEMISUP_OPTIONS.values():
        _add_option(parser, option, getattr(SemiSupConfig(), option.name))


DESKEW_CHOICES = {"auto": None, "on": True, "off": False}  # --deskew -> FinetuneJob.deskew


def _semisup(args: argparse.Namespace):
    from engine.config import SemiSupConfig

    return SemiSupConfig(**{name: getattr(args, name) for name in SEMISUP_OPTIONS}).validate()


def _add_seed(parser: argparse.ArgumentParser) -> None:
    _add_option(parser, TRAIN_OPTIONS["seed"], 0)


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
    _add_seed(p)
    p.add_argument("--out", type=Path, required=True, help="folder for the checkpoints")

    p = commands.add_parser("finetune", help="train the even/odd classifier")
    _add_common(p)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--encoder", type=Path, help="encoder (or autoencoder) checkpoint")
    source.add_argument("--scratch", action="store_true", help="fresh encoder, no pretraining")
    _add_arch(p)
    _add_training(p, "", DEFAULT_FINETUNE)
    _add_budget(p)
    p.add_argument("--freeze-encoder", action="store_true")
    p.add_argument("--no-augment", action="store_true", help="no training-time augmentation")
    _add_seed(p)
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
        help="score on a folder of images with a labels.csv (columns file,parity) instead "
        "of MNIST, e.g. the one the Draw tab saves into; 28x28 images are taken as they are, "
        "others are preprocessed as by predict",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = commands.add_parser("predict", help="even or odd for image files")
    _add_common(p, data=False)
    p.add_argument("--model", type=Path, default=None, help="default: the shipped model")
    p.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    p.add_argument("--json", action="store_true", help="one JSON object per image")

    p = commands.add_parser(
        "export", help="write a classifier as ONNX, for use outside the app (onnxruntime)"
    )
    _add_common(p, data=False)
    p.add_argument("--model", type=Path, required=True, help="classifier checkpoint")
    p.add_argument(
        "--onnx",
        type=Path,
        required=True,
        metavar="OUT.onnx",
        help="the ONNX file to write: input image float32 (N,1,28,28) in [0,1] (the 28x28 "
        "MNIST-like digit / 255), output p_odd (N,); needs the onnx extra",
    )

    p = commands.add_parser("run", help="the whole job: pretrain, fine-tune, evaluate, report")
    _add_common(p)
    _add_arch(p)
    _add_training(p, "pretrain-", DEFAULT_PRETRAIN)
    _add_training(p, "finetune-", DEFAULT_FINETUNE)
    _add_budget(p)
    p.add_argument("--freeze-encoder", action="store_true")
    p.add_argument("--no-augment", action="store_true")
    _add_seed(p)
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
    from engine.data.mnist import load_mnist

    return load_mnist(args.data_dir, report)


def _print(text: str) -> None:
    print(text, flush=True)


def cmd_pretrain(args: argparse.Namespace, report, stop) -> int:
    from engine.jobs.workflows import PretrainJob, RunOptions, pretrain_and_save

    job = PretrainJob(_arch(args), _train_config(args))
    run = RunOptions(args.out, report, stop.is_set)
    trained = pretrain_and_save(_data(args, report), job, run)
    _print(
        f"validation MSE {trained.result.val_mse:.5f}; wrote {trained.files['encoder']} and "
        f"{trained.files['autoencoder']}"
    )
    return _status_code(trained.finished.status)


def _status_code(status: str) -> int:
    return {"diverged": EXIT_FAILURE, "stopped": EXIT_STOPPED}.get(status, EXIT_OK)


def _finetune_job(
    args: argparse.Namespace, train: TrainConfig, encoder: EncoderSource, arch: ArchConfig
) -> FinetuneJob:
    """The fine-tuning job the options describe, for `finetune` and `run` alike."""
    from engine.data.labels import read_labels_file
    from engine.data.mnist import parse_budget
    from engine.errors import ConfigError
    from engine.jobs.workflows import FinetuneJob

    given = None
    if args.labels_file is not None:
        if args.labels is not None:
            raise ConfigError("give either --labels or --labels-file, not both")
        given = read_labels_file(args.labels_file)
        if len(given) == 0:
            raise ConfigError(f"{args.labels_file} holds no labels yet")
    return FinetuneJob(
        arch=arch,
        train=train,
        labels=parse_budget(args.labels),
        pick=args.pick,
        label_kind=args.label_kind,
        given=given,
        encoder=encoder,
        freeze=args.freeze_encoder,
        unlabelled=args.unlabelled,
        semisup=_semisup(args),
        steps=args.steps,
        deskew=DESKEW_CHOICES[args.deskew],
    )


def cmd_finetune(args: argparse.Namespace, report, stop) -> int:
    from engine.jobs.workflows import EncoderSource, RunOptions, finetune_and_save
    from engine.store.checkpoint import load_checkpoint

    cfg = _train_config(args, augment=not args.no_augment)
    if args.encoder is not None:
        encoder, arch = EncoderSource.from_checkpoint(load_checkpoint(args.encoder)), None
    else:
        encoder, arch = EncoderSource(), _arch(args)
    job = _finetune_job(args, cfg, encoder, arch or encoder.arch)
    run = RunOptions(args.out, report, stop.is_set)
    trained = finetune_and_save(_data(args, report), job, run)
    extra = trained.checkpoint.extra
    unlabelled = f" and {extra['unlabelled']} unlabelled images" if extra["unlabelled"] else ""
    _print(
        f"validation accuracy {trained.result.val_accuracy:.4f} with {extra['labels']} "
        f"labels{unlabelled} ({extra['mode']}); wrote {trained.files['classifier']}"
    )
    return _status_code(trained.finished.status)


def cmd_evaluate(args: argparse.Namespace, report, stop) -> int:
    from engine.jobs.workflows import evaluate_model
    from engine.store.checkpoint import load_checkpoint

    if args.drawings is not None and args.data_dir is not None:
        print("evenodd evaluate: error: give --drawings or --data-dir, not both", file=sys.stderr)
        return EXIT_USAGE
    model = load_checkpoint(args.model, expect=("classifier",)).model
    names: list[str] = []  # of the drawings, when scoring drawings
    if args.drawings is not None:
        result, names = _evaluate_drawings(model, args.drawings)
    else:
        result = evaluate_model(model, _data(args, report))
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
    from engine.data.personal import load_drawings
    from engine.learning.evaluate import evaluate_drawings

    drawings = load_drawings(folder)
    for problem in drawings.problems:
        print(f"evenodd: skipped {problem}", file=sys.stderr)
    return evaluate_drawings(model, drawings), drawings.files


def cmd_predict(args: argparse.Namespace, report, stop) -> int:
    from engine.errors import CheckpointError
    from engine.jobs.workflows import predict_images
    from engine.store.checkpoint import load_checkpoint
    from engine.store.resources import default_model_path

    path = args.model
    if path is None:
        path = default_model_path()
        if not path.is_file():
            raise CheckpointError(
                "no default model is shipped with this copy of the app; pass --model FILE"
            )
    model = load_checkpoint(path, expect=("classifier",)).model
    predictions = predict_images(model, args.images)
    for one in predictions:
        if one.error is not None:
            if args.json:
                _print(json.dumps({"file": str(one.file), "error": one.error}))
            else:
                print(f"{one.file}: error: {one.error}", file=sys.stderr)
        elif args.json:
            _print(json.dumps({"file": str(one.file), "parity": one.parity, "p_odd": one.p_odd}))
        else:
            _print(f"{one.file}: {one.parity} (P(odd) = {one.p_odd:.3f})")
    return EXIT_FAILURE if any(one.error is not None for one in predictions) else EXIT_OK


def cmd_export(args: argparse.Namespace, report, stop) -> int:
    from engine.store.checkpoint import load_checkpoint
    from engine.store.export import export_onnx

    checkpoint = load_checkpoint(args.model, expect=("classifier",))
    exported = export_onnx(checkpoint, args.onnx)
    check = (
        f"onnxruntime agrees with torch within {exported.max_difference:.1g} on "
        f"{exported.checked_images} probe images"
        if exported.max_difference is not None
        else "not checked: onnxruntime is not installed"
    )
    deskew = ", deskewing inside" if checkpoint.arch.deskew else ""
    _print(
        f"wrote {exported.path} ({exported.size / 1024:.0f} KB{deskew}; {check}); "
        "input image float32 (N,1,28,28) in [0,1], output p_odd (N,)"
    )
    return EXIT_OK


def cmd_run(args: argparse.Namespace, report, stop) -> int:
    from engine.jobs.pipeline import RunSettings, run_pipeline
    from engine.jobs.workflows import EncoderSource, PretrainJob

    arch = _arch(args)
    finetune = _train_config(args, "finetune_", augment=not args.no_augment)
    settings = RunSettings(
        pretrain=PretrainJob(arch, _train_config(args, "pretrain_")),
        finetune=_finetune_job(args, finetune, EncoderSource(), arch),
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
    "export": cmd_export,
    "run": cmd_run,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from engine.reports.console import ConsoleReporter

    report = ConsoleReporter(quiet=args.quiet)
    stop = _stop_on_ctrl_c()
    handler = COMMANDS.get(args.command) or getattr(args, "handler", None)
    from engine.errors import UserError
    from engine.files import check_output_folder, os_error_text

    try:
        if getattr(args, "out", None) is not None:  # before minutes of training, not after
            check_output_folder(args.out)
        return handler(args, report, stop)
    except UserError as exc:  # says in plain words what is wrong: one line, no traceback
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
        if isinstance(exc, OSError) and exc.filename:  # a path the system refused: say why
            print(f"evenodd: error: {exc.filename}: {os_error_text(exc)}", file=sys.stderr)
            return EXIT_FAILURE
        print(
            f"evenodd: unexpected error: {type(exc).__name__}: {exc} "
            "(run again with --debug for details)",
            file=sys.stderr,
        )
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
