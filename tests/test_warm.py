"""The start-up warm-up: it does the imports a first run would do, in a background thread."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_warm_up_imports_what_the_first_run_needs() -> None:
    code = (
        "import sys, torch\n"
        "assert 'torch._dynamo' not in sys.modules and 'sklearn.metrics' not in sys.modules\n"
        "from engine.learning.warm import warm_up\n"
        "warm_up()\n"
        "assert 'torch._dynamo' in sys.modules and 'sklearn.metrics' in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_start_up_warms_up_in_a_background_thread_after_the_model(monkeypatch) -> None:
    import engine.learning.warm
    from gui.app import start_up

    calls: list[str] = []
    warmed = threading.Event()

    def fake_warm_up() -> None:
        calls.append(threading.current_thread().name)
        warmed.set()

    class Window:
        def finish_startup(self) -> None:
            calls.append("tabs")

        def load_default_model(self, then) -> None:
            calls.append("model")
            then()

        def load_remembered_data(self) -> None:
            calls.append("data")

    monkeypatch.setattr(engine.learning.warm, "warm_up", fake_warm_up)
    start_up(Window())
    assert warmed.wait(10)
    assert calls == ["tabs", "model", "data", "warm-up"]
