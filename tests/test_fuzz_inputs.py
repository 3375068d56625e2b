"""Fuzz (hypothesis): WFDB headers, signal files, label files and split names.

The contract: `read_record` (then `lead_mv`) and `open_dataset` / `select_split` either return a
valid result (finite float32 mV signal, a sampling rate in the accepted range, labels of known
classes) or raise `UserError` with a one-line message; never any other exception.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from conftest import SAMPLES
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from engine.datasets import CLASSES, open_dataset, read_labels, select_split
from engine.errors import UserError
from engine.records import read_record
from engine.wfdb_header import MAX_FS, MIN_FS

FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SAMPLE_DAT = (SAMPLES / "A00001.mat").read_bytes()

# a valid header, field by field (A00001: 1 signal, 300 Hz, 9000 samples, format 16 at byte 24)
FIELDS = {"n_sig": "1", "fs": "300", "n_samples": "9000", "time": "05:05:15", "date": "1/05/2000",
          "file": "{name}.mat", "fmt": "16+24", "gain": "1000/mV", "adc_res": "16", "adc_zero": "0",
          "init": "-127", "checksum": "0", "block": "0", "desc": "ECG"}

NUMBERISH = st.one_of(
    st.integers(-10 ** 20, 10 ** 20).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["nan", "NaN", "inf", "-inf", "1e300", "-300", "0", "0.0", "1e-300", "", "abc", "0x10",
                     "300/0", "300/-1(5)", "300(", "1_000", "٣٠٠", "３００", "+300", " "]),
    st.text(min_size=0, max_size=8),
)
TEXTISH = st.one_of(st.text(max_size=30), st.sampled_from(["", " ", "ÉCG—µ", "Ableitung II", "\t", "ECG\x00",
                                                           "心电图", "#", "ECG # x", "\u2028", "\x1b[31m"]))


def _header(f: dict) -> str:
    rec = " ".join(v for v in ("{name}", f["n_sig"], f["fs"], f["n_samples"], f["time"], f["date"]) if v != "")
    sig = " ".join(v for v in (f["file"], f["fmt"], f["gain"], f["adc_res"], f["adc_zero"], f["init"],
                               f["checksum"], f["block"], f["desc"]) if v != "")
    return rec + "\n" + sig + "\n"


@st.composite
def headers(draw):
    f = dict(FIELDS)
    for key in draw(st.sets(st.sampled_from(sorted(FIELDS)), min_size=1, max_size=4)):
        f[key] = draw(TEXTISH if key in ("desc", "file", "time", "date") else NUMBERISH)
    if draw(st.booleans()):  # units and baseline inside the gain field
        units = draw(st.sampled_from(["mV", "uV", "µV", "V", "mmHg", "NU", "", "m V", "ü"]))
        base = draw(st.one_of(st.none(), NUMBERISH))
        gain = draw(st.one_of(st.just("1000"), NUMBERISH))
        f["gain"] = gain + (f"({base})" if base is not None else "") + (f"/{units}" if units else "")
    text = _header(f)
    nl = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    text = text.replace("\n", nl)
    if draw(st.booleans()):
        text = draw(st.sampled_from(["", "# comment\n", "#ÄÖÜ\n", "\n\n"])) + text
    return text


def _check_record(folder: Path, name: str) -> None:
    """The contract for one record on disk."""
    try:
        rec = read_record(folder / name)
    except UserError as exc:
        msg = str(exc)
        assert msg and "\n" not in msg and "\r" not in msg
        return
    assert math.isfinite(rec.fs) and MIN_FS <= rec.fs <= MAX_FS
    assert rec.signal.dtype == np.float32 and rec.signal.ndim == 2 and rec.signal.shape[0] > 0
    assert len(rec.leads) == rec.signal.shape[1]
    for lead in rec.leads:
        assert lead.gain > 0 and math.isfinite(lead.gain)
    for lead in [None] + [ld.name for ld in rec.leads]:
        try:
            x, _ = rec.lead_mv(lead)
        except UserError as exc:
            assert "\n" not in str(exc)
            continue
        assert x.dtype == np.float32 and x.ndim == 1 and np.isfinite(x).all()


def _write(folder: Path, name: str, header: str | bytes, dat: bytes | None = SAMPLE_DAT) -> None:
    raw = header if isinstance(header, bytes) else header.replace("{name}", name).encode("utf-8", "surrogatepass")
    (folder / f"{name}.hea").write_bytes(raw)
    if dat is not None:
        (folder / f"{name}.mat").write_bytes(dat)


@FUZZ
@given(header=headers())
def test_fuzz_mutated_header_fields(header):
    with tempfile.TemporaryDirectory() as d:
        _write(Path(d), "rec", header)
        _check_record(Path(d), "rec")


@FUZZ
@given(raw=st.binary(max_size=300), keep_first_line=st.booleans())
def test_fuzz_header_bytes(raw, keep_first_line):
    valid = _header(FIELDS).replace("{name}", "rec").encode()
    data = valid.split(b"\n", 1)[0] + b"\n" + raw if keep_first_line else raw
    with tempfile.TemporaryDirectory() as d:
        _write(Path(d), "rec", data)
        _check_record(Path(d), "rec")


@FUZZ
@given(cut=st.integers(0, len(SAMPLE_DAT)), flips=st.lists(st.tuples(st.integers(0, len(SAMPLE_DAT) - 1),
                                                                     st.integers(0, 255)), max_size=20),
       extra=st.binary(max_size=64))
def test_fuzz_signal_file_bytes(cut, flips, extra):
    data = bytearray(SAMPLE_DAT)
    for i, b in flips:
        data[i] = b
    data = bytes(data[:cut]) + (extra if cut == len(SAMPLE_DAT) else b"")
    with tempfile.TemporaryDirectory() as d:
        _write(Path(d), "rec", _header(FIELDS), data)
        _check_record(Path(d), "rec")


def _atr_bytes() -> bytes:
    """A valid .atr: a rhythm change and beats (the last, a V, past the 9000-sample record's end)."""
    import wfdb

    with tempfile.TemporaryDirectory() as d:
        wfdb.wrann("rec", "atr", np.array([5, 300, 600, 9500]), symbol=["+", "N", "N", "V"],
                   aux_note=["(AFIB", "", "", ""], write_dir=d, fs=300)
        return (Path(d) / "rec.atr").read_bytes()


ATR = _atr_bytes()


def test_damaged_atr_that_hangs_wfdb_rdann_is_read_by_our_parser():
    """Found by the fuzz test below: wfdb.rdann loops forever on these bytes (a note starting "## "
    that is neither the time resolution nor a label definition); our parser answers at once."""
    from engine.annotations import read_annotations

    raw = bytes.fromhex("005817fc23232074696dc020726573946c7574696f6e3a203330300000ec828d38788d0585df")
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "rec.atr").write_bytes(raw)
        ann, err = read_annotations(str(Path(d) / "rec"), 300.0, 9000)
    assert ann is None and err == "rec.atr: cannot read annotations (annotation 2 lies before the record's start)"


