"""Navigation of the strip: the viewport (rows mode keeps squares square), pan, scroll,
zoom, home/end, real size, keys, wheel and the overview bar.

:class:`Navigation` is a mixin of :class:`gui.strip.view.StripView` (it uses the view's
``model`` and ViewBox ``_vb``); the maths is in :class:`gui.strip.model.StripModel`.

Keys: Left/Right pan by 1/10 window (rows: one row; along a row wider than the view first), PageUp/PageDown by a window,
Up/Down one row (rows mode), Home/End, +/- zoom, Space play, C calipers.  Wheel scrolls
(time in continuous mode, rows in rows mode; Shift+wheel pans a row sideways), Ctrl+wheel
zooms around the mouse, left drag pans, right drag zooms (rows mode: uniformly).
"""
from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6 import QtCore, QtGui

from .model import ASPECT, MM_PER_MV, MM_PER_S, ROW_MARGIN_S, ROW_RIGHT_PAD_S

__all__ = ["Navigation", "StripViewBox"]


class StripViewBox(pg.ViewBox):
    """ViewBox whose wheel is routed to the strip (scroll, Ctrl = zoom)."""

    def __init__(self, owner):
        super().__init__(enableMenu=False, defaultPadding=0)
        self._owner = owner

    def wheelEvent(self, ev, axis=None):
        self._owner._on_wheel(ev.delta(), ev.modifiers(), self.mapToView(ev.pos()))
        ev.accept()

    def mouseDragEvent(self, ev, axis=None):
        o = self._owner
        if ev.button() == QtCore.Qt.MouseButton.RightButton and (o.model.mode == "rows" or not o.free_zoom()):
            # uniform zoom (squares stay square): drag up = zoom in
            ev.accept()
            dy = ev.pos().y() - ev.lastPos().y()
            if dy:
                o.zoom(1.01 ** (-dy), self.mapToView(ev.buttonDownPos()))
            return
        super().mouseDragEvent(ev, axis)

    def keyPressEvent(self, ev):  # let the strip handle keys
        ev.ignore()


