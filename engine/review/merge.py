"""Merging reviewers' copies of one study into one file, refusing anything that does not belong.

Before anything is written every input is checked: the same study id; each item's digest is
recomputed from the traces in the file and must match the file's fingerprint, the other inputs'
and, where an input carries the answer key, the key's digests (so swapped, zeroed or replaced
traces are refused); every answer key present must be the same key; every answer must name an item
and a session of the study, with a value valid for the item's task and a confidence of 1–5. The
output is built under a temporary name and renamed at the end (a failed merge leaves nothing
behind and never half-changes a file), under a lock file so two merges cannot race.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import unicodedata
from dataclasses import dataclass

from ..errors import UserError
from ..outputs import FileLock
from .access import Study, check_answer_numbers, reviewer_key
from .create import check_study_output, temp_beside
from .store import KEY_SCHEMA, backup_to, fingerprint, has_table, item_digests, legacy_fingerprint, remove_sidecars, split_sql
from .tasks import normalise_answer


@dataclass
class _Checked:
    path: str
    study_id: str
    version: int
    fingerprint: str  # recomputed from the traces
    digests: dict[str, str]
    key_digests: dict[str, str] | None  # from the answer key, where the file has one
    key_hash: str | None


def _key_hash(conn: sqlite3.Connection) -> str:
    h = hashlib.sha256()
    for table, order in (("answer_key", "item_id"), ("key_meta", "key")):
        if not has_table(conn, table):
            continue
        cols = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
        h.update(f"{table}:{','.join(cols)}\n".encode())
        for row in conn.execute(f"SELECT * FROM {table} ORDER BY {order}"):
            h.update(repr(tuple(row)).encode() + b"\n")
    return h.hexdigest()


def _check_answers(path: str, conn: sqlite3.Connection) -> None:
    tasks = {r["item_id"]: r["task"] for r in conn.execute("SELECT item_id, task FROM items")}
    sessions = set()
    for s in conn.execute("SELECT session_id, reviewer, started_at, locked FROM sessions"):
        if not (isinstance(s["session_id"], str) and isinstance(s["reviewer"], str) and s["reviewer"].strip()
                and isinstance(s["started_at"], str) and s["locked"] in (0, 1)):
            raise UserError(f"{path}: a reviewer session is malformed (file altered?)")
        if len(s["reviewer"]) > 200 or any(unicodedata.category(ch) in ("Cc", "Cf") for ch in s["reviewer"]):
            # the window never stores such a name; printed by `review report`, it could drive the terminal
            raise UserError(f"{path}: a reviewer name holds control or invisible characters (file altered?)")
        sessions.add(s["session_id"])
    for a in conn.execute("SELECT * FROM answers"):
        aid = str(a["answer_id"])[:8]
        if a["session_id"] not in sessions:
            raise UserError(f"{path}: answer {aid}… belongs to no session of this study")
        task = tasks.get(a["item_id"])
        if task is None:
            raise UserError(f"{path}: answer {aid}… is to an item that is not in this study")
        if not isinstance(a["answer"], str) or normalise_answer(task, a["answer"]) != a["answer"]:
            raise UserError(f"{path}: answer {aid}… has value {str(a['answer'])[:20]!r}, "
                            f"not a valid answer for task {task}")
        check_answer_numbers(path, dict(a))
        if not isinstance(a["answered_at"], str) or not isinstance(a["answer_id"], str):
            raise UserError(f"{path}: answer {aid}… is malformed (file altered?)")


def _check_input(path: str) -> _Checked:
    with Study(path) as st:
        conn = st.conn
        try:
            stored = st._meta.get("fingerprint", "")
            if st.schema_version < 2:
                fp, digests, key_digests = legacy_fingerprint(conn), {}, None
            else:
                digests = item_digests(conn)
                fp = fingerprint(list(digests.values()))
                key_digests = None
                if st.has_key:
                    key_digests = {r["item_id"]: r["digest"] for r in conn.execute("SELECT item_id, digest FROM answer_key")}
            if fp != stored:
                raise UserError(f"{path}: its traces or items were altered after the study was made "
                                "(they no longer match its fingerprint)")
            if key_digests is not None:
                bad = sorted(set(digests) ^ set(key_digests)) + sorted(
                    i for i in digests if i in key_digests and digests[i] != key_digests[i])
                if bad:
                    raise UserError(f"{path}: its answer key does not match its items (item {bad[0][:8]}…)")
            _check_answers(path, conn)
            return _Checked(path, st.study_id, st.schema_version, fp, digests, key_digests,
                            _key_hash(conn) if st.has_key else None)
        except (sqlite3.DatabaseError, UnicodeDecodeError):
            raise UserError(f"{path}: damaged study file") from None


def merge_studies(out: str | os.PathLike, inputs: list[str | os.PathLike], overwrite: bool = False) -> dict:
    """Merge copies of one study (each carrying some reviewers' sessions) into `out`; returns counts.

    `out` may be one of the inputs only if it is the first. Sessions are matched by id and answers
    by their stable id, so every answer appears once however often it was copied. Where copies
    differ on one answer (changed before its session was locked): a copy in which the session is
    locked wins (it is the session as its reviewer finished it), else the later answer; once
    locked in the output, a session's answers never change (a later differing version counts as
    refused, an earlier one as outdated). The key comes from any input that has it. `warnings`:
    several sessions under one reviewer name (see shared_name_warnings)."""
    out = str(out)
    inputs = [str(p) for p in inputs]
    if not inputs:
        raise UserError("no study files to merge")
    for p in inputs:
        if not os.path.isfile(p):
            raise UserError(f"no such study file: {p}")
    same_as_first = os.path.exists(out) and os.path.samefile(out, inputs[0])
    if any(os.path.exists(out) and os.path.samefile(out, p) for p in inputs[1:]):
        raise UserError("the output file may only be the first input")
    if os.path.lexists(out) and not (overwrite or same_as_first):
        raise UserError(f"{out} already exists; to add answers to it give it as the first input "
                        f"(review merge OUT OUT COPY ...), or use --overwrite to replace it")
    check_study_output(out, overwrite or same_as_first, "merged study")
    checked = [_check_input(p) for p in inputs]
    first = checked[0]
    keyed = [c for c in checked if c.key_hash is not None]
    for c in checked[1:]:
        if c.study_id != first.study_id:
            raise UserError(f"{c.path} is a different study (id {c.study_id[:8]}…, expected {first.study_id[:8]}…)")
        if c.version != first.version or c.fingerprint != first.fingerprint:
            raise UserError(f"{c.path}: its items differ from the study's ({first.path}); file altered?")
    for c in keyed[1:]:
        if c.key_hash != keyed[0].key_hash:
            raise UserError(f"{c.path}: its answer key differs from the one in {keyed[0].path}")
    if same_as_first and keyed and first.key_hash is None:
        raise UserError(f"{out} is a reviewer copy: merging in place would write the answer key into it; "
                        "merge into the study file that has the key, or into a new file")
    stats = {"inputs": len(inputs), "sessions_added": 0, "sessions_updated": 0, "answers_added": 0,
             "answers_duplicate": 0, "answers_replaced": 0, "answers_outdated": 0, "answers_rejected_locked": 0}
    with FileLock(out, "merged study"):
        tmp = temp_beside(out)
        try:
            backup_to(inputs[0], tmp)
            with Study(tmp) as dst:
                for path in inputs[1:]:
                    with Study(path) as src:
                        _merge_one(dst.conn, src.conn, stats, path)
                        if not dst.has_key and src.has_key:  # the merged file gets the key from any input
                            _copy_key(dst.conn, src.conn)
                stats["has_key"] = dst.has_key
                stats["sessions"] = len(dst.sessions())
                stats["sessions_unfinished"] = sum(1 for x in dst.sessions() if not x["locked"])
                stats["warnings"] = shared_name_warnings(dst.sessions())
                stats["answers"] = int(dst.conn.execute("SELECT COUNT(*) FROM answers").fetchone()[0])
                if not same_as_first:
                    _refuse_dropping_answers(out, first.study_id, dst.conn)
            remove_sidecars(tmp)
            remove_sidecars(out)
            os.replace(tmp, out)
        except BaseException:
            remove_sidecars(tmp, with_main=True)
            raise
    stats["out"] = out
    return stats


def _refuse_dropping_answers(out: str, study_id: str, merged: sqlite3.Connection) -> None:
    """UserError when `out` (about to be replaced) is a file of this study holding answers the
    merge result lacks: --overwrite would silently drop reviewers' answers."""
    if not os.path.isfile(out):
        return
    try:
        with Study(out) as old:
            if old.study_id != study_id:
                return
            had = {r[0] for r in old.conn.execute("SELECT answer_id FROM answers")}
    except (UserError, sqlite3.Error):
        return  # not a study file (or not this one): --overwrite replaces it as asked
    lost = had - {r[0] for r in merged.execute("SELECT answer_id FROM answers")}
    if lost:
        raise UserError(f"{out} holds {len(lost)} answer(s) that none of the inputs has; --overwrite would drop "
                        f"them: give {out} as the first input to keep them")


