"""Even/Odd Studio desktop app (PySide6).

The GUI only arranges widgets and runs engine functions in a background thread; all
training, data and checkpoint logic lives in `engine/`. Nothing here imports torch at
module level, so the window can appear before the heavy libraries are loaded.
"""

from __future__ import annotations

import sys


def _guard_singleton_refcounts() -> bool:
    """Work around a PySide6 6.12.0 refcount bug on CPython < 3.12.

    In that release, Qt methods called from Python that return void (setObjectName,
    processEvents, QTimer.start, ...) hand back None without a new reference, and
    `SignalInstance.emit()` does the same with True. Each call therefore drops one
    reference to None or True; a GUI makes thousands of such calls a minute, and when the
    count reaches zero CPython aborts ("none_dealloc: deallocating None" or
    "bool_dealloc"). CPython 3.12+ makes these singletons immortal, which hides the bug.

    We probe for the leak and, only if it is present, give None, True and False a huge
    extra reference count (2**40), which makes them effectively immortal here too.
    Returns whether the guard was applied. Remove once PySide6 is fixed or pinned away.
    """
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return False
    if hasattr(sys, "gettotalrefcount"):  # debug build: object layout differs, do nothing
        return False
    import ctypes

    from PySide6.QtCore import QObject, Signal

    class _Probe(QObject):
        ping = Signal()

    probe = _Probe()
    none_before, true_before = sys.getrefcount(None), sys.getrefcount(True)
    for _ in range(20):
        probe.setObjectName("probe")
        probe.ping.emit()
    leaks = sys.getrefcount(None) - none_before <= -20 or sys.getrefcount(True) - true_before <= -20
    if not leaks:
        return False
    for singleton in (None, True, False):
        ctypes.c_ssize_t.from_address(id(singleton)).value += 1 << 40
    return True


SINGLETON_GUARD_APPLIED = _guard_singleton_refcounts()
