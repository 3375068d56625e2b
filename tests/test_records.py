"""Records: reading through wfdb (values, formats, multi-channel/-segment), lead choice, resampling, writing."""

from __future__ import annotations

import re

import numpy as np
import pytest
import wfdb
from conftest import SAMPLE_NAMES

from engine.errors import UserError
from engine.records import read_record, record_base, resample, write_record


def _wrsamp(folder, name, d, fs, names, units, gains, fmt="16"):
    d = np.asarray(d, dtype=np.int64)
    if d.ndim == 1:
        d = d[:, None]
    wfdb.wrsamp(name, fs=fs, units=list(units), sig_name=list(names), d_signal=d, fmt=[fmt] * d.shape[1],
                adc_gain=list(gains), baseline=[0] * d.shape[1], write_dir=str(folder))
    return folder / name


def _ecg_like(n, fs, seed=0, amp=800):
    t = np.arange(n) / fs
    rng = np.random.default_rng(seed)
    return (amp * np.sin(2 * np.pi * 1.2 * t) + rng.normal(0, 20, n)).astype(np.int64)


# ---------------------------------------------------------------- values equal what wfdb reads

@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_sample_values_equal_wfdb(samples, name):
    base = samples / name
    rec = read_record(base)
    ref = wfdb.rdrecord(str(base))
    assert rec.signal.dtype == np.float32
    assert rec.signal.shape == ref.p_signal.shape == (ref.sig_len, 1)
    np.testing.assert_allclose(rec.signal, ref.p_signal, rtol=1e-6, atol=1e-6)
    assert rec.fs == 300.0
    lead = rec.leads[0]
    assert (lead.name, lead.units, lead.gain, lead.fmt) == ("ECG", "mV", 1000.0, "16")
    assert rec.lead_index() == 0
    assert rec.duration_s == pytest.approx(ref.sig_len / 300.0)


def test_path_with_or_without_extension(samples):
    a = read_record(samples / "A00001")
    for ext in (".hea", ".mat"):
        b = read_record(str(samples / "A00001") + ext)
        assert b.name == "A00001"
        np.testing.assert_array_equal(a.signal, b.signal)
    assert record_base("x/y/A00001.hea") == "x/y/A00001"


SHARED_RECORDS = {
    # name: (fs, n_leads, fmt, lead names, index of the first ECG lead)
    "100": (360.0, 2, "212", ["MLII", "V5"], 0),
    "03700181": (125.0, 3, "212", ["MCL1", "ABP", "RESP"], 0),
    "v102s": (250.0, 4, "212", ["II", "V", "PLETH", "RESP"], 0),
    "test01_00s": (500.0, 4, "16", ["ECG 1", "ECG 2", "ECG 3", "ECG 4"], 0),
}


@pytest.mark.shared
@pytest.mark.parametrize("name", list(SHARED_RECORDS))
def test_shared_values_equal_wfdb(wfdb_samples, name):
    fs, n_leads, fmt, names, ecg = SHARED_RECORDS[name]
    base = wfdb_samples / name
    rec = read_record(base)
    ref = wfdb.rdrecord(str(base))
    assert rec.fs == fs
    assert rec.signal.shape == ref.p_signal.shape
    assert rec.signal.shape[1] == n_leads
    assert rec.signal.dtype == np.float32
    # float32 of wfdb's float64 physical values (ECG leads in mV, other channels in their units)
    np.testing.assert_allclose(rec.signal, ref.p_signal, rtol=2e-7, atol=1e-6)
    assert [ld.name for ld in rec.leads] == names
    assert all(ld.fmt == fmt for ld in rec.leads)
    assert [ld.gain for ld in rec.leads] == [float(g) for g in ref.adc_gain]
    assert [ld.baseline for ld in rec.leads] == [int(b) for b in ref.baseline]
    assert rec.lead_index() == ecg


