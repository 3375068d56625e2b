"""Card comparison (issue 16 §3): `robustness-card compare` over saved cards and certify summaries.

Two real cards (the default model and an untrained one) on six bundled records with tiny attack
settings and one real certify summary are made once; refusals use copies of them with one field
changed. The table's values must be the cards' own numbers."""

from __future__ import annotations

import copy
import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import SAMPLES, assert_user_error, one_json, run_cli
from engine.errors import UserError

RECORDS = 6


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: one intra-op thread


@pytest.fixture(scope="module")
def made(samples, tiny_model, tmp_path_factory):
    """{"a", "b": card paths, "cert", "certl": certify summary (JSON) and results file (JSONL), "smooth",
    "smoothl": the same of smooth-attack, and each "<key>_doc"}."""
    from engine.card.build import CardSettings, build_card, card_params
    from engine.datasets import open_dataset
    from engine.models.checkpoint import resolve_model
    from engine.workbench.selection import split_records

    folder = tmp_path_factory.mktemp("compare")
    ds = open_dataset(str(samples), None)
    names = split_records(ds, "all", RECORDS, need_labels=True)
    base = card_params(steps=2, sap_steps=2, iterations=3, queries=10)
    out = {}
    for key, model, attacks, eps in (("a", "default", ("pgd", "sap"), (0.01, 0.05)),
                                     ("b", str(tiny_model), ("pgd",), (0.01, 0.02, 0.05))):
        clf = resolve_model(model, "cpu")
        doc = build_card(clf, ds, names, "all", CardSettings(attacks=attacks, eps_list=eps, ensemble_eps=(0.01,),
                                                             base=base, universal=False))
        path = folder / f"{key}.json"
        path.write_text(json.dumps(doc))
        out[key], out[key + "_doc"] = str(path), doc
    proc = run_cli("certify", samples, "--sigma", "0.05", "--n0", "10", "--n", "50", "--limit", RECORDS,
                   "--model", "default", "--out", folder / "cert.jsonl", "--json")  # card a's model, smoothed
    assert proc.returncode == 0, proc.stderr
    (folder / "cert.json").write_text(proc.stdout)
    out.update(cert=str(folder / "cert.json"), certl=str(folder / "cert.jsonl"), cert_doc=one_json(proc.stdout),
               folder=folder)
    proc = run_cli("smooth-attack", samples, "--sigma", "0.05", "--eps", "0.01,0.05", "--steps", "2", "--draws", "2",
                   "--n0", "10", "--n", "50", "--limit", RECORDS, "--model", "default", "--results", folder / "smooth.jsonl",
                   "--json")
    assert proc.returncode == 0, proc.stderr
    (folder / "smooth.json").write_text(proc.stdout)
    out.update(smooth=str(folder / "smooth.json"), smoothl=str(folder / "smooth.jsonl"),
               smooth_doc=one_json(proc.stdout))
    return out


def variant(made, tmp_path, name: str, change, base: str = "b") -> str:
    """A copy of card `base` (or of the certify summary, base='cert') with `change(doc)` applied."""
    doc = copy.deepcopy(made[base + "_doc"])
    change(doc)
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return str(path)


def _rows(comp, group=None):
    return [r for r in comp["rows"] if group is None or r["group"].startswith(group)]


def _kn(r):
    return None if r is None else (r["k"], r["n"])


# -- the table's values are the cards' numbers ----------------------------------------------------------

