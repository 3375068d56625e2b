"""Trust audit of review studies: what a reviewer sends holds every answer, one reviewer is one
reviewer whatever the Unicode form of the name, the report says when sessions share a name or are
unfinished and why a kappa is undefined, merges treat a finished (locked) session as final, and a
reviewer copy carries neither the key nor other reviewers' answers."""

from __future__ import annotations

import shutil
import signal
import sqlite3
import subprocess
import sys
import unicodedata

import pytest

from conftest import assert_user_error, one_json, run_cli
from engine.errors import UserError
from engine.review.access import reviewer_key
from engine.review.report import html_report
from engine.review.stats import cohen_kappa, compute, fleiss_kappa
from engine.review.study import ANSWERS, create_study, merge_studies, open_for_review, open_study, write_reviewer_copy
from review_data import ROOT, env_with_root, synthetic_pairs


@pytest.fixture()
def master(tmp_path):
    path = tmp_path / "master.sqlite"
    create_study(path, synthetic_pairs(3), "A,B,C", seed=11, n_per_task=4).close()  # 12 items
    return path


def _answer(path, name, value=lambda it: ANSWERS[it["task"]][0], n=None, finish=True):
    with open_for_review(path) as rs:
        s = rs.start_session(name)
        k = 0
        while (it := s.next_item()) is not None and (n is None or k < n):
            s.answer(it["item_id"], value(it), 3, 1.0)
            k += 1
        if finish and n is None:
            s.finish()
        return s.session_id


def _merged_after(tmp_path, master, name, n) -> tuple:
    """(copy, merged): a reviewer copy in which `name` answered `n` items without finishing, and
    it merged with `master`."""
    copy = write_reviewer_copy(master, tmp_path / "copy.sqlite")
    _answer(copy, name, n=n, finish=False)
    out = tmp_path / "merged.sqlite"
    merge_studies(out, [master, copy])
    return copy, out


def _n_answers(path) -> int:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT COUNT(*) FROM answers").fetchone()[0]
    finally:
        conn.close()


_KILLED_CHILD = """
import os, signal, sys
sys.path.insert(0, {root!r})
from engine.review.study import open_for_review
st = open_for_review({path!r})
s = st.start_session("Kim")
for _ in range(7):
    it = s.next_item()
    s.answer(it["item_id"], it["answers"][0], 3, 1.0)
os.kill(os.getpid(), signal.SIGKILL)  # the window dies with the file open
"""


def test_the_study_file_alone_holds_every_answer_after_a_crash(tmp_path, master):
    """A reviewer whose window crashed (or who is still answering) sends the .sqlite file alone:
    every committed answer must be in it, not only in the -wal file left beside it."""
    copy = write_reviewer_copy(master, tmp_path / "copy.sqlite")
    p = subprocess.run([sys.executable, "-c", _KILLED_CHILD.format(root=str(ROOT), path=str(copy))],
                       env=env_with_root(), capture_output=True, text=True, timeout=120)
    assert p.returncode == -signal.SIGKILL, p.stderr
    sent = tmp_path / "sent"
    sent.mkdir()
    shutil.copy(copy, sent / "copy.sqlite")  # the file, without its -wal / -shm
    assert _n_answers(sent / "copy.sqlite") == 7
    res = merge_studies(tmp_path / "merged.sqlite", [master, sent / "copy.sqlite"])
    assert res["answers"] == 7 and res["sessions"] == 1


def test_one_name_in_any_unicode_form_is_one_reviewer(tmp_path, master):
    nfc, nfd = "José Núñez", unicodedata.normalize("NFD", "josé  núñez ")
    assert nfc != nfd and reviewer_key(nfc) == reviewer_key(nfd)
    assert reviewer_key("ＪＳ") == reviewer_key("js")  # full-width letters (NFKC)
    copy = write_reviewer_copy(master, tmp_path / "copy.sqlite")
    first = _answer(copy, nfc, n=3, finish=False)
    with open_for_review(copy) as rs:
        s = rs.start_session(nfd)  # typed on another keyboard: the same session resumes
        assert s.session_id == first and s.progress()[0] == 3
        for bad in ("J\u200bS", "J\x00S", "A\u202eB"):  # invisible / control characters: two names that look alike
            with pytest.raises(UserError, match="invisible"):
                rs.start_session(bad)
        assert len(rs.sessions()) == 1


