"""Opening a study: the reviewer's view (items, sessions, answering) and the researcher's view
(the answer key and all answers joined with it).

* `ReviewStudy` (reviewer side, used by the GUI): study information, items by opaque random id
  with their traces, sessions and answering. It never reads the answer key, and the item dicts it
  returns hold no method, source, record name or model output.
* `Study` (researcher side): everything above plus the answer key and its parameters.

Durability: WAL journal with synchronous=FULL and one transaction per answer, so a crash or power
loss loses at most the item on screen. After each answer (and each new session) the WAL is folded
back into the study file, so the one file a reviewer sends holds every answer even when the
window is still open or was killed (a WAL left beside it would otherwise hold hundreds of answers
that a copy of the file alone lacks). A finished session is locked; SQLite triggers refuse any
later change to its answers, whoever writes to the file.
"""

from __future__ import annotations

import json
import math
import os
import socket
import sqlite3
import unicodedata
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone

import numpy as np

from ..errors import UserError
from .store import SCHEMA_VERSION, connect, has_table
from .tasks import ANSWERS, INSTRUCTIONS, PROMPTS, normalise_answer


def fold_wal(conn: sqlite3.Connection) -> None:
    """Copy the WAL's committed pages into the study file, without waiting (PASSIVE: a reader
    elsewhere, e.g. a merge reading the file, may hold some back; they are safe in the WAL, and
    the window never freezes waiting for it)."""
    try:
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
    except sqlite3.Error:
        pass


def _unsaved(exc: sqlite3.Error) -> UserError:
    """A write SQLite refused (disk full, I/O error, file locked by another program) in words."""
    return UserError(f"not saved: the study file could not be written ({exc}); the answers saved before "
                     "are safe; free disk space or close other programs using the file, then try again")


def _begin(conn: sqlite3.Connection) -> None:
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        raise _unsaved(exc) from None


def _rollback(conn: sqlite3.Connection) -> None:
    try:
        conn.execute("ROLLBACK")
    except sqlite3.Error:  # SQLite may have rolled back already (e.g. disk full)
        pass


@contextmanager
def _writing(conn: sqlite3.Connection):
    """One write transaction (BEGIN IMMEDIATE … COMMIT). Any error rolls it back and is raised again,
    a write SQLite refused as the one-line 'not saved' error; after the commit the WAL is folded
    into the study file."""
    _begin(conn)
    try:
        yield
        conn.execute("COMMIT")
    except sqlite3.OperationalError as exc:
        _rollback(conn)
        raise _unsaved(exc) from None
    except BaseException:
        _rollback(conn)
        raise
    fold_wal(conn)


class StudyLocked(UserError):
    """The session is finished and locked against edits."""


class AlreadyAnswered(UserError):
    """The item already has an answer in this session (given in another window on the same file)."""


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def reviewer_key(name: str) -> str:
    """Reviewer identity for grouping: Unicode NFKC (so "José" typed as é or as e + accent is one
    name), invisible format and control characters dropped, trimmed, inner spaces collapsed,
    case-folded."""
    text = unicodedata.normalize("NFKC", str(name))
    text = "".join(ch for ch in text if unicodedata.category(ch) not in ("Cf", "Cc") or ch.isspace())
    return unicodedata.normalize("NFKC", " ".join(text.split()).casefold())


def clean_name(reviewer: str) -> str:
    """The name as stored: NFC, whitespace collapsed; UserError when empty, too long or holding
    control or invisible characters (they would make one reviewer look like two)."""
    name = " ".join(unicodedata.normalize("NFC", str(reviewer)).split())
    if not name:
        raise UserError("enter your name or initials")
    if len(name) > 80:
        raise UserError("name is too long (80 characters at most)")
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in name):
        raise UserError("the name holds control or invisible characters; type it again")
    return name