def test_table_values_are_the_cards_numbers(made):
    from engine.card.compare import compare

    comp = compare([made["a"], made["b"]])
    a, b = made["a_doc"], made["b_doc"]
    assert [c["label"] for c in comp["columns"]] == ["default", b["model"]]
    assert comp["eps_mv"] == [0.01, 0.05] and comp["ensemble_eps_mv"] == [0.01]
    assert any("0.02" in n and "common" in n for n in comp["notes"])  # B's 0.02 mV left out, and said so
    assert any("sap" in n for n in comp["notes"])
    by = {r["measure"]: r for r in comp["rows"]}
    acc = by["Clean accuracy"]["cells"]
    assert _kn(acc[0]) == _kn(a["clean"]["accuracy_rate"]) and _kn(acc[1]) == _kn(b["clean"]["accuracy_rate"])
    assert acc[0]["ci95"] == pytest.approx(a["clean"]["accuracy_rate"]["ci95"])
    assert by["Mean F1 (N, A, O)"]["cells"] == [a["clean"]["f1_mean_nao"], b["clean"]["f1_mean_nao"]]
    attack_rows = _rows(comp, "Attack success")
    assert len(attack_rows) == 4  # pgd and sap at the two common ε
    for r in attack_rows:
        for i, doc in enumerate((a, b)):
            want = [x["rate"] for x in doc["attacks"] if x["method"] == r["attack"] and x["eps_mv"] == r["eps_mv"]]
            assert _kn(r["cells"][i]) == (_kn(want[0]) if want else None)
            if want:
                assert r["cells"][i]["ci95"] == pytest.approx(want[0]["ci95"])
    assert by["sap, ε 0.05 mV"]["cells"][1] is None  # B ran no SAP
    robust = by["Robust accuracy (ensemble; smoothed: EOT-PGD), ε 0.01 mV"]
    for i, doc in enumerate((a, b)):
        e = doc["ensemble"][0]
        assert _kn(by["Ensemble success, ε 0.01 mV"]["cells"][i]) == _kn(e["success"])
        assert _kn(robust["cells"][i]) == _kn(e["robust"]) and robust["by"][i] == "ensemble"
        strongest = by["Strongest single attack, ε 0.05 mV"]
        rates = [x["rate"]["k"] / x["rate"]["n"] for x in doc["attacks"] if x["eps_mv"] == 0.05]
        assert strongest["cells"][i]["rate"] == pytest.approx(max(rates))
        assert strongest["by"][i] in {x["method"] for x in doc["attacks"]}
    assert not _rows(comp, "Certified")  # no smoothed model, no certified rows
    json.dumps(comp, allow_nan=False)


def _f1(rows, pred_key):
    from engine.datasets import CLASSES
    from engine.metrics import summarize

    return summarize([r["label"] for r in rows], [r[pred_key] or "abstain" for r in rows],
                     list(CLASSES) + ["abstain"])["f1_mean_nao"]


def test_smoothed_model_column_holds_its_certify_and_smooth_attack_numbers(made):
    from engine.card.compare import compare

    comp = compare([made["a"], made["b"]], [made["cert"]], smooth_paths=[made["smooth"]])
    cert, sm = made["cert_doc"], made["smooth_doc"]
    col = comp["columns"][2]
    assert len(comp["columns"]) == 3 and col["label"] == "default smoothed (σ 0.05 mV)"
    assert col["certify"] == made["cert"] and col["smooth_attack"] == made["smooth"] and col["card"] is None
    by = {r["measure"]: r for r in comp["rows"]}
    assert _kn(by["Clean accuracy"]["cells"][2]) == _kn(sm["clean"])  # the smoothed classifier's (PREDICT)
    assert by["Mean F1 (N, A, O)"]["cells"][2] == pytest.approx(_f1(sm["rows"], "pred"))
    for t in sm["table"]:
        e = t["eps_mv"]
        eot = by[f"eot-pgd through the noise (smoothed), ε {e:g} mV"]["cells"]
        assert eot[:2] == [None, None] and _kn(eot[2]) == _kn(t["success"])
        assert _kn(by[f"Strongest single attack, ε {e:g} mV"]["cells"][2]) == _kn(t["success"])
        assert _kn(by[f"Robust accuracy (ensemble; smoothed: EOT-PGD), ε {e:g} mV"]["cells"][2]) == _kn(t["robust"])
    # certified numbers come from the certify run: radius 0, and at ε from its rows' L∞ bounds
    radius0 = by["Certified accuracy, L2 radius 0 (abstain = wrong)"]["cells"]
    assert radius0[:2] == [None, None] and _kn(radius0[2]) == (cert["table"][0]["k"], cert["table"][0]["n"])
    paper = [r for r in comp["rows"] if "the paper's ε" in r["measure"]][0]
    assert _kn(paper["cells"][2]) == _kn(cert["certified_at_paper_eps"]) and paper["cells"][:2] == [None, None]
    at05 = [r for r in comp["rows"] if r.get("certified") and r["eps_mv"] == 0.05][0]
    k = sum(1 for r in cert["rows"] if r["pred"] == r["label"] and r["linf_mv"] >= 0.05)
    assert _kn(at05["cells"][2]) == (k, cert["n"])
    assert by["Noise σ (mV)"]["cells"] == [None, None, 0.05]
    assert _kn(by["Certify: abstentions (CERTIFY, clean input)"]["cells"][2]) == _kn(cert["abstention"])
    assert [(p["k"], p["n"]) for p in col["certified_curve"]] == [(r["k"], r["n"]) for r in cert["table"]]
    assert col["attack"]["eot_draws"] == 2
    assert any("record names the cards list" in n for n in comp["notes"])
    json.dumps(comp, allow_nan=False)


