"""Splits, label budgets, even/odd targets, and getting MNIST when no folder is given."""

from __future__ import annotations

import os
import stat
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.datasets.utils as tv_utils
from helpers_data import make_digits, write_small_mnist

from engine.data.idx import write_idx
from engine.data.mnist import (
    FILES,
    DataError,
    budgets_from_text,
    default_data_dir,
    find_files,
    label_budget,
    load_mnist,
    parity,
    parse_budget,
    read_folder,
    split_train_val,
)
from engine.events import Message, Progress

# ------------------------------------------------------------------------------- split


def test_split_is_deterministic_disjoint_and_covers_all():
    a, b = split_train_val(60_000), split_train_val(60_000)
    assert torch.equal(a.train, b.train) and torch.equal(a.val, b.val)
    assert len(a.val) == 5000 and len(a.train) == 55_000
    both = torch.cat([a.train, a.val])
    assert len(set(a.train.tolist()) & set(a.val.tolist())) == 0
    assert torch.equal(both.sort().values, torch.arange(60_000))


def test_split_is_random_not_a_slice():
    split = split_train_val(60_000)
    assert not torch.equal(split.val, torch.arange(5000))
    assert not torch.equal(split.val, torch.arange(55_000, 60_000))
    # every part of the training file is represented in the validation set
    assert split.val.min() < 1000 and split.val.max() > 59_000


def test_split_seed_changes_it():
    assert not torch.equal(split_train_val(1000, 100, seed=1).val, split_train_val(1000, 100).val)


def test_split_of_small_set_holds_out_a_tenth():
    split = split_train_val(600)
    assert len(split.val) == 60 and len(split.train) == 540
    assert torch.equal(torch.cat([split.train, split.val]).sort().values, torch.arange(600))


@pytest.mark.parametrize("val_size", [0, 100, 150])
def test_split_bad_sizes(val_size):
    with pytest.raises(DataError, match="validation size"):
        split_train_val(100, val_size)


# ------------------------------------------------------------------------------ budgets


@pytest.fixture(scope="module")
def digits() -> torch.Tensor:
    _, labels = make_digits(3000, seed=5)
    return torch.from_numpy(labels)


@pytest.fixture(scope="module")
def pool() -> torch.Tensor:
    return split_train_val(3000).train


def test_budget_is_class_balanced(digits, pool):
    chosen = label_budget(digits, pool, 100, seed=0)
    assert len(chosen) == 100 and len(set(chosen.tolist())) == 100
    counts = torch.bincount(digits[chosen].long(), minlength=10)
    assert counts.tolist() == [10] * 10


def test_budget_remainder_spread(digits, pool):
    chosen = label_budget(digits, pool, 105, seed=0)
    counts = torch.bincount(digits[chosen].long(), minlength=10)
    assert counts.sum() == 105 and set(counts.tolist()) == {10, 11}


def test_budget_is_a_subset_of_the_pool(digits, pool):
    chosen = label_budget(digits, pool, 300, seed=4)
    assert set(chosen.tolist()) <= set(pool.tolist())
    held_out = set(range(3000)) - set(pool.tolist())
    assert not set(chosen.tolist()) & held_out


def test_budget_is_seeded(digits, pool):
    a = label_budget(digits, pool, 100, seed=7)
    assert torch.equal(a, label_budget(digits, pool, 100, seed=7))
    assert not torch.equal(a, label_budget(digits, pool, 100, seed=8))


def test_budget_all_is_the_whole_pool(digits, pool):
    chosen = label_budget(digits, pool, parse_budget("all"), seed=0)
    assert torch.equal(chosen, pool)
    chosen[0] = -1  # a copy: changing it cannot change the split
    assert pool[0] != -1


def test_budget_too_many(digits, pool):
    with pytest.raises(DataError, match=r"asked for 5000 labels"):
        label_budget(digits, pool, 5000, seed=0)


def test_budget_not_enough_of_one_digit():
    digits = torch.tensor([0] * 50 + [1] * 3)
    with pytest.raises(DataError, match="digit 1"):
        label_budget(digits, torch.arange(53), 20, seed=0)


def test_parity():
    digits = torch.arange(10, dtype=torch.uint8)
    assert parity(digits).tolist() == [0, 1, 0, 1, 0, 1, 0, 1, 0, 1]
    assert parity(digits).dtype == torch.float32


@pytest.mark.parametrize(
    ("text", "value"), [("all", None), (" ALL ", None), (None, None), ("100", 100), (7, 7)]
)
def test_parse_budget(text, value):
    assert parse_budget(text) == value


