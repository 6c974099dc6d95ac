"""IDX reading: good files, every kind of bad file, and finding the files in a folder."""

from __future__ import annotations

import ast
import gzip
import os
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
from helpers_data import make_digits, write_small_mnist

from engine.data.idx import IMAGES_MAGIC, LABELS_MAGIC, IdxError, read_idx, write_idx
from engine.data.mnist import FILES, DataError, read_folder

ENGINE = Path(__file__).resolve().parents[1] / "engine"


@pytest.fixture()
def digits() -> tuple[np.ndarray, np.ndarray]:
    return make_digits(30, seed=3)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_good_files_round_trip(tmp_path, digits, suffix):
    images, labels = digits
    write_idx(tmp_path / f"images{suffix}", images)
    write_idx(tmp_path / f"labels{suffix}", labels)
    if suffix:  # really compressed, so the reader had to notice the gzip header
        assert (tmp_path / "images.gz").read_bytes()[:2] == b"\x1f\x8b"
    got_images = read_idx(tmp_path / f"images{suffix}", IMAGES_MAGIC)
    got_labels = read_idx(tmp_path / f"labels{suffix}", LABELS_MAGIC)
    assert got_images.dtype == np.uint8 and got_images.shape == (30, 28, 28)
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)
    got_images[0, 0, 0] = 1  # own, writable memory (torch.from_numpy warns otherwise)


def test_header_of_written_file_is_mnist_format(tmp_path, digits):
    images, _ = digits
    write_idx(tmp_path / "images", images)
    data = (tmp_path / "images").read_bytes()
    assert struct.unpack(">IIII", data[:16]) == (2051, 30, 28, 28)
    assert len(data) == 16 + 30 * 28 * 28


def _plain(tmp_path: Path, array: np.ndarray, name: str = "train-images-idx3-ubyte") -> Path:
    path = tmp_path / name
    write_idx(path, array, compress=False)
    return path


def test_truncated_file_names_file_and_problem(tmp_path, digits):
    path = _plain(tmp_path, digits[0])
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(IdxError, match=r"train-images-idx3-ubyte: .*truncated") as info:
        read_idx(path, IMAGES_MAGIC)
    assert "30x28x28" in str(info.value)


def test_truncated_gzip_file(tmp_path, digits):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    write_idx(path, digits[0])
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(IdxError, match=r"train-images-idx3-ubyte.gz: .*(gzip|truncated)"):
        read_idx(path, IMAGES_MAGIC)


def test_gzip_of_truncated_content(tmp_path, digits):
    """A complete gzip stream whose content is cut short is caught by the length check."""
    path = _plain(tmp_path, digits[0])
    cut = path.read_bytes()[:5000]
    gz = tmp_path / "cut.gz"
    gz.write_bytes(gzip.compress(cut))
    with pytest.raises(IdxError, match=r"cut.gz: file truncated"):
        read_idx(gz, IMAGES_MAGIC)


def test_extra_bytes(tmp_path, digits):
    path = _plain(tmp_path, digits[1], "train-labels-idx1-ubyte")
    path.write_bytes(path.read_bytes() + b"\x00\x01")
    with pytest.raises(IdxError, match="extra bytes"):
        read_idx(path, LABELS_MAGIC)


def test_labels_given_as_images_is_wrong_magic(tmp_path, digits):
    path = _plain(tmp_path, digits[1], "train-labels-idx1-ubyte")
    with pytest.raises(IdxError, match=r"train-labels-idx1-ubyte: not an MNIST images file"):
        read_idx(path, IMAGES_MAGIC)
    with pytest.raises(IdxError, match="magic number 2049, expected 2051"):
        read_idx(path, IMAGES_MAGIC)


def test_images_given_as_labels_is_wrong_magic(tmp_path, digits):
    path = _plain(tmp_path, digits[0])
    with pytest.raises(IdxError, match="not an MNIST labels file"):
        read_idx(path, LABELS_MAGIC)


def test_random_bytes(tmp_path):
    path = tmp_path / "random.bin"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(IdxError, match=r"random.bin: not an MNIST images file"):
        read_idx(path, IMAGES_MAGIC)


def test_text_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("these are not the digits you are looking for\n" * 20)
    with pytest.raises(IdxError, match=r"notes\.txt"):
        read_idx(path, IMAGES_MAGIC)


@pytest.mark.parametrize("content", [b"", b"\x00\x00", b"\x00\x00\x08\x03\x00\x00"])
def test_too_short(tmp_path, content):
    path = tmp_path / "short"
    path.write_bytes(content)
    with pytest.raises(IdxError, match="short: too short"):
        read_idx(path, IMAGES_MAGIC)


def test_damaged_gzip(tmp_path, digits):
    path = tmp_path / "damaged.gz"
    write_idx(path, digits[0])
    data = bytearray(path.read_bytes())
    data[20:60] = b"\xff" * 40  # garbage inside the deflate stream
    path.write_bytes(bytes(data))
    with pytest.raises(IdxError, match=r"damaged.gz: (damaged gzip|.*truncated|not an MNIST)"):
        read_idx(path, IMAGES_MAGIC)


def test_gzip_header_only(tmp_path):
    path = tmp_path / "header.gz"
    path.write_bytes(b"\x1f\x8b" + b"garbage that is not deflate")
    with pytest.raises(IdxError, match=r"header\.gz: damaged gzip"):
        read_idx(path, IMAGES_MAGIC)


def test_missing_file(tmp_path):
    with pytest.raises(IdxError, match=r"nothere: file not found"):
        read_idx(tmp_path / "nothere", IMAGES_MAGIC)