def test_smooth_attack_alone_and_results_files_read_like_their_summaries(made):
    from engine.card.compare import compare

    only = compare([made["a"], made["b"]], smooth_paths=[made["smooth"]])
    sm = made["smooth_doc"]
    checked = 0
    for r in only["rows"]:
        if r.get("certified") and r["eps_mv"] in (0.01, 0.05):  # from smooth-attack's own CERTIFY
            t = [t for t in sm["table"] if t["eps_mv"] == r["eps_mv"]][0]
            assert _kn(r["cells"][2]) == _kn(t["certified"])
            checked += 1
    assert checked == 2
    jl = compare([made["a"], made["b"]], smooth_paths=[made["smoothl"]])
    assert [r["cells"] for r in jl["rows"]] == [r["cells"] for r in only["rows"]]
    js = compare([made["a"], made["b"]], [made["cert"]])
    jl = compare([made["a"], made["b"]], [made["certl"]])
    assert [r["cells"] for r in js["rows"]] == [r["cells"] for r in jl["rows"]]
    # with a certify summary only, the smoothed column's clean numbers are CERTIFY's
    cert = made["cert_doc"]
    by = {r["measure"]: r for r in js["rows"]}
    assert _kn(by["Clean accuracy"]["cells"][2]) == (cert["table"][0]["k"], cert["n"])
    assert by["Mean F1 (N, A, O)"]["cells"][2] == pytest.approx(_f1(cert["rows"], "pred"))


def test_each_model_and_sigma_is_a_column_and_names_apply(made, tmp_path):
    from engine.card.compare import compare

    wider = variant(made, tmp_path, "c.json", lambda d: d["params"].update(sigma_mv=0.1), base="cert")
    comp = compare([made["a"], made["b"]], [made["cert"], wider], names=["plain", "adv", "s05", "s10"])
    assert [c["label"] for c in comp["columns"]] == ["plain", "adv", "s05", "s10"]
    assert [c["sigma_mv"] for c in comp["columns"]] == [None, None, 0.05, 0.1]
    attack = [r for r in comp["rows"] if r.get("attack") == "pgd"][0]
    assert attack["cells"][2:] == [None, None]  # no card for a smoothed model: no attack numbers made up
    with pytest.raises(UserError, match="--names gives 2 names for 4 columns"):
        compare([made["a"], made["b"]], [made["cert"], wider], names=["x", "y"])


def test_summaries_checked_against_the_dataset(made, samples, tmp_path):
    from engine.card.compare import compare

    comp = compare([made["a"], made["b"]], [made["cert"]], dataset=str(samples))
    assert any("checked against the cards' digest" in n for n in comp["notes"])

    labels = tmp_path / "labels.csv"
    lines = (samples / "REFERENCE.csv").read_text().splitlines()
    labels.write_text("\n".join([lines[0].rsplit(",", 1)[0] + ",~"] + lines[1:]) + "\n")
    with pytest.raises(UserError, match="A00001 another label"):
        compare([made["a"], made["b"]], [made["cert"]], dataset=str(samples), labels=str(labels))

    def rename(d):
        d["rows"][0]["record"] = "Z99999"

    renamed = variant(made, tmp_path, "c.json", rename, base="cert")
    with pytest.raises(UserError, match="other records than the cards"):  # the cards list their records
        compare([made["a"], made["b"]], [renamed])
    # cards of an older version (a digest only, no names): the dataset tells
    old = [variant(made, tmp_path, f"old{k}.json", lambda d: d["data"].pop("names"), base=k) for k in "ab"]
    with pytest.raises(UserError, match="does not have"):
        compare(old, [renamed], dataset=str(samples))
    assert any("split and record count only" in n for n in compare(old, [made["cert"]])["notes"])