@pytest.mark.parametrize("text", ["abc", "1.5", "", "0", "-3", "10 labels"])
def test_parse_budget_errors(text):
    with pytest.raises(DataError, match="label budget"):
        parse_budget(text)


def test_budgets_from_text():
    assert budgets_from_text("100, 300,all") == [100, 300, None]
    with pytest.raises(DataError):
        budgets_from_text(" , ")
    with pytest.raises(DataError):
        budgets_from_text("100,x")


# -------------------------------------------------------------------- default data folder


def _fake_downloader(calls: list[str]):
    """Stands in for torchvision's download_and_extract_archive: writes small .gz files."""
    arrays = dict(
        zip(
            ("train-images", "train-labels"),
            make_digits(40, seed=1),
            strict=True,
        )
    )
    arrays.update(zip(("t10k-images", "t10k-labels"), make_digits(20, seed=2), strict=True))

    def fake(url, download_root, extract_root=None, filename=None, md5=None, **kwargs):
        calls.append(url)
        name = filename or url.rsplit("/", 1)[-1]
        key = "-".join(name.split("-")[:2])
        write_idx(Path(download_root) / name, arrays[key])

    return fake


def test_load_mnist_downloads_into_user_folder(tmp_path, monkeypatch):
    home = tmp_path / "userdata"
    monkeypatch.setenv("EVENODD_DATA_DIR", str(home))
    calls: list[str] = []
    monkeypatch.setattr(tv_utils, "download_and_extract_archive", _fake_downloader(calls))
    events = []
    data = load_mnist(None, events.append)
    assert len(calls) == 4
    assert data.train_images.shape == (40, 28, 28) and data.test_labels.shape == (20,)
    found = find_files(home)  # the four files, in the per-user folder
    assert sorted(found) == sorted(FILES) and all(home in path.parents for path in found.values())
    progress = [e for e in events if isinstance(e, Progress)]
    assert progress and all(e.phase == "download" for e in progress)
    assert progress[-1].done == progress[-1].total == 4
    assert [e.done for e in progress] == sorted(e.done for e in progress)
    assert any(isinstance(e, Message) and "download" in e.text for e in events)

    # second time: found, nothing downloaded
    again = load_mnist(None, events.append)
    assert len(calls) == 4
    assert torch.equal(again.train_images, data.train_images)


def test_default_data_dir_override(tmp_path, monkeypatch):
    monkeypatch.setenv("EVENODD_DATA_DIR", str(tmp_path / "x"))
    assert default_data_dir() == tmp_path / "x"
    monkeypatch.delenv("EVENODD_DATA_DIR")
    assert default_data_dir().name == "mnist"


def test_offline_is_a_clear_data_error(tmp_path, monkeypatch):
    monkeypatch.setenv("EVENODD_DATA_DIR", str(tmp_path / "userdata"))
    tried: list[str] = []

    def offline(url, *args, **kwargs):
        tried.append(url)
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(tv_utils, "download_and_extract_archive", offline)
    with pytest.raises(DataError) as info:
        load_mnist(None)
    first_line = str(info.value).splitlines()[0]
    assert "offline" in first_line and "folder" in first_line
    assert len(tried) >= 2, "every mirror should be tried before giving up"


def test_given_folder_is_never_downloaded_into(tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("must not download when a folder was given")

    monkeypatch.setattr(tv_utils, "download_and_extract_archive", no_network)
    with pytest.raises(DataError, match="does not hold"):
        load_mnist(tmp_path)
    assert list(tmp_path.iterdir()) == []


def _snapshot(folder: Path) -> dict[str, tuple[int, float]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime)
        for p in sorted(folder.rglob("*"))
    }


@pytest.mark.parametrize("layout", ["flat", "raw"])
def test_read_only_folder_is_read_and_never_written(tmp_path, layout):
    folder = write_small_mnist(tmp_path / "ro", 30, 10, layout=layout)
    before = _snapshot(folder)
    modes = {}
    for path in [folder, *folder.rglob("*")]:
        modes[path] = path.stat().st_mode
        path.chmod(stat.S_IMODE(modes[path]) & ~0o222)
    try:
        data = load_mnist(folder)
        assert data.train_images.shape == (30, 28, 28)
        assert _snapshot(folder) == before
    finally:
        for path, mode in modes.items():
            os.chmod(path, mode)


def test_labels_are_digits_and_images_uint8(tmp_path):
    data = read_folder(write_small_mnist(tmp_path / "d", 40, 20))
    assert data.train_images.dtype == torch.uint8 and data.train_labels.dtype == torch.uint8
    assert set(np.unique(data.train_labels.numpy())) == set(range(10))
