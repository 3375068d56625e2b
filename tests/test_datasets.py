"""Datasets: label files, splits (paper, seeded stratified, list file), missing records, bad folders."""

from __future__ import annotations

import shutil
from collections import Counter

import numpy as np
import pytest
from conftest import SAMPLE_NAMES

from engine.datasets import (CLASSES, PAPER_SPLITS, find_label_file, load_signals, open_dataset, read_labels,
                             read_name_list, select_split, stratified_split)
from engine.errors import UserError


@pytest.fixture
def sample_copy(tmp_path, samples):
    """A writable copy of the bundled samples (records only, no label file)."""
    for name in SAMPLE_NAMES:
        for ext in (".hea", ".mat"):
            shutil.copy(samples / (name + ext), tmp_path / (name + ext))
    return tmp_path


def test_open_bundled_samples(samples, sample_labels):
    ds = open_dataset(samples)
    assert ds.names == SAMPLE_NAMES and len(ds.names) == 12
    assert ds.label_file.endswith("REFERENCE.csv")
    assert ds.labels == sample_labels
    assert Counter(ds.labels.values()) == {"N": 4, "A": 3, "O": 3, "~": 2}
    assert ds.label("A00009") == "A" and ds.label("nope") is None


def test_labels_with_and_without_header(tmp_path, samples):
    plain = (samples / "REFERENCE.csv").read_text()
    (tmp_path / "a.csv").write_text(plain)
    (tmp_path / "b.csv").write_text("Record,Label\n" + plain)
    (tmp_path / "c.csv").write_text("\ufeffname,label\r\n" + plain.replace("\n", "\r\n") + "\r\n\r\n")
    a, b, c = (read_labels(tmp_path / f) for f in ("a.csv", "b.csv", "c.csv"))
    assert a == b == c
    assert len(a) == 12 and set(a.values()) <= set(CLASSES)


def test_unknown_class_is_an_error(tmp_path):
    (tmp_path / "bad.csv").write_text("A00001,N\nA00002,X\n")
    with pytest.raises(UserError, match=r"line 2.*unknown class 'X'"):
        read_labels(tmp_path / "bad.csv")
    (tmp_path / "bad2.csv").write_text("A00001\n")
    with pytest.raises(UserError, match="not 'record,label'"):
        read_labels(tmp_path / "bad2.csv")
    with pytest.raises(UserError, match="label file .*missing.csv does not exist"):
        read_labels(tmp_path / "missing.csv")


def test_choose_label_file(sample_copy, samples):
    shutil.copy(samples / "REFERENCE.csv", sample_copy / "REFERENCE.csv")
    # an older and a newer label version: the newest (-v3) is the default, --labels picks another
    (sample_copy / "REFERENCE-v2.csv").write_text("A00001,O\n")
    (sample_copy / "REFERENCE-v3.csv").write_text("A00001,A\n")
    (sample_copy / "REFERENCE-original.csv").write_text("A00001,~\n")
    assert find_label_file(str(sample_copy)).endswith("REFERENCE-v3.csv")
    assert open_dataset(sample_copy).label("A00001") == "A"
    assert open_dataset(sample_copy, sample_copy / "REFERENCE-v2.csv").label("A00001") == "O"
    assert open_dataset(sample_copy, sample_copy / "REFERENCE.csv").label("A00001") == "N"
    with pytest.raises(UserError, match="no such label file"):
        open_dataset(sample_copy, sample_copy / "nope.csv")


def test_folder_without_labels(sample_copy):
    ds = open_dataset(sample_copy)
    assert ds.label_file is None and ds.labels == {} and len(ds.names) == 12


def test_empty_or_missing_folder_is_an_error(tmp_path):
    with pytest.raises(UserError, match="no records"):
        open_dataset(tmp_path)
    (tmp_path / "REFERENCE.csv").write_text("A00001,N\n")
    with pytest.raises(UserError, match="no records"):
        open_dataset(tmp_path)
    with pytest.raises(UserError, match="no such dataset folder"):
        open_dataset(tmp_path / "absent")


def test_paper_splits_shipped():
    train = read_name_list(PAPER_SPLITS["paper-train"])
    val = read_name_list(PAPER_SPLITS["paper-val"])
    assert len(train) == 7675 and len(val) == 853
    assert not set(train) & set(val)
    assert sorted(set(train) | set(val)) == [f"A{i:05d}" for i in range(1, 8529)]


def test_paper_split_on_samples_reports_missing(samples):
    ds = open_dataset(samples)
    tr = select_split(ds, "paper-train")
    assert sorted(tr.names) == SAMPLE_NAMES  # all twelve samples are paper-training records
    assert len(tr.missing) == 7675 - 12
    msg = tr.describe_missing()
    assert msg.startswith("7663 records of the split are missing") and "A00003" in msg
    va = select_split(ds, "paper-val")
    assert va.names == [] and len(va.missing) == 853
    assert select_split(ds, "all").missing == [] and select_split(ds, "all").describe_missing() is None


