"""ECG strip widget (gui.strip): decimation, layouts, overlays, navigation, calipers, play, export.

Runs offscreen with pytest-qt.  Timing is measured in bench/bench_strip.py, not asserted here.
"""
from __future__ import annotations

import math
import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import gui  # noqa: E402,F401  (PySide6 refcount workaround first)
from PySide6 import QtCore  # noqa: E402

from gui.strip import decimate as dec  # noqa: E402

SAMPLE = ROOT / "resources" / "samples" / "A00009.hea"
FS = 300.0


def _record() -> np.ndarray:
    from engine.records import read_record

    x, _ = read_record(SAMPLE).lead_mv()
    return x  # 30 s, 300 Hz, mV


@pytest.fixture(scope="module")
def ecg() -> np.ndarray:
    return _record()


@pytest.fixture
def view(qtbot):
    from gui_fixtures import shown_strip

    return shown_strip(qtbot, 1200, 800)


def _smooth_noise(n, k, seed=0, amp=0.01):
    rng = np.random.default_rng(seed)
    ker = np.hanning(31) / np.hanning(31).sum()
    z = np.stack([np.convolve(rng.standard_normal(n), ker, "same") for _ in range(k)])
    return (amp * z / np.abs(z).max()).astype(np.float32)


# ------------------------------------------------------------------ decimation (no Qt)
@pytest.mark.parametrize("n", [7, 8, 100, 4097, 100_003])
def test_envelope_equals_numpy_min_max(n):
    rng = np.random.default_rng(n)
    x = rng.standard_normal(n).astype(np.float32)
    pyr = dec.build_pyramid(x)
    for _ in range(60):
        i0 = int(rng.integers(0, n))
        i1 = int(rng.integers(i0, n + 1))
        nb = int(rng.integers(1, 500))
        env = dec.envelope(x, pyr, i0, i1, nb)
        assert env.edges[0] == i0 and env.edges[-1] == i1
        if i1 > i0:
            assert np.all(np.diff(env.edges) > 0)
        if not env.raw:
            assert len(env.edges) - 1 <= nb + 2  # about n_bins bins, never more than ~2 points/bin
        lo = np.array([x[a:b].min() for a, b in zip(env.edges[:-1], env.edges[1:])])
        hi = np.array([x[a:b].max() for a, b in zip(env.edges[:-1], env.edges[1:])])
        if i1 > i0:
            np.testing.assert_array_equal(env.lo, lo)
            np.testing.assert_array_equal(env.hi, hi)


@pytest.mark.parametrize("count, n_bins", [(3001, 1437), (3001, 1500), (100, 13), (5000, 700), (50, 50), (7, 1)])
def test_bin_minmax_gathers_equal_reduceat(count, n_bins):
    rng = np.random.default_rng(count)
    for x in (rng.standard_normal(count).astype(np.float32), rng.standard_normal((3, count))):
        starts = dec._even_starts(count, n_bins)
        lo, hi = dec._bin_minmax(x, starts)
        np.testing.assert_array_equal(lo, np.minimum.reduceat(x, starts, axis=-1))
        np.testing.assert_array_equal(hi, np.maximum.reduceat(x, starts, axis=-1))


def test_envelope_2d_members_and_pyramid_memory():
    rng = np.random.default_rng(1)
    m = rng.standard_normal((9, 30_001)).astype(np.float32)
    pyr = dec.build_pyramid(m)
    env = dec.envelope(m, pyr, 17, 29_000, 300)
    assert not env.raw
    for k, (a, b) in enumerate(zip(env.edges[:-1], env.edges[1:])):
        np.testing.assert_array_equal(env.lo[:, k], m[:, a:b].min(axis=1))
        np.testing.assert_array_equal(env.hi[:, k], m[:, a:b].max(axis=1))
    # the pyramid is O(n): 2/3 of the signal with the default base 4, factor 4
    assert dec.pyramid_nbytes(pyr) < 0.7 * m.nbytes
    pos, y = dec.interleave(env)
    assert y.shape == (9, 2 * (len(env.edges) - 1)) and pos.shape == (y.shape[1],)
    # whole-record one-shot decimation agrees with numpy too
    e2 = dec.minmax_bins(m[0], 100)
    assert e2.edges[-1] == m.shape[1]
    np.testing.assert_array_equal(e2.hi, [m[0, a:b].max() for a, b in zip(e2.edges[:-1], e2.edges[1:])])


