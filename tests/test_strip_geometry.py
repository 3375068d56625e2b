"""Calibration and geometry of the strip (issue 14 §3): calibrated paper in every mode and
zoom unless free zoom (and the strip says which), rows fill the view, real size off
restores the fit, a new record opens at its start with the overview matching, calipers
do not cover the trace and read a heart rate only for a plausible R–R, a wild first
sample stays in its row and every trace sits on its row's baseline.

Runs offscreen with pytest-qt.
"""
from __future__ import annotations

import numpy as np
import pytest

import gui  # noqa: F401  (PySide6 refcount workaround first)
from PySide6 import QtCore

FS = 300.0


def _ecg(seconds=30.0, dc=0.0) -> np.ndarray:
    t = np.arange(int(seconds * FS)) / FS
    return (dc + 1.2 * np.exp(-((t % 0.8) - 0.3) ** 2 / 2e-4) - 0.2 * np.exp(-((t % 0.8) - 0.5) ** 2 / 2e-3)
            ).astype(np.float32)


@pytest.fixture
def view(qtbot):
    from gui_fixtures import shown_strip

    return shown_strip(qtbot, 1200, 900)


def _aspect(view) -> float:
    (x0, x1), (y0, y1) = view._vb.viewRange()
    return (view._vb.width() / (x1 - x0)) / (view._vb.height() / (y1 - y0))


def test_paper_is_calibrated_in_every_mode_and_zoom_unless_free_zoom(view, qtbot):
    from gui.strip.model import ASPECT

    x = _ecg(120)
    view.set_record(x, FS, "cal")
    view.set_adversarial(x + 0.01)
    seen = []
    view.calibrationChanged.connect(seen.append)
    for mode in ("rows", "continuous"):
        view.set_mode(mode)
        for step in (None, 1.5, 1.5, 1 / 3, 1 / 3, 1 / 3):
            if step is not None:
                view.zoom(step)
            assert _aspect(view) == pytest.approx(ASPECT, rel=0.01), (mode, step)
            assert view.is_calibrated()
        view.set_view(10, 40)
        assert _aspect(view) == pytest.approx(ASPECT, rel=0.01) and view.is_calibrated()
    view.resize(900, 500)  # a resize keeps it
    qtbot.wait(20)
    assert view.is_calibrated()
    assert not seen  # never lost
    # the user chooses free zoom: the strip says the paper is not calibrated
    view.set_free_zoom(True)
    view.set_view(0, 60)
    qtbot.wait(10)
    assert not view.is_calibrated() and seen[-1] is False
    assert "NOT CALIBRATED" in view.info.text()
    view.set_free_zoom(False)
    qtbot.wait(10)
    assert view.is_calibrated() and seen[-1] is True
    assert "NOT CALIBRATED" not in view.info.text()


def test_rows_fill_the_view_no_empty_paper_below(view):
    for seconds, adv in ((10, False), (10, True), (30, True), (20, False)):
        x = _ecg(seconds)
        view.set_record(x, FS, f"{seconds}s")
        if adv:
            view.set_adversarial(x + 0.01)
        m = view.model
        n = m.row_count()
        (_, _), (y0, y1) = view._vb.viewRange()
        bottom = m.row_top(n)  # the last row's lower edge
        gap = bottom - y0  # paper below the rows (mV)
        assert gap <= n * 1.0 + 0.05, (seconds, adv, gap)  # under 1 mV per row (1 mV steps)
        assert m.strip_mv >= m.min_strip_mv and view.is_calibrated()
        assert bottom >= y0 - 0.5 * m.pitch() or m.strip_mv == m.min_strip_mv


def test_continuous_row_fills_the_view_at_any_size(view, qtbot):
    x = _ecg(30)
    view.set_record(x, FS, "c")
    view.set_adversarial(x + 0.01)
    view.set_mode("continuous")
    for w, h in ((1200, 900), (700, 420), (1400, 500), (500, 900)):
        view.resize(w, h)
        qtbot.wait(10)
        m = view.model
        (x0, x1), (y0, y1) = view._vb.viewRange()
        lo, hi = m.continuous_y_range()
        assert view.is_calibrated(), (w, h)
        if m.strip_mv > m.min_strip_mv and m.strip_mv < 20:
            # the whole row (strip and lane) in view, less than 1 mV of paper to spare
            assert y0 <= lo + 1e-6 and y1 >= hi - 1e-6, (w, h)
            assert (y1 - y0) - (hi - lo) < 1.0 + 1e-6, (w, h)


def test_real_size_off_restores_the_fit(view):
    x = _ecg(60)
    view.set_record(x, FS, "real")
    fit_ranges = view._vb.viewRange()
    view.set_real_size(True)
    assert view.paper_scale()[0] == pytest.approx(25, rel=0.02)
    view.set_real_size(False)
    assert view.model.rows_fit
    (x0, x1), (y0, y1) = view._vb.viewRange()
    assert (x0, x1) == pytest.approx(tuple(fit_ranges[0]), abs=1e-6)
    assert (y0, y1) == pytest.approx(tuple(fit_ranges[1]), abs=1e-6)