def test_same_model_name_for_two_weights_is_told_apart(made, tmp_path):
    from engine.card.compare import compare

    twin = variant(made, tmp_path, "twin.json", lambda d: d.update(model="default"))
    labels = [c["label"] for c in compare([made["a"], twin])["columns"]]
    assert len(set(labels)) == 2 and all(lab.startswith("default (") for lab in labels)


# -- refusals ----------------------------------------------------------------------------------------

def _set(key_path, value):
    def change(d):
        cur = d
        *head, last = key_path
        for k in head:
            cur = cur[k]
        cur[last] = value
    return change


@pytest.mark.parametrize("change,msg", [
    (_set(["data", "split"], "strat-val"), "split"),
    (_set(["data", "digest"], "0123456789abcdef"), "other records"),
    (_set(["data", "records"], RECORDS + 1), "other records"),
    (_set(["data", "lead"], "II"), "lead"),
    (_set(["settings", "params", "iterations"], 99), "iterations"),
    (_set(["settings", "alpha_rule"], "fixed:0.001"), "step rule"),
    (_set(["model_sha"], None), "model_sha"),
    (_set(["clean", "accuracy_rate", "k"], 99), "outside"),
    (_set(["attacks", 0, "eps_mv"], -1), "positive"),
    (_set(["attacks", 0, "rate"], {"k": 1}), "'n'"),
    (_set(["ensemble"], {"eps_mv": 0.01}), "ensemble"),
    (_set(["clean", "f1_mean_nao"], True), "f1_mean_nao"),
    (_set(["kind"], "ecgadv-robustness-card/0"), "not a robustness card"),
])
def test_cards_that_cannot_be_compared_are_refused(made, tmp_path, change, msg):
    from engine.card.compare import compare

    bad = variant(made, tmp_path, "bad.json", change)
    with pytest.raises(UserError, match="(?i)" + msg.replace("(", r"\(")) as exc:
        compare([made["a"], bad])
    assert "\n" not in str(exc.value)


def test_no_common_eps_and_duplicates_are_refused(made, tmp_path):
    from engine.card.compare import compare

    def apart(d):
        d["settings"]["eps_mv"], d["settings"]["ensemble_eps_mv"] = [0.02], []
        d["attacks"] = [x for x in d["attacks"] if x["eps_mv"] == 0.02]
        d["ensemble"] = []

    with pytest.raises(UserError, match="no attack ε"):
        compare([made["a"], variant(made, tmp_path, "apart.json", apart)])
    with pytest.raises(UserError, match="same model weights"):
        compare([made["a"], variant(made, tmp_path, "copy.json", lambda d: None, base="a")])
    with pytest.raises(UserError, match="given twice"):
        compare([made["a"], made["b"], made["a"]])
    with pytest.raises(UserError, match="at least two"):
        compare([made["a"]])


@pytest.mark.parametrize("change,msg", [
    (_set(["split"], "strat-val"), "split"),
    (_set(["n"], RECORDS - 1), "records"),
    (_set(["table"], []), "empty"),
    (_set(["params", "sigma_mv"], "wide"), "sigma_mv"),
    (_set(["params", "sigma_mv"], 0), "positive"),
])
def test_certify_summaries_that_do_not_fit_are_refused(made, tmp_path, change, msg):
    from engine.card.compare import compare

    with pytest.raises(UserError, match=msg):
        compare([made["a"], made["b"]], [variant(made, tmp_path, "c.json", change, base="cert")])