def test_envelope_returns_raw_when_few_samples():
    x = np.arange(50, dtype=np.float32)
    env = dec.envelope(x, dec.build_pyramid(x), 10, 40, 100)
    assert env.raw
    pos, y = dec.interleave(env)
    np.testing.assert_array_equal(y, x[10:40])
    np.testing.assert_array_equal(pos, np.arange(10, 40))


def test_subsample_keeps_ends():
    x = np.arange(1000, dtype=np.float32)[None].repeat(3, 0)
    pos, y = dec.subsample(x, 5, 905, 50)
    assert pos[0] == 5 and pos[-1] == 904 and y.shape == (3, pos.size) and pos.size <= 52


# ------------------------------------------------------------------ widget
def _overlays(view, ecg, k: int = 40, seed: int = 2):
    """The record with an adversarial trace and a band of k members; returns (adv, members)."""
    n = ecg.size
    adv = ecg + _smooth_noise(n, 1)[0]
    members = adv[None] + _smooth_noise(n, k, seed=seed, amp=0.004)
    view.set_record(ecg, FS, "A00009")
    view.set_adversarial(adv)
    view.set_band(members.min(0), members.max(0))
    view.set_band_members(members)
    return adv, members


def test_record_overlays_items_and_legend(view, ecg):
    n = ecg.size
    adv = ecg + _smooth_noise(n, 1)[0]
    members = adv[None] + _smooth_noise(n, 40, seed=2, amp=0.004)
    view.set_record(ecg, FS, "A00009")
    assert view.layer_drawn("original") and not view.has_layer("adversarial")
    assert view.legend_labels() == ["Original"]
    view.set_adversarial(adv)
    view.set_band(members.min(0), members.max(0))
    view.set_band_members(members)
    for layer in ("original", "adversarial", "perturbation", "band", "members"):
        assert view.has_layer(layer) and view.layer_drawn(layer), layer
    assert not view.layer_drawn("difference")  # off by default
    labels = view.legend_labels()
    assert "Perturbation ×100" in labels and "Band (min–max)" in labels
    assert any(lab.startswith("Band members (40") for lab in labels)
    # perturbation lane is drawn at the gain, around the lane baseline, labelled
    view.set_mode("continuous")
    view.set_view(0, 30)
    _, y = view.renderer.trace["perturbation"].item.getData()
    dev = np.abs(y[np.isfinite(y)] - view.model.lane_baseline(0))
    assert 0.9 <= dev.max() <= 100 * 0.0101 + 1e-6  # ±0.01 mV shown as ±1 mV
    view.set_mode("rows")
    assert any(lab.isVisible() and "δ ×100 · bar 10 µV" in lab.toPlainText() for lab in view.renderer.lane_labels)
    view.set_perturbation_gain(10)
    assert "Perturbation ×10" in view.legend_labels()
    # toggles
    seen = []
    view.layerVisibilityChanged.connect(lambda layer, on: seen.append((layer, on)))
    view.set_layer_visible("adversarial", False)
    assert not view.layer_drawn("adversarial") and seen[-1] == ("adversarial", False)
    assert not view._legend.proxies["adversarial"].isVisible()  # legend shows it as hidden
    view.set_layer_visible("difference", True)
    assert view.layer_drawn("difference")
    # a click on a legend entry toggles the layer
    proxy = view._legend.proxies["band"]
    proxy.setVisible(False)
    view._legend._on_click(proxy)
    assert not view.layer_visible("band") and not view.layer_drawn("band")
    # hiding the perturbation removes the lane: band/members go back on the strip
    view.set_layer_visible("perturbation", False)
    assert view.model.pitch() == view.model.strip_mv
    assert view.layer_drawn("members") and view.renderer.trace["members"].item.isVisible()
    # a new record clears the overlays
    view.set_record(ecg[:3000], FS, "short")
    assert not view.has_layer("adversarial") and not view.has_layer("band")
    assert view.legend_labels() == ["Original"]
    with pytest.raises(ValueError):
        view.set_adversarial(ecg)  # wrong length
    with pytest.raises(ValueError):
        view.set_layer_visible("nope", True)


