"""Display options of the main window's strip: layer toggles, perturbation gain, rows or continuous,
seconds per row, real size, free zoom, play, calipers. Menu entries and toolbar buttons are built from the
strip's layer declarations (gui.strip.layers); choices are saved in the settings and follow the
strip when it changes them itself (legend clicks, keys)."""

from __future__ import annotations

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QMenu, QStyle, QToolBar, QWidget

from .strip.layers import LAYER, LAYERS, PERTURBATION_GAINS

MODES = (("rows", "Rows", "Stacked Rhythm Strips", "Ctrl+T", "The record as stacked rows (like a printed rhythm strip)"),
         ("continuous", "Continuous", "Continuous Strip", "Ctrl+Shift+T", "One continuous strip with an overview bar"))


def make_action(parent: QWidget, text: str, slot=None, shortcut=None, tip: str = "", icon=None,
                checkable: bool = False) -> QAction:
    """A QAction with its shortcut named in the tooltip; `slot` gets toggled(bool) when checkable."""
    a = QAction(text, parent)
    if shortcut:
        a.setShortcut(QKeySequence(shortcut))
    if tip:
        a.setToolTip(tip + (f" ({QKeySequence(shortcut).toString()})" if shortcut else ""))
        a.setStatusTip(tip)
    if icon is not None:
        a.setIcon(parent.style().standardIcon(icon))
    a.setCheckable(checkable)
    if slot is not None:
        (a.toggled if checkable else a.triggered).connect(slot)
    return a


