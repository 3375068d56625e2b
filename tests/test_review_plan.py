"""The study plan and trace processing that keep a reviewer copy blind: keyed randomisation, one
pair per original, C drawn from those pairs only, both traces of a pair on one grid."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from engine.errors import UserError
from engine.review.plan import KeyedRandom, Pair, check_seed, one_pair_per_source, plan_items
from engine.review.store import detect_grid, prepare_pair


def test_keyed_random_is_reproducible_and_seed_dependent():
    a, b, c = KeyedRandom(5), KeyedRandom(5), KeyedRandom(6)
    xs = list(range(50))
    ya, yb, yc = xs[:], xs[:], xs[:]
    a.shuffle(ya)
    b.shuffle(yb)
    c.shuffle(yc)
    assert ya == yb != yc and sorted(ya) == xs
    r = KeyedRandom(1)
    draws = [r.random() for _ in range(4000)]
    assert 0.0 <= min(draws) and max(draws) < 1.0 and abs(np.mean(draws) - 0.5) < 0.03
    assert KeyedRandom(1, "plan").getrandbits(64) != KeyedRandom(1, "other").getrandbits(64)


@pytest.mark.parametrize("bad", [-1, 2 ** 64, 1.5, "3", True])
def test_check_seed_range(bad):
    with pytest.raises(UserError, match="seed"):
        check_seed(bad)


def _pairs(sources: int, methods=("pgd", "sap"), n=300):
    rng = np.random.default_rng(0)
    out = []
    for i in range(sources):
        x = rng.normal(0, 0.3, n).astype(np.float32)
        for m in methods:
            out.append(Pair(f"{m}{i}", m, x, x + 0.01, 300.0, source_record=f"/s/{i}"))
    return out


def test_one_pair_per_source_with_methods_balanced():
    pairs = _pairs(21) + _pairs(1, methods=("sap",))[:1]  # a source with one method only
    pairs[-1].source_record = "/s/only-sap"
    units, dropped = one_pair_per_source(pairs, KeyedRandom(3))
    assert len(units) == 22 and dropped == len(pairs) - 22
    assert len({u.source_key for u in units}) == 22
    counts = Counter(u.method for u in units)
    assert abs(counts["pgd"] - counts["sap"]) <= 1


def test_every_shown_trace_belongs_to_the_one_pair_of_its_source():
    pairs = _pairs(10)
    items, warnings = plan_items(pairs, ["A", "B", "C"], seed=123456789, n_per_task=None)
    assert any("left out" in w for w in warnings)
    pair_of_source: dict[str, str] = {}
    shown = Counter()
    for it in items:
        p = it.key["pair"]
        assert pair_of_source.setdefault(p.source_key, p.pair_id) == p.pair_id  # one pair per original
        for tr in it.traces:
            shown[tr] += 1
    # each pair's original and altered trace shown equally in A and B; C adds one of the two, balanced
    c_kinds = Counter(it.traces[0][1] for it in items if it.task == "C")
    assert c_kinds == {"orig": 5, "adv": 5}
    for pid in set(pair_of_source.values()):
        assert sorted((shown[(pid, "orig")], shown[(pid, "adv")])) == [2, 3]


def test_prepare_pair_puts_both_traces_on_one_grid():
    rng = np.random.default_rng(1)
    cont = np.cumsum(rng.normal(0, 0.01, 3000))  # resampled: on no grid
    coarse = np.round((cont + 0.01) / 0.005) * 0.005 + 0.0021  # a 5 µV ADC with a baseline offset
    fine = np.round(cont / 0.001) * 0.001
    assert detect_grid(cont) is None
    assert detect_grid(coarse) == pytest.approx(0.005, rel=1e-4)
    assert detect_grid(fine) == pytest.approx(0.001, rel=1e-4)
    for orig, adv in ((cont, coarse), (coarse, fine), (fine, fine), (cont, cont)):
        a, b, grid = prepare_pair(orig.astype(np.float32), adv.astype(np.float32))
        assert a.dtype == b.dtype == np.dtype("<f4") and a.shape == b.shape
        for x in (a, b):
            r = x.astype(np.float64) / grid
            assert np.abs(r - np.round(r)).max() < 1e-3  # every sample on the common grid
        assert np.abs(a - orig).max() <= grid / 2 + 1e-6  # no more change than half a step
    assert prepare_pair(cont, coarse)[2] == pytest.approx(0.005)
    with pytest.raises(UserError, match="NaN"):
        prepare_pair(np.array([0.0, np.nan]), np.array([0.0, 0.0]))
