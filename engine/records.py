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

from .annotations import Annotations, read_annotations
from .errors import MissingSamples, UserError
from .wfdb_header import Header, parse_header

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
    adc_zero: int = 0

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
    annotations: Annotations | None = None  # from the record's .atr file, when there is one
    annotation_error: str = ""  # why an .atr file that exists could not be read (one line), or ""

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
        raise UserError(f"{self.name}: no ECG lead among its channels ({names}); choose one with --lead NAME")

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
        if lead.is_ecg:
            check_ecg_amplitude(x, f"{self.name} lead {lead.name}", lead)
        return np.ascontiguousarray(x, dtype=np.float32), lead


MAX_GAP_S, MAX_GAP_FRACTION = 0.5, 0.01


def _longest_run(mask: np.ndarray) -> int:
    """Length of the longest run of True in a 1-D boolean array."""
    if not mask.any():
        return 0
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return int((np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)).max())


def fill_short_gaps(x: np.ndarray, fs: float, what: str) -> np.ndarray:
    """Linear interpolation over short runs of NaN; MissingSamples when the gaps are too long."""
    nan = np.isnan(x)
    if not nan.any():
        return x
    longest = _longest_run(nan)
    if nan.all() or longest > MAX_GAP_S * fs or nan.mean() > MAX_GAP_FRACTION:
        raise MissingSamples(f"{what}: {int(nan.sum())} missing samples (longest gap {longest / fs:.2f} s) are "
                             f"too many to fill (limits: {MAX_GAP_S:g} s per gap, {MAX_GAP_FRACTION:.0%} in all)",
                             n_missing=int(nan.sum()), longest_gap_s=longest / fs, fillable=False)
    idx = np.arange(x.shape[0])
    out = x.copy()
    out[nan] = np.interp(idx[nan], idx[~nan], x[~nan])
    return out


def check_signal(x: np.ndarray, fs: float, what: str) -> None:
    """Refuse NaN-containing (MissingSamples), infinite, flat-line or too-short signals."""
    if x.shape[0] / fs < MIN_DURATION_S:
        raise UserError(f"{what}: record is {x.shape[0] / fs:.2f} s long; at least {MIN_DURATION_S:g} s needed")
    nan = np.isnan(x)
    if nan.any():
        n_nan = int(nan.sum())
        longest = _longest_run(nan)
        fillable = not nan.all() and longest <= MAX_GAP_S * fs and nan.mean() <= MAX_GAP_FRACTION
        raise MissingSamples(f"{what}: signal has {n_nan} missing (NaN) samples "
                             + ("(use --fill-gaps to interpolate short gaps)" if fillable else
                                f"(longest gap {longest / fs:.2f} s: too many to fill; limits "
                                f"{MAX_GAP_S:g} s per gap, {MAX_GAP_FRACTION:.0%} in all)"),
                             n_missing=n_nan, longest_gap_s=longest / fs, fillable=fillable)
    if not np.isfinite(x).all():
        raise UserError(f"{what}: signal has infinite values (the header's gain or units are implausible)")
    if float(np.ptp(x)) == 0.0:
        raise UserError(f"{what}: signal is a flat line (constant {float(x[0]):g})")


MAX_ECG_MV = 10_000.0    # no ECG lead reaches 10 V (electrode offsets stay within ±0.5 V)
MIN_ECG_RANGE_MV = 1e-4  # 0.1 µV peak to peak: below any ECG amplifier's noise floor


def check_ecg_amplitude(x: np.ndarray, what: str, lead: Lead | None = None) -> None:
    """Refuse an ECG lead (x (n,) mV) no ECG can be: values beyond ±MAX_ECG_MV (a baseline of
    2^31 - 1 put every sample near -2 kV) or a peak-to-peak range under MIN_ECG_RANGE_MV (a
    gain of 1e12 ADC units per mV); both mean the header's gain, baseline or units are wrong."""
    hint = f" (header: gain {lead.gain:g}, baseline {lead.baseline}, units {lead.units})" if lead else ""
    peak = float(np.max(np.abs(x)))
    if peak > MAX_ECG_MV:
        raise UserError(f"{what}: values reach {peak:.4g} mV, impossible for an ECG; the header's gain, "
                        f"baseline or units are wrong{hint}")
    span = float(np.ptp(x))
    if span < MIN_ECG_RANGE_MV:
        raise UserError(f"{what}: the signal spans {span:.3g} mV peak to peak, too small for an ECG; the "
                        f"header's gain or units are wrong{hint}")


