"""Blinded expert-review studies in one portable SQLite file.

A study holds its ECG signals (float32 mV blobs + sampling rate), the items reviewers see, a
separate answer key, reviewer sessions and answers. Two views open the same file:

* `ReviewStudy` (reviewer side, used by the GUI): study information, items by opaque random id
  with their traces, sessions and answering. It never reads the answer key, and the item dicts it
  returns hold no method, source, record name or model output.
* `Study` (researcher side): everything above plus the answer key, all answers joined with the
  key, and merging reviewers' copies.

Tasks: A, a pair (original, adversarial) — "same diagnosis?"; B, a pair — "which of the two was
altered?"; C, one ECG — rhythm label N / A / O / ~ over a random mix of originals and
adversarial examples. Randomisation (which pairs, the order within each task, which position the
altered trace takes, which ECGs are shown in task C) is seeded and balanced.

Durability: WAL journal with synchronous=FULL and one transaction per answer, so a crash or power
loss loses at most the item on screen. A finished session is locked; SQLite triggers refuse any
later change to its answers, whoever writes to the file.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import socket
import sqlite3
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ..errors import UserError

SCHEMA_VERSION = 1
FORMAT = "ecgadv-review-study"
TASKS = ("A", "B", "C")
ANSWERS = {"A": ("same", "different"), "B": ("1", "2"), "C": ("N", "A", "O", "~")}
RHYTHMS = {"N": "Normal sinus rhythm", "A": "Atrial fibrillation", "O": "Other rhythm",
           "~": "Too noisy to classify"}

# What reviewers read. Nothing here says which trace is altered or what a model predicted; only
# task B (which asks about alteration) mentions that one trace was altered.
INSTRUCTIONS = {
    "general": (
        "You will see single-lead ECG recordings on standard ECG paper: "
        "25 mm/s, 10 mm/mV. Small squares are 0.04 s × 0.1 mV, large squares 0.2 s × 0.5 mV.\n\n"
        "Answer with the keyboard or the buttons. You may zoom and use the calipers. After each "
        "answer you may rate how confident you are (1 = guessing, 5 = certain) or press Enter to "
        "skip the rating.\n\n"
        "Every answer is saved at once. If you stop, you can come back later with the same name "
        "and continue where you left off. There is no going back to change an answer."),
    "A": ("Two ECGs are shown, one above the other. Would you give both the same rhythm "
          "diagnosis?\n\nPress S for same, D for different."),
    "B": ("Two ECGs are shown, one above the other. One of them has been digitally altered; "
          "the other is unchanged. Which one was altered? If you cannot tell, give your best "
          "guess.\n\nPress 1 for the upper ECG (ECG 1), 2 for the lower ECG (ECG 2)."),
    "C": ("One ECG is shown. Which rhythm does it show?\n\nPress N for normal sinus rhythm, "
          "A for atrial fibrillation, O for another rhythm, ~ (or X) if it is too noisy to "
          "classify."),
}
PROMPTS = {"A": "Same rhythm diagnosis for both ECGs?",
           "B": "Which ECG was altered?",
           "C": "Which rhythm does this ECG show?"}

_SCHEMA = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE signals(signal_id TEXT PRIMARY KEY, fs REAL NOT NULL, n INTEGER NOT NULL,
                     data BLOB NOT NULL);
CREATE TABLE items(item_id TEXT PRIMARY KEY, position INTEGER NOT NULL UNIQUE,
                   task TEXT NOT NULL CHECK (task IN ('A', 'B', 'C')),
                   trace1 TEXT NOT NULL REFERENCES signals(signal_id),
                   trace2 TEXT REFERENCES signals(signal_id));
CREATE TABLE answer_key(item_id TEXT PRIMARY KEY REFERENCES items(item_id),
                        pair_id TEXT NOT NULL, method TEXT NOT NULL,
                        shown TEXT NOT NULL CHECK (shown IN ('pair', 'original', 'adversarial')),
                        altered_trace INTEGER CHECK (altered_trace IN (1, 2)),
                        source_record TEXT, adversarial_record TEXT, reference_label TEXT,
                        orig_pred TEXT, adv_pred TEXT, model TEXT, params TEXT);
CREATE TABLE sessions(session_id TEXT PRIMARY KEY, reviewer TEXT NOT NULL,
                      started_at TEXT NOT NULL, finished_at TEXT,
                      locked INTEGER NOT NULL DEFAULT 0 CHECK (locked IN (0, 1)), host TEXT);
CREATE TABLE answers(answer_id TEXT PRIMARY KEY,
                     session_id TEXT NOT NULL REFERENCES sessions(session_id),
                     item_id TEXT NOT NULL REFERENCES items(item_id),
                     answer TEXT NOT NULL,
                     confidence INTEGER CHECK (confidence IS NULL OR confidence BETWEEN 1 AND 5),
                     elapsed_s REAL, answered_at TEXT NOT NULL,
                     UNIQUE(session_id, item_id));
CREATE TRIGGER answers_locked_insert BEFORE INSERT ON answers
  WHEN (SELECT locked FROM sessions WHERE session_id = NEW.session_id) = 1
  BEGIN SELECT RAISE(ABORT, 'session is locked'); END;
CREATE TRIGGER answers_locked_update BEFORE UPDATE ON answers
  WHEN (SELECT locked FROM sessions WHERE session_id = OLD.session_id) = 1
  BEGIN SELECT RAISE(ABORT, 'session is locked'); END;
CREATE TRIGGER answers_locked_delete BEFORE DELETE ON answers
  WHEN (SELECT locked FROM sessions WHERE session_id = OLD.session_id) = 1
  BEGIN SELECT RAISE(ABORT, 'session is locked'); END;
CREATE TRIGGER sessions_stay_locked BEFORE UPDATE ON sessions
  WHEN OLD.locked = 1 AND (NEW.locked = 0 OR NEW.reviewer <> OLD.reviewer)
  BEGIN SELECT RAISE(ABORT, 'session is locked'); END;
CREATE TRIGGER sessions_locked_delete BEFORE DELETE ON sessions WHEN OLD.locked = 1
  BEGIN SELECT RAISE(ABORT, 'session is locked'); END;
"""


