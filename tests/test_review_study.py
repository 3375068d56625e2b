"""Review study files: building from real adversarial records, seeded balanced randomisation,
what reviewers can see, durable answers (SIGKILL), resume, locking and merging."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter

import numpy as np
import pytest

from engine.errors import UserError
from engine.review.collect import collect_pairs, parse_provenance
from engine.review.study import (ANSWERS, StudyLocked, create_study, merge_studies, open_for_review,
                                 open_study, write_reviewer_copy)
from review_data import ROOT, SAMPLES, adversarial_dir, env_with_root, synthetic_pairs

SAMPLE_NAMES = sorted(p.stem for p in SAMPLES.glob("A*.hea"))


@pytest.fixture(scope="module")
def real_pairs(tmp_path_factory):
    adv = adversarial_dir(tmp_path_factory.getbasetemp())
    pairs, warnings = collect_pairs([str(adv)])
    return pairs


@pytest.fixture()
def real_study(tmp_path, real_pairs):
    path = tmp_path / "study.sqlite"
    create_study(path, real_pairs, "A,C,B", seed=7).close()
    return path


def _answer_all(session, study_key=None, chooser=None):
    while (it := session.next_item()) is not None:
        value = chooser(it) if chooser else ANSWERS[it["task"]][0]
        session.answer(it["item_id"], value, 3, 1.0)


# ---------------------------------------------------------------------------------------------
# building


def test_pairs_from_real_adversarial_records(real_pairs):
    assert len(real_pairs) == 2 * len(SAMPLE_NAMES)
    assert Counter(p.method for p in real_pairs) == {"pgd": 12, "sap": 12}
    labels = dict(line.split(",") for line in (SAMPLES / "REFERENCE.csv").read_text().split())
    for p in real_pairs:
        name = os.path.basename(p.source_record)
        assert name in SAMPLE_NAMES
        assert os.path.basename(p.adversarial_record) == f"{name}_{p.method}"
        assert p.reference_label == labels[name]
        assert p.orig_pred in ("N", "A", "O", "~") and p.adv_pred in ("N", "A", "O", "~")
        assert p.fs == 300.0 and p.x_orig.shape == p.x_adv.shape
        d = np.abs(p.x_adv.astype(np.float64) - p.x_orig)
        assert d.max() <= 0.01 + 1e-4  # within ε (0.01 mV) on the ADC grid
        assert d.max() > 0  # really perturbed


def test_provenance_parsing_skips_non_examples():
    assert parse_provenance(["ecg-adv-workbench 0.1.0: band member 3", "source: x"]) is None
    assert parse_provenance(["plain record"]) is None
    p = parse_provenance(["ecg-adv-workbench 0.1.0: sap adversarial example", "source: /a/b", "model: m",
                          'params: {"method":"sap","orig_pred":"N","adv_pred":"A"}'])
    assert p["method"] == "sap" and p["source"] == "/a/b" and p["params"]["adv_pred"] == "A"


def test_missing_source_is_a_clear_error(tmp_path, real_pairs):
    adv = tmp_path / "adv"
    adv.mkdir()
    src = real_pairs[0].adversarial_record
    for ext in (".hea", ".dat"):
        shutil.copy(src + ext, adv)
    hea = adv / (os.path.basename(src) + ".hea")
    hea.write_text(hea.read_text().replace(f"source: {SAMPLES}", "source: /nowhere"))
    with pytest.raises(UserError, match="source record"):
        collect_pairs([str(adv)])
    # found by name with a source folder
    pairs, _ = collect_pairs([str(adv)], source_dirs=[str(SAMPLES)])
    assert len(pairs) == 1


def test_original_of_the_same_name_but_other_samples_is_refused(tmp_path, real_pairs):
    """--source-dir with another folder's record of the same name (same length): the example was
    paired with an unrelated ECG, silently, and the study showed reviewers two different ECGs as
    'an original and its adversarial example'. Now refused: they differ by far more than ε."""
    pair = next(p for p in real_pairs if os.path.basename(p.source_record) == "A00001")
    adv = tmp_path / "adv"
    adv.mkdir()
    for ext in (".hea", ".dat"):
        shutil.copy(pair.adversarial_record + ext, adv)
    hea = adv / (os.path.basename(pair.adversarial_record) + ".hea")
    hea.write_text(hea.read_text().replace(f"source: {SAMPLES}", "source: /nowhere"))
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(SAMPLES / "A00001.hea", other / "A00001.hea")
    shutil.copy(SAMPLES / "A00002.mat", other / "A00001.mat")  # A00002's samples (also 9000)
    with pytest.raises(UserError, match="A00001 is not the record it was made from"):
        collect_pairs([str(adv)], source_dirs=[str(other)])
    pairs, _ = collect_pairs([str(adv)], source_dirs=[str(SAMPLES)])  # the right one still pairs
    assert len(pairs) == 1


def test_study_is_one_file_with_signals(real_study, real_pairs):
    files = os.listdir(real_study.parent)
    assert files == ["study.sqlite"], files  # no -wal/-shm left after a clean close
    with open_study(real_study) as st:
        assert st.tasks == ["A", "C", "B"]
        counts = Counter(k["task"] for k in st.answer_key())
        assert counts == {"A": 12, "B": 12, "C": 12}  # one pair per original (12 sources)
        assert st.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert st.conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        # a pair item shows the original and the adversarial signal of one pair, as stored
        key = {k["item_id"]: k for k in st.answer_key()}
        by_adv = {p.adversarial_record: p for p in real_pairs}
        for iid in st.item_ids():
            k = key[iid]
            if k["task"] != "B":
                continue
            it = st.item(iid)
            p = by_adv[k["adversarial_record"]]
            alt = it["traces"][k["altered_trace"] - 1]["x_mv"]
            orig = it["traces"][2 - k["altered_trace"]]["x_mv"]
            np.testing.assert_allclose(alt, p.x_adv, atol=6e-4)
            np.testing.assert_allclose(orig, p.x_orig, atol=6e-4)
            break


def test_task_order_blocks_and_create_refuses_overwrite(tmp_path, real_pairs, real_study):
    with open_study(real_study) as st:
        tasks = [k["task"] for k in st.answer_key()]
    assert tasks == ["A"] * 12 + ["C"] * 12 + ["B"] * 12
    with pytest.raises(UserError, match="already exists"):
        create_study(real_study, real_pairs, "A", seed=1)
    with pytest.raises(UserError, match="unknown task"):
        create_study(tmp_path / "x.sqlite", real_pairs, "A,Q", seed=1)
    assert not (tmp_path / "x.sqlite").exists()


# ---------------------------------------------------------------------------------------------
# randomisation


def _plan(path):
    with open_study(path) as st:
        return [(k["task"], k["pair_id"], k["shown"], k["altered_trace"]) for k in st.answer_key()]


def test_randomisation_is_reproducible(tmp_path, real_pairs):
    a, b, c = (tmp_path / f"{n}.sqlite" for n in "abc")
    create_study(a, real_pairs, "A,B,C", seed=11).close()
    create_study(b, real_pairs, "A,B,C", seed=11).close()
    create_study(c, real_pairs, "A,B,C", seed=12).close()
    assert _plan(a) == _plan(b)
    with open_study(a) as sa, open_study(b) as sb:
        ia, ib = sa.item(sa.item_ids()[5]), sb.item(sb.item_ids()[5])
        for ta, tb in zip(ia["traces"], ib["traces"]):
            np.testing.assert_array_equal(ta["x_mv"], tb["x_mv"])
        assert sa.study_id != sb.study_id  # two studies, even with one seed
    assert _plan(a) != _plan(c)


def test_positions_balanced_and_order_random(tmp_path):
    pairs = synthetic_pairs(50)  # 50 PGD + 50 SAP
    shares = []
    for seed in range(6):
        path = tmp_path / f"s{seed}.sqlite"
        create_study(path, pairs, "A,B", seed=seed).close()
        with open_study(path) as st:
            key = st.answer_key()
        for task in "AB":
            rows = [k for k in key if k["task"] == task]
            for m in ("pgd", "sap"):
                first = sum(1 for k in rows if k["method"] == m and k["altered_trace"] == 1)
                assert first == 25, (seed, task, m, first)  # exactly balanced within each method
            # order is shuffled: not the input order, and methods are interleaved at random
            ids = [k["pair_id"] for k in rows]
            assert ids != sorted(ids)
            runs = sum(1 for x, y in zip(rows, rows[1:]) if x["method"] != y["method"])
            assert 30 < runs < 70, runs
            # the altered side does not follow any simple pattern (e.g. alternation)
            alt = [k["altered_trace"] for k in rows]
            assert 30 < sum(1 for x, y in zip(alt, alt[1:]) if x != y) < 70
            shares.append(np.mean([a == 1 for a in alt[:50]]))
    assert 0.35 < np.mean(shares) < 0.65


def test_task_c_mixes_originals_and_adversarial(tmp_path, real_pairs):
    path = tmp_path / "c.sqlite"
    create_study(path, real_pairs, "C", seed=3, n_per_task=12).close()
    with open_study(path) as st:
        key = st.answer_key()
    assert Counter(k["shown"] for k in key) == {"original": 6, "adversarial": 6}
    assert len({k["source_record"] for k in key}) == 12  # each source ECG shown once
    assert all(k["altered_trace"] is None for k in key)


def test_n_per_task_and_methods_mixed(tmp_path, real_pairs):
    path = tmp_path / "n.sqlite"
    create_study(path, real_pairs, "B", seed=5, n_per_task=10).close()
    with open_study(path) as st:
        key = st.answer_key()
    assert Counter(k["method"] for k in key) == {"pgd": 5, "sap": 5}
    assert Counter(k["altered_trace"] for k in key) == {1: 5, 2: 5}


# ---------------------------------------------------------------------------------------------
# what the reviewer sees

FORBIDDEN_KEYS = {"method", "key", "source", "source_record", "adversarial_record", "name", "record", "shown",
                  "altered_trace", "orig_pred", "adv_pred", "model", "params", "pair_id", "reference_label",
                  "label_ref", "path", "signal_id"}


def test_reviewer_item_leaks_nothing(real_study, real_pairs):
    names = set(SAMPLE_NAMES) | {os.path.basename(p.adversarial_record) for p in real_pairs}
    with open_for_review(real_study) as rs:
        assert not hasattr(rs, "answer_key") and not hasattr(rs, "answers")
        info = json.dumps(rs.info()).lower()
        for word in ("pgd", "sap", "adversarial", "model", "predict") + tuple(n.lower() for n in names):
            assert word not in info, word
        ids = rs.item_ids()
        assert ids != sorted(ids)  # ids are random, not in study order
        for iid in ids:
            it = rs.item(iid)
            assert set(it) == {"item_id", "index", "n_items", "task", "prompt", "answers", "traces", "display"}
            assert not FORBIDDEN_KEYS & set(it)
            for tr in it["traces"]:
                assert set(tr) == {"label", "x_mv", "fs"}
            flat = json.dumps({k: v for k, v in it.items() if k != "traces"}).lower()
            words = ("pgd", "sap", "adversarial", "original", "perturb") + tuple(n.lower() for n in names)
            for word in words + (("altered",) if it["task"] != "B" else ()):  # only B asks about alteration
                assert word not in flat, (word, flat)
            assert len(iid) == 16 and int(iid, 16) >= 0  # opaque hex
            if it["task"] in "AB":
                a, b = it["traces"]
                assert (a["label"], b["label"]) == ("ECG 1", "ECG 2")
                # both traces alike in everything but the samples
                assert a["x_mv"].dtype == b["x_mv"].dtype == np.float32
                assert a["x_mv"].shape == b["x_mv"].shape and a["fs"] == b["fs"]
                assert np.abs(a["x_mv"] - b["x_mv"]).max() <= 0.0105
            else:
                assert len(it["traces"]) == 1 and it["traces"][0]["label"] == "ECG"


def test_display_layout_is_shared_by_both_traces(real_study):
    from engine.review.study import display_layout

    with open_for_review(real_study) as rs:
        for iid in rs.item_ids():
            it = rs.item(iid)
            xs = [t["x_mv"] for t in it["traces"]]
            if len(xs) == 2:
                assert it["display"] == display_layout(xs, it["traces"][0]["fs"])
    lay = display_layout([np.zeros(9000, np.float32), np.ones(9000, np.float32)], 300.0, aspect=4.5)
    assert lay["seconds_per_row"] in (10.0, 15.0, 20.0, 30.0) and 3.0 <= lay["row_height_mv"] <= 8.0


# ---------------------------------------------------------------------------------------------
# sessions, durability, locking


def test_answers_resume_and_lock(real_study):
    with open_for_review(real_study) as rs:
        s = rs.start_session("  Dr  Jane Smith ")
        first = [s.next_item() for _ in range(1)][0]
        s.answer(first["item_id"], "same", 4, 2.5)
        s.answer(first["item_id"], "different", 2, 3.0)  # replaced before the lock, same answer id
        second = s.next_item()
        assert second["item_id"] != first["item_id"] and second["index"] == 2
        with pytest.raises(UserError, match="not valid"):
            s.answer(second["item_id"], "maybe")
        with pytest.raises(UserError, match="confidence"):
            s.answer(second["item_id"], "same", 9)
        assert s.progress() == (1, 36)
        sid = s.session_id
    with open_for_review(real_study) as rs:
        s = rs.start_session("dr jane smith")  # same reviewer, other spelling: resumed
        assert s.session_id == sid
        assert s.next_item()["index"] == 2
        with pytest.raises(UserError, match="unanswered"):
            s.finish()
        _answer_all(s)
        s.finish()
        assert s.locked and s.next_item() is None
        with pytest.raises(StudyLocked):
            s.answer(first["item_id"], "same")
        # even a direct write to the file is refused by the triggers
        with pytest.raises(sqlite3.IntegrityError, match="locked"):
            rs.conn.execute("UPDATE answers SET answer='same' WHERE session_id=?", (sid,))
        with pytest.raises(sqlite3.IntegrityError, match="locked"):
            rs.conn.execute("UPDATE sessions SET locked=0 WHERE session_id=?", (sid,))
        other = rs.start_session("Someone Else")
        assert other.session_id != sid and other.progress() == (0, 36)
    with open_study(real_study) as st:
        rows = [r for r in st.answers() if r["session_id"] == sid]
        assert len(rows) == 36 and len({r["answer_id"] for r in rows}) == 36
        r0 = next(r for r in rows if r["item_id"] == first["item_id"])
        assert (r0["answer"], r0["confidence"], r0["elapsed_s"]) == ("different", 2, 3.0)


_CHILD = r"""
import sys, time
sys.path.insert(0, {root!r})
from engine.review.study import open_for_review
rs = open_for_review({path!r})
s = rs.start_session("Killed Reviewer")
for k in range({n}):
    it = s.next_item()
    s.answer(it["item_id"], it["answers"][0], None, 0.5)
    print("answered", k + 1, it["item_id"], flush=True)
