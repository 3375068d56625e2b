"""`review merge` refuses what does not belong (tampered items, another key, invalid or orphan
answers) with one line, writes its output atomically, and a kill -9 during a merge or during
answering loses nothing committed."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from conftest import assert_user_error, one_json, run_cli
from engine.errors import UserError
from engine.review.study import ANSWERS, create_study, merge_studies, open_for_review, open_study, write_reviewer_copy
from review_data import ROOT, env_with_root, synthetic_pairs


@pytest.fixture()
def master(tmp_path):
    path = tmp_path / "master.sqlite"
    create_study(path, synthetic_pairs(6), "A,B,C", n_per_task=6).close()
    return path


def _copy(master, path, reviewer=None, n=None, finish=True):
    write_reviewer_copy(master, path)
    if reviewer:
        with open_for_review(path) as rs:
            s = rs.start_session(reviewer)
            k = 0
            while (it := s.next_item()) is not None and (n is None or k < n):
                s.answer(it["item_id"], ANSWERS[it["task"]][0], 3, 1.0)
                k += 1
            if finish and n is None:
                s.finish()
    return path


def _raw(path, *sql, params=()):
    conn = sqlite3.connect(path, isolation_level=None)  # foreign keys off: a hand-edit of the file
    try:
        for stmt in sql:
            conn.execute(stmt, params)
    finally:
        conn.close()


def _pair_item(path):
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT item_id, trace1, trace2 FROM items WHERE trace2 IS NOT NULL LIMIT 1").fetchone()
    finally:
        conn.close()


def _listing(folder):
    return sorted(os.listdir(folder))


def test_clean_merge_still_works(tmp_path, master):
    a = _copy(master, tmp_path / "a.sqlite", "Ann")
    b = _copy(master, tmp_path / "b.sqlite", "Bob", n=4)
    res = merge_studies(tmp_path / "m.sqlite", [master, a, b])
    assert res["answers"] == 18 + 4 and res["has_key"]
    assert _listing(tmp_path) == ["a.sqlite", "b.sqlite", "m.sqlite", "master.sqlite"]  # no temp, no lock left


@pytest.mark.parametrize("tamper", ["swap", "zero", "replace_with_other_item", "fingerprint_forged"])
def test_tampered_items_are_refused(tmp_path, master, tamper):
    c = _copy(master, tmp_path / "c.sqlite", "Ann")
    iid, t1, t2 = _pair_item(c)
    if tamper == "swap":
        _raw(c, "UPDATE items SET trace1=?2, trace2=?1 WHERE item_id=?3", params=(t1, t2, iid))
    elif tamper == "zero":
        _raw(c, "UPDATE signals SET data=zeroblob(length(data)) WHERE signal_id=?", params=(t1,))
    elif tamper == "replace_with_other_item":
        # another item's trace with other samples (items store their own copies, so a copy of the
        # same trace shown in another task would be no tampering at all)
        _raw(c, "UPDATE signals SET data=(SELECT data FROM signals WHERE data <> (SELECT data FROM signals "
                "WHERE signal_id=?1) LIMIT 1) WHERE signal_id=?1", params=(t2,))
    else:  # swap, and recompute the file's own fingerprint: only the key can tell
        from engine.review.store import fingerprint, item_digests

        _raw(c, "UPDATE items SET trace1=?2, trace2=?1 WHERE item_id=?3", params=(t1, t2, iid))
        conn = sqlite3.connect(c)
        conn.row_factory = sqlite3.Row
        fp = fingerprint(list(item_digests(conn).values()))
        conn.close()
        _raw(c, "UPDATE meta SET value=? WHERE key='fingerprint'", params=(fp,))
    out = tmp_path / "m.sqlite"
    for inputs in ([master, c], [c, master]):
        with pytest.raises(UserError, match="altered|differ|does not match"):
            merge_studies(out, inputs)
        assert not out.exists()
    line = assert_user_error(run_cli("review", "merge", out, master, c))
    assert "altered" in line or "differ" in line
    assert not out.exists() and not [f for f in _listing(tmp_path) if f.startswith(".")]


def test_a_different_key_is_refused(tmp_path, master):
    forged = tmp_path / "forged.sqlite"
    shutil.copy(master, forged)
    _raw(forged, "UPDATE answer_key SET altered_trace = 3 - altered_trace WHERE altered_trace IS NOT NULL")
    with pytest.raises(UserError, match="answer key differs"):
        merge_studies(tmp_path / "m.sqlite", [master, forged])
    bad_digest = tmp_path / "bad_digest.sqlite"
    shutil.copy(master, bad_digest)
    _raw(bad_digest, "UPDATE answer_key SET digest = 'x' WHERE rowid = 1")
    with pytest.raises(UserError, match="answer key does not match its items"):
        merge_studies(tmp_path / "m2.sqlite", [bad_digest])
    assert not (tmp_path / "m.sqlite").exists() and not (tmp_path / "m2.sqlite").exists()


@pytest.mark.parametrize("sql,fragment", [
    ("UPDATE answers SET answer='maybe' WHERE rowid=1", "not a valid answer"),
    ("UPDATE answers SET answer='Same' WHERE rowid IN (SELECT a.rowid FROM answers a JOIN items i USING(item_id) "
     "WHERE i.task='A' LIMIT 1)", "not a valid answer"),  # not as stored: the file was edited
    ("UPDATE answers SET answer='1' WHERE rowid IN (SELECT a.rowid FROM answers a JOIN items i USING(item_id) "
     "WHERE i.task='A' LIMIT 1)", "not a valid answer for task A"),  # valid for B, not for A
    ("UPDATE answers SET item_id='0123456789abcdef' WHERE rowid=1", "not in this study"),
    ("UPDATE answers SET session_id='nobody' WHERE rowid=1", "no session"),
    ("UPDATE answers SET elapsed_s='soon' WHERE rowid=1", "invalid time"),
])
def test_invalid_answers_are_refused_with_one_line(tmp_path, master, sql, fragment):
    c = _copy(master, tmp_path / "c.sqlite", "Ann", n=10)
    _raw(c, sql)
    out = tmp_path / "m.sqlite"
    assert_user_error(run_cli("review", "merge", out, master, c), fragment)
    assert not out.exists()


def test_failed_in_place_merge_leaves_the_first_input_untouched(tmp_path, master):
    a = _copy(master, tmp_path / "a.sqlite", "Ann")
    merge_studies(master, [master, a])
    before = master.read_bytes()
    bad = _copy(master, tmp_path / "bad.sqlite", "Bob", n=3)
    _raw(bad, "UPDATE answers SET answer='maybe' WHERE rowid=(SELECT max(rowid) FROM answers)")  # Bob's
    with pytest.raises(UserError):
        merge_studies(master, [master, bad])
    assert master.read_bytes() == before


_MERGE_CHILD = r"""
import sys, time
sys.path.insert(0, {root!r})
import engine.review.merge as m
real = m._merge_one
def slow(dst, src, stats, *more):
    real(dst, src, stats, *more)
    print("merged one", flush=True)
    time.sleep(60)
