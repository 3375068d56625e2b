"""Envelope columns (gui/strip/columns.py, StripCurve's column path): a decimated min/max
envelope filled as one rectangle per pixel column covers what Qt's stroked polyline
covers, up to one pixel at the ends of a column; the strip uses it zoomed out."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pyqtgraph")
import shiboken6  # noqa: E402
from PySide6 import QtCore, QtGui  # noqa: E402
from scipy.ndimage import binary_dilation  # noqa: E402

from gui.strip.columns import envelope_rects  # noqa: E402
from gui.strip.curves import finite_path  # noqa: E402
from gui.strip.decimate import build_pyramid, envelope, interleave  # noqa: E402

W, H = 900, 500


def _ecg(n: int, seed: int = 0) -> np.ndarray:
    """ECG-like test signal (mV): narrow tall spikes every ~0.8 s at 300 Hz, a slow wave, noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    x = 0.2 * np.sin(t / 90.0) + 0.03 * rng.standard_normal(n)
    for c in range(100, n, 240):
        x[max(0, c - 6):c + 6] += np.hanning(min(12, n - max(0, c - 6)))[: len(x[max(0, c - 6):c + 6])] * 1.5
    return x.astype(np.float32)


def _pixels(X, Y, columns: bool) -> np.ndarray:
    img = QtGui.QImage(W, H, QtGui.QImage.Format.Format_RGB32)
    img.fill(QtGui.QColor(255, 255, 255))
    p = QtGui.QPainter(img)
    if columns:
        r = envelope_rects(X, Y, 0.0)
        assert r is not None
        p.setPen(QtCore.Qt.PenStyle.NoPen)
        p.setBrush(QtGui.QColor(0, 0, 0))
        p.drawRects(shiboken6.wrapInstance(r.ctypes.data, QtCore.QRect), r.shape[0])
    else:
        pen = QtGui.QPen(QtGui.QColor(0, 0, 0))
        pen.setCosmetic(True)
        p.setPen(pen)
        p.drawPath(finite_path(X, Y))
    p.end()
    a = np.frombuffer(img.constBits(), np.uint32).reshape(H, img.bytesPerLine() // 4)[:, :W]
    return (a & 0xFFFFFF) == 0


@pytest.mark.parametrize("count,scale,rows", [(400_000, 120.0, 1), (20_000, 150.0, 1), (6000, 60.0, 1),
                                              (12_000, 40.0, 3)])
def test_columns_cover_the_stroked_envelope(qapp, count, scale, rows):
    x = _ecg(count * rows + 10)
    pyr = build_pyramid(x)
    nb = 850
    X, Y = [], []
    for r in range(rows):  # rows of NaN-separated lines, as the strip draws them
        env = envelope(x, pyr, r * count, (r + 1) * count, nb)
        assert not env.raw
        pos, y = interleave(env)
        X += [(pos - r * count) / count * nb + 20.37, [np.nan]]
        Y += [-(y - np.median(y)) * scale + (r + 0.5) * H / rows + 0.29, [np.nan]]
    X, Y = np.concatenate(X), np.concatenate(Y)
    a, b = _pixels(X, Y, False), _pixels(X, Y, True)
    diff = a ^ b
    assert a.sum() > 3000
    assert diff.sum() <= 0.05 * a.sum()  # a few pixels at column ends
    near = binary_dilation(a, np.ones((3, 3), bool)) & binary_dilation(b, np.ones((3, 3), bool))
    assert (diff & ~near).sum() <= 0.001 * a.sum()  # and next to ink in both


def test_not_an_envelope_is_stroked():
    x = np.array([0.0, 0.0, 1.0, 1.0]) * 5 + 10
    y = np.array([0.0, 100.0, 3.0, 200.0])
    assert envelope_rects(x, y, 0.0) is not None
    assert envelope_rects(x + [0, 0.5, 0, 0], y, 0.0) is None           # a pair not vertical
    assert envelope_rects(x[:3], y[:3], 0.0) is None                     # odd count
    assert envelope_rects(np.array([10.0, np.nan, 10.0, 15.0, 15.0]), np.r_[0.0, 0, 1, 2, 3], 0.0) is None
    assert envelope_rects(x, y, 1000.0) is None                          # short columns: stroke
    assert envelope_rects(x * 1e7, y, 0.0) is None                       # far off


def _paint(v) -> None:
    from PySide6 import QtWidgets

    v.plot.repaint()
    QtWidgets.QApplication.processEvents()


def test_strip_paints_a_zoomed_out_record_as_columns(qtbot, monkeypatch):
    from gui.strip import columns
    from gui_fixtures import shown_free_strip

    monkeypatch.setattr(columns, "MIN_MEAN_PX", 1.0)

    v = shown_free_strip(qtbot, 1000, 600)
    v.set_record(_ecg(300 * 600), 300.0, "t")
    v.set_mode("continuous")
    item = v.renderer.trace["original"].item
    v.set_view(0, 600)
    _paint(v)
    assert item.columns and item.column_paints > 0
    v.set_view(1.0, 3.0)  # raw samples: stroked
    n = item.column_paints
    _paint(v)
    assert not item.columns and item.column_paints == n
    monkeypatch.setattr(columns, "MIN_MEAN_PX", 1e6)  # columns too short: stroked
    v.set_view(0, 600)
    _paint(v)
    assert item.columns and item.column_paints == n
    monkeypatch.setattr(columns, "MIN_MEAN_PX", 1.0)
    v.set_mode("rows")  # several rows (short strips): always stroked
    v.set_seconds_per_row(60.0)
    v.set_view(0, 600)
    _paint(v)
    assert len(v._segments()) > 1 and not item.columns and item.column_paints == n


def _raster(rects: np.ndarray, shape) -> np.ndarray:
    img = np.zeros(shape, np.int32)
    for left, top, right, bottom in rects.tolist():
        img[max(0, top):bottom + 1, max(0, left):right + 1] += 1
    return img > 0


@pytest.mark.parametrize("seed", range(4))
def test_joined_columns_cover_exactly_the_columns(seed):
    """The wide rectangles of the shared rows plus what is left of each column: the same
    pixels as one rectangle per column (empty columns included), and fewer one-pixel rows."""
    from gui.strip.columns import _blocked, _plain

    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 400))
    col = np.arange(n, dtype=np.float64) + 7
    mid = 150 + 40 * np.sin(np.arange(n) / 15.0)
    top = np.floor(mid - rng.uniform(0, 120, n))
    bottom = np.floor(mid + rng.uniform(-5, 120, n))
    empty = rng.random(n) < 0.03
    top[empty], bottom[empty] = np.inf, -np.inf
    plain, joined = _plain(col, top, bottom), _blocked(col, top, bottom)
    assert np.array_equal(_raster(plain, (320, n + 10)), _raster(joined, (320, n + 10)))
    narrow_rows = lambda r: int(((r[:, 3] - r[:, 1] + 1) * (r[:, 2] == r[:, 0])).sum())
    if n >= 48:
        assert narrow_rows(joined) < narrow_rows(plain)
