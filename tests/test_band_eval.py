"""band-eval: bands of every successful example of a split, both procedures side by side, resumable
JSONL, text table, plot; outputs checked before work; `band --band-style both`."""

from __future__ import annotations

import json
import os

import pytest

import engine.band_eval as be
from attack_support import SAMPLES, model_path
from conftest import cli_inproc as run
from engine.cli import main as cli_main
from engine.intervals import clopper_pearson

FAST = ["--eps", "0.02", "--trials", "6", "--max-pairs", "3", "--max-splices", "2", "--sap-steps", "20"]


def user_error(rc, out, err, *fragments):
    assert rc == 2, (rc, out, err)
    assert out.strip() == "" and "Traceback" not in err
    last = [ln for ln in err.splitlines() if ln.strip()][-1]
    assert last.startswith("error:"), err
    for f in fragments:
        assert f in last, (f, last)


def _lines(path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(ln) for ln in fh if ln.strip()]


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    """One band-eval over 3 samples, both styles (≈10 s), shared by the tests below."""
    import contextlib  # capsys is function-scoped: capture by hand
    import io

    d = tmp_path_factory.mktemp("band_eval")
    out, png = d / "r.jsonl", d / "bands.png"
    buf, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(err):
        rc = cli_main(["band-eval", str(SAMPLES), "--limit", "3", *FAST, "--out", str(out), "--plot", str(png),
                       "--model", model_path(), "--json"])
    assert rc == 0, err.getvalue()
    return d, out, png, json.loads(buf.getvalue())


def test_json_summary_both_styles(first_run):
    d, out, png, doc = first_run
    assert doc["records"] == 3 and doc["method"] == "sap" and list(doc["styles"]) == ["workbench", "paper-code"]
    a = doc["attack_success"]
    assert a["n"] == doc["correct"] and a["ci95"] == pytest.approx(list(clopper_pearson(a["k"], a["n"])))
    assert doc["examples"] == a["k"] >= 1  # bands for every successful example of a correct record
    for st, s in doc["styles"].items():
        assert s["examples"] == doc["examples"]
        assert set(s["fractions"]) == {"noise", "concat", "uniform"}
        y = s["yields_more"]
        assert y["n"] == s["examples"] and 0 <= y["k"] <= y["n"] and len(y["ci95"]) == 2
        assert s["centre_margin"]["n"] == s["centre_adversarial"]["n"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and doc["plot"] == str(png)


def test_rows_hold_bands_margins_and_reasons(first_run):
    d, out, png, doc = first_run
    head, *rows = _lines(out)
    assert head["kind"] == be.KIND and head["styles"] == ["workbench", "paper-code"]
    assert head["band"]["trials"] == 6 and head["params"]["eps_mv"] == 0.02
    assert len(rows) == 3 and {r["record"] for r in rows} == set(head["records"])
    banded = [r for r in rows if r["bands"]]
    assert len(banded) == doc["examples"]
    for r in rows:
        if not r["bands"]:
            assert r["skipped"] in ("misclassified to begin with", "not fooled", "already the target")
            continue
        assert r["example_margin"] > 0  # the example itself is adversarial
        for st, b in r["bands"].items():
            assert b["noise"]["trials"] == 6
            assert b["yields_more"] == (b["noise"]["adversarial"] > 0)
            if b["uniform"]["centre_adversarial"] is None:  # paper-code without survivors: no band
                assert st == "paper-code" and b["centre_margin"] is None
            else:  # the margin's sign is the centre's verdict, as the band procedure classified it
                assert (b["centre_margin"] > 0) == b["uniform"]["centre_adversarial"]
        # the workbench band keeps the example itself: its noise fraction counts survivors only
        assert r["bands"]["workbench"]["uniform"]["centre_adversarial"] is not None


def test_rerun_resumes_without_attacking_and_mismatch_is_refused(first_run, capsys, monkeypatch, tmp_path):
    d, out, png, doc = first_run

    def boom(*a, **k):
        raise AssertionError("nothing should be attacked on a finished file")

    monkeypatch.setattr(be, "run_attack", boom)
    rc, o, err = run(capsys, "band-eval", SAMPLES, "--limit", "3", *FAST, "--out", out, "--model", model_path(),
                     "--json")
    assert rc == 0, err
    again = json.loads(o)
    assert again["styles"] == doc["styles"] and again["attack_success"] == doc["attack_success"]
    # other band settings, another style or other records: refused in one line, file untouched
    before = out.read_bytes()
    user_error(*run(capsys, "band-eval", SAMPLES, "--limit", "3", *FAST[:-6], "--trials", "7", *FAST[4:],
                    "--out", out, "--model", model_path()), "band differs")
    user_error(*run(capsys, "band-eval", SAMPLES, "--limit", "3", *FAST, "--style", "workbench", "--out", out,
                    "--model", model_path()), "styles differs")
    user_error(*run(capsys, "band-eval", SAMPLES, "--limit", "2", *FAST, "--out", out, "--model", model_path()),
               "record list differs")
    assert out.read_bytes() == before
    # an attack-eval file or garbage is not a band-eval file
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"kind": "ecgadv-attack-eval/2"}\n')
    user_error(*run(capsys, "band-eval", SAMPLES, "--limit", "1", *FAST, "--out", bad, "--model", model_path()),
               "not a band-eval results file")
    assert bad.read_text() == '{"kind": "ecgadv-attack-eval/2"}\n'