# Largest digital value per WFDB format (two's complement; the most negative one marks a missing sample).
_FMT_MAX = {"8": 127, "16": 32767, "61": 32767, "80": 127, "160": 32767, "212": 2047, "24": 2 ** 23 - 1,
            "32": 2 ** 31 - 1, "310": 511, "311": 511}
SATURATION_MIN_RUN_S = 0.01   # a flat run at the signal's extreme this long counts as clipped
SATURATED_FRACTION = 0.005    # fraction of samples saturated above which a signal is flagged


def saturation(x: np.ndarray, fs: float, lead: Lead | None = None) -> float:
    """Fraction of samples of x (n,) mV that sit at the ADC limits of `lead` (from adc_res, else
    the format's range; gain and baseline map mV back to ADC units), or are clipped flat: in a
    run of at least SATURATION_MIN_RUN_S (and 3 samples) equal to the signal's maximum or minimum."""
    x = np.asarray(x, dtype=np.float64)
    ok = np.isfinite(x)
    if x.size == 0 or not ok.any():
        return 0.0
    hit = np.zeros(x.shape, dtype=bool)
    if lead is not None and lead.gain and math.isfinite(lead.gain):
        if 2 <= lead.adc_res <= 32:  # the ADC's range, centred on adc_zero
            lo = lead.adc_zero - 2 ** (lead.adc_res - 1)
            hi = lead.adc_zero + 2 ** (lead.adc_res - 1) - 1
        else:
            top = _FMT_MAX.get(str(lead.fmt))
            lo, hi = (None, None) if top is None else (-top, top)
        if lo is not None:
            d = x * lead.gain + lead.baseline
            hit |= ok & ((d >= hi - 0.5) | (d <= lo + 0.5))
    run = max(3, int(round(SATURATION_MIN_RUN_S * fs)))
    for extreme in (np.nanmax(x), np.nanmin(x)):
        at = ok & (x == extreme)
        if at.sum() >= run:
            edges = np.diff(np.concatenate([[0], at.astype(np.int8), [0]]))
            for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):
                if b - a >= run:
                    hit[a:b] = True
    return float(hit.mean())


def record_base(path: str | os.PathLike) -> str:
    """A record path without the .hea/.dat/.mat/.atr extension; any other file of a record (its
    annotations 100.qrs, 03700181.gqrsh: what a shell glob `100.*` also passes) gives that record
    when it exists beside the record's header and is no record's base itself."""
    p = str(path)
    for ext in (".hea", ".dat", ".mat", ".atr"):
        if p.lower().endswith(ext):
            return p[: -len(ext)]
    stem, ext = os.path.splitext(p)
    if ext and stem and os.path.isfile(p) and os.path.isfile(stem + ".hea") and not os.path.exists(p + ".hea"):
        return stem
    return p


MAX_RECORD_VALUES = 500_000_000   # samples × signals read at once (wfdb holds them as float64: 4 GB)


