"""Input widgets for declared parameters (engine.attacks.params.Param): a spin box, check box or
text field with the declared range, unit, default and help. Used by the Attack panel (attack
parameters) and the Train tab (training options, engine.train_params)."""

from __future__ import annotations

import math

from PySide6.QtWidgets import QCheckBox, QDoubleSpinBox, QLineEdit, QSpinBox

from .common import mv_spin

_INT_MAX = 2 ** 31 - 1  # a QSpinBox holds a C int
FIELD_MIN_W = 66  # px: two parameters a row fit a 1280-pixel screen's Analysis dock
# what a count counts is its label's word ("Query budget", "Noise draws"): no suffix, which did not fit
# the field ("5000 querie"); the unit is in the tooltip's range
COUNT_UNITS = ("steps", "queries", "draws", "restarts", "iterations")


def param_widget(p):
    """An input for one declared attack parameter (engine.attacks.params.Param): its range, unit,
    default and help."""
    if p.kind is bool:
        w = QCheckBox(p.label)
        w.setChecked(bool(p.default))
    elif p.kind is int:
        w = QSpinBox()
        w.setRange(int(p.lo), int(min(p.hi, _INT_MAX)))
        w.setValue(int(p.default))
        if p.unit and p.unit not in COUNT_UNITS:
            w.setSuffix(f" {p.unit}")
    elif p.unit == "mV":
        lo = p.lo + 0.0001 if p.lo_open else p.lo
        w = mv_spin(p.default, lo, p.hi, p.step or max(p.default / 10, 0.0001))
    elif p.kind is float:
        w = QDoubleSpinBox()
        small = min((abs(v) for v in (p.lo, p.default) if v), default=1.0)
        w.setDecimals(max(4, min(10, math.ceil(-math.log10(small)) + 1)))  # the default and lower bound show
        w.setRange(p.lo, p.hi)
        w.setValue(p.default)
        if p.unit:
            w.setSuffix(f" {p.unit}")
    else:  # a kind the panel does not know: typed as text, checked by Param.check when the attack runs
        w = QLineEdit(str(p.default))
    if p.step and isinstance(w, (QSpinBox, QDoubleSpinBox)) and p.unit != "mV":
        w.setSingleStep(p.step)  # the declared increment
    rng = p.range_text()
    if p.kind is int and p.hi > _INT_MAX:  # the box stops at a C int: say so, not the declared maximum
        rng = f"between {int(p.lo)} and {_INT_MAX}" + (f" {p.unit}" if p.unit else "")
    w.setToolTip(f"{p.help[:1].upper()}{p.help[1:]}; {rng}")
    if not isinstance(w, QCheckBox):  # a wide range (a seed up to 2^31) must not widen the dock: the
        w.setMinimumWidth(FIELD_MIN_W)  # box scrolls its text instead
    return w


def value_of(w):
    if isinstance(w, QCheckBox):
        return w.isChecked()
    return w.text() if isinstance(w, QLineEdit) else w.value()


def set_value(w, v) -> None:
    if isinstance(w, QCheckBox):
        w.setChecked(bool(v))
    elif isinstance(w, QLineEdit):
        w.setText(str(v))
    else:
        w.setValue(v)