def test_level_of_detail_band_twin_and_members(view, ecg):
    """The frame-cost rules: a sub-pixel band is drawn only in the perturbation lane, wide
    decimated strokes become two 1-px passes one pixel apart, and zoomed-out rows draw fewer
    members rather than cruder ones."""
    adv, members = _overlays(view, ecg)
    view.set_mode("rows")
    view.set_view(0, 10)
    strip_band, lane_band = view.renderer.trace["band_lo"].item, view.renderer.trace["lane_band_lo"].item
    assert not strip_band.isVisible() and lane_band.isVisible()  # 0.008 mV < 1.5 px on the strip
    # without the lane, the band goes back on the strip, however thin
    view.set_layer_visible("perturbation", False)
    assert view.renderer.trace["band_lo"].item.isVisible()
    view.set_layer_visible("perturbation", True)
    # a band wide enough to see on the strip is drawn there too
    view.set_band(ecg - 0.5, ecg + 0.5)
    assert view.renderer.trace["band_lo"].item.isVisible()
    # adversarial: decimated at 30 s per 1200 px → two 1-px passes, the twin 1 px to the right
    view.set_mode("continuous")
    view.set_view(0, 30)
    tr = view.renderer.trace["adversarial"]
    assert tr.twin_active() and tr.twin.isVisible()
    assert tr.item.opts["pen"].widthF() == 1.0
    (x0, x1), _ = view._vb.viewRange()
    xa, ya = tr.item.getData()
    xt, yt = tr.twin.getData()
    ok = np.isfinite(xa)
    np.testing.assert_array_equal(np.isfinite(xt), ok)
    np.testing.assert_allclose(xt[ok] - xa[ok], (x1 - x0) / view._vb.width(), rtol=1e-6)
    np.testing.assert_array_equal(yt, ya)
    # zoomed in to raw samples: one pass with the full pen, no twin
    view.set_view(10, 11)
    assert not tr.twin_active() and not tr.twin.isVisible()
    assert tr.item.opts["pen"].widthF() == pytest.approx(2.6)
    # hiding the layer hides both passes
    view.set_view(0, 30)
    view.set_layer_visible("adversarial", False)
    assert not tr.item.isVisible() and not tr.twin.isVisible()
    # members: 3 rows of 10 s → fewer members, each with at least one point per 8 px
    view.set_band(members.min(0), members.max(0))
    view.set_mode("rows")
    view.set_view(0, 10)
    xm, _ = view.renderer.trace["lane_members"].item.getData()
    lines = int(np.isnan(xm).sum())
    assert 8 <= lines < 40 * 3


def test_rows_mode_lays_out_ceil_duration_rows(view, ecg):
    x = np.concatenate([ecg, ecg[:1500]])  # 35 s
    view.set_record(x, FS, "35s")
    assert view.mode() == "rows"
    assert view.row_count() == math.ceil(35 / 10) == 4
    view.set_view(0, 35)  # fit every row
    xs, ys = view.renderer.trace["original"].item.getData()
    assert int(np.isnan(ys).sum()) == 4  # one NaN-separated piece per row
    assert np.nanmax(xs) <= 10.0 + 1 / FS + 1e-9 and np.nanmin(xs) >= 0
    t0, t1 = view.view_range()
    assert t0 == 0 and t1 == pytest.approx(35, abs=0.01)
    view.set_seconds_per_row(5)
    assert view.row_count() == 7
    # calibration pulse at the start of every visible row
    px, py = view.renderer.pulse.getData()
    assert int(np.isnan(px).sum()) >= 1 and np.nanmin(px) < 0 < np.nanmax(px) + 0.1
    view.set_mode("continuous")
    assert view.row_count() == 1
    with pytest.raises(ValueError):
        view.set_mode("grid")