def test_two_certify_summaries_for_one_model_or_other_records_are_refused(made, tmp_path):
    from engine.card.compare import compare

    with pytest.raises(UserError, match="two certify summaries"):
        compare([made["a"], made["b"]], [made["cert"], made["certl"]])

    def rename(d):
        d["model"] = "x"
        d["rows"][0]["record"] = "Z99999"

    with pytest.raises(UserError, match="other records"):
        compare([made["a"], made["b"]], [made["cert"], variant(made, tmp_path, "c.json", rename, base="cert")])

    def relabel(d):
        d["model"] = "x"
        d["rows"][0]["label"] = "~" if d["rows"][0]["label"] != "~" else "N"

    with pytest.raises(UserError, match="other labels"):
        compare([made["a"], made["b"]], [made["cert"], variant(made, tmp_path, "d.json", relabel, base="cert")])


@pytest.mark.parametrize("content,msg", [
    (None, "does not exist"),
    ("", "empty"),
    ("{not json", "not a JSON document"),
    (b"\xff\xfe\x00garbage", "not UTF-8"),
    ("[1, 2]", "not a JSON object"),
    ('{"kind": "ecgadv-robustness-card/1", "model": NaN}', "not a valid JSON"),
    ('{"kind": "something-else"}', "not a robustness card"),
    ('{"table": [], "clean_accuracy": {}}', "certify summary, not a robustness card"),
    ("[" * 100000, "JSON"),
])
def test_bad_card_files_are_one_line_errors(made, tmp_path, content, msg):
    from engine.card.compare import compare

    path = tmp_path / "in.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(UserError, match=msg) as exc:
        compare([made["a"], str(path)])
    assert "\n" not in str(exc.value)


def test_wrong_kind_of_certify_input_is_refused(made, tmp_path):
    from engine.card.compare import compare

    rec = tmp_path / "rec.json"
    rec.write_text(json.dumps({"model": "default", "params": {}, "results": []}))
    with pytest.raises(UserError, match="single records"):
        compare([made["a"], made["b"]], [str(rec)])
    card = variant(made, tmp_path, "card.json", lambda d: None, base="a")
    with pytest.raises(UserError, match="robustness card, not a certify"):
        compare([made["a"], made["b"]], [card])
    other = tmp_path / "x.json"
    other.write_text('{"model": "m"}')
    with pytest.raises(UserError, match="not a certify summary"):
        compare([made["a"], made["b"]], [str(other)])
    with pytest.raises(UserError, match="not a certify summary"):
        compare([made["a"], made["b"]], [made["smooth"]])
    with pytest.raises(UserError, match="certify summary, not a smooth-attack"):
        compare([made["a"], made["b"]], smooth_paths=[made["cert"]])
    with pytest.raises(UserError, match="robustness card, not a smooth-attack"):
        compare([made["a"], made["b"]], smooth_paths=[card])
    with pytest.raises(UserError, match="not a smooth-attack summary"):
        compare([made["a"], made["b"]], smooth_paths=[str(other)])
    with pytest.raises(UserError, match="given twice"):
        compare([made["a"], made["b"]], [made["cert"]], smooth_paths=[made["cert"]])


@pytest.mark.parametrize("change,msg", [
    (_set(["split"], "strat-val"), "split"),
    (_set(["n"], RECORDS + 2), "records"),
    (lambda d: d["table"][0].pop("robust"), "robust"),
    (_set(["header", "smooth", "sigma_mv"], None), "sigma_mv"),
    (lambda d: d["rows"].append(dict(d["rows"][0])), "twice"),
    (lambda d: d["rows"][1].pop("linf_mv"), "rows"),
])
def test_smooth_attack_summaries_that_do_not_fit_are_refused(made, tmp_path, change, msg):
    from engine.card.compare import compare

    with pytest.raises(UserError, match=msg):
        compare([made["a"], made["b"]], smooth_paths=[variant(made, tmp_path, "s.json", change, base="smooth")])


