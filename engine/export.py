"""Writing results as WFDB records with provenance in the header comments.

Every record is written whole or not at all (`write_record_atomic`): both files go into a
temporary folder beside the target and are renamed into place, the .dat first and the .hea last,
so a failed or interrupted write never leaves a header without its signal file. Existing files
are refused unless `overwrite` (checked for all records of a call before any is written).

Sampling rate: adversarial examples, bands and band members are written at the MODEL's rate
(`AttackResult.fs`), the rate at which the attack ran and its success was judged, never resampled
back to the source's rate. Resampling back would low-pass and re-interpolate the perturbation
as well: the ε bound (|δ| ≤ ε mV per sample, on the ADC grid) no longer holds exactly (filter
overshoot), and resampling the record again for the model does not give back the attacked input,
so the example may no longer be adversarial (measured with the default model on the 12 bundled
samples resampled to 250, 360 and 500 Hz, PGD ε 0.01 mV: written back at the source rate every
example differed from its source by more than ε (up to 24 ε: the round trip through 300 Hz
changes the signal itself), and 1-2 of 12 per rate were no longer adversarial). Written at the model rate, `main.py classify` on the
exported record gives the model exactly the attacked signal (on the ADC grid of the source lead's
gain) and so the attack's adversarial prediction. The source's rate, whether the signal was
resampled, and the window the model saw are kept in the header comments; to compare with the
original, resample the original to the model rate (as engine.review.collect does).

Header comments (one per line; `read_export_info` parses the "key: JSON" lines):
  ecg-adv-workbench VERSION: KIND            what this record is
  source: PATH                              the source record as the caller named it
                                            (engine.review.collect finds the original by it)
  model: NAME
  params: {JSON}                            attack parameters (ε, step in mV, …), predictions
  run: ID                                   (attack-eval only)
  source_record: "NAME"                     the source record's base name, without folders
  source_lead: "NAME" | null                the source lead's exact name (ASCII JSON escapes)
  source_fs_hz / model_fs_hz: NUMBER        sampling rates; resampled: true/false (null: unknown)
  samples, duration_s                       this record's length at model_fs_hz
  input_mode: "fixed" | "whole" | null, input_length: samples (fixed: the model's input length;
                                            whole: the longest record classified in one pass)
  window_samples: [a, b], window_s: [a_s, b_s]  the part of this record the model saw (samples at
                                            model_fs_hz; seconds from the record's start, the same
                                            time on the source); windows_s: [[a_s, b_s], …] for a
                                            whole-record model that classified several windows
  windows_count: N                          instead of windows_s when there are over 200
  padded: bool                              the record was shorter than a fixed model's input
  classify_window_s: [a_s, b_s]             only when `classify` of this record would see another
                                            window than the attack did (paper-code placement)
  units: "mV", adc_gain_per_mv: NUMBER      the signal's units and ADC gain (resolution 1/gain mV)
  requantised_max_mv: NUMBER                only when writing at this gain moved samples of the
                                            attacked window off the attack's grid (by at most this)
  signal_names: [..]                        (band envelope only) its two signals

Record names are `<record>_<method>` (bands: `_band`, `_memberNNNN`) made ASCII-safe
(`record_file_name`: `wfdb` cannot find a non-ASCII signal file); `adversarial_base` and
`band_bases` give the paths before anything is written. The signal's name is the source lead's
name made safe for WFDB readers (`wfdb_signal_name`): printable ASCII (so `wfdb.rdheader`, which
drops non-ASCII bytes, and engine.wfdb_header read the same name; spaces and commas are kept,
both read them), at most 60 characters; a name that engine.records would not take for an ECG
lead gets an "ECG_" prefix, so `classify` picks the lead without --lead.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
import unicodedata
from dataclasses import asdict

import numpy as np

from . import __version__
from .attacks.base import AttackParams
from .attacks.runner import AttackResult
from .band import BandResult
from .errors import UserError
from .outputs import check_not_input, check_output_dir
from .records import ECG_LEAD_PATTERN, record_base, write_record

MAX_SIGNAL_NAME = 60        # characters of a written signal name (WFDB's own limit is 100)
MAX_LEAD_COMMENT = 1000     # characters of the exact source lead name kept in the comments
MAX_WINDOWS_LISTED = 200    # windows listed in windows_s (more: only their count)


def _existing(base: str) -> str | None:
    for f in (base + ".hea", base + ".dat"):
        if os.path.lexists(f):
            return f
    return None


def check_records_free(bases: list[str], overwrite: bool = False, inputs: list[str] = ()) -> None:
    """UserError when a record would replace existing files (unless `overwrite`), one of the
    records the command reads (`inputs`, record paths; even with `overwrite`), or two of `bases`
    are the same record; checks nothing is written yet."""
    seen: set[str] = set()
    for base in bases:
        key = os.path.normcase(os.path.abspath(record_base(base)))
        if key in seen:
            raise UserError(f"two outputs are named {os.path.basename(base)}; one would overwrite the other")
        seen.add(key)
        for inp in inputs:
            check_not_input(record_base(base) + ".hea", [record_base(inp) + ".hea"], what="output record")
        f = _existing(record_base(base))
        if f and not overwrite:
            raise UserError(f"{f} already exists (use --overwrite to replace it)")
        # a folder in the way was found only after the work, with a stray .dat already moved into place
        for g in (record_base(base) + ".hea", record_base(base) + ".dat"):
            if os.path.lexists(g) and not os.path.isfile(g):
                raise UserError(f"{g} exists and is not a file (a folder?); it cannot be replaced "
                                "by a record, even with --overwrite")


def write_record_atomic(path: str, signal_mv: np.ndarray, fs: float, *, overwrite: bool = False,
                        **kw) -> str:
    """engine.records.write_record, atomically: written into a temporary folder beside the
    target, then the .dat and last the .hea renamed into place. Returns the record base path."""
    base = record_base(path)
    folder, name = os.path.split(base)
    folder = folder or "."
    check_records_free([base], overwrite)
    check_output_dir(folder, "output folder")
    try:
        tmp = tempfile.mkdtemp(prefix=f".{name}.", suffix=".part", dir=folder)
    except OSError as exc:
        raise UserError(f"cannot write {base}: {exc.strerror or exc}") from None
    moved: list[str] = []
    try:
        write_record(os.path.join(tmp, name), signal_mv, fs, overwrite=True, **kw)
        if not overwrite:  # created meanwhile by someone else: still never replaced
            check_records_free([base], False)
        for ext in (".dat", ".hea"):
            os.replace(os.path.join(tmp, name + ext), base + ext)
            moved.append(base + ext)
    except BaseException as exc:
        if not overwrite:  # a new record: take back the half that was moved
            for f in moved:
                try:
                    os.unlink(f)
                except OSError:
                    pass
        if isinstance(exc, OSError):
            raise UserError(f"cannot write {base}: {exc.strerror or exc}") from None
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return base


# ---- names and provenance ---------------------------------------------------------------------

def wfdb_signal_name(lead: str | None) -> str:
    """The signal name written for an exported lead: `lead` as printable ASCII (accents dropped,
    other non-ASCII and control characters removed, whitespace runs one space, at most
    MAX_SIGNAL_NAME characters); "ECG" when nothing is left or no lead is known; prefixed "ECG_"
    when engine.records would not take it for an ECG lead (so `classify` finds it)."""
    text = unicodedata.normalize("NFKD", str(lead or "")).encode("ascii", "ignore").decode("ascii")
    text = " ".join("".join(c if c.isprintable() else " " for c in text).split())[:MAX_SIGNAL_NAME].rstrip()
    if not text:
        return "ECG"
    if not ECG_LEAD_PATTERN.match(text):
        text = ("ECG_" + text)[:MAX_SIGNAL_NAME].rstrip()
    return text


def record_file_name(name: str) -> str:
    """A record name safe to write: ASCII letters, digits, '-' and '_' (accents dropped, anything
    else '_'; ASCII names of those characters unchanged), since `wfdb` reads the signal file
    named in a header as ASCII and cannot find a non-ASCII one; "record" when nothing is left."""
    text = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^-A-Za-z0-9_]", "_", text) or "record"


def adversarial_base(out_dir: str, record: str, method: str) -> str:
    """Record path `write_adversarial` writes for `record` attacked with `method`."""
    return os.path.join(out_dir, record_file_name(f"{record}_{method}"))


def _source_header(source: str):
    """The source record's parsed header, or None when it cannot be read (best effort)."""
    from .wfdb_header import parse_header

    try:
        hea = record_base(source) + ".hea"
        return parse_header(hea) if os.path.isfile(hea) else None
    except (UserError, OSError, ValueError):
        return None


