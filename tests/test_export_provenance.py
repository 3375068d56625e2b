"""engine.export provenance (issue #14, section 5): exported WFDB records keep the source lead's
name (as the signal name, made safe for WFDB readers, and exactly in the comments), the source's
sampling rate, the model's rate and the window the model saw; they are written at the model's
rate, so `main.py classify` of an export gives the attack's adversarial prediction."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import wfdb
from conftest import one_json, run_cli
from hypothesis import given, settings
from hypothesis import strategies as st

import engine.export as export
from engine.attacks import AttackInput, AttackParams, run_attack
from engine.attacks.runner import AttackResult
from engine.band import BandResult
from engine.errors import UserError
from engine.models.classifier import Placement
from engine.records import ECG_LEAD_PATTERN, read_record, resample, write_record

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "resources" / "samples"
MODELS = ROOT / "resources" / "models"
PARAMS = AttackParams(eps_mv=0.05, alpha_mv=0.01, steps=5)


def _model(name: str):
    from engine.models.checkpoint import load_checkpoint

    path = MODELS / f"{name}.safetensors"
    if not path.is_file():
        pytest.skip(f"bundled model {path.name} absent")
    return load_checkpoint(path)


@pytest.fixture(scope="module")
def clf():
    return _model("default")


def _source(folder: Path, name: str, fs: float, leads: list[str], gain: float = 1000.0,
            sample: str = "A00001") -> str:
    """A bundled sample resampled to `fs` Hz, written as record `name` with `leads` (the ECG in
    every lead, the others scaled), on the ADC grid of `gain`."""
    x, _ = read_record(SAMPLES / sample).lead_mv()
    xi = resample(x, 300.0, fs)
    sig = np.stack([xi * (1.0 + 0.1 * i) for i in range(len(leads))], axis=1)
    return write_record(folder / name, sig, fs, lead_names=leads, gain=gain)


def _attack(clf, path: str, lead: str | None = None, params: AttackParams = PARAMS):
    rec = read_record(path)
    x, ld = rec.lead_mv(lead)
    r = run_attack(clf, [AttackInput(rec.name, x, rec.fs, None, 1.0 / ld.gain)], "pgd", params)[0]
    return r, rec, ld


def _export(clf, out: Path, r, rec, ld, **kw):
    return export.write_adversarial(str(out), r, model=clf.name, method="pgd", params=PARAMS, source=rec.path,
                                    gain=ld.gain, lead=ld.name, source_fs=rec.fs, classifier=clf, **kw)


def _info(base: str) -> dict:
    rec = read_record(base)
    info = export.read_export_info(rec.comments)
    assert export.read_export_info(wfdb.rdheader(base).comments) == info  # both readers agree
    return info


# ---- the round trip ---------------------------------------------------------------------------

def test_bundled_sample_export_keeps_lead_rate_window(tmp_path, clf):
    r, rec, ld = _attack(clf, str(SAMPLES / "A00001"))
    base = _export(clf, tmp_path, r, rec, ld)
    back = read_record(base)
    assert [lead.name for lead in back.leads] == ["ECG"] and back.fs == 300.0
    info = _info(base)
    assert info == {"source_record": "A00001", "source_lead": "ECG", "source_fs_hz": 300, "model_fs_hz": 300,
                    "resampled": False, "samples": 9000, "duration_s": 30.0, "input_mode": "fixed",
                    "input_length": 9000, "window_samples": [0, 9000], "window_s": [0.0, 30.0], "padded": False,
                    "units": "mV", "adc_gain_per_mv": 1000}
    assert f"source: {rec.path}" in back.comments  # the path engine.review finds the original by
    assert np.array_equal(back.lead_mv()[0], r.x_adv)  # exactly the attacked signal (ADC grid)


def test_resampled_sources_reclassify_as_the_attack_via_cli(tmp_path, clf):
    """Sources at 250/360/500 Hz (other gains, other lead names, several leads): each export is at
    the model's 300 Hz, names the source lead, and `main.py classify` (default model, no --lead)
    gives the attack's adversarial prediction."""
    src, out = tmp_path / "src", tmp_path / "out"
    cases = [("s250", 250.0, ["MLII"], 1000.0, "MLII", "A00002"),
             ("s360", 360.0, ["Resp", "lead II"], 200.0, "lead II", "A00006"),
             ("s500", 500.0, ["chan 2 (right arm)"], 1000.0, "chan 2 (right arm)", "A00007")]
    results = []
    for name, fs, leads, gain, lead, sample in cases:
        path = _source(src, name, fs, leads, gain, sample)
        r, rec, ld = _attack(clf, path, lead)
        assert r.success, f"{name}: the attack must change the prediction for this test to mean anything"
        base = _export(clf, out, r, rec, ld)
        results.append((base, r, fs, lead, gain))
    proc = run_cli("classify", *[b + ".hea" for b, *_ in results], "--model", clf.name, "--json", timeout=300)
    assert proc.returncode == 0, proc.stderr
    doc = one_json(proc.stdout)
    assert doc["model"] == clf.name
    for got, (base, r, fs, lead, gain) in zip(doc["results"], results):
        assert got["pred"] == r.adv_pred != r.orig_pred, (base, got["probs"])
        info = _info(base)
        assert info["source_fs_hz"] == fs and info["model_fs_hz"] == 300 and info["resampled"] is True
        assert info["source_lead"] == lead and info["adc_gain_per_mv"] == gain
        assert info["window_s"] == [0.0, 30.0] and info["samples"] == len(r.x_adv) == 9000
        assert "requantised_max_mv" not in info
        back = read_record(base)
        assert back.fs == 300.0 and back.leads[0].gain == gain
        assert back.leads[0].name == export.wfdb_signal_name(lead)
        assert np.array_equal(back.lead_mv()[0], r.x_adv)  # exactly the attacked signal
        d = np.abs(back.lead_mv()[0].astype(np.float64) - r.x0)
        assert d.max() <= PARAMS.eps_mv + 1e-3 / gain  # within ε of the attacked input (runner's tolerance)
    assert read_record(results[2][0]).leads[0].name == "ECG_chan 2 (right arm)"  # classify found it


