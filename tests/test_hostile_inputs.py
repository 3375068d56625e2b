"""Hostile inputs end to end through the real CLI (`python main.py ...` in a subprocess): headers,
label files, split names, checkpoint metadata and band sizes give exit code 2 and one stderr line
without a traceback; odd but valid inputs (no description, non-ASCII text, long records) work."""

from __future__ import annotations

import json

import numpy as np
import wfdb
from conftest import assert_user_error, one_json, run_cli


def _clone(samples, folder, name, edit=lambda h: h):
    text = (samples / "A00001.hea").read_text().replace("A00001", name)
    (folder / f"{name}.hea").write_text(edit(text), encoding="utf-8")
    (folder / f"{name}.mat").write_bytes((samples / "A00001.mat").read_bytes())
    return folder / name


def test_classify_refuses_implausible_header_rate(samples, tmp_path, tiny_model):
    rec = _clone(samples, tmp_path, "fsnan", lambda h: h.replace(" 300 ", " nan ", 1))
    line = assert_user_error(run_cli("classify", rec, "--model", tiny_model, "--device", "cpu", "--json"),
                             "sampling frequency nan Hz", "1 Hz to 100 kHz")
    assert "fsnan.hea" in line


def test_classify_signal_without_description_and_non_ascii(samples, tmp_path, tiny_model):
    rec = _clone(samples, tmp_path, "nodesc", lambda h: h.replace(" 0 ECG", " 0"))
    assert_user_error(run_cli("classify", rec, "--model", tiny_model, "--device", "cpu", "--json"),
                      "no ECG lead", "--lead")
    p = run_cli("classify", rec, "--lead", "ch0", "--model", tiny_model, "--device", "cpu", "--json")
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
    assert one_json(p.stdout)["results"][0]["pred"] in ("N", "A", "O", "~")
    # non-ASCII description, units in µV and a non-ASCII comment: read as written, classified
    rec = _clone(samples, tmp_path, "umlaut", lambda h: h.replace("1000/mV", "1/µV").replace(
        " ECG", " ECG Brustwand — Ä").replace("\n", "\n# Befund: unauffällig\n", 1))
    p = run_cli("classify", rec, "--model", tiny_model, "--device", "cpu", "--json")
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
    ref = run_cli("classify", samples / "A00001", "--model", tiny_model, "--device", "cpu", "--json")
    assert one_json(p.stdout)["results"][0]["probs"] == one_json(ref.stdout)["results"][0]["probs"]


def test_label_file_and_split_refused(samples, tmp_path, tiny_model):
    for ext in (".hea", ".mat"):
        (tmp_path / f"A00001{ext}").write_bytes((samples / f"A00001{ext}").read_bytes())
    (tmp_path / "REFERENCE.csv").write_bytes("A00001,N\n".encode("utf-16-le"))  # UTF-16 without a BOM
    assert_user_error(run_cli("evaluate", tmp_path, "--model", tiny_model, "--device", "cpu", "--json"),
                      "label file", "REFERENCE.csv")
    (tmp_path / "REFERENCE.csv").write_text("A00001,N\n")
    assert_user_error(run_cli("evaluate", tmp_path, "--split", "strat-val:abc", "--model", tiny_model,
                              "--device", "cpu", "--json"), "strat-val")


def test_checkpoint_with_bad_metadata_refused(tmp_path, tiny_model):
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    with safe_open(str(tiny_model), "pt") as fh:
        meta = json.loads(fh.metadata()["ecgadv"])
    meta["units_per_mv"] = float("nan")
    bad = tmp_path / "bad.safetensors"
    save_file(load_file(str(tiny_model)), str(bad), metadata={"ecgadv": json.dumps(meta)})
    from conftest import SAMPLES

    assert_user_error(run_cli("classify", SAMPLES / "A00001", "--model", bad, "--device", "cpu", "--json"),
                      "units_per_mv = NaN")


def test_band_too_large_refused_before_the_attack(samples, tiny_model):
    # 10^9 trials would keep ~10^9 members: refused up front (by the option's range or the memory
    # estimate), never run until killed
    p = run_cli("band", samples / "A00001", "--trials", "1000000000", "--model", tiny_model, "--device", "cpu",
                "--json", timeout=60)
    assert_user_error(p, "trials")
    # within the option's range but over the memory limit: refused with the estimate, before the attack
    p = run_cli("band", samples / "A00001", "--trials", "100000", "--model", tiny_model, "--device", "cpu",
                "--json", timeout=60)
    assert_user_error(p, "would need about", "GB", "limit")


def test_long_record_reports_the_window(tmp_path, tiny_model):
    fs, n = 300, 300 * 120
    t = np.arange(n) / fs
    d = (800 * np.sin(2 * np.pi * 1.2 * t) + np.random.default_rng(0).normal(0, 30, n)).astype(np.int64)
    wfdb.wrsamp("long", fs=fs, units=["mV"], sig_name=["ECG"], d_signal=d[:, None], fmt=["16"],
                adc_gain=[1000.0], baseline=[0], write_dir=str(tmp_path))
    p = run_cli("classify", tmp_path / "long", "--model", tiny_model, "--device", "cpu", "--json")
    assert p.returncode == 0, p.stderr
    r = one_json(p.stdout)["results"][0]
    assert r["window"] == [45.0, 75.0] and r["cropped"] and r["duration_s"] == 120.0 and not r["saturated"]
    p = run_cli("classify", tmp_path / "long", "--model", tiny_model, "--device", "cpu")
    assert "classified 45-75 s of 120 s" in p.stdout
