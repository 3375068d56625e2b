"""ECG records: reading and writing WFDB through the `wfdb` package, lead choice, resampling.

Signals in the API are float32 millivolts, shape (n_samples,) per lead or (n_samples, n_leads).
ADC units appear only at the file edge (gain, baseline and format are kept for writing back).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from .errors import UserError

# Bytes per sample for the formats whose signal file size we can check before wfdb reads it.
_BYTES_PER_SAMPLE = {"8": 1.0, "16": 2.0, "61": 2.0, "80": 1.0, "212": 1.5, "24": 3.0, "32": 4.0,
                     "310": 4.0 / 3.0, "311": 4.0 / 3.0, "160": 2.0, "516": None, "508": None,
                     "524": None}
SUPPORTED_FORMATS = set(_BYTES_PER_SAMPLE)

ECG_LEAD_PATTERN = re.compile(
    r"^(I|II|III|AVR|AVL|AVF|V[1-6]|MLI{1,3}|ML[1-3]|MV[1-6]|MCL[1-6]|ECG\d*|EKG\d*|LEAD.*|V|D[1-3]|CM5|"
    r"ECG[ _-].*|.*ECG.*)$",
    re.IGNORECASE,
)
_TO_MV = {"mv": 1.0, "uv": 1e-3, "µv": 1e-3, "μv": 1e-3, "v": 1e3, "nu": 1.0, "": 1.0}
MIN_DURATION_S = 2.0


@dataclass
class Lead:
    """One channel as read from a file; `gain` is ADC units per physical unit."""

    name: str
    units: str
    gain: float
    baseline: int
    fmt: str
    adc_res: int = 0

    @property
    def is_ecg(self) -> bool:
        return bool(ECG_LEAD_PATTERN.match(self.name.strip())) and self.units.strip().lower() in _TO_MV


@dataclass
class Record:
    """A WFDB record in physical units.

    signal: float32 (n_samples, n_leads); ECG leads are in mV, other channels in their own units.
    """

    name: str
    path: str
    fs: float
    signal: np.ndarray
    leads: list[Lead]
    comments: list[str] = field(default_factory=list)
    label: str | None = None
    annotations: object | None = None  # wfdb.Annotation when an .atr file exists

    @property
    def n_samples(self) -> int:
        return int(self.signal.shape[0])

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.fs

    def lead_index(self, name: str | None = None) -> int:
        """Index of lead `name`, else of the first ECG lead; UserError when there is none."""
        if name:
            for i, lead in enumerate(self.leads):
                if lead.name.strip().lower() == name.strip().lower():
                    return i
            names = ", ".join(lead.name for lead in self.leads)
            raise UserError(f"{self.name}: no lead named {name!r} (leads: {names})")
        for i, lead in enumerate(self.leads):
            if lead.is_ecg:
                return i
        names = ", ".join(f"{lead.name} [{lead.units}]" for lead in self.leads)
        raise UserError(f"{self.name}: no ECG lead among its channels ({names})")

    def lead_mv(self, name: str | None = None, fill_gaps: bool = False) -> tuple[np.ndarray, Lead]:
        """One lead as float32 mV (n_samples,), checked for NaN, flat line and length.

        Missing (NaN) samples are an error unless `fill_gaps`: then short gaps (each ≤ 0.5 s, in
        all ≤ 1 % of the record) are filled by linear interpolation.
        """
        i = self.lead_index(name)
        lead = self.leads[i]
        x = self.signal[:, i]
        if fill_gaps:
            x = fill_short_gaps(x, self.fs, f"{self.name} lead {lead.name}")
        check_signal(x, self.fs, f"{self.name} lead {lead.name}")
        return np.ascontiguousarray(x, dtype=np.float32), lead


MAX_GAP_S, MAX_GAP_FRACTION = 0.5, 0.01


def fill_short_gaps(x: np.ndarray, fs: float, what: str) -> np.ndarray:
    """Linear interpolation over short runs of NaN; UserError when the gaps are too long."""
    nan = np.isnan(x)
    if not nan.any():
        return x
    edges = np.diff(np.concatenate([[0], nan.astype(np.int8), [0]]))
    longest = int((np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)).max())
    if nan.all() or longest > MAX_GAP_S * fs or nan.mean() > MAX_GAP_FRACTION:
        raise UserError(f"{what}: {int(nan.sum())} missing samples (longest gap {longest / fs:.2f} s) are too "
                        f"many to fill (limits: {MAX_GAP_S:g} s per gap, {MAX_GAP_FRACTION:.0%} in all)")
    idx = np.arange(x.shape[0])
    out = x.copy()
    out[nan] = np.interp(idx[nan], idx[~nan], x[~nan])
    return out


def check_signal(x: np.ndarray, fs: float, what: str) -> None:
    """Refuse NaN-containing, flat-line or too-short signals with a clear message."""
    if x.shape[0] / fs < MIN_DURATION_S:
        raise UserError(f"{what}: record is {x.shape[0] / fs:.2f} s long; at least {MIN_DURATION_S:g} s needed")
    nan = np.isnan(x)
    if nan.any():
        raise UserError(f"{what}: signal has {int(nan.sum())} missing (NaN) samples "
                        "(use --fill-gaps to interpolate short gaps)")
    if float(np.ptp(x)) == 0.0:
        raise UserError(f"{what}: signal is a flat line (constant {float(x[0]):g})")


def record_base(path: str | os.PathLike) -> str:
    """A record path without the .hea/.dat/.mat extension."""
    p = str(path)
    for ext in (".hea", ".dat", ".mat", ".atr"):
        if p.lower().endswith(ext):
            return p[: -len(ext)]
    return p


def _check_files(base: str) -> None:
    """Clear errors for missing headers, missing or truncated signal files, bad formats."""
    import wfdb

    hea = base + ".hea"
    if not os.path.isfile(hea):
        raise UserError(f"no such record: {hea} not found")
    try:
        header = wfdb.rdheader(base)
    except Exception as exc:  # wfdb raises many kinds on a malformed header
        raise UserError(f"{hea}: unreadable header ({exc})") from None
    if getattr(header, "seg_name", None):  # multi-segment: check each segment header exists
        folder = os.path.dirname(base)
        for seg in header.seg_name:
            if seg != "~" and not os.path.isfile(os.path.join(folder, seg + ".hea")):
                raise UserError(f"{hea}: segment header {seg}.hea is missing")
        return
    if not header.file_name:
        raise UserError(f"{hea}: header lists no signals")
    folder = os.path.dirname(base)
    n = header.sig_len
    by_file: dict[str, list[int]] = {}
    for i, fname in enumerate(header.file_name):
        by_file.setdefault(fname, []).append(i)
    for fname, idx in by_file.items():
        fmt = str(header.fmt[idx[0]])
        if fmt not in SUPPORTED_FORMATS:
            raise UserError(f"{hea}: signal format {fmt} is not supported")
        fpath = os.path.join(folder, fname)
        if not os.path.isfile(fpath):
            raise UserError(f"{hea}: signal file {fname} is missing")
        bps = _BYTES_PER_SAMPLE[fmt]
        if bps is None or n is None:
            continue
        offset = int(header.byte_offset[idx[0]] or 0) if header.byte_offset else 0
        spf = header.samps_per_frame or [1] * len(header.file_name)
        need = offset + math.ceil(n * sum(int(spf[i] or 1) for i in idx) * bps)
        have = os.path.getsize(fpath)
        if have < need - 2:  # format 212/310 may round the last group
            raise UserError(f"{fpath}: signal file is truncated or shorter than the header says "
                            f"({have} bytes, header needs {need} for {n} samples)")


def read_record(path: str | os.PathLike, label: str | None = None) -> Record:
    """Read a local WFDB record (single- or multi-segment; formats 16, 212, 61, 80, .mat …)."""
    import wfdb

    base = record_base(path)
    _check_files(base)
    try:
        rec = wfdb.rdrecord(base, physical=True, m2s=True, return_res=64)
    except UserError:
        raise
    except Exception as exc:
        raise UserError(f"{base}: cannot read signal ({type(exc).__name__}: {exc})") from None
    sig = rec.p_signal
    if sig is None or sig.ndim != 2 or sig.shape[0] == 0:
        raise UserError(f"{base}: record holds no samples")
    if rec.sig_len is not None and sig.shape[0] != rec.sig_len:
        raise UserError(f"{base}: header says {rec.sig_len} samples, signal file holds {sig.shape[0]}")
    if not rec.fs or rec.fs <= 0:
        raise UserError(f"{base}: invalid sampling rate {rec.fs!r}")
    leads, cols = [], []
    n_sig = sig.shape[1]
    fmts = list(rec.fmt) if rec.fmt else ["16"] * n_sig
    gains = list(rec.adc_gain) if rec.adc_gain else [200.0] * n_sig
    bases = list(rec.baseline) if rec.baseline else [0] * n_sig
    res = list(rec.adc_res) if rec.adc_res else [0] * n_sig
    for i in range(n_sig):
        units = (rec.units[i] if rec.units else "mV") or "mV"
        name = rec.sig_name[i] if rec.sig_name else f"ch{i}"
        lead = Lead(name=name, units=units, gain=float(gains[i] or 200.0), baseline=int(bases[i] or 0),
                    fmt=str(fmts[i] or "16"), adc_res=int(res[i] or 0))
        col = sig[:, i]
        factor = _TO_MV.get(units.strip().lower())
        if lead.is_ecg and factor is not None and factor != 1.0:  # ECG leads always in mV
            col = col * factor
            lead.gain = lead.gain / factor
            lead.units = "mV"
        leads.append(lead)
        cols.append(col.astype(np.float32))
    ann = None
    if os.path.isfile(base + ".atr"):
        try:
            ann = wfdb.rdann(base, "atr")
        except Exception:
            ann = None
    return Record(name=os.path.basename(base), path=base, fs=float(rec.fs),
                  signal=np.stack(cols, axis=1), leads=leads, comments=list(rec.comments or []),
                  label=label, annotations=ann)


def resample(x: np.ndarray, fs_in: float, fs_out: float) -> np.ndarray:
    """Resample along axis 0 with scipy.signal.resample_poly using the exact rational factor."""
    from scipy.signal import resample_poly

    if fs_in == fs_out:
        return x
    ratio = Fraction(fs_out).limit_denominator(10000) / Fraction(fs_in).limit_denominator(10000)
    if ratio.numerator > 10000 or ratio.denominator > 10000:
        raise UserError(f"cannot resample {fs_in:g} Hz to {fs_out:g} Hz: no usable rational factor")
    y = resample_poly(x, ratio.numerator, ratio.denominator, axis=0)
    return y.astype(np.float32)


def write_record(path: str | os.PathLike, signal_mv: np.ndarray, fs: float, *,
                 lead_names: list[str] | None = None, gain: float = 1000.0, baseline: int = 0,
                 fmt: str = "16", comments: list[str] | None = None, overwrite: bool = False) -> str:
    """Write float mV samples (n,) or (n, leads) as a WFDB record; returns the record base path.

    Values are quantised to 1/gain mV (the ADC grid). Refuses to overwrite unless asked.
    """
    import wfdb

    base = record_base(path)
    folder, name = os.path.split(base)
    folder = folder or "."
    if not re.fullmatch(r"[-\w]+", name):
        raise UserError(f"invalid record name {name!r}: use letters, digits, '-' and '_' only")
    hea, dat = base + ".hea", base + ".dat"
    if not overwrite and (os.path.exists(hea) or os.path.exists(dat)):
        raise UserError(f"{hea} already exists (use --overwrite to replace it)")
    Path(folder).mkdir(parents=True, exist_ok=True)
    x = np.asarray(signal_mv, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    n_sig = x.shape[1]
    names = lead_names or [f"ECG{i}" if n_sig > 1 else "ECG" for i in range(n_sig)]
    digital = np.round(x * gain) + baseline
    lim = {"16": 32767, "212": 2047, "80": 127, "24": 2 ** 23 - 1, "32": 2 ** 31 - 1}.get(str(fmt))
    if lim is None:
        raise UserError(f"cannot write WFDB format {fmt} (use 16, 212, 80, 24 or 32)")
    if np.abs(digital).max() > lim:
        fmt = "32" if np.abs(digital).max() > 32767 else "16"
    d = digital.astype(np.int64)
    safe_comments = [" ".join(str(c).split()) for c in (comments or [])]
    try:
        wfdb.wrsamp(name, fs=fs, units=["mV"] * n_sig, sig_name=names, d_signal=d,
                    fmt=[fmt] * n_sig, adc_gain=[gain] * n_sig, baseline=[baseline] * n_sig,
                    comments=safe_comments, write_dir=folder)
    except Exception as exc:
        raise UserError(f"cannot write {base}: {exc}") from None
    return base
