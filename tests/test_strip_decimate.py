"""gui/strip/decimate.py: the per-bin min/max reductions (gathers, doubling windows, one
side only) equal numpy's ufunc.reduceat on any bins; band bars keep their exact extent."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gui.strip import decimate as dec
from gui.strip import lod


def _reference(x, starts):
    return np.minimum.reduceat(x, starts, axis=-1), np.maximum.reduceat(x, starts, axis=-1)


@pytest.mark.parametrize("count, n_bins", [(18000, 1533), (18000, 766), (3000, 330), (36000, 1533),
                                           (48000, 1500), (100, 7), (64, 2), (5, 5)])
@pytest.mark.parametrize("side", ["both", "lo", "hi"])
def test_even_bins_every_path_and_side_equal_reduceat(count, n_bins, side):
    rng = np.random.default_rng(count + n_bins)
    for x in (rng.standard_normal(count).astype(np.float32), rng.standard_normal((3, count))):
        x = x.copy()
        x[..., count // 3] = np.nan  # NaN propagates as in reduceat
        starts = dec._even_starts(count, n_bins)
        lo, hi = dec._bin_minmax(x, starts, side)
        ref_lo, ref_hi = _reference(x, starts)
        if side != "hi":
            np.testing.assert_array_equal(lo, ref_lo)
        if side != "lo":
            np.testing.assert_array_equal(hi, ref_hi)
        if side == "lo":
            assert hi is lo
        if side == "hi":
            assert lo is hi


@settings(max_examples=150, deadline=None)
@given(count=st.integers(1, 400), cuts=st.lists(st.integers(1, 399), max_size=60),
       side=st.sampled_from(["both", "lo", "hi"]), seed=st.integers(0, 2**16))
def test_any_bins_equal_reduceat(count, cuts, side, seed):
    """Uneven bins (band bar columns, 1-D or rows): the doubling windows must never skip a sample."""
    starts = np.unique(np.array([0] + [c for c in cuts if c < count], dtype=np.int64))
    x = np.random.default_rng(seed).standard_normal((2, count))
    lo, hi = dec._bin_minmax(x, starts, side)
    ref_lo, ref_hi = _reference(x, starts)
    np.testing.assert_array_equal(lo if side != "hi" else hi, ref_lo if side != "hi" else ref_hi)
    np.testing.assert_array_equal(hi if side != "lo" else lo, ref_hi if side != "lo" else ref_lo)


@pytest.mark.parametrize("side", ["lo", "hi"])
def test_envelope_one_side_equals_the_full_envelope(side):
    rng = np.random.default_rng(11)
    x = rng.standard_normal(200_000).astype(np.float32)
    pyr = dec.build_pyramid(x)
    for i0, i1, nb in ((0, 18000, 1533), (5, 150_000, 1400), (1000, 1500, 700), (17, 90_017, 800)):
        full = dec.envelope(x, pyr, i0, i1, nb)
        one = dec.envelope(x, pyr, i0, i1, nb, side)
        np.testing.assert_array_equal(one.edges, full.edges)
        np.testing.assert_array_equal(getattr(one, side), getattr(full, side))
    starts = np.array([0, 3000, 6000])
    full = dec.envelope_rows(x, pyr, starts, 3000, 330)
    one = dec.envelope_rows(x, pyr, starts, 3000, 330, side)
    np.testing.assert_array_equal(getattr(one, side), getattr(full, side))


def test_band_bars_span_min_of_lo_and_max_of_hi_per_column():
    rng = np.random.default_rng(4)
    x = np.sort(rng.uniform(0, 10, 4000))
    yl = rng.standard_normal(4000)
    yh = yl + rng.uniform(0, 1, 4000)
    px_per_s = 150.0  # 4000 samples on 1500 px: bars
    xb, yb = lod.band_bars(x, yl, yh, 0.0, px_per_s)
    col = np.floor(x * px_per_s / lod.BAND_BAR_PX)
    cols = np.unique(col)
    assert xb.size == 2 * cols.size
    np.testing.assert_array_equal(yb[0::2], [yl[col == c].min() for c in cols])
    np.testing.assert_array_equal(yb[1::2], [yh[col == c].max() for c in cols])


def test_members_over_the_ink_budget_at_the_minimum_count_get_fewer_points(monkeypatch):
    """A magnified, jagged band: even MIN_MEMBERS_ZOOMED_OUT members overrun the ink budget, so
    they get fewer points (never under one per MEMBER_MIN_PX pixels); a band that fits keeps them."""
    rng = np.random.default_rng(8)
    data = rng.uniform(-1, 1, (40, 18000)).astype(np.float32)  # white noise: every segment is long
    i0s = np.array([0])
    nb, spp = 1500, 12.0
    rel_big, y_big = lod.member_lines(data, i0s, 18000, nb, 1, spp, px_per_unit=1e-3)  # tiny: fits
    rel, y = lod.member_lines(data, i0s, 18000, nb, 1, spp, px_per_unit=200.0)        # magnified
    assert y.shape[1] == lod.MIN_MEMBERS_ZOOMED_OUT
    assert nb // lod.MEMBER_MIN_PX <= rel.size < rel_big.size
    ink = lod.member_ink(rel, y[0], spp, 200.0) * y.shape[1]
    full_ink = lod.member_ink(rel_big, data[:8, rel_big.astype(int)], spp, 200.0) * y.shape[1]
    assert ink < 0.5 * full_ink  # the drawn length fell with the points
    # the fewest points allowed: one per MEMBER_MIN_PX pixels, however far over the budget
    monkeypatch.setattr(lod, "MEMBER_INK_BUDGET_PX", 1.0)
    rel_min, _ = lod.member_lines(data, i0s, 18000, nb, 1, spp, px_per_unit=200.0)
    assert nb // lod.MEMBER_MIN_PX <= rel_min.size <= nb // lod.MEMBER_MIN_PX + 2
    # members that fit the budget keep their points
    monkeypatch.setattr(lod, "MEMBER_INK_BUDGET_PX", 1e12)
    rel_fit, y_fit = lod.member_lines(data, i0s, 18000, nb, 1, spp, px_per_unit=200.0)
    assert rel_fit.size == rel_big.size and y_fit.shape[1] > lod.MIN_MEMBERS_ZOOMED_OUT
