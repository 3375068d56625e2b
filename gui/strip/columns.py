"""A decimated min/max envelope as one filled rectangle per pixel column (numpy, no Qt).

A min/max trace of about one bin per pixel is a polyline that zigzags: each bin's
vertical stroke (min to max at the bin's x) and a steep line to the next bin's min.
Qt's cosmetic stroker draws such a polyline pixel by pixel and draws most columns
twice (once up, once down); zoomed out, where every column spans the signal's whole
range (a 24-h record), that was most of the frame.  The pixels it covers in a column
are one vertical run: the bin's stroke joined with the parts of the two steep lines
that fall in that column.  :func:`envelope_rects` gives those runs as integer
rectangles, which the raster engine fills as spans, 3-4x cheaper; for one line (a
single row) the rows that neighbouring columns share are joined into wide rectangles
(:func:`_blocked`, same pixels), since Qt fills a rectangle row by row.  The result
equals the stroked polyline up to the rounding at the ends of a run (tested: at most
one pixel at either end of a column, and few of them).
"""
from __future__ import annotations

import numpy as np

__all__ = ["envelope_rects"]


MIN_MEAN_PX = 200.0  # shorter columns on average: stroking costs less (measured: 36 px, 1500
# columns: stroked 0.66 ms, rectangles 1.10 ms; ~150 px (10 min of ECG): about even;
# 860 px (24 h): 6.3 vs ~2.5 ms)


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
    top = np.floor(lo + 0.5)   # the rounding closest to Qt's stroker (measured)
    bottom = np.floor(hi)
    if xa.size > 1 and conn.size == xa.size - 1 and np.isfinite(col).all():
        # one line: each pixel column's pixels are one run (its bins' strokes and the
        # steep lines' parts chain up), so columns can be merged per pixel column
        c0 = int(col.min())
        k = (col - c0).astype(np.intp)
        T = np.full(int(k.max()) + 1, np.inf)
        B = np.full(T.size, -np.inf)
        np.minimum.at(T, k, top)
        np.maximum.at(B, k, bottom)
        return _blocked(np.arange(T.size, dtype=np.float64) + c0, T, B)
    return _plain(col, top, bottom)


def _plain(col: np.ndarray, top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """One QRect per column col × [top, bottom] (inclusive; empty ones left out)."""
    ok = bottom >= top
    r = np.stack([col[ok], top[ok], col[ok], bottom[ok]], axis=1)
    return np.ascontiguousarray(r.astype(np.int32))


BLOCKS = (24, 6)  # columns joined into one rectangle where they all overlap (two levels)


def _blocked(col: np.ndarray, top: np.ndarray, bottom: np.ndarray, sizes: tuple = BLOCKS) -> np.ndarray:
    """QRects (k, 4) covering the same pixels as the columns col × [top, bottom] (inclusive;
    col increasing by one; a column without pixels has top > bottom, e.g. inf, -inf):
    where sizes[0] consecutive columns all share rows [T, B], one rectangle that wide
    covers them, and what lies above and below in each column is joined the same way with
    the next size, the rest column by column.  Qt fills a rectangle row by row, so a
    one-pixel-wide column costs a call per row; the shared part of a zoomed-out envelope
    (most of it) becomes a few wide rows instead."""
    b = sizes[0] if sizes else 0
    n = (col.size // b) * b if b else 0
    if n == 0:
        return _plain(col, top, bottom)
    ct = top[:n].reshape(-1, b).max(axis=1)
    cb = bottom[:n].reshape(-1, b).min(axis=1)
    ok = np.isfinite(ct) & np.isfinite(cb) & (cb - ct >= 1)
    if not ok.any():
        return _blocked(col, top, bottom, sizes[1:])
    wide = np.stack([col[:n:b][ok], ct[ok], col[b - 1:n:b][ok], cb[ok]], axis=1).astype(np.int32)
    inside = np.zeros(col.size, bool)
    inside[:n] = np.repeat(ok, b)
    cut_t = np.full(col.size, np.inf)
    cut_b = np.full(col.size, -np.inf)
    cut_t[:n] = np.repeat(ct, b)
    cut_b[:n] = np.repeat(cb, b)
    above = _blocked(col, top, np.where(inside, cut_t - 1, bottom), sizes[1:])
    below = _blocked(col, np.where(inside, cut_b + 1, np.inf), np.where(inside, bottom, -np.inf), sizes[1:])
    return np.ascontiguousarray(np.concatenate([wide, above, below]))