it = s.next_item()  # the item now "on screen"
print("showing", it["item_id"], flush=True)
time.sleep(120)
"""


def test_answers_survive_sigkill_and_session_resumes(real_study):
    code = _CHILD.format(root=str(ROOT), path=str(real_study), n=5)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env_with_root())
    answered, showing = [], None
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            parts = line.split()
            if parts[0] == "answered":
                answered.append(parts[2])
            elif parts[0] == "showing":
                showing = parts[1]
                break
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read()
    assert len(answered) == 5 and showing
    assert os.path.exists(str(real_study) + "-wal")  # killed with the WAL not folded back
    with open_for_review(real_study) as rs:
        s = rs.start_session("killed reviewer")
        assert s.progress() == (5, 36)
        assert s.answered_ids() == set(answered)
        assert s.next_item()["item_id"] == showing  # resumes at the item that was on screen
        assert s.next_item()["index"] == 6


# ---------------------------------------------------------------------------------------------
# merging


def test_merge_keeps_every_answer_once(tmp_path, real_pairs):
    master = tmp_path / "master.sqlite"
    create_study(master, real_pairs, "B", seed=2, n_per_task=8).close()
    copies = []
    for i, name in enumerate(("Ann", "Bob", "Cem")):
        c = tmp_path / f"copy_{i}.sqlite"
        shutil.copy(master, c)
        copies.append(c)
        with open_for_review(c) as rs:
            s = rs.start_session(name)
            if name == "Cem":  # an unfinished session
                for _ in range(3):
                    it = s.next_item()
                    s.answer(it["item_id"], "1")
            else:
                _answer_all(s, chooser=lambda it: "2")
                s.finish()
    # a copy of a copy taken after Ann finished: Ann's answers arrive twice
    shutil.copy(copies[0], tmp_path / "copy_again.sqlite")
    out = tmp_path / "merged.sqlite"
    res = merge_studies(out, copies + [tmp_path / "copy_again.sqlite"])
    assert res["answers"] == 8 + 8 + 3 and res["sessions"] == 3
    assert res["answers_duplicate"] == 8
    with open_study(out) as st:
        rows = st.answers()
        assert len({r["answer_id"] for r in rows}) == len(rows) == 19
        locked = {s["reviewer"]: s["locked"] for s in st.sessions()}
        assert locked == {"Ann": True, "Bob": True, "Cem": False}
    # merging again (into the output itself) adds nothing
    res2 = merge_studies(out, [out, *copies])
    assert res2["answers"] == 19 and res2["answers_added"] == 0
    # Cem continues later on his copy, finishes; the merge picks up the rest and the lock
    with open_for_review(copies[2]) as rs:
        s = rs.start_session("Cem")
        _answer_all(s, chooser=lambda it: "1")
        s.finish()
    res3 = merge_studies(out, [out, copies[2]])
    assert res3["answers_added"] == 5 and res3["answers"] == 24
    with open_study(out) as st:
        assert all(s["locked"] for s in st.sessions())


def test_merge_refuses_other_studies(tmp_path, real_pairs):
    a, b = tmp_path / "a.sqlite", tmp_path / "b.sqlite"
    create_study(a, real_pairs, "B", seed=2).close()
    create_study(b, real_pairs, "B", seed=2).close()
    with pytest.raises(UserError, match="different study"):
        merge_studies(tmp_path / "m.sqlite", [a, b])
    (tmp_path / "junk.sqlite").write_bytes(b"not a database at all" * 10)
    with pytest.raises(UserError, match="not a review study"):
        merge_studies(tmp_path / "m2.sqlite", [a, tmp_path / "junk.sqlite"])
    with pytest.raises(UserError, match="already exists"):
        merge_studies(b, [a])


def test_reviewer_copy_holds_no_key_and_merges_back(tmp_path, real_pairs):
    master = tmp_path / "master.sqlite"
    create_study(master, real_pairs, "A,B", seed=4, n_per_task=6).close()
    copies = [write_reviewer_copy(master, tmp_path / f"rev{i}.sqlite") for i in range(2)]
    blob = open(copies[0], "rb").read()
    for text in ("answer_key", "resources/samples", "_sap", "_pgd", "untrained", "orig_pred"):
        assert text.encode() not in blob, text  # dropped and vacuumed: not even in free pages
    with pytest.raises(UserError, match="already exists"):
        write_reviewer_copy(master, copies[0])
    with pytest.raises(UserError, match="reviewer copy"):
        write_reviewer_copy(copies[0], tmp_path / "x.sqlite")
    for c, name in zip(copies, ("Ann", "Bob")):
        with open_for_review(c) as rs:
            assert not rs.has_key
            s = rs.start_session(name)
            _answer_all(s, chooser=lambda it: ANSWERS[it["task"]][1])
            s.finish()
        with open_study(c) as st, pytest.raises(UserError, match="without the answer key"):
            st.answers()
    # merged into the master (key kept) ...
    out = tmp_path / "merged.sqlite"
    res = merge_studies(out, [master, *copies])
    assert res["answers"] == 24 and res["has_key"]
    with open_study(out) as st:
        assert {r["reviewer"] for r in st.answers()} == {"Ann", "Bob"}
        assert all(r["method"] in ("pgd", "sap") for r in st.answers())
    # ... or the copies first, the master later: the key still arrives
    out2 = tmp_path / "merged2.sqlite"
    merge_studies(out2, [*copies, master])
    with open_study(out2) as st:
        assert st.has_key and len(st.answers()) == 24


def test_pairs_straight_from_attack_results(tmp_path, real_pairs):
    """A study from in-memory attack results (as the GUI would build one)."""
    from types import SimpleNamespace

    from engine.review.collect import pair_from_attack

    results = [SimpleNamespace(record=os.path.basename(p.source_record), x0=p.x_orig, x_adv=p.x_adv, fs=p.fs,
                               true=p.reference_label, orig_pred=p.orig_pred, adv_pred=p.adv_pred)
               for p in real_pairs if p.method == "sap"]
    pairs = [pair_from_attack(r, "SAP", model="m") for r in results]
    assert pairs[0].method == "sap" and pairs[0].adversarial_record.endswith("_SAP")
    path = tmp_path / "mem.sqlite"
    create_study(path, pairs, "B", seed=1).close()
    with open_study(path) as st:
        key = st.answer_key()
    assert len(key) == 12 and {k["reference_label"] for k in key} <= {"N", "A", "O", "~"}