@pytest.mark.shared
def test_paper_splits_on_shared_data(physionet):
    ds = open_dataset(physionet)
    assert len(ds.names) == 7675 and ds.label_file.endswith("REFERENCE-v3.csv")
    assert Counter(ds.labels.values()) == {"N": 4567, "A": 674, "O": 2186, "~": 248}
    tr = select_split(ds, "paper-train")
    assert len(tr.names) == 7675 and tr.missing == []
    va = select_split(ds, "paper-val")  # deliberately not provided in ../shared
    assert va.names == [] and len(va.missing) == 853 and "853 records" in va.describe_missing()


def test_explicit_list_file(samples, tmp_path):
    f = tmp_path / "mine.txt"
    f.write_text("# my split\nA00009\nA00013.hea\n\nA00099  # not in the folder\nA00054,A\n")
    assert read_name_list(f) == ["A00009", "A00013", "A00099", "A00054"]
    sp = select_split(open_dataset(samples), str(f))
    assert sp.names == ["A00009", "A00013", "A00054"]
    assert sp.missing == ["A00099"]
    assert "1 records" in sp.describe_missing() and "A00099" in sp.describe_missing()
    with pytest.raises(UserError, match="unknown split"):
        select_split(open_dataset(samples), "no-such-split")


def test_split_file_names_listed_twice_count_once(samples, tmp_path):
    """A record named twice in a split file (A00009 and A00009.hea) is one record: it was
    evaluated, attacked and counted twice, inflating n and the results file."""
    f = tmp_path / "dup.txt"
    f.write_text("A00009\nA00013\nA00009.hea\nA00099\nA00099\n")
    sp = select_split(open_dataset(samples), str(f))
    assert sp.names == ["A00009", "A00013"]
    assert sp.missing == ["A00099"]


def _synthetic_labels(n=1000, seed=5):
    rng = np.random.default_rng(seed)
    names = [f"R{i:05d}" for i in range(n)]
    labs = rng.choice(list(CLASSES), size=n, p=[0.6, 0.09, 0.28, 0.03])
    return names, dict(zip(names, labs))


def test_stratified_split_seeded_reproducible_stratified():
    names, labels = _synthetic_labels()
    tr1, va1 = stratified_split(names, labels, 0.1, seed=3)
    tr2, va2 = stratified_split(list(reversed(names)), labels, 0.1, seed=3)
    assert (tr1, va1) == (tr2, va2)  # same seed, same split, whatever the input order
    tr3, va3 = stratified_split(names, labels, 0.1, seed=4)
    assert va3 != va1
    assert not set(tr1) & set(va1) and sorted(tr1 + va1) == sorted(names)
    total, in_val = Counter(labels.values()), Counter(labels[n] for n in va1)
    for c in CLASSES:
        assert in_val[c] == round(total[c] * 0.1), (c, in_val[c], total[c])


def test_stratified_split_via_select_split(samples):
    ds = open_dataset(samples)
    va = select_split(ds, "strat-val:1").names
    tr = select_split(ds, "strat-train:1").names
    assert sorted(va + tr) == SAMPLE_NAMES and not set(va) & set(tr)
    assert select_split(ds, "strat-val:1").names == va
    assert select_split(ds, "strat-val").names == select_split(ds, "strat-val:0").names


@pytest.mark.shared
def test_stratified_split_shared_proportions(physionet):
    ds = open_dataset(physionet)
    tr, va = stratified_split(ds.names, ds.labels, 0.1, seed=0)
    assert len(tr) + len(va) == 7675
    counts = Counter(ds.labels[n] for n in va)
    assert counts == {"N": 457, "A": 67, "O": 219, "~": 25}


def test_unlabelled_records_go_to_train():
    tr, va = stratified_split(["a", "b", "c"], {"a": "N"}, 0.5, seed=0)
    assert set(tr) >= {"b", "c"}


def test_load_signals(samples):
    ds = open_dataset(samples)
    out = load_signals(ds, ["A00001", "A00009"])
    assert [n for n, _, _ in out] == ["A00001", "A00009"]
    assert all(fs == 300.0 and x.dtype == np.float32 and x.ndim == 1 for _, x, fs in out)
    assert len(out[0][1]) == 9000


def test_signal_cache_round_trip(samples, tmp_path, monkeypatch):
    from engine.signals_cache import load_dataset_signals

    monkeypatch.setenv("ECGADV_CACHE", str(tmp_path / "cache"))
    ds = open_dataset(samples)
    names = ["A00002", "A00022"]
    a = load_dataset_signals(ds, names, 300.0)
    assert len(list((tmp_path / "cache").glob("signals-*.npz"))) == 1
    b = load_dataset_signals(ds, names, 300.0)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    c = load_dataset_signals(ds, names, 150.0)
    assert len(c[0]) == len(a[0]) // 2


# ---------------------------------------------------------------- hostile label files, splits, cache (issue 11)

REF = "A00001,N\nA00002,A\nA00003,O\n"


def _labels_file(tmp_path, data: bytes):
    p = tmp_path / "REFERENCE.csv"
    p.write_bytes(data)
    return p


