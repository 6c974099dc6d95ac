"""The Data tab's Download button with the network replaced: it loads what arrives, shows
bytes, and its Stop ends the download leaving no partial file."""

from __future__ import annotations

import io
import threading

from test_download import N_TEST, Network, served  # noqa: F401 - `served` is a fixture

from engine.data import download as dl


def test_download_button_loads_mnist_and_shows_megabytes(
    window,
    qtbot,
    tmp_path,
    monkeypatch,
    served,  # noqa: F811
) -> None:
    monkeypatch.setenv("EVENODD_DATA_DIR", str(tmp_path / "userdata"))
    monkeypatch.setattr(dl, "open_url", Network(served))
    formats: list[str] = []
    monkeypatch.setattr(window.data_panel.progress, "setFormat", formats.append)
    with qtbot.waitSignal(window.state.data_changed, timeout=60_000):
        assert window.data_panel.download()
    qtbot.waitUntil(lambda: not window.state.runner.is_busy(), timeout=10_000)
    assert len(window.state.data.mnist.test_images) == N_TEST
    assert formats and all(f.startswith("downloading MNIST: ") and " MB" in f for f in formats)


class _Endless(io.RawIOBase):
    """A response that never ends, a little at a time, like a very slow mirror."""

    def __init__(self, gate: threading.Event) -> None:
        self.gate = gate

    def read(self, size: int = -1) -> bytes:
        self.gate.wait(0.01)  # latency of the fake network, not a wait for the test
        return b"\0" * 512


def test_stop_ends_the_download_and_leaves_no_partial_file(
    window, qtbot, tmp_path, monkeypatch, shown_errors
) -> None:
    home = tmp_path / "userdata"
    monkeypatch.setenv("EVENODD_DATA_DIR", str(home))
    gate = threading.Event()
    monkeypatch.setattr(dl, "open_url", lambda url, timeout: _Endless(gate))
    assert window.data_panel.download()
    qtbot.waitUntil(lambda: window.data_panel.progress.value() > 0, timeout=30_000)
    window.data_panel.stop()
    qtbot.waitUntil(lambda: not window.state.runner.is_busy(), timeout=10_000)
    assert window.state.data is None
    assert not shown_errors  # asked for: a line, not an error box
    assert "stopped" in window.data_panel.status_label.text()
    assert list(home.iterdir()) == []
