"""attack-eval resume identity: a results file is only resumed against the same dataset folder,
record list, record files, labels and model weights; one writer at a time; examples are never
replaced unless written by the same run; results do not depend on batch grouping (to a stated
precision)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

import engine.attack_eval as ae
from attack_support import SAMPLES, load_model
from engine.attacks import AttackParams
from engine.datasets import open_dataset
from engine.errors import UserError
from engine.outputs import FileLock

P = AttackParams(steps=2, sap_steps=2)
NAMES = ["A00001", "A00002", "A00009"]


def _copy(tmp_path, name="data"):
    dst = tmp_path / name
    shutil.copytree(SAMPLES, dst)
    return dst


def _lines(path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(ln) for ln in fh if ln.strip()]


def _eval(folder, path, names=NAMES, **kw):
    kw.setdefault("params", P)
    return ae.run_eval(load_model(), open_dataset(folder), list(names), method="pgd", results=str(path), **kw)


@pytest.fixture
def started(tmp_path):
    """A finished results file over NAMES of a private copy of the samples."""
    data, path = _copy(tmp_path), tmp_path / "r.jsonl"
    _eval(data, path)
    return data, path


def _refused(match, data, path, names=NAMES, clf=None):
    before = path.read_bytes()
    with pytest.raises(UserError, match=match) as exc:
        if clf is None:
            _eval(data, path, names)
        else:
            ae.run_eval(clf, open_dataset(data), list(names), method="pgd", params=P, results=str(path))
    assert "\n" not in str(exc.value)
    assert path.read_bytes() == before, "a refused run changed the results file"
    assert not os.path.exists(str(path) + ".lock"), "a refused run left its lock behind"


def test_header_identifies_folder_records_files_and_labels(started):
    data, path = started
    head = _lines(path)[0]
    assert head["kind"] == ae.KIND and head["dataset"] == os.path.abspath(data)
    assert list(head["records"]) == NAMES and all(len(v) == 16 for v in head["records"].values())
    assert head["labels"] == {n: open_dataset(data).label(n) for n in NAMES}
    assert head["model_sha"] == ae.model_fingerprint(load_model())


def test_other_folder_with_the_same_files_is_refused(started, tmp_path):
    data, path = started
    _refused("dataset folder differs", _copy(tmp_path, "elsewhere"), path)


def test_changed_record_file_is_refused(started):
    data, path = started
    mat = data / "A00002.mat"
    raw = bytearray(mat.read_bytes())
    raw[-1] ^= 1  # one bit of one sample
    mat.write_bytes(bytes(raw))
    _refused("files of record A00002 changed", data, path)


def test_changed_header_comment_is_refused(started):
    data, path = started
    with open(data / "A00009.hea", "a", encoding="utf-8") as fh:
        fh.write("# edited\n")
    _refused("files of record A00009 changed", data, path)


def test_other_record_list_is_refused(started):
    data, path = started
    _refused(r"record list differs \(3 records in the file, 2 now; only in the file: A00009\)", data, path,
             NAMES[:2])
    _refused("only now: A00013", data, path, NAMES + ["A00013"])


def test_record_order_does_not_matter(started):
    data, path = started
    summ = _eval(data, path, NAMES[::-1])
    assert summ["n"] == 3 and len(_lines(path)) == 4


def test_changed_labels_are_refused(started):
    data, path = started
    ref = data / "REFERENCE.csv"
    text = ref.read_text().replace("A00001,N", "A00001,O")
    assert text != ref.read_text()
    ref.write_text(text)
    _refused(r"labels differ \(record A00001: 'N' in the file vs 'O' now\)", data, path)


def test_other_model_weights_are_refused(started):
    data, path = started
    other = load_model()
    with torch.no_grad():  # a BatchNorm running statistic: a buffer, not a parameter
        bufs = [b for n, b in other.module.named_buffers() if "running_mean" in n]
        bufs[0].add_(1e-3)
    assert ae.model_fingerprint(other) != ae.model_fingerprint(load_model())
    _refused("model differs", data, path, clf=other)


def test_old_format_is_refused_and_overwrite_starts_afresh(started):
    data, path = started
    lines = path.read_text().splitlines(keepends=True)
    old = {k: v for k, v in json.loads(lines[0]).items() if k not in ("records", "labels")}
    old["kind"] = "ecgadv-attack-eval/1"
    path.write_text(json.dumps(old) + "\n" + "".join(lines[1:]))
    _refused("older version .* --overwrite to start it afresh", data, path)
    summ = _eval(data, path, restart=True)
    assert summ["n"] == 3 and _lines(path)[0]["kind"] == ae.KIND and len(_lines(path)) == 4


def test_restart_replaces_a_mismatched_file_but_resumes_a_matching_one(started, monkeypatch):
    data, path = started
    attacked = []
    real = ae.run_attack
    monkeypatch.setattr(ae, "run_attack", lambda clf, inputs, *a, **k: (
        attacked.extend(i.name for i in inputs), real(clf, inputs, *a, **k))[1])
    _eval(data, path, restart=True)  # matching: resumed, nothing redone
    assert attacked == []
    _eval(data, path, NAMES[:2], restart=True)  # another record list: started afresh
    assert attacked == NAMES[:2]
    assert [d["record"] for d in _lines(path)[1:]] == NAMES[:2]
    assert list(_lines(path)[0]["records"]) == NAMES[:2]


def test_mismatched_part_file_is_refused(started):
    data, path = started
    head = _lines(path)[0]
    other = {**head, "records": {**head["records"], "A00001": "0" * 16}}
    part = ae.part_path(str(path), 1)
    with open(part, "w") as fh:
        fh.write(json.dumps(other) + "\n")
    _refused("A00001", data, path)
    assert os.path.exists(part)


def test_record_digest(tmp_path):
    a, b = _copy(tmp_path, "a"), _copy(tmp_path, "b")
    assert ae.record_digest(str(a / "A00001")) == ae.record_digest(str(b / "A00001.hea"))
    assert ae.record_digest(str(a / "A00001")) != ae.record_digest(str(a / "A00002"))
    assert ae.record_digest(str(a / "nope")) is None
    (b / "A00001.mat").write_bytes((b / "A00001.mat").read_bytes()[:-2])  # truncated signal file
    assert ae.record_digest(str(a / "A00001")) != ae.record_digest(str(b / "A00001"))


# -- one writer -------------------------------------------------------------------------------------

def test_a_held_lock_refuses_a_second_writer(started):
    data, path = started
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with open(str(path) + ".lock", "w") as fh:
            json.dump({"pid": holder.pid, "host": __import__("socket").gethostname()}, fh)
        before = path.read_bytes()
        with pytest.raises(UserError, match=f"in use by process {holder.pid}"):
            _eval(data, path)
        assert path.read_bytes() == before
    finally:
        holder.kill()
        holder.wait()
    _eval(data, path)  # the holder is gone: its lock is stale and taken over
    assert not os.path.exists(str(path) + ".lock")


def test_lock_is_held_during_the_run_and_released_after(started, monkeypatch):
    data, path = started
    path.unlink()
    seen = []
    real = ae.run_attack

    def spy(*a, **k):
        seen.append(os.path.exists(str(path) + ".lock"))
        with pytest.raises(UserError, match="in use"):
            FileLock(str(path)).acquire()
        return real(*a, **k)

    monkeypatch.setattr(ae, "run_attack", spy)
    _eval(data, path, batch_size=2)
    assert seen == [True, True]
    assert not os.path.exists(str(path) + ".lock")


# -- saved examples -----------------------------------------------------------------------------------

def test_foreign_example_refused_before_any_attack(tmp_path, monkeypatch):
    data, path, out = _copy(tmp_path), tmp_path / "r.jsonl", tmp_path / "ex"
    out.mkdir()
    (out / "A00002_pgd.hea").write_text("someone else's record\n")
    monkeypatch.setattr(ae, "run_attack", lambda *a, **k: pytest.fail("attacked before checking --out"))
    with pytest.raises(UserError, match="A00002_pgd.hea already exists .*--overwrite"):
        _eval(data, path, out_dir=str(out))
    assert (out / "A00002_pgd.hea").read_text() == "someone else's record\n"


def test_overwrite_replaces_foreign_example(tmp_path):
    data, path, out = _copy(tmp_path), tmp_path / "r.jsonl", tmp_path / "ex"
    out.mkdir()
    (out / "A00002_pgd.hea").write_text("someone else's record\n")
    _eval(data, path, out_dir=str(out), overwrite=True)
    assert "ecg-adv-workbench" in (out / "A00002_pgd.hea").read_text()


def test_resume_replaces_its_own_example_of_the_batch_in_flight(tmp_path):
    data, path, out = _copy(tmp_path), tmp_path / "r.jsonl", tmp_path / "ex"
    _eval(data, path, out_dir=str(out))
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-1]))  # killed after writing A00009's example, before its line
    rid = ae.run_id(json.loads(lines[0]))
    assert f"run: {rid}" in (out / "A00009_pgd.hea").read_text()
    summ = _eval(data, path, out_dir=str(out))
    assert summ["n"] == 3 and [d["record"] for d in _lines(path)[1:]] == NAMES


# -- batch grouping -----------------------------------------------------------------------------------

def test_results_do_not_depend_on_batch_grouping(tmp_path):
    """The module docstring's statement: success flags equal; Linf equal; L2, SNR, PRD and
    square-wave within 1 % (SAP may move a few samples by an ADC quantum); probabilities within
    2e-3. Paper-default SAP steps, six records, batches of 1 and of 4 (4 + 2)."""
    names = ["A00001", "A00002", "A00006", "A00009", "A00013", "A00022"]
    ds = open_dataset(SAMPLES)
    clf = load_model()
    rows = {}
    for bs in (1, 4):
        path = str(tmp_path / f"b{bs}.jsonl")
        ae.run_eval(clf, ds, names, method="sap", params=AttackParams(), results=path, batch_size=bs)
        rows[bs] = {d["record"]: d for d in _lines(path)[1:]}
    for n in names:
        a, b = rows[1][n], rows[4][n]
        assert (a["orig_pred"], a["adv_pred"], a["success"]) == (b["orig_pred"], b["adv_pred"], b["success"]), n
        assert a["linf_mv"] == pytest.approx(b["linf_mv"], abs=1e-9)
        for k in ("l2_mv", "snr_db", "prd", "square_wave"):
            assert a[k] == pytest.approx(b[k], rel=1e-2, abs=1e-6), (n, k)
        pa, pb = np.array(list(a["adv_probs"].values())), np.array(list(b["adv_probs"].values()))
        assert np.abs(pa - pb).max() < 2e-3, n


@pytest.mark.parametrize("change", [{"record": ["A00001"]}, {"success": "yes"}, {"linf_mv": "big"},
                                    {"adv_pred": 3}, {"true": {"x": 1}}, {"l2_mv": True}])
def test_tampered_rows_are_refused_in_one_line(started, change):
    data, path = started
    lines = path.read_text().splitlines()
    row = {**json.loads(lines[2]), **change}
    path.write_text("\n".join(lines[:2] + [json.dumps(row)] + lines[3:]) + "\n")
    _refused("line 3 is not a valid result row", data, path)


@pytest.mark.parametrize("change", [{"dataset": 5}, {"records": ["A00001"]}, {"labels": "N"},
                                    {"records": None}])
def test_tampered_header_is_refused_in_one_line(started, change):
    data, path = started
    lines = path.read_text().splitlines()
    head = {**json.loads(lines[0]), **change}
    path.write_text("\n".join([json.dumps(head)] + lines[1:]) + "\n")
    _refused("different data", data, path)


# -- fuzz: any results file gets a clean answer -------------------------------------------------------

def _json_values():
    from hypothesis import strategies as st

    scalars = st.one_of(st.none(), st.booleans(), st.integers(-10, 10), st.floats(allow_nan=True),
                        st.text(max_size=8))
    return st.recursive(scalars, lambda c: st.one_of(st.lists(c, max_size=3),
                                                      st.dictionaries(st.text(max_size=6), c, max_size=3)),
                        max_leaves=6)


def test_fuzzed_results_files_are_resumed_or_refused_in_one_line(tmp_path_factory):
    """consolidate (the start of every resume) on tampered headers, rows and raw bytes: it returns
    the rows or raises a one-line UserError, nothing else; a refused file is left as it was."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    data = _copy(tmp_path_factory.mktemp("fuzz"))
    ds = open_dataset(data)
    clf = load_model()
    header = ae.make_header(clf, "pgd", P, None, ds.folder, None, **ae.dataset_identity(ds, NAMES))
    good_row = {"record": "A00001", "true": "N", "orig_pred": "N", "orig_probs": {}, "adv_pred": "O",
                "adv_probs": {}, "success": True, "linf_mv": 0.01, "l2_mv": 0.1, "snr_db": 30.0, "prd": 1.0,
                "smoothness": 1e-7, "square_wave": 0.1, "correct": True, "out": None}
    keys = st.sampled_from(sorted(set(header) | set(good_row)))
    doc_edits = st.dictionaries(keys, _json_values(), max_size=3)
    content = st.one_of(
        st.tuples(doc_edits, doc_edits).map(lambda e: (json.dumps({**header, **e[0]}) + "\n"
                                                       + json.dumps({**good_row, **e[1]}) + "\n").encode()),
        st.binary(max_size=200),
        st.lists(_json_values(), max_size=3).map(lambda v: "".join(json.dumps(x) + "\n" for x in v).encode()),
    )
    path = str(tmp_path_factory.mktemp("fuzzres") / "r.jsonl")

    @settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
    @given(content)
    def check(raw):
        with open(path, "wb") as fh:
            fh.write(raw)
        try:
            rows = ae.consolidate(path, header)
        except UserError as exc:
            assert "\n" not in str(exc)
            with open(path, "rb") as fh:
                after = fh.read()
            assert after == raw[:len(after)], "a refused file was rewritten"
        else:
            assert isinstance(rows, dict)
            assert all(isinstance(k, str) for k in rows)

    check()


def test_header_dataset_with_a_nul_byte_is_refused(started):
    data, path = started
    lines = path.read_text().splitlines()
    head = {**json.loads(lines[0]), "dataset": "/x\x00y"}
    path.write_text("\n".join([json.dumps(head)] + lines[1:]) + "\n")
    _refused("dataset folder differs", data, path)