@FUZZ
@given(cut=st.integers(0, len(ATR)), flips=st.lists(st.tuples(st.integers(0, len(ATR) - 1), st.integers(0, 255)),
                                                    max_size=8), extra=st.binary(max_size=32))
@example(cut=len(ATR), flips=[], extra=b"")
def test_fuzz_annotation_file_bytes(cut, flips, extra):
    """A damaged .atr never stops the record from opening: its annotations are read (in the record,
    sorted, one label each) or the reason is kept as one line naming the file."""
    data = bytearray(ATR)
    for i, b in flips:
        data[i] = b
    with tempfile.TemporaryDirectory() as d:
        _write(Path(d), "rec", _header(FIELDS), SAMPLE_DAT)
        (Path(d) / "rec.atr").write_bytes(bytes(data[:cut]) + extra)
        rec = read_record(Path(d) / "rec")
        ann = rec.annotations
        if ann is None:
            assert rec.annotation_error == "" or (rec.annotation_error.startswith("rec.atr: ")
                                                  and "\n" not in rec.annotation_error)
        else:
            assert rec.annotation_error == ""
            assert len(ann.label) == len(ann.symbol) == ann.sample.size == ann.time_s.size
            assert np.all((ann.sample >= 0) & (ann.sample < rec.n_samples)) and np.all(np.diff(ann.sample) >= 0)
            np.testing.assert_allclose(ann.time_s, ann.sample / 300.0)
            if not flips and cut == len(ATR) and not extra:
                assert ann.label == ("(AFIB", "N", "N") and ann.note == "1 annotation beyond the record's end ignored"


@FUZZ
@given(fmt=st.sampled_from(["8", "16", "61", "80", "160", "212", "24", "32", "310", "311"]),
       n_sig=st.integers(1, 3), n=st.integers(0, 2000), size=st.integers(0, 8000), fs=NUMBERISH)
def test_fuzz_format_size_mismatch(fmt, n_sig, n, size, fs):
    header = f"{{name}} {n_sig} {fs} {n}\n" + "".join(f"{{name}}.dat {fmt} 200/mV 12 0 0 0 0 ECG{i}\n"
                                                       for i in range(n_sig))
    with tempfile.TemporaryDirectory() as d:
        _write(Path(d), "rec", header, None)
        (Path(d) / "rec.dat").write_bytes(np.random.default_rng(n).integers(0, 256, size, dtype=np.uint8).tobytes())
        _check_record(Path(d), "rec")


