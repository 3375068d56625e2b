"""`smooth-attack` (engine.smooth_attack): EOT-PGD judged against the smoothed prediction (PREDICT
with abstention), beside the certified accuracy at the L2 radius ε·√d; on the gradient-trap model of
test_eot the certificate holds where the attack fails and the attack wins beyond it; summary
counts and intervals; the resumable results file; the command's one-line errors; a small run on
the bundled samples."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from engine.attacks.params import AttackParams
from engine.certify import SmoothParams
from engine.errors import UserError
from engine.smooth_attack import ALPHA_RATIO, evaluate_record, run_smooth_attack, summarize

from conftest import SAMPLES, one_json, run_cli
from test_eot import D, S0, SIGMA, trap_classifier

SMOOTH = SmoothParams(sigma_mv=SIGMA, n0=20, n=1000, batch_size=1000)
ATTACK = AttackParams(steps=20)  # EOT draws and seed: the declared defaults


def test_certified_cells_resist_and_the_attack_wins_beyond_the_certificate():
    clf = trap_classifier()
    row = evaluate_record(clf, "r", "N", np.full(D, S0, np.float32), SMOOTH, ATTACK, [0.01, 0.1])
    assert row["correct"] and row["pred"] == "N" and row["cert_pred"] == "N" and row["d"] == D
    # all n votes N: R = σ Φ⁻¹(0.001^(1/n)) ≈ 0.246 mV, its L∞ bound R/√64 ≈ 0.031 mV
    assert row["linf_mv"] == pytest.approx(row["radius_mv"] / math.sqrt(D))
    assert 0.01 < row["linf_mv"] < 0.1
    small, large = row["eps"]
    assert small["certified"] and small["robust"] and small["adv_pred"] == "N"
    assert not large["certified"] and not large["robust"] and large["adv_pred"] == "A"
    assert large["delta_linf_mv"] == pytest.approx(0.1, abs=1e-6) and small["delta_linf_mv"] <= 0.01 + 1e-7
    assert small["alpha_mv"] == pytest.approx(0.01 * ALPHA_RATIO)
    s = summarize([row], [0.01, 0.1])
    assert [t["certified"]["k"] for t in s["table"]] == [1, 0]
    assert [t["robust"]["k"] for t in s["table"]] == [1, 0]
    assert [t["success"]["k"] for t in s["table"]] == [0, 1]
    assert all(t["certified_but_broken"] == 0 for t in s["table"])


def test_records_the_smoothed_model_gets_wrong_or_abstains_on_are_not_attacked():
    clf = trap_classifier()
    wrong = evaluate_record(clf, "w", "N", np.full(D, -S0, np.float32), SMOOTH, ATTACK, [0.01])
    assert wrong["pred"] == "A" and not wrong["correct"] and wrong["eps"] == []
    # on the boundary (mean 0): the votes split and PREDICT abstains: not correct either
    edge = evaluate_record(clf, "e", "N", np.zeros(D, np.float32), SMOOTH, ATTACK, [0.01])
    assert edge["pred"] is None and not edge["correct"] and edge["eps"] == []
    with pytest.raises(UserError, match="not a class"):
        evaluate_record(clf, "x", "Q", np.zeros(D, np.float32), SMOOTH, ATTACK, [0.01])


def _row(label, pred, cert_pred, linf, d, cells):
    return {"record": f"r{id(cells)}", "label": label, "d": d, "pred": pred, "cert_pred": cert_pred,
            "linf_mv": linf, "radius_mv": linf * math.sqrt(d), "correct": pred == label,
            "eps": [{"eps_mv": e, "certified": cert_pred == label and linf >= e, "adv_pred": a,
                     "robust": a == label} for e, a in cells]}


def test_summary_counts_over_all_records_and_success_over_the_correct_ones():
    rows = [_row("N", "N", "N", 0.02, 100, [(0.01, "N"), (0.03, "A")]),
            _row("A", "A", "A", 0.005, 400, [(0.01, None), (0.03, "N")]),
            _row("O", "O", None, 0.0, 100, [(0.01, "O"), (0.03, "O")]),
            _row("N", None, None, 0.0, 100, []),
            _row("N", "A", "A", 0.5, 100, [])]
    s = summarize(rows, [0.01, 0.03])
    assert s["n"] == 5 and s["clean"]["k"] == 3 and s["abstained"] == 1 and s["d_median"] == 100
    t1, t3 = s["table"]
    assert t1["l2_radius_mv"] == pytest.approx(0.01 * 10)
    assert (t1["certified"]["k"], t1["certified"]["n"]) == (1, 5)
    assert (t1["robust"]["k"], t1["robust"]["n"]) == (2, 5)
    assert (t1["success"]["k"], t1["success"]["n"]) == (1, 3) and t1["abstained_adv"] == 1
    assert t3["certified"]["k"] == 0 and t3["robust"]["k"] == 1 and t3["success"]["k"] == 2
    lo, hi = t1["robust"]["ci95"]
    assert lo < 0.4 < hi
    rows[0]["eps"][1]["certified"] = True  # certified yet broken: counted (a failed certificate)
    assert summarize(rows, [0.01, 0.03])["table"][1]["certified_but_broken"] == 1
    with pytest.raises(UserError, match="lacks"):
        summarize(rows, [0.01, 0.02])


def test_results_file_resumes_and_refuses_another_run(tmp_path):
    clf = trap_classifier()
    sigs = [np.full(D, v, np.float32) for v in (S0, -S0, S0 + 0.01)]
    out = str(tmp_path / "sa.jsonl")
    first = run_smooth_attack(clf, ["a", "b"], ["N", "N"], sigs[:2], SMOOTH, ATTACK, [0.1], out)
    assert first["done_before"] == 0 and first["n"] == 2 and len(open(out).read().splitlines()) == 3
    doc = run_smooth_attack(clf, ["a", "b", "c"], ["N", "N", "N"], sigs, SMOOTH, ATTACK, [0.1], out)
    assert doc["done_before"] == 2 and doc["n"] == 3 and doc["rows"][0] == first["rows"][0]
    assert [t["robust"]["k"] for t in doc["table"]] == [0] and doc["clean"]["k"] == 2
    kept = open(out, "rb").read()
    for kw in (dict(smooth=SmoothParams(sigma_mv=0.2, n0=20, n=1000)), dict(eps_list=[0.05]),
               dict(attack=AttackParams(steps=3))):
        args = {**dict(smooth=SMOOTH, attack=ATTACK, eps_list=[0.1]), **kw}
        with pytest.raises(UserError, match="another run"):
            run_smooth_attack(clf, ["a"], ["N"], sigs[:1], args["smooth"], args["attack"], args["eps_list"], out)
    assert open(out, "rb").read() == kept
    (tmp_path / "other.jsonl").write_text('{"kind": "certify-eval"}\n')
    with pytest.raises(UserError, match="not a smooth-attack results file"):
        run_smooth_attack(clf, ["a"], ["N"], sigs[:1], SMOOTH, ATTACK, [0.1], str(tmp_path / "other.jsonl"))


def _cli_error(capsys, *argv) -> str:
    """Run the command in this process: exit code 2 and one 'error:' line, nothing on stdout."""
    from engine.cli import main

    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    out, err = capsys.readouterr()
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and out.strip() == "" and len(lines) == 1 and lines[0].startswith("error:"), (code, out, err)
    assert "Traceback" not in err
    return lines[0]


def test_cli_bad_input_is_one_line(capsys, tmp_path):
    base = ["smooth-attack", SAMPLES, "--device", "cpu"]
    assert "--sigma" in _cli_error(capsys, *base, "--eps", "0.01")
    assert "--eps" in _cli_error(capsys, *base, "--sigma", "0.1")
    for bad in ("abc", "0", "-0.01", ",", "10"):
        assert "--eps" in _cli_error(capsys, *base, "--sigma", "0.1", "--eps", bad)
    assert "--draws" in _cli_error(capsys, *base, "--sigma", "0.1", "--eps", "0.01", "--draws", "0")
    assert "--sigma" in _cli_error(capsys, *base, "--sigma", "nan", "--eps", "0.01")
    assert "--n" in _cli_error(capsys, *base, "--sigma", "0.1", "--eps", "0.01", "--n", "0")
    assert "dataset folder" in _cli_error(capsys, "smooth-attack", SAMPLES / "A00001.hea", "--sigma", "0.1",
                                          "--eps", "0.01")
    assert "folder" in _cli_error(capsys, *base, "--sigma", "0.1", "--eps", "0.01", "--results", tmp_path)
    assert "does not exist" in _cli_error(capsys, *base, "--sigma", "0.1", "--eps", "0.01", "--results",
                                          tmp_path / "no" / "r.jsonl")
    other = tmp_path / "cert.jsonl"
    other.write_text('{"kind": "certify-eval"}\n')
    assert "smooth-attack results" in _cli_error(capsys, *base, "--sigma", "0.1", "--eps", "0.01", "--limit", "1",
                                                 "--results", other)
    assert other.read_text() == '{"kind": "certify-eval"}\n'


def test_end_to_end_on_the_bundled_samples(tmp_path):
    from attack_support import DEFAULT_MODEL, model_path

    out = tmp_path / "sa.jsonl"
    cmd = ["smooth-attack", SAMPLES, "--model", model_path(), "--sigma", "0.05", "--eps", "0.01,0.02", "--n", "40",
           "--n0", "8", "--steps", "2", "--draws", "2", "--limit", "3", "--device", "cpu", "--results", out, "--json"]
    proc = run_cli(*cmd)
    assert proc.returncode == 0, proc.stderr
    doc = one_json(proc.stdout)
    assert doc["n"] == 3 and len(doc["rows"]) == 3 and doc["done_before"] == 0
    if model_path() == str(DEFAULT_MODEL):  # the shipped model gets A00001 right: one record is attacked
        assert doc["clean"]["k"] >= 1
    assert [t["eps_mv"] for t in doc["table"]] == [0.01, 0.02]
    for t in doc["table"]:
        assert t["robust"]["n"] == t["certified"]["n"] == 3 and t["success"]["n"] == doc["clean"]["k"]
        assert t["robust"]["k"] <= doc["clean"]["k"] and t["certified"]["k"] <= 3
        assert t["l2_radius_mv"] == pytest.approx(t["eps_mv"] * math.sqrt(doc["d_median"]))
    for r in doc["rows"]:
        assert len(r["eps"]) == (2 if r["correct"] else 0)
        assert all(c["delta_linf_mv"] <= c["eps_mv"] + 1e-6 for c in r["eps"])
    lines = out.read_text().splitlines()
    assert len(lines) == 4 and json.loads(lines[0])["kind"] == "smooth-attack"
    proc = run_cli(*cmd[:-1])  # text output, resumed: nothing attacked again
    assert proc.returncode == 0, proc.stderr
    assert "certified accuracy" in proc.stdout and "3 records done before" in proc.stdout
    assert out.read_text().splitlines() == lines


def test_results_file_refuses_rows_of_other_data_or_another_model(tmp_path):
    """The header named the model only by name and held nothing of the data: a results file was
    resumed silently, its old rows reported, with another checkpoint of the same name or another
    dataset's records of the same names (or relabelled records)."""
    import torch

    clf = trap_classifier()
    sigs = [np.full(D, v, np.float32) for v in (S0, -S0)]
    out = str(tmp_path / "sa.jsonl")
    run_smooth_attack(clf, ["a", "b"], ["N", "N"], sigs, SMOOTH, ATTACK, [0.1], out)
    kept = open(out, "rb").read()
    with pytest.raises(UserError, match="different data: record b"):
        run_smooth_attack(clf, ["a", "b"], ["N", "N"], [sigs[0], sigs[0]], SMOOTH, ATTACK, [0.1], out)
    with pytest.raises(UserError, match="different data: record a"):
        run_smooth_attack(clf, ["a"], ["A"], sigs[:1], SMOOTH, ATTACK, [0.1], out)
    other = trap_classifier()  # same name "trap", other weights (the trap has none: one buffer more)
    other.module.register_buffer("extra", torch.ones(1))
    with pytest.raises(UserError, match="model_sha"):
        run_smooth_attack(other, ["a"], ["N"], sigs[:1], SMOOTH, ATTACK, [0.1], out)
    assert open(out, "rb").read() == kept
    doc = run_smooth_attack(clf, ["a", "b"], ["N", "N"], [sigs[0], sigs[0]], SMOOTH, ATTACK, [0.1], out,
                            restart=True)
    assert doc["done_before"] == 0 and doc["n"] == 2
