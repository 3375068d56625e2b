"""Faults and outputs: kill -9 during attack-eval loses nothing committed and a rerun resumes; two
writers on one results file: the second is refused (exit 2, one line); no command overwrites an
existing output without --overwrite, and every output path is checked before any work starts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

import engine.attack_eval as ae
from attack_support import ROOT, SAMPLES, model_path
from conftest import cli_inproc as run

FAST = ["--method", "pgd", "--steps", "2"]


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def _records(path) -> list[str]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(ln)["record"] for ln in fh.read().splitlines()[1:] if ln.strip()]


def _wait_for(cond, proc, timeout=120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None and not cond():
        time.sleep(0.05)


def _one_line_error(stderr: str, *fragments: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert lines and lines[-1].startswith("error:"), stderr
    assert not any(ln.startswith("error:") for ln in lines[:-1]), stderr
    for f in fragments:
        assert f.lower() in lines[-1].lower(), (f, lines[-1])
    return lines[-1]


def refused(capsys, *args, fragments=()) -> str:
    rc, out, err = run(capsys, *args)
    assert rc == 2, (rc, out, err)
    assert out.strip() == ""
    return _one_line_error(err, *fragments)


@pytest.fixture
def no_attack(monkeypatch):
    """Any attack run fails the test: refusals must come before the work."""
    import engine.attacks.runner as runner

    def boom(*a, **k):
        pytest.fail("the attack ran before the output was checked")

    monkeypatch.setattr(ae, "run_attack", boom)
    monkeypatch.setattr(runner, "run_attack", boom)


# -- kill -9 and two writers (real processes) ---------------------------------------------------------

def test_sigkill_during_attack_eval_loses_nothing_and_rerun_resumes(tmp_path):
    path, out = tmp_path / "r.jsonl", tmp_path / "ex"
    cmd = [sys.executable, "main.py", "attack-eval", str(SAMPLES), "--limit", "6", *FAST, "--batch-size", "1",
           "--model", model_path(), "--device", "cpu", "--results", str(path), "--out", str(out), "--json"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_for(lambda: path.exists() and path.read_bytes().count(b"\n") >= 3, proc)  # header + 2 records
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
    if proc.returncode == 0:
        pytest.skip("the run finished before it could be killed")
    first = _records(path)
    assert len(first) >= 2
    assert os.path.exists(str(path) + ".lock"), "the killed writer's lock should be left (and taken over)"
    done = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    recs = _records(path)
    assert recs[:len(first)] == first, "committed lines were lost or rewritten"
    assert len(recs) == len(set(recs)) == 6 and doc["n"] == 6 and doc["pending"] == 0
    assert not os.path.exists(str(path) + ".lock")
    visible = sorted(f for f in os.listdir(out) if not f.startswith("."))
    assert visible == sorted(f"{r}_pgd{ext}" for r in recs for ext in (".dat", ".hea")), visible


def test_second_writer_on_one_results_file_is_refused(tmp_path):
    path = tmp_path / "r.jsonl"
    base = [sys.executable, "main.py", "attack-eval", str(SAMPLES), "--method", "sap", "--steps", "200",
            "--sap-steps", "200", "--batch-size", "1", "--model", model_path(), "--device", "cpu",
            "--results", str(path), "--json"]
    first = subprocess.Popen(base, cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_for(lambda: path.exists() and path.read_bytes().count(b"\n") >= 1, first)
        assert first.poll() is None, "the first writer ended before the second could start"
        second = subprocess.run(base, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=120)
        still_running = first.poll() is None
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate()
    assert still_running, "the first writer ended while the second ran: the test proves nothing"
    assert second.returncode == 2, (second.returncode, second.stderr)
    assert second.stdout.strip() == ""
    _one_line_error(second.stderr, "in use by process", str(first.pid), ".lock")


# -- outputs checked before any work ---------------------------------------------------------------------

def test_attack_eval_refuses_a_foreign_example_before_attacking(capsys, tmp_path, no_attack):
    out = tmp_path / "ex"
    out.mkdir()
    (out / "A00001_pgd.hea").write_text("keep me\n")
    refused(capsys, "attack-eval", SAMPLES, "--limit", "2", *FAST, "--model", model_path(),
            "--results", tmp_path / "r.jsonl", "--out", out, fragments=("A00001_pgd.hea already exists",
                                                                        "--overwrite"))
    assert (out / "A00001_pgd.hea").read_text() == "keep me\n"


def test_attack_eval_results_and_out_paths_checked_first(capsys, tmp_path, no_attack):
    refused(capsys, "attack-eval", SAMPLES, "--limit", "1", *FAST, "--model", model_path(),
            "--results", tmp_path / "nope" / "r.jsonl", fragments=("does not exist",))
    (tmp_path / "file").write_text("x")
    refused(capsys, "attack-eval", SAMPLES, "--limit", "1", *FAST, "--model", model_path(),
            "--results", tmp_path / "r.jsonl", "--out", tmp_path / "file", fragments=("not a folder",))
    refused(capsys, "attack-eval", SAMPLES, "--limit", "1", *FAST, "--model", model_path(),
            "--results", tmp_path, fragments=("folder",))


def test_attack_eval_overwrite_starts_a_mismatched_results_file_afresh(capsys, tmp_path):
    path = tmp_path / "r.jsonl"
    args = ["attack-eval", SAMPLES, *FAST, "--model", model_path(), "--results", path, "--json"]
    rc, out, err = run(capsys, *args, "--limit", "1")
    assert rc == 0, err
    refused(capsys, *args, "--limit", "2", fragments=("record list differs", "--overwrite"))
    assert _records(path) == ["A00001"]
    rc, out, err = run(capsys, *args, "--limit", "2", "--overwrite")
    assert rc == 0, err
    assert json.loads(out)["n"] == 2 and _records(path) == ["A00001", "A00002"]


def test_robustness_plot_never_clobbered_and_checked_first(capsys, tmp_path, no_attack):
    png = tmp_path / "rob.png"
    png.write_bytes(b"precious")
    common = ["robustness", SAMPLES, "--eps", "0.01", "--limit", "1", *FAST[2:], "--method", "pgd",
              "--model", model_path()]
    refused(capsys, *common, "--plot", png, fragments=("rob.png already exists", "--overwrite"))
    assert png.read_bytes() == b"precious"
    refused(capsys, *common, "--plot", tmp_path / "missing" / "p.png", fragments=("does not exist",))
    refused(capsys, *common, "--plot", tmp_path, fragments=(".png",))
    (tmp_path / "cells").write_text("a file")
    refused(capsys, *common, "--results-dir", tmp_path / "cells", fragments=("not a folder",))


def test_robustness_overwrite_replaces_the_plot(capsys, tmp_path):
    png = tmp_path / "rob.png"
    png.write_bytes(b"old")
    rc, out, err = run(capsys, "robustness", SAMPLES, "--eps", "0.01", "--limit", "1", "--steps", "1",
                       "--method", "pgd", "--model", model_path(), "--plot", png, "--overwrite", "--json")
    assert rc == 0, err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [f for f in os.listdir(tmp_path) if f != "rob.png"] == [], "temporary files left behind"


def test_band_checks_every_output_before_attacking(capsys, tmp_path, no_attack):
    (tmp_path / "A00001_sap_member0002.hea").write_text("keep me\n")
    refused(capsys, "band", SAMPLES / "A00001", "--model", model_path(), "--out", tmp_path, "--members", "3",
            fragments=("A00001_sap_member0002.hea already exists", "--overwrite"))


def test_attack_out_checked_before_attacking(capsys, tmp_path, no_attack):
    (tmp_path / "A00001_pgd.dat").write_bytes(b"\0\0")
    refused(capsys, "attack", SAMPLES / "A00001", *FAST, "--model", model_path(), "--out", tmp_path,
            fragments=("already exists", "--overwrite"))
    (tmp_path / "f").write_text("x")
    refused(capsys, "attack", SAMPLES / "A00001", *FAST, "--model", model_path(), "--out", tmp_path / "f",
            fragments=("not a folder",))


def test_train_out_checked_before_reading_or_training(capsys, tmp_path, monkeypatch):
    import engine.signals_cache as sc
    import engine.training as training

    monkeypatch.setattr(training, "train", lambda *a, **k: pytest.fail("trained before checking --out"))
    monkeypatch.setattr(sc, "load_dataset_signals", lambda *a, **k: pytest.fail("read before checking --out"))
    refused(capsys, "train", SAMPLES, "--out", tmp_path / "missing" / "m.safetensors", "--epochs", "1",
            fragments=("does not exist",))
    (tmp_path / "m.safetensors").write_bytes(b"precious")
    refused(capsys, "train", SAMPLES, "--out", tmp_path / "m.safetensors", "--epochs", "1",
            fragments=("already exists", "--overwrite"))
    assert (tmp_path / "m.safetensors").read_bytes() == b"precious"
    (tmp_path / "d.safetensors").mkdir()
    refused(capsys, "train", SAMPLES, "--out", tmp_path / "d.safetensors", "--epochs", "1",
            fragments=("is a folder",))


def test_train_engine_refuses_existing_checkpoint(tmp_path):
    import numpy as np
    import torch

    from engine.errors import UserError
    from engine.training import TrainConfig, train

    out = tmp_path / "m.safetensors"
    out.write_bytes(b"precious")
    x = [np.zeros(9000, np.float32)] * 2
    with pytest.raises(UserError, match="already exists"):
        train(x, ["N", "A"], x, ["N", "A"], TrainConfig(epochs=1), str(out), device=torch.device("cpu"))
    assert out.read_bytes() == b"precious"


def test_model_card_out_never_clobbered(capsys, tmp_path):
    card = tmp_path / "card.md"
    card.write_text("mine")
    refused(capsys, "model-card", "--model", model_path(), "--out", card, fragments=("already exists",))
    assert card.read_text() == "mine"
    rc, out, err = run(capsys, "model-card", "--model", model_path(), "--out", card, "--overwrite", "--json")
    assert rc == 0, err
    assert card.read_text() == json.loads(out)["card"]
