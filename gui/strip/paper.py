"""ECG paper: colours, scale constants, the grid item, the calibration pulse and axes.

Paper geometry follows the standard 12-lead printout: small squares 1 mm = 0.04 s x
0.1 mV, large squares 5 mm = 0.2 s x 0.5 mV at 25 mm/s and 10 mm/mV.  The grid lives in
view coordinates (seconds, mV), so it stays aligned with the traces at every zoom;
lines closer than a few pixels are left out (a 24-h overview would otherwise draw
millions of them), so the paper fades to plain background when zoomed far out.
"""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
import shiboken6
from PySide6 import QtCore, QtGui

from . import layers as _layers
# paper scale, calibration pulse and time labels: pure maths, in gui.strip.scale (re-exported)
from .scale import (ASPECT, LARGE_MV, LARGE_S, MM_PER_MV, MM_PER_S, PULSE_START_S, ROW_MARGIN_S,
                    SMALL_MV, SMALL_S, calibration_pulse, format_time)

__all__ = [
    "MM_PER_S", "MM_PER_MV", "SMALL_S", "SMALL_MV", "LARGE_S", "LARGE_MV", "ASPECT",
    "PAPER_BG", "SMALL_LINE", "LARGE_LINE", "INK", "PaperGrid", "calibration_pulse",
    "PULSE_START_S", "ROW_MARGIN_S", "format_time", "TimeAxis", "LabelAxis",
]

# Colours of printed ECG paper: near-white pink sheet, faint small squares, stronger large.
PAPER_BG = QtGui.QColor(255, 248, 246)
SMALL_LINE = QtGui.QColor(246, 196, 196)
LARGE_LINE = QtGui.QColor(228, 128, 128)
INK = QtGui.QColor(*_layers.INK)

_SCALE_ONLY = QtGui.QTransform.TransformationType.TxScale.value

MIN_LINE_SPACING_PX = 3.0   # leave out grid lines closer than this ...
FULL_LINE_SPACING_PX = (8.0, 14.0)  # ... and fade them in up to this spacing (small, large)


def _fade(colour: QtGui.QColor, spacing_px: float, full_px: float) -> QtGui.QColor:
    """Line colour blended towards the paper when lines are dense, so that a zoomed-out
    grid does not turn the paper red."""
    f = min(1.0, max(0.25, (spacing_px - MIN_LINE_SPACING_PX) / (full_px - MIN_LINE_SPACING_PX)))
    mix = lambda a, b: int(round(b + (a - b) * f))
    return QtGui.QColor(mix(colour.red(), PAPER_BG.red()), mix(colour.green(), PAPER_BG.green()),
                        mix(colour.blue(), PAPER_BG.blue()))


