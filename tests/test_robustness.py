"""Robustness sweep: n, exact intervals and per-class rates in the table and plot; the α rule as an
explicit option recorded in the output."""

from __future__ import annotations

import json

import numpy as np
import pytest

from attack_support import SAMPLES, load_model, model_path
from engine.attacks import AttackParams
from engine.cli import main as cli_main
from engine.datasets import open_dataset
from engine.intervals import clopper_pearson
from engine.robustness import alpha_rule, format_table, plot_robustness, run_robustness


def _doc(rule="ratio:0.1"):
    """A sweep result as run_robustness returns it (no attack run)."""
    def cell(eps, k, n, per):
        return {"method": "sap", "eps_mv": eps, "alpha_mv": eps / 10, "n": 12, "correct": n, "attacked": n,
                "success": k, "success_rate": k / n, "success_ci95": list(clopper_pearson(k, n)),
                "per_class": per, "misclassified_flip_rate": None, "mean_linf_mv": eps, "mean_l2_mv": 0.1,
                "mean_smoothness": 1e-7, "mean_square_wave": 0.1, "results_file": None}
    per = {"N": {"attacked": 6, "success": 2, "success_rate": 2 / 6, "success_ci95": [0.0433, 0.7772]}}
    return {"model": "m", "methods": ["sap"], "eps_mv": [0.005, 0.01], "n": 12, "alpha_rule": rule,
            "table": [cell(0.005, 1, 10, per), cell(0.01, 7, 10, per)]}


def test_alpha_rule_names_the_rule():
    assert alpha_rule(0.1) == "ratio:0.1"
    assert alpha_rule(0.25, None) == "ratio:0.25"
    assert alpha_rule(0.1, 0.002) == "fixed:0.002"


def test_table_text_has_n_interval_and_classes():
    text = format_table(_doc())
    assert "step α: ε × 0.1 (ratio:0.1)" in text
    assert "10.0% (1/10, 95% CI 0.3–44.5%)" in text
    assert "70.0% (7/10, 95% CI 34.8–93.3%)" in text
    assert "N 33.3% (2/6, 95% CI" in text
    assert "fixed 0.002 mV" in format_table(_doc("fixed:0.002"))


def test_plot_has_error_bars_and_n(tmp_path, monkeypatch):
    import engine.robustness as rob

    seen = {}
    real_save = rob.save_png

    def spy(fig, path, overwrite=False):  # look at the figure as it is written
        ax = fig.axes[0]
        seen["legend"] = [t.get_text() for t in ax.get_legend().get_texts()]
        seen["notes"] = [t.get_text() for t in ax.texts]
        seen["bars"] = [c for c in ax.containers if type(c).__name__ == "ErrorbarContainer"]
        return real_save(fig, path, overwrite)

    monkeypatch.setattr(rob, "save_png", spy)
    png = plot_robustness(_doc(), str(tmp_path / "r.png"))
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    assert any("n = 10" in t and "95% CI" in t for t in seen["legend"]), seen
    assert seen["notes"] == ["1/10", "7/10"]
    (bar,) = seen["bars"]
    segs = bar.lines[2][0].get_segments()  # vertical error bars: from lower to upper bound, in %
    assert np.allclose([s[:, 1] for s in segs], [[0.253, 44.50], [34.75, 93.33]], atol=0.05)


def test_sweep_records_rule_intervals_and_classes(tmp_path):
    clf = load_model()
    ds = open_dataset(SAMPLES)
    names = ds.names[:3]
    base = AttackParams(steps=2)
    doc = run_robustness(clf, ds, names, methods=["pgd"], eps_list=[0.01], base=base, alpha_mv=0.002)
    assert doc["alpha_rule"] == "fixed:0.002"
    (r,) = doc["table"]
    assert r["alpha_mv"] == 0.002
    assert r["attacked"] >= 1 and r["success_ci95"][0] <= r["success_rate"] <= r["success_ci95"][1]
    assert sum(v["attacked"] for v in r["per_class"].values()) == r["attacked"]
    doc = run_robustness(clf, ds, names, methods=["pgd"], eps_list=[0.01], base=base, alpha_ratio=0.2)
    assert doc["alpha_rule"] == "ratio:0.2" and doc["table"][0]["alpha_mv"] == pytest.approx(0.002)


def test_cli_json_records_alpha_rule(capsys, tmp_path):
    rc = cli_main(["robustness", str(SAMPLES), "--eps", "0.01", "--method", "pgd", "--limit", "2", "--steps", "1",
                   "--model", model_path(), "--alpha-ratio", "0.5", "--json"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["alpha_rule"] == "ratio:0.5" and doc["table"][0]["alpha_mv"] == pytest.approx(0.005)
    assert "success_ci95" in doc["table"][0] and "per_class" in doc["table"][0]


def test_plots_leave_pyplot_alone_and_draw_from_a_thread(tmp_path):
    """engine.figures: no pyplot (no global figure state, no GUI backend chosen), so a plot can be
    drawn in a worker thread, as the window's jobs do; the report helper gives a base64 PNG."""
    import subprocess
    import sys

    import json

    code = ("import sys, threading, base64; "
            "from engine.robustness import plot_robustness; from engine.figures import figure, png_base64; "
            f"doc = {json.dumps(_doc())!r}; import json; "
            f"t = threading.Thread(target=plot_robustness, args=(json.loads(doc), {str(tmp_path / 'r.png')!r})); "
            "t.start(); t.join(); "
            "print(base64.b64decode(png_base64(figure(2, 1)))[:4] == b'\\x89PNG', "
            "'matplotlib.pyplot' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.split() == ["True", "False"], out.stderr
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"


def test_unreadable_records_are_counted_and_said(capsys, tmp_path):
    """A record that cannot be read was left out of every rate without a word (top-level n 3,
    table n 2, no error count, nothing in the text); attack-eval says so. Now each cell counts
    them ("errors") and the text names how many were left out."""
    import shutil

    for name in ("A00001", "A00002", "A00006"):
        for ext in (".hea", ".mat"):
            shutil.copy(SAMPLES / f"{name}{ext}", tmp_path / f"{name}{ext}")
    (tmp_path / "A00002.mat").write_bytes((SAMPLES / "A00002.mat").read_bytes()[:5000])  # truncated
    (tmp_path / "REFERENCE.csv").write_text("A00001,N\nA00002,N\nA00006,N\n")
    argv = ["robustness", str(tmp_path), "--eps", "0.01", "--method", "pgd", "--steps", "1",
            "--model", model_path()]
    assert cli_main(argv + ["--json"]) == 0
    (r,) = json.loads(capsys.readouterr().out)["table"]
    assert r["errors"] == 1 and r["n"] == 2
    assert cli_main(argv) == 0
    assert "1 record could not be read and is left out of the rates" in capsys.readouterr().out
    assert "could not be read" not in format_table(_doc())
