"""The strip's data/layout model (gui.strip.model) and level of detail (gui.strip.lod):
pure numpy, no QApplication — rows layout, visible range maths, gain, viewport limits."""
from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from gui.strip import lod  # noqa: E402
from gui.strip.model import (ASPECT, MAX_ROWS_VISIBLE, MIN_WINDOW_S, ROW_MARGIN_S,  # noqa: E402
                             StripModel, calibration_pulse, format_time)

FS = 300.0


def _model(seconds=35.0, fs=FS, adv=False, band=False, members=0) -> StripModel:
    n = int(round(seconds * fs))
    t = np.arange(n) / fs
    x = np.sin(2 * np.pi * t).astype(np.float32)
    m = StripModel()
    m.set_record(x, fs, "sine")
    if adv:
        m.set_adversarial(x + 0.01 * np.cos(t).astype(np.float32))
    if band:
        m.set_band(x - 0.02, x + 0.03)
    if members:
        m.set_band_members(np.stack([x + 0.001 * k for k in range(members)]))
    return m


# ------------------------------------------------------------------ data
def test_record_and_overlays_are_validated_without_changing_anything():
    m = StripModel()
    assert m.row_count() == 0 and m.duration() == 0 and not m.has_record
    with pytest.raises(ValueError, match="set_record first"):
        m.set_adversarial(np.zeros(10))
    with pytest.raises(ValueError, match="at least 2 samples"):
        m.set_record(np.zeros(1), FS)
    for bad in (0, -300, float("nan"), None):
        with pytest.raises(ValueError, match="sampling rate"):
            m.set_record(np.zeros(100), bad)
    assert m.x is None
    m = _model(10)
    with pytest.raises(ValueError, match="adversarial has 5 samples, the record 3000"):
        m.set_adversarial(np.zeros(5))
    with pytest.raises(ValueError, match=r"band members must be \(K, 3000\)"):
        m.set_band_members(np.zeros((3, 2999)))
    assert not m.has_layer("adversarial") and not m.has_layer("members")
    with pytest.raises(ValueError, match="unknown layer"):
        m.has_layer("nope")


def test_overlays_define_perturbation_band_offsets_and_members():
    m = _model(10, adv=True, band=True)
    np.testing.assert_allclose(m.src["diff"].data, m.src["adv"].data - m.x)
    np.testing.assert_allclose(m.src["lo_d"].data, -0.02, atol=1e-6)
    np.testing.assert_allclose(m.src["hi_d"].data, 0.03, atol=1e-6)
    assert m.band_width_mv == pytest.approx(0.05, abs=1e-6)
    for key in ("original", "adversarial", "perturbation", "band", "difference"):
        assert m.has_layer(key), key
    m.set_adversarial(None)
    assert not m.has_layer("adversarial") and not m.has_layer("perturbation")
    assert m.lane_on()  # the band still has something to show in the lane
    m.set_band(None, None)
    assert not m.lane_on()
    # a new record clears every overlay
    m = _model(10, adv=True, band=True, members=3)
    m.set_record(np.zeros(50, np.float32), FS)
    assert set(m.src) == {"x"} and m.n_members_total == 0


def test_members_kept_evenly_first_and_last_always():
    m = _model(2)
    m.max_members_drawn = 10
    k = 95
    members = np.stack([m.x + k_ for k_ in range(k)]).astype(np.float32)
    m.set_band_members(members)
    kept = m.src["mem"].data[:, 0] - m.x[0]
    assert m.n_members_total == k and m.members_shown() == kept.size == 10
    assert kept[0] == 0 and kept[-1] == k - 1 and np.all(np.diff(kept) > 0)
    np.testing.assert_allclose(m.src["mem_d"].data[:, 5], kept, atol=1e-4)
    m.set_band_members(members[:4])
    assert m.members_shown() == 4 == m.n_members_total
    m.set_band_members(m.x)  # one member as a 1-D array
    assert m.members_shown() == 1


