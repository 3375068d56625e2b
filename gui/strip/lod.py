"""Level of detail for the strip (pure numpy, no Qt): the points each curve gets for the
visible row pieces (:class:`gui.strip.model.Segment`), so that a frame costs about the
same whatever the record length and zoom.

Traces of a pyramid-backed signal get a min/max envelope of about one pair per pixel
column (rows of equal length decimated at once); band members are subsampled, fewer of
them when zoomed out or when their drawn length (ink) would be large; a band whose
samples are closer than BAND_BARS_MAX_PX pixels is drawn as vertical bars per
BAND_BAR_PX-pixel column.  All x values are view x (s from the row start), y view mV.
"""
from __future__ import annotations

import numpy as np

from .decimate import _bin_minmax, envelope, envelope_rows, interleave, subsample_index

__all__ = ["trace_points", "band_bars", "equal_runs", "append_lines", "member_lines",
           "members_within_ink", "member_ink", "BAND_BARS_MAX_PX", "BAND_BAR_PX", "MEMBER_POINTS_BUDGET",
           "MEMBER_MIN_PX", "STRIP_BAND_MIN_PX", "MIN_MEMBERS_ZOOMED_OUT", "MEMBER_INK_BUDGET_PX",
           "AA_MAX_POINTS", "MEAN_BIN_PX", "mean_points"]

BAND_BARS_MAX_PX = 2.0      # band samples closer than this: drawn as bars, not a polygon
BAND_BAR_PX = 2             # width of one band bar in pixels
MEMBER_POINTS_BUDGET = 6_000
MEMBER_MIN_PX = 8            # members get at least one point per this many pixels
STRIP_BAND_MIN_PX = 1.5      # with the perturbation lane on, a thinner band is drawn only there
MIN_MEMBERS_ZOOMED_OUT = 4   # members drawn at least, however far zoomed out
MEMBER_INK_BUDGET_PX = 40_000  # drawn member length in pixels (cost grows with it)
AA_MAX_POINTS = 6000         # antialias a curve only below this many points
MEAN_BIN_PX = 3              # the perturbation's mean line: one point per this many pixels


def trace_points(data: np.ndarray, pyr, kind: str, segs: list, gain: float, lane: bool, fs: float,
                 px_s: float, px_per_mv: float, clip: float | None = None,
                 csum: np.ndarray | None = None, bias: float = 0.0) -> tuple[np.ndarray, np.ndarray, bool]:
    """Points (x, y, NaN-separated) of one trace over the visible row pieces `segs`, and
    whether they are the raw samples.  `data` (n,) with its pyramid `pyr`, or members
    (K, n) for kind "sub"; kind "minmax" | "min" | "max" | "sub" | "mean" (bin means
    from the running sum `csum`, see :func:`mean_points`); `gain` multiplies the
    values, which sit on each row's lane baseline when `lane`, else on its strip
    baseline; `px_s` is one pixel in s, `px_per_mv` the vertical scale; `bias` (mV) is
    subtracted first (the record's offset), then `clip` (mV of view) keeps every point
    within that distance of its baseline."""
    xs, ys = [], []
    raw = True
    for run in equal_runs(segs):  # rows of the same length and bins: handled at once
        i0s = np.array([sg[1] for sg in run])
        count, nb = run[0][2] - run[0][1], run[0][3]
        t0s = np.array([sg[4] for sg in run])
        offs = np.array([sg[6] if lane else sg[5] for sg in run])
        if kind == "mean" and csum is not None and count > 2 * nb:
            rel, y = mean_points(csum, i0s, count, nb)
            raw = False
            append_lines(xs, ys, (rel[None, :] + i0s[:, None]) / fs - t0s[:, None], y, gain, offs, clip, bias)
            continue
        if kind == "mean":
            kind = "minmax"  # few samples: the samples themselves
        if kind == "sub":
            rel, y = member_lines(data, i0s, count, nb, len(segs), px_s * fs, gain * px_per_mv)
            raw = raw and rel.size == count
            n_rows, k, m = y.shape
            xv = (rel[None, :] + i0s[:, None]) / fs - t0s[:, None]
            append_lines(xs, ys, np.repeat(xv, k, axis=0), y.reshape(n_rows * k, m), gain,
                         np.repeat(offs, k), clip, bias)
            continue
        side = {"min": "lo", "max": "hi"}.get(kind, "both")  # a band edge: one side only
        env = envelope_rows(data, pyr, i0s, count, nb, side) if len(run) > 1 else None
        if env is None:  # one row, or bins wider than a pyramid block: row by row
            for j, i0 in enumerate(i0s):
                env = envelope(data, pyr, int(i0), int(i0) + count, nb, side)
                raw = raw and env.raw
                pos, y = interleave(env, kind)
                append_lines(xs, ys, pos / fs - t0s[j], y[None], gain, offs[j:j + 1], clip, bias)
            continue
        raw = raw and env.raw
        pos, y = interleave(env, kind)  # pos relative to each row's first sample
        append_lines(xs, ys, (pos[None, :] + i0s[:, None]) / fs - t0s[:, None], y, gain, offs, clip, bias)
    return np.concatenate(xs), np.concatenate(ys), raw


