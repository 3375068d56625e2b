"""A dataset's signals in memory (mV at the model rate), cached on disk as one .npz for speed.

Reading 7675 WFDB records takes about a minute; the cache makes later runs start in a second.
The cache key is the folder path, the record names and the header/signal files' sizes and mtimes.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from .datasets import Dataset, load_signals
from .records import resample


def cache_dir() -> Path:
    return Path(os.environ.get("ECGADV_CACHE", Path.home() / ".cache" / "ecg-adv-workbench"))


def _key(ds: Dataset, names: list[str], fs: float, lead: str | None) -> str:
    h = hashlib.sha256(f"{os.path.abspath(ds.folder)}|{fs}|{lead}".encode())
    for n in names:
        for ext in (".hea", ".mat", ".dat"):
            p = ds.path(n) + ext
            if os.path.exists(p):
                st = os.stat(p)
                h.update(f"{n}{ext}{st.st_size}{st.st_mtime_ns}".encode())
    return h.hexdigest()[:24]


def load_dataset_signals(ds: Dataset, names: list[str], fs: float, lead: str | None = None,
                         progress=None, use_cache: bool = True) -> list[np.ndarray]:
    """Signals of `names` as float32 mV arrays resampled to `fs`, in the order given."""
    path = cache_dir() / f"signals-{_key(ds, names, fs, lead)}.npz"
    if use_cache and path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                flat, offsets = z["flat"], z["offsets"]
            return [flat[offsets[i]:offsets[i + 1]] for i in range(len(names))]
        except (OSError, KeyError, ValueError):
            pass  # unreadable cache: rebuild it
    sigs = [resample(x, f, fs) for _, x, f in load_signals(ds, names, lead, progress)]
    if use_cache:
        offsets = np.concatenate([[0], np.cumsum([len(s) for s in sigs])]).astype(np.int64)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, flat=np.concatenate(sigs).astype(np.float32), offsets=offsets)
        os.replace(tmp, path)
    return sigs
