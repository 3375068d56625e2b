"""Carry PhysioNet 2017 to a lent GPU machine: pack it small here, unpack it byte-exact there.

The device tool copies at most 64 MiB of the working tree, and the dataset folder is ~190 MB.
`pack` stores each record's `.hea` text and its `.mat` file (format 16: a short MATLAB v4
preamble, then little-endian int16 samples) as the preamble plus the samples' first differences
(int16, wrapping), and compresses everything with xz: about 50 MB for the 8528 records (29 % of
the raw samples, measured on 300 of them; the whole pack takes ~10 minutes on 2 busy cores). Text files
beside the records (REFERENCE*.csv, RECORDS) travel verbatim. `unpack` writes the same folder back,
every file byte for byte as it was (checked against a SHA-256 per file), so `main.py train` and
`attack-eval` read it as usual. Standard library and numpy only (the GPU machine has no wfdb).

Usage: python bench/gpu_data.py pack ../shared/data/physionet2017 gpu/physionet2017.ecgpack [--split strat-val]
       python bench/gpu_data.py unpack gpu/physionet2017.ecgpack /tmp/physionet2017
"""

from __future__ import annotations

import argparse
import hashlib
import json
import lzma
import os
import struct
import sys
from pathlib import Path

import numpy as np

MAGIC = b"ECGPACK1"
TEXT_FILES = ("RECORDS", "REFERENCE.csv", "REFERENCE-v3.csv", "REFERENCE-original.csv", "README.md")


def _samples(hea: str) -> int:
    """Samples × signals from a header's record line ('A00001 1 300 9000 ...')."""
    first = next(ln for ln in hea.splitlines() if ln.strip() and not ln.startswith("#")).split()
    return int(first[1]) * int(first[3])


def split_names(folder: str, split: str) -> set[str]:
    """The record names of `split` (as `main.py --split` reads it; needs the project's engine)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from engine.datasets import open_dataset, select_split

    return set(select_split(open_dataset(folder), split).names)


def pack(folder: str, out: str, split: str | None = None) -> dict:
    """Pack the records of `folder` (only those of `split`, e.g. strat-val, when given)."""
    folder_p = Path(folder)
    names = sorted(p.stem for p in folder_p.glob("*.hea") if (folder_p / (p.stem + ".mat")).is_file())
    if split:
        keep = split_names(folder, split)
        names = [n for n in names if n in keep]
    if not names:
        raise SystemExit(f"error: {folder}: no .hea/.mat records")
    if os.path.exists(out):
        raise SystemExit(f"error: {out} already exists")
    index, chunks, texts = [], [], {}
    for n in names:
        hea = (folder_p / f"{n}.hea").read_bytes()
        mat = (folder_p / f"{n}.mat").read_bytes()
        k = _samples(hea.decode("latin-1"))
        pre = len(mat) - 2 * k
        if not 0 <= pre <= 256:
            raise SystemExit(f"error: {n}.mat is not format 16 with {k} samples")
        x = np.frombuffer(mat, dtype="<i2", offset=pre)
        d = np.diff(x, prepend=np.int16(0)).astype("<i2")  # wraps in int16; cumsum in int16 undoes it
        index.append({"name": n, "hea": hea.decode("latin-1"), "pre": mat[:pre].hex(), "n": int(k),
                      "sha": hashlib.sha256(mat).hexdigest()})
        chunks.append(d.tobytes())
    for t in TEXT_FILES:
        if (folder_p / t).is_file():
            texts[t] = (folder_p / t).read_bytes().decode("latin-1")
    head = json.dumps({"records": index, "texts": texts}).encode()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    tmp = out + ".tmp"
    try:
        with lzma.open(tmp, "wb", preset=6) as fh:
            fh.write(MAGIC + struct.pack("<Q", len(head)) + head)
            for c in chunks:
                fh.write(c)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return {"records": len(names), "bytes": os.path.getsize(out)}


def unpack(pack_file: str, folder: str) -> dict:
    with lzma.open(pack_file, "rb") as fh:
        if fh.read(8) != MAGIC:
            raise SystemExit(f"error: {pack_file} is not a pack written by this script")
        (n_head,) = struct.unpack("<Q", fh.read(8))
        doc = json.loads(fh.read(n_head))
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        for r in doc["records"]:
            d = np.frombuffer(fh.read(2 * r["n"]), dtype="<i2")
            x = np.cumsum(d, dtype=np.int16).astype("<i2")
            mat = bytes.fromhex(r["pre"]) + x.tobytes()
            if hashlib.sha256(mat).hexdigest() != r["sha"]:
                raise SystemExit(f"error: {r['name']}: unpacked samples differ from the packed record")
            (out / f"{r['name']}.mat").write_bytes(mat)
            (out / f"{r['name']}.hea").write_bytes(r["hea"].encode("latin-1"))
        for t, text in doc["texts"].items():
            (out / t).write_bytes(text.encode("latin-1"))
    return {"records": len(doc["records"]), "folder": str(out)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pack")
    p.add_argument("folder")
    p.add_argument("out")
    p.add_argument("--split", default=None, help="only this split's records (e.g. strat-val, paper-val)")
    p = sub.add_parser("unpack")
    p.add_argument("pack_file")
    p.add_argument("folder")
    args = ap.parse_args(argv)
    res = pack(args.folder, args.out, args.split) if args.cmd == "pack" else unpack(args.pack_file, args.folder)
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