def test_sessions_sharing_a_name_are_reported_not_silently_mixed(tmp_path, master):
    c1, c2 = (write_reviewer_copy(master, tmp_path / f"c{i}.sqlite") for i in (1, 2))
    _answer(c1, "J.S.", value=lambda it: ANSWERS[it["task"]][0])
    _answer(c2, "j.s.", value=lambda it: ANSWERS[it["task"]][-1])  # another J.S., or the same one twice
    out = tmp_path / "merged.sqlite"
    res = merge_studies(out, [master, c1, c2])
    assert res["answers"] == 24 and len(res["warnings"]) == 1 and "2 sessions" in res["warnings"][0]
    with open_study(out) as st:
        stats = compute(st.answers(), st.sessions(), st.n_items())
        assert stats["n_answers_given"] == 24 and stats["n_answers"] == 12  # the latest per item counts ...
        assert len(stats["warnings"]) == 1 and "12 earlier answer(s) set aside" in stats["warnings"][0]  # ... and says so
        assert "Read first" in html_report(st) and "set aside" in html_report(st)
    p = run_cli("review", "report", out)
    assert p.returncode == 0 and "warning: reviewer 'J.S.' has 2 sessions" in p.stdout, p.stderr
    p = run_cli("review", "merge", tmp_path / "m2.sqlite", master, c1, c2)
    assert p.returncode == 0 and "warning: 2 sessions under the reviewer name" in p.stderr


def test_unfinished_sessions_are_reported(tmp_path, master):
    copy, out = _merged_after(tmp_path, master, "Ann", 5)
    with open_study(out) as st:
        stats = compute(st.answers(), st.sessions(), st.n_items())
    assert stats["warnings"] == ["reviewer 'Ann': session not finished (5 of 12 items answered); its answers are "
                                 "included"]
    edited = tmp_path / "edited.sqlite"
    shutil.copy(out, edited)
    _raw(edited, "UPDATE sessions SET locked = 1")
    with open_study(edited) as st:
        assert "locked with 5 of 12 items answered" in compute(st.answers(), st.sessions(), st.n_items())["warnings"][0]
    p = run_cli("review", "merge", tmp_path / "again.sqlite", master, copy)
    assert p.returncode == 0 and "wrote " in p.stdout and "1 sessions (1 not finished), 5 answers" in p.stdout
    p = run_cli("review", "report", out)  # A (4 items) and one B answered: task C is said to have none
    assert p.returncode == 0 and "task C: no answers yet" in p.stdout and "task B: no answers" not in p.stdout
    assert "warning: reviewer 'Ann': session not finished" in p.stdout


def test_undefined_kappa_says_why_and_one_reviewer_gets_no_agreement(tmp_path, master):
    same = cohen_kappa(["same"] * 4, ["same"] * 4, list(ANSWERS["A"]))
    assert same["kappa"] is None and "same answer" in same["note"] and same["observed_agreement"] == 1.0
    assert "no item" in cohen_kappa([], [], list(ANSWERS["A"]))["note"]
    assert fleiss_kappa([[3, 0], [3, 0]])["kappa"] is None and "same answer" in fleiss_kappa([[3, 0], [3, 0]])["note"]
    # hand-computed: 4 items, raters agree on 3; marginals a = (3 same, 1 diff), b = (2, 2)
    k = cohen_kappa(["same", "same", "same", "different"], ["same", "same", "different", "different"])
    assert k["observed_agreement"] == 0.75 and k["expected_agreement"] == pytest.approx(0.5)
    assert k["kappa"] == pytest.approx(0.5) and "note" not in k
    c1, c2 = (write_reviewer_copy(master, tmp_path / f"c{i}.sqlite") for i in (1, 2))
    _answer(c1, "Ann")
    out = tmp_path / "one.sqlite"
    merge_studies(out, [master, c1])
    p = run_cli("review", "report", out)
    assert p.returncode == 0 and "agreement: not computed (needs answers from two or more reviewers)" in p.stdout
    c3 = write_reviewer_copy(master, tmp_path / "c3.sqlite")
    _answer(c3, "Cem", n=2, finish=False)  # an unfinished reviewer shrinks the items kappa is computed over
    out3 = tmp_path / "three.sqlite"
    merge_studies(out3, [master, c1, c3])
    p = run_cli("review", "report", out3)
    assert "agreement task A: cohen kappa – (undefined: no item" not in p.stdout
    assert "over 2 items (of 4 answered by any reviewer" in p.stdout, p.stdout
    _answer(c2, "Bob")  # both answer the first choice everywhere: kappa undefined for every task
    out2 = tmp_path / "two.sqlite"
    merge_studies(out2, [master, c1, c2])
    p = run_cli("review", "report", out2)
    assert p.returncode == 0, p.stderr
    assert "agreement task A: cohen kappa – (undefined: both reviewers gave one and the same answer" in p.stdout
    p = run_cli("review", "report", out2, "--json")
    doc = one_json(p.stdout)
    assert doc["agreement"]["A"]["kappa"] is None and doc["agreement"]["A"]["note"].startswith("undefined")


