"""The main window end to end on tiny data: panels, data loading, training, stop, close,
bad checkpoints, settings and evaluation. Offscreen; every wait has a timeout."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from helpers_gui import wait_idle, with_data
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLineEdit, QPushButton, QTabWidget

from gui.main_window import MainWindow

ROOT = Path(__file__).resolve().parents[1]


def quick_pretrain(win: MainWindow, epochs: int = 2) -> None:
    p = win.pretrain_panel
    p.epochs.setValue(epochs)
    p.batch.setValue(64)
    p.latent.setValue(16)


def run_app_script(code: str, *args: str, timeout: int) -> subprocess.CompletedProcess:
    """`python -c code args` offscreen from the repository, as a fresh app process."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env,
        cwd=ROOT,
        timeout=timeout,
        capture_output=True,
        text=True,
    )


def test_panels_construct_in_order_with_object_names(window) -> None:
    tabs = window.findChild(QTabWidget, "mainTabs")
    titles = [tabs.tabText(i) for i in range(tabs.count())]
    assert titles[:6] == ["Data", "Pretrain", "Label", "Fine-tune", "Evaluate", "Draw"]
    assert isinstance(window.findChild(QLineEdit, "dataDirEdit"), QLineEdit)
    for name in (
        "pretrainStartButton",
        "pretrainStopButton",
        "finetuneStartButton",
        "finetuneStopButton",
        "evaluateButton",
        "saveEncoderButton",
        "saveClassifierButton",
    ):
        assert isinstance(window.findChild(QPushButton, name), QPushButton), name
    assert window.findChild(object, "confusionMatrixView") is window.evaluate_panel.confusion
    # nothing loaded: nothing can start or be saved
    for name in (
        "pretrainStartButton",
        "finetuneStartButton",
        "evaluateButton",
        "saveEncoderButton",
        "saveClassifierButton",
        "pretrainStopButton",
    ):
        assert not window.findChild(QPushButton, name).isEnabled(), name


def test_every_setting_has_a_tooltip(window) -> None:
    for panel in (window.data_panel, window.pretrain_panel, window.finetune_panel):
        for key, widget in panel.settings_widgets().items():
            assert widget.toolTip(), key


def test_window_appears_without_importing_torch() -> None:
    code = textwrap.dedent("""
        import sys
        from PySide6.QtWidgets import QApplication
        app = QApplication([])
        from gui.main_window import MainWindow
        w = MainWindow(defer_draw=True)
        w.show()
        app.processEvents()
        sys.exit(3 if "torch" in sys.modules else 0)
    """)
    result = run_app_script(code, timeout=120)
    assert result.returncode == 0, result.stderr


def test_enter_in_data_dir_edit_loads_the_folder(window, qtbot, tiny_mnist_dir) -> None:
    edit = window.findChild(QLineEdit, "dataDirEdit")
    edit.setText(str(tiny_mnist_dir))
    status = window.statusBar()
    with qtbot.waitSignal(window.state.data_changed, timeout=60_000):
        qtbot.keyClick(edit, Qt.Key.Key_Return)
        assert status.currentMessage() == f"Loading MNIST from {tiny_mnist_dir}"
    wait_idle(qtbot, window)
    # the load's end replaces "Loading …", which must not stay up over loaded data
    assert status.currentMessage() == f"Loaded MNIST from {tiny_mnist_dir}: 800 images"
    assert len(window.state.data.mnist.test_images) == 200
    assert window.compare_panel.start_button.isEnabled()  # studies read it too
    assert window.data_panel.counts_table.item(2, 12).text() == "200"  # test total
    from gui.panels.data_panel import SAMPLE_COLS, SAMPLE_ROWS

    assert window.data_panel.samples.count == SAMPLE_ROWS * SAMPLE_COLS  # a full grid
    assert window.pretrain_panel.start_button.isEnabled()


def test_folder_without_mnist_is_refused_and_nothing_changes(
    window, qtbot, loaded, tmp_path, shown_errors
) -> None:
    with_data(window, loaded)
    (tmp_path / "notes.txt").write_text("no digits here")
    assert window.data_panel.load_folder(str(tmp_path))
    wait_idle(qtbot, window)
    assert len(shown_errors) == 1
    message, details = shown_errors[0]
    assert "does not hold the MNIST files" in message and details == ""
    assert window.state.data is loaded