class StudyLocked(UserError):
    """The session is finished and locked against edits."""


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def reviewer_key(name: str) -> str:
    """Reviewer identity for grouping: trimmed, inner spaces collapsed, case-folded."""
    return " ".join(str(name).split()).casefold()


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


# ---------------------------------------------------------------------------------------------
# randomisation


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


@dataclass
class PlannedItem:
    task: str
    traces: list[tuple[str, str]]  # (pair_id, "orig" | "adv") per shown trace
    key: dict


def plan_items(pairs: list[Pair], tasks: list[str], seed: int,
               n_per_task: int | None = None) -> tuple[list[PlannedItem], list[str]]:
    """Seeded, balanced plan of the study's items; returns (items in order, warnings).

    Tasks come in blocks, in the order given; items are shuffled within each block. A and B use
    each chosen pair once, with the adversarial trace in position 1 or 2 balanced (±1). C shows
    one ECG per item, originals and adversarial examples balanced, distinct source ECGs first.
    """
    rng = random.Random(f"ecgadv-review:{seed}")
    warnings: list[str] = []
    items: list[PlannedItem] = []
    for task in tasks:
        block: list[PlannedItem] = []
        if task in ("A", "B"):
            n = len(pairs) if n_per_task is None else n_per_task
            if n > len(pairs):
                warnings.append(f"task {task}: {n} items asked, only {len(pairs)} pairs available")
            chosen = balanced_sample(list(pairs), n, rng)
            positions = _positions_by_method(chosen, rng)
            for p, pos in zip(chosen, positions):
                traces = [(p.pair_id, "orig"), (p.pair_id, "adv")]
                if pos == 1:
                    traces.reverse()
                block.append(PlannedItem(task, traces, {"pair": p, "shown": "pair", "altered_trace": pos}))
        elif task == "C":
            n_sources = len({p.source_key for p in pairs})
            n = len(pairs) if n_per_task is None else n_per_task
            cap = n_sources + len(pairs)  # every original once, every adversarial once
            if n > cap:
                warnings.append(f"task C: {n} items asked, only {cap} distinct ECGs available")
                n = cap
            kinds = ["adv" if k == 1 else "orig" for k in balanced_positions(n, rng)]
            order = balanced_sample(list(pairs), len(pairs), rng)
            used_sources: set[str] = set()
            used: set[tuple[str, str]] = set()  # (source or pair, kind)
            picks: list[tuple[Pair, str]] = []
            for want in kinds:  # first pass: a new source ECG each time, of the wanted kind
                for p in order:
                    if p.source_key not in used_sources:
                        used_sources.add(p.source_key)
                        picks.append((p, want))
                        used.add((p.source_key if want == "orig" else p.pair_id, want))
                        break
                else:
                    picks.append((None, want))  # type: ignore[arg-type]
            for i, (p, want) in enumerate(picks):  # second pass: fill with unused ECGs
                if p is not None:
                    continue
                for kind in (want, "adv" if want == "orig" else "orig"):
                    cand = [q for q in order if (q.source_key if kind == "orig" else q.pair_id, kind) not in used]
                    if cand:
                        q = cand[0]
                        used.add((q.source_key if kind == "orig" else q.pair_id, kind))
                        picks[i] = (q, kind)
                        break
            for p, kind in picks:
                if p is None:
                    continue
                block.append(PlannedItem("C", [(p.pair_id, kind)],
                                         {"pair": p, "shown": "adversarial" if kind == "adv" else "original",
                                          "altered_trace": None}))
        else:
            raise UserError(f"unknown task {task!r} (choose from A, B, C)")
        rng.shuffle(block)
        items.extend(block)
    return items, warnings