def test_torn_last_line_is_redone(first_run, capsys, tmp_path):
    d, out, png, doc = first_run
    copy = tmp_path / "r.jsonl"
    lines = out.read_bytes().split(b"\n")
    copy.write_bytes(b"\n".join(lines[:3]) + b"\n" + lines[3][:25])  # header, 2 rows, a torn third
    rc, o, err = run(capsys, "band-eval", SAMPLES, "--limit", "3", *FAST, "--out", copy, "--model", model_path(),
                     "--style", "both", "--json")
    assert rc == 0, err
    rows = _lines(copy)[1:]
    assert [r["record"] for r in rows] == [json.loads(x)["record"] for x in lines[1:4]]
    redone = json.loads(o)
    assert redone["attack_success"] == doc["attack_success"] and redone["examples"] == doc["examples"]
    # same seed, same settings: the redone record's bands are the same
    assert rows[2]["bands"] == json.loads(lines[3])["bands"]


def test_outputs_checked_before_any_work(capsys, monkeypatch, tmp_path):
    def boom(*a, **k):
        raise AssertionError("attacked before the outputs were checked")

    monkeypatch.setattr(be, "run_attack", boom)
    png = tmp_path / "p.png"
    png.write_bytes(b"keep")
    common = ["band-eval", SAMPLES, "--limit", "1", *FAST, "--model", model_path()]
    user_error(*run(capsys, *common, "--out", tmp_path / "r.jsonl", "--plot", png), "already exists")
    assert png.read_bytes() == b"keep" and not (tmp_path / "r.jsonl").exists()
    user_error(*run(capsys, *common, "--out", tmp_path / "r.jsonl", "--plot", tmp_path / "p.jpg"), ".png")
    user_error(*run(capsys, *common, "--out", tmp_path / "none" / "r.jsonl"), "does not exist")
    user_error(*run(capsys, *common, "--out", tmp_path), "folder")
    user_error(*run(capsys, *common, "--style", "nope"), "invalid choice")
    # a second writer on the same results file is refused
    from engine.outputs import FileLock

    lock = FileLock(str(tmp_path / "r.jsonl")).acquire()
    try:
        rc, o, err = run(capsys, *common, "--out", tmp_path / "r.jsonl")
        assert rc == 2 and "Traceback" not in err
    finally:
        lock.release()