class PaperGrid(pg.GraphicsObject):
    """Pink ECG-paper grid covering whatever part of the view is visible.

    Add it to a ViewBox with ``ignoreBounds=True``; call :meth:`view_changed` when the
    view range or size changes (the strip view does).
    """

    def __init__(self):
        super().__init__()
        self.setZValue(-1000)
        self.setFlag(self.GraphicsItemFlag.ItemUsesExtendedStyleOption)
        self._rect = QtCore.QRectF(0, 0, 1, 1)
        self.small_pen = QtGui.QPen(SMALL_LINE, 1)
        self.small_pen.setCosmetic(True)
        self.large_pen = QtGui.QPen(LARGE_LINE, 1)
        self.large_pen.setCosmetic(True)
        self.min_spacing_px = MIN_LINE_SPACING_PX
        self.lines_drawn = 0  # number of lines in the last paint (for tests / bench)

    def view_changed(self):
        vb = self.getViewBox()
        if vb is None:
            return
        r = vb.viewRect()
        if r != self._rect:
            self.prepareGeometryChange()
            self._rect = QtCore.QRectF(r)
        self.update()

    def boundingRect(self):
        return self._rect

    def set_colours(self, small: QtGui.QColor, large: QtGui.QColor):
        self.small_pen.setColor(small)
        self.large_pen.setColor(large)
        self.update()

    def _levels(self, r: QtCore.QRectF, px_per_s: float, px_per_mv: float) -> list:
        """Lines to draw, in drawing order: (vertical, positions in s or mV, colour, small)."""
        x0, x1 = r.left(), r.right()
        y0, y1 = min(r.top(), r.bottom()), max(r.top(), r.bottom())
        full = dict(zip((True, False), FULL_LINE_SPACING_PX))
        out = []
        for step_s, step_mv, base_pen, is_small in ((SMALL_S, SMALL_MV, self.small_pen, True),
                                                    (LARGE_S, LARGE_MV, self.large_pen, False)):
            # vertical (time) and horizontal (amplitude) lines separately: each fades
            # with its own spacing
            for vertical, step, spacing, lo, hi in ((True, step_s, step_s * px_per_s, x0, x1),
                                                    (False, step_mv, step_mv * px_per_mv, y0, y1)):
                if spacing < self.min_spacing_px:
                    continue
                k = np.arange(math.ceil(lo / step), math.floor(hi / step) + 1)
                v = (k[k % 5 != 0] if is_small else k) * step
                if v.size:
                    out.append((vertical, v, _fade(base_pen.color(), spacing, full[is_small]), is_small))
        return out

    def paint(self, p, opt, widget):
        vb = self.getViewBox()
        if vb is None:
            return
        r = vb.viewRect()
        w_px, h_px = max(1.0, vb.width()), max(1.0, vb.height())
        if r.width() <= 0 or r.height() <= 0:
            return
        levels = self._levels(r, w_px / r.width(), h_px / r.height())
        self.lines_drawn = int(sum(v.size for _, v, _, _ in levels))
        p.setRenderHint(p.RenderHint.Antialiasing, False)
        t = p.transform()
        engine = p.paintEngine()
        if engine is not None and engine.type() == QtGui.QPaintEngine.Type.Raster \
                and t.type().value <= _SCALE_ONLY and t.m11() > 0:
            _paint_or_fall_back(p, lambda q: self._paint_pixels(q, t, r, levels),
                                lambda: self._paint_lines(p, r, levels))
        else:
            self._paint_lines(p, r, levels)

    def _paint_lines(self, p, r, levels):
        """Each level as one path of point pairs (vector output: SVG, PDF)."""
        x0, x1 = r.left(), r.right()
        y0, y1 = min(r.top(), r.bottom()), max(r.top(), r.bottom())
        for vertical, v, colour, is_small in levels:
            a = np.repeat(v, 2)
            b = np.tile([y0, y1] if vertical else [x0, x1], v.size)
            px, py = (a, b) if vertical else (b, a)
            pen = QtGui.QPen(self.small_pen if is_small else self.large_pen)
            pen.setColor(colour)
            p.setPen(pen)
            p.drawPath(pg.functions.arrayToQPath(px, py, connect="pairs", finiteCheck=False))

    def _paint_pixels(self, p, t: QtGui.QTransform, r: QtCore.QRectF, levels) -> bool:
        """The same grid on a raster device, 2-3x cheaper: Qt fills a 1-px vertical line
        row by row, so the vertical lines become one row of pixels tiled down the view
        (a texture brush) and the horizontal lines are rectangles; the pixels match the
        lines' (floor of the device coordinate). Returns False to fall back to lines."""
        X = sorted((r.left() * t.m11() + t.dx(), r.right() * t.m11() + t.dx()))
        Y = sorted((r.top() * t.m22() + t.dy(), r.bottom() * t.m22() + t.dy()))
        c0, c1 = math.floor(X[0]), math.floor(X[1]) + 1  # a line on the far edge is drawn too
        r0, r1 = math.floor(Y[0]), math.floor(Y[1]) + 1
        w, h = c1 - c0, r1 - r0
        if not (0 < w <= 32768 and 0 < h <= 32768):
            return False
        paper = np.full(w, PAPER_BG.rgba(), np.uint32)  # rows between horizontal lines
        small_h = None  # rows of small horizontal lines: large vertical lines cross them
        large_cols = np.zeros(0, np.int64)
        large_v_colour = 0
        rects = []  # (row indices, colour or None for the small_h texture)
        for vertical, v, colour, is_small in levels:
            if vertical:
                cols = np.floor(v * t.m11() + t.dx()).astype(np.int64) - c0
                cols = cols[(cols >= 0) & (cols < w)]
                paper[cols] = colour.rgba()
                if not is_small:
                    large_cols, large_v_colour = cols, colour.rgba()
            else:
                rows = np.unique(np.floor(v * t.m22() + t.dy()).astype(np.int64))
                rows = rows[(rows >= r0) & (rows < r1)]
                if is_small:
                    small_h = colour.rgba()
                    rects.append((rows, None))
                else:
                    rects.append((rows, colour))
        p.resetTransform()
        p.setPen(QtCore.Qt.PenStyle.NoPen)
        p.setBrushOrigin(c0, 0)
        p.fillRect(QtCore.QRectF(c0, r0, w, h), QtGui.QBrush(_row_image(paper)))
        for rows, colour in rects:
            if not rows.size:
                continue
            if colour is None:
                row = np.full(w, small_h, np.uint32)
                row[large_cols] = large_v_colour
                p.setBrush(QtGui.QBrush(_row_image(row)))
            else:
                p.setBrush(colour)
            m = np.empty((rows.size, 4), np.int32)  # QRect: left, top, right, bottom (inclusive)
            m[:, 0] = c0
            m[:, 1] = rows
            m[:, 2] = c0 + w - 1
            m[:, 3] = rows
            # integer QRects: Qt fills them directly, QRectFs go through the rasteriser (2x slower)
            p.drawRects(shiboken6.wrapInstance(m.ctypes.data, QtCore.QRect), rows.size)
        return True


