"""Min/max decimation for display (numpy only, pure functions, no Qt).

The strip view never hands more than about two points per screen pixel to Qt.  For
that it precomputes, once per signal, a *min/max pyramid*: level 0 holds the min and
the max of consecutive blocks of ``base`` samples, every further level combines
``factor`` blocks of the level below.  With the defaults (base 64, factor 4) the pyramid
holds 4 % of the samples of the signal (``(2/base) * factor/(factor-1)``) and is built in
one contiguous pass (``np.minimum.reduceat``), which matters for a 26 M-sample record.

A query (:func:`envelope`) for samples ``[i0, i1)`` in ``n_bins`` bins:
  * returns the raw samples when there are at most 2 per bin;
  * bins the raw samples directly when a bin is narrower than a level-0 block (then
    at most ``base * n_bins`` samples are read);
  * otherwise picks the coarsest level whose block is not wider than a bin, combines
    whole blocks and computes the partial blocks at both ends from the raw samples.
Every bin's min/max is exact, and the cost does not depend on ``i1 - i0``.
:func:`envelope_rows` does the same for several equal rows at once (rows mode), when
the bins come from the raw samples.

Everything works along the last axis, so a (K, n) stack decimates in one call.  Signals
must not contain NaN (NaN propagates into its bins).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Pyramid", "Envelope", "build_pyramid", "envelope", "envelope_rows", "interleave", "minmax_bins",
           "subsample", "subsample_index", "pyramid_nbytes"]


@dataclass(frozen=True)
class Pyramid:
    """Min/max pyramid of a signal ``x`` of shape (..., n).

    ``blocks[k]`` is the block size (in samples) of level k; ``lo[k]`` / ``hi[k]`` have
    shape (..., ceil(n / blocks[k])), the last block being partial when n is not a
    multiple of the block size.
    """

    n: int
    blocks: tuple[int, ...]
    lo: tuple[np.ndarray, ...]
    hi: tuple[np.ndarray, ...]


@dataclass(frozen=True)
class Envelope:
    """Per-bin min and max of x[..., i0:i1].

    ``edges`` (nb + 1,) are the bin edges in samples (``edges[0] == i0``,
    ``edges[-1] == i1``); ``lo``/``hi`` have shape (..., nb).  ``raw`` is True when the
    range held few enough samples to be returned as is (one sample per bin,
    ``lo is hi``).
    """

    edges: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    raw: bool


def _reduce_blocks(x: np.ndarray, block: int, lo_in: np.ndarray | None = None,
                   hi_in: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Min and max over consecutive blocks of `block` values along the last axis (a partial
    last block included).  With lo_in/hi_in: combine blocks of a finer level instead."""
    src_lo = x if lo_in is None else lo_in
    src_hi = x if hi_in is None else hi_in
    starts = np.arange(0, src_lo.shape[-1], block)
    lo = np.minimum.reduceat(src_lo, starts, axis=-1)
    hi = np.maximum.reduceat(src_hi, starts, axis=-1)
    return np.ascontiguousarray(lo), np.ascontiguousarray(hi)


def build_pyramid(x: np.ndarray, base: int = 64, factor: int = 4, min_blocks: int = 16) -> Pyramid:
    """Build the min/max pyramid of `x` (..., n); O(n) time, 2n/base * factor/(factor-1)
    extra values.  Levels stop once a level has at most `min_blocks` blocks."""
    if base < 2 or factor < 2:
        raise ValueError("base and factor must be at least 2")
    x = np.asarray(x)
    n = int(x.shape[-1])
    blocks, los, his = [], [], []
    if n >= 2 * base:
        lo, hi = _reduce_blocks(x, base)
        block = base
        while True:
            blocks.append(block)
            los.append(lo)
            his.append(hi)
            if lo.shape[-1] <= min_blocks:
                break
            lo, hi = _reduce_blocks(None, factor, lo, hi)
            block *= factor
    return Pyramid(n=n, blocks=tuple(blocks), lo=tuple(los), hi=tuple(his))


