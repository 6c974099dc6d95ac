"""The user's drawings folder (engine.data.personal), fine-tuning with extra images, and
`evenodd evaluate --drawings`: add, delete, load, bad files, atomic writes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers_cli import cli
from helpers_data import make_digits, small_mnist
from PIL import Image

import engine.data.personal
from engine.config import ArchConfig, ConfigError, TrainConfig
from engine.data.mnist import label_budget, parity, split_train_val
from engine.data.personal import (
    LABELS_FILE,
    DrawingsError,
    add_drawing,
    default_drawings_dir,
    delete_drawings,
    load_drawings,
)
from engine.learning.evaluate import evaluate, evaluate_drawings
from engine.learning.models import Classifier
from engine.learning.training import finetune
from engine.store.checkpoint import save_checkpoint

ARCH = ArchConfig(arch="mlp", latent=8, width=4, dropout=0.0, head_hidden=8)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    return make_digits(40, seed=7)


def fill(folder: Path, digits, n: int = 6) -> list[str]:
    images, labels = digits
    return [add_drawing(folder, images[i], "odd" if labels[i] % 2 else "even") for i in range(n)]


def test_add_list_and_load_round_trip(tmp_path, digits) -> None:
    images, labels = digits
    raw = np.full((90, 120), 255, np.uint8)
    first = add_drawing(tmp_path / "new", images[0], "even", raw=raw)  # folder created
    names = [first, *fill(tmp_path / "new", (images[1:], labels[1:]), 3)]
    assert names == [f"drawing-{i:04d}.png" for i in range(1, 5)]
    assert np.array_equal(np.asarray(Image.open(tmp_path / "new" / "raw" / first)), raw)
    header = (tmp_path / "new" / LABELS_FILE).read_text().splitlines()[0]
    assert header == "file,parity"
    drawings = load_drawings(tmp_path / "new")
    assert drawings.files == names and drawings.problems == []
    assert np.array_equal(drawings.images, images[:4])
    expected = [0] + [int(d % 2) for d in labels[1:4]]
    assert drawings.targets.tolist() == expected
    x, y = drawings.tensors()
    assert x.dtype == torch.uint8 and x.shape == (4, 28, 28)
    assert y.dtype == torch.float32 and y.tolist() == expected
    assert drawings.counts() == (expected.count(0), expected.count(1))


def test_empty_or_new_folder_holds_no_drawings(tmp_path) -> None:
    assert len(load_drawings(tmp_path)) == 0
    (tmp_path / LABELS_FILE).write_text("")
    assert len(load_drawings(tmp_path)) == 0 and load_drawings(tmp_path).problems == []
    with pytest.raises(DrawingsError, match="does not exist"):
        load_drawings(tmp_path / "nowhere")
    (tmp_path / "file").write_text("x")
    with pytest.raises(DrawingsError, match="not a drawings folder"):
        load_drawings(tmp_path / "file")


def test_delete_removes_row_png_and_raw(tmp_path, digits) -> None:
    names = fill(tmp_path, digits, 4)
    add_drawing(tmp_path, digits[0][5], "odd", raw=np.zeros((30, 30), np.uint8))
    assert delete_drawings(tmp_path, [names[1], "drawing-0005.png"]) == 2
    assert load_drawings(tmp_path).files == [names[0], names[2], names[3]]
    assert not (tmp_path / names[1]).exists()
    assert not (tmp_path / "raw" / "drawing-0005.png").exists()
    assert delete_drawings(tmp_path, ["not-there.png"]) == 0
    # numbers are not reused while a higher one exists
    assert add_drawing(tmp_path, digits[0][0], "even") == "drawing-0005.png"


def test_bad_rows_and_files_are_one_line_each_and_skipped(tmp_path, digits) -> None:
    good = fill(tmp_path, digits, 2)
    Image.fromarray(np.zeros((30, 28), np.uint8)).save(tmp_path / "big.png")
    (tmp_path / "text.png").write_text("not a picture")
    rgba = np.zeros((28, 28, 4), np.uint8)
    rgba[10:18, 10:18] = 255  # white ink, opaque
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    rows = [
        "file,parity,digit",
        f"{good[0]},even,0",
        f"{good[1]},ODD,",  # parity is not case-sensitive
        "missing.png,odd,3",
        "big.png,even,2",
        "text.png,odd,1",
        f"{good[0]},odd,1",  # listed twice
        f"{good[1]},maybe,",
        ",even,",
        "../outside.png,even,",
        "",
        "rgba.png,even,8",
    ]
    (tmp_path / LABELS_FILE).write_text("\n".join(rows) + "\n")
    drawings = load_drawings(tmp_path)
    assert drawings.files == [good[0], good[1], "rgba.png"]
    assert drawings.targets.tolist() == [0, 1, 0]
    assert drawings.images[2, 12, 12] == 255 and drawings.images[2, 0, 0] == 0
    problems = drawings.problems
    assert len(problems) == 7, problems
    assert all("\n" not in p and p.endswith("skipped") for p in problems)
    for line, words in [
        (4, "missing.png: file not found"),
        (5, "big.png: nothing drawn"),  # any size is read, but a blank one is not
        (6, "text.png: not an image"),
        (7, "listed again (first on line 2)"),
        (8, "parity 'maybe'"),
        (9, "no file name"),
        (10, "not a file inside the folder"),
    ]:
        assert any(p.startswith(f"{LABELS_FILE} line {line}: ") and words in p for p in problems)


@pytest.mark.parametrize(
    "content",
    [b"drawing-0001.png,even\n", b"name,label\na.png,even\n", b"\xff\xfe\x00bin\x00ary"],
)
def test_a_labels_file_without_header_is_reported_and_never_overwritten(
    tmp_path, digits, content
) -> None:
    add_drawing(tmp_path, digits[0][0], "even")
    (tmp_path / LABELS_FILE).write_bytes(content)
    drawings = load_drawings(tmp_path)
    assert len(drawings) == 0 and len(drawings.problems) == 1
    assert drawings.problems[0].startswith(LABELS_FILE)
    with pytest.raises(DrawingsError, match="left as it is"):
        add_drawing(tmp_path, digits[0][1], "odd")
    with pytest.raises(DrawingsError, match="left as it is"):
        delete_drawings(tmp_path, ["drawing-0001.png"])
    assert (tmp_path / LABELS_FILE).read_bytes() == content
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["drawing-0001.png"]


def test_other_columns_survive_a_rewrite(tmp_path, digits) -> None:
    name = add_drawing(tmp_path, digits[0][0], "even")
    (tmp_path / LABELS_FILE).write_text(f'file,digit,parity,note\n{name},4,even,"a, b"\n')
    second = add_drawing(tmp_path, digits[0][1], "odd")
    text = (tmp_path / LABELS_FILE).read_text().splitlines()
    assert text == ["file,digit,parity,note", f'{name},4,even,"a, b"', f"{second},,odd,"]
    delete_drawings(tmp_path, [second])
    assert (tmp_path / LABELS_FILE).read_text().splitlines() == text[:2]


def test_a_failed_write_keeps_the_last_good_labels_file(tmp_path, digits, monkeypatch) -> None:
    fill(tmp_path, digits, 2)
    before = (tmp_path / LABELS_FILE).read_bytes()
    real = engine.data.personal.atomic_write_bytes

    def disk_full(path, payload) -> None:
        if Path(path).name == LABELS_FILE:
            raise OSError(28, "No space left on device")
        real(path, payload)

    monkeypatch.setattr(engine.data.personal, "atomic_write_bytes", disk_full)
    with pytest.raises(DrawingsError, match="No space left"):
        add_drawing(tmp_path, digits[0][3], "odd", raw=np.zeros((5, 5), np.uint8))
    assert (tmp_path / LABELS_FILE).read_bytes() == before
    assert sorted(p.name for p in tmp_path.rglob("*.png")) == [
        "drawing-0001.png",
        "drawing-0002.png",
    ]  # the new PNG and its raw drawing were removed again


def test_bad_drawing_to_add_is_refused(tmp_path) -> None:
    with pytest.raises(DrawingsError, match="even or odd"):
        add_drawing(tmp_path, np.zeros((28, 28), np.uint8), "seven")
    with pytest.raises(DrawingsError, match="28x28 uint8"):
        add_drawing(tmp_path, np.zeros((20, 28), np.uint8), "odd")
    assert not (tmp_path / LABELS_FILE).exists()


def test_default_folder_is_per_user_and_overridable(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv(engine.data.personal.ENV_FOLDER, raising=False)
    folder = default_drawings_dir()
    assert folder.name == "drawings" and folder.parent.name == "EvenOddStudio"
    monkeypatch.setenv(engine.data.personal.ENV_FOLDER, str(tmp_path))
    assert default_drawings_dir() == tmp_path


# ------------------------------------------------------------------ evaluating, training


def test_evaluate_drawings_matches_evaluate_on_the_same_images(tmp_path, digits) -> None:
    images, labels = digits
    for i in range(20):
        add_drawing(tmp_path, images[i], "odd" if labels[i] % 2 else "even")
    torch.manual_seed(0)
    model = Classifier(ARCH).eval()
    result = evaluate_drawings(model, load_drawings(tmp_path))
    expected = evaluate(model, torch.from_numpy(images[:20]), torch.from_numpy(labels[:20]))
    assert result.to_dict() == expected.to_dict()
    with pytest.raises(DrawingsError, match="no usable drawings"):
        evaluate_drawings(model, engine.data.personal.DrawingSet(tmp_path / "empty"))


def test_finetune_trains_on_the_extra_images() -> None:
    """Extra images with the opposite parity of their digit outnumber the real labels:
    a model that trained on them calls the test digits' parity wrongly."""
    data = small_mnist(400, 100)
    split = split_train_val(len(data.train_images), val_size=50)
    labelled = label_budget(data.train_labels, split.train, 10, seed=0)
    cfg = TrainConfig(epochs=6, batch_size=32, lr=3e-3, patience=100, keep_best=False)
    others = split.train[~torch.isin(split.train, labelled)][:300]
    flipped = 1 - parity(data.train_labels[others])
    extra = (data.train_images[others], flipped)
    plain = finetune(data, ARCH, cfg, labelled, split=split)
    trained = finetune(data, ARCH, cfg, labelled, split=split, extra=extra)
    assert plain.n_labelled == 10 and trained.n_labelled == 310
    test_plain = evaluate(plain.model, data.test_images, data.test_labels).accuracy
    test_extra = evaluate(trained.model, data.test_images, data.test_labels).accuracy
    assert test_extra < 0.3 < test_plain, (test_plain, test_extra)
    rounds = finetune(data, ARCH, cfg, labelled, split=split, extra=extra, round_steps=2)
    assert rounds.n_labelled == 310