def test_keyboard_navigation(view, qtbot, ecg):
    x = np.tile(ecg, 4)  # 120 s
    view.set_record(x, FS, "nav")
    view.set_mode("continuous")
    view.set_view(20, 30)
    assert view.view_range() == pytest.approx((20, 30))
    changes = []
    view.timeChanged.connect(lambda a, b: changes.append((a, b)))
    view.setFocus()
    qtbot.keyClick(view, QtCore.Qt.Key.Key_Right)
    assert view.view_range() == pytest.approx((21, 31))
    qtbot.keyClick(view, QtCore.Qt.Key.Key_PageDown)
    assert view.view_range() == pytest.approx((31, 41))
    qtbot.keyClick(view, QtCore.Qt.Key.Key_Left)
    assert view.view_range() == pytest.approx((30, 40))
    qtbot.keyClick(view, QtCore.Qt.Key.Key_Plus)
    t0, t1 = view.view_range()
    assert t1 - t0 == pytest.approx(10 / 1.5) and (t0 + t1) / 2 == pytest.approx(35)
    qtbot.keyClick(view, QtCore.Qt.Key.Key_Minus)
    qtbot.keyClick(view, QtCore.Qt.Key.Key_Minus)
    t0, t1 = view.view_range()
    assert t1 - t0 == pytest.approx(15)
    qtbot.keyClick(view, QtCore.Qt.Key.Key_End)
    assert view.view_range()[1] == pytest.approx(120)
    qtbot.keyClick(view, QtCore.Qt.Key.Key_Home)
    assert view.view_range()[0] == 0
    assert changes and changes[-1] == view.view_range()
    # keys typed while the plot itself has focus reach the strip too
    view.plot.setFocus()
    qtbot.keyClick(view.plot.viewport(), QtCore.Qt.Key.Key_PageDown)
    assert view.view_range()[0] > 5
    # rows mode: PageDown turns a page of rows, Up/Down one row
    view.set_mode("rows")
    view.set_view(0, 20)
    r0 = view.view_range()
    qtbot.keyClick(view, QtCore.Qt.Key.Key_Down)
    assert view.view_range()[0] == pytest.approx(r0[0] + 10)
    qtbot.keyClick(view, QtCore.Qt.Key.Key_PageDown)
    assert view.view_range()[0] >= r0[0] + 20
    qtbot.keyClick(view, QtCore.Qt.Key.Key_Home)
    assert view.view_range()[0] == 0


def test_wheel_scrolls_and_ctrl_wheel_zooms(view, ecg):
    view.set_record(np.tile(ecg, 2), FS, "wheel")
    view.set_mode("continuous")
    view.set_view(10, 20)
    view._on_wheel(-120, QtCore.Qt.KeyboardModifier.NoModifier, QtCore.QPointF(15, 0))
    assert view.view_range() == pytest.approx((11, 21))
    view._on_wheel(120, QtCore.Qt.KeyboardModifier.ControlModifier, QtCore.QPointF(16, 0))
    t0, t1 = view.view_range()
    assert t1 - t0 == pytest.approx(10 / 1.25)
    assert (16 - t0) / (t1 - t0) == pytest.approx(0.5)  # zoom keeps the point under the mouse


def test_calipers_read_dt_dmv_and_heart_rate(view, ecg):
    view.set_record(ecg, FS, "cal")
    got = []
    view.caliperChanged.connect(got.append)
    view.set_calipers_visible(True)
    assert view.calipers.visible and got
    view.calipers.place(1.0, 1.8, -1.5, -0.3)
    d = got[-1]
    assert d["dt_ms"] == pytest.approx(800)
    assert d["hr_bpm"] == pytest.approx(75)
    assert d["dmv"] == pytest.approx(1.2)
    assert "75 bpm" in view.caliper_info.text()
    # dragging one line updates the readout
    view.calipers.v[1].setValue(2.0)
    assert got[-1]["dt_ms"] == pytest.approx(1000) and got[-1]["hr_bpm"] == pytest.approx(60)
    view.set_calipers_visible(False)
    assert not view.calipers.v[0].isVisible()


def test_crosshair_reports_record_time_and_mv(view, ecg):
    view.set_record(ecg, FS, "x")
    view.set_mode("rows")
    base1 = view.model.baseline(1)
    t, v, where = view.view_to_record(2.5, base1 + 0.7)
    assert (t, where) == (pytest.approx(12.5), "strip") and v == pytest.approx(0.7)
    view.crosshair.set_pos(2.5, base1 + 0.7)
    assert "0:12.500" in view.info.text() or "12.500" in view.info.text()


def test_real_size_uses_physical_dpi(view, ecg):
    view.set_record(ecg, FS, "real")
    got = []
    view.realSizeChanged.connect(got.append)
    view.set_real_size(True)
    assert got == [True]
    mm_s, mm_mv = view.paper_scale()
    assert mm_s == pytest.approx(25, rel=0.02) and mm_mv == pytest.approx(10, rel=0.02)
    view.set_mode("continuous")
    mm_s, mm_mv = view.paper_scale()
    assert mm_s == pytest.approx(25, rel=0.02) and mm_mv == pytest.approx(10, rel=0.02)
    view.zoom(2.0)  # free zoom leaves real-size mode
    assert not view.real_size() and got[-1] is False


def test_rows_mode_keeps_squares_square(view, ecg):
    view.set_record(ecg, FS, "sq")
    mm_s, mm_mv = view.paper_scale()
    assert mm_s / mm_mv == pytest.approx(2.5, rel=1e-3)  # 0.04 s x 0.1 mV squares are square
    view.zoom(1.7)
    mm_s, mm_mv = view.paper_scale()
    assert mm_s / mm_mv == pytest.approx(2.5, rel=1e-3)


