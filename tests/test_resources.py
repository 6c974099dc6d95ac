"""The resource helper finds shipped files from source and in a (simulated) frozen bundle,
and the shipped files themselves are there and usable."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from engine.store import resources
from engine.store.resources import default_model_path, is_frozen, resource_path, resources_dir

REPO = Path(__file__).resolve().parent.parent


def test_from_source_resources_are_the_repository_folder() -> None:
    assert not is_frozen()
    assert resources_dir() == REPO / "resources"
    assert resource_path("samples", "7_odd_thick.png") == REPO / "resources/samples/7_odd_thick.png"


@pytest.mark.parametrize("kind", ["classifier", "encoder", "autoencoder"])
def test_default_model_paths_exist_from_source(kind: str) -> None:
    path = default_model_path(kind)
    assert path == REPO / "resources" / "default_model" / f"{kind}.pt"
    assert path.is_file()


def test_default_kind_is_the_classifier() -> None:
    assert default_model_path() == default_model_path("classifier")


def test_frozen_resources_live_under_meipass(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """PyInstaller sets sys.frozen and unpacks data under sys._MEIPASS; the helper must look
    there and nowhere near the source tree, or a bundle would silently use stale files."""
    bundled = tmp_path / "resources" / "default_model"
    bundled.mkdir(parents=True)
    (bundled / "classifier.pt").write_bytes(b"bundled")
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert is_frozen()
    assert resources_dir() == tmp_path / "resources"
    assert default_model_path().read_bytes() == b"bundled"
    assert resource_path("icons", "app.png") == tmp_path / "resources" / "icons" / "app.png"


def test_frozen_flag_without_meipass_is_not_a_bundle(monkeypatch: pytest.MonkeyPatch) -> None:
    """Other freezers (cx_Freeze, py2exe) set sys.frozen without _MEIPASS; from source then."""
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.delattr(sys, "_MEIPASS", raising=False)
    assert not resources.is_frozen()
    assert resources_dir() == REPO / "resources"


def test_shipped_default_model_loads_and_is_small() -> None:
    from engine.store.checkpoint import load_checkpoint

    total = 0
    for kind in ("classifier", "encoder", "autoencoder"):
        loaded = load_checkpoint(default_model_path(kind), expect=(kind,))
        assert loaded.kind == kind
        total += default_model_path(kind).stat().st_size
    assert total < 5 * 2**20  # "a few MB at most"


def test_shipped_samples_and_icons_exist() -> None:
    samples = sorted(resource_path("samples").glob("*.png"))
    assert len(samples) >= 10
    assert {p.name.split("_")[0] for p in samples} == {str(d) for d in range(10)}
    for name in ("app.png", "app.ico"):
        assert resource_path("icons", name).is_file()
