"""The pretraining study (engine.study): fairness, determinism, stopping, files and CLI.

Everything runs on the small synthetic MNIST of helpers_data with a handful of steps, so
the numbers mean nothing; what is tested is the machinery around them.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import replace
from pathlib import Path

import pytest
from helpers_data import single_torch_thread, small_mnist, write_small_mnist

from engine import study
from engine.cli import main
from engine.events import CellDone, Finished, Progress
from engine.study import WAYS, StudyError, StudySettings, load_study, run_study
from engine.study import run as study_run

TINY = StudySettings(
    budgets=(20, None),
    seeds=2,
    families=("mlp",),
    min_steps=6,
    max_steps=8,
    val_every=3,
    val_size=40,
    target=0.6,
    pretrain_epochs=1,
    batch_size=32,
    device="cpu",
    workers=1,  # in this process, so tests can wrap train_cell; the pool has its own tests
)


@pytest.fixture(scope="module")
def data():
    return small_mnist(n_train=300, n_test=100)


@pytest.fixture(scope="module")
def tiny_run(data, tmp_path_factory):
    """One tiny study, shared by the tests that only read its result."""
    out = tmp_path_factory.mktemp("study")
    events: list = []
    result = run_study(data, TINY, events.append, out_dir=out)
    return result, events, out


def test_study_module_import_is_light():
    """`evenodd --help` imports engine.study: it must not pull in torch or matplotlib."""
    import subprocess
    import sys

    code = "import sys, engine.study; print('torch' in sys.modules, 'matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_all_cells_run_and_table_has_the_expected_shape(tiny_run):
    result, events, _ = tiny_run
    assert result.status == "completed"
    assert len(result.cells) == result.planned_cells == 1 * 2 * 2 * 3
    table = study.summarize(result.cells, result.settings)["table"]
    assert set(table) == {"mlp"}
    assert list(table["mlp"]) == ["20", "all"]
    for row in table["mlp"].values():
        assert list(row) == list(WAYS)
        for info in row.values():
            assert len(info["accuracies"]) == 2 and info["seeds"] == [0, 1]
            assert math.isclose(info["mean"], sum(info["accuracies"]) / 2)
            assert info["std"] is not None and info["std"] >= 0
    gains = study.summarize(result.cells, result.settings)["gains"]["mlp"]["20"]
    assert set(gains) == {"frozen", "finetune"}
    assert len(gains["frozen"]["diffs"]) == 2
    done = [e for e in events if isinstance(e, CellDone)]
    assert len(done) == len(result.cells)
    progress = [e for e in events if isinstance(e, Progress) and e.phase == "compare"]
    assert progress and progress[-1].done == progress[-1].total


def test_steps_follow_the_settings(tiny_run):
    result, _, _ = tiny_run
    for cell in result.cells:
        assert cell.planned_steps == TINY.steps_for(cell.n_labels)
        assert cell.steps <= cell.planned_steps
        assert [s for s, _ in cell.curve] == sorted(s for s, _ in cell.curve)
        assert all(s % TINY.val_every == 0 or s == cell.steps for s, _ in cell.curve)


def test_three_ways_see_exactly_the_same_labelled_indices(data, monkeypatch):
    """Wrap the per-cell trainer and record what each way really trained on."""
    seen: dict[tuple, dict[bool | None, tuple]] = {}
    real = study_run.train_cell

    def spy(data_, arch, cfg, labelled, encoder, freeze, *rest, **kwargs):
        way = "scratch" if encoder is None else ("frozen" if freeze else "finetune")
        key = (arch.arch, cfg.seed, len(labelled))
        seen.setdefault(key, {})[way] = (tuple(labelled.tolist()), cfg)
        return real(data_, arch, cfg, labelled, encoder, freeze, *rest, **kwargs)

    monkeypatch.setattr(study_run, "train_cell", spy)
    result = run_study(data, TINY)
    assert len(seen) == 4  # 2 budgets x 2 seeds
    for per_way in seen.values():
        assert set(per_way) == set(WAYS)
        indices = {v[0] for v in per_way.values()}
        configs = {v[1] for v in per_way.values()}
        assert len(indices) == 1, "the three ways trained on different labels"
        assert len(configs) == 1, "the three ways trained with different settings"
    # ... and the recorded fingerprints say the same, and differ across seeds.
    hashes: dict[tuple, set] = {}
    for cell in result.cells:
        hashes.setdefault((cell.budget, cell.seed), set()).add(cell.labels_sha256)
    assert all(len(h) == 1 for h in hashes.values())
    assert hashes[("20", 0)] != hashes[("20", 1)]


def test_identical_seeds_give_identical_results(data, tiny_run):
    first, _, _ = tiny_run
    again = run_study(data, TINY)
    assert [c.test_accuracy for c in again.cells] == [c.test_accuracy for c in first.cells]
    assert [c.curve for c in again.cells] == [c.curve for c in first.cells]
    assert [c.labels_sha256 for c in again.cells] == [c.labels_sha256 for c in first.cells]


def test_stopping_mid_study_keeps_finished_cells(data, tmp_path):
    done: list[CellDone] = []

    def on_event(event):
        if isinstance(event, CellDone):
            done.append(event)

    result = run_study(data, TINY, on_event, lambda: len(done) >= 4, out_dir=tmp_path)
    assert result.status == "stopped"
    assert len(result.cells) == 4
    reopened = load_study(tmp_path)
    assert reopened.status == "stopped"
    assert [c.to_dict() for c in reopened.cells] == [c.to_dict() for c in result.cells]
    saved = json.loads((tmp_path / study.TABLE_JSON).read_text())
    assert saved["cells_done"] == 4 and saved["status"] == "stopped"
    assert (tmp_path / study.PLOT_FILE).stat().st_size > 1000
    assert (tmp_path / study.CELLS_FILE).read_text().count("\n") == 1 + 4


# ------------------------------------------------------- cells in worker processes


@pytest.fixture
def one_thread():
    yield from single_torch_thread()


def _by_cell(result) -> dict:
    return {(c.family, c.budget, c.seed, c.way): c.to_dict() for c in result.cells}


def test_cells_in_worker_processes_give_exactly_the_results_of_one_process(data, one_thread):
    """Each worker trains on one thread; so does this process here: same numbers."""
    here = run_study(data, TINY)
    events: list = []
    pooled = run_study(data, replace(TINY, workers=2), events.append)
    assert pooled.status == "completed" and pooled.info["workers"] == 2
    assert len(pooled.cells) == len(here.cells)
    mine, theirs = _by_cell(here), _by_cell(pooled)
    for cell in (mine, theirs):
        for values in cell.values():
            values.pop("seconds")
    assert theirs == mine
    progress = [e for e in events if isinstance(e, Progress) and e.phase == "compare"]
    assert [e.done for e in progress] == sorted(e.done for e in progress)
    assert progress[-1].done == progress[-1].total
    assert len([e for e in events if isinstance(e, CellDone)]) == len(pooled.cells)


def test_late_progress_of_a_finished_cell_is_not_counted_again():
    import queue

    from engine.study.pool import _drain

    events: queue.Queue = queue.Queue()
    for item in (("done-cell", 40), ("running-cell", 7)):
        events.put(item)
    seen: list = []
    _drain(events, lambda key, steps: seen.append((key, steps)), {"running-cell"})
    assert seen == [("running-cell", 7)] and events.empty()


def test_stopping_worker_processes_keeps_finished_cells(data, tmp_path):
    done: list[CellDone] = []

    def on_event(event):
        if isinstance(event, CellDone):
            done.append(event)

    settings = replace(TINY, workers=2)
    result = run_study(data, settings, on_event, lambda: len(done) >= 3, out_dir=tmp_path)
    assert result.status == "stopped"
    assert 3 <= len(result.cells) <= 3 + 2 < result.planned_cells  # + the cells running then
    assert all(c.status != "stopped" for c in result.cells)
    reopened = load_study(tmp_path)
    assert [c.to_dict() for c in reopened.cells] == [c.to_dict() for c in result.cells]


def test_stop_reaches_cells_running_in_worker_processes(data):
    """Cells of 100,000 steps would run for minutes: a stop must end them after a batch."""
    settings = replace(TINY, workers=2, budgets=(20,), seeds=1, min_steps=100_000,
                       max_steps=100_000, val_every=10_000)  # fmt: skip
    pretrained: list[float] = []

    def on_event(event):
        if isinstance(event, Finished) and event.phase == "pretrain":
            pretrained.append(time.monotonic())

    def should_stop() -> bool:  # once the cells have had time to start
        return bool(pretrained) and time.monotonic() - pretrained[-1] > 3.0

    result = run_study(data, settings, on_event, should_stop)
    assert result.status == "stopped" and result.cells == []
    assert time.monotonic() - pretrained[-1] < 60


def test_saved_study_reopens_identically(tiny_run):
    result, _, out = tiny_run
    reopened = load_study(out)
    assert reopened.settings == result.settings
    assert study.summarize(reopened.cells, reopened.settings) == study.summarize(
        result.cells, result.settings
    )
    for name in (study.TABLE_CSV, study.REPORT_FILE, study.PLOT_FILE, study.CONVERGENCE_PLOT_FILE):
        assert (out / name).is_file(), name
    report = (out / study.REPORT_FILE).read_text()
    for sentence in study.sentences(study.summarize(result.cells, result.settings)):
        assert sentence.replace("'", "&#x27;") in report or sentence in report


def test_load_study_refuses_folders_without_a_study(tmp_path):
    with pytest.raises(StudyError, match="no saved study"):
        load_study(tmp_path)
    (tmp_path / study.STUDY_FILE).write_text("{not json")
    with pytest.raises(StudyError, match="cannot be read"):
        load_study(tmp_path)
    (tmp_path / study.STUDY_FILE).write_text('{"format": "something else"}')
    with pytest.raises(StudyError, match="not a saved"):
        load_study(tmp_path)


def test_paired_gain_and_its_verdicts():
    clear = study.paired_gain([0.90, 0.91, 0.92], [0.80, 0.80, 0.81])
    assert math.isclose(clear["mean"], (0.10 + 0.11 + 0.11) / 3)
    assert clear["clear"] is True and clear["low"] > 0
    noisy = study.paired_gain([0.90, 0.70, 0.95], [0.80, 0.85, 0.80])
    assert noisy["clear"] is False and noisy["low"] < 0 < noisy["high"]
    single = study.paired_gain([0.9], [0.8])
    assert single["clear"] is None and single["std"] is None
    assert "unknown" in study.gain_sentence("mlp", "100", "frozen", single)
    assert "beyond the seed spread" in study.gain_sentence("mlp", "100", "frozen", clear)
    assert "within the spread" in study.gain_sentence("mlp", "100", "frozen", noisy)


def test_sentences_are_computed_not_tilted():
    """A study where scratch wins must say so: the sentences follow the numbers."""
    cells = [
        study.Cell(
            "mlp",
            "100",
            100,
            seed,
            way,
            acc + 0.001 * seed,
            acc,
            10,
            10,
            None,
            "completed",
            1,
            0.1,
            "x",
        )
        for seed in range(3)
        for way, acc in (("scratch", 0.95), ("frozen", 0.80), ("finetune", 0.94))
    ]
    summary = study.summarize(cells, StudySettings(budgets=(100,), families=("mlp",)))
    text = " ".join(study.sentences(summary))
    assert "helped beyond the seed spread in 0" in text
    assert "Hurt: mlp 100 frozen" in text
    assert "100: scratch 95.10%" in text  # two digits, as the table: 99.46 must not read 99.5


def test_steps_rule():
    settings = StudySettings()
    steps = [settings.steps_for(n) for n in (100, 300, 1000, 3000, 55_000)]
    assert steps == [500, 500, 500, 500, 4297]  # all labels: 10 epochs of 128
    assert StudySettings(max_steps=2000).steps_for(55_000) == 2000


def test_patience_zero_means_every_step_is_trained():
    cfg = StudySettings(patience=0, val_every=50).train_config(seed=0, steps=2000)
    assert cfg.epochs == 40 and cfg.patience > cfg.epochs and cfg.max_steps == 2000
    assert StudySettings(patience=6).train_config(seed=1, steps=500).patience == 6


def test_study_pretrains_as_the_app_does():
    from engine.config import DEFAULT_PRETRAIN

    cfg = StudySettings(pretrain_seed=3).pretrain_config()
    assert (cfg.batch_size, cfg.precision, cfg.epochs) == (
        DEFAULT_PRETRAIN.batch_size,
        DEFAULT_PRETRAIN.precision,
        DEFAULT_PRETRAIN.epochs,
    )
    assert cfg.seed == 3


def test_bad_settings_are_refused(data):
    with pytest.raises(StudyError, match="larger than"):
        run_study(data, StudySettings(budgets=(10_000,), families=("mlp",)))
    with pytest.raises(StudyError, match="families"):
        StudySettings(families=("resnet",)).validate()
    with pytest.raises(StudyError, match="target"):
        StudySettings(target=1.5).validate()
    with pytest.raises(StudyError, match="workers"):
        StudySettings(workers=-1).validate()


def _cli_args(folder: Path, out: Path, *extra: str) -> list[str]:
    return [
        "compare",
        "--data-dir",
        str(folder),
        "--out",
        str(out),
        "--labels",
        "20,all",
        "--seeds",
        "1",
        "--arch",
        "mlp,conv",
        "--steps",
        "4",
        "--max-steps",
        "4",
        "--val-every",
        "2",
        "--val-size",
        "30",
        "--pretrain-epochs",
        "1",
        "--device",
        "cpu",
        "--quiet",
        *extra,
    ]


def test_cli_compare_prints_the_table_as_json(tmp_path, capsys):
    folder = write_small_mnist(tmp_path / "mnist", n_train=200, n_test=60)
    code = main(_cli_args(folder, tmp_path / "out", "--json"))
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["status"] == "completed" and printed["cells_done"] == 12
    assert set(printed["table"]) == {"mlp", "conv"}
    for family in ("mlp", "conv"):
        assert list(printed["table"][family]) == ["20", "all"]
        for budget in ("20", "all"):
            row = printed["table"][family][budget]
            assert list(row) == list(WAYS)
            for way in WAYS:
                assert set(row[way]) >= {"mean", "std", "accuracies"}
                assert len(row[way]["accuracies"]) == 1
    assert printed["settings"]["families"] == ["mlp", "conv"]
    assert load_study(tmp_path / "out").status == "completed"


def test_cli_compare_refuses_bad_arguments(tmp_path, capsys):
    folder = write_small_mnist(tmp_path / "mnist", n_train=200, n_test=60)
    with pytest.raises(SystemExit) as exit_info:
        main(_cli_args(folder, tmp_path / "out", "--arch", "resnet"))
    assert exit_info.value.code == 2
    assert main(_cli_args(folder, tmp_path / "out", "--labels", "100000")) == 1
    assert "larger than" in capsys.readouterr().err


def test_cli_compare_lr_sets_every_cells_peak_learning_rate(tmp_path, capsys):
    from engine.cli import build_parser
    from engine.study.cli import settings_from_args

    args = _cli_args(tmp_path, tmp_path / "out")
    assert settings_from_args(build_parser().parse_args(args)).lr == StudySettings().lr
    settings = settings_from_args(build_parser().parse_args([*args, "--lr", "0.004"]))
    assert settings.lr == 0.004 != StudySettings().lr
    assert settings.train_config(0, 10).lr == 0.004
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([*args, "--lr", "0"])
    assert exit_info.value.code == 2
    assert "--lr" in capsys.readouterr().err


def test_convergence_sentence_says_which_way_reached_the_target_less_often() -> None:
    from engine.study.stats import _convergence_verdict

    never = {"accuracies": [0.9] * 3, "reached": 0, "mean_steps_to_target": None}
    twice = {"accuracies": [0.9] * 3, "reached": 2, "mean_steps_to_target": 325.0}
    text = _convergence_verdict("MLP, 300 labels, frozen", never, twice)
    assert text == (
        "MLP, 300 labels, frozen: reached the target less often than scratch "
        "(never, 0/3 seeds; scratch 325 steps, 2/3 seeds)."
    )
    assert "more often" in _convergence_verdict("x", twice, never)