def test_overview_region_follows_and_moves_view(view, ecg):
    view.set_record(np.tile(ecg, 4), FS, "ov")
    view.set_mode("continuous")
    view.set_view(30, 40)
    assert view.overview.region.getRegion() == pytest.approx((30, 40))
    view.overview.regionMoved.emit(60.0, 70.0)
    assert view.view_range() == pytest.approx((60, 70))


def test_play_mode_sweeps_forward(view, qtbot, ecg):
    view.set_record(np.tile(ecg, 2), FS, "play")
    view.set_mode("continuous")
    view.set_view(0, 5)
    states = []
    view.playingChanged.connect(states.append)
    view.set_play_speed(40.0)
    view.play(True)
    assert view.is_playing() and states == [True]
    qtbot.waitUntil(lambda: view.view_range()[0] >= 5, timeout=5000)  # the page turned
    assert view.play_position() >= 5  # the cursor reached the old end (exactly 5.0 when ticks add up)
    _, y = view.renderer.trace["original"].item.getData()
    view.play(False)
    assert not view.is_playing() and states[-1] is False
    # while playing, nothing right of the cursor was drawn
    assert view.renderer.cursor.isVisible() is False


def test_24h_record_opens_and_draws_decimated(view, ecg, record_property):
    n = int(24 * 3600 * FS)
    x = np.resize(ecg, n)  # 26 M samples by tiling a real record
    view.set_record(x, FS, "24h")
    record_property("open_24h_s", round(view.last_open_s, 3))  # timing lives in bench/
    mem = view.memory_bytes()
    assert mem["pyramids"] < 1.0 * x.nbytes  # signal + pyramid < 3x raw, by far
    view.set_mode("continuous")
    width = view._vb.width()
    for w in (1, 10, 60, 600, 3600, 86400):
        view.set_view(1000 if w < 86400 else 0, (1000 if w < 86400 else 0) + w)
        xs, _ = view.renderer.trace["original"].item.getData()
        assert xs.size <= 4 * width + 8, (w, xs.size)  # never more than ~2 points per pixel x2
    assert view.view_range() == pytest.approx((0, 86400))


def test_export_png_svg_pdf(view, ecg, tmp_path):
    _overlays(view, ecg, k=12, seed=3)
    png = view.export_png(str(tmp_path / "strip.png"))
    png2 = view.export_png(str(tmp_path / "sub" / "strip_wide.png"), width_px=2400)
    svg = view.export_svg(str(tmp_path / "strip.svg"))
    pdf = view.export_pdf(str(tmp_path / "strip.pdf"))
    for p, min_size in ((png, 20_000), (png2, 20_000), (svg, 20_000), (pdf, 20_000)):
        assert os.path.getsize(p) > min_size, p
    from PySide6.QtGui import QImage

    img = QImage(png2)
    assert img.width() == 2400
    assert "<svg" in Path(svg).read_text(errors="ignore")[:2000]
    # PDF at true paper scale: 3 rows of 10 s at 25 mm/s and 10 mm/mV
    from gui.strip.export import HEADER_MM, MARGIN_MM, page_size_mm

    raw = Path(pdf).read_bytes()
    assert raw.startswith(b"%PDF")
    boxes = [tuple(map(float, m)) for m in
             re.findall(rb"/MediaBox\s*\[\s*([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s*\]", raw)]
    assert boxes
    w_pt, h_pt = boxes[0][2] - boxes[0][0], boxes[0][3] - boxes[0][1]
    w_mm, h_mm = w_pt * 25.4 / 72, h_pt * 25.4 / 72
    spec = view.paper_spec()
    exp_w, exp_h = page_size_mm(spec, 3)
    assert w_mm == pytest.approx(exp_w, abs=1.0) and h_mm == pytest.approx(exp_h, abs=1.0)
    assert exp_w == pytest.approx(2 * MARGIN_MM + (0.44 + 10) * 25)
    assert exp_h == pytest.approx(2 * MARGIN_MM + HEADER_MM + 3 * (3 + 2) * 10)


