"""`review create / merge / report / open` through real processes: one JSON document with --json,
files written, one-line errors with exit code 2."""

from __future__ import annotations

import csv
import json
import os
import shutil

import pytest

from conftest import assert_user_error, one_json, run_cli
from engine.review.study import ANSWERS, open_for_review, open_study
from review_data import SAMPLES, adversarial_dir


@pytest.fixture(scope="module")
def adv(tmp_path_factory):
    return adversarial_dir(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def created(tmp_path_factory, adv):
    out = tmp_path_factory.mktemp("cli") / "study.sqlite"
    p = run_cli("review", "create", "--from", adv, "--out", out, "--tasks", "A,B,C", "--seed", "5",
                "--n-per-task", "6", "--json")
    assert p.returncode == 0, p.stderr
    return out, one_json(p.stdout), p.stderr


def _answer(path, reviewer, value_of=lambda it: ANSWERS[it["task"]][0], finish=True):
    with open_for_review(path) as rs:
        s = rs.start_session(reviewer)
        while (it := s.next_item()) is not None:
            s.answer(it["item_id"], value_of(it), 3, 1.5)
        if finish:
            s.finish()


def test_create_json(created):
    out, doc, err = created
    assert doc["items"] == 18 and doc["items_per_task"] == {"A": 6, "B": 6, "C": 6}
    assert doc["tasks"] == ["A", "B", "C"] and doc["seed"] == 5
    assert doc["pairs"] == 24 and doc["pairs_per_method"] == {"pgd": 12, "sap": 12}
    assert os.path.isfile(out) and doc["study"] == os.path.abspath(out)
    assert "task B tells reviewers" in err  # B not last: warned on stderr, not on stdout
    with open_study(out) as st:
        assert st.n_items() == 18 and st.meta["seed"] == "5"


def test_create_is_reproducible_and_refuses_overwrite(tmp_path, adv, created):
    out, doc, _ = created
    again = tmp_path / "again.sqlite"
    p = run_cli("review", "create", "--from", adv, "--out", again, "--tasks", "A,B,C", "--seed", "5",
                "--n-per-task", "6", "--json")
    assert p.returncode == 0, p.stderr
    with open_study(out) as a, open_study(again) as b:
        ka = [(k["pair_id"], k["altered_trace"], k["shown"]) for k in a.answer_key()]
        kb = [(k["pair_id"], k["altered_trace"], k["shown"]) for k in b.answer_key()]
        assert not set(a.item_ids()) & set(b.item_ids())  # ids are random (secrets), never replayable
    assert ka == kb
    assert_user_error(run_cli("review", "create", "--from", adv, "--out", again, "--json"), "already exists")


def test_create_from_jsonl_results_and_method_filter(tmp_path, adv):
    results = tmp_path / "results.jsonl"
    with open(results, "w") as fh:
        fh.write(json.dumps({"header": True, "model": "x"}) + "\n")
        for hea in sorted(adv.glob("*_sap.hea")):
            fh.write(json.dumps({"record": hea.stem[:-4], "out": str(hea)[:-4], "success": True}) + "\n")
    out = tmp_path / "s.sqlite"
    p = run_cli("review", "create", "--from", results, "--out", out, "--tasks", "B", "--json")
    assert p.returncode == 0, p.stderr
    doc = one_json(p.stdout)
    assert doc["pairs_per_method"] == {"sap": 12} and doc["items"] == 12
    out2 = tmp_path / "s2.sqlite"
    p = run_cli("review", "create", "--from", adv, "--out", out2, "--tasks", "C", "--methods", "pgd", "--json")
    assert one_json(p.stdout)["methods"] == ["pgd"]


def test_create_end_to_end_from_the_attack_command(tmp_path, adv):
    """Examples written by `attack --out` (the other engineers' command) feed `review create`."""
    model = next(adv.parent.glob("*.safetensors"), None)
    model_arg = str(model) if model is not None else "default"
    out_dir = tmp_path / "att"
    recs = [SAMPLES / n for n in ("A00001", "A00009")]
    for method in ("pgd", "sap"):
        p = run_cli("attack", *recs, "--method", method, "--steps", "1", "--sap-steps", "1", "--model", model_arg,
                    "--out", out_dir, "--json", timeout=300)
        if p.returncode != 0 and "unrecognized arguments" in p.stderr:
            pytest.skip(f"attack command has other options: {p.stderr.strip()}")
        assert p.returncode == 0, p.stderr
    study = tmp_path / "e2e.sqlite"
    p = run_cli("review", "create", "--from", out_dir, "--out", study, "--tasks", "A,C,B", "--json")
    assert p.returncode == 0, p.stderr
    doc = one_json(p.stdout)
    # one pair per original: 2 sources -> 2 items in each of A, C, B
    assert doc["pairs_per_method"] == {"pgd": 2, "sap": 2} and doc["items"] == 6 and doc["pairs_used"] == 2


@pytest.mark.parametrize("args,fragment", [
    (["--tasks", "A,Q"], "unknown task"),
    (["--tasks", "A,A"], "only once"),
    (["--n-per-task", "0"], "at least 1"),
])
def test_create_bad_options(tmp_path, adv, args, fragment):
    assert_user_error(run_cli("review", "create", "--from", adv, "--out", tmp_path / "x.sqlite", *args, "--json"),
                      fragment)
    assert not (tmp_path / "x.sqlite").exists()


def test_create_bad_inputs(tmp_path, adv):
    assert_user_error(run_cli("review", "create", "--from", tmp_path / "nope", "--out", tmp_path / "x.sqlite"),
                      "not a folder")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_user_error(run_cli("review", "create", "--from", empty, "--out", tmp_path / "x.sqlite"),
                      "no adversarial examples")
    # examples copied away from their originals: a clear message, then found with --source-dir
    moved = tmp_path / "moved"
    moved.mkdir()
    for f in adv.glob("A00001_*"):
        shutil.copy(f, moved)
    for hea in moved.glob("*.hea"):
        hea.write_text(hea.read_text().replace(f"source: {SAMPLES}", "source: /elsewhere"))
    assert_user_error(run_cli("review", "create", "--from", moved, "--out", tmp_path / "x.sqlite"),
                      "source record", "--source-dir")
    p = run_cli("review", "create", "--from", moved, "--out", tmp_path / "x.sqlite", "--source-dir", SAMPLES,
                "--json")
    assert p.returncode == 0 and one_json(p.stdout)["pairs"] == 2


def test_report_json_and_exports(tmp_path, created):
    src, _, _ = created
    study = tmp_path / "study.sqlite"
    shutil.copy(src, study)
    _answer(study, "Dr A")
    _answer(study, "Dr B", lambda it: ANSWERS[it["task"]][-1])
    html, pdf, csv_path = tmp_path / "r.html", tmp_path / "r.pdf", tmp_path / "a.csv"
    p = run_cli("review", "report", study, "--json", "--html", html, "--pdf", pdf, "--csv", csv_path)
    assert p.returncode == 0, p.stderr
    doc = one_json(p.stdout)
    assert doc["reviewers"] == ["Dr A", "Dr B"] and doc["n_answers"] == 36 and doc["items"] == 18
    assert set(doc["task_b"]["by_reviewer"]) == {"Dr A", "Dr B"}
    assert doc["task_b"]["pooled"]["all"]["n"] == 12
    assert doc["agreement"]["B"]["statistic"] == "cohen"
    assert doc["written"] == {"csv": str(csv_path), "html": str(html), "pdf": str(pdf)}
    page = html.read_text()
    assert "data:image/png;base64," in page and "<table>" in page
    assert "Seed" in page and ">5<" in page and "Task B" in page and "Dr A" in page
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 5000
    with open(csv_path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 36 and {"answer", "method", "altered_trace", "correct", "elapsed_s"} <= set(rows[0])
    assert {r["reviewer"] for r in rows} == {"Dr A", "Dr B"}
    # text output without --json
    p = run_cli("review", "report", study)
    assert p.returncode == 0 and "task B" in p.stdout and "Dr A" in p.stdout


def test_report_on_empty_study_and_errors(tmp_path, created):
    src, _, _ = created
    p = run_cli("review", "report", src, "--json")
    assert p.returncode == 0
    doc = one_json(p.stdout)
    assert doc["n_answers"] == 0 and doc["task_b"]["pooled"] == {}
    assert_user_error(run_cli("review", "report", tmp_path / "missing.sqlite", "--json"), "no such study")
    junk = tmp_path / "junk.sqlite"
    junk.write_text("hello")
    assert_user_error(run_cli("review", "report", junk, "--json"), "not a review study")
    assert_user_error(run_cli("review", "report", src, "--html", tmp_path / "no" / "dir" / "r.html"),
                      "does not exist")
    assert_user_error(run_cli("review", "open", tmp_path / "missing.sqlite"), "no such study")


def test_merge_cli(tmp_path, created):
    src, _, _ = created
    copies = [tmp_path / f"c{i}.sqlite" for i in range(2)]
    for c, name in zip(copies, ("Ann", "Bob")):
        shutil.copy(src, c)
        _answer(c, name)
    out = tmp_path / "merged.sqlite"
    p = run_cli("review", "merge", out, *copies, "--json")
    assert p.returncode == 0, p.stderr
    doc = one_json(p.stdout)
    assert doc["answers"] == 36 and doc["sessions"] == 2 and doc["answers_added"] == 18
    p = run_cli("review", "merge", out, out, *copies, "--json")
    assert one_json(p.stdout)["answers"] == 36
    assert_user_error(run_cli("review", "merge", out, *copies), "already exists")
    p = run_cli("review", "report", out, "--json")
    assert one_json(p.stdout)["reviewers"] == ["Ann", "Bob"]


def test_open_launches_the_reviewer_window(tmp_path, created):
    src, _, _ = created
    study = tmp_path / "open.sqlite"
    shutil.copy(src, study)
    png = tmp_path / "welcome.png"
    p = run_cli("review", "open", study, "--screenshot", png, timeout=180)
    assert p.returncode == 0, p.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    with open_study(study) as st:
        assert st.sessions() == []  # opening alone records nothing


def test_create_with_reviewer_copy(tmp_path, adv):
    out, copy = tmp_path / "s.sqlite", tmp_path / "for_reviewers.sqlite"
    p = run_cli("review", "create", "--from", adv, "--out", out, "--tasks", "B", "--n-per-task", "4",
                "--reviewer-copy", copy, "--json")
    assert p.returncode == 0, p.stderr
    assert one_json(p.stdout)["reviewer_copy"] == str(copy)
    _answer(copy, "Remote")
    assert_user_error(run_cli("review", "report", copy, "--json"), "without the answer key")
    p = run_cli("review", "merge", out, out, copy, "--json")
    assert p.returncode == 0, p.stderr
    doc = one_json(run_cli("review", "report", out, "--json").stdout)
    assert doc["reviewers"] == ["Remote"] and doc["task_b"]["pooled"]["all"]["n"] == 4


@pytest.mark.parametrize("column,value,fragment", [
    ("elapsed_s", float("inf"), "invalid time 'inf'"),
    ("elapsed_s", -1e308, "invalid time"),
    ("elapsed_s", "abc", "invalid time 'abc'"),
    ("confidence", "high", "confidence 'high'"),
])
def test_report_on_hand_edited_answer_numbers(tmp_path, created, column, value, fragment):
    """A study whose answers were edited by hand (a time of Infinity or text, a confidence of text):
    `review report --json` crashed (exit 1: 'Out of range float values are not JSON compliant', or a
    TypeError summing the times); review merge refuses such answers, and now so does the report."""
    import sqlite3

    src, _, _ = created
    study = tmp_path / "study.sqlite"
    shutil.copy(src, study)
    _answer(study, "Dr A", finish=False)  # (a finished session is locked by a trigger)
    conn = sqlite3.connect(study)
    conn.execute("PRAGMA ignore_check_constraints = 1")  # the confidence column's CHECK
    conn.execute(f"UPDATE answers SET {column} = ? WHERE rowid = 1", (value,))
    conn.commit()
    conn.close()
    assert_user_error(run_cli("review", "report", study, "--json"), fragment)
