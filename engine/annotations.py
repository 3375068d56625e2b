"""A record's reference annotations (its WFDB ``.atr`` file): beat labels and rhythm changes.

Read by our own bounded parser of the MIT format (`wfdb.rdann` loops forever on some damaged
files); times in seconds from the record's start (so they hold at any
sampling rate the record is later shown or resampled at).  A file that cannot be read is not
an error of the record: :func:`read_annotations` returns the reason instead, and the caller
shows it next to the record.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

__all__ = ["Annotations", "read_annotations", "parse_mit", "MAX_ATR_BYTES", "LABEL_CHARS"]

MAX_ATR_BYTES = 16 * 1024 * 1024  # ~8 million annotations (weeks of beats); a larger .atr is refused
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


_SKIP, _NUM, _SUB, _CHN, _AUX = 59, 60, 61, 62, 63
_NOTE = 22


def _symbols() -> dict[int, str]:
    """WFDB annotation code -> symbol (wfdb's standard table; data only, its parser is not used)."""
    from wfdb.io.annotation import ann_label_table

    return {int(c): str(s) for c, s in zip(ann_label_table["label_store"], ann_label_table["symbol"])}


def parse_mit(raw: bytes) -> tuple[np.ndarray, list[int], list[str]]:
    """Parse a WFDB (MIT format) annotation file: (sample (k,) int64, codes, aux notes)
    (`_parse_mit` also tells whether the file's end-of-file zero word was reached)."""
    return _parse_mit(raw)[:3]


def _parse_mit(raw: bytes) -> tuple[np.ndarray, list[int], list[str], bool]:
    """Parse a WFDB (MIT format) annotation file: (sample (k,) int64, codes, aux notes, ended).

    Each 16-bit little-endian word holds a code (6 bits) and a time step (10 bits); SKIP adds
    a 32-bit step, AUX attaches a note to the annotation before it, NUM/SUB/CHN are skipped;
    a zero word ends the file; code 0 with a step only moves the time.  The definition notes at sample 0 ("## time resolution: 360",
    custom labels) are left out.  ValueError for a file that breaks the format.  Our own
    bounded loop: wfdb.rdann loops forever on some damaged notes.
    """
    if len(raw) % 2:
        raw = raw[:-1]  # a stray last byte (wfdb ignores it too)
    words = np.frombuffer(raw, dtype="<u2")
    t, i, n = 0, 0, words.size
    ended = False
    sample: list[int] = []
    codes: list[int] = []
    aux: list[str] = []
    while i < n:
        w = int(words[i])
        code, step = w >> 10, w & 0x3FF
        i += 1
        if code == 0 and step == 0:
            ended = True
            break
        if code == _SKIP:
            if i + 2 > n:
                raise ValueError("a SKIP runs past the end of the file")
            hi, lo = int(words[i]), int(words[i + 1])
            skip = (hi << 16) | lo
            t += skip - (1 << 32) if skip >= 1 << 31 else skip
            i += 2
        elif code == _AUX:
            nbytes = step
            start = 2 * i
            if start + nbytes > len(raw):
                raise ValueError("a note runs past the end of the file")
            if codes:
                aux[-1] = raw[start:start + nbytes].decode("latin-1")
            i += (nbytes + 1) // 2
        elif code in (_NUM, _SUB, _CHN):
            continue
        elif code == 0:  # "not an annotation": moves the time only (wfdb writes one after its notes)
            t += step
        else:
            t += step
            if t < 0:
                raise ValueError(f"annotation {len(codes) + 1} lies before the record's start")
            sample.append(t)
            codes.append(code)
            aux.append("")
    keep = [k for k in range(len(codes))
            if not (codes[k] == _NOTE and sample[k] == 0 and aux[k].startswith("## "))]
    return (np.asarray([sample[k] for k in keep], dtype=np.int64), [codes[k] for k in keep],
            [aux[k] for k in keep], ended)


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
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
        sample, codes, aux, ended = _parse_mit(raw)
    except (OSError, ValueError) as exc:
        return None, f"{name}: cannot read annotations ({exc})".splitlines()[0]
    table = _symbols()
    symbols = [table.get(c, str(c)) for c in codes]
    keep = (sample >= 0) & (sample < n_samples)
    dropped = int(sample.size - keep.sum())
    note = f"{dropped} annotation{'s' if dropped != 1 else ''} beyond the record's end ignored" if dropped else ""
    if not ended and raw:  # a cut file (a copy stopped short) read silently as fewer annotations
        cut = "the file ends without its end-of-file mark (truncated?): later annotations may be missing"
        note = f"{note}; {cut}" if note else cut
    idx = np.flatnonzero(keep)
    idx = idx[np.argsort(sample[idx], kind="stable")]
    sample = sample[idx]
    symbols = [symbols[i] for i in idx]
    labels = tuple(_label(symbols[j], aux[i]) for j, i in enumerate(idx))
    return Annotations(sample=sample, time_s=sample / float(fs), symbol=tuple(symbols), label=labels,
                       source=name, note=note), ""
