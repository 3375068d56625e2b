"""Curve item for the strip: pyqtgraph's PlotCurveItem, with its line-segment mode drawn
in device pixels.

Qt strokes wide cosmetic pens about 3x slower when the points come through a scaling
transform (the ViewBox's data-to-pixel matrix) than when the same lines are given in
pixels, so for segment drawing the points are mapped with numpy and the painter's
transform is reset. Everything else (path mode, antialiased curves, fills, export) is
the parent's.

Two more savings for a frame that re-sets every curve's data: vertical bars (the band
fill, "pairs" of equal x drawn with a wide flat-capped pen) are filled as integer
rectangles covering exactly the pixels Qt's stroker covers (a span fill instead of a
stroked polygon per bar), and the data bounds behind boundingRect() (recomputed after
every setData) use ``np.fmin/fmax.reduce`` instead of ``np.nanmin/nanmax`` inside a
``warnings.catch_warnings`` block: the same numbers, about 7x cheaper.
"""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
import shiboken6
from pyqtgraph.graphicsItems.PlotCurveItem import arrayToLineSegments
from PySide6 import QtCore, QtGui

from . import columns as _columns

__all__ = ["StripCurve", "finite_path", "qcolor", "qpen"]

_SCALE_ONLY = QtGui.QTransform.TransformationType.TxScale.value
_FLAT_CAP = QtCore.Qt.PenCapStyle.FlatCap
_SOLID_LINE = QtCore.Qt.PenStyle.SolidLine


