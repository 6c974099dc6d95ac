"""`evenodd` on the command line: exit codes, one-line errors, JSON output, run's files."""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers_cli import cli
from helpers_data import digit_templates, write_small_mnist
from PIL import Image

import engine.store.resources
from engine.cli.commands import main, number_between
from engine.store.checkpoint import file_sha256, load_checkpoint

TINY_ARCH = ["--width", "4", "--latent", "16"]
TINY_TRAIN = ["--epochs", "1", "--batch-size", "64", "--quiet"]
TINY_BUDGET = ["--steps", "20", "--unlabelled-batch", "32"]  # below all labels


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got: {err!r}"
    assert "Traceback" not in err
    assert lines[0].startswith("evenodd")
    return lines[0]


@pytest.fixture(scope="module")
def small_mnist_dir(tmp_path_factory) -> Path:
    return write_small_mnist(tmp_path_factory.mktemp("small_mnist"), 600, 200)


@pytest.fixture(scope="module")
def trained(small_mnist_dir, tmp_path_factory) -> dict[str, Path]:
    """pretrain, then finetune --encoder, through the CLI (1 tiny epoch each)."""
    out = tmp_path_factory.mktemp("trained")
    pre = ["pretrain", "--data-dir", small_mnist_dir, "--out", out, *TINY_ARCH, *TINY_TRAIN]
    assert cli(pre) == 0
    fine = ["finetune", "--data-dir", small_mnist_dir, "--encoder", out / "encoder.pt"]
    assert cli([*fine, "--out", out, "--labels", "100", *TINY_TRAIN, *TINY_BUDGET]) == 0
    return {name: out / f"{name}.pt" for name in ("encoder", "autoencoder", "classifier")}


@pytest.fixture()
def bad_checkpoint(tmp_path) -> Path:
    path = tmp_path / "bad.pt"
    path.write_bytes(b"PK\x03\x04 not really a checkpoint" * 10)
    return path


# ------------------------------------------------------------------------ wrong arguments


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["frobnicate"],
        ["pretrain", "--out", "{out}", "--epochs", "0"],
        ["pretrain", "--out", "{out}", "--epochs", "two"],
        ["pretrain", "--out", "{out}", "--lr", "-1"],
        ["pretrain", "--out", "{out}", "--arch", "resnet"],
        ["pretrain"],
        ["finetune", "--scratch", "--out", "{out}", "--labels", "abc"],
        ["finetune", "--scratch", "--out", "{out}", "--labels", "0"],
        ["finetune", "--out", "{out}"],
        ["finetune", "--scratch", "--encoder", "e.pt", "--out", "{out}"],
        ["evaluate", "--data-dir", "{out}"],
        ["predict", "--json"],
        ["run", "--out", "{out}", "--dropout", "1.5"],
    ],
)
def test_wrong_arguments_exit_2_with_one_line(args, tmp_path, capsys):
    args = [a.replace("{out}", str(tmp_path / "out")) for a in args]
    assert cli(args) == 2
    captured = capsys.readouterr()
    assert "error" in one_error_line(captured.err)
    assert captured.out == ""
    assert not (tmp_path / "out").exists()


def test_help_and_version(capsys):
    assert cli(["--version"]) == 0
    assert capsys.readouterr().out.startswith("evenodd ")
    assert cli(["run", "--help"]) == 0
    assert "--pretrain-epochs" in capsys.readouterr().out


# -------------------------------------------------------------------------------- failures