def parse_tasks(spec: str | list[str]) -> list[str]:
    parts = spec if isinstance(spec, list) else str(spec).replace(" ", "").split(",")
    tasks = [t.strip().upper() for t in parts if t.strip()]
    if not tasks:
        raise UserError("no tasks given (use e.g. --tasks A,B,C)")
    bad = [t for t in tasks if t not in TASKS]
    if bad:
        raise UserError(f"unknown task {bad[0]!r} (choose from A, B, C)")
    if len(set(tasks)) != len(tasks):
        raise UserError("each task may be given only once")
    return tasks


# ---------------------------------------------------------------------------------------------
# file access


def _connect(path: str, create: bool = False) -> sqlite3.Connection:
    if not create and not os.path.isfile(path):
        raise UserError(f"no such study file: {path}")
    try:
        conn = sqlite3.connect(path, isolation_level=None, timeout=10.0)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=10000")
        conn.row_factory = sqlite3.Row
        if not create:
            fmt = conn.execute("SELECT value FROM meta WHERE key='format'").fetchone()
            if fmt is None or fmt[0] != FORMAT:
                raise sqlite3.DatabaseError("format")
    except sqlite3.DatabaseError:
        raise UserError(f"{path}: not a review study file") from None
    return conn


def display_layout(traces: list[np.ndarray], fs: float, aspect: float | None = None,
                   choices: tuple[float, ...] = (10.0, 15.0, 20.0, 30.0)) -> dict:
    """One layout for all traces of an item, so they are drawn identically.

    Row height (whole mV, 3–6, so baselines sit on large squares) fits the largest deflection. Seconds per row: of
    `choices`, the one that draws the ECG largest in a strip of width/height `aspect` (pixels) at
    25 mm/s and 10 mm/mV (near-ties go to the shorter row); 10 s when `aspect` is unknown."""
    span = max((float(np.ptp(x)) for x in traces if len(x)), default=1.0)
    row = float(min(6.0, max(3.0, math.ceil(span * 0.8 + 0.6))))
    duration = max((len(x) / float(fs) for x in traces), default=10.0)
    spr = choices[0]
    if aspect and aspect > 0:
        best = -1.0
        for c in choices:
            rows = max(1, math.ceil(duration / c - 1e-9))
            width_mm, height_mm = (c + 0.4) * 25.0, rows * row * 10.0
            scale = min(aspect / width_mm, 1.0 / height_mm)
            if scale > best * 1.02:  # the largest drawing; near-ties keep the shorter row
                best, spr = scale, c
            if c >= duration:
                break
    return {"seconds_per_row": float(spr), "row_height_mv": row}


