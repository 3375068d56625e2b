"""Overview bar: the whole record, min/max decimated once, with a draggable region that
shows (and sets) the visible window of the strip."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from .decimate import Pyramid, envelope, interleave, minmax_bins
from .paper import PAPER_BG, TimeAxis

__all__ = ["Overview"]

OVERVIEW_BINS = 2000


class Overview(pg.PlotWidget):
    """Thin plot of the whole record; drag or click the region to move the strip."""

    regionMoved = QtCore.Signal(float, float)  # t0, t1 chosen by the user

    def __init__(self, parent: QtWidgets.QWidget | None = None, height: int = 64):
        self._time_axis = TimeAxis("bottom")
        super().__init__(parent, axisItems={"bottom": self._time_axis}, background=PAPER_BG)
        self.setFixedHeight(height)
        self.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        pi = self.getPlotItem()
        pi.hideAxis("left")
        pi.setMenuEnabled(False)
        pi.hideButtons()
        pi.layout.setContentsMargins(4, 0, 4, 0)
        self._time_axis.setStyle(tickLength=-4, tickTextOffset=1)
        font = QtGui.QFont()
        font.setPointSizeF(7.5)
        self._time_axis.setTickFont(font)
        self._time_axis.setTextPen(pg.mkPen(90, 90, 90))
        self._time_axis.setPen(pg.mkPen(160, 160, 160))
        self._time_axis.setHeight(16)
        # the overview's axis only changes with the record: blit it while the region moves
        self._time_axis.setCacheMode(self._time_axis.CacheMode.DeviceCoordinateCache)
        vb = pi.getViewBox()
        vb.setMouseEnabled(x=False, y=False)
        vb.setMenuEnabled(False)
        vb.enableAutoRange(enable=False)
        self.curve = pg.PlotCurveItem(pen=pg.mkPen(60, 60, 60, 200, width=1), antialias=False,
                                      skipFiniteCheck=True)
        # the record does not change while the region moves: paint the curve once, then blit
        self.curve.setCacheMode(self.curve.CacheMode.DeviceCoordinateCache)
        pi.addItem(self.curve)
        self.region = pg.LinearRegionItem(
            values=(0, 1), movable=True,
            brush=pg.mkBrush(30, 110, 200, 55), hoverBrush=pg.mkBrush(30, 110, 200, 85),
            pen=pg.mkPen(30, 110, 200, 220, width=1.5))
        self.region.setZValue(10)
        pi.addItem(self.region, ignoreBounds=True)
        self.region.sigRegionChanged.connect(self._on_region)
        self._updating = False
        self.duration = 0.0
        vb.scene().sigMouseClicked.connect(self._on_click)

    def set_signal(self, x_mv: np.ndarray | None, fs: float, pyramid: Pyramid | None = None):
        """Show the whole of `x_mv` decimated to about OVERVIEW_BINS min/max pairs
        (read off `pyramid` when given, which costs nothing)."""
        if x_mv is None or len(x_mv) == 0:
            self.curve.setData([], [])
            self.duration = 0.0
            return
        if pyramid is not None:
            env = envelope(x_mv, pyramid, 0, len(x_mv), OVERVIEW_BINS)
        else:
            env = minmax_bins(x_mv, OVERVIEW_BINS)
        pos, y = interleave(env)
        self.curve.setData(pos / fs, y)
        self.duration = len(x_mv) / fs
        lo, hi = float(np.min(env.lo)), float(np.max(env.hi))
        if lo == hi:
            lo, hi = lo - 1, hi + 1
        vb = self.getPlotItem().getViewBox()
        vb.setRange(xRange=(0, self.duration), yRange=(lo, hi), padding=0.02)
        self.region.setBounds((0, self.duration))

    def set_window(self, t0: float, t1: float):
        """Move the region without emitting regionMoved."""
        self._updating = True
        try:
            self.region.setRegion((t0, t1))
        finally:
            self._updating = False

    def _on_region(self):
        if self._updating:
            return
        t0, t1 = self.region.getRegion()
        self.regionMoved.emit(float(t0), float(t1))

    def _on_click(self, ev):
        """Click outside the region: centre the window there."""
        vb = self.getPlotItem().getViewBox()
        if ev.button() != QtCore.Qt.MouseButton.LeftButton:
            return
        if not vb.sceneBoundingRect().contains(ev.scenePos()):
            return
        t = vb.mapSceneToView(ev.scenePos()).x()
        t0, t1 = self.region.getRegion()
        if t0 <= t <= t1:
            return
        w = t1 - t0
        self.regionMoved.emit(float(t - w / 2), float(t + w / 2))