def _json(v) -> str:
    """Compact ASCII JSON whose spaces survive engine.records.write_record (which collapses
    whitespace runs in comments): a space next to a space or a quote is written \\u0020."""
    text = json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return re.sub(r"(?<=[ \"]) | (?=[ \"])", r"\\u0020", text)  # spaces occur only inside strings


def _num(v: float | None) -> float | int | None:
    if v is None or not math.isfinite(float(v)):
        return None
    v = float(v)
    return int(v) if v.is_integer() else round(v, 9)


def signal_info(source: str, n: int, fs: float, *, lead: str | None = None, source_fs: float | None = None,
                placement=None, classifier=None, gain: float = 1000.0) -> dict:
    """What a written record holds and what the model saw of it (the "key: JSON" comments, see
    the module docstring). `n` samples at `fs` Hz (the model's rate); `placement` (an
    engine.models.classifier.Placement at fs, or None) is where the attack placed the record;
    `classifier` (or None) gives the input convention and a whole-record model's windows.
    A missing `lead` or `source_fs` is read from the source's header when it can be (one signal)."""
    hdr = _source_header(source) if (lead is None or source_fs is None) else None
    if lead is None and hdr is not None and len(hdr.signals) == 1:
        lead = hdr.signals[0].description
    if source_fs is None and hdr is not None:
        source_fs = hdr.fs
    exact = None if lead is None else str(lead)[:MAX_LEAD_COMMENT]
    sfs = _num(source_fs)
    info: dict = {"source_record": os.path.basename(record_base(str(source))), "source_lead": exact,
                  "source_fs_hz": sfs, "model_fs_hz": _num(fs),
                  "resampled": None if sfs is None else not math.isclose(sfs, float(fs), rel_tol=1e-9),
                  "samples": int(n), "duration_s": round(n / fs, 6)}
    if classifier is not None:
        info["input_mode"] = "whole" if classifier.whole else "fixed"
        info["input_length"] = int(classifier.length)
    seen = None  # (a, b) samples the attack's model input held
    if placement is not None:
        seen = (int(placement.src_start), int(placement.src_start + placement.n))
    wins = None
    if classifier is not None and n > 0:
        wins = classifier.windows(n)  # what `classify` of this record sees
        if seen is None:
            seen = (wins[0][0], wins[-1][1])
    if seen is not None:
        info["window_samples"] = [seen[0], seen[1]]
        info["window_s"] = [round(seen[0] / fs, 6), round(seen[1] / fs, 6)]
    else:
        info["window_samples"] = info["window_s"] = None  # unknown: neither placement nor model given
    if placement is not None and not (classifier is not None and classifier.whole):
        info["padded"] = bool(placement.dst_start > 0 or placement.n < placement.length)
    if wins is not None and classifier.whole and len(wins) > 1:
        if len(wins) <= MAX_WINDOWS_LISTED:
            info["windows_s"] = [[round(a / fs, 6), round(b / fs, 6)] for a, b in wins]
        else:
            info["windows_count"] = len(wins)
    if wins is not None and not classifier.whole and seen is not None and (wins[0][0], wins[-1][1]) != seen:
        info["classify_window_s"] = [round(wins[0][0] / fs, 6), round(wins[-1][1] / fs, 6)]
    info["units"] = "mV"
    info["adc_gain_per_mv"] = _num(gain)
    return info