class _Base:
    """Shared read access: study information, items with their traces, sessions."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = str(path)
        self.conn = _connect(self.path)
        self._meta = {r["key"]: r["value"] for r in self.conn.execute("SELECT key, value FROM meta")}
        version = int(self._meta.get("schema_version", "0"))
        if version > SCHEMA_VERSION:
            raise UserError(f"{self.path}: study file from a newer version (schema {version})")

    # context manager / closing -------------------------------------------------------------
    def close(self) -> None:
        """Close, folding the WAL back into the one study file (so it can be copied alone)."""
        if self.conn is not None:
            try:
                self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error:
                pass
            self.conn.close()
            self.conn = None  # type: ignore[assignment]

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # study ----------------------------------------------------------------------------------
    @property
    def has_key(self) -> bool:
        """False for a reviewer copy (written by write_reviewer_copy)."""
        return _has_key(self.conn)

    @property
    def study_id(self) -> str:
        return self._meta["study_id"]

    @property
    def tasks(self) -> list[str]:
        return json.loads(self._meta["tasks"])

    @property
    def ask_confidence(self) -> bool:
        return self._meta.get("ask_confidence", "1") == "1"

    @property
    def title(self) -> str:
        return self._meta.get("title", "ECG review")

    def n_items(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM items").fetchone()[0])

    def info(self) -> dict:
        """What a reviewer may see about the study."""
        counts = {r["task"]: r["n"] for r in
                  self.conn.execute("SELECT task, COUNT(*) AS n FROM items GROUP BY task")}
        return {"study_id": self.study_id, "title": self.title, "tasks": self.tasks,
                "n_items": self.n_items(), "items_per_task": counts, "ask_confidence": self.ask_confidence,
                "instructions": {k: v for k, v in INSTRUCTIONS.items() if k == "general" or k in self.tasks},
                "prompts": {t: PROMPTS[t] for t in self.tasks}, "answers": {t: list(ANSWERS[t]) for t in self.tasks}}

    # items ----------------------------------------------------------------------------------
    def _signal(self, signal_id: str) -> tuple[np.ndarray, float]:
        row = self.conn.execute("SELECT fs, n, data FROM signals WHERE signal_id=?", (signal_id,)).fetchone()
        x = np.frombuffer(row["data"], dtype="<f4", count=int(row["n"])).astype(np.float32)
        return x, float(row["fs"])

    def item_ids(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT item_id FROM items ORDER BY position")]

    def item(self, item_id: str) -> dict:
        """The reviewer-facing item: opaque id, task, 1-based index, prompt and traces only."""
        row = self.conn.execute("SELECT item_id, position, task, trace1, trace2 FROM items WHERE item_id=?",
                                (item_id,)).fetchone()
        if row is None:
            raise UserError(f"no item {item_id!r} in this study")
        traces = []
        for k, sid in enumerate((row["trace1"], row["trace2"]), start=1):
            if sid is None:
                continue
            x, fs = self._signal(sid)
            traces.append({"label": f"ECG {k}" if row["trace2"] is not None else "ECG", "x_mv": x, "fs": fs})
        return {"item_id": row["item_id"], "index": int(row["position"]) + 1, "n_items": self.n_items(),
                "task": row["task"], "prompt": PROMPTS[row["task"]], "answers": list(ANSWERS[row["task"]]),
                "traces": traces,
                "display": display_layout([t["x_mv"] for t in traces], traces[0]["fs"] if traces else 300.0)}

    # sessions -------------------------------------------------------------------------------
    def sessions(self) -> list[dict]:
        rows = self.conn.execute(
            "SELECT s.session_id, s.reviewer, s.started_at, s.finished_at, s.locked, s.host, "
            "(SELECT COUNT(*) FROM answers a WHERE a.session_id = s.session_id) AS n_answers "
            "FROM sessions s ORDER BY s.started_at, s.session_id").fetchall()
        return [{**dict(r), "locked": bool(r["locked"])} for r in rows]


class ReviewStudy(_Base):
    """The reviewer's view of a study (what the GUI uses). It never touches the answer key."""

    def find_session(self, reviewer: str) -> dict | None:
        """The reviewer's most recent session (unfinished first), or None."""
        key = reviewer_key(reviewer)
        mine = [s for s in self.sessions() if reviewer_key(s["reviewer"]) == key]
        if not mine:
            return None
        open_ = [s for s in mine if not s["locked"]]
        return (open_ or mine)[-1]

    def start_session(self, reviewer: str) -> "ReviewSession":
        """Resume the reviewer's unfinished session, or start a new one (a locked one is returned
        locked: the caller shows that the study is complete)."""
        name = " ".join(str(reviewer).split())
        if not name:
            raise UserError("enter your name or initials")
        if len(name) > 80:
            raise UserError("name is too long (80 characters at most)")
        found = self.find_session(name)
        if found is not None:
            return ReviewSession(self, found["session_id"])
        sid = str(uuid.uuid4())
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            self.conn.execute("INSERT INTO sessions(session_id, reviewer, started_at, host) VALUES (?,?,?,?)",
                              (sid, name, now_iso(), socket.gethostname()))
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        return ReviewSession(self, sid)