def test_a_new_record_opens_at_its_start_with_the_overview_matching(view):
    view.set_record(_ecg(300), FS, "long")
    view.scroll_rows(12)
    assert view.view_range()[0] >= 100
    view.set_real_size(True)
    view.scroll_rows(5)
    view.set_record(_ecg(300, dc=0.1), FS, "next")
    t0, t1 = view.view_range()
    assert t0 == 0.0
    r0, r1 = view.overview.region.getRegion()
    assert (r0, r1) == pytest.approx((t0, t1), abs=1e-6)
    view.set_real_size(False)
    view.set_mode("continuous")
    view.set_view(100, 105)
    view.set_record(_ecg(300), FS, "third")
    t0, t1 = view.view_range()
    assert t0 == 0.0 and view.overview.region.getRegion() == pytest.approx((t0, t1), abs=1e-6)


def test_caliper_readout_off_the_trace_and_heart_rate_only_when_plausible(view):
    view.set_record(_ecg(30), FS, "cal")
    got = []
    view.caliperChanged.connect(got.append)
    view.set_calipers_visible(True)
    assert not view.calipers.label.isVisible()  # not drawn over the trace it measures
    assert view.caliper_info.isVisible() and "Δt" in view.caliper_info.text()
    b = view.model.baseline(0)
    view.calipers.place(1.0, 1.8, b, b + 1.0)
    assert got[-1]["hr_bpm"] == pytest.approx(75) and "75 bpm" in view.caliper_info.text()
    for dt in (0.05, 0.19, 3.2, 8.0):  # a QRS width, a short gap, a pause: no heart rate
        view.calipers.place(1.0, 1.0 + dt, b, b + 1.0)
        assert got[-1]["hr_bpm"] is None, dt
        assert "bpm" not in view.caliper_info.text()
    view.calipers.place(1.0, 1.0 + 3.0, b, b + 1.0)
    assert got[-1]["hr_bpm"] == pytest.approx(20)


@pytest.mark.parametrize("spike", [-80.0, 60.0])
def test_a_spike_at_t0_stays_in_its_row(view, spike):
    x = _ecg(60)
    x[0] = spike  # p10143-like: a huge first sample
    view.set_record(x, FS, "spike")
    m = view.model
    assert m.row_count() == 6
    _, y = view.renderer.trace["original"].item.getData()
    y = y[np.isfinite(y)]
    lim = m.trace_clip(False)
    bases = np.array([m.baseline(r) for r in range(m.row_count())])
    assert np.abs(y[:, None] - bases[None, :]).min(axis=1).max() <= lim + 1e-6
    assert np.isclose(np.abs(y[:4] - m.baseline(0)), lim).any()  # the spike, clipped in its row
    assert lim < 3 * m.pitch()  # never across every row
    assert m.offset_mv == pytest.approx(0.0, abs=0.1)  # the spike does not move the baseline


def test_every_trace_sits_on_its_rows_baseline(view):
    x = _ecg(30, dc=-2.34)  # a DC offset of -2.34 mV
    view.set_record(x, FS, "dc")
    view.set_adversarial(x + 0.005)
    m = view.model
    assert m.offset_mv == pytest.approx(-2.3)
    xs, y = view.renderer.trace["original"].item.getData()
    ok = np.isfinite(y)
    for sg in view._segments():
        row = ok & (np.abs(y - sg.base) < m.pitch() / 2)
        assert abs(np.median(y[row]) - sg.base) < 0.1
    # the readout still gives true values: the baseline is -2.3 mV
    t, v, where = view.view_to_record(2.0, m.baseline(0))
    assert where == "strip" and v == pytest.approx(-2.3)
    # the difference and the lane are not offset
    _, yl = view.renderer.trace["perturbation_mean"].item.getData()
    yl = yl[np.isfinite(yl)]
    assert np.abs(yl - m.lane_baseline(0)).min() < 0.6


def test_continuous_free_zoom_right_drag_stretches_only_when_free(view):
    view.set_record(_ecg(30), FS, "drag")
    view.set_mode("continuous")
    assert view.is_calibrated()
    view.zoom(2.0)
    assert view.is_calibrated()
    view.set_free_zoom(True)
    view._vb.scaleBy(x=1.0, y=0.5)
    QtCore.QCoreApplication.processEvents()
    assert not view.is_calibrated()


def test_continuous_ticks_sit_on_whole_steps_from_the_baseline():
    from gui.strip.model import StripModel

    m = StripModel()
    m.set_record(_ecg(10), FS)
    m.set_mode("continuous")
    m.fill_strip(17.2, 1)  # an odd strip height: the edges are at ±8.5 mV
    assert m.strip_mv == 17
    ticks = dict((round(y - m.baseline(0), 6), lab) for y, lab in m.left_ticks(-30, 5, 25.0))
    assert ticks[0.0] == "0" and ticks[2.0] == "2" and ticks[-8.0] == "-8"
    assert all(float(lab) == pytest.approx(v) for v, lab in ticks.items())