class DisplayControls(QObject):
    """Owns the display actions and widgets; `fill_menu` and `fill_toolbar` place them."""

    def __init__(self, window: QWidget, strip, settings) -> None:
        super().__init__(window)
        self.strip, self.settings = strip, settings
        self._applying = False
        w = window
        self.layer_actions: dict[str, QAction] = {}
        for key in LAYERS:
            d = LAYER[key]
            a = make_action(w, d.text, lambda on, key=key: self._layer_toggled(key, on), d.shortcut,
                            d.tooltip, checkable=True)
            a.setIconText(d.icon_text)
            if d.shortcut:
                a.setToolTip(d.tooltip if d.shortcut in d.tooltip else f"{d.tooltip} ({d.shortcut})")
            self.layer_actions[key] = a
        g = QActionGroup(self)
        self.gain_actions: dict[int, QAction] = {}
        for gain in PERTURBATION_GAINS:
            a = make_action(w, f"Perturbation ×{gain}", lambda on, gain=gain: on and self._gain_toggled(gain), None,
                            f"Draw the perturbation magnified {gain} times on its own axis", checkable=True)
            g.addAction(a)
            self.gain_actions[gain] = a
        self.gain_combo = QComboBox()
        for gain in PERTURBATION_GAINS:
            self.gain_combo.addItem(f"δ ×{gain}", gain)
        self.gain_combo.setToolTip("Magnification of the perturbation δ (adversarial − original) drawn in the "
                                   "lane under each strip")
        self.gain_combo.currentIndexChanged.connect(lambda _i: self.set_gain(self.gain_combo.currentData()))
        g2 = QActionGroup(self)
        self.mode_actions: dict[str, QAction] = {}
        self.mode_combo = QComboBox()
        for mode, short, text, key, tip in MODES:
            a = make_action(w, text, lambda on, mode=mode: on and self.set_mode(mode), key, tip, checkable=True)
            g2.addAction(a)
            self.mode_actions[mode] = a
            self.mode_combo.addItem(short, mode)
        self.mode_combo.setToolTip("Stacked rhythm strips, or one continuous strip with an overview bar")
        self.mode_combo.currentIndexChanged.connect(lambda _i: self.set_mode(self.mode_combo.currentData()))
        self.row_spin = QDoubleSpinBox()
        self.row_spin.setRange(2.0, 60.0)
        self.row_spin.setDecimals(0)
        self.row_spin.setSuffix(" s")
        self.row_spin.setToolTip("Seconds per rhythm strip row")
        self.row_spin.setKeyboardTracking(False)
        self.row_spin.setFixedWidth(58)
        self.row_spin.valueChanged.connect(self._row_seconds_changed)
        S = QStyle.StandardPixmap
        self.act_real = make_action(w, "Real Size (25 mm/s, 10 mm/mV)", self._real_size_changed, "Ctrl+0",
                                    "Draw at true paper scale using the screen's physical DPI", checkable=True)
        self.act_real.setIconText("Real size")
        self.act_play = make_action(w, "Play (sweep like a monitor)", strip.play, "Ctrl+Space",
                                    "Sweep through the record in real time", S.SP_MediaPlay, checkable=True)
        self.act_play.setIconText("Play")
        self.act_fit = make_action(w, "Fit", self._fit, None,
                                   "Back to the start, rows fitted to the width (Home in the strip)")
        self.act_calipers = make_action(w, "Calipers", strip.set_calipers_visible, "Ctrl+K",
                                        "Drag the calipers to read Δt, ΔmV and heart rate", checkable=True)
        self.act_free = make_action(w, "Free Zoom (paper not calibrated)", self._free_zoom_changed, None,
                                    "Continuous strip: zoom time and amplitude independently; the paper is "
                                    "then not calibrated (squares no longer 0.2 s × 0.5 mV)", checkable=True)
        self.act_free.setIconText("Free zoom")
        # the strip can change its own state (legend clicks, keys): follow it
        strip.layerVisibilityChanged.connect(self._strip_layer_changed)
        strip.modeChanged.connect(lambda mode: self.mode_combo.currentData() != mode and self.set_mode(mode))
        strip.realSizeChanged.connect(lambda on: self._quietly(self.act_real, on))
        strip.playingChanged.connect(self._strip_playing_changed)
        strip.calibrationChanged.connect(lambda _cal: self._quietly(self.act_free, strip.free_zoom()))

    # ---- placement ----------------------------------------------------------------------------
    def fill_menu(self, m: QMenu) -> None:
        for key in LAYERS:
            m.addAction(self.layer_actions[key])
        m.addSeparator()
        for a in self.gain_actions.values():
            m.addAction(a)
        m.addSeparator()
        for a in self.mode_actions.values():
            m.addAction(a)
        for a in (self.act_real, self.act_free, self.act_play, self.act_fit, self.act_calipers):
            m.addAction(a)

    def fill_toolbar(self, bar: QToolBar) -> None:
        for key in LAYERS:
            if LAYER[key].toolbar:
                bar.addAction(self.layer_actions[key])
        bar.addSeparator()
        for w in (self.gain_combo, self.mode_combo, self.row_spin):
            bar.addWidget(w)
        for a in (self.act_real, self.act_play, self.act_calipers):  # free zoom: View menu (room)
            bar.addAction(a)

    # ---- settings -----------------------------------------------------------------------------
    def load(self, s) -> None:
        """Apply the saved display settings to the actions and the strip."""
        self._applying = True
        try:
            for key, a in self.layer_actions.items():
                on = s.get(LAYER[key].settings_key)
                a.setChecked(on)
                self.strip.set_layer_visible(key, on)
            gain = s.get("view/perturbation_gain")
            self._show_gain(gain if gain in PERTURBATION_GAINS else self.strip.perturbation_gain())
            mode = s.get("view/mode")
            self._show_mode(mode if mode in self.mode_actions else "rows")
            self.row_spin.setValue(s.get("view/seconds_per_row"))
            self.strip.set_seconds_per_row(self.row_spin.value())
            self.act_real.setChecked(s.get("view/real_size"))
            self.strip.set_real_size(self.act_real.isChecked())
        finally:
            self._applying = False

    # ---- changes ------------------------------------------------------------------------------
    def set_gain(self, gain: int) -> None:
        """The user's choice of gain: kept (and saved) over later attacks."""
        if gain not in PERTURBATION_GAINS:
            return
        self.user_gain = gain
        self._show_gain(gain)
        self.settings.set("view/perturbation_gain", gain)

    def _gain_toggled(self, gain: int) -> None:
        if not getattr(self, "_showing_gain", False):
            self.set_gain(gain)

    def auto_gain(self, gain: int) -> None:
        """A gain suggested for a new attack (δ kept inside its lane): used only until the user
        chooses one in this session."""
        if getattr(self, "user_gain", None) is None and gain in PERTURBATION_GAINS:
            self._show_gain(gain)

    def set_mode(self, mode: str) -> None:
        if self._applying or mode not in self.mode_actions:
            return
        self._show_mode(mode)
        self.settings.set("view/mode", mode)

    def _show_gain(self, gain: int) -> None:
        self._showing_gain = True  # not a user's choice (no set_gain); signals stay on for the action group
        try:
            self.gain_actions[gain].setChecked(True)
        finally:
            self._showing_gain = False
        self.gain_combo.blockSignals(True)
        self.gain_combo.setCurrentIndex(self.gain_combo.findData(gain))
        self.gain_combo.blockSignals(False)
        if self.strip.perturbation_gain() != gain:
            self.strip.set_perturbation_gain(gain)

    def _show_mode(self, mode: str) -> None:
        self.mode_actions[mode].setChecked(True)
        self.mode_combo.blockSignals(True)
        self.mode_combo.setCurrentIndex(self.mode_combo.findData(mode))
        self.mode_combo.blockSignals(False)
        self.row_spin.setEnabled(mode == "rows")
        self.strip.set_mode(mode)

    def _layer_toggled(self, key: str, on: bool) -> None:
        self.strip.set_layer_visible(key, on)
        self.settings.set(LAYER[key].settings_key, bool(on))

    def _row_seconds_changed(self, v: float) -> None:
        if not self._applying:
            self.strip.set_seconds_per_row(v)
            self.settings.set("view/seconds_per_row", float(v))

    def _real_size_changed(self, on: bool) -> None:
        if not self._applying:
            self.strip.set_real_size(on)
            self.settings.set("view/real_size", bool(on))

    def _free_zoom_changed(self, on: bool) -> None:
        """Free zoom only changes the continuous strip (rows stay calibrated): switch to it."""
        if on and self.strip.mode() != "continuous":
            self.set_mode("continuous")
        self.strip.set_free_zoom(on)

    def _fit(self) -> None:
        self.act_real.setChecked(False)
        self.strip.go_home()

    def _strip_layer_changed(self, key: str, on: bool) -> None:
        a = self.layer_actions.get(key)
        if a is not None and a.isChecked() != on:
            self._quietly(a, on)
            self.settings.set(LAYER[key].settings_key, bool(on))

    def _strip_playing_changed(self, on: bool) -> None:
        self._quietly(self.act_play, on)
        self.act_play.setIconText("Stop" if on else "Play")

    @staticmethod
    def _quietly(a: QAction, on: bool) -> None:
        a.blockSignals(True)
        a.setChecked(on)
        a.blockSignals(False)