EXPORT_KEYS = ("source_record", "source_lead", "source_fs_hz", "model_fs_hz", "resampled", "samples",
               "duration_s", "input_mode", "input_length", "window_samples", "window_s", "windows_s",
               "windows_count", "padded", "classify_window_s", "units", "adc_gain_per_mv",
               "requantised_max_mv", "signal_names")


def provenance(source: str, model: str, kind: str, params: dict, run: str | None = None,
               info: dict | None = None) -> list[str]:
    """Header comment lines: what this record is, where it came from, how it was made (and, from
    attack-eval, the run that wrote it, so a resumed run may replace its own files), then the
    `info` (see `signal_info`) as "key: JSON" lines."""
    return [f"ecg-adv-workbench {__version__}: {kind}",
            f"source: {source}",
            f"model: {model}",
            "params: " + json.dumps(params, sort_keys=True, separators=(",", ":"))] + \
        ([f"run: {run}"] if run else []) + \
        [f"{k}: {_json(v)}" for k, v in (info or {}).items()]


def read_export_info(comments: list[str]) -> dict:
    """The "key: JSON" provenance lines of an exported record's header comments (see the module
    docstring) as a dict; lines that are not such keys, or not JSON, are left out."""
    out: dict = {}
    for line in comments:
        key, sep, value = str(line).strip().partition(":")
        if sep and key in EXPORT_KEYS:
            try:
                out[key] = json.loads(value.strip())
            except (ValueError, RecursionError):
                continue
    return out