def test_pretrain_from_the_gui_finishes_and_updates_plots(window, qtbot, loaded, tmp_path):
    with_data(window, loaded)
    quick_pretrain(window, epochs=2)
    plot = window.pretrain_panel.monitor.plot
    assert plot.hint_shown() == "Loss curves appear here when pretraining starts"
    with qtbot.waitSignal(window.state.runner.succeeded, timeout=90_000):
        qtbot.mouseClick(window.pretrain_panel.start_button, Qt.MouseButton.LeftButton)
        assert not window.pretrain_panel.start_button.isEnabled()  # no second start
        assert window.pretrain_panel.stop_button.isEnabled()
        assert plot.hint_shown() == "waiting for the first batches …"  # a new run's
    assert plot.hint_shown() == ""  # the curves took its place
    series = plot.series()
    assert series["epochs"] == [1, 2] and len(series["val"]) == 2
    assert len(series["running"]) >= 2
    assert len(plot.artists.train.get_xdata()) == 2  # the Line2D itself got the data
    assert window.pretrain_panel.recon.count == 16
    assert window.state.autoencoder is not None
    assert window.pretrain_panel.save_encoder_button.isEnabled()
    assert window.pretrain_panel.start_button.isEnabled()
    path = window.pretrain_panel.save("encoder", str(tmp_path / "enc.pt"))
    assert path and Path(path).is_file() and window.state.autoencoder_sha


def test_stop_ends_training_within_a_second(window, qtbot, loaded) -> None:
    with_data(window, loaded)
    panel = window.pretrain_panel
    panel.epochs.setValue(500)
    panel.batch.setValue(8)
    panel.patience.setValue(100)
    got_progress = []

    def first_progress(event) -> bool:
        from engine.events import Progress

        return isinstance(event, Progress)

    with qtbot.waitSignal(
        window.state.runner.event, timeout=60_000, check_params_cb=first_progress
    ):
        assert panel.start()
    with qtbot.waitSignal(window.state.runner.succeeded, timeout=5_000):
        clicked = time.perf_counter()
        qtbot.mouseClick(panel.stop_button, Qt.MouseButton.LeftButton)
    elapsed = time.perf_counter() - clicked
    assert elapsed < 1.0, f"stop took {elapsed:.2f} s"
    assert panel.start_button.isEnabled() and not panel.stop_button.isEnabled()
    assert "stopped" in panel.monitor.progress.format()
    del got_progress


def test_closing_mid_training_leaves_no_thread(qtbot, loaded, shown_errors, answer_quit) -> None:
    from gui.state.worker import running_threads

    for _ in range(3):
        win = MainWindow()
        qtbot.addWidget(win)
        with_data(win, loaded)
        win.pretrain_panel.epochs.setValue(500)
        win.pretrain_panel.batch.setValue(8)
        with qtbot.waitSignal(win.state.runner.event, timeout=60_000):
            assert win.pretrain_panel.start()
        assert win.close()
        assert running_threads() == []
        assert not win.state.runner.is_busy()


def test_declining_to_close_keeps_training(window, qtbot, loaded, answer_quit) -> None:
    with_data(window, loaded)
    window.pretrain_panel.epochs.setValue(500)
    window.pretrain_panel.batch.setValue(8)
    window.show()
    with qtbot.waitSignal(window.state.runner.event, timeout=60_000):
        window.pretrain_panel.start()
    answer_quit(False)
    assert not window.close()
    assert window.state.runner.is_busy()
    window.state.runner.shutdown()


CLOSE_LOOP = textwrap.dedent("""
    import sys
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox
    app = QApplication([])
    QMessageBox.question = lambda *a, **k: QMessageBox.StandardButton.Yes  # "stop and quit"
    from engine.data.mnist import read_folder
    from gui.panels.data_panel import summarise
    from gui.main_window import MainWindow
    from gui.state.worker import running_threads
    loaded = summarise(read_folder(sys.argv[1]))
    for i in range(20):
        w = MainWindow()
        w.state.set_data(loaded)
        w.pretrain_panel.epochs.setValue(500)
        w.pretrain_panel.batch.setValue(8)
        w.show()
        loop = QEventLoop()
        w.state.runner.event.connect(lambda _e: loop.quit())
        QTimer.singleShot(20000, loop.quit)
        assert w.pretrain_panel.start()
        loop.exec()
        assert w.close(), "window refused to close"
        assert not running_threads(), "thread still running"
        w.deleteLater()
        app.processEvents()
    print("closed 20 times")
""")


