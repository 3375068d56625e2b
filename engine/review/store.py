"""The study file: SQLite schema, connections, how traces are stored, and item fingerprints.

Tables: `meta` (public: format, schema version, study id, title, tasks, fingerprint), `signals`
(float32 mV blobs + sampling rate; one row per shown trace instance), `items`, `sessions`,
`answers`; and, in the researcher's file only, `answer_key` (per item: method, which trace is
altered, sources, model outputs, parameters, the item's digest) and `key_meta` (seed and the
creation parameters). A reviewer copy drops those two tables.

Traces of a pair are stored identically processed (`prepare_pair`): same length, both rounded to
one common grid, float32 little-endian. Each item's digest is SHA-256 over its id, position,
task and its traces' rate, length and bytes; the key file keeps every item's digest and `meta`
keeps the digest of all of them (the study fingerprint), so a merge can recompute both and refuse
swapped, zeroed or otherwise altered traces.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3

import numpy as np

from ..errors import UserError

SCHEMA_VERSION = 2
FORMAT = "ecgadv-review-study"
KEY_TABLES = ("answer_key", "key_meta")

_PUBLIC = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE signals(signal_id TEXT PRIMARY KEY, fs REAL NOT NULL, n INTEGER NOT NULL,
                     data BLOB NOT NULL);
CREATE TABLE items(item_id TEXT PRIMARY KEY, position INTEGER NOT NULL UNIQUE,
                   task TEXT NOT NULL CHECK (task IN ('A', 'B', 'C')),
                   trace1 TEXT NOT NULL REFERENCES signals(signal_id),
                   trace2 TEXT REFERENCES signals(signal_id));
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

KEY_SCHEMA = """
CREATE TABLE answer_key(item_id TEXT PRIMARY KEY REFERENCES items(item_id),
                        pair_id TEXT NOT NULL, method TEXT NOT NULL,
                        shown TEXT NOT NULL CHECK (shown IN ('pair', 'original', 'adversarial')),
                        altered_trace INTEGER CHECK (altered_trace IN (1, 2)),
                        source_record TEXT, adversarial_record TEXT, reference_label TEXT,
                        orig_pred TEXT, adv_pred TEXT, model TEXT, params TEXT, digest TEXT);
CREATE TABLE key_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def split_sql(script: str) -> list[str]:
    """A schema script as single statements (triggers keep their BEGIN … END bodies)."""
    out, buf = [], []
    for line in script.strip().splitlines():
        buf.append(line)
        text = "\n".join(buf).strip()
        if text.endswith(";") and sqlite3.complete_statement(text):
            out.append(text)
            buf = []
    return out


def create_schema(conn: sqlite3.Connection) -> None:
    for stmt in split_sql(_PUBLIC) + split_sql(KEY_SCHEMA):
        conn.execute(stmt)


def _lenient_text(b: bytes) -> str:
    return b.decode("utf-8", "replace")


def writable(path: str) -> bool:
    """Whether SQLite can write the study file: the file and its folder (for the -wal and -shm files)."""
    folder = os.path.dirname(os.path.abspath(path))
    return os.access(path, os.W_OK) and os.access(folder, os.W_OK)


def _open_readonly(path: str) -> sqlite3.Connection:
    """A read-only connection to a study file on read-only media or in a read-only folder
    (immutable: SQLite makes no -wal or -shm file; a WAL left beside it is not read)."""
    from urllib.parse import quote

    return sqlite3.connect(f"file:{quote(os.path.abspath(path))}?mode=ro&immutable=1", uri=True,
                           isolation_level=None)


def connect(path: str, create: bool = False, readonly_ok: bool = False) -> sqlite3.Connection:
    """A connection (WAL, synchronous=FULL, foreign keys) to a study file; UserError if it is none.

    A file that cannot be written (read-only file or folder) is opened read-only when
    `readonly_ok` (reports, merge inputs), else refused in plain words (answers could not be
    saved) rather than taken for a damaged file."""
    if not create and not os.path.isfile(path):
        raise UserError(f"no such study file: {path}")
    readonly = not create and not writable(path)
    if readonly and not readonly_ok:
        raise UserError(f"{path}: the study file or its folder is read-only, so answers cannot be saved; "
                        "copy the file to a folder you can write to and open that copy")
    if readonly and os.path.isfile(path + "-wal") and os.path.getsize(path + "-wal") > 0:
        raise UserError(f"{path}: answers are still in {os.path.basename(path)}-wal beside it, which a read-only "
                        "folder does not let SQLite fold back; copy both files to a folder you can write to")
    conn = None
    try:
        if readonly:
            conn = _open_readonly(path)
        else:
            conn = sqlite3.connect(path, isolation_level=None, timeout=10.0)
        conn.text_factory = _lenient_text  # a damaged file must not raise UnicodeDecodeError anywhere
        if not readonly:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=10000")
        conn.row_factory = sqlite3.Row
        if not create:
            fmt = conn.execute("SELECT value FROM meta WHERE key='format'").fetchone()
            if fmt is None or fmt[0] != FORMAT:
                raise sqlite3.DatabaseError("format")
    except (sqlite3.DatabaseError, UnicodeDecodeError):  # SQLite's own message may quote damaged bytes
        if conn is not None:
            conn.close()
        raise UserError(f"{path}: not a review study file") from None
    return conn


