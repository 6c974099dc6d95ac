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
import torch
from helpers_data import single_torch_thread, small_mnist, write_small_mnist

from engine.cli.commands import main
from engine.events import CellDone, Finished, Progress
from engine.study import run as study_run
from engine.study.report import load_study
from engine.study.run import run_study
from engine.study.settings import (
    CELLS_FILE,
    CONVERGENCE_PLOT_FILE,
    PLOT_FILE,
    REPORT_FILE,
    STUDY_FILE,
    TABLE_CSV,
    TABLE_JSON,
    WAYS,
    Cell,
    StudyError,
    StudySettings,
)
from engine.study.stats import gain_sentence, paired_gain, sentences, summarize

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
    semi_families=("mlp",),  # the two semi-supervised ways at 20 labels (not with all)
    semi_budgets=(20,),
    semi_steps=6,
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
    """`evenodd --help` imports engine.study.cli (and with it the study's run, report,
    resume, settings and stats): it must not pull in torch or matplotlib."""
    import subprocess
    import sys

    code = (
        "import sys, engine.study.cli; print('torch' in sys.modules, 'matplotlib' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_all_cells_run_and_table_has_the_expected_shape(tiny_run):
    result, events, _ = tiny_run
    assert result.status == "completed"
    assert len(result.cells) == result.planned_cells == 2 * (5 + 3)  # seeds x ways
    summary = summarize(result.cells, result.settings)
    table = summary["table"]
    assert set(table) == {"mlp"}
    assert list(table["mlp"]) == ["20", "all"]
    assert list(table["mlp"]["20"]) == list(WAYS)
    assert list(table["mlp"]["all"]) == ["scratch", "frozen", "finetune"]  # none unlabelled
    assert set(summary["effects"]["mlp"]["20"]) == {
        "unlabelled_scratch",
        "unlabelled_pretrained",
        "pretraining_unlabelled",
    }
    for row in table["mlp"].values():
        for info in row.values():
            assert len(info["accuracies"]) == 2 and info["seeds"] == [0, 1]
            assert math.isclose(info["mean"], sum(info["accuracies"]) / 2)
            assert info["std"] is not None and info["std"] >= 0
    gains = summarize(result.cells, result.settings)["gains"]["mlp"]["20"]
    assert set(gains) == {"frozen", "finetune"}
    assert len(gains["frozen"]["diffs"]) == 2
    done = [e for e in events if isinstance(e, CellDone)]
    assert len(done) == len(result.cells)
    progress = [e for e in events if isinstance(e, Progress) and e.phase == "compare"]
    assert progress and progress[-1].done == progress[-1].total


def test_steps_follow_the_settings(tiny_run):
    result, _, _ = tiny_run
    for cell in result.cells:
        semi = cell.way in ("scratch_unlabelled", "finetune_unlabelled")
        assert cell.planned_steps == (TINY.semi_steps if semi else TINY.steps_for(cell.n_labels))
        assert cell.steps <= cell.planned_steps
        assert [s for s, _ in cell.curve] == sorted(s for s, _ in cell.curve)
        assert all(s % TINY.val_every == 0 or s == cell.steps for s, _ in cell.curve)


def test_three_ways_see_exactly_the_same_labelled_indices(data, monkeypatch):
    """Wrap the per-cell trainer and record what each way really trained on."""
    seen: dict[tuple, dict[bool | None, tuple]] = {}
    real = study_run.train_cell

    split = study_run.study_split(len(data.train_images))

    def spy(data_, arch, cfg, labelled, encoder, freeze, *rest, **kwargs):
        unlabelled = rest[4] if len(rest) > 4 else kwargs.get("unlabelled")
        way = "scratch" if encoder is None else ("frozen" if freeze else "finetune")
        if unlabelled is not None:  # every other training image, none of the labelled
            assert not bool(torch.isin(unlabelled, labelled.indices).any())
            assert len(unlabelled) + len(labelled) == len(split.train)
            way += "_unlabelled"
        key = (arch.arch, cfg.seed, len(labelled))
        seen.setdefault(key, {})[way] = (tuple(labelled.indices.tolist()), cfg)
        return real(data_, arch, cfg, labelled, encoder, freeze, *rest, **kwargs)

    monkeypatch.setattr(study_run, "train_cell", spy)
    # random picks: on this small, cleanly clustered set the suggested picks (the most
    # typical image of each cluster) can be the same for both seeds
    result = run_study(data, replace(TINY, pick="random"))
    assert len(seen) == 4  # 2 budgets x 2 seeds
    for (_, _, n_labels), per_way in seen.items():
        semi = n_labels == 20
        assert set(per_way) == (set(WAYS) if semi else {"scratch", "frozen", "finetune"})
        indices = {v[0] for v in per_way.values()}
        supervised = {v[1] for w, v in per_way.items() if not w.endswith("_unlabelled")}
        assert len(indices) == 1, "the ways trained on different labels"
        assert len(supervised) == 1, "the supervised ways trained with different settings"
        if semi:
            semi_configs = {v[1] for w, v in per_way.items() if w.endswith("_unlabelled")}
            assert semi_configs == {TINY.semi_config(per_way["scratch"][1].seed)}
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
    saved = json.loads((tmp_path / TABLE_JSON).read_text())
    assert saved["cells_done"] == 4 and saved["status"] == "stopped"
    assert (tmp_path / PLOT_FILE).stat().st_size > 1000
    assert (tmp_path / CELLS_FILE).read_text().count("\n") == 1 + 4


# ------------------------------------------------------- cells in worker processes


@pytest.fixture
def one_thread():
    yield from single_torch_thread()


def _by_cell(result) -> dict:
    return {(c.family, c.budget, c.seed, c.way): c.to_dict() for c in result.cells}


def test_cells_in_worker_processes_give_exactly_the_results_of_one_process(
    data, one_thread, tiny_run
):
    """Each worker trains on one thread; so does this process here (the tests run torch on
    one thread, tests/conftest.py): same numbers as the study run in this process."""
    here = tiny_run[0]
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


def test_a_stop_while_the_images_are_chosen_ends_the_study_as_stopped(data, monkeypatch):
    """Stopped after pretraining, while the suggested images are chosen: no cell runs and
    the study says it was stopped, not completed."""
    import engine.learning.graph as graph

    monkeypatch.setattr(graph, "_last_links", {})  # the links must be made, stoppably
    pretrained: list[bool] = []

    def on_event(event):
        if isinstance(event, Finished) and event.phase == "pretrain":
            pretrained.append(True)

    result = run_study(data, replace(TINY, seeds=1), on_event, lambda: bool(pretrained))
    assert pretrained and result.status == "stopped" and result.cells == []


def test_stop_reaches_cells_running_in_worker_processes(data):
    """Cells of 100,000 steps would run for minutes: a stop must end them after a batch.
    The stop comes once the workers report steps taken, so it finds the cells running."""
    settings = replace(TINY, workers=2, budgets=(20,), seeds=1, min_steps=100_000,
                       max_steps=100_000, val_every=10_000, pick="random")  # fmt: skip
    pretrained: list[float] = []
    progress_then: list[int] = []  # the study's progress when pretraining ended
    stepping: list[bool] = []

    def on_event(event):
        if isinstance(event, Finished) and event.phase == "pretrain":
            pretrained.append(time.monotonic())
        elif isinstance(event, Progress) and event.phase == "compare" and pretrained:
            if not progress_then:
                progress_then.append(event.done)
            stepping.append(event.done > progress_then[0])

    def should_stop() -> bool:
        return any(stepping)

    result = run_study(data, settings, on_event, should_stop)
    assert any(stepping), "the stop came before any cell took a step"
    assert result.status == "stopped" and result.cells == []
    assert time.monotonic() - pretrained[-1] < 60


def test_a_restart_deletes_every_file_a_study_writes(tiny_run):
    """A file added to a study's outputs but not to the restart's list would be left
    behind, stale, by `--restart`."""
    from engine.study.resume import study_files

    _, _, out = tiny_run
    written = {path.name for path in out.iterdir()}
    assert "report.html" in written and "encoder-mlp.pt" in written
    assert written <= {path.name for path in study_files(out)}


def test_saved_study_reopens_identically(tiny_run):
    result, _, out = tiny_run
    reopened = load_study(out)
    assert reopened.settings == result.settings
    assert summarize(reopened.cells, reopened.settings) == summarize(result.cells, result.settings)
    for name in (TABLE_CSV, REPORT_FILE, PLOT_FILE, CONVERGENCE_PLOT_FILE):
        assert (out / name).is_file(), name
    report = (out / REPORT_FILE).read_text()
    for sentence in sentences(summarize(result.cells, result.settings)):
        assert sentence.replace("'", "&#x27;") in report or sentence in report


def test_load_study_refuses_folders_without_a_study(tmp_path):
    with pytest.raises(StudyError, match="no saved study"):
        load_study(tmp_path)
    (tmp_path / STUDY_FILE).write_text("{not json")
    with pytest.raises(StudyError, match="cannot be read"):
        load_study(tmp_path)
    (tmp_path / STUDY_FILE).write_text('{"format": "something else"}')
    with pytest.raises(StudyError, match="not a saved"):
        load_study(tmp_path)


def test_paired_gain_and_its_verdicts():
    clear = paired_gain([0.90, 0.91, 0.92], [0.80, 0.80, 0.81])
    assert math.isclose(clear["mean"], (0.10 + 0.11 + 0.11) / 3)
    assert clear["clear"] is True and clear["low"] > 0
    noisy = paired_gain([0.90, 0.70, 0.95], [0.80, 0.85, 0.80])
    assert noisy["clear"] is False and noisy["low"] < 0 < noisy["high"]
    single = paired_gain([0.9], [0.8])
    assert single["clear"] is None and single["std"] is None
    assert "unknown" in gain_sentence("mlp", "100", "frozen", single)
    assert "beyond the seed spread" in gain_sentence("mlp", "100", "frozen", clear)
    assert "within the spread" in gain_sentence("mlp", "100", "frozen", noisy)


def test_sentences_are_computed_not_tilted():
    """A study where scratch wins must say so: the sentences follow the numbers."""
    cells = [
        Cell(
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
    summary = summarize(cells, StudySettings(budgets=(100,), families=("mlp",)))
    text = " ".join(sentences(summary))
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
        "--semi-steps",  # not the app's 3,000: a cell's length is not what is tested here
        "4",
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
    # The semi-supervised ways by default: conv, 20 labels (not mlp, not all labels).
    assert printed["status"] == "completed" and printed["cells_done"] == 12 + 2
    assert set(printed["table"]) == {"mlp", "conv"}
    for family in ("mlp", "conv"):
        assert list(printed["table"][family]) == ["20", "all"]
        for budget in ("20", "all"):
            row = printed["table"][family][budget]
            ways = WAYS if (family, budget) == ("conv", "20") else WAYS[:3]
            assert list(row) == list(ways)
            for way in ways:
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
    from engine.cli.commands import build_parser
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


# ------------------------------------------------------------------------ resuming


def _numbers(result) -> dict:
    """Each cell's results by (family, budget, seed, way), without its wall time."""
    cells = _by_cell(result)
    for values in cells.values():
        values.pop("seconds")
    return cells


@pytest.fixture
def counted_cells(monkeypatch, one_thread) -> list[tuple]:
    """Wrap train_cell and record (family, seed, n_labels, way) of every cell trained."""
    trained: list[tuple] = []
    real = study_run.train_cell

    def counting(data_, arch, cfg, labelled, encoder, freeze, *rest, **kwargs):
        way = "scratch" if encoder is None else ("frozen" if freeze else "finetune")
        trained.append((arch.arch, cfg.seed, len(labelled), way))
        return real(data_, arch, cfg, labelled, encoder, freeze, *rest, **kwargs)

    monkeypatch.setattr(study_run, "train_cell", counting)
    return trained


@pytest.fixture
def counted_pretrainings(monkeypatch) -> list[str]:
    import engine.learning.training

    families: list[str] = []
    real = engine.learning.training.pretrain

    def counting(data_, arch, *args, **kwargs):
        families.append(arch.arch)
        return real(data_, arch, *args, **kwargs)

    monkeypatch.setattr(engine.learning.training, "pretrain", counting)
    return families


def _stop_after(k: int):
    """(on_event, should_stop) that stop a study once k cells have finished."""
    done: list[CellDone] = []
    return (lambda e: done.append(e) if isinstance(e, CellDone) else None), lambda: len(done) >= k


def test_a_resumed_study_trains_only_the_missing_cells_and_equals_an_uninterrupted_one(
    data, tiny_run, tmp_path, counted_cells, counted_pretrainings
):
    uninterrupted, _, _ = tiny_run
    first = run_study(data, TINY, *_stop_after(5), out_dir=tmp_path)
    assert first.status == "stopped" and len(first.cells) == 5
    assert (tmp_path / "encoder-mlp.pt").is_file()  # the pretraining is kept too
    counted_cells.clear()
    counted_pretrainings.clear()
    events: list = []
    resumed = run_study(data, TINY, events.append, out_dir=tmp_path)
    assert resumed.status == "completed"
    assert len(counted_cells) == resumed.planned_cells - 5  # only the missing cells
    assert counted_pretrainings == []  # the saved encoder, not a new pretraining
    assert _numbers(resumed) == _numbers(uninterrupted)
    assert _without_seconds(summarize(resumed.cells, TINY)) == _without_seconds(
        summarize(uninterrupted.cells, TINY)
    )
    assert _numbers(load_study(tmp_path)) == _numbers(uninterrupted)
    assert len([e for e in events if isinstance(e, CellDone)]) == resumed.planned_cells
    assert resumed.info["sessions"] == 2 and resumed.seconds >= first.seconds
    progress = [e for e in events if isinstance(e, Progress) and e.phase == "compare"]
    assert progress[-1].done == progress[-1].total and progress[-1].batch == 16


def test_a_crashed_study_keeps_every_cell_written_before_the_crash(
    data,
    tiny_run,
    tmp_path,
    monkeypatch,
    one_thread,
):
    """Each cell is on disk as soon as it finishes: a crash loses only the running one."""
    uninterrupted, _, _ = tiny_run
    real, calls = study_run.train_cell, []

    def crashing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 8:
            raise RuntimeError("power cut")
        return real(*args, **kwargs)

    monkeypatch.setattr(study_run, "train_cell", crashing)
    with pytest.raises(RuntimeError, match="power cut"):
        run_study(data, TINY, out_dir=tmp_path)
    assert len(load_study(tmp_path).cells) == 7
    monkeypatch.setattr(study_run, "train_cell", real)
    resumed = run_study(data, TINY, out_dir=tmp_path)
    assert _numbers(resumed) == _numbers(uninterrupted)


def test_a_lost_encoder_file_is_pretrained_again_identically(data, tiny_run, tmp_path, one_thread):
    uninterrupted, _, _ = tiny_run
    run_study(data, TINY, *_stop_after(4), out_dir=tmp_path)
    (tmp_path / "encoder-mlp.pt").unlink()
    resumed = run_study(data, TINY, out_dir=tmp_path)
    assert _numbers(resumed) == _numbers(uninterrupted)
    assert (tmp_path / "encoder-mlp.pt").is_file()


def test_an_encoder_that_pretrains_differently_is_refused(data, tmp_path, one_thread):
    run_study(data, TINY, *_stop_after(4), out_dir=tmp_path)
    saved = json.loads((tmp_path / STUDY_FILE).read_text())
    saved["pretraining"]["mlp"]["weights_sha256"] = "0" * 64  # as if trained elsewhere
    (tmp_path / STUDY_FILE).write_text(json.dumps(saved))
    with pytest.raises(StudyError, match="start the study over"):
        run_study(data, TINY, out_dir=tmp_path)


def test_a_finished_study_run_again_trains_nothing(data, tiny_run, counted_cells):
    result, _, out = tiny_run
    again = run_study(data, replace(TINY, workers=3), out_dir=out)  # workers may differ
    assert counted_cells == [] and again.status == "completed"
    assert _numbers(again) == _numbers(result)


def test_other_settings_in_a_study_folder_give_one_clear_message(data, tmp_path, counted_cells):
    from engine.study.resume import OtherStudyError

    run_study(data, TINY, *_stop_after(3), out_dir=tmp_path)
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(OtherStudyError, match=r"another study.*lr 0\.01 there, 0\.005 now"):
        run_study(data, replace(TINY, lr=0.005), out_dir=tmp_path)
    with pytest.raises(OtherStudyError, match="seeds 2 there, 3 now"):
        run_study(data, replace(TINY, seeds=3), out_dir=tmp_path)
    counted_cells.clear()
    fresh = run_study(data, replace(TINY, lr=0.005, seeds=1), out_dir=tmp_path, restart=True)
    assert fresh.status == "completed" and len(counted_cells) == fresh.planned_cells == 8
    assert load_study(tmp_path).settings.lr == 0.005
    assert (tmp_path / "notes.txt").read_text() == "mine"  # only the study's files go


def test_a_study_of_other_data_is_not_resumed(data, tmp_path, one_thread):
    from engine.study.resume import OtherStudyError

    run_study(data, TINY, *_stop_after(3), out_dir=tmp_path)
    other = small_mnist(n_train=300, n_test=100, seed=5)
    with pytest.raises(OtherStudyError, match="other data"):
        run_study(other, TINY, out_dir=tmp_path)


def test_a_damaged_study_file_is_refused_unless_restarting(data, tmp_path, one_thread):
    from engine.study.resume import OtherStudyError

    (tmp_path / STUDY_FILE).write_text("{half a fi")
    with pytest.raises(OtherStudyError, match="cannot be resumed"):
        run_study(data, TINY, out_dir=tmp_path)
    assert run_study(data, replace(TINY, seeds=1), out_dir=tmp_path, restart=True).cells


def test_cli_compare_resumes_and_refuses_other_settings(tmp_path, capsys, counted_cells):
    folder = write_small_mnist(tmp_path / "mnist", n_train=200, n_test=60)
    out = tmp_path / "out"
    assert main(_cli_args(folder, out, "--json", "--arch", "mlp")) == 0
    first = json.loads(capsys.readouterr().out)
    counted_cells.clear()
    assert main(_cli_args(folder, out, "--json", "--arch", "mlp")) == 0
    again = json.loads(capsys.readouterr().out)
    assert counted_cells == [] and again["table"] == first["table"]
    assert main(_cli_args(folder, out, "--arch", "mlp", "--seeds", "2")) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "another study" in err and "--restart" in err
    assert "seeds 1 there, 2 now" in err
    assert main(_cli_args(folder, out, "--arch", "mlp", "--seeds", "2", "--restart")) == 0
    assert load_study(out).settings.seeds == 2 and len(load_study(out).cells) == 12


def _without_seconds(summary: dict) -> dict:
    """A summary without its wall-clock figures, the one thing two equal runs differ in."""
    table = {
        family: {
            budget: {
                way: {k: v for k, v in info.items() if k not in ("seconds", "mean_seconds")}
                for way, info in row.items()
            }
            for budget, row in per_budget.items()
        }
        for family, per_budget in summary["table"].items()
    }
    return {**summary, "table": table}


def test_effect_sentences_say_what_each_ingredient_adds():
    """Computed from the paired differences: the unlabelled images on their own, and the
    pretrained encoder on top of them (issue 11's separate verdicts)."""
    from engine.study.stats import effect_sentence, paired_gain

    clear = paired_gain([0.99, 0.985, 0.988], [0.95, 0.94, 0.96])
    text = effect_sentence("conv", "100", "unlabelled_scratch", clear)
    assert text.startswith("CONV, 100 labels: the unlabelled images add +3.8 points")
    assert "from scratch + unlabelled images vs from scratch" in text
    assert text.endswith("helped, beyond the seed spread.")
    unclear = paired_gain([0.99, 0.97, 0.98], [0.98, 0.98, 0.98])
    text = effect_sentence("conv", "20", "pretraining_unlabelled", unclear)
    assert "the pretrained encoder adds" in text and "no clear difference" in text
