"""StripView: an ECG review strip on calibrated paper (pyqtgraph).

Public API (signals in mV, float32 numpy arrays; fs in Hz) — the main window embeds this:

    v = StripView(parent=None, toolbar=True)
    v.set_record(x_mv, fs, name="")           # original trace; clears every overlay
    v.set_adversarial(x_mv | None)             # also defines perturbation = adv - original
    v.set_band(lo_mv | None, hi_mv | None)     # filled min/max envelope
    v.set_band_members(members (K, n) | None)  # thin lines; at most max_members_drawn drawn
    v.set_layer_visible(layer, bool)           # "original", "adversarial", "perturbation",
                                               # "band", "members", "difference"
    v.set_perturbation_gain(10 | 100)
    v.set_mode("rows" | "continuous"); v.set_seconds_per_row(10.0); v.set_real_size(bool)
    v.set_view(t0, t1); v.view_range() -> (t0, t1)   # record time in s
    v.play(bool); v.set_play_speed(1.0)
    v.set_calipers_visible(bool)
    v.export_png(path, width_px=None); v.export_svg(path); v.export_pdf(path)
    signals: timeChanged(t0, t1), caliperChanged(dict: dt_ms, dmv, hr_bpm, t0, t1),
             layerVisibilityChanged(layer, bool), modeChanged(str), realSizeChanged(bool),
             playingChanged(bool)

Also public (beyond the brief): go_home(), go_end(), pan(fraction), scroll_rows(k),
zoom(factor), has_layer(layer), layer_drawn(layer), layer_visible(layer), legend_labels(),
mode(), seconds_per_row(), row_count(), duration(), perturbation_gain(), real_size(),
paper_scale() -> (mm/s, mm/mV), px_per_mm(), is_playing(), play_position(),
set_crosshair_enabled(bool), set_row_heights(strip_mv=3, lane_mv=2), memory_bytes(),
paper_spec(), the attributes max_members_drawn (40; read by set_band_members),
play_speed, last_open_s, toolbar (None with toolbar=False), plot, plot_item, overview.

Layout.  Every row (one in continuous mode) is a *strip* of ``strip_mv`` mV around its
baseline, followed — when the perturbation is shown — by a *lane* of ``lane_mv`` mV
holding the perturbation (adversarial − original) multiplied by the gain and labelled
"perturbation ×100"; the band is drawn both on the strip (true scale) and in the lane
(relative to the original, magnified), where its width is visible; band members (thin
lines, at most ``max_members_drawn``) go in the lane when it is shown, else on the strip.
The "difference" layer draws adversarial − original at true scale (×1) on the strip's
baseline.  In rows mode, row r shows record time [r·T, (r+1)·T) at view x = t − r·T and
view y = value − r·pitch; the paper grid is shared, so squares stay square.

Drawing.  Each signal gets a min/max pyramid once (``decimate.build_pyramid``); every
view change sets on each curve only the visible slice, decimated to about one min/max
pair per pixel, so the cost of a frame does not depend on the record length.

Navigation.  Keys: Left/Right pan by 1/10 window (rows: one row), PageUp/PageDown by a
window, Up/Down one row (rows mode), Home/End, +/- zoom, Space play, C calipers.
Wheel scrolls (time in continuous mode, rows in rows mode), Ctrl+wheel zooms around
the mouse, left drag pans, right drag zooms.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from . import export as _export
from .calipers import Calipers, Crosshair, format_readout
from .decimate import (Pyramid, build_pyramid, envelope, envelope_rows, interleave, pyramid_nbytes,
                       subsample_index)
from .curves import StripCurve, qcolor, qpen
from .layers import ADVERSARIAL_RGB, BAND_BAR_RGB, DEFAULT_VISIBLE, LAYER, LAYER_DECLS, LAYERS
from .layers import CURSOR_PEN as CURSOR_PEN_DECL
from .layers import LANE_ZERO_PEN as LANE_ZERO_PEN_DECL
from .layers import PULSE_PEN as PULSE_PEN_DECL
from .layers import layer as layer_decl
from .overview import Overview
from .paper import (ASPECT, INK, MM_PER_MV, MM_PER_S, PAPER_BG, ROW_MARGIN_S, LabelAxis,
                    PaperGrid, TimeAxis, calibration_pulse, format_time)

__all__ = ["StripView", "LAYERS"]

# Pens come from the layer declarations (gui.strip.layers).  They are opaque on purpose:
# translucent or wide antialiased strokes of dense paths are what makes QPainter slow
# (see bench/bench_strip.py).  Wide pens are drawn as segments.
ADVERSARIAL_COLOUR = qcolor(ADVERSARIAL_RGB)
ORIGINAL_PEN = qpen(LAYER["original"].pen)
ADVERSARIAL_PEN = qpen(LAYER["adversarial"].pen)
PERTURBATION_PEN = qpen(LAYER["perturbation"].pen)
DIFFERENCE_PEN = qpen(LAYER["difference"].pen)
BAND_BRUSH = pg.mkBrush(qcolor(LAYER["band"].fill))
BAND_EDGE_PEN = qpen(LAYER["band"].pen)
MEMBER_PEN = qpen(LAYER["members"].pen)
BAND_BAR_COLOUR = qcolor(BAND_BAR_RGB)
BAND_BARS_MAX_PX = 2.0      # band samples closer than this: drawn as bars, not a polygon
BAND_BAR_PX = 2             # width of one band bar in pixels
MEMBER_POINTS_BUDGET = 6_000
MEMBER_MIN_PX = 8            # members get at least one point per this many pixels
STRIP_BAND_MIN_PX = 1.5      # with the perturbation lane on, a thinner band is drawn only there
MIN_MEMBERS_ZOOMED_OUT = 4   # members drawn at least, however far zoomed out
MEMBER_INK_BUDGET_PX = 60_000  # drawn member length in pixels (cost grows with it)
PULSE_PEN = qpen(PULSE_PEN_DECL)
LANE_ZERO_PEN = qpen(LANE_ZERO_PEN_DECL)
CURSOR_PEN = qpen(CURSOR_PEN_DECL)
LAYER_PENS = {d.key: qpen(d.pen) for d in LAYER_DECLS}

AA_MAX_POINTS = 6000      # antialias a curve only below this many points
ROW_RIGHT_PAD_S = 0.12
MIN_WINDOW_S = 0.2        # zoom-in limit (continuous mode)
MAX_ROWS_VISIBLE = 60     # zoom-out limit (rows mode)


@dataclass
class _Source:
    data: np.ndarray
    pyr: Pyramid | None


@dataclass
class _Trace:
    key: str
    layer: str
    src: str
    where: str      # "strip" | "lane"
    kind: str       # "minmax" | "min" | "max" (envelope of a pyramid) | "sub" (subsampled)
    item: pg.PlotCurveItem
    pen: QtGui.QPen
    aa: bool = True                # antialias raw samples (when few enough)
    dec_width: float = 1.0         # pen width on decimated min/max strokes
    raw_state: tuple | None = None  # last pen state: (raw samples, antialiased)
    twin: pg.PlotCurveItem | None = None  # second 1-px pass of decimated strokes (dec_width > 1)

    def set_raw(self, raw: bool, n_points: int):
        """Full pen (antialiased if few points) on raw samples; on decimated min/max strokes a
        1-px pen, drawn twice one pixel apart when `dec_width` > 1 (the `twin`): a wide pen on
        thousands of strokes costs several ms per frame, two 1-px passes about a third."""
        state = (raw, raw and self.aa and n_points <= AA_MAX_POINTS)
        if state == self.raw_state:
            return
        self.raw_state = state
        it = self.item
        if raw:
            it.opts["antialias"] = state[1]
            it.setSegmentedLineMode("on" if self.pen.widthF() > 1 else "off")
            it.setPen(self.pen)
        else:
            pen = QtGui.QPen(self.pen)
            pen.setWidthF(1.0 if self.twin is not None else self.dec_width)
            it.opts["antialias"] = False
            it.setSegmentedLineMode("on" if pen.widthF() > 1 else "off")
            it.setPen(pen)
            if self.twin is not None:
                self.twin.setPen(pen)

    def twin_active(self) -> bool:
        return self.twin is not None and self.raw_state is not None and not self.raw_state[0]

    def hide(self) -> None:
        self.item.hide()
        if self.twin is not None:
            self.twin.hide()


def _equal_runs(segs: list) -> list[list]:
    """Consecutive visible row pieces with the same sample count and bins, in order."""
    runs: list[list] = []
    for sg in segs:
        if runs and (sg[2] - sg[1], sg[3]) == (runs[-1][0][2] - runs[-1][0][1], runs[-1][0][3]):
            runs[-1].append(sg)
        else:
            runs.append([sg])
    return runs


def _append_lines(xs: list, ys: list, xv: np.ndarray, y: np.ndarray, gain: float,
                  offs: np.ndarray) -> None:
    """Append lines y (k, m) at x positions xv (m,) or (k, m), scaled by `gain` and shifted
    by offs (k,) or (1,), each followed by a NaN break, to the point lists xs, ys."""
    k, m = y.shape
    X = np.empty((k, m + 1))
    X[:, :m] = xv
    X[:, m] = np.nan
    Y = np.empty((k, m + 1))
    Y[:, :m] = y
    if gain != 1.0:
        Y[:, :m] *= gain
    Y[:, :m] += offs[:, None] if offs.size == k else offs[0]
    Y[:, m] = np.nan
    xs.append(X.ravel())
    ys.append(Y.ravel())


def _member_lines(data: np.ndarray, i0s: np.ndarray, count: int, nb: int, n_segs: int,
                  samples_per_px: float, px_per_unit: float) -> tuple[np.ndarray, np.ndarray]:
    """Which band members to draw over `count` samples from each row start in i0s (rows of
    nb pixels), and where: sample positions relative to the row start (m,) and values
    (rows, k, m). The same members in every row, judged on the first; only their samples
    are read."""
    k = data.shape[0]
    sel = np.arange(k)

    def keep(sel: np.ndarray, n: int) -> np.ndarray:
        # n < size: the rounded, evenly spaced picks are distinct and increasing
        return sel[np.linspace(0, sel.size - 1, n).round().astype(np.intp)] if n < sel.size else sel

    per_px = count / max(1, nb)  # samples per pixel
    if per_px > 2:
        # zoomed out: the lines merge into the band anyway and their cost grows with the
        # pixels they cover, so draw fewer of them
        sel = keep(sel, max(MIN_MEMBERS_ZOOMED_OUT, int(round(k * 2 / per_px))))
    # within the budget, fewer members at a readable resolution (at least one point per
    # MEMBER_MIN_PX pixels) rather than many crude polylines
    k_fit = MEMBER_POINTS_BUDGET // max(1, n_segs * max(1, nb // MEMBER_MIN_PX))
    sel = keep(sel, max(MIN_MEMBERS_ZOOMED_OUT, k_fit))
    pts = min(nb, MEMBER_POINTS_BUDGET // max(1, sel.size * n_segs))
    rel = subsample_index(count, 0, count, max(16, pts))
    probe = data[np.ix_(keep(sel, min(8, sel.size)), i0s[0] + rel)]  # a few tell the jaggedness
    sel = keep(sel, _members_within_ink(rel, probe, sel.size, samples_per_px, px_per_unit,
                                        MEMBER_INK_BUDGET_PX / n_segs))
    y = data[sel[None, :, None], i0s[:, None, None] + rel[None, None, :]]
    return rel.astype(np.float64), y


def _members_within_ink(pos: np.ndarray, probe: np.ndarray, k: int, samples_per_px: float,
                        px_per_unit: float, budget_px: float) -> int:
    """How many of k members fit in `budget_px` pixels of drawn line (at least
    MIN_MEMBERS_ZOOMED_OUT), judged from a few of them, `probe` (j, m), at sample positions
    `pos` (m,): members of a magnified band are jagged, and Qt's cost grows with the length
    of line it draws."""
    if k <= MIN_MEMBERS_ZOOMED_OUT or pos.size < 2:
        return k
    dx = np.diff(pos) / max(1e-12, samples_per_px)
    dy = np.abs(np.diff(probe, axis=1)).mean(axis=0) * px_per_unit
    ink = float(np.maximum(dx, dy).sum()) * k
    if ink <= budget_px:
        return k
    return max(MIN_MEMBERS_ZOOMED_OUT, int(k * budget_px / ink))


class _StripViewBox(pg.ViewBox):
    """ViewBox whose wheel is routed to the strip (scroll, Ctrl = zoom)."""

    def __init__(self, owner: "StripView"):
        super().__init__(enableMenu=False, defaultPadding=0)
        self._owner = owner

    def wheelEvent(self, ev, axis=None):
        self._owner._on_wheel(ev.delta(), ev.modifiers(), self.mapToView(ev.pos()))
        ev.accept()

    def mouseDragEvent(self, ev, axis=None):
        o = self._owner
        if o._mode == "rows" and ev.button() == QtCore.Qt.MouseButton.RightButton:
            # uniform zoom (squares stay square): drag up = zoom in
            ev.accept()
            dy = ev.pos().y() - ev.lastPos().y()
            if dy:
                o.zoom(1.01 ** (-dy), self.mapToView(ev.buttonDownPos()))
            return
        super().mouseDragEvent(ev, axis)

    def keyPressEvent(self, ev):  # let the strip handle keys
        ev.ignore()


class StripView(QtWidgets.QWidget):
    """ECG strip on ECG paper with overlays, overview bar, calipers, play and export."""

    timeChanged = QtCore.Signal(float, float)
    caliperChanged = QtCore.Signal(dict)
    layerVisibilityChanged = QtCore.Signal(str, bool)
    modeChanged = QtCore.Signal(str)
    realSizeChanged = QtCore.Signal(bool)
    playingChanged = QtCore.Signal(bool)

    def __init__(self, parent: QtWidgets.QWidget | None = None, toolbar: bool = True):
        super().__init__(parent)
        self.setFocusPolicy(QtCore.Qt.FocusPolicy.StrongFocus)
        # ---- state
        self._x: np.ndarray | None = None
        self._fs = 300.0
        self._n = 0
        self._name = ""
        self._src: dict[str, _Source] = {}
        self._n_members_total = 0
        self._band_width_mv = 0.0  # widest point of the band (mV), for the level of detail
        self._visible = dict(DEFAULT_VISIBLE)
        self._gain = 100
        self._mode = "rows"
        self._spr = 10.0
        self._strip_mv = 3.0
        self._lane_mv = 2.0
        self._real = False
        self._render_width: float | None = None
        # rows-mode viewport: left edge (s), top (mV), scale (px per s); fit: follow the width
        self._rows_vp = (-ROW_MARGIN_S, 0.0, 100.0)
        self._rows_fit = True
        self._clamping = False
        self._in_refresh = False
        self._last_time = None
        self.max_members_drawn = 40   # band members drawn (evenly chosen); the band shows the rest
        self.play_speed = 1.0
        self._playing = False
        self._play_t = 0.0
        self._play_clock = QtCore.QElapsedTimer()
        self._play_timer = QtCore.QTimer(self)
        self._play_timer.setInterval(30)
        self._play_timer.timeout.connect(self._play_tick)
        self.last_open_s = 0.0  # seconds set_record took (pyramid + first layout)

        # ---- plot
        self._bottom_axis = TimeAxis("bottom")
        self._left_axis = LabelAxis("left", ticks=self._left_ticks)
        self._vb = _StripViewBox(self)
        self.plot = pg.PlotWidget(viewBox=self._vb,
                                  axisItems={"bottom": self._bottom_axis, "left": self._left_axis},
                                  background=PAPER_BG)  # one fill per frame, not two
        self.plot.setFocusPolicy(QtCore.Qt.FocusPolicy.ClickFocus)
        self.plot.installEventFilter(self)
        self.plot.viewport().installEventFilter(self)
        self.plot_item: pg.PlotItem = self.plot.getPlotItem()
        self.plot_item.setMenuEnabled(False)
        self.plot_item.hideButtons()
        self.plot_item.layout.setContentsMargins(2, 4, 8, 2)
        self._vb.enableAutoRange(enable=False)
        self._vb.setMouseMode(pg.ViewBox.PanMode)
        axis_pen = pg.mkPen(150, 150, 150)
        text_pen = pg.mkPen(50, 50, 50)
        font = QtGui.QFont()
        font.setPointSizeF(9)
        for ax in (self._bottom_axis, self._left_axis):
            ax.setPen(axis_pen)
            ax.setTextPen(text_pen)
            ax.setTickFont(font)
            ax.setStyle(tickLength=-5)
        self._left_axis.setWidth(62)
        self._bottom_axis.setHeight(22)

        self.grid = PaperGrid()
        self._vb.addItem(self.grid, ignoreBounds=True)

        def curve(pen, z, aa=False):
            c = StripCurve(pen=pen, antialias=aa, connect="finite", skipFiniteCheck=True)
            if pen.widthF() > 1:
                c.setSegmentedLineMode("on")
            c.setZValue(z)
            self._vb.addItem(c, ignoreBounds=True)
            return c

        self._pulse = curve(PULSE_PEN, 5)
        self._lane_zero = curve(LANE_ZERO_PEN, 1)
        self._cursor = curve(CURSOR_PEN, 800)

        def T(key, layer, src, where, kind, **kw):
            pen, z = LAYER_PENS[layer], LAYER[layer].z  # declared in gui.strip.layers
            tr = _Trace(key, layer, src, where, kind, curve(pen, z), pen, **kw)
            if tr.dec_width > 1:
                tr.twin = curve(pen, z)
                tr.twin.hide()
            return tr

        self._traces: list[_Trace] = [
            T("band_lo", "band", "lo", "strip", "min"),
            T("band_hi", "band", "hi", "strip", "max"),
            T("lane_band_lo", "band", "lo_d", "lane", "min"),
            T("lane_band_hi", "band", "hi_d", "lane", "max"),
            T("members", "members", "mem", "strip", "sub"),
            T("lane_members", "members", "mem_d", "lane", "sub"),
            T("adversarial", "adversarial", "adv", "strip", "minmax", aa=False, dec_width=2.0),
            T("original", "original", "x", "strip", "minmax"),
            T("difference", "difference", "diff", "strip", "minmax"),
            T("perturbation", "perturbation", "diff", "lane", "minmax"),
        ]
        self._trace = {t.key: t for t in self._traces}
        self._fills = []
        for lo, hi in (("band_lo", "band_hi"), ("lane_band_lo", "lane_band_hi")):
            f = pg.FillBetweenItem(self._trace[lo].item, self._trace[hi].item, brush=BAND_BRUSH)
            f.setZValue(1)
            self._vb.addItem(f, ignoreBounds=True)
            self._fills.append(f)
        self._band_bars = []
        for _ in range(2):
            b = StripCurve(connect="pairs", antialias=False, skipFiniteCheck=True)
            b.setZValue(1)
            b.hide()
            self._vb.addItem(b, ignoreBounds=True)
            self._band_bars.append(b)
        self._lane_labels: list[pg.TextItem] = []

        # legend: proxies carry the pens; clicking an entry toggles the layer
        self.legend = pg.LegendItem(offset=None, brush=pg.mkBrush(255, 255, 255, 225),
                                    pen=pg.mkPen(190, 190, 190), labelTextColor=(30, 30, 30),
                                    labelTextSize="9pt", verSpacing=-4)
        # above the strips (the plot's title cell), so it never covers the first row; columns
        # follow the width (see _fit_legend) so it never widens the window
        self.legend.setColumnCount(3)
        self.legend.setSizePolicy(QtWidgets.QSizePolicy.Policy.Fixed, QtWidgets.QSizePolicy.Policy.Fixed)
        title = self.plot_item.titleLabel  # unused: its cell holds the legend
        self.plot_item.layout.removeItem(title)
        title.hide()
        self.plot_item.layout.addItem(self.legend, 0, 1, QtCore.Qt.AlignmentFlag.AlignRight)
        self.legend.setZValue(1000)
        self.legend.sigSampleClicked.connect(self._on_legend_click)
        self._proxies: dict[str, pg.PlotDataItem] = {}
        for d in LAYER_DECLS:
            if d.fill is not None:
                self._proxies[d.key] = pg.PlotDataItem(pen=qpen(d.swatch), fillLevel=0,
                                                       fillBrush=pg.mkBrush(qcolor(d.fill)))
            else:
                self._proxies[d.key] = pg.PlotDataItem(pen=qpen(d.swatch))

        self.crosshair = Crosshair(self._vb)
        self.crosshair.moved.connect(self._on_crosshair)
        self.calipers = Calipers(self._vb)
        self.calipers.changed.connect(self._on_calipers)

        # ---- overview, info bar, toolbar
        self.overview = Overview(self)
        self.overview.regionMoved.connect(self._on_overview)
        self.info = QtWidgets.QLabel(self)
        self.info.setTextFormat(QtCore.Qt.TextFormat.PlainText)
        self.info.setStyleSheet("QLabel { color: #333; padding: 1px 6px; }")
        self.caliper_info = QtWidgets.QLabel(self)
        self.caliper_info.setStyleSheet("QLabel { color: #0060b0; padding: 1px 6px; font-weight: bold; }")
        info_row = QtWidgets.QHBoxLayout()
        info_row.setContentsMargins(0, 0, 0, 0)
        info_row.addWidget(self.info, 1)
        info_row.addWidget(self.caliper_info, 0)

        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        self.toolbar: QtWidgets.QToolBar | None = None
        if toolbar:
            self.toolbar = self._make_toolbar()
            lay.addWidget(self.toolbar)
        lay.addWidget(self.plot, 1)
        lay.addWidget(self.overview)
        lay.addLayout(info_row)

        self._vb.sigRangeChanged.connect(self._on_range_changed)
        self._vb.sigResized.connect(self._on_resized)
        self._apply_mode_settings()
        self._update_legend()
        self._update_info()

    # ================================================================== public API
    def set_record(self, x_mv: np.ndarray, fs: float, name: str = "") -> None:
        """Show `x_mv` (1-D, mV) sampled at `fs` Hz; clears every overlay and the play state."""
        clock = QtCore.QElapsedTimer()
        clock.start()
        x = np.ascontiguousarray(np.asarray(x_mv, dtype=np.float32).reshape(-1))
        if x.size < 2:
            raise ValueError("record needs at least 2 samples")
        if not fs or fs <= 0:
            raise ValueError(f"invalid sampling rate {fs!r}")
        self.play(False)
        self._x, self._fs, self._n, self._name = x, float(fs), int(x.size), str(name)
        self._src = {"x": _Source(x, build_pyramid(x))}
        self._n_members_total = 0
        self.overview.set_signal(x, self._fs, self._src["x"].pyr)
        self._apply_mode_settings()
        self._home_view()
        self._update_legend()
        self._refresh()
        self._update_info()
        self.last_open_s = clock.nsecsElapsed() / 1e9

    def set_adversarial(self, x_mv: np.ndarray | None) -> None:
        """Overlay an adversarial version of the record (same length); None removes it."""
        for k in ("adv", "diff"):
            self._src.pop(k, None)
        if x_mv is not None:
            adv = self._check_same_length(x_mv, "adversarial")
            self._src["adv"] = _Source(adv, build_pyramid(adv))
            diff = adv - self._x
            self._src["diff"] = _Source(diff, build_pyramid(diff))
        self._layout_changed()

    def set_band(self, lo_mv: np.ndarray | None, hi_mv: np.ndarray | None) -> None:
        """Band envelope (per-sample min and max of the band, mV); None removes it."""
        for k in ("lo", "hi", "lo_d", "hi_d"):
            self._src.pop(k, None)
        if lo_mv is not None and hi_mv is not None:
            lo = self._check_same_length(lo_mv, "band lo")
            hi = self._check_same_length(hi_mv, "band hi")
            self._src["lo"] = _Source(lo, build_pyramid(lo))
            self._src["hi"] = _Source(hi, build_pyramid(hi))
            lo_d, hi_d = lo - self._x, hi - self._x
            self._src["lo_d"] = _Source(lo_d, build_pyramid(lo_d))
            self._src["hi_d"] = _Source(hi_d, build_pyramid(hi_d))
            self._band_width_mv = float(np.nanmax(hi - lo)) if lo.size else 0.0
        self._layout_changed()

    def set_band_members(self, members: np.ndarray | None) -> None:
        """Band members (K, n) in mV; at most `max_members_drawn` (evenly chosen, the first
        always) are drawn; None removes them."""
        for k in ("mem", "mem_d"):
            self._src.pop(k, None)
        self._n_members_total = 0
        if members is not None:
            if self._x is None:
                raise ValueError("set_record first")
            m = np.asarray(members, dtype=np.float32)
            if m.ndim == 1:
                m = m[None, :]
            if m.ndim != 2 or m.shape[1] != self._n:
                raise ValueError(f"band members must be (K, {self._n}), got {m.shape}")
            self._n_members_total = int(m.shape[0])
            if m.shape[0] > self.max_members_drawn:
                idx = np.unique(np.linspace(0, m.shape[0] - 1, self.max_members_drawn).round().astype(int))
                m = m[idx]
            m = np.ascontiguousarray(m)
            self._src["mem"] = _Source(m, None)            # members are subsampled, no pyramid
            self._src["mem_d"] = _Source(m - self._x[None, :], None)
        self._layout_changed()

    def set_layer_visible(self, layer: str, visible: bool) -> None:
        layer_decl(layer)  # ValueError for an unknown layer
        visible = bool(visible)
        if self._visible[layer] == visible:
            return
        self._visible[layer] = visible
        self._sync_toolbar()
        self._layout_changed()
        self.layerVisibilityChanged.emit(layer, visible)

    def layer_visible(self, layer: str) -> bool:
        return self._visible[layer]

    def has_layer(self, layer: str) -> bool:
        """Whether the layer has data (independently of its visibility)."""
        need = {"original": "x", "adversarial": "adv", "perturbation": "diff", "band": "lo",
                "members": "mem", "difference": "diff"}[layer]
        return need in self._src

    def layer_drawn(self, layer: str) -> bool:
        """Whether the layer has data, is switched on and is currently drawn."""
        return any(t.item.isVisible() and t.layer == layer for t in self._traces)

    def set_perturbation_gain(self, gain: int) -> None:
        if gain not in (10, 100):
            raise ValueError("perturbation gain must be 10 or 100")
        self._gain = int(gain)
        self._sync_toolbar()
        self._update_legend()
        self._refresh()

    def perturbation_gain(self) -> int:
        return self._gain

    def set_mode(self, mode: str) -> None:
        if mode not in ("rows", "continuous"):
            raise ValueError("mode must be 'rows' or 'continuous'")
        if mode == self._mode:
            return
        t0, t1 = self.view_range()
        self._mode = mode
        self._apply_mode_settings()
        if self._x is not None:
            if mode == "rows":
                self._rows_show(int(t0 // self._spr), fit_rows=None)
            else:
                self._fit_y_continuous()
                self._set_x(t0 if t0 > 0 else -ROW_MARGIN_S, t0 + min(max(t1 - t0, 1.0), self._spr))
        if self._real:
            self._apply_real_size()
        self._replace_calipers()
        self._sync_toolbar()
        self._refresh()
        self.modeChanged.emit(mode)

    def mode(self) -> str:
        return self._mode

    def set_seconds_per_row(self, seconds: float) -> None:
        seconds = float(seconds)
        if not (0.5 <= seconds <= 3600):
            raise ValueError("seconds per row must be within 0.5 .. 3600")
        t0, _ = self.view_range()
        self._spr = seconds
        self._apply_mode_settings()
        if self._x is not None and self._mode == "rows":
            self._rows_show(int(t0 // seconds), fit_rows=None)
        if self._real:
            self._apply_real_size()
        self._replace_calipers()
        self._sync_toolbar()
        self._refresh()

    def seconds_per_row(self) -> float:
        return self._spr

    def row_count(self) -> int:
        """Rows the record is laid out in (1 in continuous mode)."""
        if self._x is None:
            return 0
        if self._mode == "continuous":
            return 1
        return max(1, math.ceil(self._n / self._fs / self._spr - 1e-9))

    def set_row_heights(self, strip_mv: float = 3.0, lane_mv: float = 2.0) -> None:
        """Height of each strip and of the perturbation lane in mV (rounded to 1 mV so
        baselines fall on large squares)."""
        self._strip_mv = max(1.0, round(strip_mv))
        self._lane_mv = max(1.0, round(lane_mv))
        self._layout_changed()

    def set_real_size(self, on: bool) -> None:
        """1 mm on screen = 1 mm of paper (25 mm/s, 10 mm/mV), from the screen's physical DPI."""
        on = bool(on)
        changed = on != self._real
        self._real = on
        if on:
            self._apply_real_size()
        self._sync_toolbar()
        if changed:
            self.realSizeChanged.emit(on)

    def real_size(self) -> bool:
        return self._real

    def px_per_mm(self) -> float:
        scr = self.screen() or QtGui.QGuiApplication.primaryScreen()
        dpi = scr.physicalDotsPerInch() if scr is not None else 96.0
        if not dpi or dpi < 20 or dpi > 1200:
            dpi = 96.0
        return dpi / 25.4

    def paper_scale(self) -> tuple[float, float]:
        """Current on-screen scale as (mm/s, mm/mV)."""
        (x0, x1), (y0, y1) = self._vb.viewRange()
        ppmm = self.px_per_mm()
        return (self._vb.width() / max(1e-12, x1 - x0) / ppmm,
                self._vb.height() / max(1e-12, y1 - y0) / ppmm)

    def set_view(self, t0: float, t1: float) -> None:
        """Show record time [t0, t1] s (rows mode: the rows that hold it, fitted)."""
        if self._x is None:
            return
        t0, t1 = float(min(t0, t1)), float(max(t0, t1))
        if self._mode == "continuous":
            self._set_x(t0, t1)
        else:
            r0 = int(max(0, t0) // self._spr)
            r1 = max(r0 + 1, math.ceil(min(t1, self.duration()) / self._spr - 1e-9))
            self._rows_show(r0, fit_rows=r1 - r0)

    def view_range(self) -> tuple[float, float]:
        """Visible record time (s), clipped to the record."""
        if self._x is None:
            return (0.0, 0.0)
        dur = self.duration()
        (x0, x1), (y0, y1) = self._vb.viewRange()
        if self._mode == "continuous":
            return (float(min(max(x0, 0.0), dur)), float(min(max(x1, 0.0), dur)))
        rows = self._rows_with_baseline_in(y0, y1) or self._rows_in(y0, y1)
        if not rows:
            return (0.0, 0.0)
        t0 = rows[0] * self._spr + min(max(x0, 0.0), self._spr)
        t1 = rows[-1] * self._spr + min(max(x1, 0.0), self._spr)
        return (float(min(t0, dur)), float(min(max(t1, t0), dur)))

    def duration(self) -> float:
        return self._n / self._fs if self._x is not None else 0.0

    def play(self, on: bool) -> None:
        """Sweep through the record in real time (× play_speed) like a monitor: the trace
        is drawn up to a moving cursor, the page turns when the cursor reaches its end."""
        on = bool(on) and self._x is not None
        if on == self._playing:
            return
        self._playing = on
        if on:
            t0, t1 = self.view_range()
            if t0 >= self.duration() - 1.0 / self._fs:
                self._home_view()
                t0, t1 = self.view_range()
            self._play_t = t0
            self._play_clock.start()
            self._play_timer.start()
        else:
            self._play_timer.stop()
        self._sync_toolbar()
        self._refresh()
        self.playingChanged.emit(on)

    def is_playing(self) -> bool:
        return self._playing

    def play_position(self) -> float:
        return self._play_t

    def set_play_speed(self, speed: float) -> None:
        self.play_speed = max(0.05, float(speed))

    def set_calipers_visible(self, on: bool) -> None:
        if on and not self.calipers.visible:
            self._place_calipers()
        self.calipers.set_visible(on)
        self._on_calipers(self.calipers.readout() if on else None)
        self._sync_toolbar()

    def set_crosshair_enabled(self, on: bool) -> None:
        self.crosshair.set_enabled(on)

    def memory_bytes(self) -> dict:
        """Bytes held: raw signals vs min/max pyramids (for the benchmark)."""
        raw = sum(s.data.nbytes for s in self._src.values())
        pyr = sum(pyramid_nbytes(s.pyr) for s in self._src.values() if s.pyr is not None)
        return {"raw": int(raw), "pyramids": int(pyr), "record": int(self._x.nbytes if self._x is not None else 0)}

    # ------------------------------------------------------------------ export
    def export_png(self, path: str, width_px: int | None = None) -> str:
        """The strip as shown (with axes and legend) as PNG; `width_px` re-renders at that
        width, with the traces decimated for it."""
        return _export.export_png(self, path, width_px)

    def export_svg(self, path: str) -> str:
        """The strip as shown as SVG (vector)."""
        return _export.export_svg(self, path)

    def export_pdf(self, path: str) -> str:
        """The visible time range as print-ready rhythm strips at true paper scale (25 mm/s,
        10 mm/mV), page size fitted to the strips."""
        return _export.export_pdf(self, path)

    def paper_spec(self) -> "_export.PaperSpec":
        """Everything the paper exporter needs for the visible time range."""
        t0, t1 = self.view_range()
        if t1 - t0 < 1.0 / self._fs:
            t0, t1 = 0.0, self.duration()
        lane = self._lane_on()
        traces = []
        src = self._src
        for d in sorted(LAYER_DECLS, key=lambda d: d.export_z):
            if not (d.exported and self._visible[d.key]):
                continue
            # opaque colours: transparency makes QPdfWriter take minutes to finish the file
            colour = qcolor(d.paper_colour[:3])
            for where, keys in self._paper_sources(d.key, lane):
                if all(k in src for k in keys):
                    data = tuple(src[k].data for k in keys) if len(keys) > 1 else src[keys[0]].data
                    kind = {"band": "band", "members": "members"}.get(d.key, "line")
                    traces.append(_export.PaperTrace(data, colour, d.export_width_mm, where, d.key, kind))
        return _export.PaperSpec(name=self._name, fs=self._fs, t0=t0, t1=t1,
                                 seconds_per_row=self._spr, strip_mv=self._strip_mv,
                                 lane_mv=self._lane_mv if lane else 0.0, gain=self._gain,
                                 traces=traces, n_members=self._n_members_total)

    @staticmethod
    def _paper_sources(layer: str, lane: bool) -> list[tuple[str, tuple[str, ...]]]:
        """Where layer is drawn on paper and from which sources: [(where, source keys)]."""
        if layer == "band":
            return [("strip", ("lo", "hi"))] + ([("lane", ("lo_d", "hi_d"))] if lane else [])
        if layer == "members":
            return [("lane", ("mem_d",))] if lane else [("strip", ("mem",))]
        if layer == "perturbation":
            return [("lane", ("diff",))] if lane else []
        return [("strip", ({"original": "x", "adversarial": "adv", "difference": "diff"}[layer],))]

    # ================================================================== layout helpers
    def _check_same_length(self, a, what) -> np.ndarray:
        if self._x is None:
            raise ValueError("set_record first")
        a = np.ascontiguousarray(np.asarray(a, dtype=np.float32).reshape(-1))
        if a.size != self._n:
            raise ValueError(f"{what} has {a.size} samples, the record {self._n}")
        return a

    def _lane_on(self) -> bool:
        return self._visible["perturbation"] and any(k in self._src for k in ("diff", "lo_d", "mem_d"))

    def _pitch(self) -> float:
        return self._strip_mv + (self._lane_mv if self._lane_on() else 0.0)

    def _baseline(self, r: int) -> float:
        return -r * self._pitch() - self._strip_mv / 2

    def _lane_baseline(self, r: int) -> float:
        return -r * self._pitch() - self._strip_mv - self._lane_mv / 2

    def _row_len(self) -> float:
        return self._spr if self._mode == "rows" else self.duration()

    def _rows_in(self, y0: float, y1: float) -> list[int]:
        if self._mode == "continuous":
            return [0]
        p = self._pitch()
        lo = max(0, int(math.floor(-y1 / p)))
        hi = min(self.row_count() - 1, int(math.ceil(-y0 / p)) - 1)
        return list(range(lo, hi + 1))

    def _rows_with_baseline_in(self, y0: float, y1: float) -> list[int]:
        return [r for r in self._rows_in(y0, y1) if y0 <= self._baseline(r) <= y1]

    def _layout_changed(self):
        """Data, visibility or geometry changed: keep the top row, redraw."""
        if self._x is not None and self._mode == "rows":
            (x0, x1), (y0, y1) = self._vb.viewRange()
            rows = self._rows_in(y0, y1)
            self._apply_mode_settings()
            x_lo, _, sx = self._rows_vp
            self._rows_set(x_lo, -(rows[0] if rows else 0) * self._pitch(), sx)
        else:
            self._apply_mode_settings()
            if self._x is not None:
                self._fit_y_continuous()
        self._update_legend()
        self._refresh()

    def _apply_mode_settings(self):
        vb = self._vb
        dur = self.duration() if self._x is not None else 10.0
        vb.setLimits(xMin=None, xMax=None, yMin=None, yMax=None, minXRange=None, maxXRange=None,
                     minYRange=None, maxYRange=None)
        if self._mode == "rows":
            # squares stay square: the aspect is kept by _rows_set (not pyqtgraph's aspect
            # lock, whose interplay with limits drops range-change signals)
            vb.setMouseEnabled(x=True, y=True)
            unit = "row start (s)" if self.duration() < 60 else "row start"
            self._left_axis.setLabel(unit, **{"color": "#555", "font-size": "9pt"})
        else:
            vb.setMouseEnabled(x=True, y=True)
            vb.setLimits(xMin=-ROW_MARGIN_S - 0.5, xMax=dur + 1.0, minXRange=MIN_WINDOW_S,
                         maxXRange=dur + ROW_MARGIN_S + 1.5)
            self._left_axis.setLabel("mV", **{"color": "#555", "font-size": "9pt"})
        self._left_axis.picture = None
        self._left_axis.update()

    def _home_view(self):
        if self._mode == "rows":
            self._rows_show(0, fit_rows=None)
        else:
            self._fit_y_continuous()
            self._set_x(-ROW_MARGIN_S, min(self.duration(), self._spr))
        if self._real:
            self._apply_real_size()

    def _fit_y_continuous(self):
        if self._mode != "continuous":
            return
        p = self._pitch()
        self._vb.setRange(yRange=(-p - 0.1, 0.1), padding=0)

    def _set_x(self, t0: float, t1: float):
        if t1 - t0 < MIN_WINDOW_S:
            c = (t0 + t1) / 2
            t0, t1 = c - MIN_WINDOW_S / 2, c + MIN_WINDOW_S / 2
        self._vb.setRange(xRange=(t0, t1), padding=0)

    def _rows_show(self, r0: int, fit_rows: int | None):
        """Rows mode: row r0 at the top.  fit_rows=None: fit the row width to the view
        (as many rows as the height allows); fit_rows=k: also make k rows fit."""
        n = self.row_count()
        r0 = max(0, min(r0, n - 1))
        p = self._pitch()
        w_px, h_px = self._vb_size()
        x_lo, x_hi = -ROW_MARGIN_S, self._spr + ROW_RIGHT_PAD_S
        sx = w_px / (x_hi - x_lo)                # px per s when fitting the width
        self._rows_fit = fit_rows is None
        if fit_rows is not None:
            k = max(1, min(fit_rows, n - r0))
            sy = h_px / (k * p)                  # px per mV when fitting k rows
            if sy * ASPECT < sx:
                sx = sy * ASPECT
            else:
                self._rows_fit = True
        self._rows_set(x_lo, -r0 * p, sx)

    def _vb_size(self) -> tuple[float, float]:
        return max(10.0, self._vb.width()), max(10.0, self._vb.height())

    def _rows_clamp(self, x_lo: float, top: float, sx: float) -> tuple[float, float, float]:
        w_px, h_px = self._vb_size()
        p = self._pitch()
        n = max(1, self.row_count())
        sx_min = w_px / ((self._spr + ROW_MARGIN_S + ROW_RIGHT_PAD_S) * 4)      # zoom-out limit
        sx_min = max(sx_min, h_px / (MAX_ROWS_VISIBLE * p) * ASPECT)
        sx_max = w_px / 0.5                                                    # >= 0.5 s across
        sx = min(max(sx, sx_min), sx_max)
        w_s = w_px / sx
        x_lo = min(max(x_lo, -ROW_MARGIN_S - 0.5 * w_s), self._spr - 0.5 * w_s)
        top = min(max(top, -(n - 1) * p), 0.5 * p)
        return x_lo, top, sx

    def _rows_set(self, x_lo: float, top: float, sx: float):
        """Rows mode: left edge x_lo (s), top edge (mV), sx px per s; y scale = sx / ASPECT."""
        x_lo, top, sx = self._rows_clamp(x_lo, top, sx)
        self._rows_vp = (x_lo, top, sx)
        w_px, h_px = self._vb_size()
        sy = sx / ASPECT
        self._clamping = True
        try:
            self._vb.setRange(xRange=(x_lo, x_lo + w_px / sx), yRange=(top - h_px / sy, top), padding=0)
        finally:
            self._clamping = False

    def _apply_real_size(self):
        if self._x is None:
            return
        vb = self._vb
        ppmm = self.px_per_mm()
        w_s = vb.width() / (MM_PER_S * ppmm)
        h_mv = vb.height() / (MM_PER_MV * ppmm)
        (x0, x1), (y0, y1) = vb.viewRange()
        if self._mode == "rows":
            rows = self._rows_in(y0, y1)
            top = -(rows[0] if rows else 0) * self._pitch()
            self._rows_fit = False
            self._rows_set(-ROW_MARGIN_S, top, MM_PER_S * ppmm)
        else:
            yc = (y0 + y1) / 2
            vb.setRange(xRange=(x0, x0 + w_s), yRange=(yc - h_mv / 2, yc + h_mv / 2), padding=0)

    # ================================================================== navigation
    def _leave_real_size(self):
        if self._real:
            self._real = False
            self._sync_toolbar()
            self.realSizeChanged.emit(False)

    def pan(self, fraction: float) -> None:
        """Move by `fraction` of the window (rows mode: by rows, at least one)."""
        if self._x is None:
            return
        (x0, x1), (y0, y1) = self._vb.viewRange()
        if self._mode == "continuous":
            w = x1 - x0
            self._set_x(x0 + fraction * w, x1 + fraction * w)
        else:
            nvis = max(1, len(self._rows_with_baseline_in(y0, y1)))
            k = fraction * nvis
            k = math.copysign(max(1, round(abs(k))), k) if k else 0
            self.scroll_rows(int(k))

    def scroll_rows(self, k: int) -> None:
        """Rows mode: scroll by k rows (positive: later in the record)."""
        if self._x is None or self._mode != "rows":
            return
        (x0, x1), (y0, y1) = self._vb.viewRange()
        p = self._pitch()
        rows = self._rows_in(y0, y1)
        r0 = rows[0] if rows else 0
        # snap to row tops when scrolling
        r_new = max(0, min(self.row_count() - 1, r0 + k))
        x_lo, _, sx = self._rows_vp
        self._rows_set(x_lo, -r_new * p, sx)

    def zoom(self, factor: float, center: QtCore.QPointF | None = None) -> None:
        """Zoom in by `factor` (> 1) or out (< 1), around `center` (view coords)."""
        if self._x is None or factor <= 0:
            return
        self._leave_real_size()
        (x0, x1), (y0, y1) = self._vb.viewRange()
        if self._mode == "continuous":
            cx = center.x() if center is not None else (x0 + x1) / 2
            w = (x1 - x0) / factor
            w = min(max(w, MIN_WINDOW_S), self.duration() + ROW_MARGIN_S + 1.5)
            a = (cx - x0) / max(1e-12, x1 - x0)
            self._set_x(cx - a * w, cx - a * w + w)
        else:
            x_lo, top, sx = self._rows_vp
            cx, cy = (x_lo, top) if center is None else (center.x(), center.y())
            self._rows_fit = False
            self._rows_set(cx - (cx - x_lo) / factor, cy + (top - cy) / factor, sx * factor)

    def go_home(self):
        if self._x is None:
            return
        if self._mode == "rows":
            self._rows_set(-ROW_MARGIN_S, 0.0, self._rows_vp[2])
        else:
            (x0, x1), _ = self._vb.viewRange()
            self._set_x(-ROW_MARGIN_S, -ROW_MARGIN_S + (x1 - x0))

    def go_end(self):
        if self._x is None:
            return
        if self._mode == "rows":
            x_lo, top, sx = self._rows_vp
            h_mv = self._vb_size()[1] / (sx / ASPECT)
            self._rows_set(x_lo, -self.row_count() * self._pitch() + h_mv, sx)
        else:
            (x0, x1), _ = self._vb.viewRange()
            end = self.duration() + ROW_RIGHT_PAD_S
            self._set_x(end - (x1 - x0), end)

    def keyPressEvent(self, ev: QtGui.QKeyEvent) -> None:
        if not self._handle_key(ev):
            super().keyPressEvent(ev)

    def eventFilter(self, obj, ev):
        if ev.type() == QtCore.QEvent.Type.KeyPress and obj in (self.plot, self.plot.viewport()):
            if self._handle_key(ev):
                return True
        return super().eventFilter(obj, ev)

    def _handle_key(self, ev: QtGui.QKeyEvent) -> bool:
        K = QtCore.Qt.Key
        key, text = ev.key(), ev.text()
        rows = self._mode == "rows"
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
            self.play(not self._playing)
        elif key == K.Key_C and not ev.modifiers() & QtCore.Qt.KeyboardModifier.ControlModifier:
            self.set_calipers_visible(not self.calipers.visible)
        else:
            return False
        ev.accept()
        return True

    def _on_wheel(self, delta: int, mods, pos: QtCore.QPointF):
        if self._x is None or not delta:
            return
        notches = delta / 120.0
        if mods & QtCore.Qt.KeyboardModifier.ControlModifier:
            self.zoom(1.25 ** notches, pos)
        elif self._mode == "continuous":
            self.pan(-0.1 * notches)
        elif mods & QtCore.Qt.KeyboardModifier.ShiftModifier:
            x_lo, top, sx = self._rows_vp
            self._rows_set(x_lo - 0.1 * notches * self._vb_size()[0] / sx, top, sx)
        else:
            self.scroll_rows(-int(round(notches)) or (-1 if notches > 0 else 1))

    def _on_overview(self, t0: float, t1: float):
        if self._x is None:
            return
        if self._mode == "continuous":
            self._set_x(t0, t1)
        else:
            self.scroll_rows(int(max(0.0, t0) // self._spr) - (self._rows_in(*self._vb.viewRange()[1]) or [0])[0])

    # ================================================================== play
    def _play_tick(self):
        if not self._playing:
            return
        dt = self._play_clock.restart() / 1000.0
        self._play_t += dt * self.play_speed
        dur = self.duration()
        if self._play_t >= dur:
            self._play_t = dur
            self.play(False)
            return
        t0, t1 = self.view_range()
        if self._play_t >= t1 - 1e-9:
            if self._mode == "continuous":
                (x0, x1), _ = self._vb.viewRange()
                self._set_x(self._play_t, self._play_t + (x1 - x0))
            else:
                self.pan(1.0)
        else:
            self._refresh()
        self._update_info()

    # ================================================================== drawing
    def _on_resized(self, *_):
        if self._x is None:
            return
        if self._real:
            self._apply_real_size()
        elif self._mode == "rows":
            x_lo, top, sx = self._rows_vp
            if self._rows_fit:
                p = self._pitch()
                self._rows_show(int(round(-top / p)), None)
            else:
                self._rows_set(x_lo, top, sx)
        self._refresh()

    def _on_range_changed(self, *_):
        if self._mode == "rows" and not self._clamping and self._x is not None:
            # moved by pyqtgraph (mouse drag): adopt the new corner, keep the scale
            (x0, x1), (y0, y1) = self._vb.viewRange()
            sx = self._rows_vp[2]
            want = self._rows_clamp(x0, y1, sx)
            if abs(want[0] - x0) > 1e-9 or abs(want[1] - y1) > 1e-9 or abs((x1 - x0) * sx - self._vb_size()[0]) > 0.5:
                self._rows_set(*want)
                return
            self._rows_vp = want
        self._refresh()
        t = self.view_range()
        if t != self._last_time:
            self._last_time = t
            self.overview.set_window(*t)
            self.timeChanged.emit(*t)

    def _segments(self):
        """Visible pieces: (row, i0, i1, n_bins, row_t0, strip baseline, lane baseline)."""
        (x0, x1), (y0, y1) = self._vb.viewRange()
        w_px = self._render_width or max(50.0, self._vb.width())
        fs, n = self._fs, self._n
        rlen = self._row_len()
        play_i = int(math.ceil(self._play_t * fs)) + 1 if self._playing else n
        segs = []
        for r in self._rows_in(y0, y1):
            row_t0 = r * self._spr if self._mode == "rows" else 0.0
            a, b = max(x0, 0.0), min(x1, rlen)
            if b <= a:
                continue
            ri0 = int(round(row_t0 * fs))
            ri1 = min(n, int(round((row_t0 + rlen) * fs)) + 1)  # +1 joins the next row
            i0 = max(ri0, int(math.floor((row_t0 + a) * fs)))
            i1 = min(ri1, int(math.ceil((row_t0 + b) * fs)) + 1, play_i)
            if i1 - i0 < 1:
                continue
            nb = max(1, int(w_px * (b - a) / max(1e-12, x1 - x0)))
            segs.append((r, i0, i1, nb, row_t0, self._baseline(r), self._lane_baseline(r)))
        return segs

    def _refresh(self):
        if self._in_refresh:
            return
        self._in_refresh = True
        try:
            self._draw()
        finally:
            self._in_refresh = False

    def _draw(self):
        # apply the new view transform now: left to paint time, it makes items that follow
        # the view (labels, lines) schedule a second paint of the whole view
        self._vb.updateMatrix()
        self.grid.view_changed()
        if self._x is None:
            for t in self._traces:
                t.item.setData([], [])
                t.hide()
            for it in (self._pulse, self._lane_zero, self._cursor, *self._band_bars):
                it.setData([], [])
            for f in self._fills:
                f.hide()
            for lab in self._lane_labels:
                lab.hide()
            return
        segs = self._segments()
        lane = self._lane_on()
        fs = self._fs
        (vx0, vx1), (vy0, vy1) = self._vb.viewRange()
        px_per_mv = max(1.0, self._vb.height()) / max(1e-9, vy1 - vy0)
        strip_band_hidden = self._band_width_mv * px_per_mv < STRIP_BAND_MIN_PX
        px_s = (vx1 - vx0) / (self._render_width or max(50.0, self._vb.width()))  # 1 px in s
        for tr in self._traces:
            show = (self._visible[tr.layer] and tr.src in self._src and bool(segs)
                    and (tr.where == "strip" or lane))
            if tr.kind == "sub" and tr.where == "strip" and lane:
                show = False  # members are drawn where their spread shows: in the lane
            if tr.layer == "band" and tr.where == "strip" and lane and strip_band_hidden:
                show = False  # a band thinner than a pixel on the strip: the lane shows it
            if not show:
                if tr.item.isVisible():
                    tr.hide()
                continue
            src = self._src[tr.src]
            gain = self._gain if tr.where == "lane" else 1.0
            xs, ys = [], []
            raw = True
            for run in _equal_runs(segs):  # rows of the same length and bins: handled at once
                i0s = np.array([sg[1] for sg in run])
                count, nb = run[0][2] - run[0][1], run[0][3]
                t0s = np.array([sg[4] for sg in run])
                offs = np.array([sg[6] if tr.where == "lane" else sg[5] for sg in run])
                if tr.kind == "sub":
                    rel, y = _member_lines(src.data, i0s, count, nb, len(segs), px_s * fs,
                                           gain * px_per_mv)
                    raw = raw and rel.size == count
                    n_rows, k, m = y.shape
                    xv = (rel[None, :] + i0s[:, None]) / fs - t0s[:, None]
                    _append_lines(xs, ys, np.repeat(xv, k, axis=0), y.reshape(n_rows * k, m), gain,
                                  np.repeat(offs, k))
                    continue
                env = envelope_rows(src.data, src.pyr, i0s, count, nb) if len(run) > 1 else None
                if env is None:  # one row, or bins wider than a pyramid block: row by row
                    for j, i0 in enumerate(i0s):
                        env = envelope(src.data, src.pyr, int(i0), int(i0) + count, nb)
                        raw = raw and env.raw
                        pos, y = interleave(env, tr.kind)
                        _append_lines(xs, ys, pos / fs - t0s[j], y[None], gain, offs[j:j + 1])
                    continue
                raw = raw and env.raw
                pos, y = interleave(env, tr.kind)  # pos relative to each row's first sample
                _append_lines(xs, ys, (pos[None, :] + i0s[:, None]) / fs - t0s[:, None], y, gain, offs)
            xa, ya = np.concatenate(xs), np.concatenate(ys)
            tr.set_raw(raw, xa.size)
            if tr.layer == "band":
                tr.item.blockSignals(True)  # the fill is updated below, once
                tr.item.setData(xa, ya)
                tr.item.blockSignals(False)
            else:
                tr.item.setData(xa, ya)
            if not tr.item.isVisible():
                tr.item.show()
            if tr.twin_active():
                tr.twin.setData(xa + px_s, ya)  # one pixel to the right
                tr.twin.show()
            elif tr.twin is not None and tr.twin.isVisible():
                tr.twin.hide()
        self._draw_band_fill()
        self._draw_furniture(segs, lane)

    def _draw_band_fill(self):
        """Band fill: a semi-transparent polygon (FillBetweenItem) when samples are more
        than BAND_BARS_MAX_PX apart; otherwise vertical bars BAND_BAR_PX wide (min/max strokes),
        because Qt fills long jagged polygons in time that grows faster than linearly."""
        (x0, x1), _ = self._vb.viewRange()
        px_per_s = (self._render_width or max(50.0, self._vb.width())) / max(1e-12, x1 - x0)
        for fill, bars, lo, hi in zip(self._fills, self._band_bars, ("band_lo", "lane_band_lo"),
                                      ("band_hi", "lane_band_hi")):
            it_lo, it_hi = self._trace[lo].item, self._trace[hi].item
            if not (it_lo.isVisible() and it_hi.isVisible()):
                fill.hide()
                bars.hide()
                continue
            xl, yl = it_lo.getData()
            _, yh = it_hi.getData()
            ok = np.isfinite(xl)
            xf = xl[ok]
            d = np.diff(xf)
            d = d[d > 0]  # (rows restart at x = 0)
            spacing_px = float(d.mean()) * px_per_s if d.size else 1e9  # bins are near-even
            if spacing_px > BAND_BARS_MAX_PX:
                bars.hide()
                fill.updatePath()
                fill.show()
                it_lo.setOpacity(1.0)
                it_hi.setOpacity(1.0)
            else:
                fill.hide()
                it_lo.setOpacity(0.0)  # the bars are the band; edges would only cost time
                it_hi.setOpacity(0.0)
                fill.setPath(QtGui.QPainterPath())
                ylo, yhi = yl[ok], yh[ok]
                # one bar per BAND_BAR_PX pixel columns, spanning the band's min to max there:
                # Qt fills a bar row by row, so fewer, wider bars cost less for the same area
                col = np.floor((xf - x0) * px_per_s / BAND_BAR_PX)
                new_col = np.empty(col.size, bool)
                new_col[0] = True
                np.not_equal(col[1:], col[:-1], out=new_col[1:])
                starts = np.flatnonzero(new_col)
                xf = x0 + (col[starts] + 0.5) * (BAND_BAR_PX / px_per_s)
                ylo = np.minimum.reduceat(ylo, starts)
                yhi = np.maximum.reduceat(yhi, starts)
                yy = np.empty(2 * xf.size)
                yy[0::2] = ylo
                yy[1::2] = yhi
                width = float(BAND_BAR_PX)
                pen = QtGui.QPen(BAND_BAR_COLOUR, width)
                pen.setCosmetic(True)
                pen.setCapStyle(QtCore.Qt.PenCapStyle.FlatCap)
                # wide pens: plain line segments (a wide stroked path is many times slower)
                bars.setSegmentedLineMode("on")
                bars.setPen(pen)
                bars.setData(np.repeat(xf, 2), yy)
                bars.show()

    def _draw_furniture(self, segs, lane):
        """Calibration pulses, lane zero lines and labels, play cursor."""
        (x0, x1), (y0, y1) = self._vb.viewRange()
        rows = [s[0] for s in segs] if segs else self._rows_in(y0, y1)
        px, py = [], []
        for r in rows:
            if self._mode == "continuous" or x0 < 0:
                x, y = calibration_pulse(self._baseline(r))
                px += [x, [np.nan]]
                py += [y, [np.nan]]
        if px:
            self._pulse.setData(np.concatenate(px), np.concatenate(py))
        else:
            self._pulse.setData([], [])
        # lane zero lines + labels
        rlen = self._row_len()
        row_px = self._vb.height() / max(1e-9, (y1 - y0)) * self._pitch()
        if lane and rows:
            zx, zy = [], []
            for r in rows:
                lb = self._lane_baseline(r)
                zx += [0.0, rlen, np.nan]
                zy += [lb, lb, np.nan]
            self._lane_zero.setData(np.array(zx), np.array(zy))
            self._lane_zero.show()
        else:
            self._lane_zero.setData([], [])
        show_labels = lane and row_px >= 45 and len(rows) <= 40
        n_lab = len(rows) if show_labels else 0
        while len(self._lane_labels) < n_lab:
            lab = pg.TextItem(anchor=(0, 0), color=ADVERSARIAL_COLOUR,
                              fill=pg.mkBrush(255, 248, 246, 200))
            font = QtGui.QFont()
            font.setPointSizeF(8.5)
            font.setBold(True)
            lab.setFont(font)
            lab.setZValue(700)
            self._vb.addItem(lab, ignoreBounds=True)
            self._lane_labels.append(lab)
        text = f"perturbation ×{self._gain}"
        for i, lab in enumerate(self._lane_labels):
            if i < n_lab:
                r = rows[i]
                top = -r * self._pitch() - self._strip_mv
                if lab.textItem.toPlainText() != text:
                    lab.setText(text)  # re-lays out rich text: only when it changes
                lab.setPos(max(x0, 0.0), top)
                lab.show()
            else:
                lab.hide()
        if self.calipers.visible:
            self.calipers.keep_label_in_view(x0, x1, y0, y1)
        # play cursor
        if self._playing:
            t = self._play_t
            if self._mode == "rows":
                r = int(t // self._spr)
                xc = t - r * self._spr
            else:
                r, xc = 0, t
            top = -r * self._pitch()
            self._cursor.setData(np.array([xc, xc]), np.array([top, top - self._pitch()]))
            self._cursor.show()
        else:
            self._cursor.setData([], [])
            self._cursor.hide()

    def _left_ticks(self, lo: float, hi: float):
        if self._x is None:
            return []
        h_px = max(1.0, self._vb.height())
        px_per_mv = h_px / max(1e-9, hi - lo)
        out = []
        if self._mode == "rows":
            rows = self._rows_in(lo, hi)
            p = self._pitch()
            step = max(1, math.ceil(22 / max(1e-9, p * px_per_mv)))
            lane = self._lane_on()
            for r in rows:
                if r % step:
                    continue
                b = self._baseline(r)
                if lo <= b <= hi:
                    out.append((b, format_time(r * self._spr, 1.0, self.duration())))
                if lane and step == 1 and p * px_per_mv > 80:
                    lb = self._lane_baseline(r)
                    if lo <= lb <= hi:
                        out.append((lb, f"×{self._gain}"))
            return out
        base = self._baseline(0)
        half = self._strip_mv / 2
        step = 0.5 if px_per_mv >= 36 else (1.0 if px_per_mv >= 18 else 2.0)
        k = 0
        v = -half
        while v <= half + 1e-9:
            y = base + v
            if lo <= y <= hi:
                out.append((y, f"{v:g}"))
            k += 1
            v = -half + k * step
        if self._lane_on():
            lb = self._lane_baseline(0)
            if lo <= lb <= hi:
                out.append((lb, f"×{self._gain}"))
        return out

    # ================================================================== legend / info
    def _update_legend(self):
        self.legend.clear()
        for layer in LAYERS:
            if not self.has_layer(layer):
                continue
            if layer == "perturbation" and not self.has_layer("adversarial"):
                continue
            shown = self._src["mem"].data.shape[0] if layer == "members" else 0
            label = LAYER[layer].legend_text(self._gain, shown, self._n_members_total)
            proxy = self._proxies[layer]
            proxy.setVisible(self._visible[layer])
            self.legend.addItem(proxy, label)
        self.legend.setVisible(bool(self.legend.items))
        # static while the view moves: render once into a pixmap, then blit (~3 ms a frame)
        for it in (self.legend, *self.legend.childItems(),
                   *(i for pair in self.legend.items for i in pair)):
            it.setCacheMode(it.CacheMode.DeviceCoordinateCache)
        self._fit_legend()

    def _fit_legend(self) -> None:
        """As many legend columns as fit above the strips (one row when the window is wide)."""
        items = self.legend.items
        if not items:
            return
        widths = [20 + label.item.boundingRect().width() + 12 for _, label in items]  # sample + text + gap
        avail = self.plot.width() - self._left_axis.width() - 40
        cols = len(items)
        while cols > 1 and sum(sorted(widths)[-cols:]) > avail:
            cols -= 1
        if cols != self.legend.columnCount:
            self.legend.setColumnCount(cols)
            self.legend.updateSize()
            # the plot item kept the old (wider) minimum size: fit it to the view again
            self.plot_item.layout.invalidate()
            self.plot_item.setGeometry(QtCore.QRectF(0, 0, self.plot.width(), self.plot.height()))

    def resizeEvent(self, ev) -> None:  # noqa: N802 (Qt)
        super().resizeEvent(ev)
        self._fit_legend()

    def legend_labels(self) -> list[str]:
        return [label.text for _, label in self.legend.items]

    def _on_legend_click(self, proxy):
        for layer, p in self._proxies.items():
            if p is proxy:
                self.set_layer_visible(layer, proxy.isVisible())
                return

    def _update_info(self, cross: str = ""):
        if self._x is None:
            self.info.setText("No record")
            return
        dur = self.duration()
        dur_s = f"{dur:.1f} s" if dur < 60 else format_time(dur, 1.0, dur)
        base = f"{self._name or 'record'} · {dur_s} · {self._fs:g} Hz"
        if self._real:
            base += " · real size 25 mm/s, 10 mm/mV"
        if self._playing:
            base += f" · ▶ {format_time(self._play_t, 0.1, dur)}"
        self.info.setText(base + ("   |   " + cross if cross else ""))

    def view_to_record(self, x: float, y: float) -> tuple[float, float, str]:
        """Map a view point to (record time s, value mV, "strip" | "lane")."""
        p = self._pitch()
        if self._mode == "rows":
            r = max(0, min(self.row_count() - 1, int(math.floor(-y / p))))
            t = r * self._spr + x
        else:
            r, t = 0, x
        if self._lane_on() and y < -r * p - self._strip_mv:
            return t, (y - self._lane_baseline(r)) / self._gain, "lane"
        return t, y - self._baseline(r), "strip"

    def _on_crosshair(self, x: float, y: float):
        if self._x is None:
            return
        t, v, where = self.view_to_record(x, y)
        if not (0 <= t <= self.duration()):
            self._update_info()
            return
        dur = self.duration()
        if where == "lane":
            txt = f"t {format_time(t, 0.001, dur)}   perturbation {v * 1000:+.1f} µV"
        else:
            txt = f"t {format_time(t, 0.001, dur)}   {v:+.3f} mV"
        self._update_info(txt)

    def _replace_calipers(self):
        """View coordinates changed meaning (mode, row length): put visible calipers back."""
        if self.calipers.visible and self._x is not None:
            self._place_calipers()

    def _place_calipers(self):
        (x0, x1), (y0, y1) = self._vb.viewRange()
        rows = self._rows_with_baseline_in(y0, y1) or [0]
        b = self._baseline(rows[0])
        a = max(x0, 0.0) + 0.15 * (min(x1, self._row_len()) - max(x0, 0.0))
        self.calipers.place(a, a + 0.8, b, b + 1.0)

    def _on_calipers(self, d):
        if d is None or not self.calipers.visible:
            self.caliper_info.setText("")
            return
        self.caliper_info.setText(format_readout(d))
        self.caliperChanged.emit(d)

    # ================================================================== toolbar
    def _make_toolbar(self) -> QtWidgets.QToolBar:
        tb = QtWidgets.QToolBar(self)
        tb.setIconSize(QtCore.QSize(16, 16))
        tb.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonTextOnly)
        self._mode_box = QtWidgets.QComboBox(tb)
        self._mode_box.addItem("Rhythm rows", "rows")
        self._mode_box.addItem("Continuous", "continuous")
        self._mode_box.setToolTip("Layout: stacked rhythm strips or one continuous strip")
        self._mode_box.currentIndexChanged.connect(
            lambda i: self.set_mode(self._mode_box.itemData(i)))
        tb.addWidget(self._mode_box)
        self._spr_box = QtWidgets.QDoubleSpinBox(tb)
        self._spr_box.setRange(1, 600)
        self._spr_box.setDecimals(0)
        self._spr_box.setSuffix(" s/row")
        self._spr_box.setValue(self._spr)
        self._spr_box.setToolTip("Seconds per row (rows mode) / initial window (continuous)")
        self._spr_box.valueChanged.connect(self.set_seconds_per_row)
        tb.addWidget(self._spr_box)
        tb.addSeparator()
        self._act_real = tb.addAction("Real size")
        self._act_real.setCheckable(True)
        self._act_real.setToolTip("1 mm on screen = 1 mm of ECG paper (25 mm/s, 10 mm/mV)")
        self._act_real.toggled.connect(self.set_real_size)
        self._act_fit = tb.addAction("Fit")
        self._act_fit.setToolTip("Back to the start, rows fitted to the width (Home)")
        self._act_fit.triggered.connect(self._fit_clicked)
        tb.addSeparator()
        self._act_play = tb.addAction("▶ Play")
        self._act_play.setCheckable(True)
        self._act_play.setToolTip("Sweep through the record in real time (Space)")
        self._act_play.toggled.connect(self.play)
        self._act_cal = tb.addAction("Calipers")
        self._act_cal.setCheckable(True)
        self._act_cal.setToolTip("Drag the blue lines to read Δt, ΔmV and heart rate (C)")
        self._act_cal.toggled.connect(self.set_calipers_visible)
        tb.addSeparator()
        layers_btn = QtWidgets.QToolButton(tb)
        layers_btn.setText("Layers")
        layers_btn.setPopupMode(QtWidgets.QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QtWidgets.QMenu(layers_btn)
        self._layer_actions = {}
        for layer in LAYERS:
            act = menu.addAction(LAYER[layer].label.format(gain="N"))
            act.setCheckable(True)
            act.setChecked(self._visible[layer])
            act.toggled.connect(lambda on, l=layer: self.set_layer_visible(l, on))
            self._layer_actions[layer] = act
        layers_btn.setMenu(menu)
        tb.addWidget(layers_btn)
        self._gain_box = QtWidgets.QComboBox(tb)
        self._gain_box.addItem("Perturbation ×100", 100)
        self._gain_box.addItem("Perturbation ×10", 10)
        self._gain_box.setToolTip("Magnification of the perturbation lane")
        self._gain_box.currentIndexChanged.connect(
            lambda i: self.set_perturbation_gain(self._gain_box.itemData(i)))
        tb.addWidget(self._gain_box)
        return tb

    def _fit_clicked(self):
        self.set_real_size(False)
        self._home_view()

    def _sync_toolbar(self):
        if self.toolbar is None:
            return
        widgets = [self._mode_box, self._spr_box, self._act_real, self._act_play, self._act_cal,
                   self._gain_box, *self._layer_actions.values()]
        for w in widgets:
            w.blockSignals(True)
        try:
            self._mode_box.setCurrentIndex(0 if self._mode == "rows" else 1)
            self._spr_box.setValue(self._spr)
            self._act_real.setChecked(self._real)
            self._act_play.setChecked(self._playing)
            self._act_play.setText("■ Stop" if self._playing else "▶ Play")
            self._act_cal.setChecked(self.calipers.visible)
            self._gain_box.setCurrentIndex(0 if self._gain == 100 else 1)
            for layer, act in self._layer_actions.items():
                act.setChecked(self._visible[layer])
        finally:
            for w in widgets:
                w.blockSignals(False)
