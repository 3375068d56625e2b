"""PhysioNet 2017-style datasets: a folder of A*.hea/A*.mat with REFERENCE*.csv labels, and splits."""

from __future__ import annotations

import csv
import glob
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import UserError
from .inputs import read_bounded
from .records import read_record

CLASSES = ("N", "A", "O", "~")
# each class's description (long: headers, tables; short: narrow columns and menus), declared once
CLASS_DESCRIPTIONS = {"N": ("Normal rhythm", "Normal"), "A": ("Atrial fibrillation", "AF"),
                      "O": ("Other rhythm", "Other"), "~": ("Too noisy", "Noisy")}
RESOURCES = Path(__file__).resolve().parent.parent / "resources"
PAPER_SPLITS = {"paper-train": RESOURCES / "splits" / "paper-train.txt",
                "paper-val": RESOURCES / "splits" / "paper-val.txt"}


@dataclass
class Dataset:
    """A folder of records with optional labels (record name -> class)."""

    folder: str
    names: list[str]
    labels: dict[str, str]
    label_file: str | None = None

    def path(self, name: str) -> str:
        return os.path.join(self.folder, name)

    def label(self, name: str) -> str | None:
        return self.labels.get(name)


MAX_LABEL_FILE_BYTES = 64 * 1024 * 1024
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # control characters other than tab/newlines


def _list_text(path: str | os.PathLike, what: str = "label file", lines: str = "'record,label' lines") -> str:
    """A label or split file's text: UTF-8 (with or without BOM) or UTF-16 with a BOM; others,
    binary data, pipes and devices refused. `what` names the file, `lines` what it holds."""
    raw = read_bounded(path, what, MAX_LABEL_FILE_BYTES)
    try:
        if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
            text = raw.decode("utf-16")
        else:
            text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UserError(f"{what} {path} is not UTF-8 text (save it as UTF-8 text of {lines})") from None
    if _CONTROL.search(text):
        raise UserError(f"{what} {path} is not a text file of {lines}")
    return text


def _label_text(path: str | os.PathLike) -> str:
    return _list_text(path)


def read_labels(path: str | os.PathLike) -> dict[str, str]:
    """Read a REFERENCE*.csv (`name,label`, header line optional) → {record name: class}.

    Accepted: UTF-8 with or without BOM, UTF-16 with BOM; any line ending; a first line
    'record,label' (or similar) as a header; a name repeated with the same label. Refused with a
    one-line UserError: other encodings or binary data, rows without two fields, unknown classes,
    empty names and a name given two different labels.
    """
    text = _label_text(path)
    labels: dict[str, str] = {}
    first_line: dict[str, int] = {}
    try:
        rows = list(enumerate(csv.reader(text.splitlines()), start=1))
    except csv.Error as exc:
        raise UserError(f"{path}: not a CSV file of 'record,label' lines ({exc})") from None
    rows = [(ln, r) for ln, r in rows if r and any(c.strip() for c in r)]
    for i, (line, row) in enumerate(rows):
        if len(row) < 2:
            raise UserError(f"{path}: line {line} is not 'record,label' ({','.join(row)[:40]!r})")
        name, lab = row[0].strip(), row[1].strip()
        if i == 0 and lab not in CLASSES and lab.lower() in {"label", "class", "rhythm", "y"}:
            continue  # header line
        if lab not in CLASSES:
            raise UserError(f"{path}: line {line}: unknown class {lab[:20]!r} (expected one of N, A, O, ~)")
        if not name:
            raise UserError(f"{path}: line {line}: empty record name")
        name = Path(name).stem if name.lower().endswith((".hea", ".mat", ".dat")) else name
        if name in labels and labels[name] != lab:
            raise UserError(f"{path}: record {name[:40]} is labelled twice, {labels[name]} on line "
                            f"{first_line[name]} and {lab} on line {line}")
        labels[name] = lab
        first_line.setdefault(name, line)
    return labels


def find_label_file(folder: str) -> str | None:
    """The newest-looking REFERENCE*.csv in a folder (REFERENCE-v3 over REFERENCE), or None."""
    files = glob.glob(os.path.join(glob.escape(folder), "REFERENCE*.csv"))
    if not files:
        return None

    def rank(f: str) -> tuple[int, str]:  # highest -vN first, then plain REFERENCE.csv over others
        m = re.search(r"-v(\d+)\.csv$", f, re.IGNORECASE)
        return (int(m.group(1)) if m else -1, os.path.basename(f))

    return max(files, key=rank)


