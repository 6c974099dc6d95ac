"""Writing files safely: a file is either the old one or the complete new one, never half.

Also the plain words for what goes wrong with paths (a file where a folder is needed, no
permission, a full disk): the CLI prints them as one line and the app shows them as they
are, instead of an "unexpected error" with an OSError's errno.
No torch here, so the study's light paths (GUI, reopening a study) can use it too.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

from engine.errors import PathError


def os_error_text(exc: OSError) -> str:
    """What an OSError means, in a few plain words (no errno numbers)."""
    if isinstance(exc, IsADirectoryError):
        return "it is a folder, not a file"
    if isinstance(exc, FileExistsError | NotADirectoryError):
        return "a file is in the way where a folder is needed"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, FileNotFoundError):
        return "not found"
    if exc.errno == errno.ENOSPC:
        return "no space left on the disk"
    if exc.errno == errno.EROFS:
        return "the disk is read-only"
    return exc.strerror or type(exc).__name__


def check_output_folder(folder: str | os.PathLike, option: str = "--out") -> None:
    """Refuse, before any work starts, a folder that cannot be created or written in.

    Checked without creating anything: `folder` must be a writable folder, or not exist
    yet below a writable folder. Why early: pretraining for minutes and then failing to
    save is the worst way to learn that --out names a file.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise PathError(f"{option} {folder} is a file, not a folder; choose a folder")
    parent = folder
    while not parent.exists():
        if parent.parent == parent:
            break
        parent = parent.parent
    if not parent.is_dir():
        raise PathError(f"{option} {folder} cannot be created: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        where = "" if parent == folder else f" (in {parent})"
        raise PathError(f"{option} {folder}: no permission to write there{where}")


def atomic_write_bytes(path: str | os.PathLike, payload: bytes) -> None:
    """Write a file so that it is either the old one or the complete new one, never half.

    A temporary file in the same folder is flushed and fsynced, then renamed over the
    target with os.replace (atomic on POSIX and Windows). An OSError becomes a PathError
    naming `path` (not the temporary file) and saying what went wrong.
    """
    path = Path(path)
    try:
        _atomic_write(path, payload)
    except OSError as exc:
        raise PathError(f"cannot write {path}: {os_error_text(exc)}") from exc


def _atomic_write(path: Path, payload: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(payload)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable where we can
        directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