@pytest.mark.parametrize(
    "extra, words",
    [
        ((torch.zeros(3, 28, 28), torch.zeros(3)), "uint8"),
        ((torch.zeros(3, 28, 28, dtype=torch.uint8), torch.zeros(2)), "targets"),
        ((torch.zeros(2, 28, 28, dtype=torch.uint8), torch.tensor([0.0, 2.0])), "0 \\(even\\)"),
    ],
)
def test_finetune_refuses_bad_extra(extra, words) -> None:
    data = small_mnist(100, 20)
    with pytest.raises(ConfigError, match=words):
        finetune(data, ARCH, TrainConfig(epochs=1), torch.arange(5), extra=extra)


# ----------------------------------------------------------------------------- the CLI


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "classifier.pt"
    save_checkpoint(path, Classifier(ARCH), ARCH)
    return path


def test_cli_evaluate_drawings_has_the_mnist_json_keys(
    tmp_path, digits, model_file, tiny_mnist_dir, capsys
) -> None:
    fill(tmp_path, digits, 8)
    with (tmp_path / LABELS_FILE).open("a") as f:
        f.write("gone.png,odd\ndrawing-0001.png,odd\n")
    assert cli(["evaluate", "--model", model_file, "--drawings", tmp_path, "--json"]) == 0
    out, err = capsys.readouterr()
    drawings_json = json.loads(out)
    assert drawings_json["n"] == 8
    assert sum(map(sum, drawings_json["confusion_matrix"])) == 8
    assert err.splitlines() == [
        f"evenodd: skipped {LABELS_FILE} line 10: gone.png: file not found; skipped",
        f"evenodd: skipped {LABELS_FILE} line 11: drawing-0001.png is listed again "
        "(first on line 2); skipped",
    ]
    assert cli(["evaluate", "--model", model_file, "--data-dir", tiny_mnist_dir, "--json"]) == 0
    mnist_json = json.loads(capsys.readouterr().out)
    assert drawings_json.keys() == mnist_json.keys()
    assert (
        drawings_json["classification_report"].keys() == mnist_json["classification_report"].keys()
    )

    assert cli(["evaluate", "--model", model_file, "--drawings", tmp_path]) == 0
    out = capsys.readouterr().out
    assert out.startswith("accuracy ") and "(n=8)" in out
    assert "misclassified drawings: " in out


def test_cli_evaluate_drawings_errors_are_one_line(tmp_path, model_file, capsys) -> None:
    cases = [
        (["--drawings", tmp_path / "nowhere"], 1, "does not exist"),
        (["--drawings", tmp_path], 1, "no usable drawings"),
        (["--drawings", tmp_path, "--data-dir", tmp_path], 2, "not both"),
    ]
    for extra, code, words in cases:
        assert cli(["evaluate", "--model", model_file, *extra]) == code
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and words in err, err
    (tmp_path / LABELS_FILE).write_text("a.png,even\n")
    assert cli(["evaluate", "--model", model_file, "--drawings", tmp_path]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2 and "header" in lines[0] and "no usable drawings" in lines[1]
