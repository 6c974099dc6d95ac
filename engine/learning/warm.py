"""One-time imports done ahead of need, so that they never happen in the middle of a run.

An import holds the GIL in stretches of 100-400 ms (loading compiled modules and their
bytecode, and the full garbage collections its many new objects set off: see
gui.app.freeze_long_lived_objects), so when a GUI's worker thread does one, the window
freezes that long (bench/gui_heartbeat.py found these as the only stalls over 100 ms in
training). The app calls `warm_up` in a background thread at start-up, before anyone
presses Start.
"""

from __future__ import annotations


def warm_up() -> None:
    """Import what the first training run and the first evaluation would import."""
    import torch

    import engine.learning.evaluate  # noqa: F401 - scikit-learn's metrics
    from engine.config import TrainConfig
    from engine.learning.training import make_optimizer

    # Building the first optimizer imports torch._dynamo: about 900 modules (sympy and
    # triton among them), 1.5-2 s here.
    make_optimizer([torch.nn.Parameter(torch.zeros(1))], TrainConfig())