def label_for_record(record_path: str | os.PathLike) -> str | None:
    """A record's label from a REFERENCE*.csv in its own folder, or None when there is none."""
    from .records import record_base

    base = record_base(record_path)
    ref = find_label_file(os.path.dirname(os.path.abspath(base)))
    if not ref:
        return None
    try:
        return read_labels(ref).get(os.path.basename(base))
    except UserError:
        return None


def open_dataset(folder: str | os.PathLike, labels: str | os.PathLike | None = None) -> Dataset:
    """List the records of a folder (names of *.hea) and read its labels."""
    folder = str(folder)
    if not os.path.isdir(folder):
        if os.path.exists(folder):  # a record or a label file: not 'no such dataset folder'
            raise UserError(f"{folder} is a file, not a dataset folder: give the folder that holds the records")
        raise UserError(f"no such dataset folder: {folder}")
    names = sorted(Path(h).stem for h in glob.glob(os.path.join(glob.escape(folder), "*.hea")))
    if not names:
        raise UserError(f"{folder}: no records (*.hea) found in this folder")
    label_file = str(labels) if labels else find_label_file(folder)
    if labels and not os.path.isfile(str(labels)):
        raise UserError(f"no such label file: {labels}")
    lab = read_labels(label_file) if label_file else {}
    return Dataset(folder=folder, names=names, labels=lab, label_file=label_file)


def read_name_list(path: str | os.PathLike) -> list[str]:
    """One record name per line (blank lines and # comments ignored; extensions stripped).
    Encodings as for label files: UTF-8 with or without BOM (a BOM used to stay on the first name,
    which then matched no record), UTF-16 with BOM."""
    text = _list_text(path, "split file", "record names")
    out = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            out.append(Path(line.split(",")[0].strip()).stem if "." in line else line.split(",")[0].strip())
    return out


def stratified_split(names: list[str], labels: dict[str, str], val_fraction: float = 0.1,
                     seed: int = 0) -> tuple[list[str], list[str]]:
    """Seeded stratified split into (train, val); unlabelled records go to train."""
    rng = np.random.default_rng(seed)
    train, val = [], []
    for cls in CLASSES + (None,):
        group = sorted(n for n in names if labels.get(n) == cls)
        if cls is None:
            train += group
            continue
        perm = rng.permutation(len(group))
        k = int(round(len(group) * val_fraction))
        if k == 0 and len(group) >= 2 and val_fraction > 0:
            k = 1  # every class with two or more records is represented in validation
        val += [group[i] for i in perm[:k]]
        train += [group[i] for i in perm[k:]]
    return sorted(train), sorted(val)


@dataclass
class Split:
    names: list[str]
    missing: list[str]

    def describe_missing(self) -> str | None:
        if not self.missing:
            return None
        first = ", ".join(self.missing[:5])
        return f"{len(self.missing)} records of the split are missing from the folder (first: {first})"


SPLIT_FORMS = ("all, paper-train, paper-val, strat-train[:SEED], strat-val[:SEED] (SEED a whole number "
               "0 to 4294967295) or a file listing record names")
_STRAT = re.compile(r"(strat-train|strat-val)(?::(\d{1,10}))?")


def select_split(ds: Dataset, split: str | None) -> Split:
    """Records of `ds` in a split: 'all', 'paper-train', 'paper-val', 'strat-train[:seed]',
    'strat-val[:seed]' (seeded 90/10 stratified), or a file with one name per line."""
    split = split or "all"
    if split == "all":
        return Split(list(ds.names), [])
    m = _STRAT.fullmatch(split)
    if m and int(m.group(2) or 0) < 2 ** 32:
        tr, va = stratified_split(ds.names, ds.labels, 0.1, int(m.group(2) or 0))
        return Split(tr if m.group(1) == "strat-train" else va, [])
    path = PAPER_SPLITS.get(split, split)
    if split.startswith("strat-") or not os.path.isfile(path):
        raise UserError(f"unknown split {split[:60]!r}: use {SPLIT_FORMS}")
    wanted = list(dict.fromkeys(read_name_list(path)))  # a name listed twice is one record, counted once
    have = set(ds.names)
    return Split([n for n in wanted if n in have], [n for n in wanted if n not in have])


def load_signals(ds: Dataset, names: list[str], lead: str | None = None,
                 progress=None) -> list[tuple[str, np.ndarray, float]]:
    """Read records as (name, mV signal of one lead, fs). `progress(i, n)` is called as it goes."""
    out = []
    for i, name in enumerate(names):
        rec = read_record(ds.path(name), label=ds.label(name))
        x, _ = rec.lead_mv(lead)
        out.append((name, x, rec.fs))
        if progress:
            progress(i + 1, len(names))
    return out
