"""Robustness card (issue 15 §3): the document, HTML/PDF/JSON outputs, resuming from the cells' results
files, a saved universal perturbation, band-eval files, key figures, and bad input before any work."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from conftest import assert_user_error, one_json, run_cli
from engine.errors import UserError

TINY = ["--model", "default", "--steps", "2", "--sap-steps", "2", "--iterations", "3", "--queries", "10", "--eps-list", "0.01,0.05",
        "--ensemble-eps", "0.01,0.05", "--universal-split", "strat-train", "--universal-steps", "1",
        "--universal-passes", "1"]


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: one intra-op thread


@pytest.fixture(scope="module")
def clf():
    from engine.models.checkpoint import resolve_model

    return resolve_model("default", "cpu")


@pytest.fixture(scope="module")
def cli_card(samples, tmp_path_factory):
    """One card built by the command on the 12 bundled samples, tiny settings: (folder, process, doc)."""
    folder = tmp_path_factory.mktemp("card")
    proc = run_cli("robustness-card", samples, "--out", folder / "card.html", "--pdf", folder / "card.pdf",
                   *TINY, "--json", timeout=300)
    assert proc.returncode == 0, proc.stderr
    return folder, proc, one_json(proc.stdout)


def test_card_document(cli_card):
    _, _, doc = cli_card
    assert doc["kind"] == "ecgadv-robustness-card/1" and doc["model"] == "default"
    assert doc["data"]["records"] == 12 and len(doc["data"]["digest"]) == 16
    c = doc["clean"]
    assert c["accuracy_rate"]["n"] == 12 and c["accuracy_rate"]["ci95"] is not None
    assert np.asarray(c["confusion"]).sum() == 12 and set(c["f1"]) == {"N", "A", "O", "~"}
    got = {(a["method"], a["eps_mv"]) for a in doc["attacks"]}
    assert got == {(m, e) for m in ("pgd", "sap", "apgd-ce", "square") for e in (0.01, 0.05)}
    for a in doc["attacks"]:
        assert a["box"] == ("black-box" if a["method"] == "square" else "white-box")
        assert a["rate"]["n"] == a["attacked"] and a["rate"]["ci95"] is not None
        assert set(a["per_class"]) <= {"N", "A", "O", "~"}
        p = a["perceptibility"]
        assert set(p) == {"snr_db", "prd", "smoothness", "square_wave"}
        assert all(d["n"] == a["success"] for d in (p["prd"], p["smoothness"]))  # the successful examples
    sq = [a for a in doc["attacks"] if a["method"] == "square"]
    assert all(a["queries_median"] is not None and a["queries_median"] <= 10 for a in sq)
    assert [e["eps_mv"] for e in doc["ensemble"]] == [0.01, 0.05]
    for e in doc["ensemble"]:
        r = e["robust"]
        assert r["n"] == 12 and 0 <= r["k"] <= doc["clean"]["accuracy_rate"]["k"]
    # a stronger budget never leaves more records robust (same records, same attacks)
    assert doc["ensemble"][1]["robust"]["k"] <= doc["ensemble"][0]["robust"]["k"]
    u = doc["universal"]
    assert u["source"] == "fitted" and u["fit_split"] == "strat-train"
    assert u["records"] + u["excluded_fit_records"] == 12 and u["summary"]["fooling"]["n"] == u["records"]
    prov = doc["provenance"]
    assert {"torch", "numpy", "python", "ecgadv"} <= set(prov["versions"]) and prov["seconds"] > 0
    assert "Model card" in prov["model_card"] and prov["results_dir"].endswith("card.results")
    json.dumps(doc, allow_nan=False)


def test_card_files(cli_card):
    folder, proc, doc = cli_card
    page = (folder / "card.html").read_text(encoding="utf-8")
    for text in ("Clean performance", "Confusion matrix", "Attack success vs ε", "Robust accuracy under the ensemble",
                 "Perceptibility", "Universal perturbation", "Provenance", "Model card"):
        assert text in page, text
    assert "<svg" in page and "data:image/png;base64," in page and "95% CI" in page
    assert (folder / "card.pdf").read_bytes()[:5] == b"%PDF-"
    cells = sorted(os.listdir(folder / "card.results"))
    assert len(cells) == 8 + 2 and all(c.endswith(".jsonl") for c in cells)
    assert doc["outputs"]["html"].endswith("card.html")


def test_card_resumes_its_cells(cli_card, samples):
    """A rerun reads every finished cell back instead of attacking again: same numbers, files untouched."""
    folder, _, doc = cli_card
    res = folder / "card.results"
    before = {f: (res / f).stat().st_mtime_ns for f in os.listdir(res)}
    proc = run_cli("robustness-card", samples, "--out", folder / "card.html", *TINY, "--overwrite", "--json",
                   timeout=300)
    assert proc.returncode == 0, proc.stderr
    again = one_json(proc.stdout)
    assert {f: (res / f).stat().st_mtime_ns for f in os.listdir(res)} == before
    assert [a["rate"] for a in again["attacks"]] == [a["rate"] for a in doc["attacks"]]
    assert [e["robust"] for e in again["ensemble"]] == [e["robust"] for e in doc["ensemble"]]


def test_card_with_a_saved_universal_perturbation(clf, samples, tmp_path):
    from engine.attack_eval import model_fingerprint, read_inputs
    from engine.card.build import CardSettings, build_card, card_params
    from engine.datasets import open_dataset
    from engine.universal import fit_universal, save_universal

    ds = open_dataset(samples)
    names = list(ds.names)
    inputs, _, _ = read_inputs(ds, names[:3], None)
    uap = fit_universal(clf, inputs, eps_mv=0.03, steps=1, passes=1, batch_size=3)
    uap.model_sha = model_fingerprint(clf)
    save_universal(uap, str(tmp_path / "u.npz"))
    s = CardSettings(attacks=("pgd",), eps_list=(0.01,), ensemble_eps=(), base=card_params(steps=1),
                     universal_file=str(tmp_path / "u.npz"))
    seen = []
    doc = build_card(clf, ds, names[:5], "all", s, progress=lambda d, t, m="": seen.append(m))
    u = doc["universal"]
    assert u["source"] == "file" and u["eps_mv"] == 0.03 and not u["transfer"]
    assert u["excluded_fit_records"] == 3 and u["records"] == 2  # the fitting records are never counted
    assert doc["ensemble"] == [] and len(doc["attacks"]) == 1 and doc["provenance"]["results_dir"] is None
    assert any("card cell 1/1" in m for m in seen)


def test_band_eval_file_of_another_model_is_refused(clf, tmp_path):
    from engine.card.build import read_band_eval

    path = tmp_path / "band.jsonl"
    path.write_text(json.dumps({"kind": "ecgadv-band-eval/1", "model": "other", "model_sha": "0" * 16}) + "\n")
    with pytest.raises(UserError, match="another model"):
        read_band_eval(str(path), "1" * 16)
    got = read_band_eval(str(path), "0" * 16)
    assert got["rows"] == {} and got["header"]["model"] == "other"
    with pytest.raises(UserError, match="does not exist"):
        read_band_eval(str(tmp_path / "none.jsonl"), "0" * 16)


def test_statistics():
    from engine.card.build import clean_metrics, distribution, perceptibility, robust_accuracy

    d = distribution([1.0, 2.0, 3.0, 4.0, None, float("nan")], bins=3)
    assert d["n"] == 4 and d["median"] == 2.5 and d["q25"] == 1.75 and sum(d["hist"]["counts"]) == 4
    assert distribution([])["n"] == 0 and distribution([2.0, 2.0])["hist"]["counts"][0] == 2
    rows = [{"record": "a", "true": "N", "orig_pred": "N", "success": True, "correct": True, "snr_db": 30.0,
             "fooled_by": "apgd-ce"},
            {"record": "b", "true": "N", "orig_pred": "N", "success": False, "correct": True, "snr_db": 10.0},
            {"record": "c", "true": "A", "orig_pred": "N", "success": True, "correct": False, "snr_db": 5.0},
            {"record": "d", "error": "unreadable"}]
    r = robust_accuracy(rows, ["N", "A", "O", "~"])
    assert r["robust"]["k"] == 1 and r["robust"]["n"] == 3 and r["fooled_by"] == {"apgd-ce": 1}
    assert r["per_class"]["A"]["k"] == 0 and "O" not in r["per_class"]
    p = perceptibility(rows)
    assert p["snr_db"]["n"] == 1 and p["snr_db"]["median"] == 30.0  # successful and correctly classified only
    c = clean_metrics(rows, ["N", "A", "O", "~"])
    assert c["accuracy_rate"]["k"] == 2 and c["accuracy_rate"]["n"] == 3 and c["confusion"][1][0] == 1


def test_key_figures_and_comparison(cli_card):
    from engine.card.render import card_text, compare_rows, key_figures

    _, _, doc = cli_card
    k = key_figures(doc)
    assert k["Records"] == "12" and "Robust accuracy (ensemble), ε 0.01 mV" in k
    other = json.loads(json.dumps(doc))
    other["attacks"] = other["attacks"][:1]
    rows = compare_rows(doc, other)
    assert rows[0] == ("Records", "12", "12")
    assert ("sap success, ε 0.05 mV", k["sap success, ε 0.05 mV"], "–") in rows
    assert "Robust accuracy" in card_text(doc)


@pytest.mark.parametrize("args,msg", [
    (["--out", "{tmp}/card.txt"], ".html"),
    (["--out", "{tmp}/c.html", "--pdf", "{tmp}/c.doc"], ".pdf"),
    (["--out", "{tmp}/no/such/c.html"], "does not exist"),
    (["--out", "{tmp}/c.html", "--eps-list", "0.01,abc"], "--eps-list"),
    (["--out", "{tmp}/c.html", "--eps-list", "9"], "--eps-list"),
    (["--out", "{tmp}/c.html", "--ensemble-eps", "-1"], "--ensemble-eps"),
    (["--out", "{tmp}/c.html", "--attacks", "nope"], "unknown attack"),
    (["--out", "{tmp}/c.html", "--attacks", "none", "--ensemble-eps", "none"], "at least one"),
    (["--out", "{tmp}/c.html", "--universal", "{tmp}/none.npz"], "does not exist"),
    (["--out", "{tmp}/c.html", "--universal", "{tmp}/x.npz", "--no-universal"], "either"),
    (["--out", "{tmp}/c.html", "--band-eval", "{tmp}/none.jsonl"], "does not exist"),
    (["--out", "{tmp}/exists.html"], "already exists"),
    (["--out", "{tmp}/c.html", "--split", "nope"], "unknown split"),
    (["--out", "{tmp}/c.html", "--universal-split", "nope"], "unknown split"),
])
def test_card_bad_input_before_any_work(samples, tmp_path, args, msg):
    (tmp_path / "exists.html").write_text("keep me")
    proc = run_cli("robustness-card", samples, *[a.format(tmp=tmp_path) for a in args])
    assert_user_error(proc, msg)
    assert (tmp_path / "exists.html").read_text() == "keep me"
    assert not (tmp_path / "c.results").exists()  # no cell was started


def test_card_shards_under_torchrun(cli_card, samples, tmp_path):
    """Two ranks share the records of every cell; rank 0 merges them and alone writes the card."""
    import subprocess
    import sys
    from pathlib import Path

    from conftest import ROOT

    torchrun = Path(sys.executable).with_name("torchrun")
    if not torchrun.is_file():
        pytest.skip("torchrun not installed")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([str(torchrun), "--nproc_per_node", "2", "--master_port", "29741", "main.py",
                           "robustness-card", str(samples), "--out", str(tmp_path / "card.html"), *TINY,
                           "--device", "cpu", "--json"], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = one_json(proc.stdout)
    _, _, single = cli_card
    assert doc["provenance"]["world_size"] == 2 and (tmp_path / "card.html").is_file()
    assert [(a["method"], a["eps_mv"], a["rate"]["n"]) for a in doc["attacks"]] == \
        [(a["method"], a["eps_mv"], a["rate"]["n"]) for a in single["attacks"]]
    pgd = [(a["rate"]["k"], a["eps_mv"]) for a in doc["attacks"] if a["method"] == "pgd"]
    assert pgd == [(a["rate"]["k"], a["eps_mv"]) for a in single["attacks"] if a["method"] == "pgd"]
    assert not [f for f in os.listdir(tmp_path / "card.results") if f.endswith(".part")]