def test_summary_counts_and_all_or_nothing():
    def band(noise, uni, margin, centre):
        return {"noise": {"trials": 10, "adversarial": noise, "fraction": noise / 10},
                "concat": {"splices": 4, "adversarial": 4, "fraction": 1.0},
                "uniform": {"trials": 10, "adversarial": uni, "fraction": None if centre is None else uni / 10,
                            "centre_adversarial": centre},
                "centre_margin": margin, "yields_more": noise > 0}

    rows = [
        {"record": "a", "correct": True, "success": True, "true": "N", "orig_pred": "N", "adv_pred": "O",
         "bands": {"workbench": band(10, 10, 0.8, True), "paper-code": band(0, 0, None, None)}},
        {"record": "b", "correct": True, "success": True, "true": "A", "orig_pred": "A", "adv_pred": "N",
         "bands": {"workbench": band(3, 0, -0.2, False), "paper-code": band(2, 6, 0.1, True)}},
        {"record": "c", "correct": True, "success": False, "true": "N", "orig_pred": "N", "adv_pred": "N",
         "bands": None, "skipped": "not fooled"},
        {"record": "d", "correct": False, "success": True, "true": "O", "orig_pred": "N", "adv_pred": "A",
         "bands": None, "skipped": "misclassified to begin with"},
        {"record": "e", "error": "unreadable"},
    ]
    s = be.summarize(rows, ["workbench", "paper-code"], ["N", "A", "O", "~"])
    assert s["records"] == 4 and s["errors"] == 1 and s["correct"] == 3 and s["examples"] == 2
    assert (s["attack_success"]["k"], s["attack_success"]["n"]) == (2, 3)
    assert s["attack_success_per_class"]["N"]["k"] == 1 and s["attack_success_per_class"]["N"]["n"] == 2
    assert "O" not in s["attack_success_per_class"]  # only correctly classified records count
    wb, pc = s["styles"]["workbench"], s["styles"]["paper-code"]
    assert (wb["yields_more"]["k"], wb["yields_more"]["n"]) == (2, 2)
    assert (pc["yields_more"]["k"], pc["yields_more"]["n"]) == (1, 2)
    assert wb["fractions"]["noise"]["mean"] == pytest.approx(0.65)
    assert wb["fractions"]["uniform"]["zero"] == 1 and wb["fractions"]["uniform"]["one"] == 1
    assert (wb["uniform_all_or_nothing"]["k"], wb["uniform_all_or_nothing"]["n"]) == (2, 2)
    assert (wb["centre_decides_uniform"]["k"], wb["centre_decides_uniform"]["n"]) == (2, 2)
    assert (wb["centre_adversarial"]["k"], wb["centre_adversarial"]["n"]) == (1, 2)
    # paper-code: record a has no band (no survivor): no uniform fraction, no margin
    assert pc["fractions"]["uniform"]["n"] == 1 and pc["centre_margin"]["n"] == 1
    assert (pc["uniform_all_or_nothing"]["k"], pc["uniform_all_or_nothing"]["n"]) == (0, 1)
    text = be.format_text({**s, "model": "m"})
    assert "noise yields more (paper 87.6%)" in text and "100.0% (2/2, 95% CI 15.8–100.0%)" in text
    assert "50.0% (1/2, 95% CI 1.3–98.7%)" in text


def test_band_both_styles_side_by_side(capsys):
    rec = os.path.join(SAMPLES, "A00001")
    rc, o, err = run(capsys, "band", rec, "--method", "sap", "--eps", "0.02", "--trials", "6",
                     "--max-pairs", "3", "--max-splices", "2", "--band-style", "both", "--model", model_path(),
                     "--json")
    assert rc == 0, err
    doc = json.loads(o)
    assert doc["style"] == "both" and list(doc["styles"]) == ["workbench", "paper-code"]
    for b in doc["styles"].values():
        assert b["noise"]["trials"] == 6 and "centre_margin" in b and "yields_more" in b
    rc, o, err = run(capsys, "band", rec, "--method", "sap", "--eps", "0.02", "--trials", "6",
                     "--band-style", "both", "--model", model_path())
    assert rc == 0 and "workbench" in o and "paper-code" in o and "noise" in o and "uniform" in o
    user_error(*run(capsys, "band", rec, "--band-style", "both", "--out", "somewhere", "--model", model_path()),
               "--band-style both")


def test_a_band_that_cannot_be_formed_skips_that_record_only(monkeypatch, tmp_path):
    """A record whose band is refused (e.g. too large for memory) is kept with its reason; the run goes on."""
    from attack_support import load_model
    from engine.attacks import AttackParams
    from engine.band import BandParams
    from engine.datasets import open_dataset
    from engine.errors import UserError

    calls = []

    def refuse_first(clf, res, params, band, **k):
        calls.append(res.record)
        if len(calls) == 1:
            raise UserError(f"{res.record}: the band would need about 99 GB")
        return {"noise": {"trials": 1, "adversarial": 1, "fraction": 1.0}, "concat": {}, "uniform": {},
                "centre_margin": 1.0, "yields_more": True}

    monkeypatch.setattr(be, "band_report", refuse_first)
    ds = open_dataset(SAMPLES)
    s = be.run_band_eval(load_model(), ds, ds.names[:3], method="pgd", params=AttackParams(eps_mv=0.5, alpha_mv=0.05, steps=10),
                         band=BandParams(trials=2), styles=["workbench"], results=str(tmp_path / "r.jsonl"))
    rows = _lines(tmp_path / "r.jsonl")[1:]
    assert len(rows) == 3 and len(calls) >= 2, rows  # at least two examples fooled at 0.5 mV
    first = next(r for r in rows if r["record"] == calls[0])
    assert first["bands"] is None and "99 GB" in first["skipped"]
    assert s["skipped"].get("no band") == 1 and s["examples"] == len(calls) - 1
    assert "no band for: 1 no band" in be.format_text(s)