@pytest.mark.parametrize("data", [REF.encode("utf-8"), b"\xef\xbb\xbf" + REF.encode(), REF.encode("utf-16"),
                                  REF.replace("\n", "\r\n").encode(), REF.replace("\n", "\r").encode(),
                                  ("record,label\n" + REF).encode(), (REF + "A00001,N\n").encode()])
def test_label_file_accepted_forms(tmp_path, data):
    # UTF-8 with or without BOM, UTF-16 with BOM, any line ending, a header line, a repeated same label
    assert read_labels(_labels_file(tmp_path, data)) == {"A00001": "N", "A00002": "A", "A00003": "O"}


@pytest.mark.parametrize("data,match", [
    (REF.encode("utf-16-le"), "not a text file|not UTF-8"),        # UTF-16 without BOM: NULs
    (REF.encode("utf-32"), "not UTF-8|not a text file"),
    (bytes(range(256)) * 4, "not UTF-8|not a text file"),
    (b"\x00\x00\x00\x00", "not a text file"),
    (b"PK\x03\x04" + bytes(100), "not a text file|not UTF-8"),
    ("A00001,N\nA00002,Ä\n".encode("latin-1"), "not UTF-8"),
    (b"A00001;N\n", "line 1 is not 'record,label'"),
    (b"A00001,N\nA00002,X\n", "line 2: unknown class 'X'"),
    (b"A00001,N\nA00002,n\n", "unknown class 'n'"),
    (b"A00001,N\n,A\n", "line 2: empty record name"),
    (b"A00001,N\nA00002,A\nA00001,O\n", "A00001 is labelled twice, N on line 1 and O on line 3"),
])
def test_label_file_refused_with_one_line(tmp_path, data, match):
    with pytest.raises(UserError, match=match) as e:
        read_labels(_labels_file(tmp_path, data))
    assert "\n" not in str(e.value)


def test_label_file_that_is_a_folder(tmp_path):
    with pytest.raises(UserError, match="label file .* is a folder, not a file"):
        read_labels(tmp_path)


def test_dataset_folder_with_glob_characters(tmp_path, samples):
    folder = tmp_path / "data[1]"
    folder.mkdir()
    for ext in (".hea", ".mat"):
        shutil.copy(samples / f"A00001{ext}", folder)
    (folder / "REFERENCE.csv").write_text("A00001,N\n")
    ds = open_dataset(folder)
    assert ds.names == ["A00001"] and ds.labels == {"A00001": "N"}


@pytest.mark.parametrize("split", ["strat-val:abc", "strat-val:", "strat-val:-1", "strat-valx", "strat-train:1.5",
                                   "strat-val:99999999999", "strat-", "strat-test", "paper-tset", "nosuchfile.txt"])
def test_malformed_split_names_refused(samples, split):
    ds = open_dataset(samples)
    with pytest.raises(UserError, match=r"unknown split .*strat-val\[:SEED\]") as e:
        select_split(ds, split)
    assert "\n" not in str(e.value)


def test_strat_split_seed_forms(samples):
    ds = open_dataset(samples)
    assert select_split(ds, "strat-val").names == select_split(ds, "strat-val:0").names
    assert select_split(ds, "strat-val:4294967295").names  # largest seed accepted


@pytest.mark.parametrize("damage", ["garbage", "truncate", "pickle", "wrong_offsets", "nan", "empty"])
def test_corrupt_signal_cache_is_rebuilt(samples, tmp_path, monkeypatch, damage):
    from engine.signals_cache import load_dataset_signals

    monkeypatch.setenv("ECGADV_CACHE", str(tmp_path / "cache"))
    ds = open_dataset(samples)
    names = ["A00002", "A00022"]
    good = load_dataset_signals(ds, names, 300.0)
    (path,) = (tmp_path / "cache").glob("signals-*.npz")
    raw = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(b"\x93NUMPY garbage" * 10)
    elif damage == "truncate":
        path.write_bytes(raw[: len(raw) // 2])
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "pickle":  # an object array would need unpickling: must never be loaded
        np.savez(path, flat=np.array([{"x": 1}], dtype=object), offsets=np.array([0, 1]))
    elif damage == "wrong_offsets":
        np.savez(path, flat=np.zeros(10, np.float32), offsets=np.array([0, 5, 99], np.int64))
    else:
        np.savez(path, flat=np.full(len(raw), np.nan, np.float32)[:18000],
                 offsets=np.array([0, 9000, 18000], np.int64))
    again = load_dataset_signals(ds, names, 300.0)
    for x, y in zip(good, again):
        np.testing.assert_array_equal(x, y)
    # and the cache file was rewritten whole: a third read comes from it and equals the first
    third = load_dataset_signals(ds, names, 300.0)
    for x, y in zip(good, third):
        np.testing.assert_array_equal(x, y)
    assert not list((tmp_path / "cache").glob("*.tmp.npz"))
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [path.name]  # no temporary file left


def test_unwritable_cache_is_skipped(samples, tmp_path, monkeypatch):
    from engine.signals_cache import load_dataset_signals

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("ECGADV_CACHE", str(blocker / "cache"))
    out = load_dataset_signals(open_dataset(samples), ["A00002"], 300.0)
    assert out[0].shape == (len(out[0]),) and out[0].dtype == np.float32