def _paint_or_fall_back(p: QtGui.QPainter, fast, fallback) -> None:
    """Paint with `fast(p)` between save() and restore(); if it returns False or raises, restore
    and paint with `fallback()` instead (an exception escaping a Qt paint() kills the process)."""
    p.save()
    try:
        done = fast(p) is not False
    except Exception:
        done = False
    p.restore()
    if not done:
        fallback()


def _row_image(row: np.ndarray) -> QtGui.QImage:
    """One row of 0xAARRGGBB pixels as a QImage that owns its memory."""
    img = QtGui.QImage(row.data, row.size, 1, row.size * 4, QtGui.QImage.Format.Format_ARGB32)
    return img.copy()


_TIME_STEPS = [0.04, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200,
               3 * 3600, 6 * 3600, 12 * 3600, 24 * 3600]


class _DirectAxis(pg.AxisItem):
    """AxisItem (bottom or left) that draws its line, ticks and first-level labels straight
    onto the painter: what pyqtgraph's generic path draws (tested pixel for pixel), without
    its draw specs and QPicture, which cost ~1 ms on every range change, i.e. on every frame
    of a pan or zoom. Anything unusual (export, grid, fixed ticks, more text levels) and any
    error fall back to pyqtgraph's painting."""

    def __init__(self, orientation: str, **kw):
        super().__init__(orientation, **kw)
        self.enableAutoSIPrefix(False)  # no SI prefixes here; it re-set the label every frame
        self.setStyle(maxTextLevel=0)   # labels on the first tick level only
        self._text_cache: dict[str, tuple[float, float]] = {}  # label -> (width, height) px
        self._text_cache_key: tuple | None = None

    def paint(self, p, opt, widget):
        if (self._exportOpts is not False or self.orientation not in ("bottom", "left")
                or self.grid is not False or self._tickLevels is not None
                or self.style["maxTextLevel"] != 0 or not self.style["showValues"]):
            super().paint(p, opt, widget)
            return
        _paint_or_fall_back(p, self._paint_direct, lambda: super(_DirectAxis, self).paint(p, opt, widget))

    def _paint_direct(self, p) -> None:
        bounds = self.mapRectFromParent(self.geometry())
        r0, r1 = self.range
        bottom = self.orientation == "bottom"
        size = bounds.width() if bottom else bounds.height()
        if r1 == r0 or size <= 0:
            return
        if bottom:  # the axis line (pyqtgraph's "span") and where ticks start
            a = QtCore.QPointF(bounds.left() - 1.0, bounds.top() + 1.0)
            b = QtCore.QPointF(bounds.right() + 1.0, bounds.top() + 1.0)
            base = bounds.top()
            scale = size / (r1 - r0)
            shift = r0 * scale
        else:
            a = QtCore.QPointF(bounds.right() - 1.0, bounds.top() - 1.0)
            b = QtCore.QPointF(bounds.right() - 1.0, bounds.bottom() + 1.0)
            base = bounds.right()
            scale = -size / (r1 - r0)
            shift = r0 * scale - size
        ends = [self.mapToDevice(q) for q in (a, b)]
        if None in ends:
            return
        length_px = math.hypot(ends[1].x() - ends[0].x(), ends[1].y() - ends[0].y())
        levels = self.tickValues(r0, r1, length_px)
        lo, hi = sorted((r0 * scale - shift, r1 * scale - shift))
        p.setRenderHint(p.RenderHint.Antialiasing, False)
        p.setRenderHint(p.RenderHint.TextAntialiasing, True)
        p.setPen(self.pen())
        p.drawLine(a, b)
        tick_len = self.style["tickLength"]
        positions = []
        for i, (_, values) in enumerate(levels):
            pen = QtGui.QPen(self.tickPen())
            colour = QtGui.QColor(pen.color())
            alpha = self.style["tickAlpha"]
            colour.setAlpha(int(255 / (i + 1)) if alpha is None else
                            max(0, min(255, int(round(alpha * 255 if isinstance(alpha, float) else alpha)))))
            pen.setColor(colour)
            p.setPen(pen)
            end = base + (tick_len if bottom else -tick_len) / (i * 0.5 + 1.0)
            xs = [v * scale - shift for v in values]
            xs = [x if lo <= x <= hi else None for x in xs]
            positions.append(xs)
            lines = [QtCore.QLineF(x, base, x, end) if bottom else QtCore.QLineF(base, x, end, x)
                     for x in xs if x is not None]
            if lines:
                p.drawLines(lines)
        if not levels:
            return
        font = self.style["tickFont"]
        if font is not None:
            p.setFont(font)
        strings = self.tickStrings(levels[0][1], self.autoSIPrefixScale * self.scale, levels[0][0])
        key = (p.font().key(),)
        if self._text_cache_key != key:
            self._text_cache, self._text_cache_key = {}, key
        gap = max(0.0, tick_len) + self.style["tickTextOffset"][1 if bottom else 0]
        flags = int((QtCore.Qt.AlignmentFlag.AlignHCenter | QtCore.Qt.AlignmentFlag.AlignTop) if bottom
                    else (QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter))
        flags |= int(QtCore.Qt.TextFlag.TextDontClip)
        br = self.boundingRect()
        p.setPen(self.textPen())
        p.setClipRect(br.toAlignedRect())
        size2 = 0.0  # the labels' extent across the axis (pyqtgraph sizes the axis with it)
        for x, text in zip(positions[0], strings):
            if x is None or text is None:
                continue
            wh = self._text_cache.get(text)
            if wh is None:
                r = p.boundingRect(QtCore.QRectF(0, 0, 100, 100), QtCore.Qt.AlignmentFlag.AlignCenter, text)
                wh = self._text_cache[text] = (r.width(), r.height() * 0.8)
            w, h = wh
            size2 = max(size2, h if bottom else w)
            rect = (QtCore.QRectF(x - w / 2.0, base + gap, w, h) if bottom
                    else QtCore.QRectF(base - gap - w, x - h / 2.0, w, h))
            if br & rect != rect:
                continue
            p.drawText(rect, flags, text)
        self._updateMaxTextSize(size2)


