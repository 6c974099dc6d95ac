"""Downloading MNIST with the standard library alone.

The bundle leaves torchvision out (it would double the download and the disk size), so
the Download button must work without it: urllib fetches the four published .gz files
from the same mirrors torchvision uses, and each is checked against its published MD5
before it takes its final name. The .gz files are kept as they are, because the reader
(engine.data.idx) reads gzip directly.

Each file is written as `<name>.part` and renamed only once complete and verified, so a
stop, a lost connection or a crash never leaves a half file that would later read as a
damaged MNIST. Files already complete and verified are kept, so a stopped download
resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from engine.errors import DataError
from engine.events import EventSink, Progress, StopCheck, Stopwatch, ignore_event, never_stop
from engine.files import os_error_text

MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
# (file name, MD5 of the published .gz, its size in bytes), as published with MNIST.
DOWNLOADS = (
    ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873", 9_912_422),
    ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432", 28_881),
    ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3", 1_648_877),
    ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c", 4_542),
)
PHASE = "download"
CHUNK = 64 * 1024  # bytes per read: a progress event and a stop check each
TIMEOUT = 30.0  # seconds without an answer before a mirror counts as failed
PART = ".part"
_NETWORK_ERRORS = (OSError, http.client.HTTPException)  # URLError and timeouts are OSErrors


def open_url(url: str, timeout: float) -> BinaryIO:
    """The one place that touches the network (tests replace it)."""
    return urllib.request.urlopen(url, timeout=timeout)


class _Stopped(Exception):
    """The stop check said stop; raised between chunks, turned into a DataError."""


class _Failed(Exception):
    """One mirror could not give one file; the next mirror is tried."""


def md5_of(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as source:
        while block := source.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _host(url: str) -> str:
    """Where a failure happened, short enough for a one-line message."""
    return urllib.parse.urlsplit(url).netloc or url


def _reason(exc: BaseException) -> str:
    """A network failure in a few words: URLError wraps the useful part in `reason`."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    reason = getattr(exc, "reason", None) or exc
    text = getattr(reason, "strerror", None) or str(reason) or type(reason).__name__
    return " ".join(text.split())  # one line, whatever the server said


def download(
    folder: Path,
    on_event: EventSink = ignore_event,
    should_stop: StopCheck = never_stop,
) -> Path:
    """Download the four MNIST .gz files into `folder` (flat); returns `folder`.

    Progress is reported in bytes over all four files through `on_event`. Offline, or
    when no mirror gives a file with the published checksum, a DataError with one line
    says so and suggests choosing a folder instead; when `should_stop` says stop, a
    DataError says the download stopped. Either way no partial file is left behind.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create the data folder {folder}: {os_error_text(exc)}") from None
    clock = Stopwatch()
    total = sum(size for _, _, size in DOWNLOADS)
    done = 0

    def report(position: int) -> None:
        on_event(Progress(PHASE, position, total, clock.elapsed, clock.eta(position, total)))

    report(0)
    for name, md5, size in DOWNLOADS:
        target = folder / name
        if not (target.is_file() and md5_of(target) == md5):  # kept from a stopped download
            _fetch(name, md5, target, lambda got, base=done: report(base + got), should_stop)
        done += size
        report(done)
    return folder


def _fetch(
    name: str, md5: str, target: Path, on_bytes: Callable[[int], None], should_stop: StopCheck
) -> None:
    """`target` from the first mirror that gives it with the right checksum."""
    failures = []
    for mirror in MIRRORS:
        try:
            _fetch_from(mirror + name, md5, target, on_bytes, should_stop)
            return
        except _Stopped:
            raise DataError(
                "MNIST download stopped; the files already complete are kept, "
                "press Download to finish"
            ) from None
        except _Failed as exc:
            failures.append(str(exc))
    raise DataError(
        f"could not download MNIST's {name} ({'; '.join(failures)}); are you offline? "
        "Choose a folder that holds the four MNIST files instead."
    )


def _fetch_from(
    url: str, md5: str, target: Path, on_bytes: Callable[[int], None], should_stop: StopCheck
) -> None:
    part = target.with_name(target.name + PART)
    digest = hashlib.md5(usedforsecurity=False)
    got = 0
    try:
        try:
            out = part.open("wb")
        except OSError as exc:
            raise DataError(f"cannot write {part}: {os_error_text(exc)}") from None
        with out:
            try:
                response = open_url(url, TIMEOUT)
            except _NETWORK_ERRORS as exc:
                raise _Failed(f"{_host(url)}: {_reason(exc)}") from None
            with response:
                while True:
                    if should_stop():
                        raise _Stopped
                    try:
                        chunk = response.read(CHUNK)
                    except _NETWORK_ERRORS as exc:
                        raise _Failed(f"{_host(url)}: {_reason(exc)}") from None
                    if not chunk:
                        break
                    digest.update(chunk)
                    try:
                        out.write(chunk)
                    except OSError as exc:
                        raise DataError(f"cannot write {part}: {os_error_text(exc)}") from None
                    got += len(chunk)
                    on_bytes(got)
            out.flush()
            os.fsync(out.fileno())  # on disk before the rename makes it count as complete
        if digest.hexdigest() != md5:
            raise _Failed(f"{_host(url)}: the file does not match MNIST's published checksum")
        os.replace(part, target)
    finally:
        part.unlink(missing_ok=True)  # gone after os.replace; else never leave half a file