def test_memory_bytes_counts_raw_signals_and_pyramids():
    m = _model(60, adv=True)
    mem = m.memory_bytes()
    assert mem["record"] == m.x.nbytes
    assert mem["raw"] == 3 * m.x.nbytes  # record, adversarial, perturbation
    assert 0 < mem["pyramids"] < mem["raw"]


# ------------------------------------------------------------------ settings
def test_gain_mode_seconds_per_row_and_heights_are_validated():
    m = _model(10)
    for g in (10, 100):
        m.set_gain(g)
        assert m.gain == g
    for bad in (0, 50, 1000, None):
        with pytest.raises(ValueError, match="gain must be"):
            m.set_gain(bad)
    assert m.gain == 100
    assert m.set_mode("continuous") is True and m.set_mode("continuous") is False
    with pytest.raises(ValueError, match="mode must be"):
        m.set_mode("grid")
    for bad in (0.1, 4000, float("nan")):
        with pytest.raises(ValueError, match="seconds per row"):
            m.set_seconds_per_row(bad)
    m.set_row_heights(2.4, 0.2)
    assert (m.strip_mv, m.lane_mv) == (2.0, 1.0)
    with pytest.raises(ValueError, match="unknown layer"):
        m.set_layer_visible("bnad", True)
    assert m.set_layer_visible("difference", True) is True
    assert m.set_layer_visible("difference", True) is False


# ------------------------------------------------------------------ rows layout
@pytest.mark.parametrize("seconds, spr, rows", [(35, 10, 4), (30, 10, 3), (30.01, 10, 4), (1, 10, 1),
                                                (35, 5, 7), (3600, 60, 60)])
def test_row_count_is_ceil_of_duration(seconds, spr, rows):
    m = _model(seconds)
    m.set_seconds_per_row(spr)
    assert m.row_count() == rows
    m.set_mode("continuous")
    assert m.row_count() == 1 and m.row_len() == pytest.approx(m.duration())


def test_pitch_and_baselines_with_and_without_the_lane():
    m = _model(35, adv=True)
    assert m.lane_on()
    assert m.pitch() == 5.0
    assert [m.baseline(r) for r in range(3)] == [-1.5, -6.5, -11.5]
    assert [m.lane_baseline(r) for r in range(3)] == [-4.0, -9.0, -14.0]
    assert m.lane_top(1) == -8.0 and m.row_top(2) == -10.0
    m.set_layer_visible("perturbation", False)
    assert not m.lane_on() and m.pitch() == 3.0
    assert [m.baseline(r) for r in range(3)] == [-1.5, -4.5, -7.5]
    # every baseline on a large square (0.5 mV) for whole-mV heights
    m.set_row_heights(4, 3)
    m.set_layer_visible("perturbation", True)
    for r in range(5):
        assert (m.baseline(r) / 0.5).is_integer() and (m.lane_baseline(r) / 0.5).is_integer()


def test_rows_in_and_time_range():
    m = _model(35, adv=True)  # 4 rows, pitch 5 mV
    p = m.pitch()
    assert m.rows_in(-4 * p, 0) == [0, 1, 2, 3]
    assert m.rows_in(-100, 100) == [0, 1, 2, 3]  # clipped to the record
    assert m.rows_in(-2 * p + 0.5, -p - 0.5) == [1]
    assert m.rows_in(-p - 0.5, -p + 0.5) == [0, 1]
    assert m.rows_with_baseline_in(-p - 0.5, -p + 0.5) == []
    assert m.first_row_in(-2.5 * p, -1.5 * p) == 1
    # the whole record: rows 0..3, the last row shorter
    assert m.time_range(-ROW_MARGIN_S, 10.12, -4 * p, 0) == (0.0, 35.0)
    # rows 1..2 whose baselines are in view, half a row wide
    assert m.time_range(2.0, 7.0, -3 * p, -p) == (12.0, 27.0)
    m.set_mode("continuous")
    assert m.time_range(-1.0, 5.0, -10, 10) == (0.0, 5.0)
    assert m.time_range(30.0, 40.0, -10, 10) == (30.0, 35.0)
    assert StripModel().time_range(0, 1, -1, 0) == (0.0, 0.0)


