"""attack-eval: paper-style summary, resumable JSONL results (interrupt, SIGKILL, torn line), torchrun."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

import engine.attack_eval as ae
from attack_support import ROOT, SAMPLES, load_model, model_path
from engine.attacks import AttackParams
from engine.datasets import open_dataset
from engine.errors import Cancelled, UserError

P = AttackParams(steps=2, sap_steps=2)
NAMES = ["A00001", "A00002", "A00009", "A00013", "A00022", "A00027"]


def _lines(path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(ln) for ln in fh if ln.strip()]


def _records(path) -> list[str]:
    return [d["record"] for d in _lines(path)[1:]]


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


# -- summary ---------------------------------------------------------------------------------------

def test_summary_follows_the_paper_definition():
    def row(name, true, orig, adv, success, linf=0.01):
        return {"record": name, "true": true, "orig_pred": orig, "adv_pred": adv, "success": success,
                "linf_mv": linf, "l2_mv": 1.0, "snr_db": 30.0, "prd": 3.0, "smoothness": 1e-7, "square_wave": 0.1}

    rows = [row("a", "N", "N", "O", True), row("b", "N", "N", "N", False), row("c", "A", "A", "N", True),
            row("d", "O", "N", "A", True, linf=0.5),  # misclassified: reported apart, not in the means
            row("e", "O", "O", "O", None),  # targeted attack, already the target: not counted
            row("f", None, "N", "O", True), {"record": "g", "error": "flat line"}]
    s = ae.summarize(rows, ["N", "A", "O", "~"])
    assert s["n"] == 6 and s["errors"] == 1 and s["unlabelled"] == 1
    assert s["correct"] == 4 and s["attacked"] == 3 and s["success"] == 2
    assert s["success_rate"] == pytest.approx(2 / 3)
    # exact 95 % intervals (Clopper–Pearson): 1/1 -> [0.025, 1]; 1/2 -> [0.01258, 0.98742]; 2/3 -> [0.0943, 0.9916]
    assert s["success_ci95"] == pytest.approx([0.09430, 0.99160], abs=1e-4)
    mis = s["misclassified"]
    assert {k: mis[k] for k in ("n", "attacked", "success", "success_rate")} == \
        {"n": 1, "attacked": 1, "success": 1, "success_rate": 1.0}
    assert mis["success_ci95"] == pytest.approx([0.025, 1.0])
    n_cls = s["per_class"]["N"]
    assert {k: n_cls[k] for k in ("n", "correct", "attacked", "success", "success_rate")} == \
        {"n": 2, "correct": 2, "attacked": 2, "success": 1, "success_rate": 0.5}
    assert n_cls["success_ci95"] == pytest.approx([0.012579, 0.987421], abs=1e-5)
    assert s["per_class"]["A"]["success_rate"] == 1.0
    assert s["per_class"]["O"] == {"n": 2, "correct": 1, "attacked": 0, "success": 0, "success_rate": None,
                                   "success_ci95": None}
    assert "~" not in s["per_class"]
    assert s["mean_linf_mv"] == pytest.approx(0.01)


# -- resume ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run over NAMES: the rows every resumed run must reproduce."""
    path = str(tmp_path_factory.mktemp("ref") / "full.jsonl")
    summ = ae.run_eval(load_model(), open_dataset(SAMPLES), NAMES, method="sap", params=P, results=path,
                       batch_size=3)
    return path, summ


def _same_rows(a: dict, b: dict) -> None:
    for k in ("record", "true", "orig_pred", "adv_pred", "success", "correct"):
        assert a[k] == b[k], (k, a, b)
    for k in ("linf_mv", "l2_mv", "smoothness", "square_wave"):
        assert a[k] == pytest.approx(b[k], rel=1e-5, abs=1e-9)


def test_resume_after_cancel_loses_nothing_and_repeats_nothing(tmp_path, monkeypatch, reference):
    ref_path, ref_summary = reference
    ds, path = open_dataset(SAMPLES), str(tmp_path / "r.jsonl")
    attacked = []
    real = ae.run_attack

    def spy(clf, inputs, *a, **k):
        attacked.extend(i.name for i in inputs)
        return real(clf, inputs, *a, **k)

    monkeypatch.setattr(ae, "run_attack", spy)
    done = [0]
    with pytest.raises(Cancelled):
        ae.run_eval(load_model(), ds, NAMES, method="sap", params=P, results=path, batch_size=2,
                    progress=lambda d, t: done.__setitem__(0, d), should_stop=lambda: done[0] >= 2)
    assert _records(path) == NAMES[:2]
    assert attacked == NAMES[:2]
    summ = ae.run_eval(load_model(), ds, NAMES, method="sap", params=P, results=path, batch_size=2)
    assert attacked == NAMES, "resumed run attacked a record twice or skipped one"
    assert sorted(_records(path)) == sorted(NAMES)
    ref = {d["record"]: d for d in _lines(ref_path)[1:]}
    for d in _lines(path)[1:]:
        _same_rows(d, ref[d["record"]])
    assert {k: summ[k] for k in ("n", "correct", "attacked", "success")} == \
        {k: ref_summary[k] for k in ("n", "correct", "attacked", "success")}
    # a third run has nothing left to do
    ae.run_eval(load_model(), ds, NAMES, method="sap", params=P, results=path, batch_size=2)
    assert attacked == NAMES and len(_lines(path)) == 1 + len(NAMES)