class ReviewSession:
    """One reviewer's pass through the study. Each answer is committed in its own transaction."""

    def __init__(self, study: _Base, session_id: str) -> None:
        self.study = study
        self.session_id = session_id
        row = study.conn.execute("SELECT reviewer FROM sessions WHERE session_id=?", (session_id,)).fetchone()
        if row is None:
            raise UserError(f"no session {session_id!r} in this study")
        self.reviewer = row["reviewer"]

    @property
    def conn(self) -> sqlite3.Connection:
        return self.study.conn

    @property
    def locked(self) -> bool:
        row = self.conn.execute("SELECT locked FROM sessions WHERE session_id=?", (self.session_id,)).fetchone()
        return bool(row["locked"])

    def answered_ids(self) -> set[str]:
        return {r[0] for r in self.conn.execute("SELECT item_id FROM answers WHERE session_id=?",
                                                (self.session_id,))}

    def progress(self) -> tuple[int, int]:
        """(answered, total)."""
        n = self.conn.execute("SELECT COUNT(*) FROM answers WHERE session_id=?", (self.session_id,)).fetchone()[0]
        return int(n), self.study.n_items()

    def next_item_id(self) -> str | None:
        row = self.conn.execute(
            "SELECT item_id FROM items WHERE item_id NOT IN (SELECT item_id FROM answers WHERE session_id=?) "
            "ORDER BY position LIMIT 1", (self.session_id,)).fetchone()
        return None if row is None else row[0]

    def next_item(self) -> dict | None:
        """The first unanswered item in study order, or None when all are answered."""
        if self.locked:
            return None
        iid = self.next_item_id()
        return None if iid is None else self.study.item(iid)

    def answer(self, item_id: str, value: str, confidence: int | None = None,
               elapsed_s: float | None = None) -> str:
        """Record (or, before the session is locked, replace) the answer to one item; returns the
        answer's stable id. Committed before returning (durable on disk)."""
        row = self.conn.execute("SELECT task FROM items WHERE item_id=?", (item_id,)).fetchone()
        if row is None:
            raise UserError(f"no item {item_id!r} in this study")
        task = row["task"]
        value = str(value)
        if task == "C" and value.upper() in ("N", "A", "O"):
            value = value.upper()
        if task == "A":
            value = value.lower()
        if value not in ANSWERS[task]:
            raise UserError(f"answer {value!r} is not valid for task {task} (choose {', '.join(ANSWERS[task])})")
        if confidence is not None:
            confidence = int(confidence)
            if not 1 <= confidence <= 5:
                raise UserError("confidence must be 1 to 5")
        if elapsed_s is not None:
            elapsed_s = float(elapsed_s)
            if not math.isfinite(elapsed_s) or elapsed_s < 0:
                elapsed_s = None
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            if self.locked:
                raise StudyLocked("this session is finished and locked; answers can no longer change")
            prev = self.conn.execute("SELECT answer_id FROM answers WHERE session_id=? AND item_id=?",
                                     (self.session_id, item_id)).fetchone()
            if prev is None:
                aid = str(uuid.uuid4())
                self.conn.execute(
                    "INSERT INTO answers(answer_id, session_id, item_id, answer, confidence, elapsed_s, answered_at) "
                    "VALUES (?,?,?,?,?,?,?)",
                    (aid, self.session_id, item_id, value, confidence, elapsed_s, now_iso()))
            else:
                aid = prev[0]
                self.conn.execute("UPDATE answers SET answer=?, confidence=?, elapsed_s=?, answered_at=? "
                                  "WHERE answer_id=?", (value, confidence, elapsed_s, now_iso(), aid))
            self.conn.execute("COMMIT")
        except sqlite3.IntegrityError as exc:
            self.conn.execute("ROLLBACK")
            if "locked" in str(exc):
                raise StudyLocked("this session is finished and locked; answers can no longer change") from None
            raise
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        return aid

    def finish(self) -> None:
        """Lock the session (all items must be answered). Idempotent."""
        done, total = self.progress()
        if self.locked:
            return
        if done < total:
            raise UserError(f"{total - done} item(s) are still unanswered")
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            self.conn.execute("UPDATE sessions SET locked=1, finished_at=? WHERE session_id=?",
                              (now_iso(), self.session_id))
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        try:
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error:
            pass


def open_for_review(path: str | os.PathLike) -> ReviewStudy:
    """Open a study for a reviewer (no access to the answer key)."""
    return ReviewStudy(path)


# ---------------------------------------------------------------------------------------------
# researcher side


class Study(_Base):
    """The researcher's view: the answer key, all answers, merging."""

    @property
    def meta(self) -> dict:
        """Study parameters (seed, tasks, counts, sources of the pairs, warnings, ...)."""
        out = dict(self._meta)
        for k in ("tasks", "params", "warnings"):
            if k in out:
                out[k] = json.loads(out[k])
        return out

    def _need_key(self) -> None:
        if not self.has_key:
            raise UserError(f"{self.path} is a reviewer copy without the answer key; merge it into the study "
                            "file that has the key (review merge) and report on that")

    def answer_key(self) -> list[dict]:
        self._need_key()
        rows = self.conn.execute(
            "SELECT k.*, i.position, i.task FROM answer_key k JOIN items i USING(item_id) ORDER BY i.position")
        return [dict(r) for r in rows]

    def answers(self) -> list[dict]:
        """All answers joined with their session, item and answer key, in session then study order."""
        self._need_key()
        rows = self.conn.execute(
            "SELECT a.answer_id, a.session_id, s.reviewer, s.locked AS session_locked, a.item_id, "
            "i.position, i.task, a.answer, a.confidence, a.elapsed_s, a.answered_at, "
            "k.method, k.shown, k.altered_trace, k.pair_id, k.source_record, k.adversarial_record, "
            "k.reference_label, k.orig_pred, k.adv_pred, k.model "
            "FROM answers a JOIN sessions s USING(session_id) JOIN items i USING(item_id) "
            "LEFT JOIN answer_key k USING(item_id) ORDER BY s.started_at, s.session_id, i.position")
        out = []
        for r in rows:
            d = dict(r)
            d["session_locked"] = bool(d["session_locked"])
            d["correct"] = answer_correct(d)
            out.append(d)
        return out