class StripCurve(pg.PlotCurveItem):
    """PlotCurveItem whose segment mode (wide opaque pens, no antialiasing) paints in
    device coordinates. Same API and output as the parent."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self._device_segments = None
        self._device_rects = None
        self.device_paints = 0  # paints that took the device-pixel path (tests)
        self.bar_paints = 0     # paints that filled vertical bars as rectangles (tests)
        self.columns = False    # a decimated min/max envelope: paint it as pixel columns
        self.column_paints = 0  # paints that filled envelope columns (tests)

    def setData(self, *args, **kargs):
        """pyqtgraph's setData; setData(x, y) with two 1-D real arrays of one shape (what the
        strip sets on every curve, every frame) takes a short path with the same effect."""
        if kargs or len(args) != 2 or self.opts["stepMode"]:
            return super().setData(*args, **kargs)
        x, y = args
        if (not isinstance(x, np.ndarray) or not isinstance(y, np.ndarray) or x.ndim != 1
                or x.shape != y.shape or x.dtype.kind == "c" or y.dtype.kind == "c"):
            return super().setData(*args, **kargs)
        self.yData = y.view(np.ndarray)
        self.xData = x.view(np.ndarray)
        self.invalidateBounds()
        self.prepareGeometryChange()
        self.informViewBoundsChanged()
        self.path = None
        self.fillPath = None
        self._fillPathList = None
        self._mouseShape = None
        self._lineSegmentsRendered = False
        self.update()
        self.sigPlotChanged.emit(self)

    def dataBounds(self, ax, frac=1.0, orthoRange=None):
        """pyqtgraph's dataBounds (same result, NaNs ignored), cheaper in the usual case
        (whole range, no orthogonal range, no fill level, cosmetic pens)."""
        cache = self._boundsCache[ax]
        if cache is not None and cache[0] == (frac, orthoRange):
            return cache[1]
        d = self.xData if ax == 0 else self.yData
        pen, spen = self.opts["pen"], self.opts["shadowPen"]
        if (ax not in (0, 1) or frac < 1.0 or orthoRange is not None or d is None or len(d) == 0
                or not isinstance(d, np.ndarray) or d.dtype.kind != "f"
                or self.opts["fillLevel"] is not None
                or (pen is not None and not pen.isCosmetic()) or (spen is not None and not spen.isCosmetic())):
            return super().dataBounds(ax, frac, orthoRange)
        b = (float(np.fmin.reduce(d)), float(np.fmax.reduce(d)))  # NaN only when all are NaN
        if math.isinf(b[0]) or math.isinf(b[1]):
            return super().dataBounds(ax, frac, orthoRange)
        self._boundsCache[ax] = [(frac, orthoRange), b]
        return b

    def generatePath(self, x, y):
        """pyqtgraph's path for connect="finite" without a finite check (the strip's curves:
        NaN-separated lines), built element for element the same, with less Python per line:
        the breaks come from one flatnonzero instead of np.split into views."""
        if (self.opts["stepMode"] or self.opts["connect"] != "finite" or not self.opts["skipFiniteCheck"]
                or not isinstance(x, np.ndarray) or not isinstance(y, np.ndarray) or x.shape != y.shape
                or x.ndim != 1 or x.size == 0):
            return super().generatePath(x, y)
        return finite_path(x, y)

    def paint(self, p, opt, widget):
        pen = self.opts["pen"]
        t = p.transform()
        x, y = self.xData, self.yData
        if self.columns and self._paint_columns(p, t, x, y, pen):
            return
        if not self._device_paintable(t, x, pen) or not self._shouldUseDrawLineSegments(pen):
            super().paint(p, opt, widget)
            return
        if self.opts["connect"] == "pairs" and self._paint_bars(p, t, x, y, pen):
            return
        try:
            self._device_segments = arrayToLineSegments(
                x * t.m11() + t.dx(), y * t.m22() + t.dy(), connect=self.opts["connect"],
                finiteCheck=not self.opts["skipFiniteCheck"], out=self._device_segments)
        except Exception:  # an exception escaping paint() kills the process: draw the usual way
            super().paint(p, opt, widget)
            return
        p.save()
        p.resetTransform()
        p.setRenderHint(p.RenderHint.Antialiasing, False)
        p.setPen(pen)
        p.drawLines(*self._device_segments.drawargs())
        p.restore()
        self.device_paints += 1

    def _device_paintable(self, t: QtGui.QTransform, x, pen: QtGui.QPen | None) -> bool:
        """Whether the curve may be drawn in device pixels by this class's own paths: plain data
        (two points or more, not exporting), a scale-and-shift transform, a pen, and none of the
        options those paths do not draw (fill, steps, shadow, composition mode)."""
        return not (x is None or len(x) < 2 or self._exportOpts is not False
                    or t.type().value > _SCALE_ONLY or pen is None
                    or self.opts["fillLevel"] is not None or self.opts["stepMode"]
                    or self.opts["shadowPen"] is not None or self.opts["compositionMode"] is not None)

    def _paint_columns(self, p, t: QtGui.QTransform, x, y, pen: QtGui.QPen) -> bool:
        """A min/max envelope (see gui.strip.columns) of a 1-px opaque solid cosmetic pen,
        without antialiasing, filled as one integer rectangle per pixel column. False
        (nothing drawn) when the data, pen or transform do not fit."""
        if (not self._device_paintable(t, x, pen) or pen.widthF() > 1.0 or not pen.isCosmetic()
                or pen.style() != _SOLID_LINE or not pen.isSolid() or pen.color().alpha() != 255
                or self.opts["antialias"] or self.opts["connect"] != "finite"):
            return False
        # one line of (min, max) pairs, tall enough on average (cheap test first: most curves fail it)
        n = len(y) - (0 if math.isfinite(y[-1]) else 1)
        if n < 2 or n % 2 or not float(np.abs(y[1:n:2] - y[0:n:2]).mean()) * abs(t.m22()) >= _columns.MIN_MEAN_PX:
            return False
        rects = _columns.envelope_rects(x * t.m11() + t.dx(), y * t.m22() + t.dy(), 0.0)
        if rects is None:
            return False
        p.save()
        p.resetTransform()
        p.setRenderHint(p.RenderHint.Antialiasing, False)
        p.setPen(QtCore.Qt.PenStyle.NoPen)
        p.setBrush(pen.color())
        p.drawRects(shiboken6.wrapInstance(rects.ctypes.data, QtCore.QRect), rects.shape[0])
        p.restore()
        self.column_paints += 1
        return True

    def _paint_bars(self, p, t: QtGui.QTransform, x: np.ndarray, y: np.ndarray, pen: QtGui.QPen) -> bool:
        """Pairs that are all vertical lines of a flat-capped solid pen `w` = 2, 3 or 4 px
        wide, filled as rectangles: columns [floor(x - w/2 + 1/2), floor(x + w/2 + 1/2)),
        rows [floor(min y + 1/2), floor(max y + 1/2)) in device pixels, which are the pixels
        Qt's stroker fills for such a line (tested); a rectangle fill is a span fill, far
        cheaper than stroking. False (nothing drawn) when the data or pen do not fit."""
        w = pen.widthF()
        if (w not in (2.0, 3.0, 4.0) or pen.capStyle() != _FLAT_CAP or pen.style() != _SOLID_LINE
                or not pen.isSolid() or not pen.isCosmetic() or len(x) % 2 or len(y) != len(x)
                or not np.array_equal(x[0::2], x[1::2])):
            return False
        dx = x[0::2] * t.m11() + t.dx()
        ya, yb = y[0::2] * t.m22() + t.dy(), y[1::2] * t.m22() + t.dy()
        c0 = np.floor(dx - w / 2 + 0.5)
        r0 = np.floor(np.minimum(ya, yb) + 0.5)
        r1 = np.floor(np.maximum(ya, yb) + 0.5)
        if not (np.abs(c0).max(initial=0.0) < 1e6 and np.abs(r0).max(initial=0.0) < 1e6
                and np.abs(r1).max(initial=0.0) < 1e6):  # NaN, inf, far off: stroke them
            return False
        keep = r1 > r0
        if not keep.all():
            c0, r0, r1 = c0[keep], r0[keep], r1[keep]
        rects = self._device_rects
        if rects is None or rects.shape[0] < c0.size:
            rects = self._device_rects = np.empty((max(64, 2 * c0.size), 4), np.int32)
        m = rects[:c0.size]  # QRect: left, top, right, bottom (inclusive), whole pixels
        m[:, 0] = c0
        m[:, 1] = r0
        m[:, 2] = c0 + (w - 1)
        m[:, 3] = r1 - 1
        p.save()
        p.resetTransform()
        p.setRenderHint(p.RenderHint.Antialiasing, False)
        p.setPen(QtCore.Qt.PenStyle.NoPen)
        p.setBrush(pen.color())
        if c0.size:  # QRect, not QRectF: Qt fills integer rectangles without rasterising them
            p.drawRects(shiboken6.wrapInstance(m.ctypes.data, QtCore.QRect), c0.size)
        p.restore()
        self.bar_paints += 1
        return True


def finite_path(x: np.ndarray, y: np.ndarray) -> QtGui.QPainterPath:
    """The QPainterPath of pyqtgraph's ``arrayToQPath(x, y, "finite", finiteCheck=False)``:
    one polygon per run of finite points (x, y (n,)), each run but the last ending with a
    copy of its last point where the non-finite one was; runs of one point left out."""
    path = QtGui.QPainterPath()
    n = x.shape[0]
    path.reserve(n)
    bad = np.flatnonzero(~(np.isfinite(x) & np.isfinite(y)))
    ends = np.append(bad + 1, n)  # each chunk includes its trailing non-finite point
    starts = np.empty_like(ends)
    starts[0] = 0
    starts[1:] = ends[:-1]
    sizes = ends - starts
    poly = pg.functions.create_qpolygonf(int(sizes.max()))
    buf = pg.functions.ndarray_from_qpolygonf(poly)
    last = len(ends) - 1
    for i, (a, b) in enumerate(zip(starts.tolist(), ends.tolist())):
        lc = b - a
        if lc <= 1:
            continue
        poly.resize(lc)
        buf[:lc, 0] = x[a:b]
        buf[:lc, 1] = y[a:b]
        if i < last:
            buf[lc - 1] = buf[lc - 2]  # the non-finite point: its neighbour again
        path.addPolygon(poly)
    return path


def qcolor(colour) -> QtGui.QColor:
    """A QColor from an (r, g, b) or (r, g, b, a) tuple (gui.strip.layers colours)."""
    return QtGui.QColor(*colour)


def qpen(pen) -> QtGui.QPen:
    """A cosmetic QPen from a gui.strip.layers.Pen (width in screen pixels)."""
    q = pg.mkPen(qcolor(pen.colour), width=pen.width)
    if pen.dash:
        q.setStyle(QtCore.Qt.PenStyle.DashLine)
    return q