def display_layout(traces: list[np.ndarray], fs: float, aspect: float | None = None,
                   choices: tuple[float, ...] = (10.0, 15.0, 20.0, 30.0)) -> dict:
    """One layout for all traces of an item, so they are drawn identically.

    Row height (whole mV, 3–8, so baselines sit on large squares): each trace is drawn on its row's
    baseline (its middle) less its median, so the row holds twice the largest departure from the
    median plus 0.2 mV above and below: no QRS reaches past the row's top. Seconds per row: of
    `choices`, the one that draws the ECG largest in a strip of width/height `aspect` (pixels) at
    25 mm/s and 10 mm/mV, weighted by the share of the width it uses (scale × (1 + fill) / 2), so
    the traces use the width; 10 s when `aspect` is unknown."""
    dev = max((float(np.max(np.abs(x - np.median(x)))) for x in traces if len(x)), default=0.5)
    row = float(min(8.0, max(3.0, math.ceil(2.0 * dev + 0.4))))
    duration = max((len(x) / float(fs) for x in traces), default=10.0)
    spr = choices[0]
    if aspect and aspect > 0:
        best = -1.0
        for c in choices:
            rows = max(1, math.ceil(duration / c - 1e-9))
            width_mm, height_mm = (c + 0.4) * 25.0, rows * row * 10.0
            scale = min(aspect / width_mm, 1.0 / height_mm)
            fill = min(1.0, width_mm * scale / aspect)  # share of the strip's width the rows use
            score = scale * (0.5 + 0.5 * fill)  # a large drawing that uses the width
            if score > best * 1.02:  # near-ties keep the shorter row
                best, spr = score, c
            if c >= duration:
                break
    return {"seconds_per_row": float(spr), "row_height_mv": row}


class _Base:
    """Shared read access: study information, items with their traces, sessions."""

    READ_ONLY_OK = False  # may a file that cannot be written be opened (read-only)?

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = str(path)
        self.conn = connect(self.path, readonly_ok=self.READ_ONLY_OK)
        try:
            self._meta = {str(r["key"]): str(r["value"]) for r in self.conn.execute("SELECT key, value FROM meta")}
            version = int(self._meta.get("schema_version", "0"))
            self.tasks  # noqa: B018 - checked here, once
            self.conn.execute("SELECT item_id, position, task, trace1, trace2 FROM items LIMIT 1").fetchall()
        except (sqlite3.DatabaseError, ValueError, KeyError):
            self.conn.close()
            raise UserError(f"{self.path}: damaged study file") from None
        if version > SCHEMA_VERSION:
            self.conn.close()
            raise UserError(f"{self.path}: study file from a newer version (schema {version})")
        self.schema_version = version

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
        return has_table(self.conn, "answer_key")

    @property
    def study_id(self) -> str:
        return self._meta["study_id"]

    @property
    def tasks(self) -> list[str]:
        tasks = json.loads(self._meta["tasks"])
        if not isinstance(tasks, list) or not tasks or any(t not in ANSWERS for t in tasks):
            raise ValueError("tasks")
        return tasks

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
        try:
            x = np.frombuffer(row["data"], dtype="<f4", count=int(row["n"])).astype(np.float32)
            fs = float(row["fs"])
            if not (math.isfinite(fs) and fs > 0 and x.size and np.isfinite(x).all()):
                raise ValueError
        except (TypeError, ValueError):
            raise UserError(f"{self.path}: a trace of this study is damaged (signal {signal_id})") from None
        return x, fs

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
        name = clean_name(reviewer)
        found = self.find_session(name)
        if found is not None:
            return ReviewSession(self, found["session_id"])
        sid = str(uuid.uuid4())
        with _writing(self.conn):
            self.conn.execute("INSERT INTO sessions(session_id, reviewer, started_at, host) VALUES (?,?,?,?)",
                              (sid, name, now_iso(), socket.gethostname()))
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
               elapsed_s: float | None = None, replace: bool = True) -> str:
        """Record (or, before the session is locked, replace) the answer to one item; returns the
        answer's stable id. Committed before returning (durable on disk). `replace` False: an item
        that already has an answer raises AlreadyAnswered (the reviewer window: an item shown as
        unanswered but answered meanwhile, in a second window on the same file, keeps that answer)."""
        row = self.conn.execute("SELECT task FROM items WHERE item_id=?", (item_id,)).fetchone()
        if row is None:
            raise UserError(f"no item {item_id!r} in this study")
        task = row["task"]
        given, value = value, normalise_answer(task, str(value))
        if value is None:
            raise UserError(f"answer {str(given)!r} is not valid for task {task} (choose {', '.join(ANSWERS[task])})")
        if confidence is not None:
            confidence = int(confidence)
            if not 1 <= confidence <= 5:
                raise UserError("confidence must be 1 to 5")
        if elapsed_s is not None:
            elapsed_s = float(elapsed_s)
            if not math.isfinite(elapsed_s) or elapsed_s < 0:
                elapsed_s = None
        try:
            with _writing(self.conn):  # after it, the study file alone holds this answer
                if self.locked:
                    raise StudyLocked("this session is finished and locked; answers can no longer change")
                prev = self.conn.execute("SELECT answer_id FROM answers WHERE session_id=? AND item_id=?",
                                         (self.session_id, item_id)).fetchone()
                if prev is not None and not replace:
                    raise AlreadyAnswered("this ECG was answered meanwhile (in another window on the same study file); "
                                          "that answer is kept")
                if prev is None:
                    aid = str(uuid.uuid4())
                    self.conn.execute(
                        "INSERT INTO answers(answer_id, session_id, item_id, answer, confidence, elapsed_s, "
                        "answered_at) VALUES (?,?,?,?,?,?,?)",
                        (aid, self.session_id, item_id, value, confidence, elapsed_s, now_iso()))
                else:
                    aid = prev[0]
                    self.conn.execute("UPDATE answers SET answer=?, confidence=?, elapsed_s=?, answered_at=? "
                                      "WHERE answer_id=?", (value, confidence, elapsed_s, now_iso(), aid))
        except sqlite3.IntegrityError as exc:  # rolled back
            if "locked" in str(exc):
                raise StudyLocked("this session is finished and locked; answers can no longer change") from None
            raise
        return aid

    def finish(self) -> None:
        """Lock the session (all items must be answered). Idempotent."""
        done, total = self.progress()
        if self.locked:
            return
        if done < total:
            raise UserError(f"{total - done} item(s) are still unanswered")
        with _writing(self.conn):
            self.conn.execute("UPDATE sessions SET locked=1, finished_at=? WHERE session_id=?",
                              (now_iso(), self.session_id))