def has_table(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)).fetchone() is not None


def remove_sidecars(path: str, with_main: bool = False) -> None:
    for suffix in ("-wal", "-shm", "-journal") + (("",) if with_main else ()):
        try:
            os.remove(path + suffix)
        except FileNotFoundError:
            pass


def backup_to(src: str, dst: str) -> None:
    """A consistent copy of the study file `src` (WAL included) at `dst` (overwritten)."""
    remove_sidecars(dst)
    a = sqlite3.connect(src) if writable(src) else _open_readonly(src)
    b = sqlite3.connect(dst)
    try:
        a.backup(b)
    except (sqlite3.DatabaseError, UnicodeDecodeError):
        raise UserError(f"{src}: not a review study file") from None
    finally:
        a.close()
        b.close()
    remove_sidecars(dst)


# ---------------------------------------------------------------------------------------------
# traces


def detect_grid(x: np.ndarray, max_step_mv: float = 0.1) -> float | None:
    """The ADC step (mV) the samples of `x` sit on (up to an offset), or None when they sit on no
    grid coarser than 0.1 µV (e.g. a resampled signal)."""
    x = np.asarray(x, dtype=np.float64).ravel()
    v = np.unique(x)
    if v.size < 3:
        return None
    q = float(np.diff(v).min())
    if not 1e-4 <= q <= max_step_mv:
        return None
    r = (x - v[0]) / q
    on = np.abs(r - np.round(r)) < 0.01
    return q if on.mean() >= 0.999 else None


def prepare_pair(x_orig: np.ndarray, x_adv: np.ndarray, name: str = "pair") -> tuple[np.ndarray, np.ndarray, float]:
    """Both traces of a pair processed identically: cut to the same length, rounded to one common
    grid (the coarser of their own ADC steps, at least 1 µV), float32 mV. Returns (orig, adv, grid_mv).

    Rounding to the coarser step changes no sample by more than half that step (≤ 2.5 µV for a
    200 units/mV record): far below what ECG paper shows (0.1 mV per small square)."""
    a = np.asarray(x_orig, dtype=np.float64).ravel()
    b = np.asarray(x_adv, dtype=np.float64).ravel()
    n = min(a.shape[0], b.shape[0])
    if n == 0:
        raise UserError(f"{name}: empty signal")
    a, b = a[:n], b[:n]
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise UserError(f"{name}: signal has NaN or infinite samples")
    grid = max(detect_grid(a) or 0.0, detect_grid(b) or 0.0, 0.001)
    grid = float(f"{grid:.6g}")

    def quantise(x: np.ndarray) -> np.ndarray:
        return (np.round(x / grid) * grid).astype("<f4")

    return quantise(a), quantise(b), grid


def item_digest(item_id: str, position: int, task: str, traces: list[tuple[float, int, bytes]]) -> str:
    """SHA-256 of an item: id, position, task and each trace's (fs, n, float32 bytes)."""
    h = hashlib.sha256(f"{item_id}|{int(position)}|{task}".encode())
    for fs, n, data in traces:
        h.update(f"|{fs!r}|{n!r}|".encode())  # as stored: a REAL and an INTEGER
        h.update(hashlib.sha256(data if isinstance(data, bytes) else repr(data).encode()).digest())
    return h.hexdigest()


def item_digests(conn: sqlite3.Connection) -> dict[str, str]:
    """Every item's digest recomputed from the traces stored in the file, by item id."""
    out = {}
    rows = conn.execute("SELECT item_id, position, task, trace1, trace2 FROM items ORDER BY position").fetchall()
    for r in rows:
        traces = []
        for sid in (r["trace1"], r["trace2"]):
            if sid is None:
                continue
            s = conn.execute("SELECT fs, n, data FROM signals WHERE signal_id=?", (sid,)).fetchone()
            traces.append(("missing", None, b"") if s is None else (s["fs"], s["n"], s["data"]))
        out[r["item_id"]] = item_digest(r["item_id"], r["position"], r["task"], traces)
    return out


def fingerprint(digests_in_order: list[str]) -> str:
    """The study fingerprint: SHA-256 over the item digests in study order."""
    return hashlib.sha256("\n".join(digests_in_order).encode()).hexdigest()


def legacy_fingerprint(conn: sqlite3.Connection) -> str:
    """Schema-1 fingerprint (ids and positions only), to merge copies of older studies."""
    h = hashlib.sha256()
    for r in conn.execute("SELECT item_id, position, task, trace1, IFNULL(trace2, '') FROM items ORDER BY position"):
        h.update("|".join(str(v) for v in r).encode() + b"\n")
    return h.hexdigest()
