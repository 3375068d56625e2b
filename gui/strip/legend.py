"""The strip's legend: one entry per layer that has data (text and pen from
:mod:`gui.strip.layers`), above the strips; a click on an entry toggles its layer."""
from __future__ import annotations

from typing import Callable

import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from .curves import qcolor, qpen
from .layers import LAYER, LAYER_DECLS, LAYERS
from .model import StripModel

__all__ = ["StripLegend"]


class StripLegend:
    """Legend in the title cell of `plot_item` (so it never covers the first row); its
    columns follow the width (see :meth:`fit`) so it never widens the window.
    `on_toggle(layer, visible)` is called when an entry is clicked."""

    def __init__(self, plot: pg.PlotWidget, left_axis: pg.AxisItem,
                 on_toggle: Callable[[str, bool], None]):
        self.plot, self.plot_item, self.left_axis = plot, plot.getPlotItem(), left_axis
        self.on_toggle = on_toggle
        self.item = pg.LegendItem(offset=None, brush=pg.mkBrush(255, 255, 255, 225),
                                  pen=pg.mkPen(190, 190, 190), labelTextColor=(30, 30, 30),
                                  labelTextSize="9pt", verSpacing=-4)
        self.item.setColumnCount(3)
        self.item.setSizePolicy(QtWidgets.QSizePolicy.Policy.Fixed, QtWidgets.QSizePolicy.Policy.Fixed)
        title = self.plot_item.titleLabel  # unused: its cell holds the legend
        self.plot_item.layout.removeItem(title)
        title.hide()
        self.plot_item.layout.addItem(self.item, 0, 1, QtCore.Qt.AlignmentFlag.AlignRight)
        self.item.setZValue(1000)
        self.item.sigSampleClicked.connect(self._on_click)
        # proxies carry the pens (the swatches); clicking one toggles its layer
        self.proxies: dict[str, pg.PlotDataItem] = {}
        for d in LAYER_DECLS:
            if d.fill is not None:
                self.proxies[d.key] = pg.PlotDataItem(pen=qpen(d.swatch), fillLevel=0,
                                                      fillBrush=pg.mkBrush(qcolor(d.fill)))
            else:
                self.proxies[d.key] = pg.PlotDataItem(pen=qpen(d.swatch))

    def update(self, m: StripModel) -> None:
        """Entries for the layers with data (the perturbation only with an adversarial)."""
        legend = self.item
        legend.clear()
        for key in LAYERS:
            if not m.has_layer(key):
                continue
            if key == "perturbation" and not m.has_layer("adversarial"):
                continue
            shown = m.members_shown() if key == "members" else 0
            proxy = self.proxies[key]
            proxy.setVisible(m.visible[key])
            legend.addItem(proxy, LAYER[key].legend_text(m.gain, shown, m.n_members_total))
        legend.setVisible(bool(legend.items))
        # static while the view moves: render once into a pixmap, then blit (~3 ms a frame)
        for it in (legend, *legend.childItems(), *(i for pair in legend.items for i in pair)):
            it.setCacheMode(it.CacheMode.DeviceCoordinateCache)
        self.fit()

    def fit(self) -> None:
        """As many legend columns as fit above the strips (one row when the window is wide)."""
        items = self.item.items
        if not items:
            return
        widths = [20 + label.item.boundingRect().width() + 12 for _, label in items]  # sample + text + gap
        avail = self.plot.width() - self.left_axis.width() - 40
        cols = len(items)
        while cols > 1 and sum(sorted(widths)[-cols:]) > avail:
            cols -= 1
        if cols != self.item.columnCount:
            self.item.setColumnCount(cols)
            self.item.updateSize()
            # the plot item kept the old (wider) minimum size: fit it to the view again
            self.plot_item.layout.invalidate()
            self.plot_item.setGeometry(QtCore.QRectF(0, 0, self.plot.width(), self.plot.height()))

    def labels(self) -> list[str]:
        return [label.text for _, label in self.item.items]

    def _on_click(self, proxy) -> None:
        for key, p in self.proxies.items():
            if p is proxy:
                self.on_toggle(key, proxy.isVisible())
                return
