"""A thin adapter between the main window and the ECG strip widget (gui.strip.StripView).

The strip widget is written separately; this adapter forwards the planned API, turns calls the
widget does not (yet) have into no-ops (listed in `missing`), remembers what was drawn (`state`,
used by the tests and the status line) and falls back to a plain pyqtgraph plot when the widget
cannot be imported at all.
"""

from __future__ import annotations

import logging

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget

log = logging.getLogger(__name__)

LAYERS = ("original", "adversarial", "perturbation", "band", "members", "difference")


class FallbackStrip(QWidget):
    """Minimal stand-in with the StripView API (used only when gui.strip is unavailable)."""

    timeChanged = Signal(float, float)
    caliperChanged = Signal(dict)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        import pyqtgraph as pg

        self._pg = pg
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.plot = pg.PlotWidget(background="#fff8f5")
        self.plot.showGrid(x=True, y=True, alpha=0.3)
        self.plot.setLabel("bottom", "time", units="s")
        self.plot.setLabel("left", "mV")
        self.plot.addLegend()
        lay.addWidget(self.plot)
        self._x = None
        self._fs = 300.0
        self._adv = None
        self._gain = 10
        self._visible = {k: k in ("original", "adversarial", "perturbation", "band") for k in LAYERS}
        self._items: dict[str, object] = {}
        self._lo = self._hi = None
        self._members = None

    def _t(self, n):
        return np.arange(n, dtype=np.float64) / self._fs

    def _redraw(self) -> None:
        pg = self._pg
        self.plot.clear()
        self._items.clear()
        if self._x is None:
            return
        t = self._t(len(self._x))
        if self._visible["band"] and self._lo is not None:
            lo = pg.PlotDataItem(t, self._lo, pen=pg.mkPen((255, 140, 0, 120)))
            hi = pg.PlotDataItem(t, self._hi, pen=pg.mkPen((255, 140, 0, 120)))
            fill = pg.FillBetweenItem(lo, hi, brush=pg.mkBrush(255, 160, 0, 90))
            for it in (lo, hi, fill):
                self.plot.addItem(it)
            self._items["band"] = fill
        if self._visible["original"]:
            self._items["original"] = self.plot.plot(t, self._x, pen=pg.mkPen("#1f2a44", width=1.2),
                                                     name="original")
        if self._adv is not None:
            if self._visible["adversarial"]:
                self._items["adversarial"] = self.plot.plot(t, self._adv, pen=pg.mkPen("#d62728", width=1),
                                                            name="adversarial")
            if self._visible["perturbation"]:
                d = (self._adv - self._x) * self._gain
                off = float(np.min(self._x)) - 0.5
                self._items["perturbation"] = self.plot.plot(t, d + off, pen=pg.mkPen("#2ca02c", width=1),
                                                             name=f"perturbation ×{self._gain}")

    def set_record(self, x_mv, fs, name=""):
        self._x = np.asarray(x_mv, dtype=np.float32)
        self._fs = float(fs)
        self._adv = None
        self._lo = self._hi = self._members = None
        self._redraw()
        self.plot.setXRange(0, min(10.0, len(self._x) / self._fs))

    def set_adversarial(self, x):
        self._adv = None if x is None else np.asarray(x, dtype=np.float32)
        self._redraw()

    def set_band(self, lo, hi):
        self._lo, self._hi = lo, hi
        self._redraw()

    def set_band_members(self, members):
        self._members = members

    def set_layer_visible(self, layer, visible):
        self._visible[layer] = bool(visible)
        self._redraw()

    def set_perturbation_gain(self, g):
        self._gain = int(g)
        self._redraw()

    def set_mode(self, mode):
        pass

    def set_seconds_per_row(self, s):
        pass

    def set_real_size(self, on):
        pass

    def set_view(self, t0, t1):
        self.plot.setXRange(t0, t1, padding=0)

    def view_range(self):
        r = self.plot.viewRange()[0]
        return float(r[0]), float(r[1])

    def play(self, on):
        pass

    def export_png(self, path):
        self.grab().save(path, "PNG")

    def export_svg(self, path):
        from pyqtgraph.exporters import SVGExporter

        SVGExporter(self.plot.plotItem).export(path)

    def export_pdf(self, path):
        from PySide6.QtGui import QPageSize, QPainter, QPdfWriter

        w = QPdfWriter(path)
        w.setPageSize(QPageSize(QPageSize.PageSizeId.A4))
        p = QPainter(w)
        pix = self.grab()
        r = p.viewport()
        p.drawPixmap(r, pix.scaled(r.size()))
        p.end()


