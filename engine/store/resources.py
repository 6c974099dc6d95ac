"""Finding files the app ships (default model, sample drawings, icons), frozen or not.

From source the files live in the repository's `resources/` folder; in a PyInstaller
bundle they are unpacked under `sys._MEIPASS/resources`. Everything that needs a shipped
file asks this one helper, so the two cases cannot drift apart.
"""

from __future__ import annotations

import sys
from pathlib import Path

DEFAULT_MODEL_DIR = "default_model"


def is_frozen() -> bool:
    return bool(getattr(sys, "frozen", False)) and hasattr(sys, "_MEIPASS")


def resources_dir() -> Path:
    if is_frozen():
        return Path(sys._MEIPASS) / "resources"  # type: ignore[attr-defined]
    return Path(__file__).resolve().parents[2] / "resources"


def resource_path(*parts: str) -> Path:
    """Path of a shipped file; it may not exist (callers say so in plain words)."""
    return resources_dir().joinpath(*parts)


def default_model_path(kind: str = "classifier") -> Path:
    """The shipped default checkpoint of `kind` (classifier, encoder or autoencoder)."""
    return resource_path(DEFAULT_MODEL_DIR, f"{kind}.pt")