def _check_files(base: str) -> Header:
    """Parse the header strictly (engine.wfdb_header) and check the signal files it names:
    clear errors for missing headers, implausible fields, missing or truncated signal files."""
    hea = base + ".hea"
    if not os.path.isfile(hea):
        if os.path.exists(hea):
            raise UserError(f"{hea} is not a regular file (a folder, pipe or device), not a WFDB header")
        if os.path.isfile(base):  # notes.txt, REFERENCE.csv: not 'no such record: notes.txt.hea not found'
            raise UserError(f"{base} is not a WFDB record: give a record's .hea file (with its .dat or .mat) "
                            "or its name without extension")
        if os.path.isdir(base):  # a dataset folder: not 'no such record: DATA.hea not found'
            raise UserError(f"{base} is a folder, not a record: give a record in it (its .hea file or its name "
                            "without extension); dataset commands (evaluate, attack-eval, ...) take a folder")
        if os.path.exists(base):  # /dev/null, a pipe
            raise UserError(f"{base} is not a regular file (a pipe or device), not a WFDB record")
        raise UserError(f"no such record: {hea} not found")
    header = parse_header(hea)
    folder = os.path.dirname(base)
    if header.segments is not None:  # multi-segment: check each segment header and its files
        total = sum(n for _, n in header.segments)
        if header.n_samples is not None and total != header.n_samples:
            raise UserError(f"{hea}: header says {header.n_samples} samples, its segments add up to {total}")
        for seg, n_seg in header.segments:
            if seg == "~":
                continue
            if not re.fullmatch(r"[-\w.]+", seg) or not os.path.isfile(os.path.join(folder, seg + ".hea")):
                raise UserError(f"{hea}: segment header {seg}.hea is missing")
            if parse_header(os.path.join(folder, seg + ".hea")).segments is not None:
                raise UserError(f"{hea}: segment {seg} is itself multi-segment (not allowed)")
            sub = _check_files(os.path.join(folder, seg))
            if n_seg and sub.n_samples is not None and sub.n_samples != n_seg:
                raise UserError(f"{hea}: segment {seg} has {sub.n_samples} samples, the record lists {n_seg}")
            if abs(sub.fs - header.fs) > 1e-6 * header.fs:
                raise UserError(f"{hea}: segment {seg} has sampling frequency {sub.fs:g} Hz, "
                                f"the record {header.fs:g} Hz")
        if total * max(header.n_sig, 1) > MAX_RECORD_VALUES:
            raise UserError(f"{hea}: {total} samples × {header.n_sig} signals is too large to read "
                            f"(limit {MAX_RECORD_VALUES} values)")
        return header
    n = header.n_samples
    by_file: dict[str, list[int]] = {}
    for i, sig in enumerate(header.signals):
        by_file.setdefault(sig.file_name, []).append(i)
    for fname, idx in by_file.items():
        first = header.signals[idx[0]]
        if fname == "~":  # no signal file (a multi-segment layout header, or a null signal)
            continue
        if first.fmt not in SUPPORTED_FORMATS:
            raise UserError(f"{hea}: signal format {first.fmt} is not supported "
                            f"(supported: {', '.join(sorted(SUPPORTED_FORMATS, key=int))})")
        if any(header.signals[i].fmt != first.fmt for i in idx):
            raise UserError(f"{hea}: signals in {fname} have different formats")
        if not re.fullmatch(r"[^/\\]+", fname) or fname in (".", ".."):
            raise UserError(f"{hea}: signal file name {fname!r} is not a file in the record's folder")
        fpath = os.path.join(folder, fname)
        if not os.path.isfile(fpath):
            if os.path.exists(fpath):
                raise UserError(f"{hea}: signal file {fname} is not a regular file (a folder, pipe or device)")
            raise UserError(f"{hea}: signal file {fname} is missing")
        if not fname.isascii():  # wfdb reads the header as ASCII, drops the rest, and looks for another file
            raise UserError(f"{hea}: signal file name {fname!r} is not ASCII, which the WFDB reader cannot "
                            "open; rename the file and its name in the header (letters, digits, '-', '_')")
        have = os.path.getsize(fpath)
        bps = _BYTES_PER_SAMPLE[first.fmt]
        frame = sum(header.signals[i].samps_per_frame for i in idx)
        if bps is not None and have - first.byte_offset < bps * frame:
            raise UserError(f"{fpath}: signal file holds no complete sample ({have} bytes)")
        if bps is None or n is None:
            if bps is not None and have / bps > MAX_RECORD_VALUES:
                raise UserError(f"{fpath}: too large to read ({have} bytes)")
            continue
        need = first.byte_offset + math.ceil(n * frame * bps)
        if have < need - 2:  # format 212/310 may round the last group
            raise UserError(f"{fpath}: signal file is truncated or shorter than the header says "
                            f"({have} bytes, header needs {need} for {n} samples)")
    if n is not None and n * sum(s.samps_per_frame for s in header.signals) > MAX_RECORD_VALUES:
        raise UserError(f"{hea}: {n} samples × {header.n_sig} signals is too large to read "
                        f"(limit {MAX_RECORD_VALUES} values)")
    return header


