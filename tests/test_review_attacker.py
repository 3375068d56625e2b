"""Play the attacker on a reviewer copy: it must recover nothing better than chance.

The attacker holds only the reviewer copy (raw SQLite access, no engine API) and tries every
route the issue names: words and paths anywhere in the file (tables, columns, metadata, values,
free pages, raw bytes), replaying a generator from a seed found in the file, twins (the trace two
items have in common, or the one shown more often), and grid or precision differences between the
two traces of an item. For each A/B item it guesses which trace is the altered one; the guesses
are scored against the key file. (It does not look at the ECGs themselves: whether the alteration
is visible is what task B measures.)

The data mimic the case the issue found: each original resampled (samples on no grid) and
attacked by two methods, the adversarial examples written at 200 units/mV (a 5 µV grid).
"""

from __future__ import annotations

import hashlib
import os
import random
import sqlite3
from collections import defaultdict

import numpy as np
import pytest
from scipy.stats import binomtest

from engine.review.study import Pair, create_study, open_study, write_reviewer_copy

N_SOURCES = 40
FORBIDDEN_WORDS = ("pgd", "sap", "smooth", "adversarial", "original", "orig_pred", "adv_pred", "source_record",
                   "answer_key", "key_meta", "altered_trace", "reference_label", "method", "seed", "/data/",
                   "/adv/", "toy-model")
LONG_WORDS = [w for w in FORBIDDEN_WORDS if len(w) >= 6]  # safe to look for in raw float bytes too


def _pairs(n_sources: int = N_SOURCES, seed: int = 1) -> list[Pair]:
    rng = np.random.default_rng(seed)
    t = np.arange(3000) / 300.0
    pairs = []
    for i in range(n_sources):
        beat = np.sin(2 * np.pi * (1.0 + 0.3 * rng.random()) * t) ** 15
        x = (beat * (0.8 + 0.4 * rng.random()) + np.cumsum(rng.normal(0, 0.002, t.size))).astype(np.float64)
        x = np.interp(np.linspace(0, t.size - 1, t.size), np.arange(t.size) * 1.0001, x)  # "resampled": no grid
        for method in ("pgd", "sap"):
            if method == "pgd":
                delta = 0.01 * np.sign(rng.normal(size=t.size))
            else:
                delta = 0.01 * np.sin(2 * np.pi * rng.random() * t + rng.random())
            adv = np.round((x + delta) / 0.005) * 0.005  # written at 200 units/mV
            pairs.append(Pair(pair_id=f"{method}{i:03d}", method=method, x_orig=x.astype(np.float32),
                              x_adv=adv.astype(np.float32), fs=300.0, source_record=f"/data/src/S{i:03d}",
                              adversarial_record=f"/adv/S{i:03d}_{method}", reference_label="N",
                              orig_pred="N", adv_pred="A", model="toy-model"))
    return pairs


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    base = tmp_path_factory.mktemp("attacker")
    master, copy = base / "study.sqlite", base / "for_reviewers.sqlite"
    create_study(master, _pairs(), "A,B,C").close()  # default seed: the study's own choice
    write_reviewer_copy(master, copy)
    with open_study(master) as st:
        key = {k["item_id"]: k for k in st.answer_key()}
        seed = str(st.meta.get("seed"))
    return copy, key, seed


# ---------------------------------------------------------------------------------------------
# the attacker's view


def _read(copy) -> tuple[sqlite3.Connection, dict]:
    conn = sqlite3.connect(f"file:{copy}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    signals = {r["signal_id"]: np.frombuffer(r["data"], "<f4", count=r["n"]).astype(np.float64)
               for r in conn.execute("SELECT signal_id, n, data FROM signals")}
    return conn, signals


def _pair_items(conn) -> list[tuple[str, str, str]]:
    return [(r[0], r[1], r[2]) for r in
            conn.execute("SELECT item_id, trace1, trace2 FROM items WHERE trace2 IS NOT NULL ORDER BY position")]