def test_close_while_training_twenty_times_in_a_row(tiny_mnist_dir) -> None:
    result = run_app_script(CLOSE_LOOP, str(tiny_mnist_dir), timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "closed 20 times" in result.stdout
    assert "QThread" not in output and "Destroyed" not in output, output


class _Evil:
    """A pickle that would create a file if anything unpickled it with code execution."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "pwned"))


def _trained_classifier_checkpoint(tmp_path: Path) -> Path:
    from engine.learning.models import ArchConfig, Classifier
    from engine.store.checkpoint import save_checkpoint

    arch = ArchConfig(latent=8, width=4, head_hidden=8)
    path = tmp_path / "good.pt"
    save_checkpoint(path, Classifier(arch), arch)
    return path


def test_bad_checkpoints_show_an_error_and_keep_the_previous_model(
    window, qtbot, tmp_path, shown_errors
) -> None:
    good = _trained_classifier_checkpoint(tmp_path)
    assert window.open_checkpoint("classifier", str(good))
    wait_idle(qtbot, window)
    previous = window.state.classifier
    assert previous is not None and previous.kind == "classifier" and not shown_errors

    random_file = tmp_path / "random.pt"
    random_file.write_bytes(np.random.default_rng(0).bytes(4096))
    marker = tmp_path / "marker.txt"
    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps(_Evil(marker), protocol=2))
    import torch

    evil_zip = tmp_path / "evil_zip.pt"
    torch.save({"format": "x", "payload": _Evil(marker)}, evil_zip)
    encoder_file = tmp_path / "enc_as_classifier.pt"
    from engine.learning.models import ArchConfig, Autoencoder
    from engine.store.checkpoint import save_checkpoint

    save_checkpoint(
        encoder_file, Autoencoder(ArchConfig(latent=8)), ArchConfig(latent=8), kind="encoder"
    )

    for bad in (random_file, evil, evil_zip, encoder_file, tmp_path / "missing.pt"):
        shown_errors.clear()
        assert window.open_checkpoint("classifier", str(bad))
        wait_idle(qtbot, window)
        assert len(shown_errors) == 1, bad
        message, details = shown_errors[0]
        assert bad.name in message and details == "", message
        assert window.state.classifier is previous
        assert not marker.exists()
    assert window.evaluate_panel.model_label.text().startswith("Classifier: good.pt")


def test_settings_persist_across_windows(qtbot, tiny_mnist_dir, loaded, shown_errors) -> None:
    first = MainWindow()
    qtbot.addWidget(first)
    first.pretrain_panel.epochs.setValue(7)
    first.pretrain_panel.arch_combo.setCurrentText("mlp")
    first.pretrain_panel.lr.setValue(0.0025)
    first.finetune_panel.freeze_check.setChecked(True)
    first.data_panel.budget_combo.setEditText("300")
    first.tabs.setCurrentIndex(2)
    first.resize(760, 560)
    with_data(first, loaded)
    first.close()

    second = MainWindow()
    qtbot.addWidget(second)
    assert second.pretrain_panel.epochs.value() == 7
    assert second.pretrain_panel.arch_combo.currentText() == "mlp"
    assert second.pretrain_panel.lr.value() == pytest.approx(0.0025)
    assert second.finetune_panel.freeze_check.isChecked()
    assert second.data_panel.budget_combo.currentText() == "300"
    assert second.finetune_panel.labels_combo.currentText() == "300"
    assert second.tabs.currentIndex() == 2
    assert second.size().width() == 760
    assert second.data_panel.dir_edit.text() == str(tiny_mnist_dir)
    second.close()


def test_finetune_then_evaluate_shows_metrics_and_confusion(window, qtbot, loaded) -> None:
    with_data(window, loaded)
    panel = window.finetune_panel
    assert not window.evaluate_panel.evaluate_button.isEnabled()
    panel.source_combo.setCurrentIndex(2)  # from scratch
    panel.epochs.setValue(3)
    panel.batch.setValue(32)
    panel.lr.setValue(0.003)
    panel.labels_combo.setEditText("all")
    assert panel.start_button.isEnabled()
    with qtbot.waitSignal(window.state.runner.succeeded, timeout=90_000):
        qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    assert window.state.classifier is not None
    series = panel.monitor.plot.series()
    assert len(series["accuracy"]) == len(series["epochs"]) >= 1
    panel.monitor.plot.sync()
    assert len(panel.monitor.plot.acc_line.get_xdata()) == len(series["epochs"])
    button = window.evaluate_panel.evaluate_button
    assert button.isEnabled() and panel.save_button.isEnabled()
    view = window.findChild(object, "confusionMatrixView")
    assert view.hint_shown() == "Evaluate a classifier to fill this in"
    with qtbot.waitSignal(window.state.runner.succeeded, timeout=60_000):
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    ev = window.evaluate_panel.evaluation
    assert ev.n == 200 and int(ev.confusion.sum()) == 200
    assert window.evaluate_panel.metric_labels["accuracy"].text() == f"{ev.accuracy:.2%}"
    assert window.evaluate_panel.report_table.rowCount() >= 3
    assert view.matrix.sum() == 200 and view.hint_shown() == ""
    shown = window.evaluate_panel.show_cell(1, 1)
    assert len(shown) == ev.confusion[1, 1]
    view.click_cell(0, 0)
    assert window.evaluate_panel.gallery.count == min(int(ev.confusion[0, 0]), 48)
    window.evaluate_panel.gallery.sync()
    assert "true even, predicted even" in window.evaluate_panel.gallery.title.get_text()
    window.evaluate_panel.show_combo.setCurrentText("My drawings")  # not evaluated: the hint
    assert view.hint_shown() == "Evaluate on my drawings to fill this in"
    window.evaluate_panel.show_combo.setCurrentText("Test set")
    assert view.hint_shown() == ""


def test_finetune_from_the_pretrained_encoder_records_lineage(window, qtbot, loaded, tmp_path):
    from engine.store.checkpoint import load_checkpoint

    with_data(window, loaded)
    quick_pretrain(window, epochs=1)
    with qtbot.waitSignal(window.state.runner.succeeded, timeout=90_000):
        window.pretrain_panel.start()
    window.pretrain_panel.save("encoder", str(tmp_path / "enc.pt"))
    panel = window.finetune_panel
    panel.source_combo.setCurrentIndex(0)
    panel.freeze_check.setChecked(True)
    panel.labels_combo.setEditText("100")
    panel.steps_spin.setValue(20)
    with qtbot.waitSignal(window.state.runner.succeeded, timeout=90_000):
        assert panel.start()
    saved = panel.save(str(tmp_path / "clf.pt"))
    ckpt = load_checkpoint(saved)
    assert ckpt.encoder_sha256 == window.state.autoencoder_sha
    assert ckpt.extra["labels"] == 100 and ckpt.extra["mode"] == "semi-supervised"


def test_finetune_tab_learns_from_the_unlabelled_images_below_all_labels(
    window, qtbot, loaded, tmp_path
) -> None:
    """On by default below all labels, with a live curve of the confident share (one point
    a round) and a fixed schedule (no epochs/patience); off, the run is supervised; with
    all labels there is nothing unlabelled, so the switch is off limits."""
    with_data(window, loaded)
    panel = window.finetune_panel
    panel.source_combo.setCurrentIndex(2)  # from scratch
    window.pretrain_panel.arch_combo.setCurrentText("mlp")  # 3x quicker here than conv
    window.pretrain_panel.latent.setValue(16)
    panel.labels_combo.setEditText("all")
    assert not panel.unlabelled_check.isEnabled() and panel.epochs.isEnabled()
    panel.labels_combo.setEditText("100")
    assert panel.unlabelled_check.isEnabled() and panel.unlabelled_check.isChecked()
    assert not panel.epochs.isEnabled() and not panel.patience.isEnabled()
    assert "fixed schedule" in panel.epochs.toolTip()
    assert not panel.batch.isEnabled() and "32 labelled" in panel.batch.toolTip()
    panel.steps_spin.setValue(101)  # 2 rounds: 100 steps and 1
    panel.augment_check.setChecked(False)  # not what is tested here, and a third of a step
    assert panel._planned_epochs() == 2
    with qtbot.waitSignal(window.state.runner.succeeded, timeout=90_000):
        assert panel.start()
    extra = window.state.classifier.extra
    assert extra["mode"] == "semi-supervised" and extra["unlabelled"] > 0
    series = panel.monitor.plot.series()
    assert len(series["confident"]) == 2 and all(0 <= c <= 1 for c in series["confident"])
    assert series["confident"][-1] == extra["confident"]  # the curve is the run's own share
    assert series["guided"] == [1]  # 0.3 x 101 steps: the first round learnt the graph's
    assert panel.monitor.plot.accuracy.guided is not None  # guesses, and is shaded
    assert "unlabelled images" in panel.model_label.text()
    assert "deskewed input" in panel.model_label.text()  # below all labels

    panel.unlabelled_check.setChecked(False)
    assert panel.batch.isEnabled()  # supervised: the batch size is the user's again
    panel.batch.setValue(32)
    with qtbot.waitSignal(window.state.runner.succeeded, timeout=90_000):
        assert panel.start()
    extra = window.state.classifier.extra
    assert extra["mode"] == "supervised" and extra["unlabelled"] == 0
    assert panel.monitor.plot.series()["confident"] == []
    assert (
        panel.monitor.plot.series()["guided"] == [] and panel.monitor.plot.accuracy.guided is None
    )


def _payload(path: Path) -> dict:
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)


def _same_checkpoint(app_file: Path, cli_file: Path) -> None:
    """Same metadata keys (and settings) and bit-identical weights."""
    import torch

    app, cli = _payload(app_file), _payload(cli_file)
    assert app.keys() == cli.keys()
    assert app["metrics"].keys() == cli["metrics"].keys()
    assert app["extra"].keys() == cli["extra"].keys()
    assert app["train_config"] == cli["train_config"] and app["arch"] == cli["arch"]
    assert app["seed"] == cli["seed"] and app["kind"] == cli["kind"]
    assert app["state_dict"].keys() == cli["state_dict"].keys()
    for name, tensor in app["state_dict"].items():
        assert torch.equal(tensor, cli["state_dict"][name]), name


def test_app_and_cli_make_the_same_checkpoints(window, qtbot, loaded, tiny_mnist_dir, tmp_path):
    """The app and `evenodd` train and save through the same workflow: with the same
    settings, the same split, labels, metadata and weights."""
    from engine.cli.commands import main

    with_data(window, loaded)
    quick_pretrain(window, epochs=1)
    with qtbot.waitSignal(window.state.runner.succeeded, timeout=90_000):
        window.pretrain_panel.start()
    window.pretrain_panel.save("autoencoder", str(tmp_path / "app_autoencoder.pt"))
    window.pretrain_panel.save("encoder", str(tmp_path / "app_encoder.pt"))  # the lineage
    panel = window.finetune_panel
    panel.source_combo.setCurrentIndex(0)
    panel.epochs.setValue(1)
    panel.labels_combo.setEditText("100")
    panel.steps_spin.setValue(30)
    with qtbot.waitSignal(window.state.runner.succeeded, timeout=90_000):
        assert panel.start()
    panel.save(str(tmp_path / "app_classifier.pt"))

    data = ["--data-dir", str(tiny_mnist_dir), "--quiet"]
    pre = ["pretrain", *data, "--latent", "16", "--epochs", "1", "--batch-size", "64"]
    assert main([*pre, "--out", str(tmp_path / "cli")]) == 0
    fine = ["finetune", *data, "--encoder", str(tmp_path / "app_encoder.pt"), "--epochs", "1"]
    fine += ["--labels", "100", "--steps", "30"]  # semi-supervised, as in the app
    assert main([*fine, "--out", str(tmp_path / "cli")]) == 0
    for kind in ("encoder", "autoencoder", "classifier"):
        _same_checkpoint(tmp_path / f"app_{kind}.pt", tmp_path / "cli" / f"{kind}.pt")
    clf = _payload(tmp_path / "app_classifier.pt")
    assert clf["encoder_sha256"] == _payload(tmp_path / "cli" / "classifier.pt")["encoder_sha256"]
    assert set(clf["metrics"]) == {"val_accuracy", "best_epoch", "status"}
    assert set(clf["extra"]) == {
        *("labels", "freeze_encoder", "encoder_source"),
        *("mode", "unlabelled", "semisup", "confident"),
        *("pick", "label_kind", "labelled_indices"),
    }
    assert clf["extra"]["mode"] == "semi-supervised"
    assert clf["extra"]["pick"] == "suggested" and len(clf["extra"]["labelled_indices"]) == 100


def test_a_bad_label_budget_is_explained(window, qtbot, loaded, shown_errors) -> None:
    with_data(window, loaded)
    panel = window.finetune_panel
    panel.source_combo.setCurrentIndex(2)
    panel.labels_combo.setEditText("lots")
    assert panel.start()
    wait_idle(qtbot, window)
    assert shown_errors and "label budget" in shown_errors[0][0] and shown_errors[0][1] == ""
    assert window.state.classifier is None


def test_the_label_budget_is_one_value_shown_on_two_tabs(window) -> None:
    data_box, finetune_box = window.data_panel.budget_combo, window.finetune_panel.labels_combo
    finetune_box.setEditText("1000")
    assert window.state.budget_text == "1000"
    assert data_box.currentText() == "1000"
    assert "1,000 labels" in window.data_panel.budget_info.text()
    data_box.setEditText("all")
    assert finetune_box.currentText() == "all"
    assert "every training label" in window.data_panel.budget_info.text()


def test_training_tabs_start_from_the_engine_defaults(window) -> None:
    """With fresh settings the app trains exactly as `evenodd run` does."""
    from engine.config import DEFAULT_ARCH, DEFAULT_FINETUNE, DEFAULT_PRETRAIN

    for panel, defaults in (
        (window.pretrain_panel, DEFAULT_PRETRAIN),
        (window.finetune_panel, DEFAULT_FINETUNE),
    ):
        values = panel._train_values()
        assert values["epochs"] == defaults.epochs and values["batch_size"] == defaults.batch_size
        assert values["lr"] == pytest.approx(defaults.lr)
        assert values["patience"] == defaults.patience and values["seed"] == defaults.seed
    assert window.finetune_panel.augment_check.isChecked() == DEFAULT_FINETUNE.augment
    arch = window.pretrain_panel.arch_values()
    assert (arch["arch"], arch["latent"]) == (DEFAULT_ARCH.arch, DEFAULT_ARCH.latent)
    assert arch["dropout"] == pytest.approx(DEFAULT_ARCH.dropout)


APP_EXIT_WHILE_TSNE = textwrap.dedent("""
    import gc, multiprocessing, sys
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication
    import gui.app
    from gui.main_window import MainWindow

    app = QApplication(["evenodd-studio"])
    seen = {}

    def drive():
        windows = [w for w in app.topLevelWidgets() if isinstance(w, MainWindow)]
        if not windows:
            return
        window = windows[0]
        if not gc.isenabled():
            seen["gc_off"] = True  # start-up: the collector is off during the imports
        if "gc_off" not in seen or not gc.isenabled():
            return  # start-up has not ended: the warm-up turns the collector back on
        seen.setdefault("frozen", gc.get_freeze_count())
        seen.setdefault("gc_on", True)
        if window.state.data is None:
            if "loading" not in seen:
                seen["loading"] = window.data_panel.load_folder(sys.argv[1])
            return
        latent = window.pretrain_panel.latent_map
        if "mapping" not in seen:
            from engine.config import ArchConfig
            from engine.learning.models import build_encoder

            seen["mapping"] = latent.map_encoder(build_encoder(ArchConfig(latent=8)), "x")
        child = latent.projector.child()
        if child is not None:
            seen["child"] = child
            window.close()

    timer = QTimer()
    timer.timeout.connect(drive)
    timer.start(20)
    QTimer.singleShot(120_000, app.quit)  # never hang the test
    code = gui.app.main([])
    child = seen.get("child")
    print("start-up gc off:", seen.get("gc_off"), "frozen:", seen.get("frozen"),
          "on:", seen.get("gc_on"))
    print("child alive:", None if child is None else child.is_alive(),
          "children:", len(multiprocessing.active_children()), "exit code:", code)
""")


def test_closing_the_app_while_its_t_sne_runs_exits_normally(tiny_mnist_dir) -> None:
    """The t-SNE child is killed at close and the interpreter ends normally (no os._exit,
    no "terminate called"); start-up ran with the garbage collector off, then froze."""
    started = time.monotonic()
    result = run_app_script(APP_EXIT_WHILE_TSNE, str(tiny_mnist_dir), timeout=180)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "child alive: False children: 0 exit code: 0" in result.stdout, output
    assert "start-up gc off: True" in result.stdout and "on: True" in result.stdout, output
    frozen = int(result.stdout.split("frozen: ")[1].split()[0])
    assert frozen > 100_000, output  # torch, matplotlib, Qt: left out of collections
    assert "terminate called" not in output and "Traceback" not in output, output
    assert time.monotonic() - started < 170


def test_a_fresh_fine_tune_tab_leaves_the_steps_to_the_schedule(window) -> None:
    """Nothing remembered: Steps reads "automatic" (0: the schedule's own count), never a
    number the table's range clamped it to (it said 1, and 100 labels trained 1 step)."""
    box = window.finetune_panel.steps_spin
    assert box.value() == 0 and box.text() == "automatic"