class TimeAxis(_DirectAxis):
    """Bottom axis with time ticks on ECG-friendly steps (0.2 s, 1 s ... 1 h) as m:ss."""

    def __init__(self, orientation="bottom", **kw):
        super().__init__(orientation, **kw)
        self.min_major_px = 70.0  # labels at least this far apart
        self.offset = 0.0  # added to the tick values for the labels

    def tickSpacing(self, minVal, maxVal, size):
        span = maxVal - minVal
        if span <= 0 or size <= 0:
            return []
        per_px = span / size
        major = next((s for s in _TIME_STEPS if s / per_px >= self.min_major_px), _TIME_STEPS[-1])
        minors = [s for s in _TIME_STEPS if s < major and major % s < 1e-9 and s / per_px >= 12]
        out = [(major, 0)]
        if minors:
            out.append((minors[-1], 0))
        return out

    def tickValues(self, minVal, maxVal, size):
        """pyqtgraph's tickValues (the same levels and values), with the test for ticks
        already on a coarser level as a plain |a - b| <= spacing/100 instead of
        np.isclose, whose overhead was most of the call (once a frame)."""
        if self.logMode:
            return super().tickValues(minVal, maxVal, size)
        minVal, maxVal = sorted((minVal, maxVal))
        minVal *= self.scale
        maxVal *= self.scale
        ticks = []
        seen = np.zeros(0)
        for spacing, offset in self.tickSpacing(minVal, maxVal, size):
            start = (math.ceil((minVal - offset) / spacing) * spacing) + offset
            num = int((maxVal - start) / spacing) + 1
            values = (np.arange(num) * spacing + start) / self.scale
            if seen.size and values.size:
                close = (np.abs(seen[None, :] - values[:, None]) <= spacing / self.scale * 0.01).any(axis=1)
                values = values[~close]
            seen = np.concatenate([seen, values])
            ticks.append((spacing / self.scale, values.tolist()))
        return ticks

    def tickStrings(self, values, scale, spacing):
        span = 0.0
        vr = self.range
        if vr:
            span = abs(vr[1] - vr[0])
        return [format_time(v + self.offset, spacing, span) for v in values]