def test_legend_sits_above_the_strips_and_fits_the_width(view, qtbot, ecg):
    _overlays(view, ecg)
    for width in (1400, 700, 420):
        view.resize(width, 800)
        qtbot.wait(20)
        leg = view.legend.sceneBoundingRect()
        vb = view._vb.sceneBoundingRect()
        assert leg.bottom() <= vb.top() + 1, (width, leg, vb)        # never over row 1
        assert leg.right() <= view.plot.width() + 1, (width, leg.right(), view.plot.width())
        if width == 1400:
            assert view.legend.columnCount == len(view.legend.items)  # one row when there is room
    assert view.legend.columnCount < len(view.legend.items)           # wraps when narrow


def test_strip_curve_draws_wide_lines_in_device_pixels_like_pyqtgraph(qtbot, ecg):
    """StripCurve paints segment-mode lines in pixels (3x cheaper for wide pens) and the
    result matches pyqtgraph's own curve pixel for pixel, bar rounding at a few pixels."""
    import pyqtgraph as pg
    from PySide6 import QtGui

    from gui.strip.curves import StripCurve

    t = np.arange(3000) / FS
    y = np.asarray(ecg[:3000], float)
    y[1500] = np.nan  # a gap: connect="finite" must break the line there
    pen = pg.mkPen(QtGui.QColor(214, 18, 56), width=2.6)
    images = []
    for cls in (pg.PlotCurveItem, StripCurve):
        w = pg.PlotWidget(background="w")
        qtbot.addWidget(w)
        w.resize(900, 400)
        c = cls(pen=pen, connect="finite", antialias=False, skipFiniteCheck=True)
        c.setSegmentedLineMode("on")
        w.addItem(c)
        c.setData(t, y)
        w.getPlotItem().getViewBox().setRange(xRange=(0, 10), yRange=(-1, 2), padding=0)
        w.show()
        qtbot.waitExposed(w)
        images.append(w.grab().toImage().convertToFormat(QtGui.QImage.Format.Format_RGB32))
        if cls is StripCurve:
            assert c.device_paints > 0
    a, b = (np.frombuffer(im.constBits(), np.uint8).reshape(im.height(), im.bytesPerLine())
            for im in images)
    red_a, red_b = (np.abs(m[:, 2::4].astype(int) - m[:, 0::4]) > 100 for m in (a, b))
    assert red_a.sum() > 3000  # a line was drawn
    differ = np.logical_xor(red_a, red_b).sum()
    assert differ < 0.03 * red_a.sum(), differ
    # the gap stays a gap: no red in the column at t = 5 s beyond the line's width
    assert red_b.sum() == pytest.approx(red_a.sum(), rel=0.03)


def test_band_bars_per_pixel_columns_and_member_ink_budget(view, ecg):
    """Zoomed out, the band is one bar per BAND_BAR_PX pixel columns; jagged, magnified members are
    fewer so that the drawn line length stays within the ink budget."""
    from gui.strip import lod as V

    adv, _ = _overlays(view, ecg, k=4)
    rng = np.random.default_rng(5)  # jagged members: white noise of ±0.005 mV
    members = adv[None] + rng.uniform(-0.005, 0.005, (200, ecg.size)).astype(np.float32)
    view.set_band(members.min(0), members.max(0))
    view.set_band_members(members)
    view.set_mode("continuous")
    view.set_free_zoom(True)  # the lane as tall as the view: magnified, jagged members
    view.set_view(0, 6)  # 1800 samples on ~1100 px
    bars = view.renderer.band_bars[1]
    assert bars.isVisible()
    xb, yb = bars.getData()
    assert xb.size // 2 <= view._vb.width() / V.BAND_BAR_PX + 2
    assert bars.opts["pen"].widthF() == V.BAND_BAR_PX
    (x0, x1), _ = view._vb.viewRange()
    cols = np.floor((xb[0::2] - x0) * view._vb.width() / (x1 - x0) / V.BAND_BAR_PX)
    assert np.unique(cols).size == cols.size  # one bar per BAND_BAR_PX columns
    # bars span exactly the band: min of lo and max of hi per column
    lo, hi = view.model.src["lo_d"].data[:1802], view.model.src["hi_d"].data[:1802]  # the 6 s shown
    g, half = view.perturbation_gain(), view.model.lane_mv / 2  # clipped at the lane's edges
    assert yb[0::2].min() == pytest.approx(max(-half, lo.min() * g) + view.model.lane_baseline(0), abs=1e-6)
    assert yb[1::2].max() == pytest.approx(min(half, hi.max() * g) + view.model.lane_baseline(0), abs=1e-6)
    # members: the drawn length in pixels stays within the budget
    it = view.renderer.trace["lane_members"].item

    def drawn_members(budget, t1):
        old = V.MEMBER_INK_BUDGET_PX
        try:
            V.MEMBER_INK_BUDGET_PX = budget
            view.set_view(0, t1)
        finally:
            V.MEMBER_INK_BUDGET_PX = old
        xm, ym = it.getData()
        (x0, x1), (y0, y1) = view._vb.viewRange()
        sx, sy = view._vb.width() / (x1 - x0), view._vb.height() / (y1 - y0)
        ink = np.nansum(np.maximum(np.abs(np.diff(xm)) * sx, np.abs(np.diff(ym)) * sy))
        return int(np.isnan(xm).sum()), ink

    n_all, ink_all = drawn_members(1e12, 10.0)
    assert ink_all > 2 * V.MEMBER_INK_BUDGET_PX  # this band needs the budget
    n, ink = drawn_members(V.MEMBER_INK_BUDGET_PX, 10.2)
    assert V.MIN_MEMBERS_ZOOMED_OUT <= n < n_all
    assert ink <= 1.3 * V.MEMBER_INK_BUDGET_PX
    n_min, _ = drawn_members(1.0, 10.4)  # never fewer than the minimum
    assert n_min == V.MIN_MEMBERS_ZOOMED_OUT


