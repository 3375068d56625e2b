"""Geometry of the strip's furniture (pure numpy, no Qt): calibration pulses, the perturbation
lanes' zero lines and scale bars, the play cursor. A mixin of gui.strip.model.StripModel, whose
layout (rows, baselines, lanes, mode, units) it reads; all coordinates are view units (s, mV)."""

from __future__ import annotations

import numpy as np


class FurnitureGeometry:
    """NaN-separated polylines (x, y) in view coordinates for the strip's non-data items."""

    def pulse_lines(self, rows: list[int], x0: float) -> tuple[np.ndarray, np.ndarray]:
        """Calibration pulses of `rows` (NaN-separated), when the view's left edge x0 shows
        the space before t = 0 (always in continuous mode) and the record is in mV; empty
        arrays otherwise."""
        from .model import calibration_pulse

        px, py = [], []
        if self.units != "mV":  # a 1 mV pulse means nothing on a channel in another unit
            return np.empty(0), np.empty(0)
        if self.mode == "continuous" or x0 < 0:
            for r in rows:
                x, y = calibration_pulse(self.baseline(r))
                px += [x, [np.nan]]
                py += [y, [np.nan]]
        if not px:
            return np.empty(0), np.empty(0)
        return np.concatenate(px), np.concatenate(py)

    def lane_zero_lines(self, rows: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """Zero lines of the perturbation lanes of `rows` (NaN-separated)."""
        rlen = self.row_len()
        zx, zy = [], []
        for r in rows:
            lb = self.lane_baseline(r)
            zx += [0.0, rlen, np.nan]
            zy += [lb, lb, np.nan]
        return np.array(zx), np.array(zy)

    def lane_scale_lines(self, rows: list[int], x0: float) -> tuple[np.ndarray, np.ndarray]:
        """Scale bars of the perturbation lanes of `rows` (NaN-separated), left of t = 0
        under the calibration pulse: 1 mV of lane tall, i.e. ``lane_uv_per_mv()`` µV of δ,
        from the lane's zero line up, with caps; empty when the space before t = 0 is not
        shown (rows mode) or there is no lane."""
        if not self.lane_on() or not (self.mode == "continuous" or x0 < 0):
            return np.empty(0), np.empty(0)
        from .model import PULSE_START_S

        xm, cap = PULSE_START_S + 0.16, 0.05
        bx, by = [], []
        for r in rows:
            lb = self.lane_baseline(r)
            bx += [xm - cap, xm + cap, np.nan, xm, xm, np.nan, xm - cap, xm + cap, np.nan]
            by += [lb, lb, np.nan, lb, lb + 1.0, np.nan, lb + 1.0, lb + 1.0, np.nan]
        return np.array(bx), np.array(by)

    def cursor_line(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """Vertical play cursor at record time t across its row (strip and lane)."""
        if self.mode == "rows":
            r = int(t // self.spr)
            xc = t - r * self.spr
        else:
            r, xc = 0, t
        top = self.row_top(r)
        return np.array([xc, xc]), np.array([top, top - self.pitch()])
