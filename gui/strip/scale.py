"""Paper scale (pure maths, no Qt): the paper's constants, the calibration pulse, time labels and
the amplitude scale of a channel that is not in mV. Re-exported by gui.strip.model and gui.strip.paper."""
from __future__ import annotations

import math

import numpy as np

# ---------------------------------------------------------------- paper geometry
MM_PER_S = 25.0     # paper speed
MM_PER_MV = 10.0    # gain
SMALL_S, SMALL_MV = 0.04, 0.1
LARGE_S, LARGE_MV = 0.2, 0.5
ASPECT = MM_PER_S / MM_PER_MV  # (px per s) / (px per mV) when squares are square

# Calibration pulse: 1 mV x 0.2 s square wave drawn before t = 0 of each row.
PULSE_START_S = -0.36
ROW_MARGIN_S = 0.44   # view space left of t = 0 that holds the pulse
ROW_RIGHT_PAD_S = 0.12
MIN_WINDOW_S = 0.2        # zoom-in limit (continuous mode)
MAX_FILL_STRIP_MV = 20.0  # a strip grows to fill the view up to this height (mV)
MAX_ROWS_VISIBLE = 60     # zoom-out limit (rows mode)
MODES = ("rows", "continuous")


def calibration_pulse(baseline_mv: float = 0.0, x0: float = PULSE_START_S) -> tuple[np.ndarray, np.ndarray]:
    """Polyline (x s, y mV) of the 1 mV, 0.2 s calibration pulse on `baseline_mv`."""
    x = np.array([x0, x0 + 0.04, x0 + 0.04, x0 + 0.24, x0 + 0.24, x0 + 0.32], dtype=np.float64)
    y = np.array([0.0, 0.0, 1.0, 1.0, 0.0, 0.0]) + baseline_mv
    return x, y


def format_time(t: float, spacing: float = 1.0, span: float = 0.0) -> str:
    """Record time as s, m:ss or h:mm:ss, with decimals when ticks are closer than 1 s."""
    neg = t < 0
    t = abs(t)
    dec = 0 if spacing >= 1 else min(3, int(math.ceil(-math.log10(spacing) - 1e-9)))
    if span < 60 and t < 60:
        s = f"{t:.{dec}f}"
    else:
        h, rem = divmod(t, 3600)
        m, sec = divmod(rem, 60)
        secs = f"{sec:0{3 + dec if dec else 2}.{dec}f}"
        s = f"{int(h)}:{int(m):02d}:{secs}" if (h or span >= 3600) else f"{int(m)}:{secs}"
    return "-" + s if neg else s


def unit_scale(x: np.ndarray, units: str, strip_mv: float) -> float:
    """View mV per unit of a record: 1 for mV (10 mm/mV paper); a channel in another unit
    (ABP in mmHg, RESP ...) drawn at 10 mm/mV would cross every row, so it gets the 1-2-5
    scale that fits its 1st-99th percentile range into 80 % of a `strip_mv` strip."""
    if units == "mV":
        return 1.0
    lo, hi = np.nanpercentile(x, [1, 99]) if np.isfinite(x).any() else (np.nan, np.nan)
    span = float(hi - lo)
    if not (math.isfinite(span) and span > 0):
        return 1.0
    e = math.floor(math.log10(0.8 * strip_mv / span))
    mant = 0.8 * strip_mv / span / 10.0 ** e
    return (5 if mant >= 5 else 2 if mant >= 2 else 1) * 10.0 ** e


def amplitude_scale_text(units: str, scale: float) -> str:
    """"10 mm/mV" (scale 1 on a record in mV), else what 10 mm of paper height stand for."""
    return f"10 mm/{units}" if scale == 1.0 else f"10 mm/{1.0 / scale:.4g} {units}"
