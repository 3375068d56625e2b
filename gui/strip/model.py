"""The strip's data and layout model: pure Python and numpy, no Qt (testable headless).

:class:`StripModel` holds what the strip shows — the record (mV, fs Hz), its overlays
(adversarial, band, band members) with their min/max pyramids, which layers are on, the
perturbation gain, the layout mode and row geometry — and answers the layout questions
the view asks on every frame: which rows and samples are visible for a view rectangle,
where each row's baseline lies, which record time a view point is, where the rows
viewport may go, and where calibration pulses, lane lines and the play cursor are drawn.

View coordinates (what the pyqtgraph ViewBox shows): x in seconds from the start of a
row, y in mV.  In rows mode row r shows record time [r·T, (r+1)·T) (T = seconds per row)
at x = t − r·T and y = value + baseline(r); rows are ``pitch`` mV apart downwards (the
first row's top at y = 0).  Each row is a *strip* of ``strip_mv`` mV followed, when the
perturbation lane is on, by a *lane* of ``lane_mv`` mV holding the perturbation × gain.
In continuous mode there is one row holding the whole record.  When the view is fitted,
strips grow in 1 mV steps (from ``min_strip_mv``, the asked-for height) so the rows fill
the view's height (:meth:`StripModel.fill_strip`).  Signals on the strip are drawn less
the record's median (``offset_mv``, 0.1 mV steps) so every trace sits on its row's
baseline, and in rows mode within ±max(pitch, 5 mV) of it; δ in the lane within the
lane (:meth:`StripModel.trace_clip`).  Readouts (:meth:`StripModel.view_to_record`) give
true values: mV on the strip, δ at the cursor's time in the lane.

The paper scale (25 mm/s, 10 mm/mV), the calibration pulse and time formatting live here
too (re-exported by :mod:`gui.strip.paper`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .decimate import Pyramid, build_pyramid, pyramid_nbytes
from .furniture import FurnitureGeometry
from .layers import DEFAULT_GAIN, DEFAULT_VISIBLE, PERTURBATION_GAINS, layer
from .scale import (ASPECT, LARGE_MV, LARGE_S, MAX_FILL_STRIP_MV, MAX_ROWS_VISIBLE, MIN_WINDOW_S, MM_PER_MV,  # noqa: F401
                    MM_PER_S, MODES, PULSE_START_S, ROW_MARGIN_S, ROW_RIGHT_PAD_S, SMALL_MV, SMALL_S,
                    amplitude_scale_text, calibration_pulse, format_time, unit_scale)

__all__ = ["StripModel", "Source", "Segment", "MODES", "MM_PER_S", "MM_PER_MV", "SMALL_S", "SMALL_MV",
           "LARGE_S", "LARGE_MV", "ASPECT", "PULSE_START_S", "ROW_MARGIN_S", "ROW_RIGHT_PAD_S",
           "MIN_WINDOW_S", "MAX_ROWS_VISIBLE", "MAX_FILL_STRIP_MV", "calibration_pulse", "format_time"]

# ---------------------------------------------------------------- data
@dataclass
class Source:
    """One signal the strip draws: data (n,) or (K, n) in mV, with its min/max pyramid and,
    for the perturbation, its running sum ``csum`` (n + 1,) float64 (bin means in O(bins))."""

    data: np.ndarray
    pyr: Pyramid | None
    csum: np.ndarray | None = None
    _extent: tuple[float, float] | None = None

    @property
    def extent(self) -> tuple[float, float]:
        """(min, max) of the data (mV), from the pyramid's top level when there is one."""
        if self._extent is None:
            if self.pyr is not None and self.pyr.lo:
                lo, hi = self.pyr.lo[-1], self.pyr.hi[-1]
            else:
                lo = hi = self.data
            self._extent = (float(np.min(lo)), float(np.max(hi))) if self.data.size else (0.0, 0.0)
        return self._extent


class Segment(NamedTuple):
    """A visible piece of one row: samples [i0, i1) drawn in about n_bins pixel columns."""

    row: int
    i0: int
    i1: int
    n_bins: int
    row_t0: float      # record time (s) at x = 0 of the row
    base: float        # strip baseline (mV, view y)
    lane_base: float   # perturbation lane baseline (mV, view y)


