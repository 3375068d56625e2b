"""Bad input, one test each, through the real CLI (`python main.py ...`): exit code 2, one line on
stderr starting with 'error:', nothing on stdout, never a traceback."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest
import wfdb
from conftest import assert_user_error, run_cli


def _ecg(n, fs, seed=0):
    t = np.arange(n) / fs
    return (800 * np.sin(2 * np.pi * 1.2 * t) + np.random.default_rng(seed).normal(0, 30, n)).astype(np.int64)


def _write(folder, name, d, fs=300, names=("ECG",), units=("mV",), gains=(1000.0,)):
    d = np.asarray(d, dtype=np.int64)
    d = d[:, None] if d.ndim == 1 else d
    wfdb.wrsamp(name, fs=fs, units=list(units), sig_name=list(names), d_signal=d, fmt=["16"] * d.shape[1],
                adc_gain=list(gains), baseline=[0] * d.shape[1], write_dir=str(folder))
    return folder / name


def _clone(samples, folder, name, *, header=None, data=None, signal=True):
    """A copy of sample A00001 named `name`, with its header text and/or signal bytes changed."""
    text = (samples / "A00001.hea").read_text().replace("A00001", name)
    (folder / f"{name}.hea").write_text(header(text) if header else text)
    if signal:
        raw = (samples / "A00001.mat").read_bytes()
        (folder / f"{name}.mat").write_bytes(data(raw) if data else raw)
    return folder / name


def classify(record, model):
    return run_cli("classify", record, "--model", model, "--device", "cpu", "--json")


def test_missing_file(tmp_path):
    assert_user_error(run_cli("info", tmp_path / "nothere", "--json"), "no such record")


def test_header_without_signal_file(samples, tmp_path):
    rec = _clone(samples, tmp_path, "nosig", signal=False)
    assert_user_error(run_cli("info", rec, "--json"), "signal file nosig.mat is missing")


def test_truncated_signal_file(samples, tmp_path):
    rec = _clone(samples, tmp_path, "trunc", data=lambda b: b[: len(b) // 2 + 1])
    assert_user_error(run_cli("info", rec, "--json"), "truncated")


def test_header_signal_length_mismatch(samples, tmp_path):
    # the header claims 60 s, the signal file holds 30 s
    rec = _clone(samples, tmp_path, "longer", header=lambda h: h.replace(" 9000 ", " 18000 ", 1))
    line = assert_user_error(run_cli("info", rec, "--json"), "shorter than the header says")
    assert "18000" in line


def test_unsupported_format(samples, tmp_path):
    rec = _clone(samples, tmp_path, "fmt999", header=lambda h: re.sub(r"fmt999\.mat 16\+24", "fmt999.mat 999+24", h))
    assert "999+24" in (tmp_path / "fmt999.hea").read_text()
    assert_user_error(run_cli("info", rec, "--json"), "format 999")


def test_unreadable_header(tmp_path):
    (tmp_path / "junk.hea").write_text("this is not a header\n")
    assert_user_error(run_cli("info", tmp_path / "junk", "--json"), "header")


def test_no_ecg_lead(tmp_path, tiny_model):
    rec = _write(tmp_path, "noecg", np.stack([_ecg(1250, 125), _ecg(1250, 125, 1)], axis=1), fs=125,
                 names=("RESP", "ABP"), units=("NU", "mmHg"), gains=(100.0, 10.0))
    assert_user_error(classify(rec, tiny_model), "no ECG lead")


def test_nan_signal(tmp_path, tiny_model):
    d = _ecg(3000, 300)
    d[1000:1010] = -32768  # format 16's "no sample" value: NaN after reading
    assert_user_error(classify(_write(tmp_path, "nan", d), tiny_model), "NaN")


def test_flat_line_signal(tmp_path, tiny_model):
    assert_user_error(classify(_write(tmp_path, "flat", np.full(3000, 7)), tiny_model), "flat line")


def test_record_shorter_than_2s(tmp_path, tiny_model):
    assert_user_error(classify(_write(tmp_path, "short", _ecg(450, 300)), tiny_model), "at least 2 s")


def test_sampling_rate_model_cannot_use(tmp_path, tiny_model):
    rec = _write(tmp_path, "slow", _ecg(500, 50), fs=50)
    assert_user_error(classify(rec, tiny_model), "sampling rate 50 Hz cannot be used")


def test_empty_dataset_folder(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_user_error(run_cli("train", empty, "--out", tmp_path / "m.safetensors", "--json"), "no records")
    assert not (tmp_path / "m.safetensors").exists()


def test_empty_dataset_folder_evaluate(tmp_path, tiny_model):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_user_error(run_cli("evaluate", empty, "--model", tiny_model, "--json"), "no records")


def test_label_file_with_unknown_classes(samples, tmp_path):
    bad = tmp_path / "labels.csv"
    bad.write_text((samples / "REFERENCE.csv").read_text().replace("A00013,O", "A00013,AFL"))
    assert_user_error(run_cli("train", samples, "--labels", bad, "--out", tmp_path / "m.safetensors", "--json"),
                      "unknown class 'AFL'")


def test_label_file_with_unknown_classes_in_folder(samples, tmp_path, tiny_model):
    folder = tmp_path / "ds"
    shutil.copytree(samples, folder)
    (folder / "REFERENCE.csv").write_text("A00001,N\nA00002,Normal\n")
    assert_user_error(run_cli("evaluate", folder, "--model", tiny_model, "--json"), "unknown class 'Normal'")


def test_output_path_exists(samples, tmp_path):
    out = tmp_path / "exists.safetensors"
    out.write_bytes(b"precious")
    assert_user_error(run_cli("train", samples, "--out", out, "--epochs", "1", "--json"), "already exists",
                      "--overwrite")
    assert out.read_bytes() == b"precious"


def test_missing_model_file(samples, tmp_path):
    assert_user_error(classify(samples / "A00001", tmp_path / "none.safetensors"), "no such model file")


def test_missing_label_file_and_split(samples, tmp_path, tiny_model):
    assert_user_error(run_cli("evaluate", samples, "--labels", tmp_path / "no.csv", "--model", tiny_model,
                              "--json"), "no such label file")
    assert_user_error(run_cli("evaluate", samples, "--split", "nonsense", "--model", tiny_model, "--json"),
                      "unknown split")


def test_option_values_out_of_range_through_main(samples, tmp_path):
    """The range checks hold through `python main.py` (the in-process cases: tests/test_cli_core.py)."""
    assert_user_error(run_cli("band", samples / "A00001", "--trials", "1000000000", "--json"), "--trials",
                      "between 1 and 100000")
    assert_user_error(run_cli("band", samples / "A00001", "--noise-sd", "inf", "--json"), "--noise-sd", "mV")
    assert_user_error(run_cli("classify", samples / "A00001", "--device", "foo", "--json"), "--device", "cpu")
    assert_user_error(run_cli("train", samples, "--out", tmp_path / "m.safetensors", "--lr", "nan", "--json"),
                      "--lr", "greater than 0")
    assert not (tmp_path / "m.safetensors").exists()


def test_unexpected_error_through_main_is_one_line_exit_1(samples, tmp_path):
    """A bug (simulated: a command made to raise KeyError) exits 1 with one line on stderr naming a
    crash log that holds the traceback, in a real process."""
    import subprocess
    import sys

    code = ("import sys; from engine.cli import core, main; "
            "core.cmd_info = lambda a: (_ for _ in ()).throw(KeyError('boom')); sys.exit(main(sys.argv[1:]))")
    env = {"PYTHONPATH": str(samples.parents[1]), "XDG_CACHE_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    p = subprocess.run([sys.executable, "-c", code, "info", str(samples / "A00001")], capture_output=True,
                       text=True, timeout=60, env=env, cwd=samples.parents[1])
    assert p.returncode == 1 and p.stdout == "", (p.returncode, p.stdout, p.stderr)
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and "KeyError" in lines[0] and str(tmp_path) in lines[0], p.stderr
    assert "Traceback" in next(tmp_path.glob("ecg-adv/crash-*.log")).read_text()


def test_text_output_on_an_ascii_terminal_escapes_non_ascii(tmp_path):
    """A lead name or comment the terminal cannot encode is escaped, not a crash (exit 0)."""
    import os
    import shutil
    import subprocess
    import sys

    from conftest import ROOT, SAMPLES

    for ext in (".hea", ".mat"):
        shutil.copy(SAMPLES / f"A00001{ext}", tmp_path / f"A00001{ext}")
    hea = tmp_path / "A00001.hea"
    lines = hea.read_text(encoding="utf-8").splitlines()
    lines[1] = lines[1].rsplit(" ", 1)[0] + " Ableitung-µ"
    hea.write_text("\n".join(lines) + "\n", encoding="utf-8")
    env = dict(os.environ, PYTHONIOENCODING="ascii", PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "main.py", "info", str(hea)], cwd=ROOT, capture_output=True,
                          text=True, env=env, encoding="ascii", errors="replace", timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "\\xb5" in proc.stdout
