"""bench/bench_strip.py reports the spread of several runs (issue 14 §7), not one run."""
from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_strip", ROOT / "bench" / "bench_strip.py")
    mod = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(ROOT))
    spec.loader.exec_module(mod)
    return mod


def test_repeats_are_reported_as_min_median_max_of_p95(bench):
    runs = [{"frames": 80, "p95_ms": p, "median_ms": p / 2, "cpu_p95_ms": p - 1, "cpu_median_ms": 1.0}
            for p in (17.8, 12.1, 25.9, 14.0, 13.3)]
    s = bench.repeated(runs)
    assert s["repeats"] == 5 and s["p95_runs_ms"] == [17.8, 12.1, 25.9, 14.0, 13.3]
    assert s["p95_ms"] == {"min": 12.1, "median": 14.0, "max": 25.9}
    assert s["cpu_p95_ms"] == {"min": 11.1, "median": 13.0, "max": 24.9}
    assert s["median_ms"] == 7.0  # the median run's own figures
    txt = bench.spread_text(s)
    assert "12.1 /  14.0 /  25.9" in txt and "over 5 runs" in txt