class Navigation:
    """Viewport and navigation methods of StripView (mixin)."""

    # ------------------------------------------------------------ viewport
    def _vb_size(self) -> tuple[float, float]:
        return max(10.0, self._vb.width()), max(10.0, self._vb.height())

    def _set_x(self, t0: float, t1: float, keep_y: bool = True) -> None:
        """Continuous mode: show x in [t0, t1]; unless free zoom, the y range follows so
        squares stay square (centred on the row, or, with keep_y, where the user panned to)."""
        t0, t1 = self.model.min_window(t0, t1)
        if self._free or self.model.mode != "continuous":
            self._vb.setRange(xRange=(t0, t1), padding=0)
            return
        y0, y1 = self._vb.viewRange()[1]
        yc = (y0 + y1) / 2 if keep_y else None
        w_px, h_px = self._vb_size()
        # the row fills the view's height at this zoom (strip in 1 mV steps, 3..20 mV)
        if self.model.fill_strip(h_px * ASPECT * (t1 - t0) / w_px - 0.2, 1):
            self._axis_changed()
        yr = self.model.continuous_calibrated_y(t0, t1, w_px, h_px, yc)
        self._vb.setRange(xRange=(t0, t1), yRange=yr, padding=0)

    def _fit_y_continuous(self) -> None:
        """Continuous mode: the y range for the current x range (the row, with free zoom)."""
        if self.model.mode != "continuous":
            return
        if self._free:
            self._vb.setRange(yRange=self.model.continuous_y_range(), padding=0)
        else:
            self._set_x(*self._vb.viewRange()[0])

    def _continuous_home(self) -> None:
        """Continuous mode from the start, `seconds_per_row` across (the strip fills the
        view's height unless free zoom, see _set_x)."""
        m = self.model
        t1 = min(m.duration(), m.spr)
        if self._free:
            self._vb.setRange(xRange=m.min_window(-ROW_MARGIN_S, t1), yRange=m.continuous_y_range(), padding=0)
            return
        self._set_x(-ROW_MARGIN_S, t1, keep_y=False)

    def _rows_show(self, r0: int, fit_rows: int | None) -> None:
        """Rows mode: row r0 at the top.  fit_rows=None: fit the row width to the view
        (as many rows as the height allows); fit_rows=k: also make k rows fit."""
        vp, fit = self.model.rows_viewport(r0, fit_rows, *self._vb_size())
        self.model.rows_fit = fit
        self._rows_set(*vp)

    def _rows_set(self, x_lo: float, top: float, sx: float) -> None:
        """Rows mode: left edge x_lo (s), top edge (mV), sx px per s; y scale = sx / ASPECT."""
        w_px, h_px = self._vb_size()
        x_lo, top, sx = self.model.rows_clamp(x_lo, top, sx, w_px, h_px)
        self.model.rows_vp = (x_lo, top, sx)
        xr, yr = self.model.rows_ranges(x_lo, top, sx, w_px, h_px)
        self._clamping = True
        try:
            self._vb.setRange(xRange=xr, yRange=yr, padding=0)
        finally:
            self._clamping = False

    def _top_row(self) -> int:
        return self.model.first_row_in(*self._vb.viewRange()[1])

    def _home_view(self) -> None:
        m = self.model
        if m.mode == "rows":
            self._rows_show(0, fit_rows=None)
        else:
            self._continuous_home()
        if self._real:
            self._apply_real_size(top_row=0)

    def _apply_real_size(self, top_row: int | None = None) -> None:
        m = self.model
        if m.x is None:
            return
        vb = self._vb
        ppmm = self.px_per_mm()
        w_s = vb.width() / (MM_PER_S * ppmm)
        h_mv = vb.height() / (MM_PER_MV * ppmm)
        (x0, x1), (y0, y1) = vb.viewRange()
        if m.mode == "rows":
            m.rows_fit = False
            r0 = self._top_row() if top_row is None else top_row
            self._rows_set(-ROW_MARGIN_S, m.row_top(r0), MM_PER_S * ppmm)
        else:
            yc = (y0 + y1) / 2
            vb.setRange(xRange=(x0, x0 + w_s), yRange=(yc - h_mv / 2, yc + h_mv / 2), padding=0)

    def _leave_real_size(self) -> None:
        if self._real:
            self._real = False
            self._sync_toolbar()
            self.realSizeChanged.emit(False)

    # ------------------------------------------------------------ calibration
    def _fit_keep_place(self) -> None:
        m = self.model
        if m.x is None:
            return
        if m.mode == "rows":
            self._rows_show(self._top_row(), fit_rows=None)
        else:
            t0 = self._vb.viewRange()[0][0]
            self._continuous_home()
            w = self._vb.viewRange()[0]
            self._set_x(t0, t0 + (w[1] - w[0]))

    def set_free_zoom(self, on: bool) -> None:
        """Free zoom: in continuous mode x and y zoom independently (the paper is then not
        calibrated, see is_calibrated); off: squares square again."""
        on = bool(on)
        if on == self._free:
            return
        self._free = on
        m = self.model
        if m.x is not None and m.mode == "continuous":
            x0, x1 = self._vb.viewRange()[0]
            if on:  # the row as tall as the view, at the asked-for strip height
                m.fill_strip(0.0, 1)
                self._layout_changed()
            else:
                self._continuous_home()
                self._set_x(x0, x1)
            self._replace_calipers()  # the strip's baseline moved: calipers back onto it (else off-view)
        self._sync_toolbar()
        self._refresh()
        self._sync_time()

    def free_zoom(self) -> bool:
        return self._free

    def is_calibrated(self) -> bool:
        """Whether the paper on screen is calibrated: square boxes, i.e. (px per s) /
        (px per mV) = 25/10, so 0.2 s × 0.5 mV large squares (rows mode always; continuous
        mode unless free zoom: the strip keeps them so, whatever the zoom or size; with free
        zoom, whether they happen to be square).  Real size also makes them 5 mm on screen."""
        if self.model.mode == "rows" or not self._free:
            return True
        (x0, x1), (y0, y1) = self._vb.viewRange()
        w, h = self._vb_size()
        ratio = (w / max(1e-12, x1 - x0)) / (h / max(1e-12, y1 - y0))
        return abs(ratio / ASPECT - 1.0) < 0.01

    # ------------------------------------------------------------ public navigation
    def pan(self, fraction: float) -> None:
        """Move by `fraction` of the window (rows mode: by rows, at least one; a step under a
        whole window, the arrow keys', first pans along rows wider than the view and goes on
        to the next row's start, or the previous row's end, at their edge)."""
        m = self.model
        if m.x is None:
            return
        (x0, x1), (y0, y1) = self._vb.viewRange()
        if m.mode == "continuous":
            w = x1 - x0
            self._set_x(x0 + fraction * w, x1 + fraction * w)
        elif abs(fraction) < 1 and self._pan_along_row(fraction, x1 - x0):
            return
        else:
            nvis = max(1, len(m.rows_with_baseline_in(y0, y1)))
            k = fraction * nvis
            k = math.copysign(max(1, round(abs(k))), k) if k else 0
            self.scroll_rows(int(k))

    def _pan_along_row(self, fraction: float, w: float) -> bool:
        """Rows mode, zoomed in so that a row is wider than the view (w s): move along it by
        `fraction` of the view, across to the neighbouring row at its edge. False when the whole
        row is in view (the caller then moves by rows)."""
        m = self.model
        lo, hi = -ROW_MARGIN_S, m.row_len() + ROW_RIGHT_PAD_S - w
        if hi <= lo + 1e-9:
            return False
        x_lo, top, sx = m.rows_vp
        x_new = min(max(x_lo + fraction * w, lo), hi)
        if abs(x_new - x_lo) > 1e-9:
            self._rows_set(x_new, top, sx)
            return True
        r = self._top_row() + (1 if fraction > 0 else -1)
        if 0 <= r < m.row_count():
            self._rows_set(lo if fraction > 0 else hi, m.row_top(r), sx)
        return True

    def scroll_rows(self, k: int) -> None:
        """Rows mode: scroll by k rows (positive: later in the record), snapped to row tops."""
        m = self.model
        if m.x is None or m.mode != "rows":
            return
        r_new = max(0, min(m.row_count() - 1, self._top_row() + k))
        x_lo, _, sx = m.rows_vp
        self._rows_set(x_lo, m.row_top(r_new), sx)

    def zoom(self, factor: float, center: QtCore.QPointF | None = None) -> None:
        """Zoom in by `factor` (> 1) or out (< 1), around `center` (view coords)."""
        m = self.model
        if m.x is None or factor <= 0:
            return
        self._leave_real_size()
        (x0, x1), _ = self._vb.viewRange()
        if m.mode == "continuous":
            cx = center.x() if center is not None else (x0 + x1) / 2
            self._set_x(*m.continuous_zoom(x0, x1, factor, cx))
        else:
            x_lo, top, sx = m.rows_vp
            m.rows_fit = False
            if center is None:  # keys: keep the top-left corner, from the record's start at the
                # latest (rows narrower than the view are centred: zooming back in from there left
                # blank paper before 0 s on most of the strip)
                self._rows_set(max(x_lo, -ROW_MARGIN_S), top, sx * factor)
                return
            cx, cy = center.x(), center.y()
            self._rows_set(cx - (cx - x_lo) / factor, cy + (top - cy) / factor, sx * factor)

    def go_home(self) -> None:
        m = self.model
        if m.x is None:
            return
        if m.mode == "rows":
            self._rows_set(-ROW_MARGIN_S, 0.0, m.rows_vp[2])
        else:
            (x0, x1), _ = self._vb.viewRange()
            self._set_x(-ROW_MARGIN_S, -ROW_MARGIN_S + (x1 - x0))

    def go_end(self) -> None:
        m = self.model
        if m.x is None:
            return
        if m.mode == "rows":
            x_lo, top, sx = m.rows_vp
            h_mv = self._vb_size()[1] / (sx / ASPECT)
            self._rows_set(x_lo, m.row_top(m.row_count()) + h_mv, sx)
        else:
            (x0, x1), _ = self._vb.viewRange()
            end = m.duration() + ROW_RIGHT_PAD_S
            self._set_x(end - (x1 - x0), end)

    # ------------------------------------------------------------ input
    def keyPressEvent(self, ev: QtGui.QKeyEvent) -> None:  # noqa: N802 (Qt)
        if not self._handle_key(ev):
            super().keyPressEvent(ev)

    def eventFilter(self, obj, ev):  # noqa: N802 (Qt)
        if ev.type() == QtCore.QEvent.Type.KeyPress and obj in (self.plot, self.plot.viewport()):
            if self._handle_key(ev):
                return True
        return super().eventFilter(obj, ev)

    def _handle_key(self, ev: QtGui.QKeyEvent) -> bool:
        K = QtCore.Qt.Key
        key, text = ev.key(), ev.text()
        rows = self.model.mode == "rows"
        if key == K.Key_Left:
            self.pan(-0.1)
        elif key == K.Key_Right:
            self.pan(0.1)
        elif key == K.Key_Up and rows:
            self.scroll_rows(-1)
        elif key == K.Key_Down and rows:
            self.scroll_rows(1)
        elif key == K.Key_PageUp:
            self.pan(-1.0)
        elif key == K.Key_PageDown:
            self.pan(1.0)
        elif key == K.Key_Home:
            self.go_home()
        elif key == K.Key_End:
            self.go_end()
        elif key in (K.Key_Plus, K.Key_Equal) or text in ("+", "="):
            self.zoom(1.5)
        elif key in (K.Key_Minus, K.Key_Underscore) or text in ("-", "_"):
            self.zoom(1 / 1.5)
        elif key == K.Key_Space:
            self.play(not self.is_playing())
        elif key == K.Key_C and not ev.modifiers() & QtCore.Qt.KeyboardModifier.ControlModifier:
            self.set_calipers_visible(not self.calipers.visible)
        else:
            return False
        ev.accept()
        return True

    def _on_wheel(self, delta: int, mods, pos: QtCore.QPointF) -> None:
        m = self.model
        if m.x is None or not delta:
            return
        notches = delta / 120.0
        if mods & QtCore.Qt.KeyboardModifier.ControlModifier:
            self.zoom(1.25 ** notches, pos)
        elif m.mode == "continuous":
            self.pan(-0.1 * notches)
        elif mods & QtCore.Qt.KeyboardModifier.ShiftModifier:
            x_lo, top, sx = m.rows_vp
            self._rows_set(x_lo - 0.1 * notches * self._vb_size()[0] / sx, top, sx)
        else:
            self.scroll_rows(-int(round(notches)) or (-1 if notches > 0 else 1))

    def _on_overview(self, t0: float, t1: float) -> None:
        m = self.model
        if m.x is None:
            return
        if m.mode == "continuous":
            self._set_x(t0, t1)
        else:
            self.scroll_rows(int(max(0.0, t0) // m.spr) - self._top_row())