class StripAdapter(QObject):
    """Forwards to the strip widget; missing methods become no-ops, recorded in `missing`."""

    timeChanged = Signal(float, float)
    caliperChanged = Signal(dict)
    layerVisibilityChanged = Signal(str, bool)
    modeChanged = Signal(str)
    realSizeChanged = Signal(bool)
    playingChanged = Signal(bool)

    def __init__(self, parent_widget: QWidget | None = None, toolbar: bool = False) -> None:
        super().__init__(parent_widget)
        self.fallback = False
        self.import_error = ""
        try:
            from gui.strip import StripView  # written by the strip engineer
            try:
                self.widget = StripView(parent_widget, toolbar=toolbar)  # the window has its own bar
            except TypeError:
                self.widget = StripView(parent_widget)
        except Exception as exc:  # noqa: BLE001 - any failure: keep the app usable
            log.warning("ECG strip widget unavailable (%s); using a plain plot", exc)
            self.fallback = True
            self.import_error = f"{type(exc).__name__}: {exc}"
            self.widget = FallbackStrip(parent_widget)
        self.missing: set[str] = set()
        self.state = {"record": None, "fs": None, "n": 0, "adversarial": False, "band": False, "members": 0,
                      "layers": {}, "gain": 10, "mode": None}
        for sig in ("timeChanged", "caliperChanged", "layerVisibilityChanged", "modeChanged", "realSizeChanged",
                    "playingChanged"):
            src = getattr(self.widget, sig, None)
            if src is not None:
                try:
                    src.connect(getattr(self, sig))
                except Exception:  # noqa: BLE001
                    self.missing.add(sig)
            else:
                self.missing.add(sig)

    def _call(self, name: str, *args):
        fn = getattr(self.widget, name, None)
        if fn is None:
            if name not in self.missing:
                log.warning("StripView has no %s(); ignored", name)
            self.missing.add(name)
            return None
        return fn(*args)

    # ---- data -----------------------------------------------------------------------------
    def set_record(self, x_mv, fs, name: str = "") -> None:
        self.state.update(record=name, fs=float(fs), n=int(len(x_mv)), adversarial=False, band=False, members=0)
        self._call("set_record", x_mv, fs, name)

    def set_adversarial(self, x_mv) -> None:
        self.state["adversarial"] = x_mv is not None
        self._call("set_adversarial", x_mv)

    def set_band(self, lo, hi) -> None:
        self.state["band"] = lo is not None and hi is not None
        self._call("set_band", lo, hi)

    def set_band_members(self, members) -> None:
        self.state["members"] = 0 if members is None else int(np.asarray(members).shape[0])
        self._call("set_band_members", members)

    # ---- display --------------------------------------------------------------------------
    def set_layer_visible(self, layer: str, visible: bool) -> None:
        self.state["layers"][layer] = bool(visible)
        self._call("set_layer_visible", layer, bool(visible))

    def set_perturbation_gain(self, gain: int) -> None:
        self.state["gain"] = int(gain)
        self._call("set_perturbation_gain", int(gain))

    def set_mode(self, mode: str) -> None:
        self.state["mode"] = mode
        self._call("set_mode", mode)

    def set_seconds_per_row(self, s: float) -> None:
        self._call("set_seconds_per_row", float(s))

    def set_real_size(self, on: bool) -> None:
        self._call("set_real_size", bool(on))

    def set_view(self, t0: float, t1: float) -> None:
        self._call("set_view", float(t0), float(t1))

    def view_range(self):
        r = self._call("view_range")
        return r if r is not None else (0.0, 0.0)

    def play(self, on: bool) -> None:
        self._call("play", bool(on))

    def go_home(self) -> None:
        self._call("go_home")

    def set_calipers_visible(self, on: bool) -> None:
        self._call("set_calipers_visible", bool(on))

    def layer_drawn(self, layer: str) -> bool:
        """Whether the widget reports the layer drawn (falls back to what was sent to it)."""
        fn = getattr(self.widget, "layer_drawn", None)
        if fn is not None:
            return bool(fn(layer))
        key = {"adversarial": "adversarial", "perturbation": "adversarial", "difference": "adversarial",
               "band": "band", "members": "members", "original": "record"}[layer]
        return bool(self.state.get(key))

    def has_layer(self, layer: str) -> bool:
        fn = getattr(self.widget, "has_layer", None)
        if fn is not None:
            return bool(fn(layer))
        return self.layer_drawn(layer)

    # ---- export ---------------------------------------------------------------------------
    def export(self, path: str) -> None:
        ext = path.rsplit(".", 1)[-1].lower()
        name = {"png": "export_png", "svg": "export_svg", "pdf": "export_pdf"}.get(ext)
        if name is None:
            from engine.errors import UserError

            raise UserError(f"cannot export the strip as .{ext}: use .png, .svg or .pdf")
        if getattr(self.widget, name, None) is None:
            if ext == "png":  # a screen grab is better than nothing
                self.widget.grab().save(path, "PNG")
                return
            from engine.errors import UserError

            raise UserError(f"the strip view cannot export .{ext} yet")
        getattr(self.widget, name)(path)