_JSON = st.recursive(st.none() | st.booleans() | st.integers(-3, 10 ** 6) | st.floats(allow_nan=False)
                     | st.text(max_size=5), lambda kids: st.lists(kids, max_size=3)
                     | st.dictionaries(st.text(max_size=5), kids, max_size=3), max_leaves=6)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(where=st.lists(st.sampled_from(["model", "data", "settings", "clean", "attacks", "ensemble", "split",
                                      "records", "digest", "eps_mv", "params", "rate", "k", "n", "accuracy_rate",
                                      "robust", "success", "method", 0, 1]), min_size=1, max_size=3),
       value=_JSON)
def test_fuzzed_cards_give_a_comparison_or_a_one_line_error(made, tmp_path, where, value):
    """Any field of a card replaced by any JSON value: a comparison or a UserError, never a crash."""
    from engine.card.compare import compare
    from engine.card.render import markdown

    doc = copy.deepcopy(made["b_doc"])
    cur = doc
    for k in where[:-1]:
        nxt = cur[k] if isinstance(cur, dict) and k in cur else (
            cur[k] if isinstance(cur, list) and isinstance(k, int) and k < len(cur) else None)
        if not isinstance(nxt, (dict, list)):
            break
        cur = nxt
    k = where[-1]
    if isinstance(cur, dict):
        cur[k] = value
    elif isinstance(k, int) and k < len(cur):
        cur[k] = value
    path = tmp_path / "fuzz.json"
    path.write_text(json.dumps(doc))
    try:
        comp = compare([made["a"], str(path)])
    except UserError as exc:
        assert "\n" not in str(exc)
        return
    markdown(comp)


# -- outputs and the command ----------------------------------------------------------------------------

def test_markdown_and_html(made):
    from engine.card.compare import compare
    from engine.card.render import cell_text, comparison_html, markdown

    comp = compare([made["a"], made["b"]], [made["cert"]], names=["plain", "other | <model>", "smoothed"])
    md = markdown(comp)
    table = [ln for ln in md.splitlines() if ln.startswith("|")]
    assert table[0] == "| Measure | plain | other \\| &lt;model&gt; | smoothed |" and table[1] == "|---|---|---|---|"
    assert all(ln.replace("\\|", "").count("|") == 5 for ln in table)  # every row has four cells
    acc = [r for r in comp["rows"] if r["measure"] == "Clean accuracy"][0]
    assert f"| Clean accuracy | {cell_text(acc, 0)} | {cell_text(acc, 1)} | {cell_text(acc, 2)} |" in md
    a = made["a_doc"]["clean"]["accuracy_rate"]
    assert cell_text(acc, 0).startswith(f"{100 * a['k'] / a['n']:.1f}% ({a['k']}/{a['n']}, 95% CI ")
    pgd = [r for r in comp["rows"] if r.get("attack") == "pgd"][0]
    assert cell_text(pgd, 2) == "–" and f"| {cell_text(pgd, 0)} | {cell_text(pgd, 1)} | – |" in md
    assert "| **Certified (randomised smoothing)** |" in md and "Note: attack ε grids differ" in md
    assert "Sources: plain: card a.json; other \\| &lt;model&gt;: card b.json; smoothed: certify cert.json." in md
    page = comparison_html(comp)
    assert page.startswith("<!DOCTYPE html>") and "data:image/png;base64," in page
    assert "src='http" not in page and "<script" not in page  # self-contained
    assert "other | &lt;model&gt;" in page and "<model>" not in page  # escaped
    assert cell_text(acc, 1) in page and made["a_doc"]["model_sha"] in page and "Certified accuracy — smoothed" in page


