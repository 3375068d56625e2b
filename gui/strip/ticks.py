"""Left-axis ticks of the strip (pure Python, no Qt): row start times at the row
baselines (rows mode), mV around the baseline (continuous mode; a channel in another
unit names its unit on each label), and in each
perturbation lane "δ ×gain" at its zero line with ±µV of δ beside it.  Values are view y
(mV); see :mod:`gui.strip.model` for the layout."""
from __future__ import annotations

import math

from .model import format_time

__all__ = ["left_ticks", "lane_ticks"]


def left_ticks(m, lo: float, hi: float, px_per_mv: float) -> list[tuple[float, str]]:
    """Left-axis ticks for view y in [lo, hi]: row start times at the baselines (rows
    mode), mV around the baseline (continuous), "δ ×gain" and ±µV of δ in the lanes."""
    if m.x is None:
        return []
    out = []
    lane = m.lane_on()
    if m.mode == "rows":
        p = m.pitch()
        step = max(1, math.ceil(22 / max(1e-9, p * px_per_mv)))
        for r in m.rows_in(lo, hi):
            if r % step:
                continue
            b = m.baseline(r)
            if lo <= b <= hi:
                out.append((b, format_time(r * m.spr, 1.0, m.duration())))
            if lane and step == 1 and p * px_per_mv > 80:
                out += lane_ticks(m, r, lo, hi, px_per_mv)
        return out
    base = m.baseline(0)
    half = m.strip_mv / 2
    # the smallest of 0.5, 1, 2, 5, 10, 20 ... mV that leaves 18 px between labels (zoomed far
    # out a 2-mV step put every label on top of the next)
    step = 0.5
    while step * px_per_mv < 18 and step < 1e6:
        step *= 2.5 if f"{step:g}"[0] == "2" else 2.0
    # multiples of the step from the baseline (0 on it), labelled with the value there
    for k in range(math.ceil(-half / step - 1e-9), math.floor(half / step + 1e-9) + 1):
        v = k * step
        y = base + v
        if lo <= y <= hi and not (lane and px_per_mv < 36 and (v + half) * px_per_mv < 14):
            # (the strip's lower edge is left to the lane's ticks when they would touch)
            val = f"{round(v / m.strip_scale + m.offset_mv, 3):g}"
            # a channel not in mV (PLETH, ABP ...): its unit on every label, never taken for mV
            out.append((y, val if m.units == "mV" else f"{val} {m.units}"))
    if lane:
        out += lane_ticks(m, 0, lo, hi, px_per_mv)
    return out


def lane_ticks(m, r: int, lo: float, hi: float, px_per_mv: float) -> list[tuple[float, str]]:
    """Row r's lane ticks: "δ ×gain" at its zero line and, when there is room, ±δ in µV
    half a mV of lane above and below (±5 µV at ×100, ±50 µV at ×10)."""
    lb = m.lane_baseline(r)
    out = [(lb, f"δ ×{m.gain}")] if lo <= lb <= hi else []
    if px_per_mv * 0.5 >= 13:
        uv = 0.5 * m.lane_uv_per_mv()
        for y, sign in ((lb + 0.5, "+"), (lb - 0.5, "−")):
            if lo <= y <= hi:
                out.append((y, f"{sign}{uv:g} µV"))
    return out

