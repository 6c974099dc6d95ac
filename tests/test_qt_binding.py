"""The installed Qt binding must not leak references to None/True (PySide6 6.12.0 did).

Run in a subprocess: the leak ends in a fatal abort, which would kill the test process.
"""

import subprocess
import sys

PROBE = """
import sys
from PySide6.QtCore import QObject, Signal

class Probe(QObject):
    ping = Signal()

probe = Probe()
none_before, true_before = sys.getrefcount(None), sys.getrefcount(True)
for _ in range(2000):
    probe.setObjectName("probe")
    probe.ping.emit()
print(sys.getrefcount(None) - none_before, sys.getrefcount(True) - true_before)
"""


def test_void_calls_and_emits_keep_none_and_true_alive():
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-500:]
    none_delta, true_delta = map(int, done.stdout.split())
    assert none_delta > -100 and true_delta > -100, (none_delta, true_delta)
