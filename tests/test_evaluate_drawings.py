"""`evenodd evaluate --drawings` on drawings of any size: a large drawing is preprocessed as
`evenodd predict` preprocesses it (same P(odd)), a 28x28 Mark-button drawing is scored as
it was saved, and a bad file is one skipped line."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from helpers_cli import cli
from PIL import Image

from engine.data.personal import LABELS_FILE, add_drawing, load_drawings
from engine.data.preprocess import preprocess_file, to_mnist
from engine.jobs.workflows import predict_images
from engine.learning.evaluate import evaluate_drawings, score
from engine.learning.training import predict_proba
from engine.store.checkpoint import load_checkpoint
from engine.store.resources import default_model_path, resource_path

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SAMPLES = sorted(resource_path("samples").glob("*.png"))
MODEL = default_model_path("classifier")


@pytest.fixture(scope="module")
def model():
    return load_checkpoint(MODEL, expect=("classifier",)).model


def sample(name_part: str):
    return next(p for p in SAMPLES if name_part in p.name)


def marked_folder(folder, count: int = 6) -> list[np.ndarray]:
    """A folder as the Draw tab's Mark buttons leave it: 28x28 model inputs, raw beside."""
    saved = []
    for path in SAMPLES[:count]:
        img28 = preprocess_file(path)
        add_drawing(folder, img28, path.stem.split("_")[1], raw=np.asarray(Image.open(path)))
        saved.append(img28)
    return saved


def test_mark_button_drawings_are_scored_as_saved(tmp_path, model, capsys) -> None:
    saved = marked_folder(tmp_path)
    drawings = load_drawings(tmp_path)
    assert not drawings.problems
    assert all(np.array_equal(a, b) for a, b in zip(drawings.images, saved, strict=True))
    # Why 28x28 files are not preprocessed again: it would change them.
    assert any(not np.array_equal(to_mnist(img), img) for img in saved)
    import torch

    before = score(drawings.targets, predict_proba(model, torch.from_numpy(np.stack(saved))))
    assert cli(["evaluate", "--model", MODEL, "--drawings", tmp_path, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(json.dumps(before.to_dict()))


def test_a_large_drawing_is_scored_as_predict_scores_it(tmp_path, model, capsys) -> None:
    big = sample("3_odd_thick")  # 280x280, dark ink on a light background
    assert Image.open(big).size == (280, 280)
    shutil.copy(big, tmp_path / "big.png")
    wide = sample("4_even_offcentre")  # 520x240, digit off-centre
    shutil.copy(wide, tmp_path / "wide.png")
    Image.fromarray(np.full((200, 300), 255, np.uint8)).save(tmp_path / "blank.png")
    (tmp_path / "notes.png").write_text("not a picture")
    rows = ["file,parity", "big.png,odd", "blank.png,even", "wide.png,even", "notes.png,odd"]
    (tmp_path / LABELS_FILE).write_text("\n".join(rows) + "\n")

    drawings = load_drawings(tmp_path)
    assert drawings.files == ["big.png", "wide.png"]
    assert np.array_equal(drawings.images[0], preprocess_file(big))
    evaluation = evaluate_drawings(model, drawings)
    predicted = predict_images(model, [tmp_path / "big.png", tmp_path / "wide.png"])
    for p_odd, prediction in zip(evaluation.p_odd, predicted, strict=True):
        assert abs(p_odd - prediction.p_odd) < 1e-6
    assert evaluation.accuracy == 1.0  # the shipped model reads both correctly

    assert cli(["evaluate", "--model", MODEL, "--drawings", tmp_path]) == 0
    out, err = capsys.readouterr()
    assert "(n=2)" in out and "misclassified drawings: none" in out
    skipped = err.strip().splitlines()
    assert len(skipped) == 2 and all(line.startswith("evenodd: skipped ") for line in skipped)
    assert "blank.png: nothing drawn; skipped" in skipped[0]
    assert "notes.png: not an image file" in skipped[1]


def test_the_evaluate_tab_scores_a_large_drawing_too(window, qtbot, tmp_path) -> None:
    """The Evaluate tab's "Evaluate on my drawings" reads the folder with the same engine
    function (`load_drawings`), so it gets the same answer as `predict`."""
    from PySide6.QtCore import Qt

    shutil.copy(sample("7_odd_thin"), tmp_path / "seven.png")  # 400x300, dark on light
    (tmp_path / LABELS_FILE).write_text("file,parity\nseven.png,odd\n")
    window.state.set_classifier(load_checkpoint(MODEL, expect=("classifier",)))
    window.state.drawings.set_folder(tmp_path)
    qtbot.waitUntil(window.state.drawings.loaded, timeout=10_000)
    button = window.evaluate_panel.drawings_button
    assert button.isEnabled()
    with qtbot.waitSignal(window.state.runner.succeeded, timeout=60_000):
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    evaluation = window.evaluate_panel.evaluation
    (prediction,) = predict_images(window.state.classifier.model, [tmp_path / "seven.png"])
    assert evaluation.n == 1 and evaluation.accuracy == 1.0
    assert abs(float(evaluation.p_odd[0]) - prediction.p_odd) < 1e-6
