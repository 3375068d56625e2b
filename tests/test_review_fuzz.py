"""Fuzz `review create --from` rows and `review merge` inputs against the CLI contract: exit 0 with
one JSON document (and the output written), or exit 2 with exactly one `error:` line on stderr, no
traceback and no output left behind. Run in-process (engine.cli.main) to stay fast."""

from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import tempfile
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.cli import main as cli_main
from engine.review.study import ANSWERS, create_study, open_for_review, open_study, write_reviewer_copy
from review_data import adversarial_dir, synthetic_pairs

FUZZ = settings(max_examples=30, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            rc = cli_main([str(a) for a in argv])
        except SystemExit as exc:  # argparse
            rc = exc.code
    return rc, out.getvalue(), err.getvalue()


def _contract(rc: int, out: str, err: str, written: Path) -> None:
    assert "Traceback" not in err and "Traceback" not in out, err
    assert rc in (0, 2), (rc, err)
    if rc == 0:
        lines = [ln for ln in out.splitlines() if ln.strip()]
        assert len(lines) == 1 and isinstance(json.loads(lines[0]), dict)
        assert written.exists()
    else:
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("error:"), err
        assert out.strip() == ""
        assert not written.exists()


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    adv = adversarial_dir(tmp_path_factory.getbasetemp())
    return sorted(str(p)[:-4] for p in adv.glob("*.hea"))


_scalars = (st.none() | st.booleans() | st.integers(-2 ** 70, 2 ** 70) | st.floats(allow_nan=True)
            | st.text(max_size=12))


def _rows(paths: list[str]):
    leaf = _scalars | st.sampled_from(paths) | st.sampled_from([os.path.basename(p) for p in paths])
    keys = st.sampled_from(["out", "record", "results", "source", "x"]) | st.text(max_size=4)
    value = st.recursive(leaf, lambda c: st.lists(c, max_size=3) | st.dictionaries(keys, c, max_size=3),
                         max_leaves=6)
    row = (value.map(lambda v: json.dumps(v, allow_nan=True)) | st.text(max_size=30)
           | st.binary(max_size=30).map(lambda b: b.decode("latin-1")))
    return st.lists(row, max_size=5)


@FUZZ
@given(data=st.data())
def test_create_from_fuzzed_jsonl_rows(records, data):
    rows = data.draw(_rows(records))
    encoding = data.draw(st.sampled_from(["utf-8", "utf-8", "utf-16", "latin-1"]))
    extra = data.draw(st.lists(st.sampled_from(["--tasks", "A,B", "--n-per-task", "2", "--successful-only",
                                                "--methods", "sap", "--seed", "7"]), max_size=3))
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "results.jsonl"
        f.write_bytes("\n".join(rows).encode(encoding, errors="replace"))
        out = Path(d) / "s.sqlite"
        rc, so, se = _run(["review", "create", "--from", f, "--out", out, "--json", *extra])
        _contract(rc, so, se, out)
        leftovers = [n for n in os.listdir(d) if n not in ("results.jsonl", "s.sqlite")]
        assert leftovers == [], leftovers


@pytest.fixture(scope="module")
def merge_base(tmp_path_factory):
    base = tmp_path_factory.mktemp("merge-fuzz")
    master, copy = base / "master.sqlite", base / "copy.sqlite"
    create_study(master, synthetic_pairs(3), "A,B,C", n_per_task=3).close()
    write_reviewer_copy(master, copy)
    with open_for_review(copy) as rs:
        s = rs.start_session("Fuzz")
        for _ in range(5):
            it = s.next_item()
            s.answer(it["item_id"], ANSWERS[it["task"]][0], 2, 1.0)
    return master, copy


_SQL = [
    "UPDATE items SET trace1=trace2, trace2=trace1 WHERE trace2 IS NOT NULL AND rowid=1",
    "UPDATE signals SET data=zeroblob(length(data)) WHERE rowid=1",
    "UPDATE signals SET n=n*2 WHERE rowid=2",
    "UPDATE signals SET data='text' WHERE rowid=3",
    "UPDATE meta SET value=? WHERE key='tasks'",
    "UPDATE meta SET value=? WHERE key='fingerprint'",
    "UPDATE meta SET value=? WHERE key='study_id'",
    "UPDATE meta SET value=? WHERE key='schema_version'",
    "DELETE FROM meta WHERE key='format'",
    "DELETE FROM items WHERE rowid=2",
    "DELETE FROM signals WHERE rowid=4",
    "UPDATE answers SET answer=? WHERE rowid=1",
    "UPDATE answers SET item_id=? WHERE rowid=2",
    "UPDATE answers SET elapsed_s=? WHERE rowid=3",
    "UPDATE answers SET answered_at=? WHERE rowid=4",
    "UPDATE sessions SET reviewer=? WHERE rowid=1",
    "INSERT INTO answers VALUES (?, (SELECT session_id FROM sessions LIMIT 1), "
    "(SELECT item_id FROM items ORDER BY position DESC LIMIT 1), 'same', NULL, NULL, '2020')",
    "DROP TABLE answers",
    "DROP TRIGGER answers_locked_insert",
]


def _ops():
    sql = st.tuples(st.just("sql"), st.sampled_from(_SQL), _scalars)
    raw = st.tuples(st.just("bytes"), st.integers(0, 10 ** 6), st.binary(min_size=1, max_size=16))
    cut = st.tuples(st.just("truncate"), st.floats(0.0, 1.0), st.none())
    return st.lists(sql | raw | cut, max_size=3)


def _apply(path: Path, op) -> None:
    kind, a, b = op
    if kind == "sql":
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            conn.execute(a, (b,) if "?" in a else ())
        except (sqlite3.Error, OverflowError, UnicodeDecodeError):
            pass  # the edit itself was refused by SQLite: the file is as before
        finally:
            conn.close()
    elif kind == "bytes":
        size = path.stat().st_size
        with open(path, "r+b") as fh:
            fh.seek(a % max(size, 1))
            fh.write(b)
    else:
        with open(path, "r+b") as fh:
            fh.truncate(int(path.stat().st_size * a))


@FUZZ
@given(ops=_ops(), master_ops=st.lists(st.tuples(st.just("sql"), st.sampled_from(_SQL[:11]), _scalars), max_size=1),
       in_place=st.booleans())
def test_merge_of_fuzzed_inputs(merge_base, ops, master_ops, in_place):
    master, copy = merge_base
    with tempfile.TemporaryDirectory() as d:
        m, c = Path(d) / "master.sqlite", Path(d) / "copy.sqlite"
        shutil.copy(master, m)
        shutil.copy(copy, c)
        for op in ops:
            _apply(c, op)
        for op in master_ops:
            _apply(m, op)
        before = m.read_bytes()
        out = m if in_place else Path(d) / "merged.sqlite"
        rc, so, se = _run(["review", "merge", out, m, c, "--json"])
        if in_place:
            assert rc in (0, 2) and "Traceback" not in se, se
            if rc == 2:
                assert m.read_bytes() == before  # a refused in-place merge changes nothing
                assert len([ln for ln in se.splitlines() if ln.strip()]) == 1
        else:
            _contract(rc, so, se, out)
        if rc == 0:
            with open_study(out) as st_:
                assert len(st_.answers()) >= 0
        leftovers = [n for n in os.listdir(d) if n.startswith(".") or n.endswith(".lock")]
        assert leftovers == [], leftovers