def test_directory_instead_of_file(tmp_path):
    (tmp_path / "adir").mkdir()
    with pytest.raises(IdxError, match="adir"):
        read_idx(tmp_path / "adir", IMAGES_MAGIC)


def test_images_of_wrong_size_rejected_by_read_folder(tmp_path):
    folder = write_small_mnist(tmp_path / "d", 20, 10)
    write_idx(folder / "train-images-idx3-ubyte.gz", np.zeros((20, 27, 27), np.uint8))
    with pytest.raises(DataError, match="28x28"):
        read_folder(folder)


def test_labels_above_nine_rejected_by_read_folder(tmp_path):
    folder = write_small_mnist(tmp_path / "d", 20, 10)
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.full(10, 11, np.uint8))
    with pytest.raises(DataError, match="0-9"):
        read_folder(folder)


# ------------------------------------------------------------------------------ folders


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("layout", ["flat", "raw"])
def test_read_folder_layouts(tmp_path, gz, layout):
    folder = write_small_mnist(tmp_path / "data", 50, 20, gz=gz, layout=layout)
    data = read_folder(folder)
    images, labels = make_digits(50, seed=0)
    assert data.train_images.shape == (50, 28, 28) and data.test_images.shape == (20, 28, 28)
    assert data.train_labels.shape == (50,) and data.test_labels.shape == (20,)
    np.testing.assert_array_equal(data.train_images.numpy(), images)
    np.testing.assert_array_equal(data.train_labels.numpy(), labels)
    assert Path(data.source) == folder


def test_read_folder_mixed_gz_and_plain(tmp_path):
    folder = write_small_mnist(tmp_path / "data", 50, 20, gz=True)
    gz = folder / "t10k-labels-idx1-ubyte.gz"
    (folder / "t10k-labels-idx1-ubyte").write_bytes(gzip.decompress(gz.read_bytes()))
    gz.unlink()
    assert read_folder(folder).test_labels.shape == (20,)


def test_mismatched_counts(tmp_path):
    folder = write_small_mnist(tmp_path / "data", 50, 20)
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.zeros(49, np.uint8))
    with pytest.raises(DataError, match=r"training images \(50\) and labels \(49\)"):
        read_folder(folder)


def test_mismatched_counts_test_set(tmp_path):
    folder = write_small_mnist(tmp_path / "data", 50, 20)
    write_idx(folder / "t10k-images-idx3-ubyte.gz", np.zeros((21, 28, 28), np.uint8))
    with pytest.raises(DataError, match=r"test images \(21\) and labels \(20\)"):
        read_folder(folder)


def test_bad_file_in_folder_is_data_error_naming_it(tmp_path):
    folder = write_small_mnist(tmp_path / "data", 50, 20, gz=False)
    path = folder / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte: file truncated"):
        read_folder(folder)


def test_swapped_files_in_folder(tmp_path):
    folder = write_small_mnist(tmp_path / "data", 50, 20, gz=False)
    images, labels = folder / "train-images-idx3-ubyte", folder / "train-labels-idx1-ubyte"
    images_bytes = images.read_bytes()
    images.write_bytes(labels.read_bytes())
    labels.write_bytes(images_bytes)
    with pytest.raises(DataError, match="not an MNIST"):
        read_folder(folder)


@pytest.mark.parametrize("layout", ["flat", "raw"])
def test_folder_missing_a_file_names_it(tmp_path, layout):
    folder = write_small_mnist(tmp_path / "data", 20, 10, layout=layout)
    target = folder / "MNIST" / "raw" if layout == "raw" else folder
    (target / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte") as info:
        read_folder(folder)
    message = str(info.value)
    assert str(folder) in message
    for present in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images"):
        assert present not in message, f"{present} is there, but the message says missing"


def test_empty_folder_names_all_four(tmp_path):
    with pytest.raises(DataError) as info:
        read_folder(tmp_path)
    for stem in FILES.values():
        assert stem in str(info.value)


def test_missing_folder(tmp_path):
    with pytest.raises(DataError, match="data folder not found"):
        read_folder(tmp_path / "nowhere")


def test_files_split_across_layouts_is_not_accepted(tmp_path):
    """Two files flat and two in MNIST/raw is not a complete set in either place."""
    folder = write_small_mnist(tmp_path / "data", 20, 10)
    raw = folder / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for stem in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        shutil.move(folder / f"{stem}.gz", raw / f"{stem}.gz")
    with pytest.raises(DataError, match="missing"):
        read_folder(folder)


def test_reader_checks_are_not_asserts():
    """`python -O` strips asserts: every check of outside input must be a real `raise`."""
    for name in ("data/idx.py", "data/mnist.py", "store/checkpoint.py", "data/personal.py"):
        tree = ast.parse((ENGINE / name).read_text(), name)
        asserts = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Assert)]
        assert not asserts, f"engine/{name} uses assert on lines {asserts}"


def test_checks_work_under_python_O(tmp_path):
    """The same rejection with optimisation on (asserts compiled away)."""
    import subprocess
    import sys

    path = tmp_path / "labels"
    write_idx(path, np.zeros(30, np.uint8))
    code = (
        "import sys\n"
        "from engine.data.idx import read_idx, IdxError, IMAGES_MAGIC\n"
        "try:\n"
        f"    read_idx({str(path)!r}, IMAGES_MAGIC)\n"
        "except IdxError as exc:\n"
        "    print('rejected', exc)\n"
        "else:\n"
        "    sys.exit('accepted a labels file as images')\n"
    )
    done = subprocess.run(
        [sys.executable, "-O", "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ENGINE.parent)},
    )
    assert done.returncode == 0, done.stderr
    assert "rejected labels: not an MNIST images file" in done.stdout