def shared_name_warnings(sessions: list[dict]) -> list[str]:
    """One line per reviewer name (as grouped by reviewer_key) that several sessions share: two
    people with the same initials, or one person who answered twice in separate copies."""
    by: dict[str, list[dict]] = {}
    for sess in sessions:
        by.setdefault(reviewer_key(sess["reviewer"]), []).append(sess)
    return [f"{len(v)} sessions under the reviewer name {v[0]['reviewer']!r} (separate copies): the report "
            "counts them as one reviewer (latest answer per item); if they are different people, ask them for "
            "distinct names before merging" for v in by.values() if len(v) > 1]


def _copy_key(dst: sqlite3.Connection, src: sqlite3.Connection) -> None:
    dst.execute("BEGIN IMMEDIATE")
    try:
        for stmt in split_sql(KEY_SCHEMA):
            table = stmt.split("(", 1)[0].split()[-1]
            if not has_table(src, table):
                continue
            dst.execute(stmt)
            cols = [r[1] for r in src.execute(f"PRAGMA table_info({table})")]
            dst.executemany(f"INSERT INTO {table}({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                            [tuple(r) for r in src.execute(f"SELECT {', '.join(cols)} FROM {table}")])
        dst.execute("DELETE FROM meta WHERE key='has_key'")
        dst.execute("COMMIT")
    except BaseException:
        dst.execute("ROLLBACK")
        raise


def _insert_answer(dst: sqlite3.Connection, a) -> None:
    dst.execute("INSERT INTO answers(answer_id, session_id, item_id, answer, confidence, elapsed_s, answered_at) "
                "VALUES (?,?,?,?,?,?,?)", (a["answer_id"], a["session_id"], a["item_id"], a["answer"],
                                           a["confidence"], a["elapsed_s"], a["answered_at"]))


def _merge_one(dst: sqlite3.Connection, src: sqlite3.Connection, stats: dict, path: str = "") -> None:
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
            final_src = bool(s["locked"]) and not locked_here  # src holds the session as its reviewer closed it
            for a in src.execute("SELECT * FROM answers WHERE session_id=?", (s["session_id"],)).fetchall():
                cur = dst.execute("SELECT * FROM answers WHERE answer_id=?", (a["answer_id"],)).fetchone()
                if cur is not None and (cur["session_id"], cur["item_id"]) != (a["session_id"], a["item_id"]):
                    raise UserError(f"{path}: answer {str(a['answer_id'])[:8]}… is to another item or session "
                                    "than in the files merged before it (file altered?)")
                if cur is None:
                    cur = dst.execute("SELECT * FROM answers WHERE session_id=? AND item_id=?",
                                      (a["session_id"], a["item_id"])).fetchone()
                if cur is None:
                    if locked_here:
                        stats["answers_rejected_locked"] += 1
                        continue
                    _insert_answer(dst, a)
                    stats["answers_added"] += 1
                elif tuple(cur) == tuple(a):
                    stats["answers_duplicate"] += 1
                elif locked_here:  # the finished session is final: a later change is refused, an earlier one is old
                    stats["answers_rejected_locked" if a["answered_at"] > cur["answered_at"] else "answers_outdated"] += 1
                elif final_src or a["answered_at"] > cur["answered_at"]:
                    dst.execute("DELETE FROM answers WHERE answer_id=?", (cur["answer_id"],))
                    _insert_answer(dst, a)
                    stats["answers_replaced"] += 1
                else:
                    stats["answers_outdated"] += 1
            if s["locked"] and not locked_here:
                dst.execute("UPDATE sessions SET locked=1, finished_at=? WHERE session_id=?",
                            (s["finished_at"], s["session_id"]))
                if have is not None:
                    stats["sessions_updated"] += 1
        dst.execute("COMMIT")
    except BaseException:
        dst.execute("ROLLBACK")
        raise
