"""The strip's own toolbar (optional): layout mode, seconds per row, real size, free zoom,
fit, play, calipers, the layer menu (from :mod:`gui.strip.layers`) and the perturbation gain."""
from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from .layers import LAYER, LAYERS, PERTURBATION_GAINS

__all__ = ["StripToolbar"]


class StripToolbar(QtWidgets.QToolBar):
    """Toolbar acting on `view` (a StripView); :meth:`sync` shows the view's state
    without calling back into it."""

    def __init__(self, view):
        super().__init__(view)
        self.view = view
        self.setIconSize(QtCore.QSize(16, 16))
        self.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.mode_box = QtWidgets.QComboBox(self)
        self.mode_box.addItem("Rhythm rows", "rows")
        self.mode_box.addItem("Continuous", "continuous")
        self.mode_box.setToolTip("Layout: stacked rhythm strips or one continuous strip")
        self.mode_box.currentIndexChanged.connect(lambda i: view.set_mode(self.mode_box.itemData(i)))
        self.addWidget(self.mode_box)
        self.spr_box = QtWidgets.QDoubleSpinBox(self)
        self.spr_box.setRange(1, 600)
        self.spr_box.setDecimals(0)
        self.spr_box.setSuffix(" s/row")
        self.spr_box.setValue(view.seconds_per_row())
        self.spr_box.setToolTip("Seconds per row (rows mode) / initial window (continuous)")
        self.spr_box.valueChanged.connect(view.set_seconds_per_row)
        self.addWidget(self.spr_box)
        self.addSeparator()
        self.act_real = self.addAction("Real size")
        self.act_real.setCheckable(True)
        self.act_real.setToolTip("1 mm on screen = 1 mm of ECG paper (25 mm/s, 10 mm/mV)")
        self.act_real.toggled.connect(view.set_real_size)
        self.act_free = self.addAction("Free zoom")
        self.act_free.setCheckable(True)
        self.act_free.setToolTip("Continuous mode: zoom time and amplitude independently "
                                 "(the paper is then not calibrated)")
        self.act_free.toggled.connect(view.set_free_zoom)
        self.act_fit = self.addAction("Fit")
        self.act_fit.setToolTip("Back to the start, rows fitted to the width (Home)")
        self.act_fit.triggered.connect(view.fit)
        self.addSeparator()
        self.act_play = self.addAction("▶ Play")
        self.act_play.setCheckable(True)
        self.act_play.setToolTip("Sweep through the record in real time (Space)")
        self.act_play.toggled.connect(view.play)
        self.act_cal = self.addAction("Calipers")
        self.act_cal.setCheckable(True)
        self.act_cal.setToolTip("Drag the blue lines to read Δt, ΔmV and heart rate (C)")
        self.act_cal.toggled.connect(view.set_calipers_visible)
        self.addSeparator()
        layers_btn = QtWidgets.QToolButton(self)
        layers_btn.setText("Layers")
        layers_btn.setPopupMode(QtWidgets.QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QtWidgets.QMenu(layers_btn)
        self.layer_actions = {}
        for key in LAYERS:
            act = menu.addAction(LAYER[key].label.format(gain="N"))
            act.setCheckable(True)
            act.setChecked(view.layer_visible(key))
            act.toggled.connect(lambda on, k=key: view.set_layer_visible(k, on))
            self.layer_actions[key] = act
        layers_btn.setMenu(menu)
        self.addWidget(layers_btn)
        self.gain_box = QtWidgets.QComboBox(self)
        for g in sorted(PERTURBATION_GAINS, reverse=True):
            self.gain_box.addItem(f"Perturbation ×{g}", g)
        self.gain_box.setToolTip("Magnification of the perturbation lane")
        self.gain_box.currentIndexChanged.connect(
            lambda i: view.set_perturbation_gain(self.gain_box.itemData(i)))
        self.addWidget(self.gain_box)

    def sync(self) -> None:
        v = self.view
        widgets = [self.mode_box, self.spr_box, self.act_real, self.act_free, self.act_play, self.act_cal,
                   self.gain_box, *self.layer_actions.values()]
        for w in widgets:
            w.blockSignals(True)
        try:
            self.mode_box.setCurrentIndex(0 if v.mode() == "rows" else 1)
            self.spr_box.setValue(v.seconds_per_row())
            self.act_real.setChecked(v.real_size())
            self.act_free.setChecked(v.free_zoom())
            playing = v.is_playing()
            self.act_play.setChecked(playing)
            self.act_play.setText("■ Stop" if playing else "▶ Play")
            self.act_cal.setChecked(v.calipers.visible)
            self.gain_box.setCurrentIndex(max(0, self.gain_box.findData(v.perturbation_gain())))
            for key, act in self.layer_actions.items():
                act.setChecked(v.layer_visible(key))
        finally:
            for w in widgets:
                w.blockSignals(False)
