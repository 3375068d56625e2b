"""A record's reference annotations (its WFDB ``.atr`` file): beat labels and rhythm changes.

Read through `wfdb.rdann`; times in seconds from the record's start (so they hold at any
sampling rate the record is later shown or resampled at).  A file that cannot be read is not
an error of the record: :func:`read_annotations` returns the reason instead, and the caller
shows it next to the record.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

__all__ = ["Annotations", "read_annotations", "MAX_ATR_BYTES", "LABEL_CHARS"]

MAX_ATR_BYTES = 64 * 1024 * 1024  # ~30 million annotations; a larger .atr is refused
LABEL_CHARS = 12                  # a rhythm or comment text is shown at most this long
_TEXT_SYMBOLS = {"+", '"'}         # rhythm change, comment: their aux note is the label


@dataclass(frozen=True)
class Annotations:
    """Annotations of one record, in time order.

    sample: (k,) int64 sample index at the record's sampling rate; time_s: (k,) float64 s;
    symbol: the WFDB annotation code of each ("N", "V", "A", "+" rhythm change, …);
    label: what is shown for each: the symbol, or for a rhythm change / comment its aux note
    ("(AFIB", at most LABEL_CHARS characters); source: the file name ("100.atr");
    note: what was left out ("3 annotations beyond the record's end ignored"), or "".
    """

    sample: np.ndarray
    time_s: np.ndarray
    symbol: tuple[str, ...]
    label: tuple[str, ...]
    source: str
    note: str = ""

    def __len__(self) -> int:
        return int(self.sample.size)

    def summary(self) -> str:
        """'2274 annotations (100.atr)' plus the note, if any."""
        s = f"{len(self)} annotation{'s' if len(self) != 1 else ''} ({self.source})"
        return f"{s}; {self.note}" if self.note else s


def _label(symbol: str, aux: str | None) -> str:
    text = (aux or "").replace("\x00", "").strip()
    if symbol in _TEXT_SYMBOLS and text:
        return text if len(text) <= LABEL_CHARS else text[:LABEL_CHARS - 1] + "…"
    return symbol


def read_annotations(base: str, fs: float, n_samples: int) -> tuple[Annotations | None, str]:
    """The annotations in ``base + ".atr"`` of a record of `n_samples` at `fs` Hz.

    Returns (annotations, "") when the file was read; (None, "") when there is no .atr file;
    (None, reason) when it cannot be read (the reason is one line naming the file).
    Annotations outside [0, n_samples) are dropped and counted in ``note``.
    """
    path = base + ".atr"
    name = os.path.basename(path)
    if not os.path.isfile(path):
        return None, ""
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        return None, f"{name}: cannot read annotations ({exc.strerror or exc})"
    if size > MAX_ATR_BYTES:
        return None, f"{name}: {size / 2**20:.0f} MiB is too large to read as annotations"
    import wfdb

    try:
        ann = wfdb.rdann(base, "atr")
        sample = np.asarray(ann.sample, dtype=np.int64).reshape(-1)
        symbols = [str(s) for s in (ann.symbol or [])]
        aux = list(ann.aux_note or [])
    except Exception as exc:  # wfdb raises anything on a malformed file
        return None, f"{name}: cannot read annotations ({type(exc).__name__}: {exc})".splitlines()[0]
    if len(symbols) != sample.size:
        return None, f"{name}: cannot read annotations ({sample.size} positions, {len(symbols)} codes)"
    aux = (aux + [""] * sample.size)[:sample.size]
    keep = (sample >= 0) & (sample < n_samples)
    dropped = int(sample.size - keep.sum())
    note = f"{dropped} annotation{'s' if dropped != 1 else ''} beyond the record's end ignored" if dropped else ""
    idx = np.flatnonzero(keep)
    idx = idx[np.argsort(sample[idx], kind="stable")]
    sample = sample[idx]
    symbols = [symbols[i] for i in idx]
    labels = tuple(_label(symbols[j], aux[i]) for j, i in enumerate(idx))
    return Annotations(sample=sample, time_s=sample / float(fs), symbol=tuple(symbols), label=labels,
                       source=name, note=note), ""