def pyramid_nbytes(p: Pyramid) -> int:
    """Bytes held by the pyramid's arrays."""
    return int(sum(a.nbytes for a in p.lo) + sum(a.nbytes for a in p.hi))


def envelope(x: np.ndarray, pyr: Pyramid, i0: int, i1: int, n_bins: int, side: str = "both") -> Envelope:
    """Exact per-bin min/max of x[..., i0:i1] in about `n_bins` bins (at most n_bins + 2).
    `side` "lo" or "hi": only that one is computed (the other is the same array), for a
    curve that draws one side only (:func:`interleave` kind "min" / "max").

    Returns the raw samples (``raw=True``) when the range holds at most 2 samples per bin.
    Otherwise the bins are as even as the data allow, so that at one bin per pixel the
    min/max strokes touch each other (no gaps in a dense envelope):
      * bins narrower than a level-0 block: the raw samples are reduced directly;
      * else n_bins bins of whole blocks of the coarsest level whose block fits in a bin
        (each bin r or r + 1 blocks), plus at most one partial bin at each end computed
        from the raw samples.
    """
    n = pyr.n
    i0 = max(0, min(int(i0), n))
    i1 = max(i0, min(int(i1), n))
    count = i1 - i0
    n_bins = max(1, int(n_bins))
    if count == 0:
        empty = x[..., 0:0]
        return Envelope(np.array([i0], dtype=np.int64), empty, empty, True)
    if count <= 2 * n_bins:
        raw = x[..., i0:i1]
        return Envelope(np.arange(i0, i1 + 1, dtype=np.int64), raw, raw, True)
    spb = count / n_bins
    if not pyr.blocks or spb < pyr.blocks[0]:
        # bins narrower than a level-0 block: reduce the raw samples (< base * n_bins of them)
        starts = _even_starts(count, n_bins)
        lo, hi = _bin_minmax(x[..., i0:i1], starts, side)
        return Envelope(np.append(starts + i0, i1).astype(np.int64), lo, hi, False)
    lev = 0  # coarsest level whose block fits in a bin
    for k, b in enumerate(pyr.blocks):
        if b <= spb:
            lev = k
    block = pyr.blocks[lev]
    ka = -(-i0 // block)          # first whole block
    kb = i1 // block              # end of the whole blocks
    lo_parts, hi_parts, edges = [], [], [i0]
    a, b = ka * block, kb * block
    if kb <= ka:                  # the range lies within one or two blocks: raw
        starts = _even_starts(count, n_bins)
        lo, hi = _bin_minmax(x[..., i0:i1], starts, side)
        return Envelope(np.append(starts + i0, i1).astype(np.int64), lo, hi, False)
    if a > i0:                    # partial head bin from raw samples
        seg = x[..., i0:a]
        lo_parts.append(seg.min(axis=-1, keepdims=True))
        hi_parts.append(seg.max(axis=-1, keepdims=True))
        edges.append(a)
    nblk = kb - ka
    starts = _even_starts(nblk, max(1, min(n_bins, nblk)))
    if side == "hi":
        hb = np.maximum.reduceat(pyr.hi[lev][..., ka:kb], starts, axis=-1)
        lo_parts.append(hb)
        hi_parts.append(hb)
    else:
        lb = np.minimum.reduceat(pyr.lo[lev][..., ka:kb], starts, axis=-1)
        lo_parts.append(lb)
        hi_parts.append(lb if side == "lo" else np.maximum.reduceat(pyr.hi[lev][..., ka:kb], starts, axis=-1))
    edges.extend((a + starts[1:] * block).tolist())
    edges.append(b)
    if i1 > b:                    # partial tail bin
        seg = x[..., b:i1]
        lo_parts.append(seg.min(axis=-1, keepdims=True))
        hi_parts.append(seg.max(axis=-1, keepdims=True))
        edges.append(i1)
    lo = np.concatenate(lo_parts, axis=-1)
    hi = np.concatenate(hi_parts, axis=-1)
    return Envelope(np.asarray(edges, dtype=np.int64), lo, hi, False)


def envelope_rows(x: np.ndarray, pyr: Pyramid, starts: np.ndarray, count: int,
                  n_bins: int, side: str = "both") -> Envelope | None:
    """envelope() of x[s:s + count] for every s in `starts` at once (rows of equal length),
    when it comes from the raw samples (at most one level-0 block per bin): edges relative
    to each row's start, lo/hi of shape (rows, bins), equal to envelope() row by row.
    None when the bins need the pyramid (call envelope() per row then). x is 1-D."""
    n_bins = max(1, int(n_bins))
    starts = np.asarray(starts, dtype=np.int64)
    if x.ndim != 1 or count < 1 or starts.min() < 0 or starts.max() + count > x.shape[0]:
        return None
    spb = count / n_bins
    if count > 2 * n_bins and pyr.blocks and spb >= pyr.blocks[0]:
        return None
    steps = np.diff(starts)
    if starts.size > 1 and np.all(steps == steps[0]) and steps[0] > 0:
        rows = np.lib.stride_tricks.as_strided(  # a view: evenly spaced rows (the usual case)
            x[starts[0]:], shape=(starts.size, count), strides=(int(steps[0]) * x.strides[0], x.strides[0]),
            writeable=False)
    else:
        rows = x[starts[:, None] + np.arange(count)]
    if count <= 2 * n_bins:
        return Envelope(np.arange(count + 1, dtype=np.int64), rows, rows, True)
    bins = _even_starts(count, n_bins)
    lo, hi = _bin_minmax(rows, bins, side)
    return Envelope(np.append(bins, count).astype(np.int64), lo, hi, False)


GATHER_MAX_BIN = 6  # bins up to this many samples: gathers beat ufunc.reduceat (~3x at 2)
DOUBLING_MAX_BIN = 32  # ... up to this many: running min/max over doubling windows


def _bin_minmax(seg: np.ndarray, starts: np.ndarray, side: str = "both") -> tuple[np.ndarray, np.ndarray]:
    """Min and max of seg[..., starts[k]:starts[k+1]] (the last bin runs to the end); with
    `side` "lo" or "hi" only that one (returned twice).
    Narrow bins are reduced by a few gathers (one per offset within a bin); bins up to
    DOUBLING_MAX_BIN wide by min/max over windows of 2, 4, 8 ... p samples (whole-array
    ufuncs, p the largest power of two within the narrowest bin), each bin then being
    the min (max) of two overlapping windows, its first and its last: reduceat pays
    ~20-50 ns per bin, which dominates at up to a few dozen samples per bin."""
    count = seg.shape[-1]
    last = np.empty_like(starts)
    last[:-1] = starts[1:] - 1
    last[-1] = count - 1
    widths = last - starts
    width = int(widths.max()) + 1 if starts.size else 0
    want_lo, want_hi = side != "hi", side != "lo"
    narrowest = int(widths.min()) + 1 if starts.size else 0
    p = 1 << max(0, narrowest.bit_length() - 1)  # the largest power of two <= narrowest
    if width > DOUBLING_MAX_BIN or (width > GATHER_MAX_BIN and 2 * p < width):  # (uneven bins)
        lo = np.minimum.reduceat(seg, starts, axis=-1) if want_lo else None
        hi = np.maximum.reduceat(seg, starts, axis=-1) if want_hi else None
        return (lo if want_lo else hi), (hi if want_hi else lo)
    if width > GATHER_MAX_BIN:  # 2p >= width: each bin is its first and last p-window
        lo = hi = seg
        q = 1
        while q < p:
            if want_lo:
                lo = np.minimum(lo[..., :-q], lo[..., q:])
            if want_hi:
                hi = np.maximum(hi[..., :-q], hi[..., q:])
            q *= 2
        tail = last - (p - 1)  # start of each bin's last window of p samples
        if want_lo:
            lo = np.minimum(lo[..., starts], lo[..., tail])
        if want_hi:
            hi = np.maximum(hi[..., starts], hi[..., tail])
        return (lo if want_lo else hi), (hi if want_hi else lo)
    first = seg[..., starts]
    lo = first if want_lo else None
    hi = (first.copy() if want_lo else first) if want_hi else None
    for j in range(1, width):
        v = seg[..., np.minimum(starts + j, last)]
        if want_lo:
            np.minimum(lo, v, out=lo)
        if want_hi:
            np.maximum(hi, v, out=hi)
    return (lo if want_lo else hi), (hi if want_hi else lo)


def _even_starts(count: int, n_bins: int) -> np.ndarray:
    """Start offsets of n_bins nearly equal bins over `count` items (strictly increasing)."""
    n_bins = max(1, min(int(n_bins), int(count)))
    return (np.arange(n_bins, dtype=np.int64) * count) // n_bins


def interleave(env: Envelope, kind: str = "minmax") -> tuple[np.ndarray, np.ndarray]:
    """Points to draw an envelope as one line: positions in samples and values.

    kind "minmax": each bin's min then max at the bin centre (a vertical stroke per bin,
    the classic peak-preserving display); "min" / "max": one point per bin.  Raw
    envelopes are returned sample by sample whatever the kind.
    """
    if env.raw:
        pos = env.edges[:-1].astype(np.float64)
        return pos, env.lo
    centre = 0.5 * (env.edges[:-1] + env.edges[1:] - 1)
    if kind == "min":
        return centre, env.lo
    if kind == "max":
        return centre, env.hi
    if kind != "minmax":
        raise ValueError(f"unknown kind {kind!r}")
    shape = env.lo.shape[:-1] + (2 * env.lo.shape[-1],)
    y = np.empty(shape, dtype=env.lo.dtype)
    y[..., 0::2] = env.lo
    y[..., 1::2] = env.hi
    return np.repeat(centre, 2), y


def minmax_bins(x: np.ndarray, n_bins: int) -> Envelope:
    """One-shot min/max decimation of the whole of x (..., n) into about n_bins bins."""
    x = np.asarray(x)
    n = x.shape[-1]
    n_bins = max(1, int(n_bins))
    if n <= 2 * n_bins:
        return Envelope(np.arange(0, n + 1, dtype=np.int64), x, x, True)
    binw = int(np.ceil(n / n_bins))
    lo, hi = _reduce_blocks(x, binw)
    edges = np.minimum(np.arange(0, lo.shape[-1] + 1, dtype=np.int64) * binw, n)
    return Envelope(edges, lo, hi, False)


def subsample_index(n: int, i0: int, i1: int, n_points: int) -> np.ndarray:
    """Sample indices of every k-th sample of i0:i1 within 0:n (k chosen for at most about
    `n_points` points, the last sample always kept)."""
    i0 = max(0, min(int(i0), n))
    i1 = max(i0, min(int(i1), n))
    if i1 == i0:
        return np.zeros(0, np.intp)
    stride = max(1, int(np.ceil((i1 - i0) / max(1, int(n_points)))))
    idx = np.arange(i0, i1, stride)
    if idx[-1] != i1 - 1:
        idx = np.append(idx, i1 - 1)
    return idx


def subsample(x: np.ndarray, i0: int, i1: int, n_points: int,
              rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Every k-th sample of x[..., i0:i1] (see subsample_index): positions in samples and
    values. `rows`: only these rows of a 2-D x (gathered without copying the others).

    Not peak-preserving: for drawing many similar lines (band members) whose extremes
    are shown by an exact min/max envelope anyway.
    """
    idx = subsample_index(x.shape[-1], i0, i1, n_points)
    if rows is not None:
        return idx.astype(np.float64), x[np.ix_(np.asarray(rows), idx)]
    return idx.astype(np.float64), x[..., idx]