class LabelAxis(_DirectAxis):
    """Axis whose ticks and labels come from a callback: ``ticks(lo, hi) -> [(value, label)]``."""

    def __init__(self, orientation="left", ticks=None, **kw):
        super().__init__(orientation, **kw)
        self._ticks_fn = ticks
        self._labels: dict[float, str] = {}

    def set_static(self, on: bool) -> None:
        """Render into a pixmap once and blit it while it does not change (Qt redraws it on
        update(), which every range or label change calls): for a range that stays put
        while the view pans (continuous mode's y)."""
        mode = self.CacheMode.DeviceCoordinateCache if on else self.CacheMode.NoCache
        if self.cacheMode() != mode:
            self.setCacheMode(mode)

    def set_ticks_fn(self, fn):
        self._ticks_fn = fn
        self.picture = None
        self.update()

    def tickValues(self, minVal, maxVal, size):
        if self._ticks_fn is None:
            return super().tickValues(minVal, maxVal, size)
        pairs = self._ticks_fn(min(minVal, maxVal), max(minVal, maxVal))
        self._labels = {round(v, 6): s for v, s in pairs}
        return [(1.0, [v for v, _ in pairs])]

    def tickStrings(self, values, scale, spacing):
        if self._ticks_fn is None:
            return super().tickStrings(values, scale, spacing)
        return [self._labels.get(round(v, 6), "") for v in values]
