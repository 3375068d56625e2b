"""Clopper–Pearson intervals: published values, closed forms at the edges, the binomial-tail
definition, and bad input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st
from scipy.stats import binom

from engine.intervals import clopper_pearson, format_rate, rate_record


@pytest.mark.parametrize("k,n,lo,hi", [
    # published exact intervals (e.g. Clopper & Pearson 1934 tables; statsmodels
    # proportion_confint(method="beta"))
    (5, 10, 0.1871, 0.8129),
    (1, 10, 0.0025, 0.4450),
    (0, 10, 0.0, 0.3085),
    (10, 10, 0.6915, 1.0),
    (16, 28, 0.3718, 0.7554),
    (50, 100, 0.3983, 0.6017),
])
def test_known_values(k, n, lo, hi):
    got = clopper_pearson(k, n)
    assert got == pytest.approx((lo, hi), abs=1e-4)


@pytest.mark.parametrize("n", [1, 2, 7, 60, 853])
def test_edges_have_closed_forms(n):
    # k = 0: upper = 1 - (α/2)^(1/n), lower exactly 0; k = n mirrored
    lo, hi = clopper_pearson(0, n)
    assert lo == 0.0 and hi == pytest.approx(1 - 0.025 ** (1 / n), rel=1e-9)
    lo, hi = clopper_pearson(n, n)
    assert hi == 1.0 and lo == pytest.approx(0.025 ** (1 / n), rel=1e-9)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 400).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_bounds_solve_the_binomial_tails(kn):
    """The definition: P(X >= k | lo) = 0.025 and P(X <= k | hi) = 0.025, and lo <= k/n <= hi."""
    k, n = kn
    lo, hi = clopper_pearson(k, n)
    assert 0.0 <= lo <= k / n <= hi <= 1.0
    if k > 0:
        assert binom.sf(k - 1, n, lo) == pytest.approx(0.025, abs=1e-6)
    if k < n:
        assert binom.cdf(k, n, hi) == pytest.approx(0.025, abs=1e-6)


def test_no_trials_and_bad_input():
    assert clopper_pearson(0, 0) is None
    assert rate_record(0, 0) == {"k": 0, "n": 0, "rate": None, "ci95": None}
    assert format_rate(0, 0) == "- (0/0)"
    for k, n in [(-1, 5), (6, 5), (0, -1), (True, 3)]:
        with pytest.raises(ValueError):
            clopper_pearson(k, n)
    with pytest.raises(ValueError):
        clopper_pearson(1, 2, level=1.0)


def test_rate_record_and_text():
    r = rate_record(16, 28)
    assert r["rate"] == pytest.approx(16 / 28) and r["ci95"] == pytest.approx([0.3718, 0.7554], abs=1e-4)
    assert format_rate(16, 28) == "57.1% (16/28, 95% CI 37.2–75.5%)"