def _requantised(x: np.ndarray, gain: float, window: list[int] | None) -> float:
    """Largest change (mV) writing x at `gain` makes inside the window (whole signal if None)."""
    if not gain:
        return 0.0
    x = np.asarray(x, dtype=np.float64)
    if window is not None:
        x = x[window[0]:window[1]]
    if x.size == 0:
        return 0.0
    return float(np.max(np.abs(np.round(x * gain) / gain - x)))


# ---- writers ----------------------------------------------------------------------------------

def write_adversarial(out_dir: str, result: AttackResult, *, model: str, method: str, params: AttackParams,
                      source: str, gain: float = 1000.0, overwrite: bool = False, run: str | None = None,
                      lead: str | None = None, source_fs: float | None = None, classifier=None) -> str:
    """Write the adversarial example as `<out_dir>/<record>_<method>` (one lead, mV, at the model's
    rate `result.fs`); returns its path. `gain`: ADC units per mV (pass the source lead's, so the
    example stays on the grid the attack judged it on); `lead`: the source lead's name;
    `source_fs`: the source's rate (Hz); `classifier`: the attacked model (input convention and
    windows). Unknown ones are read from the source's header where possible, else written null."""
    base = adversarial_base(out_dir, result.record, method)
    p = {**asdict(params), "method": method, "orig_pred": result.orig_pred, "adv_pred": result.adv_pred}
    info = signal_info(source, len(result.x_adv), result.fs, lead=lead, source_fs=source_fs,
                       placement=result.placement, classifier=classifier, gain=gain)
    moved = _requantised(result.x_adv, gain, info.get("window_samples"))
    if moved > 1e-6:
        info["requantised_max_mv"] = round(moved, 9)
    return write_record_atomic(base, result.x_adv, result.fs, lead_names=[wfdb_signal_name(info["source_lead"])],
                               gain=gain,
                               comments=provenance(source, model, f"{method} adversarial example", p, run, info),
                               overwrite=overwrite)


def write_band(out_dir: str, band: BandResult, *, model: str, method: str, params: AttackParams,
               source: str, gain: float = 1000.0, members: int = 0, overwrite: bool = False,
               lead: str | None = None, source_fs: float | None = None, classifier=None) -> dict:
    """Write the band envelope (2 leads: band_min, band_max) and optionally the first `members`
    band members (one lead each, named as the source lead) as WFDB records at the model's rate;
    returns {"band": path, "members": [paths]}. `lead`, `source_fs`, `classifier`: as for
    `write_adversarial`."""
    p = {**asdict(params), "method": method, "band_style": band.style, "noise": band.noise, "concat": band.concat,
         "uniform": band.uniform}
    info = signal_info(source, len(band.lo), band.fs, lead=lead, source_fs=source_fs, classifier=classifier,
                       gain=gain)
    env = np.stack([band.lo, band.hi], axis=1)
    # envelope limits are rounded outward so the written band still contains every member
    env_q = np.stack([np.floor(band.lo * gain + 1e-6) / gain, np.ceil(band.hi * gain - 1e-6) / gain], axis=1)
    k_members = min(members, band.members.shape[0])
    bases = band_bases(out_dir, band.record, method, k_members)
    check_records_free(bases, overwrite)  # all of them before the first is written
    base = write_record_atomic(bases[0], env_q if gain else env, band.fs,
                               lead_names=["band_min", "band_max"], gain=gain,
                               comments=provenance(source, model, "band of adversarial examples (min, max)", p,
                                                   info={**info, "signal_names": ["band_min", "band_max"]}),
                               overwrite=overwrite)
    name = wfdb_signal_name(info["source_lead"])
    paths = []
    for k in range(k_members):
        paths.append(write_record_atomic(bases[1 + k], band.members[k], band.fs, lead_names=[name], gain=gain,
                                         comments=provenance(source, model, f"band member {k}",
                                                             {"method": method}, info=info),
                                         overwrite=overwrite))
    return {"band": base, "members": paths}


def band_bases(out_dir: str, record: str, method: str, members: int = 0) -> list[str]:
    """Record paths `write_band` writes: the band, then `members` members."""
    stem = record_file_name(f"{record}_{method}")
    return [os.path.join(out_dir, f"{stem}_band")] + \
        [os.path.join(out_dir, f"{stem}_member{k:04d}") for k in range(members)]
