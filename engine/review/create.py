"""Writing study files: a new study from pairs, and reviewer copies without the answer key.

Both are written under a temporary name and renamed when complete; `create_study` with a
`reviewer_copy` writes both files or neither. See engine.review.plan for what keeps the reviewer
copy blind.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import tempfile
import uuid

from ..errors import UserError
from ..outputs import atomic_write, check_output, check_suffix
from .access import Study, now_iso
from .plan import GUESSABLE_SEED, Pair, check_seed, new_seed, plan_items
from .store import (_PUBLIC, FORMAT, KEY_TABLES, SCHEMA_VERSION, backup_to, connect, create_schema, fingerprint,
                    item_digest, prepare_pair, remove_sidecars, split_sql)
from .tasks import parse_tasks


STUDY_SUFFIXES = (".sqlite", ".db", ".sqlite3", ".study")


def check_study_output(path: str, overwrite: bool, what: str = "study") -> None:
    """A study file (or reviewer copy, or merged study) may be written to `path`: a study's
    suffix (so no slip replaces a label file or a record), and engine.outputs.check_output."""
    check_output(path, overwrite, f"{what} file")
    check_suffix(path, STUDY_SUFFIXES, what)


def refuse_replacing_answers(path: str | os.PathLike, what: str = "study file") -> None:
    """UserError when `path` (about to be replaced under --overwrite) is a study file holding
    reviewers' answers: rebuilding a study or re-issuing a copy must not destroy them."""
    path = str(path)
    if not os.path.isfile(path):
        return
    try:
        with Study(path) as old:
            n = int(old.conn.execute("SELECT COUNT(*) FROM answers").fetchone()[0])
    except (UserError, sqlite3.Error):
        return  # not a study file: --overwrite replaces it as asked
    if n:
        raise UserError(f"{path} holds {n} reviewer answer(s); --overwrite would destroy them: move or rename "
                        f"that {what} first")


def _new_id(used: set[str]) -> str:
    while True:
        v = secrets.token_hex(8)
        if v not in used:
            used.add(v)
            return v


def _build(tmp: str, pairs: list[Pair], tasks: list[str], seed: int, n_per_task: int | None, title: str,
           ask_confidence: bool, params: dict | None, seed_given: bool) -> None:
    planned, warnings = plan_items(pairs, tasks, seed, n_per_task)
    if not planned:
        raise UserError("the study would have no items")
    if seed_given and seed < GUESSABLE_SEED:
        warnings.append(f"seed {seed} is small enough to be found by trying every seed against a reviewer copy; "
                        "leave --seed out for a random 64-bit seed (kept in the key file)")
    by_id = {p.pair_id: p for p in pairs}
    prepared: dict[str, tuple] = {}
    for it in planned:
        for pid, _ in it.traces:
            if pid not in prepared:
                p = by_id[pid]
                prepared[pid] = prepare_pair(p.x_orig, p.x_adv, p.adversarial_record or p.pair_id)
    used: set[str] = set()
    rows = []  # per item its own copy of each trace: (item id, position, item, [(signal id, fs, n, bytes)])
    for pos, it in enumerate(planned):
        traces = []
        for pid, kind in it.traces:
            x = prepared[pid][0 if kind == "orig" else 1]
            traces.append((_new_id(used), float(by_id[pid].fs), int(x.shape[0]), x.tobytes()))
        rows.append((_new_id(used), pos, it, traces))
    conn = connect(tmp, create=True)
    try:
        conn.execute("BEGIN")
        create_schema(conn)
        signal_rows = [t for r in rows for t in r[3]]
        secrets.SystemRandom().shuffle(signal_rows)  # row order says nothing either
        conn.executemany("INSERT INTO signals(signal_id, fs, n, data) VALUES (?,?,?,?)", signal_rows)
        digests = []
        for iid, pos, it, traces in rows:
            t = [s[0] for s in traces]
            conn.execute("INSERT INTO items(item_id, position, task, trace1, trace2) VALUES (?,?,?,?,?)",
                         (iid, pos, it.task, t[0], t[1] if len(t) > 1 else None))
            digest = item_digest(iid, pos, it.task, [s[1:] for s in traces])
            digests.append(digest)
            p: Pair = it.key["pair"]
            conn.execute(
                "INSERT INTO answer_key(item_id, pair_id, method, shown, altered_trace, source_record, "
                "adversarial_record, reference_label, orig_pred, adv_pred, model, params, digest) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (iid, p.pair_id, p.method, it.key["shown"], it.key["altered_trace"], p.source_record,
                 p.adversarial_record, p.reference_label, p.orig_pred, p.adv_pred, p.model,
                 json.dumps({**p.params, "grid_mv": prepared[p.pair_id][2]}, sort_keys=True, default=str),
                 digest))
        counts = {t: sum(1 for it in planned if it.task == t) for t in tasks}
        public = {"format": FORMAT, "schema_version": str(SCHEMA_VERSION), "study_id": str(uuid.uuid4()),
                  "title": title, "created_at": now_iso(), "tasks": json.dumps(tasks),
                  "ask_confidence": "1" if ask_confidence else "0", "fingerprint": fingerprint(digests)}
        secret = {"seed": str(seed), "n_per_task": "" if n_per_task is None else str(n_per_task),
                  "params": json.dumps({**(params or {}), "n_pairs": len(pairs),
                                        "n_pairs_used": len({it.key["pair"].pair_id for it in planned}),
                                        "methods": sorted({p.method for p in pairs}), "items_per_task": counts},
                                       sort_keys=True, default=str),
                  "warnings": json.dumps(warnings)}
        conn.executemany("INSERT INTO meta(key, value) VALUES (?,?)", list(public.items()))
        conn.executemany("INSERT INTO key_meta(key, value) VALUES (?,?)", list(secret.items()))
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except BaseException:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass
        raise
    finally:
        conn.close()
        remove_sidecars(tmp)


