"""StripView: an ECG review strip on calibrated paper (pyqtgraph).

Public API (signals in mV, float32 numpy arrays; fs in Hz) — the main window embeds this:

    v = StripView(parent=None, toolbar=True)
    v.set_record(x_mv, fs, name="", units="mV")  # original trace; clears every overlay; a
                                               # channel not in mV: no 1 mV pulse, its unit shown
    v.set_adversarial(x_mv | None)             # also defines perturbation = adv - original
    v.set_band(lo_mv | None, hi_mv | None)     # filled min/max envelope
    v.set_band_members(members (K, n) | None)  # thin lines; at most max_members_drawn drawn
    v.set_annotations(time_s | None, labels)   # the record's .atr labels at each row's top
    v.set_layer_visible(layer, bool)           # a key of gui.strip.layers.LAYERS
    v.set_perturbation_gain(10 | 100)
    v.set_mode("rows" | "continuous"); v.set_seconds_per_row(10.0); v.set_real_size(bool)
    v.set_view(t0, t1); v.view_range() -> (t0, t1)   # record time in s
    v.play(bool); v.set_play_speed(1.0)
    v.set_calipers_visible(bool)
    v.set_free_zoom(bool); v.is_calibrated()  # squares square (continuous: unless free zoom)
    v.export_png(path, width_px=None, t0=None, t1=None, dpi=300, header=None)
    v.export_svg(path, t0=None, t1=None, header=None); v.export_pdf(path, t0=None, t1=None, header=None)
                                               # paper at 25 mm/s, 10 mm/mV: the whole record
                                               # or [t0, t1] s; header dict on every page
    signals: timeChanged(t0, t1), caliperChanged(dict: dt_ms, dmv, hr_bpm (None unless
             R–R 0.2–3 s), t0, t1), layerVisibilityChanged(layer, bool), modeChanged(str),
             realSizeChanged(bool), playingChanged(bool), calibrationChanged(bool)

Also public (beyond the brief): go_home(), go_end(), fit(), pan(fraction), scroll_rows(k),
zoom(factor), has_layer(layer), layer_drawn(layer), layer_visible(layer), legend_labels(),
mode(), seconds_per_row(), row_count(), duration(), perturbation_gain(), real_size(),
paper_scale() -> (mm/s, mm/mV), px_per_mm(), is_playing(), play_position(),
set_crosshair_enabled(bool), set_row_heights(strip_mv=3, lane_mv=2), memory_bytes(),
paper_spec(t0, t1, header), export_view_png(path, width_px), export_view_svg(path) (the
view as shown), free_zoom(), view_to_record(x, y), the attributes max_members_drawn (40; read by
set_band_members), play_speed, last_open_s, model (the StripModel), toolbar (None with
toolbar=False), legend, plot, plot_item, overview, info, calipers, crosshair, grid.

The pieces: :mod:`.layers` (every layer, declared once), :mod:`.model` (data and layout,
no Qt), :mod:`.lod` (each curve's points), :mod:`.render` (the drawn items), :mod:`.marks`
(annotation labels), the mixins :mod:`.navigation` (pan, zoom, keys), :mod:`.playback` and
:mod:`.readouts` (info line, crosshair, calipers); :mod:`.legend`, :mod:`.toolbar`,
:mod:`.paper`, :mod:`.ticks`, :mod:`.overview`, :mod:`.calipers`, :mod:`.export`.  The layout:
:mod:`.model`; the keys: :mod:`.navigation`.

Drawing.  Each signal gets a min/max pyramid once (``decimate.build_pyramid``); every
view change sets on each curve only the visible slice, decimated to about one min/max
pair per pixel, so the cost of a frame does not depend on the record length.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from . import export as _export
from .calipers import Calipers, Crosshair
from .info_label import InfoLabel
from .layers import DEFAULT_VISIBLE, LAYERS  # noqa: F401  (re-exported)
from .legend import StripLegend
from .model import MIN_WINDOW_S, ROW_MARGIN_S, StripModel  # noqa: F401
from .navigation import Navigation, StripViewBox
from .overview import Overview
from .paper import PAPER_BG, LabelAxis, PaperGrid, TimeAxis
from .playback import Playback
from .readouts import Readouts
from .render import StripRenderer
from .toolbar import StripToolbar

__all__ = ["StripView", "LAYERS"]


class StripView(Navigation, Playback, Readouts, QtWidgets.QWidget):
    """ECG strip on ECG paper with overlays, overview bar, calipers, play and export."""

    timeChanged = QtCore.Signal(float, float)
    caliperChanged = QtCore.Signal(dict)
    layerVisibilityChanged = QtCore.Signal(str, bool)
    modeChanged = QtCore.Signal(str)
    realSizeChanged = QtCore.Signal(bool)
    playingChanged = QtCore.Signal(bool)
    calibrationChanged = QtCore.Signal(bool)  # squares square (25 mm/s ≙ 10 mm/mV) or not

    def __init__(self, parent: QtWidgets.QWidget | None = None, toolbar: bool = True):
        super().__init__(parent)
        self.setFocusPolicy(QtCore.Qt.FocusPolicy.StrongFocus)
        self.model = StripModel()
        self._real = False
        self._free = False       # free zoom: continuous mode's x and y scales independent
        self._calibrated = True
        self._cal_pending = False
        self._render_width: float | None = None  # set while exporting at another width
        self._clamping = False
        self._in_refresh = False
        self._last_time = None
        self.last_open_s = 0.0  # seconds set_record took (pyramid + first layout)
        self._init_playback()

        # ---- plot
        self._bottom_axis = TimeAxis("bottom")
        self._left_axis = LabelAxis("left", ticks=self._left_ticks)
        self._vb = StripViewBox(self)
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
        self.renderer = StripRenderer(self._vb)
        self._legend = StripLegend(self.plot, self._left_axis, self.set_layer_visible)
        self.legend = self._legend.item

        self.crosshair = Crosshair(self._vb)
        self.crosshair.moved.connect(self._on_crosshair)
        self.calipers = Calipers(self._vb)
        self.calipers.changed.connect(self._on_calipers)

        # ---- overview, info bar, toolbar
        self.overview = Overview(self)
        self.overview.regionMoved.connect(self._on_overview)
        self.info = InfoLabel(self)  # elided, never widens the window (plain text, #333)
        self.caliper_info = QtWidgets.QLabel(self)
        self.caliper_info.setStyleSheet("QLabel { color: #0060b0; padding: 1px 6px; font-weight: bold; }")
        info_row = QtWidgets.QHBoxLayout()
        info_row.setContentsMargins(0, 0, 0, 0)
        info_row.addWidget(self.info, 1)
        info_row.addWidget(self.caliper_info, 0)

        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        self.toolbar: StripToolbar | None = None
        if toolbar:
            self.toolbar = StripToolbar(self)
            lay.addWidget(self.toolbar)
        lay.addWidget(self.plot, 1)
        lay.addWidget(self.overview)
        lay.addLayout(info_row)

        self._vb.sigRangeChanged.connect(self._on_range_changed)
        self.realSizeChanged.connect(lambda _on: self._update_info())  # its "real size" note, on and off
        self._vb.sigResized.connect(self._on_resized)
        self._apply_mode_settings()
        self._legend.update(self.model)
        self._update_info()

    # ================================================================== data
    @property
    def max_members_drawn(self) -> int:
        """Band members drawn at most (evenly chosen); the band shows the rest."""
        return self.model.max_members_drawn

    @max_members_drawn.setter
    def max_members_drawn(self, k: int) -> None:
        self.model.max_members_drawn = int(k)

    def set_record(self, x_mv: np.ndarray, fs: float, name: str = "", units: str = "mV") -> None:
        """Show `x_mv` (1-D, mV) sampled at `fs` Hz; clears every overlay and the play state.
        `units`: the channel's physical unit; a channel not in mV gets no 1 mV calibration
        pulse and its unit (not mV) on the labels and readouts."""
        clock = QtCore.QElapsedTimer()
        clock.start()
        m = self.model
        m.set_record(x_mv, fs, name, units)  # validates before it changes anything
        self.calipers.units, self.calipers.scale = m.units, m.strip_scale
        self.play(False)
        self.overview.set_signal(m.x, m.fs, m.src["x"].pyr)
        self._apply_mode_settings()
        self._home_view()
        self._legend.update(m)
        self._refresh()
        self._sync_time(force=True)  # the overview shows what is shown, even if t is unchanged
        self._update_info()
        self.last_open_s = clock.nsecsElapsed() / 1e9

    def set_adversarial(self, x_mv: np.ndarray | None) -> None:
        """Overlay an adversarial version of the record (same length); None removes it."""
        self.model.set_adversarial(x_mv)
        self._layout_changed()

    def set_band(self, lo_mv: np.ndarray | None, hi_mv: np.ndarray | None) -> None:
        """Band envelope (per-sample min and max of the band, mV); None removes it."""
        self.model.set_band(lo_mv, hi_mv)
        self._layout_changed()

    def set_tube(self, lo_mv: np.ndarray | None, hi_mv: np.ndarray | None) -> None:
        """Certified L∞ tube edges (mV, the record's length each); None removes the tube."""
        self.model.set_tube(lo_mv, hi_mv)
        self._layout_changed()

    def set_band_members(self, members: np.ndarray | None) -> None:
        """Band members (K, n) in mV; at most `max_members_drawn` (evenly chosen, the first
        always) are drawn; None removes them."""
        self.model.set_band_members(members)
        self._layout_changed()

    def set_annotations(self, time_s: np.ndarray | None, labels=()) -> None:
        """The record's reference annotations ((k,) s from its start, k labels; engine.annotations)
        shown at the top of each row; None removes them (set_record does too)."""
        self.model.set_annotations(time_s, labels)
        self._layout_changed()

    def memory_bytes(self) -> dict:
        """Bytes held by the raw signals and by their min/max pyramids (for the benchmark)."""
        return self.model.memory_bytes()

    # ================================================================== layers
    def set_layer_visible(self, layer: str, visible: bool) -> None:
        """Show or hide a layer (a key of gui.strip.layers.LAYERS); ValueError otherwise."""
        if not self.model.set_layer_visible(layer, visible):
            return
        self._sync_toolbar()
        self._layout_changed()
        self.layerVisibilityChanged.emit(layer, bool(visible))

    def layer_visible(self, layer: str) -> bool:
        return self.model.visible[layer]

    def has_layer(self, layer: str) -> bool:
        """Whether the layer has data (independently of its visibility)."""
        return self.model.has_layer(layer)

    def layer_drawn(self, layer: str) -> bool:
        """Whether the layer has data, is switched on and is currently drawn."""
        return self.renderer.layer_drawn(layer)

    def legend_labels(self) -> list[str]:
        return self._legend.labels()

    def set_perturbation_gain(self, gain: int) -> None:
        """Magnification of the perturbation lane (10 or 100).  It is the strip's own state:
        set_record and set_adversarial keep it."""
        self.model.set_gain(gain)
        self._sync_toolbar()
        self._legend.update(self.model)
        self._axis_changed()
        self._refresh()
        self._reread_crosshair()

    def perturbation_gain(self) -> int:
        return self.model.gain

    # ================================================================== layout
    def set_mode(self, mode: str) -> None:
        m = self.model
        t0, t1 = self.view_range()
        if not m.set_mode(mode):
            return
        self._apply_mode_settings()
        if m.x is not None:
            if mode == "rows":
                self._rows_show(int(t0 // m.spr), fit_rows=None)
            else:
                self._continuous_home()
                self._set_x(t0 if t0 > 0 else -ROW_MARGIN_S, t0 + min(max(t1 - t0, 1.0), m.spr))
        if self._real:
            self._apply_real_size()
        self._replace_calipers()
        self._sync_toolbar()
        self._refresh()
        self.modeChanged.emit(mode)

    def mode(self) -> str:
        return self.model.mode

    def set_seconds_per_row(self, seconds: float) -> None:
        m = self.model
        t0, _ = self.view_range()
        m.set_seconds_per_row(seconds)
        self._apply_mode_settings()
        if m.x is not None and m.mode == "rows":
            self._rows_show(int(t0 // m.spr), fit_rows=None)
        if self._real:
            self._apply_real_size()
        self._replace_calipers()
        self._sync_toolbar()
        self._refresh()

    def seconds_per_row(self) -> float:
        return self.model.spr

    def row_count(self) -> int:
        """Rows the record is laid out in (1 in continuous mode)."""
        return self.model.row_count()

    def set_row_heights(self, strip_mv: float = 3.0, lane_mv: float = 2.0) -> None:
        """Height of each strip and of the perturbation lane in mV (rounded to 1 mV so
        baselines fall on large squares)."""
        self.model.set_row_heights(strip_mv, lane_mv)
        self._layout_changed()

    def set_real_size(self, on: bool) -> None:
        """1 mm on screen = 1 mm of paper (25 mm/s, 10 mm/mV), from the screen's physical DPI."""
        on = bool(on)
        changed = on != self._real
        self._real = on
        if on:
            self._apply_real_size()
        elif changed:
            self._fit_keep_place()  # real size off: back to the fit, where the user was
        self._sync_toolbar()
        if changed:
            self.realSizeChanged.emit(on)

    def real_size(self) -> bool:
        return self._real

    def fit(self) -> None:
        """Leave real size; back to the start, rows fitted to the width."""
        self.set_real_size(False)
        self._home_view()

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
        m = self.model
        if m.x is None:
            return
        t0, t1 = float(min(t0, t1)), float(max(t0, t1))
        if m.mode == "continuous":
            self._set_x(t0, t1)
        else:
            self._rows_show(*m.rows_for_view(t0, t1))

    def view_range(self) -> tuple[float, float]:
        """Visible record time (s), clipped to the record."""
        (x0, x1), (y0, y1) = self._vb.viewRange()
        return self.model.time_range(x0, x1, y0, y1)

    def duration(self) -> float:
        return self.model.duration()

    def view_to_record(self, x: float, y: float) -> tuple[float, float, str]:
        """Map a view point to (record time s, value mV, "strip" | "lane")."""
        return self.model.view_to_record(x, y)

    def _layout_changed(self) -> None:
        """Data, visibility or geometry changed: keep the top row, redraw."""
        m = self.model
        if m.x is not None and m.mode == "rows":
            top_row = self._top_row()
            self._apply_mode_settings()
            if m.rows_fit and not self._real:
                self._rows_show(top_row, fit_rows=None)  # rows fill the view again
            else:
                x_lo, _, sx = m.rows_vp
                self._rows_set(x_lo, m.row_top(top_row), sx)
        else:
            self._apply_mode_settings()
            if m.x is not None:
                self._fit_y_continuous()
        self._legend.update(m)
        self._axis_changed()
        self._refresh()

    def _axis_changed(self) -> None:
        """The left axis' labels depend on more than the view range (gain, lanes): repaint."""
        self._left_axis.picture = None
        self._left_axis.update()

    def _reread_crosshair(self) -> None:
        if self.crosshair.pos is not None:
            self._on_crosshair(*self.crosshair.pos)

    def _apply_mode_settings(self) -> None:
        vb, m = self._vb, self.model
        vb.setLimits(xMin=None, xMax=None, yMin=None, yMax=None, minXRange=None, maxXRange=None,
                     minYRange=None, maxYRange=None)
        vb.setMouseEnabled(x=True, y=True)
        if m.mode == "rows":
            # squares stay square: the aspect is kept by _rows_set (not pyqtgraph's aspect
            # lock, whose interplay with limits drops range-change signals)
            unit = "row start (s)" if m.duration() < 60 else "row start"
            self._left_axis.setLabel(unit, **{"color": "#555", "font-size": "9pt"})
        else:
            dur = m.duration() if m.x is not None else 10.0
            vb.setLimits(xMin=-ROW_MARGIN_S - 0.5, xMax=dur + 1.0, minXRange=MIN_WINDOW_S,
                         maxXRange=dur + ROW_MARGIN_S + 1.5)
            self._left_axis.setLabel(m.units, **{"color": "#555", "font-size": "9pt"})  # mV for an ECG lead
        # another unit is on every label ("120 mmHg"): room for it, or the axis drops the label
        self._left_axis.setWidth(62 if m.mode == "rows" or m.units == "mV" else 100)
        self._left_axis.set_static(m.mode == "continuous")  # y stays put while panning: blit it
        self._left_axis.picture = None
        self._left_axis.update()

    # ================================================================== drawing
    def _on_resized(self, *_) -> None:
        m = self.model
        if m.x is None:
            return
        if self._real:
            self._apply_real_size()
        elif m.mode == "rows":
            x_lo, top, sx = m.rows_vp
            if m.rows_fit:
                self._rows_show(int(round(-top / m.pitch())), None)
            else:
                self._rows_set(x_lo, top, sx)
        else:
            self._fit_y_continuous()
        self._refresh()

    def _on_range_changed(self, *_) -> None:
        m = self.model
        if m.mode == "rows" and not self._clamping and m.x is not None:
            # moved by pyqtgraph (mouse drag): adopt the new corner, keep the scale
            (x0, x1), (y0, y1) = self._vb.viewRange()
            sx = m.rows_vp[2]
            want = m.rows_clamp(x0, y1, sx, *self._vb_size())
            if abs(want[0] - x0) > 1e-9 or abs(want[1] - y1) > 1e-9 or abs((x1 - x0) * sx - self._vb_size()[0]) > 0.5:
                self._rows_set(*want)
                return
            m.rows_vp = want
        self._refresh()
        self._sync_time()

    def _sync_time(self, force: bool = False) -> None:
        """Overview region, timeChanged and calibrationChanged after the view moved."""
        t = self.view_range()
        if force or t != self._last_time:
            self._last_time = t
            self.overview.set_window(*t)
            self.timeChanged.emit(*t)
        if not self._cal_pending:  # judged once the event loop is back: no transient states
            self._cal_pending = True
            QtCore.QTimer.singleShot(0, self._check_calibration)

    def _check_calibration(self) -> None:
        self._cal_pending = False
        cal = self.is_calibrated()
        if cal != self._calibrated:
            self._calibrated = cal
            self.calibrationChanged.emit(cal)
            self._update_info()

    def _width_px(self) -> float:
        """Pixels the traces are decimated for (the view's width, or the export's)."""
        return self._render_width or max(50.0, self._vb.width())

    def _segments(self) -> list:
        """Visible row pieces (gui.strip.model.Segment) of the current view."""
        (x0, x1), (y0, y1) = self._vb.viewRange()
        return self.model.segments(x0, x1, y0, y1, self._width_px(), self._play_cursor())

    def _refresh(self) -> None:
        if self._in_refresh:
            return
        self._in_refresh = True
        try:
            self._draw()
        finally:
            self._in_refresh = False

    def _draw(self) -> None:
        # apply the new view transform now: left to paint time, it makes items that follow
        # the view (labels, lines) schedule a second paint of the whole view
        self._vb.updateMatrix()
        self.grid.view_changed()
        if self.model.x is None:
            self.renderer.clear()
            return
        self.renderer.draw(self.model, self._segments(), self._width_px(), self._play_cursor())
        if self.calipers.visible:
            (x0, x1), (y0, y1) = self._vb.viewRange()
            self.calipers.keep_label_in_view(x0, x1, y0, y1)

    def _left_ticks(self, lo: float, hi: float):
        return self.model.left_ticks(lo, hi, max(1.0, self._vb.height()) / max(1e-9, hi - lo))

    # ================================================================== legend, toolbar
    def resizeEvent(self, ev) -> None:  # noqa: N802 (Qt)
        super().resizeEvent(ev)
        self._legend.fit()

    def _sync_toolbar(self) -> None:
        """Bring the toolbar's buttons in line with the view's state (mixins call it too)."""
        if self.toolbar is not None:
            self.toolbar.sync()

    # ================================================================== export
    # Every export is ECG paper at true scale (25 mm/s, 10 mm/mV) of the whole record, or
    # of record time [t0, t1] s; `header` (e.g. {"record": ..., "model": ..., "attack": ...,
    # "eps_mv": ...}) is printed on every page, ε in µV.  UserError (one line) for a range
    # or size that cannot be exported; the file is written atomically.
    def export_png(self, path: str, width_px: int | None = None, t0: float | None = None,
                   t1: float | None = None, dpi: float = _export.DEFAULT_DPI,
                   header: dict | None = None) -> str:
        """PNG sheet with every row at `dpi` (300: print resolution), or `width_px` wide."""
        return _export.export_png(self, path, width_px, t0, t1, dpi, header)

    def export_svg(self, path: str, t0: float | None = None, t1: float | None = None,
                   header: dict | None = None) -> str:
        """SVG sheet (vector, sized in mm) with every row."""
        return _export.export_svg(self, path, t0, t1, header)

    def export_pdf(self, path: str, t0: float | None = None, t1: float | None = None,
                   header: dict | None = None) -> str:
        """PDF, `ROWS_PER_PAGE` rows a page, page size fitted to the strips."""
        return _export.export_pdf(self, path, t0, t1, header)

    def export_problem(self, ext: str, t0: float | None = None, t1: float | None = None,
                       dpi: float = _export.DEFAULT_DPI) -> str:
        """Why a paper export of [t0, t1] as .`ext` would be refused (one line), or ""."""
        return _export.export_problem(self, ext, t0, t1, dpi)

    def export_view_png(self, path: str, width_px: int | None = None) -> str:
        """The strip as shown (axes, legend; no crosshair) as PNG, `width_px` wide or as is."""
        return _export.export_view_png(self, path, width_px)

    def export_view_svg(self, path: str) -> str:
        """The strip as shown (axes, legend; no crosshair) as SVG."""
        return _export.export_view_svg(self, path)

    def paper_spec(self, t0: float | None = None, t1: float | None = None,
                   header: dict | None = None) -> "_export.PaperSpec":
        """Everything the paper exporter draws for [t0, t1] (default: the whole record)."""
        a, b = _export.export_range(self.model, t0, t1)
        return _export.paper_spec(self.model, a, b, header)
