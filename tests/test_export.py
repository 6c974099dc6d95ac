"""ONNX export (engine.store.export, `evenodd export`): the graph onnxruntime runs gives
the parity and P(odd) torch gives, deskewing included, and carries the checkpoint's lineage.

The inputs are real digits where we have them: the shipped sample drawings preprocessed
as `predict` does, the tests' synthetic digits, and (marked `mnist`) all 10,000 real
MNIST test images.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers_cli import cli
from helpers_data import make_digits
from PIL import Image

from engine.data.preprocess import preprocess_file, to_model_input
from engine.learning.models import Classifier
from engine.store.checkpoint import file_sha256, load_checkpoint, save_checkpoint
from engine.store.export import (
    INPUT,
    OUTPUT,
    PREFIX,
    ExportError,
    export_onnx,
    onnx_session,
)
from engine.store.resources import default_model_path, resource_path

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed")
pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")

pytestmark = pytest.mark.usefixtures("one_torch_thread")

MNIST_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "mnist"
SAMPLES = sorted(resource_path("samples").glob("*.png"))

# The snippet the docs show (keep the two the same): the exported model outside the app.
SNIPPET = """\
import numpy as np, onnxruntime as ort
from PIL import Image

session = ort.InferenceSession("classifier.onnx")
digit = Image.open("digit.png").convert("L")  # 28x28, white digit on black, like MNIST
x = np.asarray(digit, dtype=np.float32).reshape(1, 1, 28, 28) / 255
p_odd = session.run(None, {"image": x})[0][0]
print("odd" if p_odd > 0.5 else "even", round(float(p_odd), 4))
"""


def images_batch() -> torch.Tensor:
    """Model inputs (N, 1, 28, 28): the shipped samples preprocessed, then synthetic digits."""
    samples = [to_model_input(preprocess_file(path)) for path in SAMPLES]
    digits, _ = make_digits(200, seed=3)
    synthetic = torch.from_numpy(digits).float().div(255).unsqueeze(1)
    return torch.cat([torch.from_numpy(np.concatenate(samples)), synthetic])


def torch_p_odd(model: torch.nn.Module, images: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return torch.sigmoid(model(images)).numpy()


@pytest.fixture(scope="module")
def shipped():
    return load_checkpoint(default_model_path("classifier"), expect=("classifier",))


@pytest.fixture(scope="module")
def shipped_onnx(shipped, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("onnx") / "classifier.onnx"
    exported = export_onnx(shipped, path)
    assert exported.max_difference is not None and exported.max_difference <= 1e-4
    return path


@pytest.fixture(scope="module")
def deskewing(shipped, tmp_path_factory):
    """A small deskewing classifier with trained weights: the shipped conv weights behind a
    Deskew front (it has no weights), saved with lineage as `finetune` would save it."""
    arch = replace(shipped.arch, deskew=True)
    model = Classifier(arch)
    model.load_state_dict(shipped.model.state_dict())
    path = tmp_path_factory.mktemp("deskew") / "deskewing.pt"
    extra = {"labels": 100, "mode": "semi-supervised", "unlabelled": 54_900}
    save_checkpoint(
        path, model.eval(), arch, train_config={"lr": 0.003}, metrics={"val_accuracy": 0.99},
        seed=7, encoder_sha256="ab" * 32, extra=extra,
    )  # fmt: skip
    return load_checkpoint(path, expect=("classifier",))


def test_shipped_model_same_parity_and_p_odd(shipped, shipped_onnx) -> None:
    images = images_batch()
    session = onnx_session(shipped_onnx)
    got = session.run([OUTPUT], {INPUT: images.numpy()})[0]
    expected = torch_p_odd(shipped.model, images)
    assert got.shape == expected.shape == (len(images),)
    assert np.abs(got - expected).max() <= 1e-4
    assert ((got > 0.5) == (expected > 0.5)).all()
    assert 0.2 < (expected > 0.5).mean() < 0.8  # both parities occur: the check means something
    one = session.run([OUTPUT], {INPUT: images[:1].numpy()})[0]  # the batch axis is dynamic
    assert one.shape == (1,) and abs(float(one[0]) - float(expected[0])) <= 1e-4


def test_deskewing_classifier_exports_its_deskew(deskewing, shipped, tmp_path) -> None:
    out = tmp_path / "deskewing.onnx"
    export_onnx(deskewing, out)
    ops = {node.op_type for node in onnx.load(out).graph.node}
    assert {"AffineGrid", "GridSample"} <= ops
    images = images_batch()
    session = onnx_session(out)
    got = session.run([OUTPUT], {INPUT: images.numpy()})[0]
    expected = torch_p_odd(deskewing.model, images)
    assert np.abs(got - expected).max() <= 1e-4
    assert ((got > 0.5) == (expected > 0.5)).all()
    # The deskewing is really in the graph: without it the same weights answer differently.
    assert np.abs(got - torch_p_odd(shipped.model, images)).max() > 0.01


def test_lineage_is_in_the_metadata(deskewing, tmp_path) -> None:
    out = tmp_path / "m.onnx"
    exported = export_onnx(deskewing, out)
    props = {p.key: p.value for p in onnx.load(out).metadata_props}
    assert props == exported.metadata
    assert props[PREFIX + "kind"] == "classifier"
    assert props[PREFIX + "checkpoint_sha256"] == file_sha256(deskewing.path)
    assert props[PREFIX + "checkpoint_file"] == "deskewing.pt"
    assert props[PREFIX + "encoder_sha256"] == "ab" * 32
    assert json.loads(props[PREFIX + "seed"]) == 7
    assert json.loads(props[PREFIX + "train_config"]) == {"lr": 0.003}
    assert json.loads(props[PREFIX + "metrics"]) == {"val_accuracy": 0.99}
    assert json.loads(props[PREFIX + "labels"]) == {"labels": 100, "unlabelled": 54_900}
    assert json.loads(props[PREFIX + "extra"])["unlabelled"] == 54_900
    assert json.loads(props[PREFIX + "deskew"]) is True
    assert props[PREFIX + "app_version"]
    model = onnx.load(out)
    assert model.producer_name == "evenodd-studio" and "P(odd)" in model.doc_string


def test_cli_export(tmp_path, capsys) -> None:
    out = tmp_path / "out" / "classifier.onnx"  # a folder that does not exist yet
    assert cli(["export", "--model", default_model_path("classifier"), "--onnx", out]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}" in printed and "onnxruntime agrees with torch" in printed
    assert onnx_session(out).get_inputs()[0].shape == ["batch", 1, 28, 28]


def test_cli_refuses_a_non_classifier_in_one_line(tmp_path, capsys) -> None:
    out = tmp_path / "e.onnx"
    assert cli(["export", "--model", default_model_path("encoder"), "--onnx", out]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "classifier is needed" in err and not out.exists()


def test_without_onnx_the_message_names_the_extra(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx fails, find_spec says None
    out = tmp_path / "x.onnx"
    assert cli(["export", "--model", default_model_path("classifier"), "--onnx", out]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "evenodd-studio[onnx]" in err and not out.exists()


def test_a_failed_check_leaves_the_old_file(shipped, tmp_path, monkeypatch) -> None:
    out = tmp_path / "old.onnx"
    out.write_bytes(b"previous export")
    monkeypatch.setattr("engine.store.export.TOLERANCE", -1.0)  # every check now fails
    with pytest.raises(ExportError, match="disagrees with torch"):
        export_onnx(shipped, out)
    assert out.read_bytes() == b"previous export"
    assert [p.name for p in tmp_path.iterdir()] == ["old.onnx"]  # no temporary file left


def test_export_leaves_the_model_as_it_was(shipped, tmp_path) -> None:
    model = shipped.model
    before = {k: v.clone() for k, v in model.state_dict().items()}
    export_onnx(shipped, tmp_path / "a.onnx")
    assert not model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.skipif(not SAMPLES, reason="no shipped sample drawings")
def test_the_docs_snippet_runs(shipped, shipped_onnx, tmp_path, monkeypatch) -> None:
    """The snippet, run as a user would: on a shipped sample, preprocessed to 28x28 first
    (the snippet expects an MNIST-like 28x28 image, which is what `to_mnist` makes)."""
    sample = next(p for p in SAMPLES if "_odd_" in p.name)
    img28 = preprocess_file(sample)
    Image.fromarray(img28).save(tmp_path / "digit.png")
    (tmp_path / "classifier.onnx").write_bytes(shipped_onnx.read_bytes())
    monkeypatch.chdir(tmp_path)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(SNIPPET, "snippet", "exec"), {})
    word, p_odd = printed.getvalue().split()
    expected = float(torch_p_odd(shipped.model, torch.from_numpy(to_model_input(img28)))[0])
    assert word == ("odd" if expected > 0.5 else "even") == "odd"
    assert abs(float(p_odd) - expected) <= 1e-4
    assert 5 <= len(SNIPPET.strip().splitlines()) <= 8
    root = Path(__file__).resolve().parents[1]
    for page in ("README.md", "docs/command-line.md"):  # the docs show this very code
        assert SNIPPET.strip() in (root / page).read_text(encoding="utf-8"), page


@pytest.mark.mnist
@pytest.mark.skipif(not MNIST_DIR.is_dir(), reason=f"real MNIST not found at {MNIST_DIR}")
@pytest.mark.parametrize("which", ["shipped", "deskewing"])
def test_all_10000_real_test_images_agree(which, request, tmp_path) -> None:
    from engine.data.mnist import read_folder

    checkpoint = request.getfixturevalue(which)
    export_onnx(checkpoint, tmp_path / "c.onnx")
    images = read_folder(MNIST_DIR).test_images.float().div(255).unsqueeze(1)
    assert len(images) == 10_000
    got = onnx_session(tmp_path / "c.onnx").run([OUTPUT], {INPUT: images.numpy()})[0]
    expected = torch_p_odd(checkpoint.model, images)
    assert np.abs(got - expected).max() <= 1e-4
    assert ((got > 0.5) == (expected > 0.5)).all()