def create_study(path: str | os.PathLike, pairs: list[Pair], tasks: list[str] | str, seed: int | None = None,
                 n_per_task: int | None = None, *, title: str = "ECG review", ask_confidence: bool = True,
                 params: dict | None = None, overwrite: bool = False,
                 reviewer_copy: str | os.PathLike | None = None) -> Study:
    """Write a new study file from pairs (and, with `reviewer_copy`, its copy without the key).

    `seed` None draws a random 64-bit seed (kept in the key file, see Study.meta). Both files are
    built under temporary names and renamed at the end: a failure leaves neither behind."""
    path = str(path)
    tasks = parse_tasks(tasks)
    if not pairs:
        raise UserError("no adversarial examples to build a study from")
    if n_per_task is not None and n_per_task < 1:
        raise UserError("--n-per-task must be at least 1")
    ids = [p.pair_id for p in pairs]
    if len(set(ids)) != len(ids):
        raise UserError("duplicate pair ids among the inputs")
    seed_given = seed is not None
    seed = check_seed(seed) if seed_given else new_seed()
    check_study_output(path, overwrite)
    refuse_replacing_answers(path)
    if reviewer_copy is not None:
        reviewer_copy = str(reviewer_copy)
        if os.path.abspath(reviewer_copy) == os.path.abspath(path):
            raise UserError("the reviewer copy must be another file than the study")
        check_study_output(reviewer_copy, overwrite, "reviewer copy")
        refuse_replacing_answers(reviewer_copy, "reviewer copy")
    tmps: list[str] = []
    try:
        tmp = temp_beside(path, tmps)
        _build(tmp, pairs, tasks, seed, n_per_task, title, ask_confidence, params, seed_given)
        if reviewer_copy is not None:
            tmp_copy = temp_beside(reviewer_copy, tmps)
            _strip_key(tmp, tmp_copy)
            remove_sidecars(reviewer_copy)
            os.replace(tmp_copy, reviewer_copy)
        remove_sidecars(path)
        try:
            os.replace(tmp, path)
        except OSError as exc:  # keep "both or neither"
            if reviewer_copy is not None:
                os.unlink(reviewer_copy)
            raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        for t in tmps:
            remove_sidecars(t, with_main=True)
        raise
    return Study(path)


def temp_beside(path: str, made: list[str] | None = None) -> str:
    """An empty temporary file next to `path` (`.<name>.XXXX.part`; recorded in `made`, for
    clean-up). UserError (one line) when the folder is not writable."""
    folder = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".part", dir=folder)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
    os.close(fd)
    if made is not None:
        made.append(tmp)
    return tmp


def _strip_key(src: str, dst: str, keep_answers: bool = True) -> None:
    """Copy `src` to `dst` without the key tables (and, unless `keep_answers`, without any
    reviewer's sessions and answers); VACUUM so no free page keeps any of it."""
    backup_to(src, dst)
    conn = sqlite3.connect(dst, isolation_level=None)
    try:
        for table in KEY_TABLES:
            conn.execute(f"DROP TABLE IF EXISTS {table}")
        if not keep_answers:  # the lock triggers guard locked sessions: lift them, empty, put them back
            triggers = [stmt for stmt in split_sql(_PUBLIC) if stmt.startswith("CREATE TRIGGER")]
            for stmt in triggers:
                conn.execute(f"DROP TRIGGER IF EXISTS {stmt.split()[2]}")
            conn.execute("DELETE FROM answers")
            conn.execute("DELETE FROM sessions")
            for stmt in triggers:
                conn.execute(stmt)
        conn.execute("DELETE FROM meta WHERE key IN ('seed', 'params', 'warnings', 'n_per_task')")  # schema 1
        conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('has_key', '0')")
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.execute("VACUUM")
        conn.execute("PRAGMA journal_mode=WAL")
    finally:
        conn.close()
    remove_sidecars(dst)


def write_reviewer_copy(src: str | os.PathLike, dst: str | os.PathLike, overwrite: bool = False,
                        keep_answers: bool = False) -> str:
    """A copy of the study for a reviewer's machine without the answer key: the key tables are
    dropped and the file vacuumed, so nothing of the key is left in it. Sessions and answers
    already in `src` (other reviewers', after a merge) are left out too, so a reviewer never sees a
    colleague's answers; `keep_answers` keeps them (to let a reviewer resume a session begun on
    `src`). Written under a temporary name and renamed. Answers given in such a copy are merged
    back with merge_studies."""
    src, dst = str(src), str(dst)
    with Study(src) as st:
        if not st.has_key:
            raise UserError(f"{src} has no answer key (already a reviewer copy)")
    if os.path.exists(dst) and os.path.samefile(src, dst):
        raise UserError("the reviewer copy must be a different file")
    check_study_output(dst, overwrite, "reviewer copy")
    refuse_replacing_answers(dst, "reviewer copy")
    with atomic_write(dst) as tmp:
        _strip_key(src, tmp, keep_answers)
        remove_sidecars(dst)
    return dst
