"""The settings forms every training tab and the Compare tab are built with: spin boxes
from the settings table (bounds, open ends, step, help) and rows laid out as listed."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QCheckBox, QDoubleSpinBox, QFormLayout, QLabel, QSpinBox

from engine.options import ARCH_OPTIONS, STEPS_OPTION, TRAIN_OPTIONS
from gui.widgets.forms import option_spin, settings_form, side_by_side, spin


def test_option_spin_takes_bounds_step_and_help_from_the_table(qtbot):
    dropout = option_spin(ARCH_OPTIONS["dropout"], 0.1, "someDropoutSpin")
    qtbot.addWidget(dropout)
    assert isinstance(dropout, QDoubleSpinBox)
    assert dropout.maximum() == pytest.approx(0.99)  # open at 1: one unit of the last decimal
    assert (dropout.minimum(), dropout.decimals()) == (0.0, 2)
    assert dropout.singleStep() == pytest.approx(0.05)
    assert dropout.toolTip() == "Dropout in the encoder (regularisation)"
    assert dropout.objectName() == "someDropoutSpin"

    lr = option_spin(TRAIN_OPTIONS["lr"], 3e-3, "someLrSpin", "what it means on this tab")
    qtbot.addWidget(lr)
    assert lr.minimum() == pytest.approx(1e-5)  # open at 0
    assert lr.toolTip() == "what it means on this tab"
    assert lr.value() == pytest.approx(3e-3)

    steps = option_spin(STEPS_OPTION, 300, "someStepsSpin")
    qtbot.addWidget(steps)
    assert isinstance(steps, QSpinBox)
    assert (steps.minimum(), steps.maximum(), steps.singleStep()) == (1, 1_000_000, 100)


def test_settings_form_lays_rows_out_in_order(qtbot):
    seeds = spin(1, 20, 3, "seeds", "seedsSpin")
    note = QLabel("a note across the form")
    first, second = QCheckBox("one"), QCheckBox("two")
    box = settings_form(
        "Things",
        [("Seeds", seeds), note, ("Both", side_by_side(first, second, stretch=True))],
    )
    qtbot.addWidget(box)
    form = box.layout()
    assert isinstance(form, QFormLayout)
    assert box.title() == "Things" and form.rowCount() == 3
    role = QFormLayout.ItemRole
    assert form.itemAt(0, role.LabelRole).widget().text() == "Seeds"
    assert form.itemAt(0, role.FieldRole).widget() is seeds
    assert form.itemAt(1, role.SpanningRole).widget() is note
    both = form.itemAt(2, role.FieldRole).layout()
    assert [both.itemAt(i).widget() for i in range(2)] == [first, second]
    assert both.count() == 3  # the stretch keeps the boxes to the left
    assert seeds.parentWidget() is box


def test_check_box_carries_its_name_tip_and_state(qtbot) -> None:
    from gui.widgets.forms import check_box

    box = check_box("Augment", "someCheck", "what it does", checked=True)
    qtbot.addWidget(box)
    assert (box.text(), box.objectName(), box.toolTip()) == ("Augment", "someCheck", "what it does")
    assert box.isChecked() and not check_box("x", "y", "z").isChecked()
