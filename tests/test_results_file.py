"""engine.results_file: the JSONL results file shared by attack-eval and band-eval."""

import json
import os

import pytest

from engine.errors import UserError
from engine.results_file import ResultsFormat, append_lines, open_results, read_jsonl_results

KIND = "test-kind/1"


def _first(path, doc):
    if doc.get("kind") != KIND:
        raise UserError(f"{path} is not a test file")


def _check(found, want, path):
    if found.get("setting") != want.get("setting"):
        raise UserError(f"{path}: setting differs")


def _fmt(other_lines=False):
    return ResultsFormat(check_first=_first, valid_row=lambda d: isinstance(d.get("record"), str),
                         row_what="test row", check=_check, other_lines=other_lines)


HEADER = {"kind": KIND, "setting": 1}


def _write(path, lines, tail=b""):
    path.write_bytes(b"".join(json.dumps(x).encode() + b"\n" for x in lines) + tail)


def test_absent_and_empty_files_have_no_header(tmp_path):
    assert read_jsonl_results(str(tmp_path / "none.jsonl"), _fmt()) == (None, {})
    (tmp_path / "empty.jsonl").write_bytes(b"")
    assert read_jsonl_results(str(tmp_path / "empty.jsonl"), _fmt()) == (None, {})


def test_torn_last_line_ignored_and_repaired_first_row_wins(tmp_path):
    p = tmp_path / "r.jsonl"
    _write(p, [HEADER, {"record": "a", "v": 1}, {"record": "a", "v": 2}], tail=b'{"record": "b", "v"')
    header, rows = read_jsonl_results(str(p), _fmt())
    assert header == HEADER and rows == {"a": {"record": "a", "v": 1}}
    assert p.read_bytes().endswith(b'"v"')  # not repaired without repair=True
    read_jsonl_results(str(p), _fmt(), repair=True)
    assert p.read_bytes().endswith(b"\n") and b'"b"' not in p.read_bytes()


def test_damage_is_one_line_error_naming_the_line(tmp_path):
    p = tmp_path / "r.jsonl"
    p.write_bytes(json.dumps(HEADER).encode() + b"\n[1, 2]\n")
    with pytest.raises(UserError, match=r"line 2 is not a JSON object; the results file is damaged"):
        read_jsonl_results(str(p), _fmt())
    _write(p, [HEADER, {"record": 3}])
    with pytest.raises(UserError, match=r"line 2 is not a valid test row"):
        read_jsonl_results(str(p), _fmt())
    _write(p, [{"kind": "other"}])
    with pytest.raises(UserError, match="is not a test file"):
        read_jsonl_results(str(p), _fmt())


def test_other_lines_passed_over_only_when_asked(tmp_path):
    p = tmp_path / "r.jsonl"
    _write(p, [HEADER, {"note": "x"}, {"record": "a"}])
    assert read_jsonl_results(str(p), _fmt(other_lines=True))[1] == {"a": {"record": "a"}}
    with pytest.raises(UserError, match="line 2 is not a valid test row"):
        read_jsonl_results(str(p), _fmt())


def test_open_starts_resumes_refuses_and_restarts(tmp_path):
    p = str(tmp_path / "r.jsonl")
    assert open_results(p, HEADER, _fmt()) == {}
    assert [json.loads(x) for x in open(p)] == [HEADER]
    append_lines(p, [{"record": "a"}, {"record": "b"}])
    assert set(open_results(p, HEADER, _fmt())) == {"a", "b"}  # resumed, rows kept
    other = {**HEADER, "setting": 2}
    with pytest.raises(UserError, match="setting differs"):
        open_results(p, other, _fmt())
    assert len(open(p).readlines()) == 3  # refused: nothing lost
    assert open_results(p, other, _fmt(), restart=True) == {}
    assert [json.loads(x) for x in open(p)] == [other]


def test_restart_never_replaces_a_folder(tmp_path):
    d = tmp_path / "dir.jsonl"
    d.mkdir()
    with pytest.raises(UserError):
        open_results(str(d), HEADER, _fmt(), restart=True)
    assert os.path.isdir(d)


def test_append_lines_writes_whole_lines_and_nothing_for_none(tmp_path):
    p = tmp_path / "r.jsonl"
    append_lines(str(p), [])
    assert not p.exists()
    append_lines(str(p), [{"record": "a", "x": 0.5}])
    assert p.read_text() == '{"record": "a", "x": 0.5}\n'


@pytest.mark.parametrize("doc, ok", [
    ({"record": "a", "error": "unreadable"}, True),
    ({"record": "a", "error": 3}, False),
    ({"record": "a", "orig_pred": "N", "adv_pred": "A"}, True),
    ({"record": "a", "orig_pred": "N"}, False),
    ({"record": 1, "orig_pred": "N", "adv_pred": "A"}, False),
    ({"orig_pred": "N", "adv_pred": "A"}, False),
])
def test_valid_record_row(doc, ok):
    from engine.results_file import valid_record_row

    assert valid_record_row(doc) is ok
