"""Crosshair and calipers for the ECG strip.

The crosshair follows the mouse and reports (t, mV) through a readout callback.
Calipers are two vertical and two horizontal lines the user drags; they read
Δt (ms), ΔmV and the heart rate 60/Δt (bpm) of the interval between the vertical pair.
Both work in the view's coordinates (x in s, y in mV); the strip view passes a mapping
to record time / row-relative mV for the readout.  The heart rate is given only for a
plausible R–R interval (HR_RR_RANGE_S, 0.2–3 s = 300–20 bpm).  The readout is shown by
the strip under the plot, never over the trace it measures (the in-plot label is off
unless ``Calipers(show_label=True)``).
"""
from __future__ import annotations

import pyqtgraph as pg
from PySide6 import QtCore, QtGui

__all__ = ["Crosshair", "Calipers", "caliper_readout", "format_readout", "HR_RR_RANGE_S"]

HR_RR_RANGE_S = (0.2, 3.0)  # R–R intervals (s) read as a heart rate: 300 .. 20 bpm

CALIPER_COLOUR = QtGui.QColor(0, 110, 190)
CROSSHAIR_COLOUR = QtGui.QColor(80, 80, 80, 150)


def caliper_readout(x0: float, x1: float, y0: float, y1: float) -> dict:
    """Δt in ms, ΔmV and heart rate 60/Δt for caliper positions (x in s, y in mV);
    hr_bpm is None unless Δt is a plausible R–R interval (HR_RR_RANGE_S)."""
    dt = abs(x1 - x0)
    lo, hi = HR_RR_RANGE_S
    return {
        "t0": min(x0, x1), "t1": max(x0, x1),
        "dt_ms": dt * 1000.0,
        "dmv": abs(y1 - y0),
        "hr_bpm": (60.0 / dt) if lo <= dt <= hi else None,
    }


def format_readout(d: dict, units: str = "mV", scale: float = 1.0) -> str:
    """The calipers' readout; ΔV in the record's `units` (mV for an ECG lead), the view's
    height divided by `scale` (view mV per unit, gui.strip.model.unit_scale)."""
    hr = d.get("hr_bpm")
    lo, hi = HR_RR_RANGE_S
    hr_s = f"{hr:.0f} bpm" if hr is not None else f"– (R–R {lo:g}–{hi:g} s only)"
    return f"Δt {d['dt_ms']:.0f} ms   ΔV {d['dmv'] / scale:.{2 if scale >= 0.1 else 1}f} {units}   HR {hr_s}"


class Crosshair(QtCore.QObject):
    """Dashed vertical + horizontal lines under the mouse."""

    moved = QtCore.Signal(float, float)  # view x, view y

    def __init__(self, viewbox: pg.ViewBox):
        super().__init__()
        self.vb = viewbox
        pen = pg.mkPen(CROSSHAIR_COLOUR, width=1, style=QtCore.Qt.PenStyle.DashLine)
        self.vline = pg.InfiniteLine(angle=90, movable=False, pen=pen)
        self.hline = pg.InfiniteLine(angle=0, movable=False, pen=pen)
        for ln in (self.vline, self.hline):
            ln.setZValue(900)
            ln.hide()
            viewbox.addItem(ln, ignoreBounds=True)
        self.enabled = True
        self.pos = None
        scene = viewbox.scene()
        if scene is not None:
            scene.sigMouseMoved.connect(self._on_mouse)

    def set_enabled(self, on: bool):
        self.enabled = bool(on)
        if not on:
            self.hide()

    def hide(self):
        self.vline.hide()
        self.hline.hide()
        self.pos = None

    def _on_mouse(self, scene_pos):
        if not self.enabled:
            return
        if not self.vb.sceneBoundingRect().contains(scene_pos):
            self.hide()
            return
        p = self.vb.mapSceneToView(scene_pos)
        self.set_pos(p.x(), p.y())

    def set_pos(self, x: float, y: float):
        self.vline.setPos(x)
        self.hline.setPos(y)
        self.vline.show()
        self.hline.show()
        self.pos = (x, y)
        self.moved.emit(x, y)


class Calipers(QtCore.QObject):
    """Two draggable vertical lines (time) and two horizontal lines (amplitude)."""

    changed = QtCore.Signal(dict)

    def __init__(self, viewbox: pg.ViewBox, show_label: bool = False):
        super().__init__()
        self.vb = viewbox
        self.show_label = bool(show_label)
        pen = pg.mkPen(CALIPER_COLOUR, width=1.5)
        hover = pg.mkPen(QtGui.QColor(255, 120, 0), width=2.5)
        self.v = [pg.InfiniteLine(angle=90, movable=True, pen=pen, hoverPen=hover) for _ in range(2)]
        self.h = [pg.InfiniteLine(angle=0, movable=True, pen=pen, hoverPen=hover) for _ in range(2)]
        self.label = pg.TextItem(anchor=(0, 0), color=CALIPER_COLOUR,
                                 fill=pg.mkBrush(255, 255, 255, 215),
                                 border=pg.mkPen(CALIPER_COLOUR))
        font = QtGui.QFont()
        font.setPointSizeF(10)
        font.setBold(True)
        self.label.setFont(font)
        for item in (*self.v, *self.h, self.label):
            item.setZValue(950)
            item.hide()
            viewbox.addItem(item, ignoreBounds=True)
        for ln in (*self.v, *self.h):
            ln.sigPositionChanged.connect(self._update)
        self.visible = False

    def set_visible(self, on: bool):
        self.visible = bool(on)
        for item in (*self.v, *self.h):
            item.setVisible(self.visible)
        self.label.setVisible(self.visible and self.show_label)
        if on:
            self._update()

    def place(self, x0: float, x1: float, y0: float, y1: float):
        """Put the calipers at given view positions (x in s, y in mV)."""
        for ln, val in zip((*self.v, *self.h), (x0, x1, y0, y1)):
            ln.blockSignals(True)
            ln.setPos(val)
            ln.blockSignals(False)
        self._update()

    def positions(self) -> tuple[float, float, float, float]:
        return (self.v[0].value(), self.v[1].value(), self.h[0].value(), self.h[1].value())

    def readout(self) -> dict:
        return caliper_readout(*self.positions())

    def _update(self, *_):
        d = self.readout()
        self.label.setText(format_readout(d, getattr(self, "units", "mV"), getattr(self, "scale", 1.0)))
        self._place_label()
        self.changed.emit(d)

    def _place_label(self, view=None):
        x0, x1, y0, y1 = self.positions()
        x, y = min(x0, x1), max(y0, y1)  # inside the box, under its top line
        if view is not None:
            vx0, vx1, vy0, vy1 = view
            x = min(max(x, vx0), vx1)
            y = min(max(y, vy0), vy1)
        self.label.setPos(x, y)

    def keep_label_in_view(self, x0: float, x1: float, y0: float, y1: float):
        """Keep the readout visible when the box is partly scrolled away."""
        self._place_label((x0, x1, y0, y1))
