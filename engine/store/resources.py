"""Finding files the app ships (default model, sample drawings, icons), however it runs.

The repository keeps them in its top-level `resources/` folder. Three ways of running put
them in three places, and everything that needs a shipped file asks this one helper, so
the cases cannot drift apart:

- a PyInstaller bundle unpacks them under `sys._MEIPASS/resources`;
- an installed wheel (or a non-editable `pip install .`) carries them inside this package
  as `engine/shipped/` (pyproject.toml maps `resources/` to the package `engine.shipped`);
- a source checkout or an editable install reads the repository's `resources/`.
"""

from __future__ import annotations

import sys
from pathlib import Path

DEFAULT_MODEL_DIR = "default_model"
INSTALLED_DIR = "shipped"  # engine/shipped in an installed copy: see pyproject.toml


def is_frozen() -> bool:
    return bool(getattr(sys, "frozen", False)) and hasattr(sys, "_MEIPASS")


def resources_dir() -> Path:
    if is_frozen():
        return Path(sys._MEIPASS) / "resources"  # type: ignore[attr-defined]
    engine_dir = Path(__file__).resolve().parents[1]
    installed = engine_dir / INSTALLED_DIR
    if installed.is_dir():
        return installed
    return engine_dir.parent / "resources"


def resource_path(*parts: str) -> Path:
    """Path of a shipped file; it may not exist (callers say so in plain words)."""
    return resources_dir().joinpath(*parts)


def default_model_path(kind: str = "classifier") -> Path:
    """The shipped default checkpoint of `kind` (classifier, encoder or autoencoder)."""
    return resource_path(DEFAULT_MODEL_DIR, f"{kind}.pt")