def test_whole_record_model_windows_and_round_trip(tmp_path):
    clf = _model("default-whole")
    x = np.concatenate([read_record(SAMPLES / n).lead_mv()[0] for n in ("A00001", "A00002", "A00006")])
    path = write_record(tmp_path / "long", x, 300.0, lead_names=["V2"])
    r, rec, ld = _attack(clf, path, params=AttackParams(eps_mv=0.05, alpha_mv=0.01, steps=3))
    base = _export(clf, tmp_path / "out", r, rec, ld)
    info = _info(base)
    assert info["input_mode"] == "whole" and info["input_length"] == clf.length
    assert info["window_s"] == [0.0, 90.0] and info["window_samples"] == [0, 27000]
    back = read_record(base)
    detail = clf.classify_detail(back.lead_mv()[0], back.fs)
    assert info["windows_s"] == detail["windows"] == [[0.0, 60.0], [30.0, 90.0]]
    assert detail["pred"] == r.adv_pred and back.leads[0].name == "V2"


def test_classify_window_noted_when_it_differs_from_the_attacks(clf):
    """A placement other than classify's (paper-code: the first `length` samples, not the centre)
    is reported, so nobody expects the export to re-classify the same."""
    info = export.signal_info("x/R1", 12000, 300.0, placement=Placement(9000, 0, 0, 9000), classifier=clf)
    assert info["window_s"] == [0.0, 30.0] and info["classify_window_s"] == [5.0, 35.0]
    same = export.signal_info("x/R1", 12000, 300.0, placement=Placement(9000, 1500, 0, 9000), classifier=clf)
    assert "classify_window_s" not in same and same["window_s"] == [5.0, 35.0]
    short = export.signal_info("R1", 3000, 300.0, placement=Placement(9000, 0, 3000, 3000), classifier=clf)
    assert short["padded"] is True and short["window_s"] == [0.0, 10.0]


# ---- without the new arguments (callers not updated yet) --------------------------------------

