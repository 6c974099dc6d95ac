"""One settings table: the CLI, the app's spin boxes, the remembered keys and the configs'
checks all take their bounds and defaults from engine.options."""

from __future__ import annotations

import argparse
import math

import pytest

from engine.cli.commands import build_parser
from engine.config import DEFAULT_ARCH, DEFAULT_FINETUNE, ArchConfig, TrainConfig
from engine.errors import ArchError, ConfigError
from engine.options import ARCH_OPTIONS, TRAIN_OPTIONS, Option

CLI_TRAIN = ("epochs", "batch_size", "lr", "patience", "min_delta", "seed")
CLI_ARCH = ("latent", "dropout", "width")


def _edges(option: Option) -> tuple[list[float], list[float]]:
    """Values just inside and just outside the option's interval."""
    unit = 1 if option.kind is int else 1e-6
    inside, outside = [], []
    if math.isfinite(option.low):
        edge = (
            [option.low + unit, option.low] if option.low_open else [option.low, option.low - unit]
        )
        inside.append(edge[0])
        outside.append(edge[1])
    if math.isfinite(option.high):
        edge = (
            [option.high - unit, option.high]
            if option.high_open
            else [option.high, option.high + unit]
        )
        inside.append(edge[0])
        outside.append(edge[1])
    return inside, outside


def _parse(args: list[str]) -> argparse.Namespace:
    return build_parser().parse_args(args)


@pytest.mark.parametrize("name", CLI_TRAIN + CLI_ARCH)
def test_cli_and_config_take_the_same_interval(name, capsys):
    option = TRAIN_OPTIONS.get(name) or ARCH_OPTIONS[name]
    flag = f"--{name.replace('_', '-')}"
    inside, outside = _edges(option)
    assert outside, "every option the CLI takes is bounded somewhere"
    for value in inside:
        text = str(int(value)) if option.kind is int else repr(value)
        args = _parse(["finetune", "--scratch", "--out", "x", f"{flag}={text}"])
        assert getattr(args, name) == option.kind(text)
        _config_for(name, option.kind(text)).validate()
    for value in outside:
        text = str(int(value)) if option.kind is int else repr(value)
        with pytest.raises(SystemExit):
            _parse(["finetune", "--scratch", "--out", "x", f"{flag}={text}"])
        assert option.label in capsys.readouterr().err
        with pytest.raises((ConfigError, ArchError), match=option.label):
            _config_for(name, option.kind(text)).validate()


def _config_for(name: str, value: float):
    if name in TRAIN_OPTIONS:
        return TrainConfig(**{name: value})
    return ArchConfig(**{name: value})


def test_cli_defaults_are_the_configs():
    args = _parse(["finetune", "--scratch", "--out", "x"])
    for name in CLI_TRAIN[:-1]:
        assert getattr(args, name) == getattr(DEFAULT_FINETUNE, name)
    for name in CLI_ARCH:
        assert getattr(args, name) == getattr(DEFAULT_ARCH, name)


def test_learning_rate_is_bounded_the_same_everywhere():
    assert TRAIN_OPTIONS["lr"].problem(1.0) is None
    with pytest.raises(ConfigError, match="learning rate"):
        TrainConfig(lr=1.5).validate()
    with pytest.raises(SystemExit):
        _parse(["pretrain", "--out", "x", "--lr", "1.5"])
    with pytest.raises(SystemExit):
        _parse(["compare", "--out", "x", "--lr", "1.5"])


def test_app_spin_boxes_and_remembered_keys_come_from_the_table(qtbot):
    from gui.main_window import MainWindow

    window = MainWindow()
    qtbot.addWidget(window)
    try:
        for panel in (window.pretrain_panel, window.finetune_panel):
            widgets = panel.settings_widgets()
            for name, box in panel.train_widgets.items():
                option = TRAIN_OPTIONS[name]
                assert widgets[name] is box  # remembered under the table's name
                assert (box.minimum(), box.maximum()) == pytest.approx(option.widget_range())
                assert box.value() == pytest.approx(getattr(panel.defaults, name))
        for name in ("latent", "dropout"):
            box = window.pretrain_panel.settings_widgets()[name]
            low, high = ARCH_OPTIONS[name].widget_range()
            assert (box.minimum(), box.maximum()) == pytest.approx((low, high))
        assert window.pretrain_panel.lr.maximum() == TRAIN_OPTIONS["lr"].high == 1.0
    finally:
        window.state.runner.shutdown()


STUDY_FLAGS = {  # StudySettings field -> `evenodd compare` flag and Compare tab spin box
    "seeds": ("--seeds", "seeds_spin"),
    "min_steps": ("--steps", "steps_spin"),
    "max_steps": ("--max-steps", "max_steps_spin"),
    "val_every": ("--val-every", "val_every_spin"),
    "target": ("--target", "target_spin"),
    "pretrain_epochs": ("--pretrain-epochs", "pretrain_spin"),
    "semi_steps": ("--semi-steps", "semi_steps_spin"),
}


def test_the_study_s_numbers_are_bounded_alike_on_the_command_line_and_the_compare_tab(qtbot):
    from engine.options import STUDY_OPTIONS
    from engine.study.settings import StudySettings
    from gui.panels.compare_panel import ComparePanel
    from gui.state.signals import AppState

    state = AppState()
    panel = ComparePanel(state)
    qtbot.addWidget(panel)
    try:
        for name, (flag, attribute) in STUDY_FLAGS.items():
            option = STUDY_OPTIONS[name]
            box = getattr(panel, attribute)
            assert (box.minimum(), box.maximum()) == pytest.approx(option.widget_range()), name
            assert box.value() == pytest.approx(getattr(StudySettings(), name)), name
            too_big = option.kind(option.high * 2) if option.high < 1e9 else None
            for bad in (option.low - 1, too_big):
                if bad is None:
                    continue
                with pytest.raises(SystemExit):
                    _parse(["compare", "--out", "x", flag, str(bad)])
            assert option.problem(getattr(StudySettings(), name)) is None, name
    finally:
        state.runner.shutdown()