def test_resume_after_keyboard_interrupt_mid_run(tmp_path, monkeypatch):
    ds, path = open_dataset(SAMPLES), str(tmp_path / "r.jsonl")
    real, calls = ae.run_attack, [0]

    def flaky(*a, **k):
        calls[0] += 1
        if calls[0] == 2:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(ae, "run_attack", flaky)
    with pytest.raises(KeyboardInterrupt):
        ae.run_eval(load_model(), ds, NAMES[:4], method="pgd", params=P, results=path, batch_size=2)
    assert _records(path) == NAMES[:2]
    ae.run_eval(load_model(), ds, NAMES[:4], method="pgd", params=P, results=path, batch_size=2)
    assert _records(path) == NAMES[:4]


def test_torn_last_line_is_dropped_and_redone(tmp_path):
    ds, path = open_dataset(SAMPLES), str(tmp_path / "r.jsonl")
    with pytest.raises(Cancelled):
        ae.run_eval(load_model(), ds, NAMES[:2], method="pgd", params=P, results=path, batch_size=1,
                    should_stop=lambda: len(_lines(path)) >= 2)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write('{"record": "A00002", "true": "N", "orig_')  # killed mid-write
    header, rows = ae.read_results(path)
    assert header["kind"] == ae.KIND and list(rows) == ["A00001"]
    summ = ae.run_eval(load_model(), ds, NAMES[:2], method="pgd", params=P, results=path)
    assert _records(path) == NAMES[:2] and summ["n"] == 2


def test_damaged_or_mismatched_results_file_is_refused(tmp_path):
    ds, path = open_dataset(SAMPLES), str(tmp_path / "r.jsonl")
    ae.run_eval(load_model(), ds, NAMES[:1], method="pgd", params=P, results=path)
    with pytest.raises(UserError, match="eps_mv"):
        ae.run_eval(load_model(), ds, NAMES[:1], method="pgd", params=AttackParams(eps_mv=0.02, steps=2),
                    results=path)
    with pytest.raises(UserError, match="method"):
        ae.run_eval(load_model(), ds, NAMES[:1], method="sap", params=P, results=path)
    other = load_model()
    with __import__("torch").no_grad():
        next(other.module.parameters()).add_(1.0)
    with pytest.raises(UserError, match="model differs"):
        ae.run_eval(other, ds, NAMES[:1], method="pgd", params=P, results=path)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"something": "else"}\n')
    with pytest.raises(UserError, match="not an attack-eval results file"):
        ae.run_eval(load_model(), ds, NAMES[:1], method="pgd", params=P, results=str(bad))


def test_saved_examples_listed_in_results(tmp_path):
    from engine.records import read_record

    ds, path, out = open_dataset(SAMPLES), str(tmp_path / "r.jsonl"), str(tmp_path / "ex")
    ae.run_eval(load_model(), ds, NAMES[:2], method="pgd", params=P, results=path, out_dir=out)
    rows = _lines(path)[1:]
    for d in rows:
        rec = read_record(d["out"])
        assert rec.name == f"{d['record']}_pgd"
        assert load_model().classify(rec.lead_mv()[0], rec.fs)[0] == d["adv_pred"]


def test_resume_after_sigkill(tmp_path):
    """A real process killed with SIGKILL once the results file has lines; the rerun completes it."""
    path = tmp_path / "r.jsonl"
    cmd = [sys.executable, "main.py", "attack-eval", str(SAMPLES), "--limit", "5", "--method", "pgd", "--steps", "2",
           "--batch-size", "1", "--model", model_path(), "--results", str(path), "--json"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if path.exists() and path.read_text().count("\n") >= 2:  # header + one record
                break
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
    first = _records(path) if path.exists() else []
    assert 1 <= len(first) < 5 or proc.returncode == 0
    done = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    recs = _records(path)
    assert recs[:len(first)] == first, "finished lines were lost or rewritten"
    assert sorted(recs) == sorted(open_dataset(SAMPLES).names[:5]) and len(set(recs)) == 5
    assert doc["n"] == 5 and doc["pending"] == 0


# -- torchrun --------------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_torchrun_two_cpu_processes(tmp_path, reference):
    ref_path, _ = reference
    path = tmp_path / "dist.jsonl"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(_free_port()), "main.py", "attack-eval", str(SAMPLES), "--split",
           str(tmp_path / "names.txt"), "--steps", "2", "--sap-steps", "2", "--batch-size", "2",
           "--model", model_path(), "--device", "cpu", "--results", str(path), "--json"]
    (tmp_path / "names.txt").write_text("\n".join(NAMES) + "\n")
    proc = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stdout  # only rank 0 prints
    doc = json.loads(lines[0])
    assert doc["world_size"] == 2 and doc["n"] == len(NAMES) and doc["pending"] == 0
    assert "[rank 0]" in proc.stderr and "[rank 1]" in proc.stderr
    recs = _records(path)
    assert sorted(recs) == sorted(NAMES) and len(recs) == len(NAMES)
    assert not list(tmp_path.glob("dist.jsonl.rank*.part")), "part files left behind"
    ref = {d["record"]: d for d in _lines(ref_path)[1:]}
    for d in _lines(path)[1:]:
        _same_rows(d, ref[d["record"]])


