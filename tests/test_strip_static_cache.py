"""Continuous mode's left axis, blitted from a pixmap while the view pans: the same pixels
as painting it, redrawn when it changes, and painted directly in rows mode."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pyqtgraph")
from PySide6 import QtGui, QtWidgets  # noqa: E402

NO_CACHE = QtWidgets.QGraphicsItem.CacheMode.NoCache
DEVICE = QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache


def _pixels(v) -> np.ndarray:
    v.plot.repaint()
    QtWidgets.QApplication.processEvents()
    im = v.plot.grab().toImage().convertToFormat(QtGui.QImage.Format.Format_RGB32)
    a = np.frombuffer(im.constBits(), np.uint32).reshape(im.height(), im.bytesPerLine() // 4)
    return a[:, :im.width()].copy()


def _cached(v) -> list:
    return [v._left_axis]


def _uncached_pixels(v) -> np.ndarray:
    """The same view painted with every cache off (then the caches put back)."""
    its = [it for it in _cached(v)]
    modes = [it.cacheMode() for it in its]
    for it in its:
        it.setCacheMode(NO_CACHE)
    px = _pixels(v)
    for it, m in zip(its, modes):
        it.setCacheMode(m)
    return px


@pytest.fixture
def strip(qtbot):
    from gui_fixtures import shown_free_strip

    v = shown_free_strip(qtbot, 1000, 620)
    t = np.arange(6000) / 300.0
    x = (np.sin(2 * np.pi * t) * 0.8).astype(np.float32)
    v.set_record(x, 300.0, "s")
    v.set_adversarial(x + 0.01 * np.cos(7 * t).astype(np.float32))
    return v


def test_continuous_left_axis_cached_and_same_pixels(strip):
    strip.set_mode("continuous")
    assert strip._left_axis.cacheMode() == DEVICE
    for view in ((1.0, 6.0), (7.3, 15.1)):  # pans: the axis blitted
        strip.set_view(*view)
        assert np.array_equal(_pixels(strip), _uncached_pixels(strip))
    before = _pixels(strip)
    strip.set_perturbation_gain(10)  # the lane's axis labels change: redrawn, not stale
    after = _pixels(strip)
    assert not np.array_equal(before, after)
    assert np.array_equal(after, _uncached_pixels(strip))
    strip.set_mode("rows")  # rows: the left axis changes with every zoom, painted directly
    assert strip._left_axis.cacheMode() == NO_CACHE
    assert np.array_equal(_pixels(strip), _uncached_pixels(strip))