def test_missing_data_folder_exits_1(tmp_path, capsys):
    args = ["pretrain", "--data-dir", tmp_path / "nowhere", "--out", tmp_path / "out"]
    assert cli([*args, *TINY_TRAIN]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert "data folder not found" in line and "nowhere" in line


def test_folder_without_mnist_exits_1(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    args = ["finetune", "--scratch", "--data-dir", tmp_path / "empty", "--out", tmp_path / "o"]
    assert cli([*args, *TINY_TRAIN]) == 1
    assert "train-images-idx3-ubyte" in one_error_line(capsys.readouterr().err)


def test_damaged_data_file_exits_1(tmp_path, capsys):
    folder = write_small_mnist(tmp_path / "d", 60, 20, gz=False)
    path = folder / "train-labels-idx1-ubyte"
    path.write_bytes(path.read_bytes()[:-5])
    args = ["pretrain", "--data-dir", folder, "--out", tmp_path / "out", *TINY_TRAIN]
    assert cli(args) == 1
    assert "train-labels-idx1-ubyte: file truncated" in one_error_line(capsys.readouterr().err)


def test_bad_checkpoint_exits_1(small_mnist_dir, bad_checkpoint, capsys):
    assert cli(["evaluate", "--data-dir", small_mnist_dir, "--model", bad_checkpoint]) == 1
    assert "bad.pt" in one_error_line(capsys.readouterr().err)


def test_bad_encoder_exits_1(small_mnist_dir, bad_checkpoint, tmp_path, capsys):
    args = ["finetune", "--data-dir", small_mnist_dir, "--encoder", bad_checkpoint]
    assert cli([*args, "--out", tmp_path, *TINY_TRAIN]) == 1
    assert "bad.pt" in one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "classifier.pt").exists()


def test_evaluate_an_encoder_exits_1(small_mnist_dir, trained, capsys):
    assert cli(["evaluate", "--data-dir", small_mnist_dir, "--model", trained["encoder"]]) == 1
    assert "classifier" in one_error_line(capsys.readouterr().err)


def test_debug_shows_the_traceback(small_mnist_dir, bad_checkpoint):
    from engine.store.checkpoint import CheckpointError

    args = ["evaluate", "--data-dir", small_mnist_dir, "--model", bad_checkpoint, "--debug"]
    with pytest.raises(CheckpointError):
        main([str(a) for a in args])


def test_unexpected_error_is_one_line(monkeypatch, small_mnist_dir, tmp_path, capsys):
    import engine.learning.training

    def broken(*args, **kwargs):
        raise RuntimeError("something nobody expected")

    monkeypatch.setattr(engine.learning.training, "pretrain", broken)
    args = ["pretrain", "--data-dir", small_mnist_dir, "--out", tmp_path, *TINY_TRAIN]
    assert cli(args) == 1
    line = one_error_line(capsys.readouterr().err)
    assert "something nobody expected" in line and "--debug" in line


# ------------------------------------------------------------------ files and folders
# Each subcommand that writes into --out checks it before loading MNIST or training: the
# data folder below does not exist, so an error about --out proves the check came first.

OUT_COMMANDS = {
    "pretrain": ["pretrain"],
    "finetune": ["finetune", "--scratch"],
    "run": ["run"],
    "compare": ["compare", "--seeds", "1"],
}


@pytest.mark.parametrize("command", OUT_COMMANDS)
def test_out_that_is_a_file_is_one_plain_line(command, tmp_path, capsys):
    taken = tmp_path / "taken.txt"
    taken.write_text("not a folder")
    args = [*OUT_COMMANDS[command], "--data-dir", tmp_path / "nowhere", "--out", taken]
    assert cli(args) == 1
    line = one_error_line(capsys.readouterr().err)
    assert line == f"evenodd: error: --out {taken} is a file, not a folder; choose a folder"
    assert taken.read_text() == "not a folder"


@pytest.mark.parametrize("command", OUT_COMMANDS)
def test_out_below_a_file_is_one_plain_line(command, tmp_path, capsys):
    taken = tmp_path / "taken.txt"
    taken.write_text("not a folder")
    args = [*OUT_COMMANDS[command], "--data-dir", tmp_path / "nowhere", "--out", taken / "sub"]
    assert cli(args) == 1
    line = one_error_line(capsys.readouterr().err)
    assert f"cannot be created: {taken} is a file, not a folder" in line


@pytest.mark.parametrize("command", OUT_COMMANDS)
def test_out_in_a_folder_without_write_permission_is_one_plain_line(
    command, tmp_path, capsys, monkeypatch
):
    import os

    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access  # tests run as root, where chmod would not lock anything
    monkeypatch.setattr(os, "access", lambda p, mode: Path(p) != locked and real_access(p, mode))
    args = [*OUT_COMMANDS[command], "--data-dir", tmp_path / "nowhere", "--out", locked / "new"]
    assert cli(args) == 1
    line = one_error_line(capsys.readouterr().err)
    assert (
        line
        == f"evenodd: error: --out {locked / 'new'}: no permission to write there (in {locked})"
    )
    assert not (locked / "new").exists()


def test_a_full_disk_while_saving_is_one_plain_line(small_mnist_dir, tmp_path, capsys, monkeypatch):
    import errno

    import engine.files

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(engine.files.tempfile, "mkstemp", full)
    args = ["pretrain", "--data-dir", small_mnist_dir, "--out", tmp_path / "out", *TINY_ARCH]
    assert cli([*args, *TINY_TRAIN]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert line.startswith(f"evenodd: error: cannot write {tmp_path / 'out'}")
    assert line.endswith(": no space left on the disk")


def test_an_os_error_naming_a_file_is_one_plain_line(monkeypatch, tmp_path, capsys):
    import engine.cli.commands

    def refused(*args):
        raise PermissionError(13, "Permission denied", str(tmp_path / "x.png"))

    monkeypatch.setitem(engine.cli.commands.COMMANDS, "predict", refused)
    assert cli(["predict", tmp_path / "x.png"]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert line == f"evenodd: error: {tmp_path / 'x.png'}: permission denied"


@pytest.mark.parametrize(
    "args",
    [
        ["evaluate", "--data-dir", "{data}", "--model", "{folder}"],
        ["predict", "--model", "{folder}", "{image}"],
        ["finetune", "--data-dir", "{data}", "--encoder", "{folder}", "--out", "{out}"],
    ],
)
def test_a_checkpoint_that_is_a_folder_is_one_plain_line(args, small_mnist_dir, tmp_path, capsys):
    folder = tmp_path / "models"
    folder.mkdir()
    image = tmp_path / "digit.png"
    Image.new("L", (28, 28)).save(image)
    names = {"data": small_mnist_dir, "folder": folder, "image": image, "out": tmp_path / "o"}
    assert cli([a.format(**names) for a in args]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert line == "evenodd: error: models: is a folder, not a checkpoint file"


def test_a_data_folder_that_is_a_file_is_one_plain_line(tmp_path, capsys):
    data = tmp_path / "mnist.gz"
    data.write_bytes(b"\x1f\x8b")
    assert cli(["pretrain", "--data-dir", data, "--out", tmp_path / "out"]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert line == f"evenodd: error: data folder {data} is a file; choose the folder that holds it"


# ----------------------------------------------------------- pretrain, finetune, evaluate


def test_pretrain_and_finetune_write_checkpoints(trained):
    encoder = load_checkpoint(trained["encoder"])
    classifier = load_checkpoint(trained["classifier"], expect=("classifier",))
    assert encoder.kind == "encoder" and load_checkpoint(trained["autoencoder"]).has_decoder
    assert encoder.arch.width == 4 and encoder.arch.latent == 16
    # the architecture comes from the encoder file; with 100 labels the classifier deskews
    assert classifier.arch == dataclasses.replace(encoder.arch, deskew=True)
    assert classifier.encoder_sha256 == file_sha256(trained["encoder"])
    assert classifier.extra["labels"] == 100
    assert classifier.train_config["epochs"] == 1


@pytest.mark.parametrize(("word", "choice"), [("auto", None), ("on", True), ("off", False)])
def test_deskew_option_reaches_the_job(word, choice):
    from engine.cli.commands import _finetune_job, build_parser
    from engine.config import DEFAULT_ARCH, DEFAULT_FINETUNE
    from engine.jobs.workflows import EncoderSource

    args = build_parser().parse_args(["finetune", "--scratch", "--out", "o", "--deskew", word])
    job = _finetune_job(args, DEFAULT_FINETUNE, EncoderSource(), DEFAULT_ARCH)
    assert job.deskew is choice


def test_evaluate_json(small_mnist_dir, trained, capsys):
    assert cli(["evaluate", "--data-dir", small_mnist_dir, "--model", trained["classifier"]]) == 0
    assert "accuracy" in capsys.readouterr().out
    args = ["evaluate", "--data-dir", small_mnist_dir, "--model", trained["classifier"], "--json"]
    assert cli([*args, "--quiet"]) == 0
    out = capsys.readouterr().out
    assert len(out.strip().splitlines()) == 1, "--json prints one JSON object, nothing else"
    result = json.loads(out)
    for key in ("accuracy", "precision", "recall", "f1"):
        assert isinstance(result[key], float) and 0.0 <= result[key] <= 1.0
    matrix = result["confusion_matrix"]
    assert result["n"] == 200
    assert len(matrix) == 2 and all(len(row) == 2 for row in matrix)
    assert sum(map(sum, matrix)) == 200
    assert sum(matrix[1]) == 100  # rows are the true classes: 100 odd digits in the tiny test set
    assert result["accuracy"] == pytest.approx((matrix[0][0] + matrix[1][1]) / 200)
    (_, false_odd), (false_even, true_odd) = matrix  # odd is the positive class
    precision = true_odd / max(true_odd + false_odd, 1)
    recall = true_odd / (true_odd + false_even)
    assert result["precision"] == pytest.approx(precision)
    assert result["recall"] == pytest.approx(recall)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    assert result["f1"] == pytest.approx(f1)


def test_finetune_from_scratch(small_mnist_dir, tmp_path, capsys):
    args = ["finetune", "--scratch", "--data-dir", small_mnist_dir, "--out", tmp_path]
    assert (
        cli([*args, *TINY_ARCH, *TINY_TRAIN, *TINY_BUDGET, "--labels", "50", "--freeze-encoder"])
        == 0
    )
    loaded = load_checkpoint(tmp_path / "classifier.pt")
    assert loaded.encoder_sha256 is None and loaded.extra["freeze_encoder"] is True
    assert "classifier.pt" in capsys.readouterr().out


def test_finetune_below_all_labels_learns_from_the_unlabelled_images_by_default(
    small_mnist_dir, trained, tmp_path, capsys
):
    semi = load_checkpoint(trained["classifier"], expect=("classifier",))
    assert semi.extra["mode"] == "semi-supervised" and semi.extra["unlabelled"] == 440
    assert semi.extra["semisup"]["unlabelled_batch"] == 32
    assert 0.0 <= semi.extra["confident"] <= 1.0
    # Honest: a fixed schedule whose last weights are kept, no early stopping.
    assert semi.train_config["keep_best"] is False and semi.train_config["max_steps"] == 20
    args = ["finetune", "--scratch", "--data-dir", small_mnist_dir, "--out", tmp_path]
    assert (
        cli([*args, *TINY_ARCH, *TINY_TRAIN, *TINY_BUDGET, "--labels", "100", "--no-unlabelled"])
        == 0
    )
    supervised = load_checkpoint(tmp_path / "classifier.pt", expect=("classifier",))
    assert supervised.extra["mode"] == "supervised" and supervised.extra["unlabelled"] == 0
    assert supervised.train_config["keep_best"] is False
    assert "supervised" in capsys.readouterr().out


def test_finetune_with_every_image_labelled_says_nothing_is_unlabelled(
    small_mnist_dir, tmp_path, capsys
):
    """540 labels on a folder with 540 training images: a plain fall-back, said once."""
    args = ["finetune", "--scratch", "--data-dir", small_mnist_dir, "--out", tmp_path]
    assert cli([*args, *TINY_ARCH, "--epochs", "1", "--batch-size", "64", "--labels", "540"]) == 0
    captured = capsys.readouterr()
    assert "nothing is unlabelled" in captured.out + captured.err
    loaded = load_checkpoint(tmp_path / "classifier.pt", expect=("classifier",))
    assert loaded.extra["mode"] == "supervised" and loaded.extra["labels"] == 540


def test_too_many_labels_exits_1(small_mnist_dir, tmp_path, capsys):
    args = ["finetune", "--scratch", "--data-dir", small_mnist_dir, "--out", tmp_path]
    assert cli([*args, *TINY_TRAIN, "--labels", "100000"]) == 1
    assert "100000 labels" in one_error_line(capsys.readouterr().err)


# ---------------------------------------------------------------------------------- predict


@pytest.fixture()
def images(tmp_path) -> list[Path]:
    """Two usable pictures (dark ink on light paper, bigger than 28 px) and a text file."""
    templates = digit_templates()
    paths = []
    for digit in (3, 4):
        ink = (templates[digit] * 255).astype("uint8")
        picture = Image.fromarray(255 - ink).resize((112, 112), Image.Resampling.NEAREST)
        path = tmp_path / f"digit{digit}.png"
        picture.save(path)
        paths.append(path)
    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    paths.append(text)
    return paths


def test_predict_json(trained, images, capsys):
    code = cli(["predict", "--model", trained["classifier"], *images, "--json"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert code == 1  # one image failed
    assert len(lines) == 3
    results = [json.loads(line) for line in lines]
    assert [r["file"] for r in results] == [str(p) for p in images]
    for good in results[:2]:
        assert good["parity"] in ("even", "odd") and "error" not in good
        assert isinstance(good["p_odd"], float) and 0.0 <= good["p_odd"] <= 1.0
        assert good["parity"] == ("odd" if good["p_odd"] > 0.5 else "even")
    assert set(results[2]) == {"file", "error"} and results[2]["error"]


def test_predict_good_images_exit_0(trained, images, capsys):
    assert cli(["predict", "--model", trained["classifier"], *images[:2]]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and all("P(odd)" in line for line in lines)


def test_predict_text_mode_error_goes_to_stderr(trained, images, capsys):
    assert cli(["predict", "--model", trained["classifier"], images[2]]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "notes.png" in captured.err


def test_predict_blank_image_is_nothing_drawn(trained, tmp_path, capsys):
    blank = tmp_path / "blank.png"
    Image.new("L", (100, 100), 255).save(blank)
    assert cli(["predict", "--model", trained["classifier"], blank, "--json"]) == 1
    result = json.loads(capsys.readouterr().out)
    assert "parity" not in result and "nothing drawn" in result["error"]


def test_predict_without_default_model(monkeypatch, tmp_path, images, capsys):
    monkeypatch.setattr(
        engine.store.resources, "default_model_path", lambda *a: tmp_path / "none.pt"
    )
    assert cli(["predict", images[0]]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert "default model" in line and "--model" in line


def test_predict_uses_default_model(monkeypatch, trained, images, capsys):
    monkeypatch.setattr(
        engine.store.resources, "default_model_path", lambda *a: trained["classifier"]
    )
    assert cli(["predict", images[0], "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["parity"] in ("even", "odd")


def test_predict_with_an_encoder_exits_1(trained, images, capsys):
    assert cli(["predict", "--model", trained["encoder"], images[0]]) == 1
    assert "classifier" in one_error_line(capsys.readouterr().err)


# -------------------------------------------------------------------------------------- run


def test_run_writes_everything_at_the_top_level(small_mnist_dir, tmp_path, capsys):
    """The whole pipeline on learnable data: files, lineage, settings, report, and a test
    accuracy far above the 0.5 of chance (an MLP learns these digits in 20 steps; the
    conv net, 3x slower here, needs 60)."""
    out = tmp_path / "run"
    args = ["run", "--data-dir", small_mnist_dir, "--out", out, "--quiet"]
    args += ["--arch", "mlp", "--latent", "16"]
    args += ["--pretrain-epochs", "1", "--finetune-epochs", "1", "--labels", "100"]
    args += ["--pick", "random", "--steps", "60", "--unlabelled-batch", "32"]
    args += ["--pretrain-batch-size", "64", "--finetune-batch-size", "32"]
    args += ["--finetune-precision", "bfloat16"]
    assert cli(args) == 0
    names = {p.name for p in out.iterdir()}
    expected = {
        "autoencoder.pt",
        "encoder.pt",
        "classifier.pt",
        "metrics.json",
        "loss_curves.png",
        "confusion_matrix.png",
        "latent_map.png",
        "report.html",
    }
    assert expected <= names
    assert all(p.is_file() for p in out.iterdir()), "no subfolders: files at the top level"
    assert not [n for n in names if n.endswith(".tmp")]
    for png in ("loss_curves.png", "confusion_matrix.png", "latent_map.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    classifier = load_checkpoint(out / "classifier.pt", expect=("classifier",))
    assert classifier.encoder_sha256 == file_sha256(out / "encoder.pt")
    assert load_checkpoint(out / "autoencoder.pt").has_decoder
    assert load_checkpoint(out / "autoencoder.pt").train_config["precision"] == "auto"  # default
    assert classifier.train_config["precision"] == "bfloat16"  # as asked

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["encoder_sha256"] == file_sha256(out / "encoder.pt")
    assert metrics["test"]["n"] == 200 and metrics["test"]["accuracy"] >= 0.9  # chance: 0.5
    assert metrics["finetune"]["labels"] == 100
    assert metrics["finetune"]["pick"] == "random" and metrics["finetune"]["label_kind"] == "digit"
    assert len(set(metrics["finetune"]["labelled_indices"])) == 100
    assert metrics["finetune"]["mode"] == "semi-supervised"  # below all labels, by default
    assert metrics["finetune"]["unlabelled"] == 540 - 100  # the other training images
    assert metrics["finetune"]["steps"] == 60
    settings = metrics["settings"]  # what was asked, from the run's two jobs
    assert settings["labels"] == 100 and settings["unlabelled"] is True
    assert settings["pretrain"]["batch_size"] == 64 and settings["finetune"]["batch_size"] == 32
    assert settings["arch"] == load_checkpoint(out / "encoder.pt").arch.to_dict()
    assert settings["deskew"] is None  # asked: automatic; done: deskewed below all labels
    assert metrics["finetune"]["deskewed"] is True and classifier.arch.deskew is True
    assert sum(map(sum, metrics["test"]["confusion_matrix"])) == 200

    page = (out / "report.html").read_text()
    assert "<img" in page and f"{metrics['test']['accuracy']:.4f}" in page
    assert "chance (drawn at random)" in page  # how the labelled images were chosen
    assert str(metrics["finetune"]["labelled_indices"][0]) in page
    assert "semi-supervised" in page and "unlabelled images learned from" in page
    assert "deskewed" in page
    assert "test accuracy" in capsys.readouterr().out

    # The latent map's score is that of the saved encoder's codes of the validation subset.
    from engine.data.mnist import read_folder, split_train_val
    from engine.reports import latent

    data = read_folder(small_mnist_dir)
    shown = latent.map_indices(split_train_val(len(data.train_images)).val)
    codes = latent.encode(load_checkpoint(out / "encoder.pt").encoder, data.train_images[shown])
    score = metrics["latent_map"]
    labels = data.train_labels[shown].numpy()
    assert score["knn_accuracy"] == latent.knn_accuracy(codes, labels)
    assert score["images"] == len(shown)
    pixels = latent.pixel_knn_accuracy(data.train_images[shown], labels)
    assert score["pixels_knn_accuracy"] == pytest.approx(pixels) and pixels > 0.3  # chance: 0.1
    assert set(score["seconds"]) == {"PCA", "t-SNE"}
    assert "Latent map" in page and f"{score['knn_accuracy']:.4f}" in page


# ------------------------------------------------------------------------ the entry point


def test_console_script_exit_code(small_mnist_dir, bad_checkpoint):
    """The installed `evenodd` script: exit status 1 and one line for a bad checkpoint."""
    script = shutil.which("evenodd") or str(Path(sys.executable).parent / "evenodd")
    done = subprocess.run(
        [script, "evaluate", "--data-dir", str(small_mnist_dir), "--model", str(bad_checkpoint)],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 1, done.stderr
    assert done.stdout == ""
    assert "bad.pt" in one_error_line(done.stderr)


@pytest.mark.parametrize(
    ("checker", "good", "bad"),
    [
        (number_between(0), ["0.5", "1e3"], ["0", "-1", "nan", "inf", "x"]),
        (number_between(0, 1, low_included=True), ["0", "0.99"], ["1", "-0.1"]),
        (number_between(0, 1, high_included=True), ["1", "0.5"], ["0", "1.01"]),
    ],
)
def test_number_between_takes_its_interval_and_nothing_else(checker, good, bad) -> None:
    for text in good:
        assert checker(text) == float(text)
    for text in bad:
        with pytest.raises(argparse.ArgumentTypeError):
            checker(text)
