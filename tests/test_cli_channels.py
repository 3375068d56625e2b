"""CLI: the files of one record given twice (a shell glob: A00001.hea and A00001.mat) are one
record; a non-ECG channel (--lead PLETH) warns on stderr and in the JSON."""

from __future__ import annotations

import json

import numpy as np

from conftest import cli_inproc as _run

FAST = ["--steps", "2", "--sap-steps", "2"]


def _mixed(folder):
    import wfdb

    fs, n = 300.0, 9000
    t = np.arange(n) / fs
    ecg = (800 * np.sin(2 * np.pi * 1.2 * t) ** 21).astype(np.int64)
    pleth = (500 + 300 * np.sin(2 * np.pi * 1.2 * t)).astype(np.int64)
    wfdb.wrsamp("mixed", fs=fs, units=["mV", "NU"], sig_name=["II", "PLETH"], d_signal=np.stack([ecg, pleth], 1),
                fmt=["16", "16"], adc_gain=[1000.0, 100.0], baseline=[0, 0], write_dir=str(folder))
    return folder / "mixed.hea"


def test_attack_glob_of_one_record_is_one_record(capsys, samples, tiny_model):
    files = sorted(str(p) for p in samples.glob("A00001*"))  # what `attack resources/samples/A00001*` passes
    assert len(files) == 2
    rc, out, err = _run(capsys, "attack", *files, "--model", tiny_model, "--method", "pgd", *FAST, "--json")
    assert rc == 0, err
    doc = json.loads(out)
    assert [r["record"] for r in doc["results"]] == ["A00001"]
    assert "warnings" not in doc


def test_classify_non_ecg_channel_warns(capsys, tmp_path, tiny_model):
    rec = _mixed(tmp_path)
    rc, out, err = _run(capsys, "classify", rec, "--lead", "PLETH", "--model", tiny_model, "--json")
    assert rc == 0, err
    doc = json.loads(out)
    assert "warning:" in err and "PLETH" in err and "not an ECG channel" in err
    assert len(doc["warnings"]) == 1 and "PLETH" in doc["warnings"][0]
    rc, out, err = _run(capsys, "classify", rec, "--lead", "II", "--model", tiny_model, "--json")
    assert rc == 0 and "warning" not in err and "warnings" not in json.loads(out)


def test_attack_non_ecg_channel_warns(capsys, tmp_path, tiny_model):
    rec = _mixed(tmp_path)
    rc, out, err = _run(capsys, "attack", rec, "--lead", "PLETH", "--model", tiny_model, "--method", "pgd",
                        *FAST, "--json")
    assert rc == 0, err
    assert "not an ECG channel" in err and "PLETH" in json.loads(out)["warnings"][0]


def test_missing_bundled_weights_name_the_path_they_load_from(capsys, monkeypatch, tmp_path, samples):
    from engine.models.checkpoint import BUILTIN

    missing = tmp_path / "models" / "paper-cnn.safetensors"
    monkeypatch.setitem(BUILTIN, "paper-cnn", missing)
    rc, out, err = _run(capsys, "classify", samples / "A00001.hea", "--model", "paper-cnn")
    assert rc == 2 and out == ""
    assert str(missing) in err and "--out resources/models/paper-cnn.safetensors" in err
    assert err.count("\n") == 1