@settings(max_examples=60, deadline=None)
@given(t=st.floats(0, 34.99), v=st.floats(-1.4, 1.4), mode=st.sampled_from(["rows", "continuous"]),
       gain=st.sampled_from([10, 100]), lane=st.booleans())
def test_view_to_record_inverts_the_layout(t, v, mode, gain, lane):
    """A record point (t, value) drawn at view (x, y) maps back to (t, value) on the strip
    at true scale; anywhere in the lane the readout is δ at that time (the data, not the
    cursor's height)."""
    m = _model(35, adv=True)
    m.set_mode(mode)
    m.set_gain(gain)
    r = int(t // m.spr) if mode == "rows" else 0
    x = t - r * m.spr if mode == "rows" else t
    t2, v2, where = m.view_to_record(x, m.baseline(r) + v)
    assert where == "strip" and t2 == pytest.approx(t, abs=1e-9) and v2 == pytest.approx(v, abs=1e-9)
    if lane:
        dv = v * 0.9 / (1.4 * gain)  # a perturbation within the 2 mV lane at this gain
        t3, v3, where = m.view_to_record(x, m.lane_baseline(r) + dv * gain)
        d = m.src["diff"].data
        i = min(int(t * m.fs), m.n - 2)
        f = t * m.fs - i
        assert where == "lane" and t3 == pytest.approx(t, abs=1e-9)
        assert v3 == pytest.approx(d[i] * (1 - f) + d[i + 1] * f, abs=1e-7)


@settings(max_examples=60, deadline=None)
@given(spr=st.sampled_from([1.0, 2.5, 10.0, 7.0]), seconds=st.floats(1.0, 40.0),
       mode=st.sampled_from(["rows", "continuous"]), width=st.integers(50, 3000))
def test_segments_of_the_whole_record_cover_every_sample(spr, seconds, mode, width):
    """With every row in view, the pieces cover the samples [0, n) in order, each row's
    piece joining the next one's first sample (no gaps), and their bins follow the width."""
    m = _model(seconds)
    m.set_mode(mode)
    m.set_seconds_per_row(spr)
    rlen = m.row_len()
    segs = m.segments(-ROW_MARGIN_S, rlen + 0.1, -m.row_count() * m.pitch() - 1, 1, width)
    assert [s.row for s in segs] == list(range(m.row_count()))
    assert segs[0].i0 == 0 and segs[-1].i1 == m.n
    for a, b in zip(segs, segs[1:]):
        assert b.i0 <= a.i1 <= b.i0 + 1  # the +1 joins the rows
    for s in segs:
        assert s.base == m.baseline(s.row) and s.lane_base == m.lane_baseline(s.row)
        assert s.row_t0 == (s.row * spr if mode == "rows" else 0.0)
        assert 1 <= s.n_bins <= width


def test_segments_clip_to_the_view_and_stop_at_the_play_cursor():
    m = _model(35)  # rows of 10 s, pitch 3
    segs = m.segments(2.0, 4.0, -2 * m.pitch(), -m.pitch(), 1000)
    assert len(segs) == 1
    s = segs[0]
    assert (s.row, s.i0, s.i1) == (1, int(12.0 * FS), int(14.0 * FS) + 1)
    assert s.n_bins == 1000
    segs = m.segments(-ROW_MARGIN_S, 10.12, -4 * m.pitch(), 0, 1000, play_t=12.5)
    assert [s.row for s in segs] == [0, 1]
    assert segs[-1].i1 == math.ceil(12.5 * FS) + 1
    assert m.segments(12.0, 14.0, -m.pitch(), 0, 1000) == []  # right of the row's end


# ------------------------------------------------------------------ viewport maths
def test_rows_viewport_fits_width_or_k_rows_and_keeps_squares_square():
    m = _model(60)  # 6 rows of 10 s
    w, h = 1200.0, 800.0
    (x_lo, top, sx), fit = m.rows_viewport(2, None, w, h)
    assert fit and x_lo == -ROW_MARGIN_S and top == m.row_top(2)
    xr, yr = m.rows_ranges(x_lo, top, sx, w, h)
    assert xr[1] - xr[0] == pytest.approx(10 + ROW_MARGIN_S + 0.12)
    assert (w / (xr[1] - xr[0])) / (h / (yr[1] - yr[0])) == pytest.approx(ASPECT)  # square paper
    # 5 rows fitted into 400 px: the height decides
    h = 400.0
    (x_lo, top, sx), fit = m.rows_viewport(0, 5, w, h)
    assert not fit
    _, yr = m.rows_ranges(x_lo, top, sx, w, h)
    assert yr[1] - yr[0] == pytest.approx(5 * m.pitch())
    # fitting more rows than are left after r0: only those
    (_, top, sx2), _ = m.rows_viewport(5, 4, w, h)
    assert top == m.row_top(5) and sx2 >= sx
    assert m.rows_for_view(12.0, 27.0) == (1, 2)
    assert m.rows_for_view(0.0, 1e9) == (0, 6)


def test_rows_clamp_zoom_limits_and_record_bounds():
    m = _model(60)
    w, h = 1000.0, 600.0
    x_lo, top, sx = m.rows_clamp(0.0, 0.0, 1e9, w, h)
    assert w / sx == pytest.approx(0.5)  # at least 0.5 s across
    x_lo, top, sx = m.rows_clamp(0.0, 0.0, 1e-9, w, h)
    h_mv = h / (sx / ASPECT)
    assert w / sx <= (m.spr + ROW_MARGIN_S + 0.12) * 4 + 1e-9
    assert h_mv <= MAX_ROWS_VISIBLE * m.pitch() + 1e-9
    _, top, _ = m.rows_clamp(0.0, -1e6, 100.0, w, h)
    assert top == -(m.row_count() - 1) * m.pitch()  # the last row's top, not beyond
    _, top, _ = m.rows_clamp(0.0, 1e6, 100.0, w, h)
    assert top == 0.5 * m.pitch()
    x_lo, _, sx = m.rows_clamp(1e6, 0.0, 100.0, w, h)
    assert x_lo == m.spr - 0.5 * w / sx


def test_continuous_zoom_and_minimum_window():
    m = _model(35)
    assert m.min_window(5.0, 5.05) == pytest.approx((5.025 - MIN_WINDOW_S / 2, 5.025 + MIN_WINDOW_S / 2))
    assert m.min_window(1.0, 3.0) == (1.0, 3.0)
    a, b = m.continuous_zoom(0.0, 10.0, 2.0, 5.0)
    assert (a, b) == pytest.approx((2.5, 7.5))
    a, b = m.continuous_zoom(0.0, 10.0, 2.0, 0.0)  # around the left edge: it stays put
    assert (a, b) == pytest.approx((0.0, 5.0))
    a, b = m.continuous_zoom(0.0, 10.0, 1e-6, 5.0)
    assert b - a == pytest.approx(35 + ROW_MARGIN_S + 1.5)
    a, b = m.continuous_zoom(0.0, 10.0, 1e6, 5.0)
    assert b - a == pytest.approx(MIN_WINDOW_S)


# ------------------------------------------------------------------ furniture
def test_calibration_pulses_lane_lines_cursor_and_ticks():
    m = _model(35, adv=True)
    x, y = calibration_pulse(-1.5)
    assert y.max() - y.min() == 1.0 and x[-1] - x[0] == pytest.approx(0.32) and x[-1] < 0
    px, py = m.pulse_lines([0, 2], -0.44)
    assert int(np.isnan(px).sum()) == 2
    assert np.nanmin(py) == m.baseline(2) and np.nanmax(py) == m.baseline(0) + 1.0
    assert m.pulse_lines([0, 2], 0.5)[0].size == 0  # the row starts are off screen
    zx, zy = m.lane_zero_lines([1])
    assert list(zx[:2]) == [0.0, 10.0] and list(zy[:2]) == [m.lane_baseline(1)] * 2
    cx, cy = m.cursor_line(12.5)
    assert list(cx) == [2.5, 2.5] and list(cy) == [m.row_top(1), m.row_top(2)]
    # rows mode: a row start at each baseline, ×gain at the lanes when rows are tall
    ticks = m.left_ticks(-4 * m.pitch(), 0, 40.0)
    assert (m.baseline(1), "10") in ticks and (m.lane_baseline(1), "δ ×100") in ticks
    # an amplitude scale in µV of δ (not of the magnified trace) half a mV of lane from zero
    assert (m.lane_baseline(1) + 0.5, "+5 µV") in ticks and (m.lane_baseline(1) - 0.5, "−5 µV") in ticks
    assert all("×100" not in lab for _, lab in m.left_ticks(-4 * m.pitch(), 0, 10.0))
    m.set_gain(10)
    ticks = m.left_ticks(-4 * m.pitch(), 0, 40.0)
    assert (m.lane_baseline(1), "δ ×10") in ticks and (m.lane_baseline(1) + 0.5, "+50 µV") in ticks
    m.set_gain(100)
    m.set_mode("continuous")
    ticks = m.left_ticks(-6, 1, 40.0)
    assert [lab for _, lab in ticks][:3] == ["-1.5", "-1", "-0.5"] and (m.lane_baseline(0), "δ ×100") in ticks
    assert format_time(75, 1.0, 100) == "1:15" and format_time(3.25, 0.01, 10) == "3.25"


def test_paper_sources_follow_the_lane():
    m = _model(5, adv=True, band=True, members=2)
    assert m.paper_sources("band", True) == [("strip", ("lo", "hi")), ("lane", ("lo_d", "hi_d"))]
    assert m.paper_sources("members", True) == [("lane", ("mem_d",))]
    assert m.paper_sources("members", False) == [("strip", ("mem",))]
    assert m.paper_sources("perturbation", False) == []
    assert m.paper_sources("difference", True) == [("strip", ("diff",))]


# ------------------------------------------------------------------ level of detail
def test_trace_points_are_raw_samples_when_zoomed_in_and_min_max_when_out():
    m = _model(35, adv=True)
    m.set_mode("continuous")
    src = m.src["diff"]
    segs = m.segments(10.0, 11.0, -6, 1, 1200)
    x, y, raw = lod.trace_points(src.data, src.pyr, "minmax", segs, 100.0, True, FS, 1 / 1200, 50.0)
    assert raw
    ok = np.isfinite(x)
    i = np.round(x[ok] * FS).astype(int)
    np.testing.assert_allclose((y[ok] - m.lane_baseline(0)) / 100.0, src.data[i], atol=1e-6)
    segs = m.segments(0.0, 35.0, -6, 1, 500)
    x, y, raw = lod.trace_points(src.data, src.pyr, "minmax", segs, 1.0, False, FS, 35 / 500, 50.0)
    assert not raw and np.isfinite(x).sum() <= 2 * 500 + 8
    vals = y[np.isfinite(y)] - m.baseline(0)
    assert vals.min() == pytest.approx(float(src.data.min()), abs=1e-6)
    assert vals.max() == pytest.approx(float(src.data.max()), abs=1e-6)


def test_band_bars_one_per_column_spanning_the_band():
    xl = np.linspace(0, 10, 5001)
    yl, yh = np.sin(xl) - 0.1, np.sin(xl) + 0.1
    px_per_s = 100.0  # 0.2 px per sample: bars
    xb, yb = lod.band_bars(xl, yl, yh, 0.0, px_per_s)
    cols = np.floor(xb[0::2] * px_per_s / lod.BAND_BAR_PX)
    assert np.unique(cols).size == cols.size == math.ceil(1000 / lod.BAND_BAR_PX) + 1
    assert yb[0::2].min() == pytest.approx(yl.min()) and yb[1::2].max() == pytest.approx(yh.max())
    assert lod.band_bars(xl, yl, yh, 0.0, 10_000.0) is None  # 20 px apart: a polygon