def _raw(path, *sql):
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for stmt in sql:
            conn.execute(stmt)
    finally:
        conn.close()


def test_a_locked_copy_is_final_whatever_the_clocks_say(tmp_path, master):
    """An early snapshot of a copy (sent mid-way) whose clock ran ahead must not overrule the same
    session as its reviewer finished it; and an edited replay of a finished copy changes nothing."""
    copy = write_reviewer_copy(master, tmp_path / "copy.sqlite")
    _answer(copy, "Ann", value=lambda it: ANSWERS[it["task"]][0], n=4, finish=False)
    snap, plain = tmp_path / "snapshot.sqlite", tmp_path / "plain.sqlite"
    shutil.copy(copy, snap)
    shutil.copy(copy, plain)
    _raw(snap, "UPDATE answers SET answered_at = '2999-01-01T00:00:00.000+00:00'")  # a clock far ahead
    with open_for_review(copy) as rs:  # Ann changes her mind on those 4, then finishes
        s = rs.start_session("Ann")
        for iid in list(s.answered_ids()):
            task = rs.item(iid)["task"]
            s.answer(iid, ANSWERS[task][1], 5, 2.0)
        while (it := s.next_item()) is not None:
            s.answer(it["item_id"], ANSWERS[it["task"]][1], 5, 2.0)
        s.finish()
    out = tmp_path / "merged.sqlite"
    res = merge_studies(out, [master, snap, copy])
    assert res["answers"] == 12 and res["answers_replaced"] == 4
    with open_study(out) as st:
        assert all(r["answer"] == ANSWERS[r["task"]][1] and r["session_locked"] for r in st.answers())
    # merged the other way round: a snapshot's versions are old (not "already present"); those
    # dated after the session was locked are refused; neither changes the finished session
    res = merge_studies(tmp_path / "merged2.sqlite", [master, copy, plain, snap])
    assert res["answers_outdated"] == 4 and res["answers_rejected_locked"] == 4
    assert res["answers_duplicate"] == 0 and res["answers_replaced"] == 0
    with open_study(tmp_path / "merged2.sqlite") as st:
        assert all(r["answer"] == ANSWERS[r["task"]][1] for r in st.answers())
    # a replay of the finished copy, edited by hand to change an answer later: refused, counted so
    edited = tmp_path / "edited.sqlite"
    shutil.copy(copy, edited)
    _raw(edited, "DROP TRIGGER answers_locked_update",
         "UPDATE answers SET answer = 'same', answered_at = '2999-01-01T00:00:00.000+00:00' "
         "WHERE item_id IN (SELECT item_id FROM items WHERE task = 'A')")
    res = merge_studies(out, [out, edited])
    assert res["answers_rejected_locked"] == 4 and res["answers_replaced"] == 0
    with open_study(out) as st:
        assert all(r["answer"] == "different" for r in st.answers() if r["task"] == "A")


def test_an_answer_id_moved_to_another_item_is_one_line(tmp_path, master):
    copy = write_reviewer_copy(master, tmp_path / "copy.sqlite")
    _answer(copy, "Ann", n=2, finish=False)
    moved = tmp_path / "moved.sqlite"
    shutil.copy(copy, moved)
    _raw(moved, "UPDATE answers SET item_id = (SELECT item_id FROM items WHERE item_id NOT IN "
                "(SELECT item_id FROM answers) ORDER BY position LIMIT 1) "
                "WHERE answer_id = (SELECT answer_id FROM answers ORDER BY answered_at LIMIT 1)")
    with pytest.raises(UserError, match="another item or session"):
        merge_studies(tmp_path / "m.sqlite", [master, copy, moved])
    assert_user_error(run_cli("review", "merge", tmp_path / "m.sqlite", master, copy, moved),
                      "another item or session")
    assert not (tmp_path / "m.sqlite").exists()


