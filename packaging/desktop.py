"""Desktop integration of the bundle: the Linux menu entry, and the version every OS shows.

    python packaging/desktop.py stage DIR      put install.sh, the .desktop entry, the
                                               AppStream metainfo and hicolor icons in DIR
    python packaging/desktop.py validate DIR   check them with desktop-file-validate and
                                               appstreamcli (both must be installed)
    python packaging/desktop.py version        print the app's version

packaging/build.sh runs `stage` and `validate` on every fresh Linux bundle; the spec
imports `project_version`, `windows_version_text` and `mac_info_plist` from here, so the
version is read from one place (engine.__version__, which pyproject.toml's dynamic
version also reads) and never written a second time.
"""

from __future__ import annotations

import argparse
import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LINUX = HERE / "linux"
APP_ID = "org.evenodd.studio"  # the .desktop file's name, the AppStream id, the macOS bundle id
NAME = "Even/Odd Studio"
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def project_version() -> str:
    """engine.__version__, read without importing the engine (no torch, no sys.path games)."""
    tree = ast.parse((ROOT / "engine" / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "__version__" for target in node.targets
        ):
            return ast.literal_eval(node.value)
    raise SystemExit("engine/__init__.py has no __version__")


def version_numbers(version: str) -> tuple[int, int, int, int]:
    """'0.1.0' -> (0, 1, 0, 0): Windows wants four whole numbers (a suffix is dropped)."""
    numbers = [
        int(match.group()) if (match := re.match(r"\d+", part)) else 0
        for part in version.split(".")[:4]
    ]
    return (*numbers, 0, 0, 0, 0)[:4]  # type: ignore[return-value]


def windows_version_text(version: str) -> str:
    """A PyInstaller version file (the format of `pyi-grab_version`) for the .exe."""
    numbers = version_numbers(version)
    strings = {
        "CompanyName": "Even/Odd Studio contributors",
        "FileDescription": NAME,
        "FileVersion": version,
        "InternalName": "EvenOddStudio",
        "LegalCopyright": "MIT License, Even/Odd Studio contributors",
        "OriginalFilename": "EvenOddStudio.exe",
        "ProductName": NAME,
        "ProductVersion": version,
    }
    table = ",\n          ".join(f"StringStruct({k!r}, {v!r})" for k, v in strings.items())
    return f"""VSVersionInfo(
  ffi=FixedFileInfo(
    filevers={numbers},
    prodvers={numbers},
    mask=0x3f,
    flags=0x0,
    OS=0x40004,
    fileType=0x1,
    subtype=0x0,
    date=(0, 0)
  ),
  kids=[
    StringFileInfo([
      StringTable(
        '040904B0',
        [
          {table}
        ])
    ]),
    VarFileInfo([VarStruct('Translation', [1033, 1200])])
  ]
)
"""


def mac_info_plist(version: str) -> dict[str, object]:
    return {
        "CFBundleName": "EvenOddStudio",
        "CFBundleDisplayName": NAME,
        "CFBundleShortVersionString": version,
        "CFBundleVersion": version,
        "NSHumanReadableCopyright": "MIT License, Even/Odd Studio contributors",
        "NSHighResolutionCapable": True,
    }


def stage(bundle: Path) -> list[Path]:
    """Copy the install script and what it installs into the bundle folder `bundle`."""
    sys.path.insert(0, str(HERE))
    from make_icons import draw_icon  # the icon's master drawing, sharp at every size
    from PIL import Image

    share = bundle / "share"
    written = [bundle / "install.sh"]
    shutil.copyfile(LINUX / "install.sh", written[0])
    written[0].chmod(0o755)
    for kind, name in (
        ("applications", f"{APP_ID}.desktop"),
        ("metainfo", f"{APP_ID}.metainfo.xml"),
    ):
        target = share / kind / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(LINUX / name, target)
        written.append(target)
    master = draw_icon()
    for size in ICON_SIZES:
        target = share / "icons" / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        master.resize((size, size), Image.Resampling.LANCZOS).save(target, optimize=True)
        written.append(target)
    return written


def validate(bundle: Path) -> None:
    """Run the freedesktop validators on the staged files; exit with their complaint."""
    missing = [tool for tool in ("desktop-file-validate", "appstreamcli") if not shutil.which(tool)]
    if missing:
        raise SystemExit(
            f"cannot validate the desktop entry: {', '.join(missing)} not installed "
            "(Debian/Ubuntu: apt-get install desktop-file-utils appstream)"
        )
    share = bundle / "share"
    checks = [
        ["desktop-file-validate", str(share / "applications" / f"{APP_ID}.desktop")],
        [
            "appstreamcli",
            "validate",
            "--no-net",
            str(share / "metainfo" / f"{APP_ID}.metainfo.xml"),
        ],
    ]
    for command in checks:
        result = subprocess.run(command, capture_output=True, text=True)
        output = (result.stdout + result.stderr).strip()
        if result.returncode != 0 or (command[0] == "desktop-file-validate" and output):
            raise SystemExit(f"{' '.join(command[:2])} failed:\n{output}")
        print(f"{Path(command[-1]).name}: valid")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("stage", "validate"):
        sub.add_parser(name).add_argument("bundle", type=Path, help="the EvenOddStudio folder")
    sub.add_parser("version")
    args = parser.parse_args(argv)
    if args.command == "stage":
        for path in stage(args.bundle):
            print(path)
    elif args.command == "validate":
        validate(args.bundle)
    else:
        print(project_version())
    return 0


if __name__ == "__main__":
    sys.exit(main())
