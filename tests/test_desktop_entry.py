"""The Linux desktop integration: the .desktop entry and AppStream metainfo are valid, the
bundle's install.sh installs them per user (and --uninstall removes them), the app names
the same desktop file, and Windows/macOS get the version from the one place it is written.

The freedesktop validators run when installed (Debian: desktop-file-utils, appstream);
the rest runs everywhere a POSIX shell does.
"""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.append(str(REPO / "packaging"))
import desktop  # noqa: E402 - packaging/desktop.py

DESKTOP = desktop.LINUX / f"{desktop.APP_ID}.desktop"
METAINFO = desktop.LINUX / f"{desktop.APP_ID}.metainfo.xml"
needs_sh = pytest.mark.skipif(sys.platform == "win32", reason="install.sh is a POSIX script")


def _entry(path: Path) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, delimiters=("=",))
    parser.optionxform = str  # keys are case-sensitive
    parser.read(path, encoding="utf-8")
    return parser["Desktop Entry"]


def _exec_argv(value: str) -> list[str]:
    """The Exec key as the Desktop Entry spec says a desktop runs it: the string type's
    escapes first (\\\\ is one backslash), then arguments split at spaces, where double
    quotes group and a backslash inside them escapes " ` $ or \\; %-codes dropped."""
    text = value.replace("\\\\", "\\")
    argv: list[str] = []
    current, quoted, started, i = "", False, False, 0
    while i < len(text):
        char = text[i]
        if quoted and char == "\\" and i + 1 < len(text) and text[i + 1] in '"`$\\':
            current, i = current + text[i + 1], i + 2
            continue
        if char == '"':
            quoted, started = not quoted, True
        elif char == " " and not quoted:
            if started:
                argv.append(current)
            current, started = "", False
        else:
            current, started = current + char, True
        i += 1
    assert not quoted, f"unbalanced quotes in Exec={value}"
    if started:
        argv.append(current)
    return [arg for arg in argv if not arg.startswith("%")]


def _validate(*command: str) -> None:
    if shutil.which(command[0]) is None:
        pytest.skip(f"{command[0]} is not installed (apt-get install desktop-file-utils appstream)")
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 0, output
    if command[0] == "desktop-file-validate":
        assert output == "", output  # hints too: a clean entry has none


def test_desktop_entry_keys() -> None:
    entry = _entry(DESKTOP)
    assert entry["Type"] == "Application"
    assert entry["Name"] == desktop.NAME
    assert entry["Icon"] == desktop.APP_ID  # a themed icon name: the hicolor files below
    assert _exec_argv(entry["Exec"]) == ["EvenOddStudio"]  # made absolute by install.sh
    assert entry["Terminal"] == "false"
    assert entry["StartupWMClass"] == "EvenOddStudio"


def test_metainfo_names_the_desktop_entry() -> None:
    text = METAINFO.read_text(encoding="utf-8")
    assert f"<id>{desktop.APP_ID}</id>" in text
    assert f'<launchable type="desktop-id">{DESKTOP.name}</launchable>' in text
    assert "<project_license>MIT</project_license>" in text


def test_desktop_entry_is_valid() -> None:
    _validate("desktop-file-validate", str(DESKTOP))


def test_metainfo_is_valid() -> None:
    _validate("appstreamcli", "validate", "--no-net", str(METAINFO))


