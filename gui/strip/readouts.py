"""Readouts of the strip: the info line (record, duration, scale, the crosshair's time and value)
and the calipers' placement and readout.  :class:`Readouts` is a mixin of
:class:`gui.strip.view.StripView`; it reads the view's ``model``, ``info``, ``caliper_info``,
``calipers`` and ``crosshair``, and calls its ``_sync_toolbar``."""
from __future__ import annotations

from .calipers import format_readout
from .paper import format_time

__all__ = ["Readouts"]


class Readouts:
    """Info line, crosshair and calipers of StripView (mixin)."""

    def _update_info(self, cross: str = "") -> None:
        m = self.model
        if m.x is None:
            self.info.setText("No record")
            return
        dur = m.duration()
        dur_s = f"{dur:.1f} s" if dur < 60 else format_time(dur, 1.0, dur)
        base = f"{m.name or 'record'} · {dur_s} · {m.fs:g} Hz"
        if m.units != "mV":
            base += f" · in {m.units}, not mV (no calibration pulse; {m.scale_text()})"
        if self._real:
            base += f" · real size 25 mm/s, {m.scale_text()}"
        elif not self._calibrated:
            base += " · NOT CALIBRATED (free zoom)"
        if self._playing:
            base += f" · ▶ {format_time(self._play_t, 0.1, dur)}"
        self.info.setText(base + ("   |   " + cross if cross else ""))

    def _on_crosshair(self, x: float, y: float) -> None:
        if self.model.x is None:
            return
        t, v, where = self.view_to_record(x, y)
        dur = self.duration()
        if not (0 <= t <= dur):
            self._update_info()
            return
        if where == "lane":  # δ at the cursor's time, not the cursor's height
            d = "–" if v != v else f"{v * 1000:+.2f} µV"
            txt = f"t {format_time(t, 0.001, dur)}   δ (adv − orig) {d}"
        else:
            txt = f"t {format_time(t, 0.001, dur)}   {v:+.3f} {self.model.units}"
        self._update_info(txt)

    # ================================================================== calipers
    def set_calipers_visible(self, on: bool) -> None:
        if on and not self.calipers.visible:
            self._place_calipers()
        self.calipers.set_visible(on)
        self._on_calipers(self.calipers.readout() if on else None)
        self._sync_toolbar()

    def set_crosshair_enabled(self, on: bool) -> None:
        self.crosshair.set_enabled(on)

    def _replace_calipers(self) -> None:
        """View coordinates changed meaning (mode, row length): put visible calipers back."""
        if self.calipers.visible and self.model.x is not None:
            self._place_calipers()

    def _place_calipers(self) -> None:
        m = self.model
        (x0, x1), (y0, y1) = self._vb.viewRange()
        rows = m.rows_with_baseline_in(y0, y1) or [0]
        b = m.baseline(rows[0])
        a = max(x0, 0.0) + 0.15 * (min(x1, m.row_len()) - max(x0, 0.0))
        self.calipers.place(a, a + 0.8, b, b + 1.0)

    def _on_calipers(self, d) -> None:
        if d is None or not self.calipers.visible:
            self.caliper_info.setText("")
            return
        self.caliper_info.setText(format_readout(d, self.model.units, self.model.strip_scale))
        self.caliperChanged.emit(d)
