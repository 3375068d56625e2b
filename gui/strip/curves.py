"""Curve item for the strip: pyqtgraph's PlotCurveItem, with its line-segment mode drawn
in device pixels.

Qt strokes wide cosmetic pens about 3x slower when the points come through a scaling
transform (the ViewBox's data-to-pixel matrix) than when the same lines are given in
pixels, so for segment drawing the points are mapped with numpy and the painter's
transform is reset. Everything else (path mode, antialiased curves, fills, export) is
the parent's.
"""
from __future__ import annotations

import pyqtgraph as pg
from pyqtgraph.graphicsItems.PlotCurveItem import arrayToLineSegments
from PySide6 import QtCore, QtGui

__all__ = ["StripCurve", "qcolor", "qpen"]

_SCALE_ONLY = QtGui.QTransform.TransformationType.TxScale.value


class StripCurve(pg.PlotCurveItem):
    """PlotCurveItem whose segment mode (wide opaque pens, no antialiasing) paints in
    device coordinates. Same API and output as the parent."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self._device_segments = None
        self.device_paints = 0  # paints that took the device-pixel path (tests)

    def paint(self, p, opt, widget):
        pen = self.opts["pen"]
        t = p.transform()
        x, y = self.xData, self.yData
        if (x is None or len(x) < 2 or self._exportOpts is not False
                or t.type().value > _SCALE_ONLY
                or self.opts["fillLevel"] is not None or self.opts["stepMode"]
                or self.opts["shadowPen"] is not None
                or self.opts["compositionMode"] is not None
                or pen is None or not self._shouldUseDrawLineSegments(pen)):
            super().paint(p, opt, widget)
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


def qcolor(colour) -> QtGui.QColor:
    """A QColor from an (r, g, b) or (r, g, b, a) tuple (gui.strip.layers colours)."""
    return QtGui.QColor(*colour)


def qpen(pen) -> QtGui.QPen:
    """A cosmetic QPen from a gui.strip.layers.Pen (width in screen pixels)."""
    q = pg.mkPen(qcolor(pen.colour), width=pen.width)
    if pen.dash:
        q.setStyle(QtCore.Qt.PenStyle.DashLine)
    return q