def original_class(row: dict) -> str | None:
    """The class of the original ECG: its reference label, else the model's original prediction."""
    return row.get("reference_label") or row.get("orig_pred")


def answer_correct(row: dict) -> bool | None:
    """B: the altered trace was found; C: the label matches the reference label; else None."""
    if row.get("task") == "B" and row.get("altered_trace"):
        return row["answer"] == str(row["altered_trace"])
    if row.get("task") == "C" and row.get("reference_label"):
        return row["answer"] == row["reference_label"]
    return None


def open_study(path: str | os.PathLike) -> Study:
    return Study(path)


def _has_key(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='answer_key'").fetchone() is not None


def _copy_file(src: str, dst: str) -> None:
    """A consistent copy of a study file (SQLite backup API, WAL included) at `dst`, atomically."""
    tmp = dst + ".copying"
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(tmp + suffix):
            os.remove(tmp + suffix)
    a = sqlite3.connect(src)
    b = sqlite3.connect(tmp)
    try:
        a.backup(b)
    finally:
        a.close()
        b.close()
    for suffix in ("-wal", "-shm"):
        if os.path.exists(dst + suffix):
            os.remove(dst + suffix)
    os.replace(tmp, dst)


def write_reviewer_copy(src: str | os.PathLike, dst: str | os.PathLike, overwrite: bool = False) -> str:
    """A copy of the study for a reviewer's machine without the answer key: the table is dropped
    and the file vacuumed, so nothing of the key is left in it. Answers given in such a copy are
    merged back into the file with the key (merge_studies)."""
    src, dst = str(src), str(dst)
    with Study(src) as st:
        if not st.has_key:
            raise UserError(f"{src} has no answer key (already a reviewer copy)")
        st.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    if os.path.exists(dst) and not overwrite:
        raise UserError(f"{dst} already exists (use --overwrite to replace it)")
    if os.path.exists(dst) and os.path.samefile(src, dst):
        raise UserError("the reviewer copy must be a different file")
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    _copy_file(src, dst)
    conn = sqlite3.connect(dst, isolation_level=None)
    try:
        conn.execute("DROP TABLE answer_key")
        conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('has_key', '0')")
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.execute("VACUUM")
        conn.execute("PRAGMA journal_mode=WAL")
    finally:
        conn.close()
    return dst


_KEY_SCHEMA = next(stmt for stmt in (x.strip() + ";" for x in _SCHEMA.split(";")) if "CREATE TABLE answer_key" in stmt)


def _copy_key(dst: sqlite3.Connection, src: sqlite3.Connection) -> None:
    dst.execute("BEGIN IMMEDIATE")
    try:
        dst.execute(_KEY_SCHEMA)
        cols = [r[1] for r in src.execute("PRAGMA table_info(answer_key)")]
        for row in src.execute(f"SELECT {', '.join(cols)} FROM answer_key"):
            dst.execute(f"INSERT INTO answer_key({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", tuple(row))
        dst.execute("DELETE FROM meta WHERE key='has_key'")
        dst.execute("COMMIT")
    except BaseException:
        dst.execute("ROLLBACK")
        raise


def _fingerprint(conn: sqlite3.Connection) -> str:
    h = hashlib.sha256()
    for r in conn.execute("SELECT item_id, position, task, trace1, IFNULL(trace2, '') FROM items ORDER BY position"):
        h.update("|".join(str(v) for v in r).encode() + b"\n")
    return h.hexdigest()


def _prepare_traces(p: Pair) -> tuple[np.ndarray, np.ndarray]:
    """Both traces of a pair on the same grid: equal length, float32, rounded to 1 µV."""
    a = np.asarray(p.x_orig, dtype=np.float64).ravel()
    b = np.asarray(p.x_adv, dtype=np.float64).ravel()
    n = min(a.shape[0], b.shape[0])
    if n == 0:
        raise UserError(f"{p.adversarial_record or p.pair_id}: empty signal")
    if not (np.isfinite(a[:n]).all() and np.isfinite(b[:n]).all()):
        raise UserError(f"{p.adversarial_record or p.pair_id}: signal has NaN or infinite samples")
    a = (np.round(a[:n] * 1000.0) / 1000.0).astype("<f4")
    b = (np.round(b[:n] * 1000.0) / 1000.0).astype("<f4")
    return a, b


def create_study(path: str | os.PathLike, pairs: list[Pair], tasks: list[str] | str, seed: int = 0,
                 n_per_task: int | None = None, *, title: str = "ECG review", ask_confidence: bool = True,
                 params: dict | None = None, overwrite: bool = False) -> Study:
    """Write a new study file from pairs. The file is built under a temporary name and renamed,
    so a failed build leaves nothing behind."""
    path = str(path)
    tasks = parse_tasks(tasks)
    if not pairs:
        raise UserError("no adversarial examples to build a study from")
    if n_per_task is not None and n_per_task < 1:
        raise UserError("--n-per-task must be at least 1")
    ids = [p.pair_id for p in pairs]
    if len(set(ids)) != len(ids):
        raise UserError("duplicate pair ids among the inputs")
    if os.path.exists(path) and not overwrite:
        raise UserError(f"{path} already exists (use --overwrite to replace it)")
    planned, warnings = plan_items(pairs, tasks, seed, n_per_task)
    if not planned:
        raise UserError("the study would have no items")
    rng = random.Random(f"ecgadv-review-ids:{seed}")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    tmp = path + ".building"
    for suffix in ("", "-wal", "-shm", "-journal"):
        if os.path.exists(tmp + suffix):
            os.remove(tmp + suffix)
    conn = _connect(tmp, create=True)
    try:
        conn.execute("BEGIN")
        for stmt in _split_sql(_SCHEMA):
            conn.execute(stmt)
        by_id = {p.pair_id: p for p in pairs}
        needed = sorted({t for it in planned for t in it.traces}, key=lambda t: (t[0], t[1]))
        sig_ids: dict[tuple[str, str], str] = {}
        used_ids: set[str] = set()

        def new_id() -> str:
            while True:
                v = f"{rng.getrandbits(64):016x}"
                if v not in used_ids:
                    used_ids.add(v)
                    return v

        prepared = {}
        for pid, kind in needed:
            if pid not in prepared:
                prepared[pid] = _prepare_traces(by_id[pid])
        # signal rows are written in random order so row order says nothing either
        order = list(needed)
        rng.shuffle(order)
        for pid, kind in order:
            x = prepared[pid][0 if kind == "orig" else 1]
            sid = new_id()
            sig_ids[(pid, kind)] = sid
            conn.execute("INSERT INTO signals(signal_id, fs, n, data) VALUES (?,?,?,?)",
                         (sid, float(by_id[pid].fs), int(x.shape[0]), x.tobytes()))
        for pos, it in enumerate(planned):
            iid = new_id()
            t = [sig_ids[tr] for tr in it.traces]
            conn.execute("INSERT INTO items(item_id, position, task, trace1, trace2) VALUES (?,?,?,?,?)",
                         (iid, pos, it.task, t[0], t[1] if len(t) > 1 else None))
            p: Pair = it.key["pair"]
            conn.execute(
                "INSERT INTO answer_key(item_id, pair_id, method, shown, altered_trace, source_record, "
                "adversarial_record, reference_label, orig_pred, adv_pred, model, params) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (iid, p.pair_id, p.method, it.key["shown"], it.key["altered_trace"], p.source_record,
                 p.adversarial_record, p.reference_label, p.orig_pred, p.adv_pred, p.model,
                 json.dumps(p.params, sort_keys=True, default=str)))
        counts = {t: sum(1 for it in planned if it.task == t) for t in tasks}
        methods = sorted({p.method for p in pairs})
        meta = {"format": FORMAT, "schema_version": str(SCHEMA_VERSION), "study_id": str(uuid.uuid4()),
                "title": title, "created_at": now_iso(), "seed": str(seed), "tasks": json.dumps(tasks),
                "n_per_task": "" if n_per_task is None else str(n_per_task),
                "ask_confidence": "1" if ask_confidence else "0",
                "params": json.dumps({**(params or {}), "n_pairs": len(pairs), "methods": methods,
                                      "items_per_task": counts}, sort_keys=True, default=str),
                "warnings": json.dumps(warnings)}
        for k, v in meta.items():
            conn.execute("INSERT INTO meta(key, value) VALUES (?,?)", (k, v))
        conn.execute("INSERT INTO meta(key, value) VALUES ('fingerprint', ?)", (_fingerprint(conn),))
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except BaseException:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass
        conn.close()
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(tmp + suffix):
                os.remove(tmp + suffix)
        raise
    conn.close()
    for suffix in ("-wal", "-shm"):
        if os.path.exists(tmp + suffix):
            os.remove(tmp + suffix)
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    os.replace(tmp, path)
    return Study(path)


