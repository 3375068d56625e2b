"""Exact (Clopper–Pearson) confidence intervals for success rates, and the rate records reported
everywhere a success rate is shown (CLI, JSON, plots, README).

A rate record is a plain dict: {"k": successes, "n": trials, "rate": k/n or None,
"ci95": [lo, hi] or None} -- rates as fractions in [0, 1], never percentages.
"""

from __future__ import annotations

import math

__all__ = ["clopper_pearson", "rate_record", "format_rate"]


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float] | None:
    """Exact two-sided binomial interval for k successes in n trials (fractions in [0, 1]).

    lower = Beta(α/2; k, n−k+1) quantile, upper = Beta(1−α/2; k+1, n−k) quantile, α = 1 − level;
    lower is 0 when k = 0 and upper is 1 when k = n. None when n = 0 (no trials, no rate).
    ValueError for k outside 0..n, negative n or a level outside (0, 1).
    """
    from scipy.stats import beta

    if isinstance(k, bool) or isinstance(n, bool):
        raise ValueError("k and n must be counts")
    k, n = int(k), int(n)
    if n < 0 or k < 0 or k > n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if not (0.0 < level < 1.0) or not math.isfinite(level):
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    if n == 0:
        return None
    a = 1.0 - level
    lo = 0.0 if k == 0 else float(beta.ppf(a / 2, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - a / 2, k + 1, n - k))
    return lo, hi


def rate_record(k: int, n: int) -> dict:
    """{"k", "n", "rate", "ci95"} for k successes out of n (rate and interval None when n = 0)."""
    ci = clopper_pearson(k, n)
    return {"k": int(k), "n": int(n), "rate": (k / n) if n else None,
            "ci95": None if ci is None else [ci[0], ci[1]]}


def format_rate(k: int, n: int, digits: int = 1) -> str:
    """'57.1% (16/28, 95% CI 37.2–75.5%)'; '- (0/0)' when there were no trials."""
    ci = clopper_pearson(k, n)
    if ci is None:
        return "- (0/0)"
    return (f"{100 * k / n:.{digits}f}% ({k}/{n}, 95% CI "
            f"{100 * ci[0]:.{digits}f}–{100 * ci[1]:.{digits}f}%)")