@pytest.mark.shared
def test_mixed_channel_units_and_lead_choice(wfdb_samples):
    rec = read_record(wfdb_samples / "03700181")
    units = {ld.name: ld.units for ld in rec.leads}
    assert units["MCL1"] == "mV" and units["ABP"] == "mmHg"
    assert [ld.is_ecg for ld in rec.leads] == [True, False, False]
    x, lead = rec.lead_mv()
    assert lead.name == "MCL1"
    np.testing.assert_array_equal(x, rec.signal[:, 0])
    v = read_record(wfdb_samples / "v102s")
    assert [ld.is_ecg for ld in v.leads] == [True, True, False, False]
    assert v.lead_index("V") == 1 and v.lead_index("v") == 1  # --lead by name (case-insensitive)
    assert v.comments[:1] == ["Ventricular_Tachycardia"]
    with pytest.raises(UserError, match="no lead named"):
        v.lead_index("V9")


@pytest.mark.shared
def test_annotations_read_for_mitbih_100(wfdb_samples):
    rec = read_record(wfdb_samples / "100")
    ref = wfdb.rdann(str(wfdb_samples / "100"), "atr")
    assert rec.annotations is not None
    np.testing.assert_array_equal(rec.annotations.sample, ref.sample)
    assert list(rec.annotations.symbol) == ref.symbol
    np.testing.assert_allclose(rec.annotations.time_s, ref.sample / 360.0)
    assert rec.annotations.label[0] == "(N"  # the rhythm change shows its aux note, beats their symbol
    assert rec.annotations.label.count("V") == 1 and rec.annotations.label.count("A") == 33
    assert rec.annotations.summary() == "2274 annotations (100.atr)" and rec.annotation_error == ""
    assert "N" in set(ref.symbol)
    assert len(ref.sample) > 2000  # ~2270 beats in 30 min
    v = read_record(wfdb_samples / "v102s")
    assert v.annotations is None and v.annotation_error == ""


@pytest.mark.shared
def test_unreadable_or_out_of_range_annotations_are_said_not_dropped(wfdb_samples, tmp_path):
    """A broken .atr does not stop the record from opening, and its reason is kept (not swallowed);
    annotations beyond the record's end are dropped and counted."""
    import shutil

    for ext in (".hea", ".dat"):
        shutil.copy(wfdb_samples / ("100" + ext), tmp_path / ("100" + ext))
    (tmp_path / "100.atr").write_bytes(b"\xff" * 7)
    rec = read_record(tmp_path / "100")
    assert rec.annotations is None
    assert rec.annotation_error.startswith("100.atr: cannot read annotations")
    assert "\n" not in rec.annotation_error and rec.n_samples == 650000
    # a shorter record (the header cut to 60 s): the annotations after 60 s are counted, not kept
    hea = (tmp_path / "100.hea").read_text().splitlines()
    i = next(i for i, line in enumerate(hea) if not line.startswith("#"))  # the record line
    first = hea[i].split()
    first[3] = "21600"
    hea[i] = " ".join(first)
    (tmp_path / "100.hea").write_text("\n".join(hea) + "\n")
    shutil.copy(wfdb_samples / "100.atr", tmp_path / "100.atr")
    short = read_record(tmp_path / "100")
    ann = short.annotations
    assert ann is not None and ann.sample.max() < 21600 and 60 < len(ann) < 100
    assert ann.note == f"{2274 - len(ann)} annotations beyond the record's end ignored"


# ---------------------------------------------------------------- formats written with wfdb itself