def _split_sql(script: str) -> list[str]:
    """The schema as single statements (triggers keep their BEGIN … END bodies)."""
    out, buf = [], []
    for line in script.strip().splitlines():
        buf.append(line)
        text = "\n".join(buf).strip()
        if text.endswith(";") and sqlite3.complete_statement(text):
            out.append(text)
            buf = []
    return out


# ---------------------------------------------------------------------------------------------
# merging reviewers' copies


def merge_studies(out: str | os.PathLike, inputs: list[str | os.PathLike], overwrite: bool = False) -> dict:
    """Merge copies of one study (each carrying some reviewers' sessions) into `out`.

    `out` may be one of the inputs' paths only if it is given as the first input; otherwise it is
    created from the first input. Sessions are matched by their id and answers by their stable id,
    so every answer appears once however often it was copied. If the same answer id differs between
    copies (changed before its session was locked), the later one wins; a locked session stays
    locked. Returns counts.
    """
    out = str(out)
    inputs = [str(p) for p in inputs]
    if not inputs:
        raise UserError("no study files to merge")
    for p in inputs:
        if not os.path.isfile(p):
            raise UserError(f"no such study file: {p}")
    same_as_first = os.path.exists(out) and os.path.samefile(out, inputs[0])
    if os.path.exists(out) and not same_as_first:
        if not overwrite:
            raise UserError(f"{out} already exists (use --overwrite to replace it)")
    if any(os.path.exists(out) and os.path.samefile(out, p) for p in inputs[1:]):
        raise UserError("the output file may only be the first input")
    if not same_as_first:
        with Study(inputs[0]) as first:
            first.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        _copy_file(inputs[0], out)
    stats = {"inputs": len(inputs), "sessions_added": 0, "sessions_updated": 0, "answers_added": 0,
             "answers_duplicate": 0, "answers_replaced": 0, "answers_rejected_locked": 0}
    with Study(out) as dst:
        for path in inputs[1:]:
            with Study(path) as src:
                if src.study_id != dst.study_id:
                    raise UserError(f"{path} is a different study (id {src.study_id[:8]}…, "
                                    f"expected {dst.study_id[:8]}…)")
                if src._meta.get("fingerprint") != dst._meta.get("fingerprint"):
                    raise UserError(f"{path}: its items differ from the study's (file altered?)")
                _merge_one(dst.conn, src.conn, stats)
                if not dst.has_key and src.has_key:  # the merged file gets the key from any input
                    _copy_key(dst.conn, src.conn)
        stats["has_key"] = dst.has_key
        dst.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        stats["sessions"] = len(dst.sessions())
        stats["answers"] = int(dst.conn.execute("SELECT COUNT(*) FROM answers").fetchone()[0])
    stats["out"] = out
    return stats