@pytest.mark.parametrize("mode, t1", [("rows", 10.0), ("continuous", 3.0), ("continuous", 30.0)])
def test_paper_grid_pixels_match_the_line_drawing(view, ecg, monkeypatch, mode, t1):
    """The raster grid (a tiled row of pixels + rectangles) puts every line on the pixels
    where Qt draws the 1-px lines, large lines over small ones: pixel for pixel."""
    from PySide6 import QtGui

    from gui.strip.paper import PaperGrid

    view.set_record(ecg, FS, "A00009")
    view.set_mode(mode)
    view.set_view(0, t1)

    def grab():
        im = view.plot.grab().toImage().convertToFormat(QtGui.QImage.Format.Format_RGB32)
        return np.frombuffer(im.constBits(), np.uint8).reshape(im.height(), im.bytesPerLine()).copy()

    calls = []
    real = PaperGrid._paint_pixels
    monkeypatch.setattr(PaperGrid, "_paint_pixels", lambda *a: calls.append(1) or real(*a))
    fast = grab()
    assert calls, "the raster path was not taken"
    monkeypatch.setattr(PaperGrid, "_paint_pixels", lambda *a: False)
    lines = grab()
    assert view.grid.lines_drawn > 20
    differ = np.any((fast != lines).reshape(fast.shape[0], -1, 4), axis=2)
    assert not differ.any(), np.argwhere(differ)[:10]


@pytest.mark.parametrize("mode, t1", [("rows", 10.0), ("continuous", 2.0), ("continuous", 30.0)])
def test_axes_direct_paint_matches_pyqtgraph(view, ecg, monkeypatch, mode, t1):
    """The time axes and the row-label axis draw their line, ticks and labels themselves (no
    QPicture); the pixels are those of pyqtgraph's generic axis painting."""
    import pyqtgraph as pg
    from PySide6 import QtGui

    from gui.strip.paper import LabelAxis, TimeAxis, _DirectAxis

    view.set_record(ecg, FS, "A00009")
    view.set_mode(mode)
    view.set_view(0, t1)
    axes = (view._bottom_axis, view._left_axis, view.overview._time_axis)

    def grab():
        for ax in axes:
            ax.picture = None
            ax.update()
        ims = []
        for w in (view.plot, view.overview):
            im = w.grab().toImage().convertToFormat(QtGui.QImage.Format.Format_RGB32)
            ims.append(np.frombuffer(im.constBits(), np.uint8).reshape(im.height(), im.bytesPerLine()).copy())
        return ims

    calls = []
    real = _DirectAxis._paint_direct
    monkeypatch.setattr(_DirectAxis, "_paint_direct", lambda self, p: real(self, p) or calls.append(self))
    direct = grab()
    assert {type(a) for a in calls} == {TimeAxis, LabelAxis}, "the direct path was not taken (or failed)"
    generic_calls = []
    real_generic = pg.AxisItem.generateDrawSpecs

    def fail(self, p):  # the direct path fails: the axes fall back to pyqtgraph's painting
        raise RuntimeError("direct painting off")

    monkeypatch.setattr(_DirectAxis, "_paint_direct", fail)
    monkeypatch.setattr(pg.AxisItem, "generateDrawSpecs",
                        lambda self, p: generic_calls.append(self) or real_generic(self, p))
    generic = grab()
    assert {type(a) for a in generic_calls} == {TimeAxis, LabelAxis}, "the generic painting was not used"
    for a, b in zip(direct, generic):
        differ = np.any((a != b).reshape(a.shape[0], -1, 4), axis=2)
        assert not differ.any(), np.argwhere(differ)[:10]
    # labels are there: the bottom strip of the plot holds dark text pixels
    h = direct[0].shape[0]
    assert (direct[0][h - 20:, :].reshape(20, -1, 4)[..., :3].max(axis=2) < 120).sum() > 30


