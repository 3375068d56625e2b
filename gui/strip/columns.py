"""A decimated min/max envelope as one filled rectangle per pixel column (numpy, no Qt).

A min/max trace of about one bin per pixel is a polyline that zigzags: each bin's
vertical stroke (min to max at the bin's x) and a steep line to the next bin's min.
Qt's cosmetic stroker draws such a polyline pixel by pixel and draws most columns
twice (once up, once down); zoomed out, where every column spans the signal's whole
range (a 24-h record), that was most of the frame.  The pixels it covers in a column
are one vertical run: the bin's stroke joined with the parts of the two steep lines
that fall in that column.  :func:`envelope_rects` gives those runs as integer
rectangles, which the raster engine fills as spans, 3-4x cheaper.  The result equals
the stroked polyline up to the rounding at the ends of a run (tested: at most one
pixel at either end of a column, and few of them).
"""
from __future__ import annotations

import numpy as np

__all__ = ["envelope_rects"]


MIN_MEAN_PX = 32.0  # shorter columns on average: stroking costs less than the rectangles


def envelope_rects(X: np.ndarray, Y: np.ndarray, min_mean_px: float = MIN_MEAN_PX) -> np.ndarray | None:
    """Rectangles (k, 4) int32 as QRect fields (left, top, right, bottom, inclusive) that
    cover what a 1-px polyline through device points X, Y (n,) covers, for an envelope:
    finite points in pairs of equal x (each bin's min and max), NaN between lines
    (rows) and never inside a pair.  None when the points are not such an envelope, lie
    too far off, or its strokes are shorter than `min_mean_px` on average (then stroke
    them: Qt strokes short lines faster than it fills as many rectangles)."""
    f = np.isfinite(X) & np.isfinite(Y)
    idx = np.flatnonzero(f)
    if idx.size < 2 or idx.size % 2:
        return None
    i0, i1 = idx[0::2], idx[1::2]
    xa = X[i0]
    if not (np.array_equal(i1, i0 + 1) and np.array_equal(xa, X[i1])):
        return None
    if np.abs(xa).max() > 1e6 or np.abs(Y[idx]).max() > 1e6:
        return None
    ya, yb = Y[i0], Y[i1]            # stroke k: from ya[k] to yb[k] at xa[k]
    col = np.floor(xa)
    lo = np.minimum(ya, yb)
    hi = np.maximum(ya, yb)
    if float((hi - lo).mean()) < min_mean_px:
        return None
    extra = []
    if xa.size > 1:
        conn = np.flatnonzero(i0[1:] == i1[:-1] + 1)  # steep line from pair k to pair k + 1
        x0, x1 = xa[conn], xa[conn + 1]
        y0, y1 = yb[conn], ya[conn + 1]
        c0, c1 = col[conn], col[conn + 1]
        d = x1 - x0
        safe = np.where(d > 0, d, 1.0)
        # where the line leaves column c0 and enters column c1 (fractions of its length)
        t_out = np.where(d > 0, np.clip((c0 + 1 - x0) / safe, 0.0, 1.0), 1.0)
        t_in = np.where(d > 0, np.clip((c1 - x0) / safe, 0.0, 1.0), 0.0)
        y_out = y0 + t_out * (y1 - y0)
        y_in = y0 + t_in * (y1 - y0)
        lo[conn] = np.minimum(lo[conn], y_out)   # conn holds each index once
        hi[conn] = np.maximum(hi[conn], y_out)
        lo[conn + 1] = np.minimum(lo[conn + 1], y_in)
        hi[conn + 1] = np.maximum(hi[conn + 1], y_in)
        span = c1 - c0
        for m in (1, 2):  # columns the line crosses between c0 and c1 (bins ~1 px apart: rare)
            j = np.flatnonzero((span > m) & (span < 4))
            if j.size:
                ta = (c0[j] + m - x0[j]) / d[j]
                tb = (c0[j] + m + 1 - x0[j]) / d[j]
                ya_ = y0[j] + ta * (y1[j] - y0[j])
                yb_ = y0[j] + tb * (y1[j] - y0[j])
                extra.append((c0[j] + m, np.minimum(ya_, yb_), np.maximum(ya_, yb_)))
    if extra:
        col = np.concatenate([col] + [e[0] for e in extra])
        lo = np.concatenate([lo] + [e[1] for e in extra])
        hi = np.concatenate([hi] + [e[2] for e in extra])
    r = np.empty((col.size, 4), np.int32)
    r[:, 0] = col
    r[:, 2] = col
    r[:, 1] = np.floor(lo + 0.5)   # the rounding closest to Qt's stroker (measured)
    r[:, 3] = np.floor(hi)
    return r