def _result(n=900, fs=300.0, step=0.001) -> AttackResult:
    t = np.arange(n) / fs
    x = (np.round(np.sin(2 * np.pi * 1.2 * t) / step) * step).astype(np.float32)
    return AttackResult(record="R1", true=None, orig_pred="N", orig_probs={}, adv_pred="A", adv_probs={},
                        success=True, measures={}, fs=fs, x0=x, x_adv=x + np.float32(2 * step), placement=None)


def test_lead_and_rate_read_from_the_source_header(tmp_path):
    one = _source(tmp_path, "one", 500.0, ["MLII"])
    two = _source(tmp_path, "two", 360.0, ["MLII", "V1"])
    a = export.write_adversarial(str(tmp_path / "a"), _result(), model="m", method="pgd", params=PARAMS, source=one)
    b = export.write_adversarial(str(tmp_path / "b"), _result(), model="m", method="pgd", params=PARAMS, source=two)
    c = export.write_adversarial(str(tmp_path / "c"), _result(), model="m", method="pgd", params=PARAMS,
                                 source="/nowhere/else/R9")
    ia, ib, ic = _info(a), _info(b), _info(c)
    assert (ia["source_lead"], ia["source_fs_hz"], ia["resampled"]) == ("MLII", 500, True)
    assert read_record(a).leads[0].name == "MLII"
    assert (ib["source_lead"], ib["source_fs_hz"]) == (None, 360)  # two leads: which one is not guessed
    assert (ic["source_record"], ic["source_lead"], ic["source_fs_hz"], ic["resampled"]) == ("R9", None, None, None)
    assert ic["window_s"] is None  # neither the placement nor the model known
    assert read_record(c).leads[0].name == "ECG"


def test_requantisation_is_reported(tmp_path):
    r = _result(step=0.0005)  # a 1/2000 mV grid written at 1000 per mV
    base = export.write_adversarial(str(tmp_path), r, model="m", method="pgd", params=PARAMS, source="R1",
                                    gain=1000.0)
    assert _info(base)["requantised_max_mv"] == pytest.approx(0.0005)
    base2 = export.write_adversarial(str(tmp_path / "g"), r, model="m", method="pgd", params=PARAMS, source="R1",
                                     gain=2000.0)
    assert "requantised_max_mv" not in _info(base2) and _info(base2)["adc_gain_per_mv"] == 2000


def test_band_and_members_carry_the_lead_and_rates(tmp_path, clf):
    src = _source(tmp_path, "src", 250.0, ["MLII"])
    r = _result(n=9000)
    members = np.stack([r.x_adv + 0.001 * i for i in range(3)])
    band = BandResult(record="src", orig_pred="N", adv_pred="A", noise={}, concat={}, uniform={}, fs=300.0,
                      lo=members.min(0), hi=members.max(0), members=members)
    w = export.write_band(str(tmp_path / "out"), band, model="m", method="sap", params=PARAMS, source=src,
                          members=2, lead="MLII", source_fs=250.0, classifier=clf)
    bi = _info(w["band"])
    assert bi["signal_names"] == ["band_min", "band_max"] and bi["source_fs_hz"] == 250 and bi["resampled"]
    assert bi["window_s"] == [0.0, 30.0] and bi["input_mode"] == "fixed"
    for m in w["members"]:
        assert read_record(m).leads[0].name == "MLII" and _info(m)["source_lead"] == "MLII"


# ---- hostile lead names -----------------------------------------------------------------------

HOSTILE = ["lead II", "V1,V2", "Vé", "导联 II", "a" * 300, "\tECG\x00 1 \n", "", "   ", "ECG  #2", 'say "hi"\\',
           "# not a comment", "x/y (mV) 200(0)/uV", "ECG\u2028V1", "💓 lead", "ECG:" + "z" * 2000]


