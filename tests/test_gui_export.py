"""File → Export classifier as ONNX…: greyed out with the reason until there is a
classifier, runs in the background, says where it wrote, and shows a failure in one line."""

from __future__ import annotations

import pytest

pytest.importorskip("onnx", reason="the onnx extra is not installed")
pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")


@pytest.fixture
def shipped():
    from engine.store.checkpoint import load_checkpoint
    from engine.store.resources import default_model_path

    return load_checkpoint(default_model_path("classifier"), expect=("classifier",))


def test_export_is_greyed_out_with_the_reason_without_a_classifier(window) -> None:
    action = window.export_onnx_action
    assert not action.isEnabled()
    assert "no classifier yet" in action.toolTip()
    assert window.export_onnx("/nowhere/x.onnx") is False


def test_export_writes_the_file_in_the_background(window, qtbot, shipped, tmp_path) -> None:
    import onnx

    window.state.set_classifier(shipped)
    assert window.export_onnx_action.isEnabled()
    out = tmp_path / "mine.onnx"
    messages: list[str] = []
    window.state.status_message.connect(messages.append)
    assert window.export_onnx(str(out))
    assert any("Exporting the classifier to mine.onnx" in m for m in messages)
    qtbot.waitUntil(lambda: any("Exported the classifier" in m for m in messages), timeout=60_000)
    qtbot.waitUntil(lambda: not window.state.runner.is_busy(), timeout=10_000)
    props = {p.key: p.value for p in onnx.load(out).metadata_props}
    assert props["evenodd.checkpoint_sha256"] == shipped.sha256
    assert any("onnxruntime agrees with torch" in m for m in messages)
    assert window.state.classifier.model is shipped.model  # exported from a copy


def test_a_failed_export_is_one_line(window, qtbot, shipped, tmp_path, shown_errors) -> None:
    window.state.set_classifier(shipped)
    assert window.export_onnx(str(tmp_path))  # a folder, not a file
    qtbot.waitUntil(lambda: bool(shown_errors), timeout=60_000)
    message, details = shown_errors[0]
    assert "it is a folder" in message and "\n" not in message and details == ""


def test_without_onnx_the_item_says_which_extra(window, shipped, monkeypatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "onnx", None)  # as if the onnx extra were not installed
    window.state.set_classifier(shipped)
    action = window.export_onnx_action
    assert not action.isEnabled() and "evenodd-studio[onnx]" in action.toolTip()