def test_review_copy_holds_no_key_and_no_other_reviewers_answers(tmp_path, master):
    c1 = write_reviewer_copy(master, tmp_path / "c1.sqlite")
    _answer(c1, "Zelda Quux")
    merged = tmp_path / "merged.sqlite"
    merge_studies(merged, [master, c1])
    fresh = tmp_path / "fresh.sqlite"
    p = run_cli("review", "copy", merged, fresh, "--json")
    assert p.returncode == 0, p.stderr
    doc = one_json(p.stdout)
    assert doc["has_key"] is False and doc["sessions"] == 0 and doc["items"] == 12
    raw = fresh.read_bytes()
    for text in (b"Zelda", b"answer_key", b"toy", b"/data/"):
        assert text not in raw, text
    with open_for_review(fresh) as rs:
        assert rs.sessions() == [] and not rs.has_key
        # the triggers that guard finished sessions are back
        assert len(rs.conn.execute("SELECT name FROM sqlite_master WHERE type='trigger'").fetchall()) == 5
    # the hint names the command as this user runs it, not a bare `python` that may lack the packages
    import os

    rel = os.path.relpath(sys.executable, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    py = sys.executable if rel.startswith("..") else rel  # run_cli runs `python main.py` in the repository
    hint = tmp_path / "hint.sqlite"
    p = run_cli("review", "copy", merged, hint)
    assert f"reviewers open it with: {py} main.py review open {hint}" in p.stdout, p.stdout
    kept = tmp_path / "kept.sqlite"
    p = run_cli("review", "copy", merged, kept, "--keep-answers")
    assert p.returncode == 0 and "1 sessions kept" in p.stdout
    with open_for_review(kept) as rs:
        assert [s["reviewer"] for s in rs.sessions()] == ["Zelda Quux"] and not rs.has_key
    assert_user_error(run_cli("review", "copy", merged, fresh), "already exists")
    assert_user_error(run_cli("review", "copy", fresh, tmp_path / "x.sqlite"), "no answer key")
    assert not (tmp_path / "x.sqlite").exists()
    # answers given in the fresh copy merge back beside the earlier ones
    _answer(fresh, "Bob")
    res = merge_studies(merged, [merged, fresh])
    assert res["answers"] == 24 and res["sessions"] == 2


def test_create_without_a_copy_warns_that_the_file_holds_the_key(tmp_path):
    from review_data import adversarial_dir

    adv = adversarial_dir(tmp_path)
    out = tmp_path / "s.sqlite"
    p = run_cli("review", "create", "--from", adv, "--out", out, "--tasks", "B", "--n-per-task", "2")
    assert p.returncode == 0, p.stderr
    assert "holds the answer key: never hand it to reviewers" in p.stdout
    assert f"review open {out}" not in p.stdout  # no longer tells the researcher to hand it out


def test_review_open_on_the_key_file_tells_the_researcher(tmp_path, master, monkeypatch, capsys):
    pytest.importorskip("PySide6")
    import gui.reviewer as reviewer

    monkeypatch.setattr(reviewer, "run_reviewer", lambda *a, **k: 0)  # no window: only the checks before it
    assert reviewer.run_review_open([str(master)]) == 0
    assert "holds the answer key" in capsys.readouterr().err
    copy = write_reviewer_copy(master, tmp_path / "copy.sqlite")
    assert reviewer.run_review_open([str(copy)]) == 0
    assert capsys.readouterr().err == ""  # the reviewer's copy: nothing to say


def test_pooled_detection_clusters_answers_by_item():
    """Two reviewers who find the same items are not 2n independent answers: the pooled row's
    item-clustered interval and p are computed by hand here (and match a GEE when statsmodels is
    installed); the exact pooled p, which assumes independence, is smaller."""
    from engine.review.stats import clustered_share, task_b

    # 4 items, both reviewers right on items 1-3 and wrong on item 4: p̂ = 6/8; item residual sums
    # 0.5, 0.5, 0.5, −1.5 → Σe² = 3; var = 4/3 · 3 / 8² = 1/16, se = 0.25; z = 0.25 / 0.25 = 1
    vals = [(i, i != "4") for i in "1234" for _ in range(2)]
    d = clustered_share(vals)
    assert d["share"] == 0.75 and d["se"] == pytest.approx(0.25) and d["n_clusters"] == 4
    assert d["p_value"] == pytest.approx(0.317310507862914)
    assert d["ci95"] == pytest.approx([0.18023, 0.97616], abs=1e-4)  # expit(ln 3 ± 1.96 · 0.25 / 0.1875)
    assert clustered_share([("1", True), ("1", True)])["ci95"] == [None, None]  # one item: undefined
    assert "every answer right" in clustered_share([("1", True), ("2", True)])["note"]
    # concordant reviewers on 100 items, 62 found by both: the exact pooled p (independence) is far
    # smaller than the clustered one, which equals a single reviewer's evidence
    rows = [{"reviewer": who, "item_id": f"i{i}", "task": "B", "method": "sap", "shown": "pair", "correct": i < 62,
             "answer": "1", "answered_at": "t", "position": i} for who in ("R1", "R2") for i in range(100)]
    pooled = task_b(rows)["pooled"]["sap"]
    assert pooled["p_value"] < 0.002 < pooled["items_clustered"]["p_value"]
    lo, hi = pooled["items_clustered"]["ci95"]
    assert hi - lo > pooled["ci95"][1] - pooled["ci95"][0]
    sm = pytest.importorskip("statsmodels.api")
    import numpy as np

    rng = np.random.default_rng(0)
    items = np.repeat(np.arange(60), 3)
    y = (rng.random(items.size) < rng.random(60)[items]).astype(float)
    fit = sm.GEE(y, np.ones((y.size, 1)), groups=items, family=sm.families.Binomial(),
                 cov_struct=sm.cov_struct.Independence()).fit()
    ours = clustered_share([(int(i), bool(v)) for i, v in zip(items, y)])
    se_logit = ours["se"] / (ours["share"] * (1 - ours["share"])) / np.sqrt(60 / 59)  # without G/(G−1)
    assert se_logit == pytest.approx(float(np.sqrt(fit.cov_params()[0, 0])), rel=1e-6)


def test_hostile_reviewer_names_neither_drive_the_terminal_nor_run_in_a_spreadsheet(tmp_path, master):
    from engine.review.report import answers_csv

    copy, out = _merged_after(tmp_path, master, '=HYPERLINK("http://x","y")', 2)
    with open_study(out) as st:
        text = answers_csv(st.answers())
    assert "\n=" not in text and ",=" not in text and "'=HYPERLINK" in text
    # a copy edited to carry an escape sequence in a name: refused before anything is written
    evil = tmp_path / "evil.sqlite"
    shutil.copy(copy, evil)
    _raw(evil, "DROP TRIGGER sessions_stay_locked", "UPDATE sessions SET reviewer = 'A' || char(27) || '[2J'")
    assert_user_error(run_cli("review", "merge", tmp_path / "m.sqlite", master, evil), "control or invisible")
    assert not (tmp_path / "m.sqlite").exists()


def test_a_read_only_study_is_said_so_not_called_damaged(tmp_path, master, monkeypatch):
    """A copy opened from a read-only folder (an e-mail attachment, a write-protected stick): the
    reviewer hears that answers cannot be saved there; reports and merges, which only read, work."""
    import engine.review.store as store

    copy = write_reviewer_copy(master, tmp_path / "copy.sqlite")
    _answer(copy, "Ann", n=3, finish=False)
    monkeypatch.setattr(store, "writable", lambda path: False)  # as a read-only folder looks (even to root)
    with pytest.raises(UserError, match="read-only, so answers cannot be saved"):
        open_for_review(copy)
    with open_study(copy) as st:
        assert len(st.sessions()) == 1 and st.n_items() == 12
    monkeypatch.undo()
    out = tmp_path / "m.sqlite"
    monkeypatch.setattr(store, "writable", lambda path: not str(path).startswith(str(copy)))
    assert merge_studies(out, [master, copy])["answers"] == 3  # the read-only input is read
    (tmp_path / "copy.sqlite-wal").write_bytes(b"x" * 100)  # answers a read-only folder cannot fold back
    with pytest.raises(UserError, match="copy both files"):
        open_study(copy)


def test_a_read_only_folder_for_real(tmp_path, master):
    import os
    import tempfile

    base = tempfile.mkdtemp(prefix="ro-study-")  # not under pytest's 0700 folder: nobody must reach it
    folder = os.path.join(base, "ro")
    os.mkdir(folder)
    copy = write_reviewer_copy(master, os.path.join(folder, "copy.sqlite"))
    code = ("import sys; sys.path.insert(0, %r)\nfrom engine.review.study import open_for_review, open_study\n"
            "from engine.errors import UserError\nprint(open_study(%r).n_items())\n"
            "try:\n    open_for_review(%r)\nexcept UserError as e:\n    print(e)\n") % (str(ROOT), copy, copy)
    cmd = [sys.executable, "-c", code]
    try:
        os.chmod(base, 0o755)
        os.chmod(copy, 0o444)
        os.chmod(folder, 0o555)
        if os.geteuid() == 0:  # root writes anywhere: run as nobody
            if shutil.which("setpriv") is None:
                pytest.skip("root without setpriv")
            cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=base)
    finally:
        os.chmod(folder, 0o755)
        shutil.rmtree(base, ignore_errors=True)
    if os.geteuid() == 0 and p.returncode != 0 and ("Permission denied" in p.stderr or "No module" in p.stderr):
        pytest.skip("nobody cannot run this Python")
    assert p.returncode == 0, p.stderr
    n, msg = p.stdout.strip().splitlines()
    assert n == "12" and "read-only, so answers cannot be saved" in msg


