"""Downloading MNIST without torchvision: mirrors, checksums, progress, stop, no half files.

The network is replaced by an opener that serves small generated IDX .gz files from
memory (the published MD5s and sizes are swapped for theirs), except in one test that
goes through the real urllib code path with file:// URLs.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import io
import struct
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers_data import make_digits

from engine.data import download as dl
from engine.data.idx import IMAGES_MAGIC, LABELS_MAGIC
from engine.data.mnist import FILES, DataError, find_files, load_mnist
from engine.events import Message, Progress

N_TRAIN, N_TEST = 40, 20


def _idx_gz(array: np.ndarray) -> bytes:
    magic = IMAGES_MAGIC if array.ndim == 3 else LABELS_MAGIC
    header = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes(), mtime=0)


def _served() -> dict[str, bytes]:
    """File name -> the .gz bytes a mirror serves."""
    train_images, train_labels = make_digits(N_TRAIN, seed=1)
    test_images, test_labels = make_digits(N_TEST, seed=2)
    return {
        "train-images-idx3-ubyte.gz": _idx_gz(train_images),
        "train-labels-idx1-ubyte.gz": _idx_gz(train_labels),
        "t10k-images-idx3-ubyte.gz": _idx_gz(test_images),
        "t10k-labels-idx1-ubyte.gz": _idx_gz(test_labels),
    }


class Network:
    """Stands in for `open_url`: records each URL asked for and answers from `files`.

    `broken` mirrors raise URLError as when offline; `drop_after` makes a response fail
    after that many bytes, as when a connection is lost mid-file.
    """

    def __init__(self, files: dict[str, bytes], broken=(), drop_after: int | None = None):
        self.files = files
        self.broken = set(broken)
        self.drop_after = drop_after
        self.calls: list[str] = []

    def __call__(self, url: str, timeout: float):
        self.calls.append(url)
        mirror, name = url.rsplit("/", 1)
        if mirror + "/" in self.broken:
            raise urllib.error.URLError(OSError(-3, "Temporary failure in name resolution"))
        payload = self.files[name]
        if self.drop_after is not None:
            return _Dropping(payload[: self.drop_after])
        return io.BytesIO(payload)


class _Dropping(io.BytesIO):
    def read(self, size: int = -1) -> bytes:
        chunk = super().read(size)
        if not chunk:
            raise http.client.IncompleteRead(b"")
        return chunk


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    """Small files in place of MNIST's: the table of names, MD5s and sizes follows them,
    and chunks are small so that a file takes several reads."""
    files = _served()
    table = tuple(
        (name, hashlib.md5(files[name]).hexdigest(), len(files[name]))
        for name, _, _ in dl.DOWNLOADS
    )
    monkeypatch.setattr(dl, "DOWNLOADS", table)
    monkeypatch.setattr(dl, "CHUNK", 1024)
    return files


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith(dl.PART))


def test_published_constants_name_mnists_files() -> None:
    assert [name for name, _, _ in dl.DOWNLOADS] == [f"{stem}.gz" for stem in FILES.values()]
    for _, md5, size in dl.DOWNLOADS:
        assert len(md5) == 32 and int(md5, 16) >= 0 and size > 0
    assert sum(size for _, _, size in dl.DOWNLOADS) == 11_594_722  # "about 11 MB"
    assert dl.MIRRORS[0].startswith("https://") and all(m.endswith("/") for m in dl.MIRRORS)


def test_load_mnist_downloads_into_user_folder(tmp_path, monkeypatch, served) -> None:
    home = tmp_path / "userdata"
    monkeypatch.setenv("EVENODD_DATA_DIR", str(home))
    network = Network(served)
    monkeypatch.setattr(dl, "open_url", network)
    events: list = []
    data = load_mnist(None, events.append)

    assert network.calls == [dl.MIRRORS[0] + name for name in served]  # first mirror only
    assert data.train_images.shape == (N_TRAIN, 28, 28) and data.test_labels.shape == (N_TEST,)
    assert find_files(home) is not None and _leftovers(home) == []
    assert sorted(p.name for p in home.iterdir()) == sorted(served)  # the .gz files, flat
    progress = [e for e in events if isinstance(e, Progress)]
    total = sum(len(b) for b in served.values())
    assert all(e.phase == "download" and e.total == total for e in progress)
    assert len(progress) > 2 * len(served)  # bytes as they arrive, not once per file
    assert [e.done for e in progress] == sorted(e.done for e in progress)
    assert progress[-1].done == total and progress[-1].eta == 0
    assert any(e.eta is not None and e.eta >= 0 for e in progress[1:-1])
    assert any(isinstance(e, Message) and "download" in e.text for e in events)

    again = load_mnist(None, events.append)  # found: nothing downloaded
    assert len(network.calls) == len(served)
    assert torch.equal(again.train_images, data.train_images)


def test_a_failing_mirror_falls_back_to_the_next(tmp_path, monkeypatch, served) -> None:
    network = Network(served, broken={dl.MIRRORS[0]})
    monkeypatch.setattr(dl, "open_url", network)
    dl.download(tmp_path)
    assert network.calls[:2] == [
        dl.MIRRORS[0] + dl.DOWNLOADS[0][0],
        dl.MIRRORS[1] + dl.DOWNLOADS[0][0],
    ]
    for name, payload in served.items():
        assert (tmp_path / name).read_bytes() == payload


def test_offline_is_one_plain_line_and_leaves_nothing(tmp_path, monkeypatch, served) -> None:
    monkeypatch.setenv("EVENODD_DATA_DIR", str(tmp_path / "userdata"))
    network = Network(served, broken=set(dl.MIRRORS))
    monkeypatch.setattr(dl, "open_url", network)
    with pytest.raises(DataError) as info:
        load_mnist(None)
    message = str(info.value)
    assert "\n" not in message
    assert "offline" in message and "folder" in message
    assert "Temporary failure in name resolution" in message
    assert network.calls == [mirror + dl.DOWNLOADS[0][0] for mirror in dl.MIRRORS]
    assert list((tmp_path / "userdata").iterdir()) == []


def test_a_wrong_checksum_is_refused_on_every_mirror(tmp_path, monkeypatch, served) -> None:
    tampered = dict(served)
    name = dl.DOWNLOADS[1][0]
    tampered[name] = served[name][:-1] + bytes([served[name][-1] ^ 0xFF])
    network = Network(tampered)
    monkeypatch.setattr(dl, "open_url", network)
    with pytest.raises(DataError, match="checksum") as info:
        dl.download(tmp_path)
    assert "\n" not in str(info.value)
    assert network.calls[-2:] == [mirror + name for mirror in dl.MIRRORS]
    assert (tmp_path / dl.DOWNLOADS[0][0]).is_file()  # the good file before it is kept
    assert not (tmp_path / name).exists() and _leftovers(tmp_path) == []


def test_a_dropped_connection_leaves_no_half_file(tmp_path, monkeypatch, served) -> None:
    network = Network(served, drop_after=3000)
    monkeypatch.setattr(dl, "open_url", network)
    with pytest.raises(DataError, match="could not download"):
        dl.download(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_stop_keeps_complete_files_and_resumes(tmp_path, monkeypatch, served) -> None:
    network = Network(served)
    monkeypatch.setattr(dl, "open_url", network)
    first = dl.DOWNLOADS[0][0]
    events: list = []

    def stop_in_second_file() -> bool:  # a stop pressed while the second file arrives
        return any(isinstance(e, Progress) and e.done > len(served[first]) for e in events)

    with pytest.raises(DataError, match="stopped"):
        dl.download(tmp_path, events.append, stop_in_second_file)
    assert [p.name for p in tmp_path.iterdir()] == [first]
    assert len(network.calls) == 2

    dl.download(tmp_path)  # press Download again: the complete file is not fetched again
    assert first not in [url.rsplit("/", 1)[1] for url in network.calls[2:]]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(served)


def test_the_real_opener_reads_urls(tmp_path, monkeypatch, served) -> None:
    """The real code path (urllib's urlopen) on file:// URLs: no network needed."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for name, payload in served.items():
        (mirror / name).write_bytes(payload)
    monkeypatch.setattr(dl, "MIRRORS", (mirror.as_uri() + "/",))
    out = tmp_path / "data"
    dl.download(out)
    for name, payload in served.items():
        assert (out / name).read_bytes() == payload
    assert dl.md5_of(out / dl.DOWNLOADS[0][0]) == dl.DOWNLOADS[0][1]


def test_given_folder_is_never_downloaded_into(tmp_path, monkeypatch) -> None:
    def no_network(*args, **kwargs):
        raise AssertionError("must not download when a folder was given")

    monkeypatch.setattr(dl, "open_url", no_network)
    with pytest.raises(DataError, match="does not hold"):
        load_mnist(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_download_needs_no_torchvision() -> None:
    source = Path(dl.__file__).read_text(encoding="utf-8")
    assert "torchvision" not in source.split('"""', 2)[2]  # past the docstring
