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
from .errors import UserError
from .outputs import atomic_write
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


def _read_cache(path: Path, n: int) -> list[np.ndarray] | None:
    """The cached signals, or None when the file is missing, unreadable or inconsistent
    (it is then rebuilt). Stored as a plain .npz (`flat` float32, `offsets` int64): never
    unpickled (allow_pickle=False)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            flat, offsets = z["flat"], z["offsets"]
        ok = (flat.dtype == np.float32 and flat.ndim == 1 and offsets.dtype == np.int64
              and offsets.shape == (n + 1,) and offsets[0] == 0 and offsets[-1] == flat.shape[0]
              and bool(np.all(np.diff(offsets) > 0)) and bool(np.isfinite(flat).all()))
        if not ok:
            return None
        return [flat[offsets[i]:offsets[i + 1]] for i in range(n)]
    except Exception:  # any damage (truncated zip, bad CRC, wrong keys, a pickle): rebuild
        return None


def _write_cache(path: Path, sigs: list[np.ndarray]) -> None:
    """Write the cache atomically (engine.outputs.atomic_write: unique temporary file, then
    rename); a cache that cannot be written is skipped, never an error."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        offsets = np.concatenate([[0], np.cumsum([len(s) for s in sigs])]).astype(np.int64)
        with atomic_write(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, flat=np.concatenate(sigs).astype(np.float32), offsets=offsets)
    except (OSError, UserError):
        pass


def load_dataset_signals(ds: Dataset, names: list[str], fs: float, lead: str | None = None,
                         progress=None, use_cache: bool = True) -> list[np.ndarray]:
    """Signals of `names` as float32 mV arrays resampled to `fs`, in the order given."""
    path = cache_dir() / f"signals-{_key(ds, names, fs, lead)}.npz"
    if use_cache:
        cached = _read_cache(path, len(names))
        if cached is not None:
            return cached
    sigs = [resample(x, f, fs) for _, x, f in load_signals(ds, names, lead, progress)]
    if use_cache and sigs:
        _write_cache(path, sigs)
    return sigs