@pytest.mark.parametrize("t1", [10.0, 30.0, 3.0])
def test_rows_drawn_at_once_equal_row_by_row(view, ecg, monkeypatch, t1):
    """Rows of equal length are decimated in one go (envelope_rows); the drawn points are
    exactly those of the row-by-row path, for raw samples and for small bins."""
    from gui.strip import lod as V

    _overlays(view, ecg)
    view.set_mode("rows")
    view.set_seconds_per_row(t1 / 3 if t1 < 10 else 10.0)
    view.set_view(0, t1)
    calls = []
    real = V.envelope_rows
    monkeypatch.setattr(V, "envelope_rows", lambda *a: calls.append(1) or real(*a))
    view._draw()
    assert calls, "rows were not decimated together"
    at_once = {t.key: t.item.getData() for t in view.renderer.traces if t.item.isVisible() and t.kind != "sub"}
    monkeypatch.setattr(V, "envelope_rows", lambda *a: None)
    view._draw()
    row_by_row = {t.key: t.item.getData() for t in view.renderer.traces if t.item.isVisible() and t.kind != "sub"}
    assert at_once.keys() == row_by_row.keys() and len(at_once) >= 3
    for key, (x, y) in at_once.items():
        np.testing.assert_array_equal(x, row_by_row[key][0], err_msg=key)
        np.testing.assert_array_equal(y, row_by_row[key][1], err_msg=key)


def test_envelope_rows_equals_envelope_per_row():
    rng = np.random.default_rng(3)
    x = rng.standard_normal(20_000).astype(np.float32)
    pyr = dec.build_pyramid(x)
    for count, nb in ((3001, 1600), (3001, 1437), (3001, 700), (3001, 100), (500, 499)):
        for starts in (np.array([0, 3000, 6000, 9000]), np.array([5, 4000, 4100])):
            env = dec.envelope_rows(x, pyr, starts, count, nb)
            if count / nb >= pyr.blocks[0] and count > 2 * nb:
                assert env is None
                continue
            for r, s in enumerate(starts):
                e1 = dec.envelope(x, pyr, s, s + count, nb)
                assert e1.raw == env.raw
                np.testing.assert_array_equal(e1.edges - s, env.edges)
                np.testing.assert_array_equal(e1.lo, env.lo[r])
                np.testing.assert_array_equal(e1.hi, env.hi[r])


def test_rows_draw_the_same_members_from_their_samples(view, ecg):
    """In rows mode the member lines of all rows are gathered at once: the same members in
    every row, each line exactly a member's samples (at the lane's gain and baseline)."""
    _overlays(view, ecg, k=40)
    view.set_mode("rows")
    view.set_view(0, 30)
    x, y = view.renderer.trace["lane_members"].item.getData()
    breaks = np.flatnonzero(np.isnan(x))
    lines = np.split(np.arange(x.size), breaks + 1)[:-1]
    lines = [ln[:-1] for ln in lines]  # drop the NaN
    segs = view._segments()
    assert len(lines) % len(segs) == 0 and len(lines) >= len(segs) * 4
    per_row = len(lines) // len(segs)
    data = view.model.src["mem_d"].data
    gain = view.perturbation_gain()
    chosen = []
    for i, ln in enumerate(lines):
        r, i0, i1, nb, row_t0, base, lbase = segs[i // per_row]
        pos = np.round((x[ln] + row_t0) * FS).astype(int)
        assert pos[0] == i0 and pos[-1] == i1 - 1
        vals = (y[ln] - lbase) / gain
        half = view.model.lane_mv / 2 / gain  # drawn clipped at the lane's edges
        match = [j for j in range(data.shape[0])
                 if np.allclose(np.clip(data[j, pos], -half, half), vals, atol=1e-6)]
        assert match, f"line {i} is no member"
        chosen.append(match[0])
    rows_sets = [chosen[r * per_row:(r + 1) * per_row] for r in range(len(segs))]
    assert all(s == rows_sets[0] for s in rows_sets)
