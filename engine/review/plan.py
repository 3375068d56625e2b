"""Planning a review study: the pairs it is built from and the secret, balanced randomisation.

Blinding (what a reviewer copy must not give away, and how this design keeps it):

* Secrets live in the key file only. The randomisation seed (default: 64 random bits from
  `secrets`), the method names, source paths, model outputs and parameters are written to the
  `answer_key` and `key_meta` tables, which a reviewer copy drops (then VACUUMs, so no free page
  keeps them). Item and signal ids are `secrets.token_hex(8)`: no generator to replay.
* The randomisation cannot be replayed without the seed: `KeyedRandom` draws its bits from
  SHA-256 in counter mode keyed by the seed (not a Mersenne Twister whose state leaks through its
  outputs). A seed chosen with `--seed` reproduces the study exactly, but a small one can be found
  by trying: the planner warns.
* One original, one partner. Identity is the attacker's best tool: an original attacked by two
  methods, shown beside each adversarial example, is the trace the two items have in common (byte
  identical or merely equal in value, whatever the storage), while each adversarial example shows
  up only once. So a study uses ONE pair per source ECG (methods balanced over the sources), and
  every appearance of a trace is one of that pair's two traces: A and B show the pair (each trace
  once per task), C shows either the original or the adversarial example (balanced, at random).
  Any pattern of repetitions (which traces recur, how often, next to what) is then the same for
  the original as for the altered trace, so counting or matching twins tells nothing. Each item
  stores its own copy of its traces (no signal row is shared between items), so not even the
  table's references link items; the copies are identical in value by design, since meaning must
  not change (no dither).
* Same processing for both traces of a pair: the same length, float32 mV, and both rounded to one
  common sample grid, the coarser of the two traces' own ADC steps (at least 1 µV), see
  `engine.review.store.prepare_pair`. So "on a 5 µV grid" or "has more decimals" cannot tell
  them apart.

What the design does not hide, and cannot: the alteration itself (telling it apart by eye is what
task B measures).
"""

from __future__ import annotations

import hashlib
import random
import secrets
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from ..errors import UserError

SEED_MAX = 2 ** 64 - 1
GUESSABLE_SEED = 2 ** 32  # seeds below this can be tried one by one


@dataclass
class Pair:
    """An original ECG and one adversarial example made from it (same rate and length, mV)."""

    pair_id: str
    method: str
    x_orig: np.ndarray
    x_adv: np.ndarray
    fs: float
    source_record: str = ""
    adversarial_record: str = ""
    reference_label: str | None = None
    orig_pred: str | None = None
    adv_pred: str | None = None
    model: str | None = None
    params: dict = field(default_factory=dict)

    @property
    def source_key(self) -> str:
        return self.source_record or self.pair_id


def new_seed() -> int:
    """A fresh randomisation seed: 64 bits from the operating system's CSPRNG."""
    return secrets.randbits(64)