# ---------------------------------------------------------------- label files and split names

LABEL_TEXT = st.lists(st.tuples(st.sampled_from(["A00001", "A00002", "x", "", " A00001 ", "A00001.hea", "Ä"]),
                                st.sampled_from(["N", "A", "O", "~", "n", "X", "", "label", "N ", "Ö"])),
                      max_size=6).map(lambda rows: "".join(f"{a},{b}\n" for a, b in rows))


@st.composite
def label_bytes(draw):
    kind = draw(st.sampled_from(["text", "binary", "mixed"]))
    if kind == "binary":
        return draw(st.binary(max_size=200))
    text = draw(LABEL_TEXT)
    if draw(st.booleans()):
        text = text.replace("\n", draw(st.sampled_from(["\r\n", "\r", ";", "\t"])))
    enc = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-32", "latin-1", "cp1252"]))
    try:
        raw = text.encode(enc)
    except UnicodeEncodeError:
        raw = text.encode("utf-8")
    if kind == "mixed":
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(st.binary(min_size=1, max_size=20)) + raw[at:]
    return raw


@pytest.fixture(scope="module")
def one_record_folder():
    d = tempfile.mkdtemp(prefix="fuzz-ds-")
    for ext in (".hea", ".mat"):
        shutil.copy(SAMPLES / f"A00001{ext}", d)
    yield Path(d)
    shutil.rmtree(d, ignore_errors=True)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=label_bytes())
def test_fuzz_label_files(one_record_folder, raw):
    (one_record_folder / "REFERENCE.csv").write_bytes(raw)
    try:
        ds = open_dataset(one_record_folder)
    except UserError as exc:
        assert "\n" not in str(exc)
        return
    assert ds.names == ["A00001"]
    assert all(v in CLASSES and k and k == k.strip() for k, v in ds.labels.items())
    assert read_labels(one_record_folder / "REFERENCE.csv") == ds.labels


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(split=st.one_of(st.text(max_size=20), st.from_regex(r"strat-(val|train)(:.{0,12})?", fullmatch=True),
                       st.sampled_from(["all", "paper-val", "paper-train", "strat-val:7", "strat-train:0"])))
def test_fuzz_split_names(one_record_folder, split):
    (one_record_folder / "REFERENCE.csv").write_text("A00001,N\n")
    ds = open_dataset(one_record_folder)
    cwd = os.getcwd()
    os.chdir(one_record_folder)  # relative names resolve in a folder holding only the record files
    try:
        s = select_split(ds, split)
    except UserError as exc:
        assert "\n" not in str(exc)
        return
    finally:
        os.chdir(cwd)
    assert set(s.names) <= set(ds.names)


@FUZZ
@given(segs=st.lists(st.tuples(st.sampled_from(["s1", "s2", "lay", "~", "rec", "nope", "../s1", "s1.hea"]),
                               st.one_of(st.sampled_from(["900", "600", "0"]), st.integers(-5, 3000).map(str),
                                         NUMBERISH)), min_size=0, max_size=4),
       n_seg=st.one_of(st.none(), st.none(), NUMBERISH), fs=st.sampled_from(["300", "300", "300", "250", "nan"]),
       total=st.integers(-1, 5000))
@example(segs=[("lay", "0"), ("s1", "900"), ("s2", "600")], n_seg=None, fs="300", total=1500)  # valid
@example(segs=[("s1", "900"), ("s2", "600")], n_seg=None, fs="300", total=1500)                # valid
@example(segs=[("s1", "500"), ("s2", "900")], n_seg=None, fs="300", total=1400)  # counts ≠ files
@example(segs=[("lay", "0"), ("s1", "900"), ("s2", "600")], n_seg=None, fs="300", total=9999)
def test_fuzz_multisegment_headers(segs, n_seg, fs, total):
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d)
        for name, n in (("s1", 900), ("s2", 600)):
            x = (np.sin(np.arange(n) / 20) * 800).astype("<i2")
            (folder / f"{name}.hea").write_text(f"{name} 1 300 {n}\n{name}.dat 16 1000/mV 16 0 0 0 0 II\n")
            (folder / f"{name}.dat").write_bytes(x.tobytes())
        (folder / "lay.hea").write_text("lay 1 300 0\n~ 0 1000/mV 16 0 0 0 0 II\n")
        count = str(len(segs)) if n_seg is None else n_seg
        body = "".join(f"{a} {b}\n" for a, b in segs)
        (folder / "rec.hea").write_text(f"rec/{count} 1 {fs} {total}\n{body}")
        _check_record(folder, "rec")
