"""Shared look: class names, colours, small widget helpers."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDoubleSpinBox, QFrame, QLabel

from engine.datasets import CLASS_DESCRIPTIONS

CLASS_NAMES = {c: long for c, (long, _short) in CLASS_DESCRIPTIONS.items()}  # read, not restated
SHORT_NAMES = {c: short for c, (_long, short) in CLASS_DESCRIPTIONS.items()}

# the strip's colours (gui/strip/view.py): ink, crimson, blue band
ORIGINAL_COLOR = "#333333"
ADVERSARIAL_COLOR = "#d61238"
BAND_COLOR = "#1e6ec8"
OK_COLOR = "#1b7f3b"
BAD_COLOR = "#b3261e"


def class_text(c: str | None, long: bool = False) -> str:
    if c is None:
        return "—"
    return f"{c} · {(CLASS_NAMES if long else SHORT_NAMES).get(c, c)}"


def mv_spin(value: float, lo: float, hi: float, step: float, tip: str = "") -> QDoubleSpinBox:
    s = QDoubleSpinBox()
    s.setDecimals(4)
    s.setRange(lo, hi)
    s.setSingleStep(step)
    s.setSuffix(" mV")
    s.setValue(value)
    s.setAlignment(Qt.AlignmentFlag.AlignRight)
    s.setKeyboardTracking(False)
    if tip:
        s.setToolTip(tip)
    return s


def heading(text: str) -> QLabel:
    lab = QLabel(text)
    f = lab.font()
    f.setBold(True)
    lab.setFont(f)
    return lab


def hline() -> QFrame:
    f = QFrame()
    f.setFrameShape(QFrame.Shape.HLine)
    f.setFrameShadow(QFrame.Shadow.Sunken)
    return f


def muted(text: str = "") -> QLabel:
    lab = QLabel(text)
    lab.setWordWrap(True)
    lab.setStyleSheet("color: #666;")
    return lab
