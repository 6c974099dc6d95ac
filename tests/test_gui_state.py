"""The app's state without Qt (gui.state.model): what it holds, what it tells its views, and
the rule that decides whether a request starts, waits its turn or is refused."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from gui.state.model import LONG_JOBS, AppModel, JobQueue, Request

ROOT = Path(__file__).resolve().parents[1]


def test_the_state_imports_neither_qt_nor_torch() -> None:
    code = (
        "import sys, gui.state.model; "
        "print(sorted(m for m in ('PySide6', 'shiboken6', 'torch') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "[]"


def test_no_gui_module_but_the_entry_point_imports_the_main_window() -> None:
    importers = []
    for path in sorted((ROOT / "gui").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if any(name == "gui.main_window" for name in names):
                importers.append(path.name)
    assert importers == ["app.py"]


def checkpoint(kind: str) -> SimpleNamespace:
    return SimpleNamespace(kind=kind, model=object(), has_decoder=kind == "autoencoder")


def test_setters_tell_the_views() -> None:
    model = AppModel()
    heard: list[object] = []
    model.data_changed.connect(lambda: heard.append("data"))
    model.models_changed.connect(lambda: heard.append("models"))
    model.budget_changed.connect(lambda text: heard.append(("budget", text)))
    model.set_data(SimpleNamespace(folder="/mnist"))
    model.set_classifier(checkpoint("classifier"))
    model.set_budget_text("all")  # unchanged: nothing to tell
    model.set_budget_text("300")
    assert heard == ["data", "models", ("budget", "300")]
    assert model.budget_text == "300"


def test_the_draw_tab_reconstructs_with_the_closest_autoencoder() -> None:
    model = AppModel()
    assert model.decoder_model() is None
    shipped = checkpoint("autoencoder")
    assert model.set_shipped(checkpoint("classifier"), shipped)
    assert model.decoder_model() is shipped.model
    model.set_encoder_file(checkpoint("encoder"))  # no decoder in it
    assert model.decoder_model() is shipped.model
    opened = checkpoint("autoencoder")
    model.set_encoder_file(opened)
    assert model.decoder_model() is opened.model
    trained = checkpoint("autoencoder")
    model.set_autoencoder(trained, sha256=None)
    assert model.decoder_model() is trained.model


def test_the_shipped_model_never_replaces_an_opened_classifier() -> None:
    model = AppModel()
    opened = checkpoint("classifier")
    model.set_classifier(opened)
    assert not model.set_shipped(checkpoint("classifier"), checkpoint("autoencoder"))
    assert model.classifier is opened and model.shipped_autoencoder is None


def test_file_dialogs_open_where_the_last_file_was() -> None:
    model = AppModel()
    assert model.start_dir() == str(Path.home())
    model.remember_dir("/runs/one/encoder.pt")
    assert model.start_dir() == "/runs/one"


def request(key: str, label: str = "") -> Request:
    return Request(key, label or key, lambda: None)


def test_a_request_starts_at_once_when_nothing_runs() -> None:
    queue = JobQueue()
    decision = queue.admit(request("data"))
    assert decision.outcome == "start" and decision.message == ""
    assert queue.waiting == ()


def test_behind_a_short_job_every_request_waits_its_turn_in_order() -> None:
    queue = JobQueue()
    changes: list[int] = []
    queue.changed.connect(lambda: changes.append(len(queue.waiting)))
    queue.set_running("open-default")
    first = queue.admit(request("data", "load MNIST from /mnist"))
    assert first.outcome == "queued"
    assert first.message == (
        "Queued: load MNIST from /mnist; it starts when loading the shipped model ends."
    )
    for key in ("pretrain", "evaluate", "open-classifier"):
        assert queue.admit(request(key)).outcome == "queued"
    assert [r.key for r in queue.waiting] == ["data", "pretrain", "evaluate", "open-classifier"]
    assert [queue.pop().key for _ in range(4)] == [
        "data",
        "pretrain",
        "evaluate",
        "open-classifier",
    ]
    assert queue.pop() is None
    assert changes[:2] == [0, 1]  # set_running, then the first request


def test_a_newer_request_of_a_kind_replaces_the_waiting_one() -> None:
    queue = JobQueue()
    queue.set_running("evaluate")
    queue.admit(request("data", "load MNIST from /a"))
    queue.admit(request("evaluate"))
    decision = queue.admit(request("data", "load MNIST from /b"))
    assert decision.outcome == "queued" and "replaces the earlier request" in decision.message
    assert [r.label for r in queue.waiting] == ["evaluate", "load MNIST from /b"]


@pytest.mark.parametrize("running", sorted(LONG_JOBS))
@pytest.mark.parametrize("asked", sorted(LONG_JOBS))
def test_a_training_or_study_is_refused_while_one_runs(running: str, asked: str) -> None:
    queue = JobQueue()
    queue.set_running(running)
    decision = queue.admit(request(asked, "the thing asked for"))
    assert decision.outcome == "refused"
    assert decision.message.startswith("Did not start the thing asked for: ")
    assert "is still running. Stop it (Esc) or wait until it ends." in decision.message
    assert queue.waiting == ()


@pytest.mark.parametrize("asked", ["data", "open-encoder", "open-classifier", "evaluate"])
def test_loading_opening_and_evaluating_wait_behind_a_training(asked: str) -> None:
    queue = JobQueue()
    queue.set_running("finetune")
    decision = queue.admit(request(asked))
    assert decision.outcome == "queued" and "when fine-tuning ends" in decision.message


def test_data_is_coming_while_it_loads_or_waits_to() -> None:
    model = AppModel()
    assert not model.data_coming()
    model.jobs.set_running("load")
    assert model.data_coming()
    model.jobs.set_running("evaluate")
    assert not model.data_coming()
    model.jobs.admit(request("data"))
    assert model.data_coming()
    model.jobs.clear()
    assert not model.data_coming() and model.jobs.waiting == ()