m._merge_one = slow
m.merge_studies({out!r}, {inputs!r})
"""


def test_kill_9_during_merge_loses_nothing(tmp_path, master):
    a = _copy(master, tmp_path / "a.sqlite", "Ann")
    merge_studies(master, [master, a])  # the master now holds Ann's 18 answers
    b = _copy(master, tmp_path / "b.sqlite", "Bob")
    before = master.read_bytes()
    code = _MERGE_CHILD.format(root=str(ROOT), out=str(master), inputs=[str(master), str(b)])
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env_with_root())
    try:
        assert proc.stdout.readline().strip() == "merged one", proc.stderr.read()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert master.read_bytes() == before  # the merge was not half-applied
    with open_study(master) as st:
        assert len(st.answers()) == 18
    assert os.path.exists(str(master) + ".lock")  # left by the killed merge ...
    res = merge_studies(master, [master, b])  # ... and taken over: its process is gone
    assert res["answers"] == 36 and not os.path.exists(str(master) + ".lock")


_ANSWER_CHILD = r"""
import sys
sys.path.insert(0, {root!r})
from engine.review.study import open_for_review
rs = open_for_review({path!r})
s = rs.start_session("Fast Reviewer")
while (it := s.next_item()) is not None:
    s.answer(it["item_id"], it["answers"][-1], 2, 0.1)
    print(it["item_id"], flush=True)
"""


def test_kill_9_while_answering_fast_loses_no_committed_answer(tmp_path):
    path = tmp_path / "big.sqlite"
    create_study(path, synthetic_pairs(60), "A,B,C").close()  # 360 items
    code = _ANSWER_CHILD.format(root=str(ROOT), path=str(path))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env_with_root())
    done = []
    try:
        t0 = time.monotonic()
        while len(done) < 25 and time.monotonic() - t0 < 60:
            line = proc.stdout.readline()
            if not line:
                break
            done.append(line.strip())
    finally:
        proc.send_signal(signal.SIGKILL)  # mid-stream: the child is answering as fast as it can
        proc.wait(10)
    assert len(done) == 25, proc.stderr.read()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    with open_for_review(path) as rs:
        s = rs.start_session("fast reviewer")
        assert set(done) <= s.answered_ids()  # every answer reported as committed is there
        assert s.progress()[0] >= 25


def test_merge_cli_one_line_errors(tmp_path, master):
    c = _copy(master, tmp_path / "c.sqlite", "Ann")
    (tmp_path / "junk.sqlite").write_bytes(os.urandom(4096))
    assert_user_error(run_cli("review", "merge", tmp_path / "m.sqlite", master, tmp_path / "junk.sqlite"),
                      "not a review study")
    p = run_cli("review", "merge", tmp_path / "m.sqlite", master, c, "--json")
    assert p.returncode == 0, p.stderr
    assert one_json(p.stdout)["answers"] == 18
    assert_user_error(run_cli("review", "merge", tmp_path / "m.sqlite", master, c), "already exists")