def mean_points(csum: np.ndarray, i0s: np.ndarray, count: int, nb: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean of each bin of MEAN_BIN_PX pixels over `count` samples from each row start in
    i0s (rows nb pixels wide), from the running sum `csum` (csum[i] = sum of the first i
    samples): bin centres relative to the row start (m,) in samples and means (rows, m).
    The perturbation's sign structure where its min/max envelope is a solid block."""
    bins = max(1, min(count, nb // MEAN_BIN_PX))
    edges = np.linspace(0, count, bins + 1).round().astype(np.intp)
    idx = i0s[:, None] + edges[None, :]
    sums = csum[idx]
    mean = (sums[:, 1:] - sums[:, :-1]) / np.diff(edges)[None, :]
    centres = (edges[:-1] + edges[1:] - 1) / 2.0
    return centres, mean


def band_bars(xl: np.ndarray, yl: np.ndarray, yh: np.ndarray, x0: float,
              px_per_s: float) -> tuple[np.ndarray, np.ndarray] | None:
    """The band between the curves (xl, yl) and (xl, yh) as vertical bars, one per
    BAND_BAR_PX pixel columns spanning the band's min to max there: (x repeated twice, y
    lo/hi interleaved) for a "pairs" curve.  None when the samples are more than
    BAND_BARS_MAX_PX apart (then a filled polygon is cheaper and looks better): Qt fills
    long jagged polygons in time that grows faster than linearly, and fills a bar row by
    row, so fewer, wider bars cost less for the same area."""
    ok = np.isfinite(xl)
    xf = xl[ok]
    d = np.diff(xf)
    d = d[d > 0]  # (rows restart at x = 0)
    spacing_px = float(d.mean()) * px_per_s if d.size else 1e9  # bins are near-even
    if spacing_px > BAND_BARS_MAX_PX:
        return None
    ylo, yhi = yl[ok], yh[ok]
    col = np.floor((xf - x0) * px_per_s / BAND_BAR_PX)
    new_col = np.empty(col.size, bool)
    new_col[0] = True
    np.not_equal(col[1:], col[:-1], out=new_col[1:])
    starts = np.flatnonzero(new_col)
    xf = x0 + (col[starts] + 0.5) * (BAND_BAR_PX / px_per_s)
    ylo = _bin_minmax(ylo, starts, "lo")[0]
    yhi = _bin_minmax(yhi, starts, "hi")[1]
    yy = np.empty(2 * xf.size)
    yy[0::2] = ylo
    yy[1::2] = yhi
    return np.repeat(xf, 2), yy


def equal_runs(segs: list) -> list[list]:
    """Consecutive visible row pieces with the same sample count and bins, in order."""
    runs: list[list] = []
    for sg in segs:
        if runs and (sg[2] - sg[1], sg[3]) == (runs[-1][0][2] - runs[-1][0][1], runs[-1][0][3]):
            runs[-1].append(sg)
        else:
            runs.append([sg])
    return runs


def append_lines(xs: list, ys: list, xv: np.ndarray, y: np.ndarray, gain: float,
                  offs: np.ndarray, clip: float | None = None, bias: float = 0.0) -> None:
    """Append lines y (k, m) at x positions xv (m,) or (k, m), less `bias`, scaled by `gain`
    and shifted by offs (k,) or (1,), each followed by a NaN break, to the point lists xs,
    ys; with `clip` each kept within ±clip of its offset."""
    k, m = y.shape
    X = np.empty((k, m + 1))
    X[:, :m] = xv
    X[:, m] = np.nan
    Y = np.empty((k, m + 1))
    Y[:, :m] = y
    if bias:
        Y[:, :m] -= bias
    if gain != 1.0:
        Y[:, :m] *= gain
    if clip is not None:
        np.clip(Y[:, :m], -clip, clip, out=Y[:, :m])
    Y[:, :m] += offs[:, None] if offs.size == k else offs[0]
    Y[:, m] = np.nan
    xs.append(X.ravel())
    ys.append(Y.ravel())


def member_lines(data: np.ndarray, i0s: np.ndarray, count: int, nb: int, n_segs: int,
                  samples_per_px: float, px_per_unit: float) -> tuple[np.ndarray, np.ndarray]:
    """Which band members to draw over `count` samples from each row start in i0s (rows of
    nb pixels), and where: sample positions relative to the row start (m,) and values
    (rows, k, m). The same members in every row, judged on the first; only their samples
    are read."""
    k = data.shape[0]
    sel = np.arange(k)

    def keep(sel: np.ndarray, n: int) -> np.ndarray:
        # n < size: the rounded, evenly spaced picks are distinct and increasing
        return sel[np.linspace(0, sel.size - 1, n).round().astype(np.intp)] if n < sel.size else sel

    per_px = count / max(1, nb)  # samples per pixel
    if per_px > 2:
        # zoomed out: the lines merge into the band anyway and their cost grows with the
        # pixels they cover, so draw fewer of them
        sel = keep(sel, max(MIN_MEMBERS_ZOOMED_OUT, int(round(k * 2 / per_px))))
    # within the budget, fewer members at a readable resolution (at least one point per
    # MEMBER_MIN_PX pixels) rather than many crude polylines
    k_fit = MEMBER_POINTS_BUDGET // max(1, n_segs * max(1, nb // MEMBER_MIN_PX))
    sel = keep(sel, max(MIN_MEMBERS_ZOOMED_OUT, k_fit))
    pts = min(nb, MEMBER_POINTS_BUDGET // max(1, sel.size * n_segs))
    rel = subsample_index(count, 0, count, max(16, pts))
    probe = data[np.ix_(keep(sel, min(8, sel.size)), i0s[0] + rel)]  # a few tell the jaggedness
    budget = MEMBER_INK_BUDGET_PX / n_segs
    n_fit = members_within_ink(rel, probe, sel.size, samples_per_px, px_per_unit, budget)
    sel = keep(sel, n_fit)
    min_pts = max(16, int(nb // MEMBER_MIN_PX))
    if n_fit <= MIN_MEMBERS_ZOOMED_OUT and rel.size > min_pts:
        # even the fewest members overrun the budget (a magnified, jagged band): fewer points
        # each, down to one per MEMBER_MIN_PX pixels; the drawn length falls about in proportion
        over = member_ink(rel, probe, samples_per_px, px_per_unit) * sel.size / budget
        if over > 1.0:
            rel = subsample_index(count, 0, count, max(min_pts, int(rel.size / over)))
    y = data[sel[None, :, None], i0s[:, None, None] + rel[None, None, :]]
    return rel.astype(np.float64), y


def members_within_ink(pos: np.ndarray, probe: np.ndarray, k: int, samples_per_px: float,
                        px_per_unit: float, budget_px: float) -> int:
    """How many of k members fit in `budget_px` pixels of drawn line (at least
    MIN_MEMBERS_ZOOMED_OUT), judged from a few of them, `probe` (j, m), at sample positions
    `pos` (m,): members of a magnified band are jagged, and Qt's cost grows with the length
    of line it draws."""
    if k <= MIN_MEMBERS_ZOOMED_OUT or pos.size < 2:
        return k
    ink = member_ink(pos, probe, samples_per_px, px_per_unit) * k
    if ink <= budget_px:
        return k
    return max(MIN_MEMBERS_ZOOMED_OUT, int(k * budget_px / ink))


def member_ink(pos: np.ndarray, probe: np.ndarray, samples_per_px: float, px_per_unit: float) -> float:
    """Drawn length in pixels of one member polyline at sample positions `pos` (m,), the
    mean over the members in `probe` (j, m) (per segment the longer of its x and y extent)."""
    if pos.size < 2:
        return 0.0
    dx = np.diff(pos) / max(1e-12, samples_per_px)
    dy = np.abs(np.diff(probe, axis=1)).mean(axis=0) * px_per_unit
    return float(np.maximum(dx, dy).sum())
