"""The engine never imports Qt: the CLI, CI and worker threads depend on it."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QT_PREFIXES = ("PySide6", "PySide2", "PyQt5", "PyQt6", "shiboken", "qtpy", "pyqtgraph")

IMPORT_ALL = """
import sys
import engine.cli.commands, engine.jobs.pipeline, engine.learning.training
import engine.store.checkpoint, engine.data.preprocess, engine.data.mnist
import engine.learning.evaluate, engine.reports.report, engine.reports.console
import engine.data.drawings
import engine.cli.commands as cli
cli.build_parser()  # what `evenodd` itself runs, including optional commands
qt = sorted(m for m in sys.modules if m.startswith(PREFIXES))
assert not qt, f"Qt modules imported by the engine: {qt}"
# pyplot would pick a GUI backend if one were importable; the engine draws with Agg only
assert "matplotlib.pyplot" not in sys.modules, "the engine imported matplotlib.pyplot"
print("ok")
"""


def test_importing_the_engine_loads_no_qt():
    code = f"PREFIXES = {QT_PREFIXES!r}\n" + IMPORT_ALL
    env = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND", "QT_QPA_PLATFORM")}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def _imported_names(tree: ast.AST) -> list[tuple[int, str]]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append((node.lineno, node.module))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "__import__"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            names.append((node.lineno, str(node.args[0].value)))
    return names


def test_no_engine_file_imports_qt_or_the_gui():
    files = sorted((ROOT / "engine").rglob("*.py"))
    assert len(files) >= 10
    offenders = []
    for path in files:
        source = path.read_text(encoding="utf-8")
        for lineno, name in _imported_names(ast.parse(source, str(path))):
            if name.startswith(QT_PREFIXES) or name == "gui" or name.startswith("gui."):
                offenders.append(f"{path.relative_to(ROOT)}:{lineno} imports {name}")
            if "backend_qt" in name or name.startswith("matplotlib.pyplot"):
                offenders.append(f"{path.relative_to(ROOT)}:{lineno} imports {name}")
        for text in ('import_module("PySide', "import_module('PySide", "QtAgg"):
            if text in source:
                offenders.append(f"{path.relative_to(ROOT)} mentions {text}")
    assert not offenders, offenders
