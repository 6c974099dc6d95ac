"""What My drawings cost the GUI thread: saving one drawing, reading a folder, the gallery.

Saving (Mark even/odd) and the gallery's refresh run in the GUI thread, so they must stay
well under the 100 ms stall budget. Prints median and worst over N saves into a fresh
temporary folder, then the time to read the whole folder (in a background thread) and
how long the GUI thread spends filling the gallery with it.
    python bench/drawings_cost.py [N]        (default 500)
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["EVENODD_SETTINGS_FILE"] = str(Path(tempfile.mkdtemp()) / "settings.ini")


def main() -> None:
    import numpy as np
    from helpers_data import make_digits
    from PySide6.QtWidgets import QApplication

    from engine.data.personal import load_drawings
    from gui.state.drawings import MyDrawings
    from gui.widgets.drawings_gallery import DrawingsGallery

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    app = QApplication([])
    folder = Path(tempfile.mkdtemp(prefix="evenodd-drawings-"))
    drawings = MyDrawings()
    drawings.set_folder(folder)
    gallery = DrawingsGallery(drawings)
    gallery.resize(320, 400)
    gallery.show()
    images, labels = make_digits(n, seed=0)
    raw = np.full((480, 640), 255, np.uint8)  # a canvas-sized raw drawing
    times, gui_ms, refresh_ms = [], [], []
    refresh = gallery.refresh

    def timed_refresh() -> None:
        t = time.perf_counter()
        refresh()
        refresh_ms.append(1000 * (time.perf_counter() - t))

    drawings.changed.disconnect(refresh)
    drawings.changed.connect(timed_refresh)
    for image, digit in zip(images, labels, strict=True):
        t0 = time.perf_counter()
        drawings.add(image, "odd" if digit % 2 else "even", raw)  # written in background
        gui_ms.append(1000 * (time.perf_counter() - t0))
        while drawings.busy():
            app.processEvents()
        times.append(time.perf_counter() - t0)
    times.sort()
    print(
        f"save, {n} drawings: written and shown after median {1000 * times[n // 2]:.1f} ms, "
        f"worst {1000 * times[-1]:.1f} ms; GUI thread: add() {max(gui_ms):.1f} ms at most, "
        f"gallery update {max(refresh_ms):.1f} ms at most"
    )
    refresh_ms.clear()
    t0 = time.perf_counter()
    assert len(load_drawings(folder)) == n
    print(f"reading the folder of {n}: {1000 * (time.perf_counter() - t0):.0f} ms")
    t0 = time.perf_counter()
    drawings.set_folder(folder)  # as when the folder is chosen: read in the background
    while not drawings.loaded():
        app.processEvents()
    print(
        f"changing to that folder: loaded after {1000 * (time.perf_counter() - t0):.0f} ms; "
        f"GUI thread: gallery rebuilt in {max(refresh_ms):.0f} ms"
    )
    print(f"folder: {folder}")


if __name__ == "__main__":
    main()
