"""Review outputs are never clobbered or half-written, every bad input gets one line, and the
engine's review commands do not import the GUI."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import assert_user_error, one_json, run_cli
from engine.errors import UserError
from engine.review.study import create_study
from review_data import ROOT, adversarial_dir, env_with_root, synthetic_pairs


@pytest.fixture(scope="module")
def adv(tmp_path_factory):
    return adversarial_dir(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    path = tmp_path_factory.mktemp("out") / "study.sqlite"
    create_study(path, synthetic_pairs(4), "A,B,C", n_per_task=4).close()
    return path


def test_report_never_overwrites_without_overwrite(tmp_path, study):
    csv_path, html = tmp_path / "a.csv", tmp_path / "r.html"
    csv_path.write_text("precious")
    assert_user_error(run_cli("review", "report", study, "--csv", csv_path, "--html", html), "already exists",
                      "--overwrite")
    assert csv_path.read_text() == "precious" and not html.exists()  # checked before any work
    p = run_cli("review", "report", study, "--csv", csv_path, "--html", html, "--overwrite", "--json")
    assert p.returncode == 0, p.stderr
    assert csv_path.read_text().startswith("answer_id,") and html.exists()
    assert sorted(os.listdir(tmp_path)) == ["a.csv", "r.html"]  # no temporary files left


def test_report_checks_every_output_before_work(tmp_path, study):
    csv_path = tmp_path / "a.csv"
    assert_user_error(run_cli("review", "report", study, "--csv", csv_path, "--pdf", tmp_path / "no" / "r.pdf"),
                      "does not exist")
    assert not csv_path.exists()
    assert_user_error(run_cli("review", "report", study, "--csv", csv_path, "--html", csv_path),
                      "different files")
    assert_user_error(run_cli("review", "report", study, "--csv", study, "--overwrite"), "study file itself")
    assert_user_error(run_cli("review", "report", study, "--html", tmp_path), "folder")


def test_create_writes_study_and_reviewer_copy_both_or_neither(tmp_path, monkeypatch):
    import engine.review.create as create

    def broken(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(create, "_strip_key", broken)
    out, copy = tmp_path / "s.sqlite", tmp_path / "copy.sqlite"
    with pytest.raises(OSError):
        create_study(out, synthetic_pairs(3), "B", reviewer_copy=copy)
    assert os.listdir(tmp_path) == []  # neither file, no temporary file
    monkeypatch.undo()
    create_study(out, synthetic_pairs(3), "B", reviewer_copy=copy).close()
    assert sorted(os.listdir(tmp_path)) == ["copy.sqlite", "s.sqlite"]


def test_create_cli_refuses_outputs_before_work(tmp_path, adv):
    out = tmp_path / "s.sqlite"
    assert_user_error(run_cli("review", "create", "--from", adv, "--out", out, "--reviewer-copy",
                              tmp_path / "missing" / "c.sqlite"), "does not exist")
    assert not out.exists()
    (tmp_path / "c.sqlite").write_text("someone's copy")
    assert_user_error(run_cli("review", "create", "--from", adv, "--out", out, "--reviewer-copy",
                              tmp_path / "c.sqlite"), "already exists")
    assert not out.exists() and (tmp_path / "c.sqlite").read_text() == "someone's copy"


@pytest.mark.parametrize("seed", ["-1", str(2 ** 64), "abc"])
def test_create_seed_out_of_range(tmp_path, adv, seed):
    line = assert_user_error(run_cli("review", "create", "--from", adv, "--out", tmp_path / "s.sqlite",
                                     "--seed", seed))
    assert "seed" in line
    assert not (tmp_path / "s.sqlite").exists()


@pytest.mark.parametrize("content,fragment", [
    (os.urandom(2000), "not a"),
    ('{"out": "x"}\n'.encode("utf-16"), "UTF-16"),
    (b'{"out": "x"}\n{"out": \n', "line 2 is not JSON"),
    (b"[" * 100000, "line 1 is not JSON"),
    (b'{"out": "\\u0000"}\n{"out": 5}\n[1, {"a": null}]\n', "names no saved adversarial examples"),
])
def test_create_from_bad_jsonl_is_one_line(tmp_path, content, fragment):
    f = tmp_path / "results.jsonl"
    f.write_bytes(content)
    assert_user_error(run_cli("review", "create", "--from", f, "--out", tmp_path / "s.sqlite"), fragment)
    assert not (tmp_path / "s.sqlite").exists()


def test_create_help_explains_the_tasks():
    p = run_cli("review", "create", "--help")
    assert p.returncode == 0
    text = " ".join(p.stdout.split())
    for frag in ("A two ECGs", "same rhythm diagnosis", "B two ECGs", "which one?", "C one ECG", "which rhythm?",
                 "one pair per source", "--reviewer-copy"):
        assert frag in text, frag


def test_engine_review_commands_do_not_import_the_gui(study):
    code = ("import sys; from engine.cli import main; rc = main(['review', 'open', %r]); "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('gui', 'PySide6', 'pyqtgraph')]; "
            "print(rc, bad)") % str(study)
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env=env_with_root(),
                       timeout=120)
    assert p.stdout.strip() == "2 []", (p.stdout, p.stderr)
    assert p.stderr.strip().startswith("error: review open needs the GUI")


def test_review_open_entry_point_errors_are_one_line(tmp_path, study):
    assert_user_error(run_cli("review", "open", tmp_path / "missing.sqlite"), "no such study")
    png = tmp_path / "shot.png"
    png.write_bytes(b"keep")
    assert_user_error(run_cli("review", "open", study, "--screenshot", png), "already exists")
    assert png.read_bytes() == b"keep"
    p = run_cli("review", "open", "--help")
    assert p.returncode == 0 and "--reviewer" in p.stdout


def test_damaged_study_files_are_one_line(tmp_path, study):
    import shutil
    import sqlite3

    bad = tmp_path / "bad.sqlite"
    shutil.copy(study, bad)
    conn = sqlite3.connect(bad)
    conn.execute("UPDATE meta SET value='not json' WHERE key='tasks'")
    conn.commit()
    conn.close()
    assert_user_error(run_cli("review", "report", bad, "--json"), "damaged")
    with pytest.raises(UserError, match="damaged"):
        from engine.review.study import open_for_review

        open_for_review(bad)
    doc = one_json(run_cli("review", "report", study, "--json").stdout)
    assert json.dumps(doc)  # the intact study still reports


def test_review_outputs_must_name_their_kind(tmp_path, study):
    """A slip such as --html REFERENCE.csv --overwrite, or merging into the label file, is refused
    whatever --overwrite says, and the file is left as it was (engine.outputs.check_suffix)."""
    import shutil

    labels = tmp_path / "REFERENCE.csv"
    labels.write_text("A00001,N\n")
    header = tmp_path / "A00001.hea"
    header.write_text("A00001 1 300 9000\n")
    for opt, ending in (("--html", ".html"), ("--pdf", ".pdf"), ("--csv", ".csv")):
        target = header if opt == "--csv" else labels
        assert_user_error(run_cli("review", "report", study, opt, target, "--overwrite"), "must end in", ending)
    mine = tmp_path / "mine.sqlite"
    shutil.copy(study, mine)
    assert_user_error(run_cli("review", "merge", labels, mine, "--overwrite"), "must end in", ".sqlite")
    assert_user_error(run_cli("review", "copy", mine, header, "--overwrite"), "must end in", ".sqlite")
    assert labels.read_text() == "A00001,N\n" and header.read_text() == "A00001 1 300 9000\n"
    assert sorted(os.listdir(tmp_path)) == ["A00001.hea", "REFERENCE.csv", "mine.sqlite"]
    html = tmp_path / "r.HTM"  # any case, and the other usual ending
    assert run_cli("review", "report", study, "--html", html).returncode == 0 and html.exists()
