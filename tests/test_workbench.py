"""The Workbench layer (engine.workbench): session state, record selection, jobs run without Qt."""

from __future__ import annotations

import pytest

from engine.datasets import open_dataset
from engine.errors import Cancelled, UserError
from engine.workbench import TrainRequest, Workbench, jobs, selection


def _run(job, stop=lambda: False):
    seen = []
    out = job(lambda *a, **k: seen.append(a), stop)
    return out, seen


def test_engine_workbench_imports_no_qt():
    import subprocess
    import sys

    code = ("import sys, engine.workbench; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'gui')]; "
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_split_records_warns_limits_and_refuses(samples, tmp_path):
    ds = open_dataset(str(samples))
    warns = []
    names = selection.split_records(ds, "all", warn=warns.append)
    assert len(names) == 12 and warns == []
    assert selection.split_records(ds, "all", 3) == names[:3]
    with pytest.raises(UserError, match="at least 1"):
        selection.split_records(ds, "all", 0)
    lst = tmp_path / "list.txt"
    lst.write_text("A00001\nA00009\nZ99999\n")
    got = selection.split_records(ds, str(lst), warn=warns.append)
    assert got == ["A00001", "A00009"]
    assert len(warns) == 1 and "missing" in warns[0] and "Z99999" in warns[0]
    empty = tmp_path / "empty.txt"
    empty.write_text("Z1\n")
    with pytest.raises(UserError, match="no labelled records"):
        selection.split_records(ds, str(empty))


def test_split_records_needs_labels_for_success_rates(samples, tmp_path):
    import shutil

    for p in samples.glob("A0000[12].*"):
        shutil.copy(p, tmp_path)
    ds = open_dataset(str(tmp_path))
    with pytest.raises(UserError, match="no labels"):
        selection.split_records(ds, "all", need_labels=True)


def test_training_split_strat_and_named(samples, tmp_path):
    ds = open_dataset(str(samples))
    names = selection.split_records(ds, "all")
    ts = selection.training_split(ds, names, "strat", seed=0)
    assert set(ts.train).isdisjoint(ts.val) and sorted(ts.train + ts.val) == sorted(names)
    assert "seed 0" in ts.description
    lst = tmp_path / "val.txt"
    lst.write_text("A00001\nA00009\n")
    ts2 = selection.training_split(ds, names, str(lst))
    assert ts2.val == ["A00001", "A00009"] and "A00001" not in ts2.train
    with pytest.raises(UserError, match="both the training and the validation"):
        selection.training_split(ds, ["A00001"], str(lst))


def test_session_state_and_listeners(samples, tiny_model):
    wb = Workbench()
    events = []
    wb.subscribe(lambda ev, v: events.append(ev))
    with pytest.raises(UserError, match="no record"):
        wb.classify_job()
    rec, _ = _run(wb.open_record_job(str(samples / "A00009.hea")))
    assert rec.name == "A00009" and rec.label == "A" and rec.x_mv.dtype.name == "float32"
    wb.set_record(rec)
    clf, _ = _run(wb.load_model_job(str(tiny_model)))
    wb.set_model(clf[0], clf[1])
    pred, _ = _run(wb.classify_job())
    assert pred[0] in clf[0].classes
    (res, params), seen = _run(wb.attack_job("pgd", {"eps_mv": 0.01, "steps": 2}))
    assert params.steps == 2 and seen
    wb.set_attack("pgd", res, params)
    band_job = wb.band_job(trials=4, noise_sd_mv=0.005, seed=1)
    assert callable(band_job)
    # a new record makes the attack stale: it is dropped and listeners hear of it
    events.clear()
    wb.set_record(rec)
    assert wb.attack_result is None and wb.band_result is None
    assert events == ["attack", "record"]
    with pytest.raises(UserError, match="no attack result"):
        wb.band_job(trials=4, noise_sd_mv=0.005)


def test_attack_job_cancels(samples, tiny_model):
    wb = Workbench()
    rec, _ = _run(wb.open_record_job(str(samples / "A00001.hea")))
    (clf, dev), _ = _run(wb.load_model_job(str(tiny_model)))
    wb.set_model(clf, dev)
    wb.set_record(rec)
    calls = {"n": 0}

    def stop():
        calls["n"] += 1
        return calls["n"] > 3

    with pytest.raises(Cancelled):
        wb.attack_job("sap", {"eps_mv": 0.01})(lambda *a, **k: None, stop)


def test_evaluate_job_on_samples(samples, tiny_model):
    wb = Workbench()
    (clf, dev), _ = _run(wb.load_model_job(str(tiny_model)))
    wb.set_model(clf, dev)
    wb.set_dataset(open_dataset(str(samples)))
    doc, _ = _run(wb.evaluate_job("all"))
    assert doc["n"] == 12 and len(doc["predictions"]) == 12 and doc["split"] == "all"
    assert "against" not in doc
    # a second model on the same records: itself gives a difference of exactly 0, its own figures
    vs, _ = _run(wb.evaluate_job("all", against=str(tiny_model)))
    a = vs["against"]
    assert a["f1_mean_nao"] == doc["f1_mean_nao"] and a["confusion"] == doc["confusion"]
    assert a["paired"]["difference"] == 0 and a["paired"]["ci95"] == [0.0, 0.0]
    with pytest.raises(UserError):  # a bad spec fails before any record is read
        _run(wb.evaluate_job("all", against=str(samples / "nope.safetensors")))


def test_train_job_checks_output_before_work(samples, tmp_path):
    ds = open_dataset(str(samples))
    out = tmp_path / "m.safetensors"
    out.write_bytes(b"keep")
    job = jobs.train(TrainRequest(dataset=ds, out=str(out), epochs=1))
    with pytest.raises(UserError, match="already exists"):
        _run(job)
    assert out.read_bytes() == b"keep"
    with pytest.raises(UserError, match="safetensors"):
        _run(jobs.train(TrainRequest(dataset=ds, out=str(tmp_path / "m.pt"), epochs=1)))


def test_gui_and_cli_classify_judge_saturation_alike(tmp_path, tiny_model):
    """The session's classify job knows the lead's ADC range, as the CLI's classify does: samples at
    the ADC limits count as saturated in both (they did not in the window's job, which passed no lead)."""
    import json
    import subprocess
    import sys

    import numpy as np
    import wfdb

    fs, n = 300, 300 * 20
    rng = np.random.default_rng(0)
    d = (300 * np.sin(2 * np.pi * 1.1 * np.arange(n) / fs) + rng.normal(0, 20, n)).astype(np.int64)
    d[::40] = 2047  # isolated samples at the 12-bit ADC's top: not flat runs, only the ADC range shows them
    wfdb.wrsamp("sat", fs=fs, units=["mV"], sig_name=["II"], d_signal=d[:, None], fmt=["16"], adc_gain=[200.0],
                baseline=[0], write_dir=str(tmp_path))
    hea = tmp_path / "sat.hea"
    lines = hea.read_text().splitlines()
    tokens = lines[1].split()
    tokens[3:5] = ["12", "0"]  # adc_res 12 bits, adc_zero 0
    lines[1] = " ".join(tokens)
    hea.write_text("\n".join(lines) + "\n")
    wb = Workbench()
    rec, _ = _run(wb.open_record_job(str(hea)))
    wb.set_record(rec)
    clf, _ = _run(wb.load_model_job(str(tiny_model)))
    wb.set_model(clf[0], clf[1])
    detail, _ = _run(wb.classify_job(detail=True))
    assert detail["saturated"] and detail["saturated_fraction"] > 0.02
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[1]
    p = subprocess.run([sys.executable, "main.py", "classify", str(hea), "--model", str(tiny_model), "--device",
                        "cpu", "--json"], cwd=root, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    cli = json.loads(p.stdout)["results"][0]
    assert cli["saturated_fraction"] == detail["saturated_fraction"] and cli["pred"] == detail["pred"]
