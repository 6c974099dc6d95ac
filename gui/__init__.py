"""Even/Odd Studio desktop app (PySide6).

The GUI only arranges widgets and runs engine functions in a background thread; all
training, data and checkpoint logic lives in `engine/`. Nothing here imports torch at
module level, so the window can appear before the heavy libraries are loaded.

PySide6 6.12.0 is excluded in pyproject.toml: on CPython < 3.12 it drops a reference to
None/True on every void Qt call and signal emit, and the interpreter aborts after a few
thousand calls (tests/test_qt_binding.py checks the installed binding).
"""
