"""Findings of a second audit of the main window (strip keys and ticks, record browser count),
each checked on the real widgets."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6 import QtCore

from gui_fixtures import shown_strip


def _ecg(seconds: float, fs: float = 300.0) -> np.ndarray:
    t = np.arange(int(seconds * fs)) / fs
    return (np.sin(2 * np.pi * 1.2 * t) ** 31 + 0.1 * np.sin(2 * np.pi * 0.3 * t)).astype(np.float32)


def test_zooming_back_in_by_keys_starts_rows_at_the_record_start(qtbot):
    """Rows mode, '-' three times (rows narrower than the view are centred, the left edge at -7.8 s)
    then '+' four times: the keys zoomed about that left edge, so 57 % of the strip stayed blank
    paper before 0 s, which Left/Right (rows in this mode) could not pan away."""
    from gui.strip.model import ROW_MARGIN_S

    v = shown_strip(qtbot, 520, 420)
    v.set_record(_ecg(600), 300.0, "long")
    v.set_mode("rows")
    v.setFocus()
    qtbot.keyClick(v, QtCore.Qt.Key.Key_Home)
    for _ in range(3):
        qtbot.keyClick(v, QtCore.Qt.Key.Key_Minus)
    assert v.model.rows_vp[0] < -ROW_MARGIN_S - 1  # zoomed out: the rows centred
    for _ in range(4):
        qtbot.keyClick(v, QtCore.Qt.Key.Key_Plus)
    (x0, x1), _ = v.plot_item.getViewBox().viewRange()
    assert x1 - x0 < v.seconds_per_row()  # zoomed in: a row is wider than the view
    assert x0 >= -ROW_MARGIN_S - 1e-6, (x0, x1)  # and the view starts at the record, not blank paper
    # the keys still keep the left edge when it is inside the record
    v.model.rows_vp = (2.0,) + tuple(v.model.rows_vp[1:])
    qtbot.keyClick(v, QtCore.Qt.Key.Key_Plus)
    assert abs(v.model.rows_vp[0] - 2.0) < 1e-6


def test_continuous_mv_labels_never_overlap_when_zoomed_out(qtbot):
    """Continuous mode over 78 s at 1280x720: the mV axis kept a 2-mV step at ~2 px per mV, eleven
    labels ('9.7 … -10.3') stacked in 40 px."""
    v = shown_strip(qtbot, 520, 420)
    v.set_record(_ecg(600), 300.0, "long")
    v.set_mode("continuous")
    for t1 in (10.0, 30.0, 78.0, 300.0):
        v.set_view(0.0, t1)
        qtbot.wait(10)
        vb = v.plot_item.getViewBox()
        (_x0, _x1), (lo, hi) = vb.viewRange()
        px_per_mv = vb.height() / (hi - lo)
        ys = sorted(y for y, lab in v.model.left_ticks(lo, hi, px_per_mv) if not lab.startswith(("δ", "+", "−")))
        assert ys, t1
        gaps = np.diff(ys) * px_per_mv
        assert len(gaps) == 0 or gaps.min() >= 14, (t1, px_per_mv, gaps.min())
    # close in, the steps are still 0.5 / 1 / 2 mV
    from gui.strip.ticks import left_ticks

    for px, step in ((40.0, 0.5), (20.0, 1.0), (10.0, 2.0), (2.0, 10.0)):
        ys = sorted(y for y, lab in left_ticks(v.model, -50, 50, px) if not lab.startswith(("δ", "+", "−")))
        assert len(ys) >= 2 and np.allclose(np.diff(ys), step), (px, np.diff(ys))


def test_the_record_count_includes_a_record_classified_on_opening(qtbot):
    """'4 records · model predictions 0/4' under a table whose opened record showed its prediction:
    the row was updated (update_row) without the count."""
    from gui.panels.record_browser import RecordBrowser

    b = RecordBrowser()
    qtbot.addWidget(b)
    b.set_dataset("/data", ["a", "b", "c", "d"], {}, None)
    assert "model predictions 0/4" in b.count.text()
    b.update_row("b", pred="N", probs=None, error=None, duration=8.0)
    assert "model predictions 1/4" in b.count.text()


def test_arrow_keys_pan_along_rows_wider_than_the_view_then_on_to_the_next_row(qtbot):
    """Rows mode zoomed in: Left/Right moved by whole rows, so the right part of every row could
    be reached only with the mouse. Now they pan along the row, and at its end go on to the next
    row's start (Left: the previous row's end); with whole rows in view they still move by rows."""
    from gui.strip.model import ROW_MARGIN_S

    v = shown_strip(qtbot, 520, 420)
    v.set_record(_ecg(60), 300.0, "long")
    v.set_mode("rows")
    v.setFocus()
    qtbot.keyClick(v, QtCore.Qt.Key.Key_Home)
    top0 = v.model.rows_vp[1]
    qtbot.keyClick(v, QtCore.Qt.Key.Key_Right)  # the whole row in view: one row down
    assert v.model.rows_vp[1] < top0
    qtbot.keyClick(v, QtCore.Qt.Key.Key_Home)
    for _ in range(4):
        qtbot.keyClick(v, QtCore.Qt.Key.Key_Plus)
    (x0, x1), _ = v.plot_item.getViewBox().viewRange()
    assert x1 - x0 < v.seconds_per_row() / 2
    top = v.model.rows_vp[1]
    qtbot.keyClick(v, QtCore.Qt.Key.Key_Right)
    (a0, a1), _ = v.plot_item.getViewBox().viewRange()
    assert a0 == pytest.approx(x0 + 0.1 * (x1 - x0), abs=1e-6) and v.model.rows_vp[1] == top  # same row
    for _ in range(200):  # to the row's end, then on to the next row's start
        qtbot.keyClick(v, QtCore.Qt.Key.Key_Right)
        if v.model.rows_vp[1] != top:
            break
    assert v.model.rows_vp[1] < top and v.model.rows_vp[0] == pytest.approx(-ROW_MARGIN_S, abs=1e-6)
    qtbot.keyClick(v, QtCore.Qt.Key.Key_Left)  # back: the previous row's end
    assert v.model.rows_vp[1] == pytest.approx(top) and v.model.rows_vp[0] > v.seconds_per_row() / 2