def check_seed(seed) -> int:
    """The seed as an int in [0, 2^64 − 1], else UserError."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise UserError(f"seed must be a whole number from 0 to {SEED_MAX}")
    seed = int(seed)
    if not 0 <= seed <= SEED_MAX:
        raise UserError(f"seed {seed} is out of range (0 to {SEED_MAX})")
    return seed


class KeyedRandom(random.Random):
    """random.Random drawing its bits from SHA-256(key ‖ counter): reproducible from the seed,
    unpredictable without it (outputs do not reveal the state, unlike the Mersenne Twister)."""

    def __init__(self, seed: int, purpose: str = "plan") -> None:
        self._key = hashlib.sha256(f"ecgadv-review:{purpose}:{int(seed)}".encode()).digest()
        self._counter = 0
        self._buf = b""
        super().__init__(0)

    def seed(self, *args, **kwargs) -> None:  # the key is the seed; Random.__init__ calls this
        self.gauss_next = None

    def _bytes(self, n: int) -> bytes:
        while len(self._buf) < n:
            self._buf += hashlib.sha256(self._key + self._counter.to_bytes(8, "big")).digest()
            self._counter += 1
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def getrandbits(self, k: int) -> int:
        if k < 0:
            raise ValueError("number of bits must be non-negative")
        if k == 0:
            return 0
        nbytes = (k + 7) // 8
        return int.from_bytes(self._bytes(nbytes), "big") >> (nbytes * 8 - k)

    def random(self) -> float:
        return self.getrandbits(53) * 2.0 ** -53

    def getstate(self):  # pragma: no cover - not needed, and would not capture the key stream
        raise NotImplementedError

    def setstate(self, state):  # pragma: no cover
        raise NotImplementedError


# ---------------------------------------------------------------------------------------------
# balanced randomisation


def balanced_positions(n: int, rng: random.Random) -> list[int]:
    """n positions from {1, 2}, as equal in number as possible, in random order."""
    first = n // 2 + (rng.random() < 0.5 if n % 2 else 0)
    out = [1] * first + [2] * (n - first)
    rng.shuffle(out)
    return out


def balanced_sample(pairs: list[Pair], n: int, rng: random.Random) -> list[Pair]:
    """Up to n pairs, methods interleaved so each method gets an equal share where possible."""
    by_method: dict[str, list[Pair]] = {}
    for p in pairs:
        by_method.setdefault(p.method, []).append(p)
    for group in by_method.values():
        rng.shuffle(group)
    methods = sorted(by_method)
    out: list[Pair] = []
    while len(out) < n and any(by_method.values()):
        for m in methods:
            if by_method[m] and len(out) < n:
                out.append(by_method[m].pop())
    return out


def _positions_by_method(chosen: list[Pair], rng: random.Random) -> list[int]:
    """Altered-trace positions balanced within each method (and so, to ±1 per method, overall)."""
    out = [0] * len(chosen)
    odd_first = rng.random() < 0.5
    for m in sorted({p.method for p in chosen}):
        idx = [i for i, p in enumerate(chosen) if p.method == m]
        n = len(idx)
        first = n // 2 + (n % 2 if odd_first else 0)
        if n % 2:
            odd_first = not odd_first  # alternate which side takes the odd one out
        pos = [1] * first + [2] * (n - first)
        rng.shuffle(pos)
        for i, v in zip(idx, pos):
            out[i] = v
    return out


def one_pair_per_source(pairs: list[Pair], rng: random.Random) -> tuple[list[Pair], int]:
    """One pair per source ECG, methods as balanced as the sources allow; returns (units, dropped).

    Sources with the fewest choices are served first; each takes a pair of the method used least so
    far (ties at random)."""
    by_source: dict[str, list[Pair]] = {}
    for p in pairs:
        by_source.setdefault(p.source_key, []).append(p)
    sources = sorted(by_source)
    rng.shuffle(sources)
    sources.sort(key=lambda s: len(by_source[s]))  # stable: random order within equal counts
    used: Counter = Counter()
    units: list[Pair] = []
    for s in sources:
        opts = by_source[s]
        least = min(used[p.method] for p in opts)
        pick = rng.choice([p for p in opts if used[p.method] == least])
        used[pick.method] += 1
        units.append(pick)
    return units, len(pairs) - len(units)


@dataclass
class PlannedItem:
    task: str
    traces: list[tuple[str, str]]  # (pair_id, "orig" | "adv") per shown trace
    key: dict


def plan_items(pairs: list[Pair], tasks: list[str], seed: int,
               n_per_task: int | None = None) -> tuple[list[PlannedItem], list[str]]:
    """Seeded, balanced plan of the study's items; returns (items in order, warnings).

    One pair per source ECG is used (see the module docstring). Tasks come in blocks, in the order
    given; items are shuffled within each block. A and B show each chosen pair once, with the
    adversarial trace in position 1 or 2 balanced (±1) within each method. C shows one ECG per
    item, the original or the adversarial example of a chosen pair, balanced, distinct sources first.
    """
    rng = KeyedRandom(check_seed(seed), "plan")
    warnings: list[str] = []
    units, dropped = one_pair_per_source(list(pairs), rng)
    if dropped:
        warnings.append(f"{dropped} pair(s) share their original ECG with another pair and are left out: a "
                        "study shows each original beside one adversarial example only (an ECG shown beside "
                        "two different partners would give itself away as the original)")
    items: list[PlannedItem] = []
    for task in tasks:
        block: list[PlannedItem] = []
        if task in ("A", "B"):
            n = len(units) if n_per_task is None else n_per_task
            if n > len(units):
                warnings.append(f"task {task}: {n} items asked, only {len(units)} pairs with distinct "
                                "originals available")
            chosen = balanced_sample(list(units), n, rng)
            positions = _positions_by_method(chosen, rng)
            for p, pos in zip(chosen, positions):
                traces = [(p.pair_id, "orig"), (p.pair_id, "adv")]
                if pos == 1:
                    traces.reverse()
                block.append(PlannedItem(task, traces, {"pair": p, "shown": "pair", "altered_trace": pos}))
        elif task == "C":
            n = len(units) if n_per_task is None else n_per_task
            cap = 2 * len(units)  # each chosen pair's original once and its adversarial example once
            if n > cap:
                warnings.append(f"task C: {n} items asked, only {cap} distinct ECGs available")
                n = cap
            kinds = ["adv" if k == 1 else "orig" for k in balanced_positions(n, rng)]
            order = balanced_sample(list(units), len(units), rng)
            picks: list[tuple[Pair | None, str]] = [
                (order[i] if i < len(order) else None, want) for i, want in enumerate(kinds)]
            used = {(p.pair_id, k) for p, k in picks if p is not None}
            for i, (p, want) in enumerate(picks):  # then the other trace of pairs already shown
                if p is not None:
                    continue
                for kind in (want, "adv" if want == "orig" else "orig"):
                    cand = [q for q in order if (q.pair_id, kind) not in used]
                    if cand:
                        used.add((cand[0].pair_id, kind))
                        picks[i] = (cand[0], kind)
                        break
            for p, kind in picks:
                if p is not None:
                    block.append(PlannedItem("C", [(p.pair_id, kind)],
                                             {"pair": p, "shown": "adversarial" if kind == "adv" else "original",
                                              "altered_trace": None}))
        else:
            raise UserError(f"unknown task {task!r} (choose from A, B, C)")
        rng.shuffle(block)
        items.extend(block)
    return items, warnings
