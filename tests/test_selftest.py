"""`--self-test` from source: passes on the shipped files, fails with a reason otherwise."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli.selftest import SelfTestError, find_samples, main, run_self_test
from engine.store.resources import default_model_path, resource_path

REPO = Path(__file__).resolve().parent.parent


def _run(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    return subprocess.run(
        [sys.executable, str(REPO / "main.py"), "--self-test", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=REPO,
    )


def _model_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    shutil.copytree(default_model_path().parent, folder)
    return folder


def test_self_test_passes_from_source() -> None:
    result = _run()
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    n = len(list(resource_path("samples").glob("*.png")))
    assert lines[0].startswith(f"self-test passed: {n}/{n} sample drawings, model sha256 ")
    assert "t-SNE child" in lines[0]  # the latent map's child process started and answered
    assert "choosing child" in lines[0]  # so did the child that chooses images to label


def test_self_test_with_broken_model_exits_1_with_reason(tmp_path: Path) -> None:
    folder = _model_copy(tmp_path)
    (folder / "classifier.pt").write_bytes(b"not a checkpoint at all")
    result = _run("--model-dir", str(folder))
    assert result.returncode == 1
    assert result.stdout == ""
    assert "self-test failed: the default classifier model cannot be loaded" in result.stderr
    assert "classifier.pt: not a valid checkpoint file" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_model_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _model_copy(tmp_path)
    (folder / "encoder.pt").unlink()
    assert main(["--model-dir", str(folder)]) == 1
    assert "the default encoder model is missing" in capsys.readouterr().err


def test_model_that_differs_from_provenance_is_refused(tmp_path: Path) -> None:
    """A valid checkpoint that is not the recorded one (a swapped file) must not pass."""
    folder = _model_copy(tmp_path)
    shutil.copyfile(folder / "classifier.pt", tmp_path / "c.pt")
    from engine.store.checkpoint import load_checkpoint, save_checkpoint

    loaded = load_checkpoint(tmp_path / "c.pt")
    save_checkpoint(folder / "classifier.pt", loaded.model, loaded.arch, seed=123)
    with pytest.raises(SelfTestError, match="differs from the file recorded"):
        run_self_test(folder, resource_path("samples"))


def test_wrong_answers_are_listed(tmp_path: Path) -> None:
    """Swap the labels of two samples: the self-test must notice the model 'disagrees'."""
    samples = tmp_path / "samples"
    samples.mkdir()
    shutil.copyfile(resource_path("samples", "7_odd_thick.png"), samples / "8_even_fake.png")
    shutil.copyfile(resource_path("samples", "2_even_thick.png"), samples / "2_even_thick.png")
    with pytest.raises(SelfTestError, match=r"1 of 2 sample drawings answered wrong: 8_even_fake"):
        run_self_test(default_model_path().parent, samples)


@pytest.mark.parametrize(
    ("name", "message"),
    [("7_even_x.png", "7 is not even"), ("seven.png", "name must look like")],
)
def test_bad_sample_names_are_refused(tmp_path: Path, name: str, message: str) -> None:
    shutil.copyfile(resource_path("samples", "7_odd_thick.png"), tmp_path / name)
    with pytest.raises(SelfTestError, match=message):
        find_samples(tmp_path)


def test_empty_samples_folder_fails(tmp_path: Path) -> None:
    with pytest.raises(SelfTestError, match="no sample drawings"):
        find_samples(tmp_path)


def test_a_failing_tsne_child_fails_the_self_test(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bundle's spawned children must work: a t-SNE child that fails (here on codes
    that are all NaN, which scikit-learn refuses) fails the self-test with its reason."""
    import numpy as np

    import engine.reports.projection as projection

    start = projection.TsneProcess.__init__

    def poisoned(self: projection.TsneProcess, codes: np.ndarray, seed: int = 0) -> None:
        start(self, np.full_like(codes, np.nan), seed)

    monkeypatch.setattr(projection.TsneProcess, "__init__", poisoned)
    with pytest.raises(SelfTestError, match="t-SNE process failed: t-SNE failed: "):
        run_self_test(default_model_path().parent, resource_path("samples"))


def _failing_picks(*args) -> None:
    raise ValueError("no clusters")


def test_a_failing_choosing_child_fails_the_self_test(monkeypatch: pytest.MonkeyPatch) -> None:
    """The kept child that chooses images to label must work in the bundle too: work that
    fails in that child (here a stand-in for its picks that raises) fails the self-test
    with the child's reason."""
    import engine.learning.choose as choose

    monkeypatch.setattr(choose, "picks_from_links", _failing_picks)
    message = "^choosing images to label failed: ValueError: no clusters$"
    with pytest.raises(SelfTestError, match=message):
        run_self_test(default_model_path().parent, resource_path("samples"))
