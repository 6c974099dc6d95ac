"""Even/Odd Studio desktop app (PySide6).

The GUI only arranges widgets and runs engine functions in a background thread; all
training, data and checkpoint logic lives in `engine/`. Nothing here imports torch at
module level, so the window can appear before the heavy libraries are loaded.
"""


def _fix_signal_emit_refcount() -> bool:
    """Work around a PySide6 6.12.0 bug: `SignalInstance.emit()` returns True without a
    reference, so every emit from Python drops one reference to `True`; after a few
    hundred emits CPython < 3.12 aborts with "bool_dealloc: deallocating True or False".

    We probe for the bug (ten emits on a throw-away signal) and, only if it is present,
    wrap `emit` to give the missing reference back. Returns whether the fix was applied.
    """
    import ctypes
    import sys

    from PySide6.QtCore import QObject, Signal, SignalInstance

    class _Probe(QObject):
        ping = Signal()

    probe = _Probe()
    before = sys.getrefcount(True)
    for _ in range(10):
        probe.ping.emit()
    if sys.getrefcount(True) - before > -10:
        return False
    original = SignalInstance.emit
    incref = ctypes.pythonapi.Py_IncRef
    incref.argtypes = [ctypes.py_object]
    incref.restype = None

    def emit(self: SignalInstance, *args: object) -> object:
        result = original(self, *args)
        incref(result)
        return result

    emit.__doc__ = original.__doc__
    SignalInstance.emit = emit  # type: ignore[method-assign]
    for _ in range(10):  # repay the ten references the probe took
        incref(True)
    return True


SIGNAL_EMIT_FIXED = _fix_signal_emit_refcount()