def _check_name(tmp_path: Path, name: str) -> None:
    folder = tmp_path / f"n{abs(hash(name)) % 10 ** 9}"
    base = export.write_adversarial(str(folder), _result(), model="m", method="pgd", params=PARAMS,
                                    source="R1", lead=name, overwrite=True)
    h = wfdb.rdheader(base)
    rec = read_record(base)
    written = rec.leads[0].name
    assert h.sig_name == [written]  # wfdb (ASCII only) and our strict parser read the same name
    assert written == export.wfdb_signal_name(name)
    assert written.isascii() and written.isprintable() and 0 < len(written) <= export.MAX_SIGNAL_NAME
    assert written == written.strip() and ECG_LEAD_PATTERN.match(written)
    x, lead = rec.lead_mv()  # classify picks it without --lead
    assert lead.name == written and np.allclose(x, _result().x_adv, atol=1e-6)
    assert export.read_export_info(rec.comments)["source_lead"] == name[:export.MAX_LEAD_COMMENT]
    assert (folder / "R1_pgd.hea").read_bytes().isascii()


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_lead_names_read_back(tmp_path, name):
    _check_name(tmp_path, name)


@settings(max_examples=40, deadline=None)
@given(name=st.text(max_size=80))
def test_fuzz_lead_names_read_back(tmp_path_factory, name):
    _check_name(tmp_path_factory.mktemp("fuzz"), name)


def test_plain_names_are_kept():
    for name in ("MLII", "II", "aVR", "V6", "lead II", "ECG #2", "V1,V2 ECG", "EKG"):
        assert export.wfdb_signal_name(name) == name
    assert export.wfdb_signal_name("Pleth") == "ECG_Pleth"
    assert export.wfdb_signal_name("导联II") == "II" and export.wfdb_signal_name(None) == "ECG"
    assert export.wfdb_signal_name("x" * 70 + "ECG").startswith("ECG_")  # "ECG" was cut off


def test_existing_export_never_overwritten_without_overwrite(tmp_path):
    base = export.write_adversarial(str(tmp_path), _result(), model="m", method="pgd", params=PARAMS,
                                    source="R1", lead="MLII")
    before = {f: (tmp_path / f).read_bytes() for f in os.listdir(tmp_path)}
    with pytest.raises(UserError, match="already exists"):
        export.write_adversarial(str(tmp_path), _result(), model="m", method="pgd", params=PARAMS,
                                 source="R1", lead="导联 II")
    assert {f: (tmp_path / f).read_bytes() for f in os.listdir(tmp_path)} == before
    export.write_adversarial(str(tmp_path), _result(), model="m", method="pgd", params=PARAMS, source="R1",
                             lead="导联 II", overwrite=True)
    assert read_record(base).leads[0].name == "II"


def test_read_export_info_ignores_other_lines():
    lines = ["ecg-adv-workbench 0.1.0: pgd adversarial example", "source: /a/b", "model: m",
             "source_lead: not json", 'source_record: "A1"', "unknown_key: 3", "samples: [[[["]
    assert export.read_export_info(lines) == {"source_record": "A1"}


@pytest.mark.parametrize("record", ["Vé导1", "rec.v2", "a b", "💓"])
def test_non_ascii_record_names_give_readable_exports(tmp_path, record):
    """wfdb reads a header's signal file name as ASCII: an export named after a non-ASCII record
    could not be read back; it is written under an ASCII name, the exact name in the comments."""
    r = _result()
    r.record = record
    base = export.write_adversarial(str(tmp_path), r, model="m", method="pgd", params=PARAMS,
                                    source=f"/x/{record}", lead="MLII")
    assert base == export.adversarial_base(str(tmp_path), record, "pgd")
    assert os.path.basename(base).isascii() and os.path.basename(base).endswith("_pgd")
    assert np.allclose(read_record(base).lead_mv()[0], r.x_adv, atol=1e-6)
    assert wfdb.rdrecord(base).p_signal.shape == (900, 1)
    assert _info(base)["source_record"] == record
    band = export.band_bases(str(tmp_path), record, "sap", 1)
    assert all(os.path.basename(b).isascii() for b in band)


def test_ascii_record_names_unchanged(tmp_path):
    for name in ("A00001", "_x-1", "___"):
        assert export.adversarial_base("o", name, "pgd") == os.path.join("o", f"{name}_pgd")
    assert export.band_bases("o", "A00001", "sap", 1) == [os.path.join("o", "A00001_sap_band"),
                                                         os.path.join("o", "A00001_sap_member0000")]
