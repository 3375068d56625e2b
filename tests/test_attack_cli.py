"""CLI contract of attack, band, attack-eval and robustness: JSON schema, files, exit codes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from attack_support import ROOT, SAMPLES, adversarial_example, model_path, paper_sap_results
from conftest import cli_inproc as run

RESULT_KEYS = {"record", "true", "orig_pred", "orig_probs", "adv_pred", "adv_probs", "success", "linf_mv", "l2_mv",
               "snr_db", "prd", "smoothness", "square_wave", "out"}
FAST = ["--steps", "2", "--sap-steps", "2"]


def one_json(out: str) -> dict:
    lines = [ln for ln in out.splitlines() if ln.strip()]
    assert len(lines) == 1, out
    return json.loads(lines[0])


def user_error(rc: int, out: str, err: str, *fragments: str) -> str:
    assert rc == 2, (rc, out, err)
    assert out.strip() == "" and "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) >= 1 and lines[-1].startswith("error:"), err
    assert all(not ln.startswith("error:") for ln in lines[:-1])
    for f in fragments:
        assert f.lower() in lines[-1].lower(), (f, lines[-1])
    return lines[-1]


# -- attack ----------------------------------------------------------------------------------------

def test_attack_json_schema_and_saved_examples(capsys, tmp_path):
    out_dir = tmp_path / "ex"
    rc, out, err = run(capsys, "attack", SAMPLES / "A00001", SAMPLES / "A00013.hea", "--method", "pgd", *FAST,
                       "--model", model_path(), "--out", out_dir, "--json")
    assert rc == 0, err
    doc = one_json(out)
    assert set(doc) == {"model", "method", "params", "results", "summary"}  # summary: several records
    assert doc["summary"]["n"] == 2 and doc["summary"]["attacked"] == 2
    assert doc["method"] == "pgd" and doc["params"]["eps_mv"] == 0.01 and doc["params"]["alpha_mv"] == 0.001
    assert doc["params"]["steps"] == 2
    assert [r["record"] for r in doc["results"]] == ["A00001", "A00013"]
    for r in doc["results"]:
        assert set(r) == RESULT_KEYS
        assert set(r["orig_probs"]) == {"N", "A", "O", "~"}
        assert r["linf_mv"] <= 0.01 + 1e-6
        assert r["out"] and os.path.exists(r["out"] + ".hea")
    assert [r["true"] for r in doc["results"]] == ["N", "O"]  # from resources/samples/REFERENCE.csv
    assert "step" in err  # progress on stderr
    # same again: refuses to overwrite, then --overwrite works
    rc, out, err = run(capsys, "attack", SAMPLES / "A00001", "--method", "pgd", *FAST, "--model", model_path(),
                       "--out", out_dir, "--json")
    user_error(rc, out, err, "already exists")
    rc, out, err = run(capsys, "attack", SAMPLES / "A00001", "--method", "pgd", *FAST, "--model", model_path(),
                       "--out", out_dir, "--overwrite")
    assert rc == 0 and "A00001" in out and not out.lstrip().startswith("{")


def test_attack_true_is_null_without_labels(capsys, tmp_path):
    for ext in (".hea", ".mat"):
        shutil.copy(SAMPLES / f"A00002{ext}", tmp_path / f"A00002{ext}")
    rc, out, err = run(capsys, "attack", tmp_path / "A00002", "--method", "sap", "--steps", "1", "--sap-steps", "1",
                       "--target", "AF", "--model", model_path(), "--json")
    assert rc == 0, err
    r = one_json(out)["results"][0]
    assert r["true"] is None and r["out"] is None
    assert one_json(out)["params"]["target"] == "A"
    assert r["success"] in (True, False, None)


@pytest.mark.parametrize("args,frag", [
    (["--target", "X"], "unknown target"),
    (["--target", "N", "--paper-protocol"], "--paper-protocol"),
    (["--eps", "-1"], "--eps"),
    (["--eps", "nan"], "--eps"),
    (["--steps", "-2"], "steps"),
    (["--model", "/nonexistent.safetensors"], "no such model"),
])
def test_attack_bad_input_exits_2(capsys, args, frag):
    argv = ["attack", SAMPLES / "A00001", *FAST, *(["--model", model_path()] if "--model" not in args else []), *args]
    user_error(*run(capsys, *argv), frag)


def test_attack_missing_record_and_bad_method(capsys, tmp_path):
    user_error(*run(capsys, "attack", tmp_path / "nope", "--model", model_path()), "no such record")
    user_error(*run(capsys, "attack", SAMPLES / "A00001", "--method", "fgsm"), "invalid choice")


def test_real_process_error_has_no_traceback(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    p = subprocess.run([sys.executable, "main.py", "attack", str(tmp_path / "missing"), "--json"], cwd=ROOT,
                       capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.strip().startswith("error:") and len(p.stderr.strip().splitlines()) == 1, p.stderr


# -- band ------------------------------------------------------------------------------------------

def test_band_json_schema_and_files(capsys, tmp_path):
    r, params = adversarial_example()
    rc, out, err = run(capsys, "band", SAMPLES / r.record, "--eps", params.eps_mv, "--alpha", params.alpha_mv,
                       "--trials", "40", "--max-pairs", "5", "--max-splices", "2", "--model", model_path(),
                       "--out", tmp_path, "--members", "2", "--json")
    if rc == 2 and "did not" in err:  # batch-of-one numerics differ from the batched run: try the others
        for other in paper_sap_results():
            if other.success and other.record != r.record:
                rc, out, err = run(capsys, "band", SAMPLES / other.record, "--trials", "40", "--max-pairs", "5",
                                   "--model", model_path(),
                                   "--out", tmp_path, "--members", "2", "--json")
                if rc == 0:
                    break
    assert rc == 0, err
    doc = one_json(out)
    assert {"record", "adv_pred", "noise", "concat", "uniform", "out"} <= set(doc)
    assert set(doc["noise"]) >= {"trials", "adversarial", "fraction"} and doc["noise"]["trials"] == 40
    assert set(doc["concat"]) >= {"pairs", "splices", "adversarial", "fraction"}
    assert set(doc["uniform"]) >= {"trials", "adversarial", "fraction"}
    # noise trials and uniform draws are independent draws: their fractions come with an exact interval
    from engine.intervals import clopper_pearson

    for key in ("noise", "uniform"):
        d = doc[key]
        assert d["ci95"] == (list(clopper_pearson(d["adversarial"], d["trials"])) if d["trials"] else None)
    assert doc["adv_pred"] != doc["orig_pred"]
    assert os.path.exists(doc["out"] + ".hea") and len(doc["members_out"]) == 2
    assert doc["concat"]["pairs"] <= 5 and doc["concat"]["splices"] <= 5 * 2 * 2


def test_band_failed_attack_exits_2(capsys):
    res = paper_sap_results()
    sure = max(res, key=lambda r: max(r.orig_probs.values()))
    rc, out, err = run(capsys, "band", SAMPLES / sure.record, "--eps", "0.001", "--alpha", "0.0001",
                       "--steps", "1", "--sap-steps", "0", "--trials", "10", "--model", model_path(), "--json")
    user_error(rc, out, err, "did not change the prediction", "no band")


def test_band_bad_trials_exit_2(capsys):
    user_error(*run(capsys, "band", SAMPLES / "A00001", "--trials", "0", "--model", model_path()), "--trials")


# -- attack-eval and robustness -------------------------------------------------------------------

def test_attack_eval_json_and_default_results_file(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, out, err = run(capsys, "attack-eval", SAMPLES, "--limit", "3", "--method", "pgd", "--steps", "2",
                       "--model", model_path(), "--json")
    assert rc == 0, err
    doc = one_json(out)
    assert {"n", "correct", "attacked", "success_rate", "per_class", "mean_linf_mv", "mean_smoothness",
            "results_file", "misclassified"} <= set(doc)
    assert doc["n"] == 3 and os.path.dirname(doc["results_file"]) == str(tmp_path)
    name = os.path.basename(doc["results_file"])
    assert name.startswith("attack-eval_samples_all_") and name.endswith("_pgd_eps0.01.jsonl")
    assert doc["success_rate"] is None or 0 <= doc["success_rate"] <= 1
    assert set(doc["per_class"]) <= {"N", "A", "O", "~"}
    # same file, other settings: exit 2 naming the difference
    rc, out, err = run(capsys, "attack-eval", SAMPLES, "--limit", "3", "--method", "pgd", "--steps", "3",
                       "--model", model_path(), "--results", name, "--json")
    user_error(rc, out, err, "steps")
    # text mode
    rc, out, err = run(capsys, "attack-eval", SAMPLES, "--limit", "3", "--method", "pgd", "--steps", "2",
                       "--model", model_path())
    assert rc == 0 and "success" in out and "results:" in out


def test_attack_eval_bad_input(capsys, tmp_path):
    user_error(*run(capsys, "attack-eval", tmp_path / "none", "--model", model_path()), "no such dataset")
    user_error(*run(capsys, "attack-eval", SAMPLES, "--limit", "0", "--model", model_path()), "--limit")
    (tmp_path / "r.jsonl").write_text("not json\n")
    user_error(*run(capsys, "attack-eval", SAMPLES, "--limit", "1", "--results", tmp_path / "r.jsonl",
                    "--model", model_path()), "not a json object")


def test_robustness_table_and_plot(capsys, tmp_path):
    png = tmp_path / "rob.png"
    rc, out, err = run(capsys, "robustness", SAMPLES, "--eps", "0.02,0.005", "--method", "pgd", "--limit", "2",
                       "--steps", "2", "--model", model_path(), "--plot", png, "--results-dir", tmp_path / "cells",
                       "--json")
    assert rc == 0, err
    doc = one_json(out)
    assert doc["eps_mv"] == [0.005, 0.02] and doc["methods"] == ["pgd"]
    assert [(r["method"], r["eps_mv"]) for r in doc["table"]] == [("pgd", 0.005), ("pgd", 0.02)]
    for r in doc["table"]:
        assert r["alpha_mv"] == pytest.approx(r["eps_mv"] / 10)
        assert r["mean_linf_mv"] is None or r["mean_linf_mv"] <= r["eps_mv"] + 1e-6
        assert os.path.exists(r["results_file"])
    assert doc["plot"] == str(png) and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    user_error(*run(capsys, "robustness", SAMPLES, "--eps", "0.01,abc", "--model", model_path()), "--eps")
    user_error(*run(capsys, "robustness", SAMPLES, "--eps", "0.01", "--method", "pgd,xyz", "--model", model_path()),
               "unknown attack method")
    user_error(*run(capsys, "robustness", SAMPLES, "--eps", "0.01", "--plot", tmp_path / "x.jpg",
                    "--model", model_path()), ".png")


def test_attack_paper_protocol_json(capsys):
    rc, out, err = run(capsys, "attack", SAMPLES / "A00009", SAMPLES / "A00013", *FAST, "--eps", "0.02",
                       "--paper-protocol", "--model", model_path(), "--json")
    assert rc == 0, err
    doc = one_json(out)
    assert doc["params"]["target_map"] == [["A", "N"]] and doc["params"]["target"] is None
    for r in doc["results"]:
        if r["orig_pred"] == "A":
            assert r["success"] == (r["adv_pred"] == "N")
        else:
            assert r["success"] == (r["adv_pred"] != r["orig_pred"])


def test_band_paper_code_style(capsys):
    rc, out, err = run(capsys, "band", SAMPLES / "A00009", "--eps", "0.02", "--alpha", "0.002", "--trials", "20",
                       "--max-pairs", "3", "--max-splices", "2", "--band-style", "paper-code",
                       "--model", model_path(), "--json")
    assert rc == 0, err
    doc = one_json(out)
    assert doc["style"] == "paper-code" and doc["noise"]["trials"] == 20
    rc, out, err = run(capsys, "band", SAMPLES / "A00009", "--eps", "0.02", "--alpha", "0.002", "--trials", "20",
                       "--max-pairs", "3", "--max-splices", "2", "--band-style", "both", "--model", model_path())
    assert rc == 0, err
    noise = next(ln for ln in out.splitlines() if ln.startswith("noise"))
    assert noise.count("95% CI") == 2 and "/20, " in noise  # both procedures: k/n and the interval
    rc, out, err = run(capsys, "band", SAMPLES / "A00009", "--band-style", "nope", "--model", model_path())
    assert rc == 2 and "invalid choice" in err


def test_attack_eval_resume_compares_only_the_run_attacks_parameters(capsys, tmp_path):
    """A PGD results file resumes whatever --sap-steps says (PGD does not read it) and is refused when
    a parameter PGD reads differs; its header holds only PGD's parameters."""
    res = tmp_path / "r.jsonl"
    base = ["attack-eval", SAMPLES, "--method", "pgd", "--limit", "1", "--steps", "1", "--results", res, "--json"]
    rc, out, err = run(capsys, *base, "--sap-steps", "5")
    assert rc == 0, err
    header = json.loads(res.read_text().splitlines()[0])
    assert "sap_steps" not in header["params"] and "kernel_sizes" not in header["params"]
    assert header["params"]["steps"] == 1
    before = res.read_bytes()
    rc, out, err = run(capsys, *base, "--sap-steps", "7")
    assert rc == 0, err
    assert res.read_bytes() == before and one_json(out)["n"] == 1  # resumed: nothing redone
    rc, out, err = run(capsys, *base[:-3], "--seed", "3", "--results", res, "--json")
    assert "seed 0 in the file vs 3 now" in user_error(rc, out, err, "attack parameters differ")


def test_attack_help_names_every_registered_attack():
    from engine.attacks.registry import ATTACKS
    from engine.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    text = next(c.help for c in sub._choices_actions if c.dest == "attack")
    assert len(ATTACKS) >= 2
    for name in ATTACKS:
        assert name in text, (name, text)
    assert "PGD or smooth SAP" not in text