# which source a layer needs to have data
_LAYER_SOURCE = {"original": "x", "adversarial": "adv", "perturbation": "diff", "band": "lo",
                 "members": "mem", "difference": "diff", "tube": "tube_lo"}


class StripModel(FurnitureGeometry):
    """Record, overlays, layer visibility, gain and row layout of the strip (no Qt).

    Signals are float32 numpy arrays in mV; ``fs`` in Hz; times in s.  Mutators validate
    their input (ValueError with a one-line message) and return nothing; the view redraws.
    """

    def __init__(self) -> None:
        self.x: np.ndarray | None = None
        self.fs = 300.0
        self.n = 0
        self.name = ""
        self.units = "mV"         # the record's physical unit: no mV pulse or mV labels unless "mV"
        self.src: dict[str, Source] = {}
        self.n_members_total = 0
        self.band_width_mv = 0.0  # widest point of the band (mV), for the level of detail
        self.visible = dict(DEFAULT_VISIBLE)
        self.gain = DEFAULT_GAIN
        self.mode = "rows"
        self.spr = 10.0           # seconds per row
        self.strip_mv = 3.0       # effective strip height (grows to fill the view, see fill_strip)
        self.min_strip_mv = 3.0   # the strip height asked for (set_row_heights)
        self.offset_mv = 0.0      # the record's median (0.1 mV steps), drawn on the baseline
        self.strip_scale = 1.0    # view mV per unit of the record: 1 for mV (see unit_scale)
        self.lane_mv = 2.0
        self.max_members_drawn = 40  # band members kept for drawing (evenly chosen)
        self.ann_i: np.ndarray | None = None  # annotations: sample index (int64, sorted), label
        self.ann_text: tuple[str, ...] = ()
        # rows-mode viewport: left edge (s), top (mV), scale (px per s); fit: follow the width
        self.rows_vp = (-ROW_MARGIN_S, 0.0, 100.0)
        self.rows_fit = True

    # ------------------------------------------------------------ data
    @property
    def has_record(self) -> bool:
        return self.x is not None

    def set_record(self, x_mv, fs: float, name: str = "", units: str = "mV") -> None:
        """The record (1-D, in `units`: mV for an ECG lead) at `fs` Hz; clears every overlay."""
        x = np.ascontiguousarray(np.asarray(x_mv, dtype=np.float32).reshape(-1))
        if x.size < 2:
            raise ValueError("record needs at least 2 samples")
        if not fs or not np.isfinite(fs) or fs <= 0:
            raise ValueError(f"invalid sampling rate {fs!r}")
        self.x, self.fs, self.n, self.name = x, float(fs), int(x.size), str(name)
        self.units = str(units or "mV")
        # the trace sits on its row's baseline whatever its DC level; the median ignores a
        # wild first sample (a spike at t = 0); subsampled so a day-long record costs ~10 ms
        step = max(1, x.size // 1_000_000)
        med = float(np.median(x[::step]))
        self.offset_mv = round(med * 10) / 10 if np.isfinite(med) else 0.0
        self.strip_scale = unit_scale(x[::step], self.units, self.min_strip_mv)
        self.src = {"x": Source(x, build_pyramid(x))}
        self.n_members_total = 0
        self.band_width_mv = 0.0
        self.ann_i, self.ann_text = None, ()

    def set_annotations(self, time_s, labels) -> None:
        """Reference annotations: (k,) times in s from the record's start and their k labels
        (engine.annotations); those outside the record are dropped; None removes them."""
        self.ann_i, self.ann_text = None, ()
        if time_s is None:
            return
        if self.x is None:
            raise ValueError("set_record first")
        t = np.asarray(time_s, dtype=np.float64).reshape(-1)
        if t.size != len(labels):
            raise ValueError(f"{t.size} annotation times but {len(labels)} labels")
        i = np.round(np.nan_to_num(t, nan=-1.0) * self.fs)
        keep = np.flatnonzero((i >= 0) & (i < self.n))
        keep = keep[np.argsort(i[keep], kind="stable")]
        self.ann_i, self.ann_text = i[keep].astype(np.int64), tuple(str(labels[k]) for k in keep)

    def same_length(self, a, what: str) -> np.ndarray:
        """`a` as a contiguous float32 (n,) array; ValueError unless it has the record's length."""
        if self.x is None:
            raise ValueError("set_record first")
        a = np.ascontiguousarray(np.asarray(a, dtype=np.float32).reshape(-1))
        if a.size != self.n:
            raise ValueError(f"{what} has {a.size} samples, the record {self.n}")
        return a

    def set_adversarial(self, x_mv) -> None:
        """Adversarial version of the record (same length), and the perturbation adv − x; None removes."""
        for k in ("adv", "diff"):
            self.src.pop(k, None)
        if x_mv is not None:
            adv = self.same_length(x_mv, "adversarial")
            self.src["adv"] = Source(adv, build_pyramid(adv))
            diff = adv - self.x
            csum = np.zeros(diff.size + 1)
            np.cumsum(diff, dtype=np.float64, out=csum[1:])
            self.src["diff"] = Source(diff, build_pyramid(diff), csum)

    def set_band(self, lo_mv, hi_mv) -> None:
        """Band envelope: per-sample min and max (mV); None removes it."""
        for k in ("lo", "hi", "lo_d", "hi_d"):
            self.src.pop(k, None)
        if lo_mv is not None and hi_mv is not None:
            lo = self.same_length(lo_mv, "band lo")
            hi = self.same_length(hi_mv, "band hi")
            self.src["lo"] = Source(lo, build_pyramid(lo))
            self.src["hi"] = Source(hi, build_pyramid(hi))
            lo_d, hi_d = lo - self.x, hi - self.x
            self.src["lo_d"] = Source(lo_d, build_pyramid(lo_d))
            self.src["hi_d"] = Source(hi_d, build_pyramid(hi_d))
            self.band_width_mv = float(np.nanmax(hi - lo)) if lo.size else 0.0

    def set_tube(self, lo_mv, hi_mv) -> None:
        """Certified tube edges (n,) mV each (engine.certify: record ± the L∞ bound); None removes."""
        for k in ("tube_lo", "tube_hi"):
            self.src.pop(k, None)
        if lo_mv is not None and hi_mv is not None:
            for k, a in (("tube_lo", lo_mv), ("tube_hi", hi_mv)):
                a = self.same_length(a, "tube")
                self.src[k] = Source(a, build_pyramid(a))

    def set_band_members(self, members) -> None:
        """Band members (K, n) mV; at most `max_members_drawn` kept (evenly chosen, the first
        always); None removes them."""
        for k in ("mem", "mem_d"):
            self.src.pop(k, None)
        self.n_members_total = 0
        if members is None:
            return
        if self.x is None:
            raise ValueError("set_record first")
        m = np.asarray(members, dtype=np.float32)
        if m.ndim == 1:
            m = m[None, :]
        if m.ndim != 2 or m.shape[1] != self.n:
            raise ValueError(f"band members must be (K, {self.n}), got {m.shape}")
        self.n_members_total = int(m.shape[0])
        if m.shape[0] > self.max_members_drawn:
            idx = np.unique(np.linspace(0, m.shape[0] - 1, self.max_members_drawn).round().astype(int))
            m = m[idx]
        m = np.ascontiguousarray(m)
        self.src["mem"] = Source(m, None)            # members are subsampled, no pyramid
        self.src["mem_d"] = Source(m - self.x[None, :], None)

    def members_shown(self) -> int:
        return int(self.src["mem"].data.shape[0]) if "mem" in self.src else 0

    def memory_bytes(self) -> dict:
        """Bytes held: raw signals vs min/max pyramids."""
        raw = sum(s.data.nbytes for s in self.src.values())
        pyr = sum(pyramid_nbytes(s.pyr) for s in self.src.values() if s.pyr is not None)
        return {"raw": int(raw), "pyramids": int(pyr), "record": int(self.x.nbytes if self.x is not None else 0)}

    # ------------------------------------------------------------ layers and settings
    def has_layer(self, key: str) -> bool:
        """Whether layer `key` has data (independently of its visibility)."""
        layer(key)
        if key == "annotations":
            return self.ann_i is not None and self.ann_i.size > 0
        return _LAYER_SOURCE[key] in self.src

    def set_layer_visible(self, key: str, visible: bool) -> bool:
        """Switch a layer; True if that changed anything."""
        layer(key)  # ValueError for an unknown layer
        visible = bool(visible)
        if self.visible[key] == visible:
            return False
        self.visible[key] = visible
        return True

    def set_gain(self, gain: int) -> None:
        if gain not in PERTURBATION_GAINS:
            raise ValueError("perturbation gain must be " + " or ".join(map(str, PERTURBATION_GAINS)))
        self.gain = int(gain)

    # ------------------------------------------------------------ perturbation lane scale
    def lane_uv_per_mv(self) -> float:
        """µV of δ per mV of lane (view) height: 1000 / gain (10 µV per mV at ×100)."""
        return 1000.0 / self.gain

    def max_abs_delta_uv(self) -> float:
        """max |δ| over the record in µV (0 without an adversarial)."""
        s = self.src.get("diff")
        if s is None or s.pyr is None or not s.pyr.lo:
            return 0.0 if s is None else float(np.abs(s.data).max(initial=0.0)) * 1000.0
        top = len(s.pyr.lo) - 1
        return float(max(-s.pyr.lo[top].min(), s.pyr.hi[top].max(), 0.0)) * 1000.0

    def lane_saturated(self) -> bool:
        """Whether δ × gain leaves the lane (then it is drawn clipped at the lane's edges)."""
        # relative tolerance: δ at exactly ±ε (float32) fills the lane, it does not leave it
        return self.max_abs_delta_uv() / 1000.0 * self.gain > self.lane_mv / 2 * (1 + 1e-4)

    def lane_text(self, compact: bool = False) -> str:
        """The lane's label: gain, the scale bar in µV, max |δ| in µV, clipping; `compact`: without
        max |δ| (a narrow strip)."""
        txt = f"δ ×{self.gain} · bar {self.lane_uv_per_mv():g} µV"
        if not compact:
            txt += f" · max |δ| {self.max_abs_delta_uv():.1f} µV"
        if self.lane_saturated():
            txt += f" · clipped at ±{self.lane_mv / 2 * self.lane_uv_per_mv():g} µV"
        return txt

    def scale_text(self) -> str:
        """The strip's amplitude scale: "10 mm/mV", or for another unit "10 mm/50 mmHg"."""
        return amplitude_scale_text(self.units, self.strip_scale)

    def trace_bias(self, src: str, lane: bool) -> float:
        """mV subtracted from source `src` before it is drawn: the record's offset for the
        signals on the strip (not for δ, the difference, or anything in the lane)."""
        return 0.0 if lane or src == "diff" else self.offset_mv

    def trace_clip(self, lane: bool, src: str | None = None) -> float | None:
        """How far (mV of view) a trace may leave its baseline: the lane's half height in
        the lane; in rows mode a strip trace at most max(pitch, 5 mV), so a wild sample
        (a spike at t = 0) cannot draw a line across every row.  None: unclipped — also
        when source `src` never goes that far (the clip would cost time for nothing)."""
        if lane:
            lim = self.lane_mv / 2
        elif self.mode == "rows":
            lim = max(self.pitch(), 5.0)
        else:
            return None
        s = self.src.get(src) if src is not None else None
        if s is not None:
            lo, hi = s.extent
            g = self.gain if lane else self.strip_scale
            b = self.trace_bias(src, lane)
            if -lim <= (lo - b) * g and (hi - b) * g <= lim:
                return None
        return lim

    def value_at(self, key: str, t: float) -> float | None:
        """Value (mV) of source `key` ("x", "adv", "diff") at record time t (s), linearly
        interpolated between samples; None outside the record or without that source."""
        s = self.src.get(key)
        if s is None or s.data.ndim != 1 or not (0.0 <= t <= (self.n - 1) / self.fs):
            return None
        pos = t * self.fs
        i = min(int(pos), self.n - 2)
        f = pos - i
        return float(s.data[i] * (1.0 - f) + s.data[i + 1] * f)

    def set_mode(self, mode: str) -> bool:
        """Layout mode "rows" or "continuous"; True if it changed."""
        if mode not in MODES:
            raise ValueError("mode must be 'rows' or 'continuous'")
        changed = mode != self.mode
        self.mode = mode
        return changed

    def set_seconds_per_row(self, seconds: float) -> None:
        seconds = float(seconds)
        if not (0.5 <= seconds <= 3600):
            raise ValueError("seconds per row must be within 0.5 .. 3600")
        self.spr = seconds

    def set_row_heights(self, strip_mv: float = 3.0, lane_mv: float = 2.0) -> None:
        """Strip and lane heights (mV), rounded to 1 mV so baselines fall on large squares."""
        self.strip_mv = self.min_strip_mv = max(1.0, round(strip_mv))
        self.lane_mv = max(1.0, round(lane_mv))

    def fill_strip(self, avail_mv: float, rows: int) -> bool:
        """Grow each strip (from the asked-for height, in 1 mV steps, at most
        MAX_FILL_STRIP_MV) so that `rows` rows fill `avail_mv` of view height: no empty paper
        below the last row.  True if the height changed."""
        lane = self.lane_mv if self.lane_on() else 0.0
        want = math.floor(avail_mv / max(1, rows) - lane + 1e-9)
        new = float(min(MAX_FILL_STRIP_MV, max(self.min_strip_mv, want)))
        changed = new != self.strip_mv
        self.strip_mv = new
        return changed

    # ------------------------------------------------------------ row geometry
    def duration(self) -> float:
        return self.n / self.fs if self.x is not None else 0.0

    def row_count(self) -> int:
        """Rows the record is laid out in (1 in continuous mode, 0 without a record)."""
        if self.x is None:
            return 0
        if self.mode == "continuous":
            return 1
        return max(1, math.ceil(self.n / self.fs / self.spr - 1e-9))

    def row_len(self) -> float:
        """Record seconds one row holds."""
        return self.spr if self.mode == "rows" else self.duration()

    def lane_on(self) -> bool:
        """Whether each row has a perturbation lane (layer on and something to draw in it)."""
        return self.visible["perturbation"] and any(k in self.src for k in ("diff", "lo_d", "mem_d"))

    def pitch(self) -> float:
        """mV from one row's top to the next."""
        return self.strip_mv + (self.lane_mv if self.lane_on() else 0.0)

    def row_top(self, r: int) -> float:
        return -r * self.pitch()

    def baseline(self, r: int) -> float:
        return -r * self.pitch() - self.strip_mv / 2

    def lane_top(self, r: int) -> float:
        return -r * self.pitch() - self.strip_mv

    def lane_baseline(self, r: int) -> float:
        return -r * self.pitch() - self.strip_mv - self.lane_mv / 2

    def rows_in(self, y0: float, y1: float) -> list[int]:
        """Rows that overlap view y in [y0, y1] (always [0] in continuous mode)."""
        if self.mode == "continuous":
            return [0]
        p = self.pitch()
        lo = max(0, int(math.floor(-y1 / p)))
        hi = min(self.row_count() - 1, int(math.ceil(-y0 / p)) - 1)
        return list(range(lo, hi + 1))

    def rows_with_baseline_in(self, y0: float, y1: float) -> list[int]:
        return [r for r in self.rows_in(y0, y1) if y0 <= self.baseline(r) <= y1]

    def first_row_in(self, y0: float, y1: float) -> int:
        rows = self.rows_in(y0, y1)
        return rows[0] if rows else 0

    def time_range(self, x0: float, x1: float, y0: float, y1: float) -> tuple[float, float]:
        """Record time (s) shown by the view rectangle, clipped to the record (rows mode:
        from the first to the last row whose baseline is in view)."""
        if self.x is None:
            return (0.0, 0.0)
        dur = self.duration()
        if self.mode == "continuous":
            return (float(min(max(x0, 0.0), dur)), float(min(max(x1, 0.0), dur)))
        rows = self.rows_with_baseline_in(y0, y1) or self.rows_in(y0, y1)
        if not rows:
            return (0.0, 0.0)
        t0 = rows[0] * self.spr + min(max(x0, 0.0), self.spr)
        t1 = rows[-1] * self.spr + min(max(x1, 0.0), self.spr)
        return (float(min(t0, dur)), float(min(max(t1, t0), dur)))

    def view_to_record(self, x: float, y: float) -> tuple[float, float, str]:
        """Map a view point to (record time s, value mV, "strip" | "lane"): on the strip the
        value a trace there would have (height above the baseline + the record's offset), in the lane the perturbation δ at that time
        (interpolated; NaN outside the record)."""
        p = self.pitch()
        if self.mode == "rows":
            r = max(0, min(self.row_count() - 1, int(math.floor(-y / p))))
            t = r * self.spr + x
        else:
            r, t = 0, x
        if self.lane_on() and y < self.lane_top(r):
            d = self.value_at("diff", t)  # the data under the cursor, not the cursor's height
            return t, (d if d is not None else float("nan")), "lane"
        return t, (y - self.baseline(r)) / self.strip_scale + self.offset_mv, "strip"

    def segments(self, x0: float, x1: float, y0: float, y1: float, width_px: float,
                 play_t: float | None = None) -> list[Segment]:
        """Visible pieces of rows for the view rectangle drawn `width_px` pixels wide; with
        `play_t` (s) only the samples up to the play position."""
        fs, n = self.fs, self.n
        rlen = self.row_len()
        play_i = int(math.ceil(play_t * fs)) + 1 if play_t is not None else n
        segs = []
        for r in self.rows_in(y0, y1):
            row_t0 = r * self.spr if self.mode == "rows" else 0.0
            a, b = max(x0, 0.0), min(x1, rlen)
            if b <= a:
                continue
            ri0 = int(round(row_t0 * fs))
            ri1 = min(n, int(round((row_t0 + rlen) * fs)) + 1)  # +1 joins the next row
            i0 = max(ri0, int(math.floor((row_t0 + a) * fs)))
            i1 = min(ri1, int(math.ceil((row_t0 + b) * fs)) + 1, play_i)
            if i1 - i0 < 1:
                continue
            nb = max(1, int(width_px * (b - a) / max(1e-12, x1 - x0)))
            segs.append(Segment(r, i0, i1, nb, row_t0, self.baseline(r), self.lane_baseline(r)))
        return segs

    def left_ticks(self, lo: float, hi: float, px_per_mv: float) -> list[tuple[float, str]]:
        """Left-axis ticks (view y, label) for view y in [lo, hi]; see gui.strip.ticks."""
        from .ticks import left_ticks

        return left_ticks(self, lo, hi, px_per_mv)

    # ------------------------------------------------------------ viewport maths
    def continuous_y_range(self) -> tuple[float, float]:
        """The row with 0.1 mV to spare above and below (free zoom's y range)."""
        p = self.pitch()
        return (-p - 0.1, 0.1)

    def continuous_calibrated_y(self, x0: float, x1: float, w_px: float, h_px: float,
                                yc: float | None = None) -> tuple[float, float]:
        """Continuous mode, squares square: the y range for x in [x0, x1] shown w_px × h_px
        (h_mv = h_px · ASPECT · (x1 − x0) / w_px), centred on the row when it is all in view,
        else on `yc` (kept within the row)."""
        h_mv = h_px * ASPECT * (x1 - x0) / max(1.0, w_px)
        lo, hi = self.continuous_y_range()
        if yc is None or h_mv >= hi - lo:
            yc = (lo + hi) / 2
        else:
            yc = min(max(yc, lo + h_mv / 2), hi - h_mv / 2)
        return yc - h_mv / 2, yc + h_mv / 2

    @staticmethod
    def min_window(t0: float, t1: float) -> tuple[float, float]:
        """[t0, t1] widened around its centre to at least MIN_WINDOW_S."""
        if t1 - t0 < MIN_WINDOW_S:
            c = (t0 + t1) / 2
            t0, t1 = c - MIN_WINDOW_S / 2, c + MIN_WINDOW_S / 2
        return t0, t1

    def continuous_zoom(self, x0: float, x1: float, factor: float, cx: float) -> tuple[float, float]:
        """Continuous mode: the x range after zooming [x0, x1] by `factor` around cx."""
        w = (x1 - x0) / factor
        w = min(max(w, MIN_WINDOW_S), self.duration() + ROW_MARGIN_S + 1.5)
        a = (cx - x0) / max(1e-12, x1 - x0)
        return cx - a * w, cx - a * w + w

    def rows_clamp(self, x_lo: float, top: float, sx: float, w_px: float,
                   h_px: float) -> tuple[float, float, float]:
        """Rows mode: the viewport (left edge s, top mV, px per s) kept within the zoom
        limits (at most MAX_ROWS_VISIBLE rows or 4 row widths, at least 0.5 s across) and
        the record (half a view of slack at the ends)."""
        p = self.pitch()
        n = max(1, self.row_count())
        sx_min = w_px / ((self.spr + ROW_MARGIN_S + ROW_RIGHT_PAD_S) * 4)      # zoom-out limit
        sx_min = max(sx_min, h_px / (MAX_ROWS_VISIBLE * p) * ASPECT)
        sx_max = w_px / 0.5                                                    # >= 0.5 s across
        sx = min(max(sx, sx_min), sx_max)
        w_s = w_px / sx
        x_lo = min(max(x_lo, -ROW_MARGIN_S - 0.5 * w_s), self.spr - 0.5 * w_s)
        top = min(max(top, -(n - 1) * p), 0.5 * p)
        return x_lo, top, sx

    def rows_viewport(self, r0: int, fit_rows: int | None, w_px: float,
                 h_px: float) -> tuple[tuple[float, float, float], bool]:
        """Rows mode: viewport with row r0 at the top, rows as wide as the view; with
        fit_rows=k also small enough that k rows fit.  Returns ((x_lo, top, sx), whether
        the result follows the width on resize)."""
        n = self.row_count()
        r0 = max(0, min(r0, n - 1))
        x_lo, x_hi = -ROW_MARGIN_S, self.spr + ROW_RIGHT_PAD_S
        sx = w_px / (x_hi - x_lo)                # px per s when fitting the width
        fit = fit_rows is None
        if fit:  # rows fill the view: taller strips when few rows leave paper below
            self.fill_strip(h_px / (sx / ASPECT), n)
        p = self.pitch()
        if fit_rows is not None:
            k = max(1, min(fit_rows, n - r0))
            sy = h_px / (k * p)                  # px per mV when fitting k rows
            if sy * ASPECT < sx:
                sx = sy * ASPECT
            else:
                fit = True
        return (x_lo, -r0 * p, sx), fit

    @staticmethod
    def rows_ranges(x_lo: float, top: float, sx: float, w_px: float,
                    h_px: float) -> tuple[tuple[float, float], tuple[float, float]]:
        """View x and y ranges of a rows viewport (squares square: y scale = sx / ASPECT)."""
        sy = sx / ASPECT
        return (x_lo, x_lo + w_px / sx), (top - h_px / sy, top)

    def rows_for_view(self, t0: float, t1: float) -> tuple[int, int]:
        """Rows mode: (first row, number of rows) holding record time [t0, t1]."""
        r0 = int(max(0, t0) // self.spr)
        r1 = max(r0 + 1, math.ceil(min(t1, self.duration()) / self.spr - 1e-9))
        return r0, r1 - r0

    def paper_sources(self, key: str, lane: bool) -> list[tuple[str, tuple[str, ...]]]:
        """Where layer `key` goes on paper and from which sources: [(where, source keys)]
        (the band on the strip and in the lane, members in the lane when there is one)."""
        if key == "band":
            return [("strip", ("lo", "hi"))] + ([("lane", ("lo_d", "hi_d"))] if lane else [])
        if key == "members":
            return [("lane", ("mem_d",))] if lane else [("strip", ("mem",))]
        if key == "perturbation":
            return [("lane", ("diff",))] if lane else []
        return [("strip", (_LAYER_SOURCE[key],))]