def test_cli_writes_every_output(made, tmp_path):
    out, md, png = tmp_path / "c.html", tmp_path / "c.md", tmp_path / "c.png"
    proc = run_cli("robustness-card", "compare", made["a"], made["b"], "--certify", made["cert"], "--smooth-attack",
                   made["smooth"], "--out", out, "--markdown", md, "--plot", png, "--names", "plain,adv,smoothed",
                   "--dataset", SAMPLES, "--json")
    assert proc.returncode == 0, proc.stderr
    doc = one_json(proc.stdout)
    assert doc["kind"] == "ecgadv-card-comparison/1"
    assert [c["label"] for c in doc["columns"]] == ["plain", "adv", "smoothed"]
    assert any("checked against the cards' digest" in n for n in doc["notes"])
    assert doc["outputs"] == {"html": str(out), "markdown": str(md), "plot": str(png)}
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and md.read_text().count("| Measure |") == 1
    assert "<table>" in out.read_text()
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".part")]
    # an existing output is kept without --overwrite (checked before anything is read) ...
    (tmp_path / "c.md").write_text("keep me")
    proc = run_cli("robustness-card", "compare", made["a"], made["b"], "--markdown", md)
    assert_user_error(proc, "already exists")
    assert md.read_text() == "keep me"
    # ... and replaced with it; without --json the table is printed as text
    proc = run_cli("robustness-card", "compare", made["a"], made["b"], "--markdown", md, "--overwrite")
    assert proc.returncode == 0, proc.stderr
    assert md.read_text().startswith("**Robustness comparison**") and "Clean accuracy" in proc.stdout


@pytest.mark.parametrize("args,msg", [
    ([], "required"),
    (["{a}"], "at least two"),
    (["{a}", "/dev/null"], "not a regular file"),
    (["{a}", "{tmp}/none.json"], "does not exist"),
    (["{a}", "{tmp}"], "folder"),
    (["{a}", "{b}", "--out", "{tmp}/c.txt"], ".html"),
    (["{a}", "{b}", "--markdown", "{tmp}/no/such/c.md"], "does not exist"),
    (["{a}", "{b}", "--markdown", "{a}"], ".md"),
    (["{a}", "{b}", "--out", "{tmp}/x.html", "--plot", "{tmp}/x.html"], ".png"),
    (["{a}", "{b}", "--out", "{tmp}/c.html", "--names", "one"], "--names"),
    (["{a}", "{b}", "--out", "{tmp}/c.html", "--certify", "{a}"], "given twice"),
    (["{a}", "{b}", "--out", "{tmp}/c.html", "--certify", "{smooth}"], "not a certify"),
    (["{a}", "{b}", "--out", "{tmp}/c.html", "--bogus"], "unrecognized"),
    (["{a}", "{b}", "--out", "{tmp}/c.html", "--labels", "{a}"], "--dataset"),
    (["{a}", "{b}", "--out", "{tmp}/c.html", "--dataset", "{a}"], "not a folder"),
    (["{a}", "{b}", "--out", "{tmp}/c.html", "--smooth-attack", "{tmp}/none.json"], "does not exist"),
])
def test_cli_bad_input_exits_2_with_one_line(made, tmp_path, args, msg):
    fmt = {"a": made["a"], "b": made["b"], "smooth": made["smooth"], "tmp": tmp_path}
    proc = run_cli("robustness-card", "compare", *[x.format(**fmt) for x in args])
    assert_user_error(proc, msg)
    assert not (tmp_path / "c.html").exists()


def test_compare_outputs_may_not_name_an_input(made, tmp_path):
    from engine.card.render import check_outputs

    link = tmp_path / "card.html"
    os.symlink(made["a"], link)
    with pytest.raises(UserError, match="same file as input"):
        check_outputs({"html": str(link), "markdown": None, "plot": None}, [made["a"], made["b"]], overwrite=True)
    os.symlink(tmp_path / "x.html", tmp_path / "x.md")  # two names, one file
    with pytest.raises(UserError, match="same file as --out"):
        check_outputs({"html": str(tmp_path / "x.html"), "markdown": str(tmp_path / "x.md"), "plot": None}, [],
                      overwrite=True)


def test_card_command_still_takes_a_dataset_and_help_names_compare(samples, tmp_path):
    proc = run_cli("robustness-card", "--help")
    assert proc.returncode == 0 and "robustness-card compare" in proc.stdout
    proc = run_cli("robustness-card", "compare", "--help")
    assert proc.returncode == 0 and "--certify" in proc.stdout
    proc = run_cli("robustness-card", samples, "--out", tmp_path / "c.txt")  # the card's own checks still run
    assert_user_error(proc, ".html")