def _agrees(a: float, b: float) -> bool:
    return math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=1e-9)


def read_record(path: str | os.PathLike, label: str | None = None) -> Record:
    """Read a local WFDB record (single- or multi-segment; formats 16, 212, 61, 80, .mat …).

    The header is parsed and checked first (engine.wfdb_header); lead names, units and comments
    come from that parse (UTF-8 text kept), samples from `wfdb`. UserError for any bad input.
    """
    import wfdb

    base = record_base(path)
    header = _check_files(base)
    if header.segments is None and any(s.file_name == "~" for s in header.signals):
        raise UserError(f"{base}.hea: a signal has no signal file ('~' in place of its file name); "
                        "there is nothing to read")
    try:
        rec = wfdb.rdrecord(base, physical=True, m2s=True, return_res=64)
    except UserError:
        raise
    except MemoryError:
        raise UserError(f"{base}: record too large for the memory available") from None
    except Exception as exc:
        raise UserError(f"{base}: cannot read signal ({type(exc).__name__}: {exc})") from None
    sig = rec.p_signal
    if sig is None or sig.ndim != 2 or sig.shape[0] == 0:
        raise UserError(f"{base}: record holds no samples")
    if rec.sig_len is not None and sig.shape[0] != rec.sig_len:
        raise UserError(f"{base}: header says {rec.sig_len} samples, signal file holds {sig.shape[0]}")
    if not rec.fs or not _agrees(rec.fs, header.fs):
        raise UserError(f"{base}: sampling frequency not understood (header {header.fs:g} Hz, read as {rec.fs!r})")
    leads, cols = [], []
    n_sig = sig.shape[1]
    fmts = list(rec.fmt) if rec.fmt else ["16"] * n_sig
    gains = list(rec.adc_gain) if rec.adc_gain else [200.0] * n_sig
    bases = list(rec.baseline) if rec.baseline else [0] * n_sig
    res = list(rec.adc_res) if rec.adc_res else [0] * n_sig
    zeros = list(rec.adc_zero) if rec.adc_zero else [0] * n_sig
    own = header.signals if header.segments is None else None
    if own is not None and len(own) != n_sig:
        raise UserError(f"{base}: header lists {len(own)} signals, {n_sig} were read")
    for i in range(n_sig):
        if own is not None:  # our own parse: text kept as written, numbers must agree with wfdb's
            h = own[i]
            if not _agrees(gains[i] or 0.0, h.gain) or int(bases[i] or 0) != h.baseline:
                raise UserError(f"{base}: signal {i + 1}: gain/baseline field not understood "
                                f"(header {h.gain:g}({h.baseline}), read as {gains[i]}({bases[i]}))")
            units, name = h.units, h.description or f"ch{i}"
        else:
            units = (rec.units[i] if rec.units else None) or "mV"
            name = (rec.sig_name[i] if rec.sig_name else None) or f"ch{i}"
        gain = float(gains[i] or 200.0)
        if not (math.isfinite(gain) and gain > 0):
            raise UserError(f"{base}: signal {i + 1}: ADC gain {gain:g} cannot convert to physical units")
        lead = Lead(name=name, units=units, gain=gain, baseline=int(bases[i] or 0),
                    fmt=str(fmts[i] or "16"), adc_res=int(res[i] or 0), adc_zero=int(zeros[i] or 0))
        col = sig[:, i]
        factor = _TO_MV.get(units.strip().lower())
        if lead.is_ecg and factor is not None and factor != 1.0:  # ECG leads always in mV
            col = col * factor
            lead.gain = lead.gain / factor
            lead.units = "mV"
        leads.append(lead)
        with np.errstate(over="ignore", invalid="ignore"):  # beyond float32 (a gain of 1e-300): inf,
            cols.append(col.astype(np.float32))              # refused by check_signal, not a warning
    ann, ann_error = read_annotations(base, float(header.fs), int(sig.shape[0]))
    comments = header.comments if header.segments is None else list(rec.comments or [])
    return Record(name=os.path.basename(base), path=base, fs=float(header.fs),
                  signal=np.stack(cols, axis=1), leads=leads, comments=comments,
                  label=label, annotations=ann, annotation_error=ann_error)


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