def test_merging_in_place_never_puts_the_key_into_a_reviewer_copy(tmp_path, master):
    copy = tmp_path / "copy.sqlite"
    write_reviewer_copy(master, copy)
    _answer(copy, "Ann", n=2, finish=False)
    before = copy.read_bytes()
    with pytest.raises(UserError, match="would write the answer key into it"):
        merge_studies(copy, [copy, master])
    assert copy.read_bytes() == before
    with open_study(copy) as st:
        assert not st.has_key
    other = write_reviewer_copy(master, tmp_path / "other.sqlite")
    assert merge_studies(copy, [copy, other])["has_key"] is False  # copies among themselves: fine
    assert merge_studies(tmp_path / "new.sqlite", [copy, master])["has_key"] is True  # a new file: fine


def test_fuzzed_reviewer_names(tmp_path_factory):
    """Any text typed as a name: refused in words, or stored so that the same text (in any Unicode
    form or case) resumes the same session; the report's text and HTML take it."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from engine.review.access import clean_name

    base = tmp_path_factory.mktemp("names")
    master = base / "master.sqlite"
    create_study(master, synthetic_pairs(1), "A", seed=3).close()
    copy = base / "copy.sqlite"
    write_reviewer_copy(master, copy)

    @settings(max_examples=60, deadline=None)
    @given(st.text(min_size=0, max_size=90))
    def check(name):
        try:
            stored = clean_name(name)
        except UserError as exc:
            assert "\n" not in str(exc)
            return
        assert reviewer_key(stored) == reviewer_key(name) == reviewer_key(unicodedata.normalize("NFD", name.upper()))
        assert reviewer_key(reviewer_key(name)) == reviewer_key(name)
        with open_for_review(copy) as rs:
            s = rs.start_session(name)
            again = rs.start_session(unicodedata.normalize("NFKD", stored))
            assert again.session_id == s.session_id and reviewer_key(s.reviewer) == reviewer_key(stored)

    check()
    out = base / "merged.sqlite"
    merge_studies(out, [master, copy])
    with open_study(out) as st_:
        assert html_report(st_).startswith("<!DOCTYPE html>")


def test_overwrite_never_drops_answers_only_the_old_output_holds(tmp_path, master):
    a = write_reviewer_copy(master, tmp_path / "a.sqlite")
    b = write_reviewer_copy(master, tmp_path / "b.sqlite")
    _answer(a, "Ann")
    _answer(b, "Bob")
    merged = tmp_path / "merged.sqlite"
    merge_studies(merged, [master, a])
    before = merged.read_bytes()
    # "merge Bob in": without --overwrite the error says how; with it, Ann's answers would vanish
    p = run_cli("review", "merge", merged, master, b)
    assert_user_error(p, "already exists", "give it as the first input")
    p = run_cli("review", "merge", merged, master, b, "--overwrite")
    assert_user_error(p, "holds 12 answer(s) that none of the inputs has")
    assert merged.read_bytes() == before
    assert merge_studies(merged, [merged, b])["answers"] == 24  # the way the error names
    assert merge_studies(merged, [master, a, b], overwrite=True)["answers"] == 24  # nothing lost: allowed
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a study")
    assert merge_studies(junk, [master, a], overwrite=True)["answers"] == 12  # not a study: replaced as asked


def test_overwrite_never_destroys_a_study_or_copy_holding_answers(tmp_path, master):
    from review_data import adversarial_dir

    copy = write_reviewer_copy(master, tmp_path / "copy.sqlite")
    _answer(copy, "Ann", n=2, finish=False)
    before = open(copy, "rb").read()
    with pytest.raises(UserError, match="holds 2 reviewer answer"):  # re-issuing a copy over an answered one
        write_reviewer_copy(master, copy, overwrite=True)
    assert_user_error(run_cli("review", "copy", master, copy, "--overwrite"), "holds 2 reviewer answer")
    merge_studies(master, [master, copy])  # the study now holds Ann's answers
    adv = adversarial_dir(tmp_path)
    for args in (("--out", master), ("--out", tmp_path / "new.sqlite", "--reviewer-copy", copy)):
        assert_user_error(run_cli("review", "create", "--from", adv, *args, "--overwrite"),
                          "holds 2 reviewer answer", "would destroy them")
    with pytest.raises(UserError, match="would destroy them"):
        create_study(master, synthetic_pairs(2), "A", overwrite=True)
    assert open(copy, "rb").read() == before and not (tmp_path / "new.sqlite").exists()
    with open_study(master) as st:
        assert len(st.answers()) == 2
    fresh = write_reviewer_copy(master, tmp_path / "fresh.sqlite")
    assert write_reviewer_copy(master, fresh, overwrite=True) == fresh  # no answers in it: replaced as asked


def test_every_pdf_table_fits_the_page(tmp_path, master, monkeypatch):
    """The PDF's tables are monospace text: the task C table ran past the A4 page's right edge.
    Every line now fits TEXT_PAGE_CHARS, long cells wrapping onto more lines."""
    import engine.review.report as report

    pages = []
    real = report._text_pages
    monkeypatch.setattr(report, "_text_pages", lambda *a: pages.extend(real(*a)) or pages)
    copies = []
    for k, name in enumerate(("Ann Example-Reviewer", "Bob Another-Longer-Name")):
        copy = write_reviewer_copy(master, tmp_path / f"copy{k}.sqlite")
        _answer(copy, name, value=lambda it, k=k: ANSWERS[it["task"]][k % len(ANSWERS[it["task"]])])
        copies.append(copy)
    out = tmp_path / "merged.sqlite"
    merge_studies(out, [master, *copies])
    with open_study(out) as st:
        report.write_pdf(st, str(tmp_path / "r.pdf"))
    lines = [t.get_text() for fig in pages for t in fig.texts if t.get_fontfamily() == ["monospace"]]
    assert any("Task C" in t.get_text() for fig in pages for t in fig.texts)  # the table is there
    assert lines and max(len(s) for s in lines) <= report.TEXT_PAGE_CHARS, max(lines, key=len)


def test_command_hints_name_the_way_the_cli_was_started(monkeypatch, tmp_path):
    from engine.cli import invocation

    monkeypatch.chdir(tmp_path)
    py = tmp_path / ".venv" / "bin" / "python"
    monkeypatch.setattr(sys, "executable", str(py))
    monkeypatch.setattr(sys, "argv", ["main.py", "review"])
    assert invocation() == ".venv/bin/python main.py"
    monkeypatch.setattr(sys, "argv", ["/opt/app/main.py"])
    assert invocation() == ".venv/bin/python /opt/app/main.py"
    monkeypatch.setattr(sys, "executable", "/usr/bin/python3")
    assert invocation() == "/usr/bin/python3 /opt/app/main.py"
    monkeypatch.setattr(sys, "argv", ["/home/u/.venv/bin/ecg-adv", "review"])
    assert invocation() == "ecg-adv"
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", "C:/apps/ecg-adv/ecg-adv-cli.exe")
    assert invocation() == "ecg-adv-cli.exe"
