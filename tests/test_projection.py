"""t-SNE in a child process: the same result as in this process, a failure reported in
one line, and a cancel that ends the child within a second."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest

from engine.reports import projection
from engine.reports.projection import ProjectionError, TsneProcess


def clusters(n: int, dims: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 10, (10, dims))
    return (centres[rng.integers(0, 10, n)] + rng.normal(0, 0.1, (n, dims))).astype(np.float32)


def wait_for(process: TsneProcess, timeout: float = 120.0) -> np.ndarray:
    deadline = time.monotonic() + timeout
    while (points := process.result(timeout=0.5)) is None:
        assert time.monotonic() < deadline, "no t-SNE result in time"
    return points


def test_the_child_gives_the_same_embedding_as_this_process() -> None:
    codes = clusters(300, 64)
    process = TsneProcess(codes)
    points = wait_for(process)
    np.testing.assert_array_equal(points, projection.tsne(codes))
    assert points.dtype == np.float32 and points.shape == (300, 2)
    assert not process.is_alive()  # reaped once the result is in
    assert process.result() is points  # asked again: the same result, no error


def test_a_failing_t_sne_is_reported_not_hung() -> None:
    codes = clusters(100, 8)
    codes[3, 2] = np.nan  # scikit-learn refuses NaN
    process = TsneProcess(codes)
    with pytest.raises(ProjectionError, match="t-SNE failed: ValueError"):
        wait_for(process)
    assert not process.is_alive()


def _has_loaded_scikit_learn(pid: int) -> bool:
    try:
        return "sklearn" in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/PID/maps")
def test_cancel_ends_a_running_t_sne_within_a_second() -> None:
    codes = np.random.default_rng(0).normal(0, 1, (3000, 50)).astype(np.float32)  # ~10 s
    process = TsneProcess(codes)
    deadline = time.monotonic() + 60
    while not _has_loaded_scikit_learn(process.pid):  # computing, not still starting
        assert process.result(timeout=0.05) is None
        assert time.monotonic() < deadline, "the child never loaded scikit-learn"
    assert process.is_alive()
    started = time.monotonic()
    process.cancel()
    assert not process.is_alive()
    assert time.monotonic() - started < 1.0
    with pytest.raises(ProjectionError, match="cancelled"):
        process.result()


def test_a_child_that_dies_reads_as_an_error() -> None:
    process = TsneProcess(clusters(3000, 50))
    process._process.kill()  # as if the system killed it (out of memory, ...)
    with pytest.raises(ProjectionError, match="ended without a result"):
        wait_for(process, timeout=30)
