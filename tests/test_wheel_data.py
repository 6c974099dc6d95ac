"""An installed copy (wheel, non-editable `pip install .`) carries what the app ships.

Building a wheel takes seconds and is done by .ci/run's wheel check; these tests check the
declarations the wheel is built from, which is where a new file or package gets forgotten,
and that the resource helper finds the files where a wheel puts them.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

REPO = Path(__file__).resolve().parent.parent
SETUPTOOLS = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
    "setuptools"
]
SHIPPED = "engine.shipped"


def test_every_package_under_engine_and_gui_is_listed() -> None:
    """The package list is written out (a found list cannot map resources/ to another
    name), so a new subpackage must be added by hand: this fails until it is."""
    on_disk = {
        ".".join(init.parent.relative_to(REPO).parts)
        for top in ("engine", "gui")
        for init in (REPO / top).rglob("__init__.py")
    }
    listed = set(SETUPTOOLS["packages"])
    assert on_disk - listed == set(), "packages missing from [tool.setuptools] packages"
    assert listed - on_disk == {SHIPPED}


def test_every_file_under_resources_is_package_data() -> None:
    assert SETUPTOOLS["package-dir"] == {SHIPPED: "resources"}
    resources = REPO / SETUPTOOLS["package-dir"][SHIPPED]
    declared = {
        path
        for pattern in SETUPTOOLS["package-data"][SHIPPED]
        for path in resources.glob(pattern)
        if path.is_file()
    }
    files = {path for path in resources.rglob("*") if path.is_file()}
    assert files, "resources/ is empty"
    missing = sorted(p.relative_to(REPO).as_posix() for p in files - declared)
    assert not missing, f"not declared as package data of {SHIPPED}: {missing}"
    for needed in ("default_model/classifier.pt", "samples/7_odd_thick.png", "icons/app.png"):
        assert resources / needed in declared


def test_the_source_tree_has_no_engine_shipped_folder() -> None:
    """engine/shipped exists only in an installed copy; one in the checkout would shadow
    resources/ and the app would use stale files."""
    assert not (REPO / "engine" / "shipped").exists()


def test_installed_layout_finds_engine_shipped(tmp_path: Path) -> None:
    """The helper, placed as a wheel installs it, reads engine/shipped and not a
    resources/ folder that happens to sit beside site-packages."""
    site = tmp_path / "site-packages"
    (site / "engine" / "store").mkdir(parents=True)
    shutil.copyfile(
        REPO / "engine" / "store" / "resources.py", site / "engine" / "store" / "resources.py"
    )
    (site / "engine" / "shipped" / "icons").mkdir(parents=True)
    (site / "resources").mkdir()  # a decoy where the source layout would look
    spec = importlib.util.spec_from_file_location(
        "installed_resources", site / "engine" / "store" / "resources.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.resources_dir() == site / "engine" / "shipped"
    assert module.resource_path("icons", "app.png") == site / "engine/shipped/icons/app.png"


def test_license_file_is_shipped() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["license"] == "MIT"
    text = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License") and "Even/Odd Studio contributors" in text
    assert project["license-files"] == ["LICENSE"]