@pytest.mark.parametrize("fmt", ["16", "212", "61", "80"])
def test_formats_equal_wfdb(tmp_path, fmt):
    amp = 100 if fmt == "80" else 800
    d = np.stack([_ecg_like(1500, 250, 0, amp), _ecg_like(1500, 250, 1, amp)], axis=1)
    d = np.clip(d, -127, 127) if fmt == "80" else d
    base = _wrsamp(tmp_path, f"f{fmt}", d, 250, ["II", "V1"], ["mV", "mV"], [200.0, 400.0],
                   "16" if fmt == "61" else fmt)
    if fmt == "61":  # wfdb cannot write format 61 (big-endian 16 bit): byte-swap a format 16 file
        dat = tmp_path / "f61.dat"
        dat.write_bytes(np.frombuffer(dat.read_bytes(), "<i2").astype(">i2").tobytes())
        hea = tmp_path / "f61.hea"
        hea.write_text(re.sub(r"(f61\.dat) 16 ", r"\1 61 ", hea.read_text()))
    rec = read_record(base)
    ref = wfdb.rdrecord(str(base))
    assert [ld.fmt for ld in rec.leads] == [fmt, fmt]
    np.testing.assert_allclose(rec.signal, ref.p_signal, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(rec.signal[:, 1], d[:, 1] / 400.0, rtol=1e-6, atol=1e-6)


def test_microvolt_ecg_comes_out_in_millivolts(tmp_path):
    d = _ecg_like(900, 300)
    base = _wrsamp(tmp_path, "uv", d, 300, ["ECG"], ["uV"], [1.0])
    rec = read_record(base)
    assert rec.leads[0].units == "mV"
    np.testing.assert_allclose(rec.signal[:, 0], d / 1000.0, rtol=1e-6, atol=1e-7)
    assert rec.leads[0].gain == pytest.approx(1000.0)  # ADC units per mV now


# ---------------------------------------------------------------- lead choice

def test_first_ecg_lead_never_a_non_ecg_channel(tmp_path):
    n = 1000
    d = np.stack([_ecg_like(n, 250, i) for i in range(5)], axis=1)
    base = _wrsamp(tmp_path, "mixed", d, 250, ["RESP", "ABP", "PLETH", "V2", "II"],
                   ["NU", "mmHg", "NU", "mV", "mV"], [100.0, 10.0, 100.0, 200.0, 200.0])
    rec = read_record(base)
    assert rec.lead_index() == 3
    x, lead = rec.lead_mv()
    assert lead.name == "V2"
    np.testing.assert_allclose(x, d[:, 3] / 200.0, rtol=1e-6)
    x2, lead2 = rec.lead_mv("II")
    assert lead2.name == "II"
    np.testing.assert_allclose(x2, d[:, 4] / 200.0, rtol=1e-6)


def test_record_without_ecg_lead_is_an_error(tmp_path):
    d = np.stack([_ecg_like(1250, 125, 0), _ecg_like(1250, 125, 1)], axis=1)
    base = _wrsamp(tmp_path, "noecg", d, 125, ["RESP", "ABP"], ["NU", "mmHg"], [100.0, 10.0])
    rec = read_record(base)
    with pytest.raises(UserError, match="no ECG lead"):
        rec.lead_index()
    with pytest.raises(UserError, match="no ECG lead"):
        rec.lead_mv()


def test_lead_mv_refuses_nan_flat_and_short(tmp_path):
    d = _ecg_like(3000, 300)
    d[100:110] = -32768  # WFDB's "missing sample" value for format 16
    with pytest.raises(UserError, match="NaN"):
        read_record(_wrsamp(tmp_path, "nan", d, 300, ["ECG"], ["mV"], [1000.0])).lead_mv()
    with pytest.raises(UserError, match="flat line"):
        read_record(_wrsamp(tmp_path, "flat", np.full(3000, 5), 300, ["ECG"], ["mV"], [1000.0])).lead_mv()
    with pytest.raises(UserError, match="at least 2 s"):
        read_record(_wrsamp(tmp_path, "short", _ecg_like(500, 300), 300, ["ECG"], ["mV"], [1000.0])).lead_mv()


# ---------------------------------------------------------------- multi-segment

def test_multisegment_record_read_as_one(tmp_path):
    a, b = _ecg_like(900, 300, 0), _ecg_like(600, 300, 1)
    _wrsamp(tmp_path, "seg1", a, 300, ["II"], ["mV"], [1000.0])
    _wrsamp(tmp_path, "seg2", b, 300, ["II"], ["mV"], [1000.0])
    (tmp_path / "multi.hea").write_text("multi/2 1 300 1500\nseg1 900\nseg2 600\n")
    rec = read_record(tmp_path / "multi")
    assert rec.n_samples == 1500 and rec.fs == 300.0
    assert rec.leads[0].name == "II"
    np.testing.assert_allclose(rec.signal[:, 0], np.concatenate([a, b]) / 1000.0, rtol=1e-6, atol=1e-7)
    ref = wfdb.rdrecord(str(tmp_path / "multi"), m2s=True)
    np.testing.assert_allclose(rec.signal, ref.p_signal, rtol=1e-6, atol=1e-7)


def test_variable_layout_multisegment(tmp_path):
    a, b = _ecg_like(900, 300, 0), _ecg_like(600, 300, 1)
    _wrsamp(tmp_path, "s1", a, 300, ["II"], ["mV"], [1000.0])
    _wrsamp(tmp_path, "s2", b, 300, ["II"], ["mV"], [1000.0])
    (tmp_path / "vm_layout.hea").write_text("vm_layout 1 300 0\n~ 0 1000/mV 16 0 0 0 0 II\n")
    (tmp_path / "vm.hea").write_text("vm/3 1 300 1500\nvm_layout 0\ns1 900\ns2 600\n")
    rec = read_record(tmp_path / "vm")
    x, lead = rec.lead_mv()
    assert lead.name == "II" and x.shape == (1500,)
    np.testing.assert_allclose(x, np.concatenate([a, b]) / 1000.0, rtol=1e-6, atol=1e-7)


def test_multisegment_with_missing_segment_is_an_error(tmp_path):
    _wrsamp(tmp_path, "seg1", _ecg_like(900, 300), 300, ["II"], ["mV"], [1000.0])
    (tmp_path / "multi.hea").write_text("multi/2 1 300 1500\nseg1 900\nseg2 600\n")
    with pytest.raises(UserError, match="seg2"):
        read_record(tmp_path / "multi")


# ---------------------------------------------------------------- resampling

@pytest.mark.parametrize("fs_in,n_in,n_out", [(125, 1250, 3000), (360, 3600, 3000), (500, 5000, 3000),
                                              (250, 2500, 3000), (300, 3000, 3000)])
def test_resample_lengths_exact(fs_in, n_in, n_out):
    x = np.random.default_rng(0).normal(size=n_in).astype(np.float32)
    y = resample(x, fs_in, 300)
    assert y.shape == (n_out,)
    assert y.dtype == np.float32


@pytest.mark.parametrize("fs_in", [125, 360, 500])
def test_resample_keeps_sine_frequency(fs_in):
    f = 7.0
    t = np.arange(int(20 * fs_in)) / fs_in
    y = resample(np.sin(2 * np.pi * f * t).astype(np.float32), fs_in, 300)
    assert y.shape == (6000,)
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    freqs = np.fft.rfftfreq(len(y), 1 / 300)
    assert freqs[int(spec.argmax())] == pytest.approx(f, abs=0.06)
    # amplitude and phase kept away from the edges
    t_out = np.arange(len(y)) / 300
    np.testing.assert_allclose(y[300:-300], np.sin(2 * np.pi * f * t_out)[300:-300], atol=0.02)


def test_resample_uses_resample_poly(monkeypatch):
    import scipy.signal

    calls = []
    real = scipy.signal.resample_poly

    def spy(x, up, down, **kw):
        calls.append((up, down))
        return real(x, up, down, **kw)

    monkeypatch.setattr(scipy.signal, "resample_poly", spy)
    resample(np.zeros(3600, np.float32), 360, 300)
    assert calls == [(5, 6)]


@pytest.mark.shared
def test_resample_real_records(wfdb_samples):
    for name, fs in (("03700181", 125), ("100", 360), ("test01_00s", 500)):
        rec = read_record(wfdb_samples / name)
        x, _ = rec.lead_mv()
        n = (len(x) // fs) * fs
        y = resample(x[:n], fs, 300)
        assert len(y) == n // fs * 300


# ---------------------------------------------------------------- writing

def test_write_read_round_trip_with_provenance(tmp_path, samples):
    src = read_record(samples / "A00013")
    x, _ = src.lead_mv()
    x = x + np.random.default_rng(0).normal(0, 0.01, x.shape).astype(np.float32)  # off the ADC grid
    comments = ["ecg-adv-workbench 0.1.0: pgd adversarial example", f"source: {src.path}",
                "model: default", 'params: {"eps":10.0,"method":"pgd","steps":20}']
    base = write_record(tmp_path / "A00013_pgd", x, src.fs, lead_names=["ECG"], gain=1000.0,
                        comments=comments)
    back = read_record(base)
    assert back.fs == src.fs and back.n_samples == len(x)
    assert back.leads[0].units == "mV" and back.leads[0].gain == 1000.0
    assert back.comments == comments
    np.testing.assert_allclose(back.signal[:, 0], np.round(x.astype(np.float64) * 1000) / 1000, atol=1e-6)
    assert np.abs(back.signal[:, 0] - x).max() <= 0.5 / 1000 + 1e-6  # to the written resolution
    ref = wfdb.rdrecord(base)
    np.testing.assert_allclose(back.signal, ref.p_signal, rtol=1e-6, atol=1e-7)


def test_write_multilead_other_gain_and_format(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(0, 1, (1200, 2)).astype(np.float32)
    base = write_record(tmp_path / "two", x, 250, lead_names=["band_min", "band_max"], gain=200.0, fmt="212")
    back = read_record(base)
    assert [ld.name for ld in back.leads] == ["band_min", "band_max"]
    assert back.leads[0].fmt == "212" and back.fs == 250
    np.testing.assert_allclose(back.signal, np.round(x.astype(np.float64) * 200) / 200, atol=1e-6)


def test_write_large_values_switch_format(tmp_path):
    x = np.linspace(-50, 50, 1000).astype(np.float32)  # 50 mV at gain 1000 does not fit format 16
    back = read_record(write_record(tmp_path / "big", x, 300))
    np.testing.assert_allclose(back.signal[:, 0], np.round(x.astype(np.float64) * 1000) / 1000, atol=1e-6)


def test_write_refuses_overwrite_unless_asked(tmp_path):
    x = np.sin(np.arange(900) / 10).astype(np.float32)
    write_record(tmp_path / "r1", x, 300)
    with pytest.raises(UserError, match="already exists"):
        write_record(tmp_path / "r1", x * 2, 300)
    np.testing.assert_allclose(read_record(tmp_path / "r1").signal[:, 0], np.round(x * 1000) / 1000, atol=1e-6)
    write_record(tmp_path / "r1", x * 2, 300, overwrite=True)
    np.testing.assert_allclose(read_record(tmp_path / "r1").signal[:, 0], np.round(x * 2000) / 1000, atol=1e-6)


def test_write_refuses_bad_names(tmp_path):
    with pytest.raises(UserError, match="invalid record name"):
        write_record(tmp_path / "bad name!", np.zeros(900, np.float32), 300)


def test_write_refuses_unwritable_format(tmp_path):
    with pytest.raises(UserError, match="cannot write WFDB format 61"):
        write_record(tmp_path / "f", np.zeros(900, np.float32), 300, fmt="61")


@pytest.mark.shared
def test_truncated_multi_sample_per_frame_file(wfdb_samples, tmp_path):
    """03700181 stores MCL1 at 4 samples per frame: the size check must count every sample."""
    (tmp_path / "03700181.hea").write_text((wfdb_samples / "03700181.hea").read_text())
    data = (wfdb_samples / "03700181.dat").read_bytes()
    (tmp_path / "03700181.dat").write_bytes(data[:400_000])  # more than 1 sample/frame would need
    with pytest.raises(UserError, match="truncated"):
        read_record(tmp_path / "03700181")
    (tmp_path / "03700181.dat").write_bytes(data)
    assert read_record(tmp_path / "03700181").n_samples == 75000


def test_fill_short_gaps_interpolates_real_record(wfdb_samples):
    """v102s holds a few missing samples: refused by default, filled linearly on request."""
    rec = read_record(wfdb_samples / "v102s")
    with pytest.raises(UserError, match="--fill-gaps"):
        rec.lead_mv("II")
    raw = rec.signal[:, rec.lead_index("II")]
    x, _ = rec.lead_mv("II", fill_gaps=True)
    nan = np.isnan(raw)
    assert nan.sum() == 3 and np.isfinite(x).all()
    assert np.array_equal(x[~nan], raw[~nan])
    i = int(np.flatnonzero(nan)[0])
    lo, hi = min(x[i - 1], x[i + 1]), max(x[i - 1], x[i + 1])
    assert lo - 1e-6 <= x[i] <= hi + 1e-6  # interpolated between its neighbours


def test_fill_gaps_refuses_long_gaps():
    from engine.records import fill_short_gaps

    x = np.sin(np.arange(3000) / 20).astype(np.float32)
    x[100:400] = np.nan  # 1 s at 300 Hz
    with pytest.raises(UserError, match="too many to fill"):
        fill_short_gaps(x, 300.0, "test")


# ---------------------------------------------------------------- hostile headers (issue 11 §4)

def _clone_sample(samples, folder, name, edit=None, raw=None, data=True):
    """A00001 copied as `name` with its header text edited (str → str) or replaced by bytes."""
    text = (samples / "A00001.hea").read_text().replace("A00001", name)
    hea = folder / f"{name}.hea"
    if raw is not None:
        hea.write_bytes(raw)
    else:
        hea.write_text(edit(text) if edit else text, encoding="utf-8")
    if data:
        (folder / f"{name}.mat").write_bytes((samples / "A00001.mat").read_bytes())
    return folder / name


@pytest.mark.parametrize("fs", ["-300", "nan", "0", "1e300", "inf", "-inf", "0.5", "2e5", "abc"])
def test_implausible_sampling_rate_refused(samples, tmp_path, fs):
    # wfdb alone reads -300/nan/inf as 250 Hz and 1e300 as 1 Hz, and the record would be classified
    rec = _clone_sample(samples, tmp_path, "fs", lambda h: h.replace(" 300 ", f" {fs} ", 1))
    with pytest.raises(UserError, match=r"sampling frequency .*(1 Hz to 100 kHz|not a number)") as e:
        read_record(rec)
    assert "\n" not in str(e.value)


def test_missing_sampling_rate_refused(samples, tmp_path):
    rec = _clone_sample(samples, tmp_path, "nofs", lambda h: h.split("\n", 1)[0].split()[0] + " 1\n"
                        + h.split("\n", 1)[1])
    with pytest.raises(UserError, match="no sampling frequency"):
        read_record(rec)


@pytest.mark.parametrize("gain,match", [("0/mV", "uncalibrated"), ("-1000/mV", "ADC gain -1000"),
                                        ("nan/mV", "ADC gain nan"), ("inf/mV", "ADC gain inf"),
                                        ("1000(abc)/mV", "baseline"), ("1000(99999999999)/mV", "baseline"),
                                        ("x1000/mV", "not a number")])
def test_bad_gain_or_baseline_refused(samples, tmp_path, gain, match):
    rec = _clone_sample(samples, tmp_path, "g", lambda h: h.replace("1000/mV", gain))
    with pytest.raises(UserError, match=re.escape(match)):
        read_record(rec)


def test_gain_and_baseline_from_header_used(samples, tmp_path):
    rec = read_record(_clone_sample(samples, tmp_path, "gb", lambda h: h.replace("1000/mV", "500(10)/mV")))
    ref = read_record(samples / "A00001")
    assert rec.leads[0].gain == 500.0 and rec.leads[0].baseline == 10
    np.testing.assert_allclose(rec.signal[:, 0], (ref.signal[:, 0] * 1000 - 10) / 500, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("edit,match", [
    (lambda h: h.replace("A00001 1 ", "A00001 100000000 ").replace("nsig 1 ", "nsig 100000000 "),
     "number of signals"),
    (lambda h: h.replace("nsig 1 ", "nsig 2 "), "2 signals but has 1 signal lines"),
    (lambda h: h.replace("nsig 1 ", "nsig 0 "), "lists no signals"),
    (lambda h: h.replace(" 9000 ", " -9000 "), "number of samples"),
    (lambda h: h.replace(" 9000 ", " 1e4 "), "number of samples"),
    (lambda h: h.replace(" 9000 ", " 99999999999999 "), "truncated"),
    (lambda h: h.replace("16+24", "999+24"), "format 999"),
    (lambda h: h.replace("16+24", "sixteen"), "not a WFDB format"),
    (lambda h: h.replace("nsig.mat", "../nsig.mat"), "not a file in the record's folder"),
    (lambda h: "", "empty header"),
    (lambda h: "# only a comment\n", "empty header"),
])
def test_bad_record_and_signal_fields_refused(samples, tmp_path, edit, match):
    rec = _clone_sample(samples, tmp_path, "nsig", edit)
    with pytest.raises(UserError, match=re.escape(match)):
        read_record(rec)


def test_missing_and_empty_signal_file(samples, tmp_path):
    rec = _clone_sample(samples, tmp_path, "nodat", data=False)
    with pytest.raises(UserError, match="signal file nodat.mat is missing"):
        read_record(rec)
    (tmp_path / "nodat.mat").write_bytes(b"")
    with pytest.raises(UserError, match="no complete sample|truncated"):
        read_record(rec)


@pytest.mark.parametrize("raw", [b"\xff\xfe" + "A00001 1 300 9000\n".encode("utf-16-le"),
                                 b"\x00\x01\x02\x03garbage", bytes(range(256))])
def test_binary_or_utf16_header_refused(samples, tmp_path, raw):
    rec = _clone_sample(samples, tmp_path, "bin", raw=raw)
    with pytest.raises(UserError, match="not a WFDB header|not a number|not a whole number|lacks|no sampling"):
        read_record(rec)


def test_signal_line_without_description_reads(samples, tmp_path):
    rec = read_record(_clone_sample(samples, tmp_path, "nodesc", lambda h: h.replace(" 0 ECG", " 0")))
    assert rec.leads[0].name == "ch0" and rec.n_samples == 9000
    with pytest.raises(UserError, match="no ECG lead .*--lead"):
        rec.lead_mv()
    x, lead = rec.lead_mv("ch0")  # the user can still pick the unnamed signal by its name
    assert x.dtype == np.float32 and lead.name == "ch0"
    # a line without even the gain field (WFDB defaults: gain 200, units mV) also reads
    rec = read_record(_clone_sample(samples, tmp_path, "bare", lambda h: h.replace(
        "bare.mat 16+24 1000/mV 16 0 -127 0 0 ECG", "bare.mat 16+24")))
    assert rec.leads[0].gain == 200.0 and rec.leads[0].units == "mV"


def test_non_ascii_text_kept_not_mangled(samples, tmp_path):
    # wfdb drops non-ASCII bytes: "µV" would become "V" (a factor of 10^6 on the signal)
    rec = read_record(_clone_sample(samples, tmp_path, "uv", lambda h: h.replace(
        "1000/mV", "1/µV").replace(" ECG", " ECG Ableitung — Brustwand").replace(
        "\n", "\n# Patient: Jürgen, 57 J.\n", 1)))
    ref = read_record(samples / "A00001")
    assert rec.leads[0].name == "ECG Ableitung — Brustwand" and rec.leads[0].units == "mV"
    np.testing.assert_allclose(rec.signal, ref.signal, rtol=1e-6)
    assert "Patient: Jürgen, 57 J." in rec.comments
    # a Latin-1 header (not UTF-8) is read as Latin-1
    raw = (samples / "A00001.hea").read_text().replace("A00001", "lat").replace(" ECG", " ECG Ü")
    rec = read_record(_clone_sample(samples, tmp_path, "lat", raw=raw.encode("latin-1")))
    assert rec.leads[0].name == "ECG Ü"


def test_line_endings_do_not_matter(samples, tmp_path):
    for name, nl in (("crlf", "\r\n"), ("cr", "\r")):
        rec = read_record(_clone_sample(samples, tmp_path, name, lambda h: h.replace("\n", nl)))
        assert rec.fs == 300.0 and rec.n_samples == 9000


def test_missing_samples_error_is_typed(tmp_path):
    from engine.errors import MissingSamples

    d = _ecg_like(3000, 300)
    d[100:110] = -32768
    rec = read_record(_wrsamp(tmp_path, "gap", d, 300, ["ECG"], ["mV"], [1000.0]))
    with pytest.raises(MissingSamples) as e:
        rec.lead_mv()
    assert e.value.fillable and e.value.n_missing == 10 and abs(e.value.longest_gap_s - 10 / 300) < 1e-9
    assert isinstance(e.value, UserError) and "--fill-gaps" in str(e.value)
    d[100:1000] = -32768  # 3 s gap: too long to fill
    rec = read_record(_wrsamp(tmp_path, "longgap", d, 300, ["ECG"], ["mV"], [1000.0]))
    with pytest.raises(MissingSamples) as e:
        rec.lead_mv()
    assert not e.value.fillable and "too many to fill" in str(e.value)
    with pytest.raises(MissingSamples):
        rec.lead_mv(fill_gaps=True)


def test_record_too_large_for_memory_refused_before_reading(tmp_path):
    from engine.records import MAX_RECORD_VALUES

    # a header claiming more samples than can be held, over a signal file that is that large (sparse)
    n = MAX_RECORD_VALUES // 2 + 1
    (tmp_path / "huge.hea").write_text(f"huge 2 300 {n}\nhuge.dat 16 1000/mV 16 0 0 0 0 ECG\n"
                                       "huge.dat 16 1000/mV 16 0 0 0 0 II\n")
    with open(tmp_path / "huge.dat", "wb") as fh:
        fh.truncate(n * 4)
    with pytest.raises(UserError, match="too large to read"):
        read_record(tmp_path / "huge")


@pytest.mark.parametrize("body", ["self/1 1 300 100\nself 100\n", "self/2 1 300 100\nother 50\n../x 50\n",
                                  "self/2 1 300 100\nseg 50\n", "self/1 1 300 100\n",
                                  "self/1 1 nan 100\nseg 100\n"])
def test_hostile_multisegment_headers(tmp_path, body):
    (tmp_path / "other.hea").write_text("other/1 1 300 50\nself 50\n")  # a loop through another record
    (tmp_path / "seg.hea").write_text("seg 1 250 50\nseg.dat 16 200/mV 16 0 0 0 0 ECG\n")  # other rate
    (tmp_path / "seg.dat").write_bytes(bytes(100))
    (tmp_path / "self.hea").write_text(body)
    with pytest.raises(UserError) as e:
        read_record(tmp_path / "self")
    assert "\n" not in str(e.value)


@pytest.mark.shared
def test_a_cut_annotation_file_says_so(wfdb_samples, tmp_path):
    """An .atr cut short (a copy stopped early) has no end-of-file zero word: it was read silently
    as fewer annotations (497 of 2274 for 100.atr cut at 1001 bytes); now its note says so."""
    import shutil

    for ext in (".hea", ".dat"):
        shutil.copy(wfdb_samples / ("100" + ext), tmp_path / ("100" + ext))
    (tmp_path / "100.atr").write_bytes((wfdb_samples / "100.atr").read_bytes()[:1001])
    ann = read_record(tmp_path / "100").annotations
    assert ann is not None and 0 < len(ann) < 2274
    assert "without its end-of-file mark" in ann.note and "without its end-of-file mark" in ann.summary()
    assert read_record(wfdb_samples / "100").annotations.note == ""  # the whole file: no note
