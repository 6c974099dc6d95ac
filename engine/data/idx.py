"""Reading IDX files (the format MNIST is published in), plain or gzip-compressed.

Every check raises `IdxError` with the file name and what is wrong, because these files
come from outside (a folder the user picked, a download) and a wrong one must give a
message a person can act on, not a numpy shape error three calls later.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from engine.errors import IdxError

IMAGES_MAGIC = 2051  # unsigned bytes, 3 dimensions
LABELS_MAGIC = 2049  # unsigned bytes, 1 dimension
_MAX_BYTES = 200 * 1024 * 1024  # MNIST's largest file is 47 MB; refuse gzip bombs


def _read_bytes(path: Path) -> bytes:
    try:
        with open(path, "rb") as raw:
            head = raw.read(2)
            raw.seek(0)
            if head == b"\x1f\x8b":
                with gzip.GzipFile(fileobj=raw) as unzipped:
                    data = unzipped.read(_MAX_BYTES + 1)
            else:
                data = raw.read(_MAX_BYTES + 1)
    except FileNotFoundError:
        raise IdxError(f"{path.name}: file not found in {path.parent}") from None
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise IdxError(f"{path.name}: damaged gzip file ({exc})") from None
    except OSError as exc:
        raise IdxError(f"{path.name}: cannot be read ({exc.strerror or exc})") from None
    if len(data) > _MAX_BYTES:
        raise IdxError(f"{path.name}: larger than any MNIST file; not an MNIST file")
    return data


def read_idx(path: str | os.PathLike, magic: int) -> np.ndarray:
    """Read one IDX file of unsigned bytes and return it as a uint8 array.

    `magic` is the expected magic number (IMAGES_MAGIC or LABELS_MAGIC); it fixes the
    number of dimensions, so a labels file passed as images is caught here.
    """
    path = Path(path)
    data = _read_bytes(path)
    ndim = 3 if magic == IMAGES_MAGIC else 1
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IdxError(f"{path.name}: too short to be an IDX file ({len(data)} bytes)")
    (found,) = struct.unpack(">I", data[:4])
    if found != magic:
        kind = "images" if magic == IMAGES_MAGIC else "labels"
        raise IdxError(
            f"{path.name}: not an MNIST {kind} file (magic number {found}, expected {magic})"
        )
    dims = struct.unpack(f">{ndim}I", data[4:header])
    expected = header + int(np.prod(dims, dtype=np.int64))
    if len(data) != expected:
        state = "truncated" if len(data) < expected else "has extra bytes at the end"
        raise IdxError(
            f"{path.name}: file {state}: header says {'x'.join(map(str, dims))} "
            f"({expected} bytes) but it holds {len(data)} bytes"
        )
    array = np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)
    return array.copy()  # own, writable memory; frombuffer's view is read-only


def write_idx(path: str | os.PathLike, array: np.ndarray, compress: bool | None = None) -> None:
    """Write a uint8 array as an IDX file (gzip when the name ends in .gz).

    Used by tests and tools to make small MNIST-like folders.
    """
    path = Path(path)
    array = np.ascontiguousarray(array, dtype=np.uint8)
    magic = {3: IMAGES_MAGIC, 1: LABELS_MAGIC}[array.ndim]
    payload = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape)
    payload += array.tobytes()
    if compress is None:
        compress = path.suffix == ".gz"
    path.write_bytes(gzip.compress(payload, mtime=0) if compress else payload)