def test_the_app_sets_the_same_desktop_file_name(qapp, monkeypatch) -> None:
    """gui.app.main names the desktop entry before building the window, so the window
    groups with the entry's icon (Wayland matches them by this name)."""
    import gui.app
    import gui.main_window

    class Stop(Exception):
        pass

    def no_window(*args, **kwargs):
        raise Stop

    monkeypatch.setattr(gui.main_window, "MainWindow", no_window)
    before = (qapp.applicationName(), qapp.organizationName(), qapp.desktopFileName())
    try:
        with pytest.raises(Stop):
            gui.app.main([])
        assert qapp.desktopFileName() == gui.app.DESKTOP_FILE_ID == desktop.APP_ID
    finally:
        qapp.setApplicationName(before[0])
        qapp.setOrganizationName(before[1])
        qapp.setDesktopFileName(before[2])


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stand-in for the built bundle: a fake EvenOddStudio program in a folder whose path
    has a space and a dollar sign (both need escaping in Exec), staged as build.sh does."""
    folder = tmp_path_factory.mktemp("apps") / "My $Apps" / "EvenOddStudio"
    folder.mkdir(parents=True)
    program = folder / "EvenOddStudio"
    program.write_text("#!/bin/sh\necho started\n")
    program.chmod(0o755)
    desktop.stage(folder)
    return folder


def test_stage_puts_icons_of_every_size(bundle: Path) -> None:
    from PIL import Image

    for size in desktop.ICON_SIZES:
        icon = bundle / f"share/icons/hicolor/{size}x{size}/apps/{desktop.APP_ID}.png"
        with Image.open(icon) as image:
            assert image.size == (size, size) and image.mode == "RGBA"
    assert os.access(bundle / "install.sh", os.X_OK)


def _run_install(bundle: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["sh", str(bundle / "install.sh"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=bundle.parent,  # the script must not depend on where it is run from
    )


@needs_sh
@pytest.mark.parametrize("xdg", [False, True], ids=["home", "xdg_data_home"])
def test_install_script_installs_and_uninstalls(bundle: Path, tmp_path: Path, xdg: bool) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    data = home / ".local" / "share"
    if xdg:
        data = tmp_path / "xdg data"
        env["XDG_DATA_HOME"] = str(data)

    result = _run_install(bundle, env)
    assert result.returncode == 0, result.stderr
    installed = data / "applications" / f"{desktop.APP_ID}.desktop"
    entry = _entry(installed)
    program = bundle / "EvenOddStudio"
    argv = _exec_argv(entry["Exec"])
    assert argv == [str(program)]
    assert subprocess.run(argv, capture_output=True, text=True).stdout == "started\n"
    assert entry["TryExec"].replace("\\\\", "\\") == str(program)
    assert entry["Icon"] == desktop.APP_ID and entry["Name"] == desktop.NAME
    assert (data / "metainfo" / f"{desktop.APP_ID}.metainfo.xml").is_file()
    icons = sorted((data / "icons" / "hicolor").glob(f"*/apps/{desktop.APP_ID}.png"))
    assert len(icons) == len(desktop.ICON_SIZES)
    assert not (data / "icons" / "hicolor" / "icon-theme.cache").exists()  # none made
    leftovers = [p for p in data.rglob("*.tmp")]
    assert leftovers == []
    if shutil.which("desktop-file-validate"):
        _validate("desktop-file-validate", str(installed))

    again = _run_install(bundle, env)  # installing twice is harmless
    assert again.returncode == 0, again.stderr

    (data / "applications" / "other.desktop").write_text("[Desktop Entry]\n")
    removed = _run_install(bundle, env, "--uninstall")
    assert removed.returncode == 0, removed.stderr
    assert not installed.exists()
    assert not (data / "metainfo" / f"{desktop.APP_ID}.metainfo.xml").exists()
    assert list((data / "icons").rglob("*.png")) == []
    assert (data / "applications" / "other.desktop").is_file()  # only ours is removed


@needs_sh
def test_install_script_refuses_without_the_program(tmp_path: Path) -> None:
    folder = tmp_path / "EvenOddStudio"
    folder.mkdir()
    desktop.stage(folder)
    env = {"HOME": str(tmp_path / "home"), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    result = _run_install(folder, env)
    assert result.returncode == 1 and "no EvenOddStudio program" in result.stderr
    assert not (tmp_path / "home").exists()


def test_one_version_for_every_platform() -> None:
    """The version is written once (engine.__version__); pyproject reads it dynamically
    and the spec reads it through packaging/desktop.py."""
    import tomllib

    import engine

    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "engine.__version__"}
    version = desktop.project_version()
    assert version == engine.__version__
    plist = desktop.mac_info_plist(version)
    assert plist["CFBundleShortVersionString"] == plist["CFBundleVersion"] == version
    numbers = desktop.version_numbers(version)
    assert len(numbers) == 4 and ".".join(map(str, numbers)).startswith(version)
    text = desktop.windows_version_text(version)
    assert f"filevers={numbers}" in text and f"StringStruct('ProductVersion', '{version}')" in text


class _Analysis:
    def __init__(self, *args, **kwargs) -> None:
        self.datas, self.binaries, self.pure, self.scripts = [], [], [], []


@pytest.mark.parametrize("platform", ["linux", "win32", "darwin"])
def test_the_spec_gives_each_platform_the_version(monkeypatch, tmp_path, platform) -> None:
    """Run packaging/evenodd.spec with PyInstaller's building blocks replaced by recorders:
    the .exe gets a version file (Windows only: PyInstaller ignores it elsewhere), the .app
    an Info.plist with the version, both from engine.__version__."""
    import engine

    made: dict[str, dict] = {}

    def recorder(name: str):
        def make(*args, **kwargs):
            made[name] = kwargs
            return name

        return make

    names = {name: recorder(name) for name in ("PYZ", "EXE", "COLLECT", "BUNDLE")}
    spec = REPO / "packaging" / "evenodd.spec"
    monkeypatch.setattr(sys, "platform", platform)
    monkeypatch.setattr(sys, "path", list(sys.path))  # the spec puts packaging/ on it
    namespace = {
        "SPECPATH": str(spec.parent),
        "workpath": str(tmp_path),
        "Analysis": _Analysis,
        **names,
    }
    exec(compile(spec.read_text(encoding="utf-8"), str(spec), "exec"), namespace)
    version = engine.__version__
    if platform == "win32":
        text = Path(made["EXE"]["version"]).read_text(encoding="utf-8")
        assert text == desktop.windows_version_text(version)
    else:
        assert made["EXE"]["version"] is None
    if platform == "darwin":
        plist = made["BUNDLE"]["info_plist"]
        assert plist["CFBundleShortVersionString"] == plist["CFBundleVersion"] == version
        assert made["BUNDLE"]["bundle_identifier"] == desktop.APP_ID
    else:
        assert "BUNDLE" not in made


def test_windows_version_text_is_what_pyinstaller_reads() -> None:
    """PyInstaller evaluates the version file as Python with its versioninfo classes (which
    need pefile, present only on Windows): evaluate it with stand-ins that record."""
    made: list[tuple[str, tuple, dict]] = []

    def recorder(name: str):
        def make(*args, **kwargs):
            made.append((name, args, kwargs))
            return name

        return make

    names = ("VSVersionInfo", "FixedFileInfo", "StringFileInfo", "StringTable", "StringStruct")
    names += ("VarFileInfo", "VarStruct")
    eval(desktop.windows_version_text("1.2.3rc1"), {n: recorder(n) for n in names})
    fixed = next(kwargs for name, _, kwargs in made if name == "FixedFileInfo")
    assert fixed["filevers"] == fixed["prodvers"] == (1, 2, 3, 0)
    strings = {args[0]: args[1] for name, args, _ in made if name == "StringStruct"}
    assert strings["ProductVersion"] == strings["FileVersion"] == "1.2.3rc1"
    assert strings["OriginalFilename"] == "EvenOddStudio.exe"
