"""StripCurve (gui/strip/curves.py): its cheaper paths give pyqtgraph's own results — the
bars filled as rectangles pixel for pixel, the data bounds number for number."""
from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("pyqtgraph")
import pyqtgraph as pg  # noqa: E402
from PySide6 import QtCore, QtGui  # noqa: E402

from gui.strip.curves import StripCurve  # noqa: E402


class _SegmentsOnly(StripCurve):
    """StripCurve without the rectangle path: its bars are line segments in device pixels
    (what the strip drew before; itself within 3 % of pyqtgraph, tested in test_strip_view)."""

    def _paint_bars(self, *args) -> bool:
        return False


def _bar_pen(width: float, colour=(206, 220, 238)) -> QtGui.QPen:
    pen = QtGui.QPen(QtGui.QColor(*colour), width)
    pen.setCosmetic(True)
    pen.setCapStyle(QtCore.Qt.PenCapStyle.FlatCap)
    return pen


def _render(qtbot, cls, x, y, pen, x_range=(0.0, 10.0), y_range=(-1.0, 1.0)):
    """The plot's pixels (h, w) uint32 with one curve of class `cls`, and the curve."""
    w = pg.PlotWidget(background="w")
    qtbot.addWidget(w)
    w.resize(700, 360)
    c = cls(pen=pen, connect="pairs", antialias=False, skipFiniteCheck=True)
    c.setSegmentedLineMode("on")
    w.addItem(c)
    c.setData(x, y)
    w.getPlotItem().getViewBox().setRange(xRange=x_range, yRange=y_range, padding=0)
    w.show()
    qtbot.waitExposed(w)
    im = w.grab().toImage().convertToFormat(QtGui.QImage.Format.Format_RGB32)
    px = np.frombuffer(im.constBits(), np.uint32).reshape(im.height(), im.bytesPerLine() // 4)
    return px[:, :im.width()].copy(), c


def _bars(rng, n: int) -> tuple[np.ndarray, np.ndarray]:
    """n vertical bars at random fractional x, spanning random y either way (some of zero
    length, some on exact pixel and half-pixel positions of the view)."""
    xc = np.sort(rng.uniform(0.2, 9.8, n))
    xc[: n // 4] = np.round(xc[: n // 4] * 16) / 16
    lo = rng.uniform(-0.9, 0.3, n)
    hi = lo + rng.uniform(0.0, 0.6, n)
    hi[::7] = lo[::7]  # zero length
    lo[1::5], hi[1::5] = hi[1::5], lo[1::5]  # drawn downwards
    y = np.empty(2 * n)
    y[0::2], y[1::2] = lo, hi
    return np.repeat(xc, 2), y


@pytest.mark.parametrize("width", [2.0, 3.0])
def test_bars_filled_as_rectangles_match_the_stroked_lines_pixel_for_pixel(qtbot, width):
    rng = np.random.default_rng(int(width))
    x, y = _bars(rng, 300)
    pen = _bar_pen(width)
    ref, c_ref = _render(qtbot, _SegmentsOnly, x, y, pen)
    got, c = _render(qtbot, StripCurve, x, y, pen)
    assert c.bar_paints > 0 and c_ref.device_paints > 0  # each took its path
    bar = np.uint32(QtGui.QColor(206, 220, 238).rgb())
    assert (ref == bar).sum() > 2000  # bars were drawn
    assert np.array_equal(ref, got), int((ref != got).sum())
    pg_px, _ = _render(qtbot, pg.PlotCurveItem, x, y, pen)  # pyqtgraph's, through the scaling
    assert (pg_px != got).sum() < 0.05 * (pg_px == bar).sum()


def test_bars_path_only_for_vertical_pairs_of_a_flat_solid_pen(qtbot):
    rng = np.random.default_rng(7)
    x, y = _bars(rng, 50)
    slanted = x.copy()
    slanted[1::2] += 0.01
    _, c = _render(qtbot, StripCurve, slanted, y, _bar_pen(2.0))
    assert c.bar_paints == 0 and c.device_paints > 0  # ordinary segments
    square = _bar_pen(2.0)
    square.setCapStyle(QtCore.Qt.PenCapStyle.SquareCap)
    _, c = _render(qtbot, StripCurve, x, y, square)
    assert c.bar_paints == 0
    gap = y.copy()
    gap[10] = np.nan
    ref, _ = _render(qtbot, _SegmentsOnly, x, gap, _bar_pen(2.0))
    got, c = _render(qtbot, StripCurve, x, gap, _bar_pen(2.0))
    assert c.bar_paints == 0 and c.device_paints > 0  # a NaN: drawn the usual way
    assert np.array_equal(ref, got)


def _bounds_cases():
    rng = np.random.default_rng(3)
    y = rng.standard_normal(3000).cumsum()
    gaps = y.copy()
    gaps[::301] = np.nan  # NaN breaks between rows
    leading = gaps.copy()
    leading[:5] = np.nan
    with_inf = gaps.copy()
    with_inf[17] = np.inf
    single = np.array([np.nan, 2.5, np.nan])
    all_nan = np.full(4, np.nan)
    x = np.arange(3000, dtype=float) / 300
    xg = x.copy()
    xg[::301] = np.nan
    return [(x, y), (xg, gaps), (xg, leading), (xg, with_inf), (np.arange(3.0), single),
            (np.arange(4.0), all_nan), (x.astype(np.float32), gaps.astype(np.float32)),
            (np.arange(3000), np.arange(3000) % 7)]


@pytest.mark.parametrize("case", range(len(_bounds_cases())))
def test_data_bounds_and_bounding_rect_equal_pyqtgraphs(qtbot, case):
    x, y = _bounds_cases()[case]
    w = pg.PlotWidget()
    qtbot.addWidget(w)
    w.resize(400, 300)
    items = []
    for cls in (pg.PlotCurveItem, StripCurve):
        c = cls(pen=pg.mkPen("k", width=1.6), connect="finite", skipFiniteCheck=True)
        w.addItem(c, ignoreBounds=True)
        c.setData(x, y)
        items.append(c)
    w.getPlotItem().getViewBox().setRange(xRange=(0, 10), yRange=(-50, 50), padding=0)
    ref, got = items
    for ax in (0, 1):
        a, b = ref.dataBounds(ax), got.dataBounds(ax)
        assert len(a) == len(b) == 2
        for u, v in zip(a, b):
            assert (u is None and v is None) or (math.isnan(u) and math.isnan(v)) or u == v, (ax, a, b)
        assert got.dataBounds(ax) == b  # cached
    ra, rb = ref.boundingRect(), got.boundingRect()
    same = [ra.x(), ra.y(), ra.width(), ra.height()], [rb.x(), rb.y(), rb.width(), rb.height()]
    assert np.array_equal(*same, equal_nan=True), same
    # new data: the cached bounds are dropped
    got.setData(x, np.asarray(y) * 2)
    ref.setData(x, np.asarray(y) * 2)
    a, b = ref.dataBounds(1), got.dataBounds(1)
    assert np.array_equal(np.array(a, float), np.array(b, float), equal_nan=True)


def test_data_bounds_fall_back_for_fill_level_and_percentiles(qtbot):
    x = np.arange(100.0)
    y = np.linspace(-1.0, 3.0, 100)
    ref = pg.PlotCurveItem(x, y, fillLevel=-5.0)
    got = StripCurve(x, y, fillLevel=-5.0)
    assert got.dataBounds(1) == ref.dataBounds(1) == (-5.0, 3.0)
    assert got.dataBounds(1, frac=0.5) == pytest.approx(ref.dataBounds(1, frac=0.5))
    assert got.dataBounds(0, orthoRange=(0.0, 1.0)) == ref.dataBounds(0, orthoRange=(0.0, 1.0))


def test_time_axis_tick_values_equal_pyqtgraphs(qtbot):
    """TimeAxis.tickValues replaces pyqtgraph's np.isclose de-duplication: same levels and values."""
    from gui.strip.paper import TimeAxis

    ax = TimeAxis()
    rng = np.random.default_rng(9)
    cases = [(0.0, 10.0, 1500.0), (3.3, 63.3, 1533.0), (0.0, 86400.0, 1500.0), (12.0, 12.5, 800.0),
             (59.0, 1.0, 1400.0), (-0.37, 9.63, 1533.0)]
    cases += [(a, a + w, float(rng.uniform(300, 2000))) for a, w in
              zip(rng.uniform(-5, 3600, 40), 10 ** rng.uniform(-1, 4.9, 40))]
    n_levels = set()
    for lo, hi, size in cases:
        got = ax.tickValues(lo, hi, size)
        ref = pg.AxisItem.tickValues(ax, lo, hi, size)
        assert got == ref, (lo, hi, size)
        n_levels.add(len(got))
    assert 2 in n_levels  # minor ticks de-duplicated against the major ones were exercised


@pytest.mark.parametrize("runs, m", [(1, 3000), (6, 1400), (40, 80), (5, 1)])
def test_finite_path_equals_pyqtgraphs_element_for_element(qtbot, runs, m):
    """StripCurve's path for NaN-separated lines: the same elements as pyqtgraph's
    arrayToQPath(connect="finite", finiteCheck=False), one-point runs and a trailing run included."""
    from gui.strip.curves import finite_path

    rng = np.random.default_rng(runs * m)
    x = np.concatenate([np.r_[np.linspace(0, 10, m), np.nan] for _ in range(runs)] + [np.arange(3.0)])
    y = np.concatenate([np.r_[rng.standard_normal(m), np.nan] for _ in range(runs)] + [np.ones(3)])
    y[len(y) // 2] = np.inf  # any non-finite value breaks a line

    def elements(path):
        return [(path.elementAt(i).type, path.elementAt(i).x, path.elementAt(i).y)
                for i in range(path.elementCount())]

    ref = pg.functions.arrayToQPath(x, y, connect="finite", finiteCheck=False)
    got = finite_path(x, y)
    assert ref.elementCount() > 2
    assert elements(got) == elements(ref)
    c = StripCurve(connect="finite", skipFiniteCheck=True)
    c.setData(x, y)
    assert elements(c.getPath()) == elements(ref)


def test_set_data_short_path_has_pyqtgraphs_effect(qtbot):
    """setData(x, y) on a StripCurve: the same data, bounds, path and signal as pyqtgraph's."""
    x = np.linspace(0, 5, 500)
    y = np.sin(x)
    y[100] = np.nan
    ref = pg.PlotCurveItem(connect="finite", skipFiniteCheck=True)
    got = StripCurve(connect="finite", skipFiniteCheck=True)
    seen = []
    got.sigPlotChanged.connect(lambda item: seen.append(item))
    for c in (ref, got):
        c.setData(np.arange(3.0), np.ones(3))
        c.getPath()
        c.dataBounds(1)
        c.setData(x, y)
    assert seen == [got, got]
    assert got.xData is not None and np.array_equal(got.xData, ref.xData)
    assert np.array_equal(got.yData, ref.yData, equal_nan=True)
    assert got.dataBounds(1) == ref.dataBounds(1)  # the old bounds were dropped
    assert got.getPath().elementCount() == ref.getPath().elementCount() > 3  # the old path too
    with pytest.raises(Exception):
        got.setData(x, y[:-1])  # mismatched shapes: pyqtgraph's error
    got.setData(y=y)  # keywords: pyqtgraph's path
    assert np.array_equal(got.xData, np.arange(500))