def _value_hash(x: np.ndarray) -> str:
    return hashlib.sha256(np.round(x * 1e6).astype(np.int64).tobytes()).hexdigest()


def attack_replay(conn, signals) -> dict[str, int]:
    """Seeds found in the file (or small ones) replayed through the generators studies have used
    for ids: where the ids come out again, the order of the draws says which trace is which."""
    items = _pair_items(conn)
    ids = set(signals)
    cands = set(range(64))
    for (value,) in conn.execute("SELECT value FROM meta"):
        if str(value).strip().isdigit():
            cands.add(int(value))
    for seed in cands:
        rng = random.Random(f"ecgadv-review-ids:{seed}")
        perm = list(range(len(ids)))
        rng.shuffle(perm)
        drawn = [f"{rng.getrandbits(64):016x}" for _ in range(len(ids))]
        if not ids & set(drawn):
            continue
        # signals were drawn in a shuffled order of (pair, "adv" < "orig") sorted: odd index = original
        kind = {sid: ("orig" if perm[i] % 2 else "adv") for i, sid in enumerate(drawn)}
        return {iid: (1 if kind.get(t1) == "adv" else 2) for iid, t1, t2 in items
                if kind.get(t1) and kind.get(t2) and kind[t1] != kind[t2]}
    return {}


def _twin_tables(conn, signals):
    h = {sid: _value_hash(x) for sid, x in signals.items()}
    count: dict[str, int] = defaultdict(int)
    for (t1, t2) in conn.execute("SELECT trace1, trace2 FROM items"):
        for t in (t1, t2):
            if t is not None:
                count[h[t]] += 1
    partners: dict[str, set] = defaultdict(set)
    for _, t1, t2 in _pair_items(conn):
        partners[h[t1]].add(h[t2])
        partners[h[t2]].add(h[t1])
    return h, count, partners


def attack_hubs(conn, signals) -> dict[str, int]:
    """The original is the trace (equal in value, whatever the bytes) that an item shares with an
    item of another partner: an original attacked twice, shown beside each of its examples."""
    h, _, partners = _twin_tables(conn, signals)
    guess = {}
    for iid, t1, t2 in _pair_items(conn):
        hub1, hub2 = len(partners[h[t1]]) > 1, len(partners[h[t2]]) > 1
        if hub1 != hub2:
            guess[iid] = 2 if hub1 else 1
    return guess


def attack_counts(conn, signals) -> dict[str, int]:
    """The original is the trace shown more often in the whole study."""
    h, count, _ = _twin_tables(conn, signals)
    return {iid: (2 if count[h[t1]] > count[h[t2]] else 1) for iid, t1, t2 in _pair_items(conn)
            if count[h[t1]] != count[h[t2]]}


def _on_grid(x: np.ndarray, step: float) -> float:
    r = x / step
    return float(np.mean(np.abs(r - np.round(r)) < 1e-3))


def attack_grid(conn, signals) -> dict[str, int]:
    """The trace whose samples sit on a coarser grid (fewer decimals) is the one written by the attack."""
    guess = {}
    for iid, t1, t2 in _pair_items(conn):
        for step in (0.01, 0.005, 0.0025, 0.002, 0.001):
            f1, f2 = _on_grid(signals[t1], step), _on_grid(signals[t2], step)
            if abs(f1 - f2) > 0.05:
                guess[iid] = 1 if f1 > f2 else 2
                break
    return guess


def _score(guess: dict[str, int], key: dict) -> tuple[int, int]:
    n = sum(1 for iid in guess if key[iid]["altered_trace"])
    k = sum(1 for iid, g in guess.items() if key[iid]["altered_trace"] == g)
    return k, n


def _at_chance(k: int, n: int) -> bool:
    return n == 0 or binomtest(k, n, 0.5).pvalue > 1e-3


# ---------------------------------------------------------------------------------------------
# tests