def open_for_review(path: str | os.PathLike) -> ReviewStudy:
    """Open a study for a reviewer (no access to the answer key)."""
    return ReviewStudy(path)


# ---------------------------------------------------------------------------------------------
# researcher side


class Study(_Base):
    """The researcher's view: the answer key, all answers, merging. A study file on read-only
    media opens read-only (reports and merge inputs only read)."""

    READ_ONLY_OK = True

    @property
    def meta(self) -> dict:
        """Study parameters: the public ones (tasks, title, ...) and, in the key file, the secret ones
        (seed, counts, sources of the pairs, warnings, ...)."""
        out = dict(self._meta)
        if has_table(self.conn, "key_meta"):
            out.update({str(r["key"]): str(r["value"]) for r in self.conn.execute("SELECT key, value FROM key_meta")})
        for k in ("tasks", "params", "warnings"):
            if k in out:
                try:
                    out[k] = json.loads(out[k])
                except ValueError:
                    out[k] = {} if k == "params" else []
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
            check_answer_numbers(self.path, d)
            d["session_locked"] = bool(d["session_locked"])
            d["correct"] = answer_correct(d)
            out.append(d)
        return out


def check_answer_numbers(path: str, row: dict) -> None:
    """Refuse an answer whose confidence or time the app cannot have written (a study edited by
    hand): the statistics would crash on text, or print Infinity in --json (review report, merge)."""
    aid = str(row.get("answer_id"))[:8]
    c = row.get("confidence")
    if c is not None and (isinstance(c, bool) or not isinstance(c, int) or not 1 <= c <= 5):
        raise UserError(f"{path}: answer {aid}… has confidence {str(c)[:20]!r} (must be 1 to 5 or empty; "
                        "file altered?)")
    e = row.get("elapsed_s")
    if e is not None and (isinstance(e, bool) or not isinstance(e, (int, float)) or not math.isfinite(e) or e < 0):
        raise UserError(f"{path}: answer {aid}… has an invalid time {str(e)[:20]!r} (file altered?)")


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
