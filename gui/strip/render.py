"""The strip's drawn items (pyqtgraph): one curve per trace of each layer, the band fill
and bars, calibration pulses, lane zero lines and labels, the play cursor.

:class:`StripRenderer` owns the items in a ViewBox and, given the model and the visible
row pieces, sets on each curve only the points :mod:`gui.strip.lod` computes for them,
so that the cost of a frame does not depend on the record length.  Pens and z-order come
from :mod:`gui.strip.layers`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui

from . import lod
from .curves import StripCurve, qcolor, qpen
from .layers import (ADVERSARIAL_RGB, BAND_BAR_RGB, CURSOR_PEN, LANE_BAR_PEN, LANE_ENVELOPE_PEN, LANE_ZERO_PEN,
                     LAYER, LAYER_DECLS, PULSE_PEN)
from .marks import MarkLabels, annotation_marks
from .model import Segment, StripModel

__all__ = ["StripRenderer", "Trace", "LAYER_PENS", "BAND_BRUSH"]

# Pens are opaque on purpose: translucent or wide antialiased strokes of dense paths are
# what makes QPainter slow (see bench/bench_strip.py).  Wide pens are drawn as segments.
LAYER_PENS = {d.key: qpen(d.pen) for d in LAYER_DECLS}
BAND_BRUSH = pg.mkBrush(qcolor(LAYER["band"].fill))
BAND_BAR_COLOUR = qcolor(BAND_BAR_RGB)
ADVERSARIAL_COLOUR = qcolor(ADVERSARIAL_RGB)
LANE_LABEL_MAX_SHARE = 0.35  # the lane's label covers at most this share of the strip's width (else compact)


@dataclass
class Trace:
    """One curve of a layer: drawn from source `src` on the strip or in the lane."""

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
        state = (raw, raw and self.aa and n_points <= lod.AA_MAX_POINTS)
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


class StripRenderer:
    """The strip's curves in ViewBox `vb` and how they are updated for a view."""

    def __init__(self, vb: pg.ViewBox):
        self.vb = vb

        def curve(pen, z, aa=False):
            c = StripCurve(pen=pen, antialias=aa, connect="finite", skipFiniteCheck=True)
            if pen.widthF() > 1:
                c.setSegmentedLineMode("on")
            c.setZValue(z)
            vb.addItem(c, ignoreBounds=True)
            return c

        self.pulse = curve(qpen(PULSE_PEN), 5)
        self.lane_zero = curve(qpen(LANE_ZERO_PEN), 1)
        self.cursor = curve(qpen(CURSOR_PEN), 800)
        self.lane_bar = curve(qpen(LANE_BAR_PEN), 5)

        def T(key, layer, src, where, kind, pen=None, **kw):
            pen, z = pen or LAYER_PENS[layer], LAYER[layer].z  # declared in gui.strip.layers
            tr = Trace(key, layer, src, where, kind, curve(pen, z), pen, **kw)
            if tr.dec_width > 1:
                tr.twin = curve(pen, z)
                tr.twin.hide()
            return tr

        self.traces: list[Trace] = [
            T("band_lo", "band", "lo", "strip", "min"),
            T("band_hi", "band", "hi", "strip", "max"),
            T("lane_band_lo", "band", "lo_d", "lane", "min"),
            T("lane_band_hi", "band", "hi_d", "lane", "max"),
            T("members", "members", "mem", "strip", "sub"),
            T("lane_members", "members", "mem_d", "lane", "sub"),
            T("adversarial", "adversarial", "adv", "strip", "minmax", aa=False, dec_width=2.0),
            T("original", "original", "x", "strip", "minmax"),
            T("difference", "difference", "diff", "strip", "minmax"),
            T("perturbation", "perturbation", "diff", "lane", "minmax", pen=qpen(LANE_ENVELOPE_PEN)),
            T("perturbation_mean", "perturbation", "diff", "lane", "mean"),
            T("tube_lo", "tube", "tube_lo", "strip", "min"),
            T("tube_hi", "tube", "tube_hi", "strip", "max"),
        ]
        self.trace = {t.key: t for t in self.traces}
        self.fills = []
        for lo, hi in (("band_lo", "band_hi"), ("lane_band_lo", "lane_band_hi")):
            f = pg.FillBetweenItem(self.trace[lo].item, self.trace[hi].item, brush=BAND_BRUSH)
            f.setZValue(1)
            vb.addItem(f, ignoreBounds=True)
            self.fills.append(f)
        self.band_bars = []
        for _ in range(2):
            b = StripCurve(connect="pairs", antialias=False, skipFiniteCheck=True)
            b.setZValue(1)
            b.hide()
            vb.addItem(b, ignoreBounds=True)
            self.band_bars.append(b)
        self.lane_labels: list[pg.TextItem] = []
        self.marks = MarkLabels(qcolor(LAYER["annotations"].pen.colour))  # the record's annotations
        self.marks.setZValue(LAYER["annotations"].z)
        vb.addItem(self.marks, ignoreBounds=True)

    def layer_drawn(self, layer: str) -> bool:
        if layer == "annotations":
            return self.marks.isVisible() and self.marks.count() > 0
        return any(t.item.isVisible() and t.layer == layer for t in self.traces)

    def clear(self) -> None:
        """Nothing to show (no record)."""
        for t in self.traces:
            t.item.setData([], [])
            t.hide()
        for it in (self.pulse, self.lane_zero, self.lane_bar, self.cursor, *self.band_bars):
            it.setData([], [])
        for f in self.fills:
            f.hide()
        for lab in self.lane_labels:
            lab.hide()
        self.marks.set_marks(np.empty(0), np.empty(0), [], np.empty(0, dtype=np.int64), self.vb.viewRect(), 1.0)

    def draw(self, m: StripModel, segs: list[Segment], width_px: float, play_t: float | None) -> None:
        """Update every item for the current view: `segs` the visible row pieces, drawn
        `width_px` pixels wide; `play_t` the play cursor (s) or None."""
        vb = self.vb
        lane = m.lane_on()
        fs = m.fs
        (vx0, vx1), (vy0, vy1) = vb.viewRange()
        px_per_mv = max(1.0, vb.height()) / max(1e-9, vy1 - vy0)
        strip_band_hidden = m.band_width_mv * m.strip_scale * px_per_mv < lod.STRIP_BAND_MIN_PX
        px_s = (vx1 - vx0) / width_px  # 1 px in s
        for tr in self.traces:
            show = (m.visible[tr.layer] and tr.src in m.src and bool(segs)
                    and (tr.where == "strip" or lane))
            if tr.kind == "sub" and tr.where == "strip" and lane:
                show = False  # members are drawn where their spread shows: in the lane
            if tr.layer == "band" and tr.where == "strip" and lane and strip_band_hidden:
                show = False  # a band thinner than a pixel on the strip: the lane shows it
            if not show:
                if tr.item.isVisible():
                    tr.hide()
                continue
            src = m.src[tr.src]
            in_lane = tr.where == "lane"
            xa, ya, raw = lod.trace_points(src.data, src.pyr, tr.kind, segs, m.gain if in_lane else m.strip_scale,
                                           in_lane, fs, px_s, px_per_mv, m.trace_clip(in_lane, tr.src), src.csum,
                                           m.trace_bias(tr.src, in_lane))
            if raw and tr.key == "perturbation":
                # the samples themselves: the mean line (drawn next) is the same line
                if tr.item.isVisible():
                    tr.hide()
                continue
            tr.set_raw(raw, xa.size)
            # a decimated min/max envelope of one row: maybe filled as pixel columns (gui.strip.columns)
            tr.item.columns = not raw and tr.kind == "minmax" and len(segs) == 1
            if tr.twin is not None:
                tr.twin.columns = tr.item.columns
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
        self._draw_band_fill(width_px)
        self._draw_furniture(m, segs, lane, play_t, width_px)
        marks = annotation_marks(m, segs if m.visible["annotations"] else [])
        self.marks.set_marks(*marks, vb.viewRect(), width_px)
        self.marks.setVisible(bool(marks[2]))

    def _draw_band_fill(self, width_px: float) -> None:
        """Band fill: a semi-transparent polygon (FillBetweenItem) when samples are more
        than BAND_BARS_MAX_PX apart; otherwise vertical bars (see lod.band_bars)."""
        (x0, x1), _ = self.vb.viewRange()
        px_per_s = width_px / max(1e-12, x1 - x0)
        for fill, bars, lo, hi in zip(self.fills, self.band_bars, ("band_lo", "lane_band_lo"),
                                      ("band_hi", "lane_band_hi")):
            it_lo, it_hi = self.trace[lo].item, self.trace[hi].item
            if not (it_lo.isVisible() and it_hi.isVisible()):
                fill.hide()
                bars.hide()
                continue
            xl, yl = it_lo.getData()
            _, yh = it_hi.getData()
            pts = lod.band_bars(xl, yl, yh, x0, px_per_s)
            if pts is None:
                bars.hide()
                fill.updatePath()
                fill.show()
                it_lo.setOpacity(1.0)
                it_hi.setOpacity(1.0)
            else:
                fill.hide()
                it_lo.setOpacity(0.0)  # the bars are the band; edges would only cost time
                it_hi.setOpacity(0.0)
                if not fill.path().isEmpty():
                    fill.setPath(QtGui.QPainterPath())
                pen = QtGui.QPen(BAND_BAR_COLOUR, float(lod.BAND_BAR_PX))
                pen.setCosmetic(True)
                pen.setCapStyle(QtCore.Qt.PenCapStyle.FlatCap)
                # wide pens: plain line segments (a wide stroked path is many times slower);
                # set only when changed (each set re-invalidates the item)
                if bars.opts["segmentedLineMode"] != "on":
                    bars.setSegmentedLineMode("on")
                if bars.opts["pen"] != pen:
                    bars.setPen(pen)
                bars.setData(*pts)
                bars.show()

    def _draw_furniture(self, m: StripModel, segs: list[Segment], lane: bool, play_t: float | None,
                        width_px: float) -> None:
        """Calibration pulses, lane zero lines and labels, play cursor (`width_px`: the strip's width)."""
        vb = self.vb
        (x0, x1), (y0, y1) = vb.viewRange()
        rows = [s[0] for s in segs] if segs else m.rows_in(y0, y1)
        self.pulse.setData(*m.pulse_lines(rows, x0))
        self.lane_bar.setData(*m.lane_scale_lines(rows, x0))
        row_px = vb.height() / max(1e-9, (y1 - y0)) * m.pitch()
        if lane and rows:
            self.lane_zero.setData(*m.lane_zero_lines(rows))
            self.lane_zero.show()
        else:
            self.lane_zero.setData([], [])
        # the lane's label (gain, scale bar in µV, max |δ|) on the first row shown only: it is the
        # same for every row, each lane's axis already says "δ ×gain", and a label on every row
        # covered the start of every row's δ (a third of it in a 1280-px window)
        show_labels = lane and row_px >= 45 and len(rows) <= 40
        n_lab = 1 if show_labels else 0
        while len(self.lane_labels) < n_lab:
            lab = pg.TextItem(anchor=(0, 0), color=ADVERSARIAL_COLOUR,
                              fill=pg.mkBrush(255, 248, 246, 200))
            font = QtGui.QFont()
            font.setPointSizeF(8.5)
            font.setBold(True)
            lab.setFont(font)
            lab.setZValue(700)
            vb.addItem(lab, ignoreBounds=True)
            self.lane_labels.append(lab)
        text = m.lane_text()
        for i, lab in enumerate(self.lane_labels):
            if i < n_lab:
                if lab.toolTip() != text:  # the full text, measured once per change
                    lab.setToolTip(text)
                    lab.setText(text)
                    lab.full_width_px = lab.textItem.boundingRect().width()
                # a narrow strip: the compact text (max |δ| stays in the tooltip)
                want = m.lane_text(compact=True) if lab.full_width_px > LANE_LABEL_MAX_SHARE * width_px else text
                if lab.textItem.toPlainText() != want:
                    lab.setText(want)  # re-lays out rich text: only when it changes
                lab.setPos(max(x0, 0.0), m.lane_top(rows[i]))
                lab.show()
            else:
                lab.hide()
        if play_t is not None:
            self.cursor.setData(*m.cursor_line(play_t))
            self.cursor.show()
        else:
            self.cursor.setData([], [])
            self.cursor.hide()