def test_no_word_path_label_or_seed_anywhere_in_the_copy(study):
    copy, key, seed = study
    assert not any(os.path.exists(str(copy) + s) for s in ("-wal", "-journal"))  # one file, nothing beside
    raw = open(copy, "rb").read().lower()
    for word in LONG_WORDS:  # raw bytes: live rows, free pages, slack space
        assert word.encode() not in raw, word
    conn, _ = _read(copy)
    texts = []
    for name, sql in conn.execute("SELECT name, sql FROM sqlite_master"):
        texts += [str(name), str(sql)]
        if sql and sql.startswith("CREATE TABLE"):
            cols = [r[1] for r in conn.execute(f"PRAGMA table_info({name})")]
            texts += cols
            for row in conn.execute(f"SELECT * FROM {name}"):
                texts += [str(v) for v in row if not isinstance(v, bytes)]
    blob = "\n".join(texts).lower()
    for word in FORBIDDEN_WORDS:
        assert word not in blob, word
    values = {str(v) for (v,) in conn.execute("SELECT value FROM meta")}
    assert seed not in values and seed not in blob  # the seed stays in the key file
    assert conn.execute("PRAGMA freelist_count").fetchone()[0] == 0  # no free page keeps old rows
    conn.close()


def test_each_attack_recovers_nothing_better_than_chance(study):
    copy, key, _ = study
    conn, signals = _read(copy)
    n_pair_items = len(_pair_items(conn))
    assert n_pair_items >= 2 * N_SOURCES  # A and B: one item per original each
    attacks = (("replay", attack_replay), ("hubs", attack_hubs), ("counts", attack_counts), ("grid", attack_grid))
    results, guesses = {}, []
    for name, attack in attacks:
        guess = attack(conn, signals)
        guesses.append(guess)
        results[name] = _score(guess, key)
        assert _at_chance(*results[name]), (name, results[name])
    # the attacker combined: the first route with an opinion, else a coin
    coin = random.Random(0)
    combined = {iid: next((g[iid] for g in guesses if iid in g), coin.choice((1, 2)))
                for iid, _, _ in _pair_items(conn)}
    k, n = _score(combined, key)
    assert n == n_pair_items and _at_chance(k, n), (k, n, results)
    conn.close()


def test_both_traces_of_an_item_share_one_grid_and_no_trace_is_shared_between_items(study):
    copy, _, _ = study
    conn, signals = _read(copy)
    refs = [t for row in conn.execute("SELECT trace1, trace2 FROM items") for t in row if t is not None]
    assert len(refs) == len(set(refs)) == len(signals)  # every shown trace instance is its own row
    for _, t1, t2 in _pair_items(conn):
        for step in (0.01, 0.005, 0.001):
            assert _on_grid(signals[t1], step) == pytest.approx(_on_grid(signals[t2], step), abs=0.05)
        assert _on_grid(signals[t1], 0.005) == 1.0  # the coarser grid (5 µV) for both
    conn.close()


def test_real_examples_show_no_twins_and_no_grid_difference(tmp_path_factory):
    """The bundled samples attacked by PGD and SAP (one original, two adversarial examples each)."""
    from engine.review.collect import collect_pairs
    from review_data import adversarial_dir

    pairs, _ = collect_pairs([str(adversarial_dir(tmp_path_factory.getbasetemp()))])
    base = tmp_path_factory.mktemp("real-attacker")
    create_study(base / "s.sqlite", pairs, "A,B,C").close()
    copy = write_reviewer_copy(base / "s.sqlite", base / "copy.sqlite")
    conn, signals = _read(copy)
    with open_study(base / "s.sqlite") as st:
        key = {k["item_id"]: k for k in st.answer_key()}
    assert attack_hubs(conn, signals) == {}
    assert attack_grid(conn, signals) == {}
    assert attack_replay(conn, signals) == {}
    assert _at_chance(*_score(attack_counts(conn, signals), key))
    conn.close()
