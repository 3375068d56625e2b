"""Identity of an attack-eval run's data: a digest of each record's files, the run's record list and
labels, and a run id. Used by engine.attack_eval to refuse resuming a results file against other data.

Digests read the files every time (nothing is cached): the .hea bytes and every data file the header
names (signal files, segments' headers), plus <name>.mat/.dat; 7675 PhysioNet 2017 records take
about 2 s, 768 about 0.1 s.
"""

from __future__ import annotations

import hashlib
import json
import os

from .datasets import Dataset
from .errors import UserError
from .records import record_base

__all__ = ["record_digest", "dataset_identity", "run_id", "check_identity"]


def _data_files(head: bytes, base_name: str) -> list[str]:
    """File names a WFDB header refers to (signal files, segments), plus <name>.mat/.dat."""
    names = {base_name + ".mat", base_name + ".dat"}
    lines = [ln.strip() for ln in head.decode("latin-1").splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    for ln in lines[1:]:
        tok = ln.split()[0]
        if tok and "/" not in tok and "\\" not in tok and tok not in (".", ".."):
            names.add(tok)
            if "." not in tok:  # a segment of a multi-segment record: its header too
                names.add(tok + ".hea")
    return sorted(names)


def record_digest(path: str) -> str | None:
    """SHA-256 (16 hex) over a record's .hea bytes and every data file it names (name, size,
    bytes); None when the header cannot be read. Reads the files every time (no cache)."""
    base = record_base(path)
    folder, name = os.path.split(base)
    try:
        with open(base + ".hea", "rb") as fh:
            head = fh.read()
    except OSError:
        return None
    h = hashlib.sha256(b"hea\0%d\0" % len(head) + head)
    for fname in _data_files(head, name):
        fpath = os.path.join(folder, fname)
        if fname == name + ".hea" or not os.path.isfile(fpath):
            continue
        try:
            with open(fpath, "rb") as fh:
                data = fh.read()
        except OSError:
            data = b"<unreadable>"
        h.update(b"%s\0%d\0" % (fname.encode("utf-8", "replace"), len(data)) + data)
    return h.hexdigest()[:16]


def dataset_identity(ds: Dataset, names: list[str]) -> dict:
    """{"records": {name: record_digest}, "labels": {name: label}} for the records of a run."""
    return {"records": {n: record_digest(ds.path(n)) for n in names},
            "labels": {n: ds.label(n) for n in names}}


def run_id(header: dict) -> str:
    """16 hex digits naming a run's settings and data (written into its saved examples)."""
    keys = ("model_sha", "method", "params", "lead", "dataset", "records", "labels")
    doc = json.dumps({k: header.get(k) for k in keys}, sort_keys=True, default=str)
    return hashlib.sha256(doc.encode()).hexdigest()[:16]


def _real(path: str) -> str | None:
    try:
        return os.path.realpath(path)
    except (ValueError, OSError):  # e.g. a NUL byte in a tampered header
        return None


def _few(names: list[str], k: int = 3) -> str:
    return ", ".join(names[:k]) + (f" and {len(names) - k} more" if len(names) > k else "")


def check_identity(found: dict, want: dict, path: str) -> None:
    """UserError naming what differs in the data a results file was made from (dataset folder,
    record list, record files, labels)."""
    what = None
    a, b = found.get("dataset"), want.get("dataset")
    ra, rb = found.get("records"), want.get("records")
    la, lb = found.get("labels") or {}, want.get("labels") or {}
    if not isinstance(ra, dict) or not isinstance(la, dict):
        what = "its header does not list the records it holds"
    elif not isinstance(a, (str, type(None))) or (a is None) != (b is None) or (a and b and _real(a) != _real(b)):
        what = f"the dataset folder differs ({a} in the file vs {b} now)"
    elif set(ra) != set(rb):
        gone, new = [n for n in ra if n not in rb], [n for n in rb if n not in ra]
        what = (f"the record list differs ({len(ra)} records in the file, {len(rb)} now"
                + (f"; only in the file: {_few(gone)}" if gone else "")
                + (f"; only now: {_few(new)}" if new else "") + ")")
    else:
        changed = [n for n in rb if ra[n] != rb[n]]
        relabelled = [n for n in rb if la.get(n) != lb.get(n)]
        if changed:
            what = f"the files of record {_few(changed)} changed since the results file was started"
        elif relabelled:
            n = relabelled[0]
            what = (f"the labels differ (record {n}: {la.get(n)!r} in the file vs {lb.get(n)!r} now"
                    + (f"; {len(relabelled) - 1} more" if len(relabelled) > 1 else "") + ")")
    if what:
        raise UserError(f"{path} was made from different data: {what}; use another results file, "
                        "or --overwrite to start it afresh")