def test_leftover_part_files_are_merged(tmp_path):
    """Part files of a killed distributed run are merged (without duplicates) by the next run."""
    ds, path = open_dataset(SAMPLES), str(tmp_path / "r.jsonl")
    clf = load_model()
    ae.run_eval(clf, ds, NAMES[:3], method="pgd", params=P, results=path)
    rows = _lines(path)
    header = ae.make_header(clf, "pgd", P, None, ds.folder, None, **ae.dataset_identity(ds, NAMES[:3]))
    assert header == rows[0]
    with open(ae.part_path(path, 1), "w") as fh:  # a part holding one new and one duplicate record
        fh.write(json.dumps(header) + "\n" + json.dumps(rows[1]) + "\n" + json.dumps(rows[2]) + "\n")
    os.truncate(path, len(json.dumps(rows[0])) + 1 + len(json.dumps(rows[1])) + 1)  # main lost A00002, A00009
    header2, done = ae.read_results(path)
    assert list(done) == ["A00001"]
    ae.run_eval(clf, ds, NAMES[:3], method="pgd", params=P, results=path)
    recs = _records(path)
    assert sorted(recs) == ["A00001", "A00002", "A00009"] and len(recs) == 3
    assert not os.path.exists(ae.part_path(path, 1))


def test_torchrun_robustness_two_cpu_processes(tmp_path):
    """robustness under torchrun: every cell sharded over 2 ranks, one table from rank 0, equal
    to the single-process table; no part files left behind."""
    names = tmp_path / "names.txt"
    names.write_text("\n".join(NAMES[:4]) + "\n")
    common = ["main.py", "robustness", str(SAMPLES), "--split", str(names), "--eps", "0.01,0.05", "--method", "pgd",
              "--steps", "2", "--batch-size", "1", "--model", model_path(), "--device", "cpu", "--json"]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(_free_port()), *common, "--results-dir", str(tmp_path / "cells")]
    proc = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stdout  # only rank 0 prints
    doc = json.loads(lines[0])
    assert doc["world_size"] == 2 and [r["eps_mv"] for r in doc["table"]] == [0.01, 0.05]
    assert "[rank 1]" not in proc.stdout
    assert not list((tmp_path / "cells").glob("*.part")), "part files left behind"
    single = subprocess.run([sys.executable, *common], cwd=ROOT, env=_env(), capture_output=True, text=True,
                            timeout=240)
    assert single.returncode == 0, single.stderr[-3000:]
    ref = json.loads(single.stdout)
    for a, b in zip(doc["table"], ref["table"]):
        for k in ("n", "correct", "attacked", "success"):
            assert a[k] == b[k], (k, a, b)
    # without a results folder the ranks share rank 0's temporary folder
    cmd2 = [c for c in cmd if c not in ("--results-dir", str(tmp_path / "cells"))]
    cmd2[cmd2.index("--master_port") + 1] = str(_free_port())
    proc2 = subprocess.run(cmd2, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=240)
    assert proc2.returncode == 0, proc2.stderr[-3000:]
    doc2 = json.loads(proc2.stdout)
    assert [r["success"] for r in doc2["table"]] == [r["success"] for r in ref["table"]]


def test_attack_command_summarises_several_records(capsys):
    """`attack` on several records: the success rate with n, its 95 % interval and per-class rates."""
    from engine.cli import main as cli_main

    recs = [str(SAMPLES / n) for n in ("A00001", "A00002", "A00006")]
    rc = cli_main(["attack", *recs, "--method", "pgd", "--steps", "2", "--eps", "0.05", "--model", model_path(),
                   "--json"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    doc = json.loads(out)
    s = doc["summary"]
    assert s["n"] == 3 and s["attacked"] == s["correct"] <= 3
    assert s["success"] == sum(1 for r in doc["results"] if r["success"] and r["true"] == r["orig_pred"])
    lo, hi = s["success_ci95"]
    assert lo <= s["success_rate"] <= hi
    assert sum(v["attacked"] for v in s["per_class"].values()) == s["attacked"]
    rc = cli_main(["attack", *recs, "--method", "pgd", "--steps", "2", "--eps", "0.05", "--model", model_path()])
    out, err = capsys.readouterr()
    assert rc == 0 and "95% CI" in out and "per true class" in out
    mis = json.loads(json.dumps(s["misclassified"]))
    if mis["attacked"] == 0:  # none misclassified: no '- (0/0)' rate for them
        assert "misclassified to begin with: 0\n" in out and "- (0/0)" not in out, out
    rc = cli_main(["attack", recs[0], "--method", "pgd", "--steps", "2", "--model", model_path(), "--json"])
    assert rc == 0 and "summary" not in json.loads(capsys.readouterr().out)  # one record: no rate
