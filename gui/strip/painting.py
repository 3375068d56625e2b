"""QPainter helpers for drawing ECG paper in millimetres (gui.strip.export): a checked
begin/end, opaque colour blending, pens sized in mm, paths from arrays and text in points."""
from __future__ import annotations

from contextlib import contextmanager

import numpy as np
from PySide6 import QtCore, QtGui


@contextmanager
def painting(device, error: Exception):
    """A QPainter on `device` for the block, ended however the block leaves; `error` raised
    when the device cannot be painted on (a file that cannot be opened, an image too large)."""
    painter = QtGui.QPainter()
    if not painter.begin(device):
        raise error
    try:
        yield painter
    finally:
        painter.end()


def blend(fg: QtGui.QColor, bg: QtGui.QColor, alpha: float) -> QtGui.QColor:
    """`fg` at `alpha` over `bg`, as an opaque colour.  QPdfWriter needs minutes to close a
    file with many semi-transparent paths, so the PDF uses no transparency."""
    f, b = QtGui.QColor(fg), QtGui.QColor(bg)
    mix = lambda a, c: int(round(c + (a - c) * alpha))
    return QtGui.QColor(mix(f.red(), b.red()), mix(f.green(), b.green()), mix(f.blue(), b.blue()))


def mm_pen(colour, width_mm, dash=False):
    pen = QtGui.QPen(QtGui.QColor(colour), width_mm)
    pen.setCapStyle(QtCore.Qt.PenCapStyle.RoundCap)
    pen.setJoinStyle(QtCore.Qt.PenJoinStyle.RoundJoin)
    if dash:
        pen.setStyle(QtCore.Qt.PenStyle.DashLine)
    return pen


def qpath(x, y) -> QtGui.QPainterPath:
    import pyqtgraph as pg

    return pg.functions.arrayToQPath(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64),
                                     connect="all", finiteCheck=False)


def device_dpmm(p) -> float:
    return p.device().logicalDpiX() / 25.4


def draw_text(p, x_mm, y_mm, text, size_pt, colour=None, background=None):
    """Draw text with its baseline at (x_mm, y_mm), size in points, in a mm-scaled painter."""
    p.save()
    p.translate(x_mm, y_mm)
    s = 1.0 / device_dpmm(p)  # back to device units, where point sizes are right
    p.scale(s, s)
    font = QtGui.QFont("Helvetica")
    font.setPointSizeF(size_pt)
    p.setFont(font)
    if background is not None:
        fm = QtGui.QFontMetricsF(font, p.device())
        r = fm.boundingRect(text)
        p.fillRect(r.adjusted(-fm.height() * 0.15, 0, fm.height() * 0.15, 0), background)
    if colour is not None:
        p.setPen(QtGui.QPen(colour))
    p.drawText(QtCore.QPointF(0, 0), text)
    p.restore()