def _merge_one(dst: sqlite3.Connection, src: sqlite3.Connection, stats: dict) -> None:
    dst.execute("BEGIN IMMEDIATE")
    try:
        for s in src.execute("SELECT * FROM sessions").fetchall():
            have = dst.execute("SELECT * FROM sessions WHERE session_id=?", (s["session_id"],)).fetchone()
            if have is None:
                dst.execute("INSERT INTO sessions(session_id, reviewer, started_at, finished_at, locked, host) "
                            "VALUES (?,?,?,?,0,?)",
                            (s["session_id"], s["reviewer"], s["started_at"], None, s["host"]))
                stats["sessions_added"] += 1
            locked_here = have is not None and bool(have["locked"])
            for a in src.execute("SELECT * FROM answers WHERE session_id=?", (s["session_id"],)).fetchall():
                cur = dst.execute("SELECT * FROM answers WHERE answer_id=?", (a["answer_id"],)).fetchone()
                if cur is None:
                    cur = dst.execute("SELECT * FROM answers WHERE session_id=? AND item_id=?",
                                      (a["session_id"], a["item_id"])).fetchone()
                if cur is None:
                    if locked_here:
                        stats["answers_rejected_locked"] += 1
                        continue
                    dst.execute("INSERT INTO answers(answer_id, session_id, item_id, answer, confidence, elapsed_s, "
                                "answered_at) VALUES (?,?,?,?,?,?,?)",
                                (a["answer_id"], a["session_id"], a["item_id"], a["answer"], a["confidence"],
                                 a["elapsed_s"], a["answered_at"]))
                    stats["answers_added"] += 1
                elif tuple(cur) == tuple(a):
                    stats["answers_duplicate"] += 1
                elif a["answered_at"] > cur["answered_at"] and not locked_here:
                    dst.execute("DELETE FROM answers WHERE answer_id=?", (cur["answer_id"],))
                    dst.execute("INSERT INTO answers(answer_id, session_id, item_id, answer, confidence, elapsed_s, "
                                "answered_at) VALUES (?,?,?,?,?,?,?)",
                                (a["answer_id"], a["session_id"], a["item_id"], a["answer"], a["confidence"],
                                 a["elapsed_s"], a["answered_at"]))
                    stats["answers_replaced"] += 1
                else:
                    stats["answers_duplicate"] += 1
            if s["locked"] and not locked_here:
                dst.execute("UPDATE sessions SET locked=1, finished_at=? WHERE session_id=?",
                            (s["finished_at"], s["session_id"]))
                if have is not None:
                    stats["sessions_updated"] += 1
        dst.execute("COMMIT")
    except BaseException:
        dst.execute("ROLLBACK")
        raise
