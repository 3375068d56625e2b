"""A strict reader of WFDB header (.hea) text, run before `wfdb` touches a record.

`wfdb` reads headers as ASCII with undecodable bytes dropped (so a unit of "µV" becomes "V", a
factor of 10⁶) and falls back to defaults on fields it cannot parse (an fs of -300, nan or inf
is read as 250 Hz, 1e300 as 1 Hz). This module parses the header's own text (UTF-8, else
Latin-1) and refuses implausible values with a one-line `UserError` naming the accepted range.

Format (header(5) of the WFDB software):
  record line:  name[/n_seg] n_sig [fs[/counter_fs[(base_counter)]] [n_samples [time [date]]]]
  signal line:  file fmt[xspf][:skew][+offset] [gain[(baseline)][/units] [adc_res [adc_zero
                [init [checksum [block_size [description]]]]]]]
  segment line: name n_samples   (multi-segment records)
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field

from .errors import UserError

MIN_FS, MAX_FS = 1.0, 100_000.0        # Hz accepted in a header
MAX_SIGNALS = 1024                     # signals per record
MAX_SEGMENTS = 100_000
MAX_GAIN = 1e12                        # ADC units per physical unit
MAX_HEADER_BYTES = 4 * 1024 * 1024
DEFAULT_GAIN = 200.0                   # WFDB's default when the gain field is absent

_FMT = re.compile(r"(\d+)(?:x(\d+))?(?::(\d+))?(?:\+(\d+))?")
_GAIN = re.compile(r"([^(/]*)(?:\(([^)]*)\))?(?:/(.*))?")
_INT_FIELDS = ("adc_res", "adc_zero", "init_value", "checksum", "block_size")


@dataclass
class HeaderSignal:
    """One signal line. `gain` is ADC units per physical unit; `description` None when absent."""

    file_name: str
    fmt: str
    samps_per_frame: int = 1
    byte_offset: int = 0
    gain: float = DEFAULT_GAIN
    baseline: int | None = None
    units: str = "mV"
    adc_res: int = 0
    adc_zero: int = 0
    description: str | None = None


@dataclass
class Header:
    """A parsed header: single-segment (`signals`) or multi-segment (`segments`: (name, n))."""

    path: str
    name: str
    n_sig: int
    fs: float
    n_samples: int | None
    signals: list[HeaderSignal] = field(default_factory=list)
    segments: list[tuple[str, int]] | None = None
    comments: list[str] = field(default_factory=list)


def _bad(hea: str, what: str) -> UserError:
    return UserError(f"{hea}: {what}")


def read_header_text(hea: str) -> str:
    """The header's text: UTF-8 (BOM allowed), else Latin-1; binary or huge files refused."""
    try:
        size = os.path.getsize(hea)
        if size > MAX_HEADER_BYTES:
            raise _bad(hea, f"is {size} bytes, too large for a WFDB header (limit {MAX_HEADER_BYTES} bytes)")
        with open(hea, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise _bad(hea, f"cannot read header ({exc.strerror or exc})") from None
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in raw:
        raise _bad(hea, "not a WFDB header (binary or UTF-16 file; headers are plain ASCII/UTF-8 text)")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _num(hea: str, what: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise _bad(hea, f"{what} {text!r} is not a number") from None


def _int(hea: str, what: str, text: str, lo: int, hi: int) -> int:
    try:
        v = int(text)
    except ValueError:
        raise _bad(hea, f"{what} {text!r} is not a whole number") from None
    if not lo <= v <= hi:
        raise _bad(hea, f"{what} {v} is out of range (accepted: {lo} to {hi})")
    return v


def _fs(hea: str, token: str | None) -> float:
    if token is None:
        raise _bad(hea, f"header gives no sampling frequency (accepted: {MIN_FS:g} Hz to {MAX_FS / 1000:g} kHz)")
    fs_text = token.split("/", 1)[0]
    fs = _num(hea, "sampling frequency", fs_text)
    if not (math.isfinite(fs) and MIN_FS <= fs <= MAX_FS):
        raise _bad(hea, f"sampling frequency {fs_text} Hz is not plausible "
                        f"(accepted: {MIN_FS:g} Hz to {MAX_FS / 1000:g} kHz)")
    return fs


_TIME = re.compile(r"(\d{1,2}):(\d{1,2})(?::(\d{1,2}))?(\.\d{1,6})?")
_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")


def _check_time(hea: str, tokens: list[str]) -> None:
    """The record line's base time and date, when written as such (HH:MM[:SS[.ffffff]] and
    DD/MM/YYYY): `wfdb` refuses a time or date that does not exist (99:99:99, 45/13/2000) with
    strptime's words; other text there it ignores, and so does this check."""
    import datetime

    if not tokens or not _TIME.fullmatch(tokens[0]):
        return
    h, m, s = _TIME.fullmatch(tokens[0]).groups()[:3]
    if s is None:  # MM:SS
        h, m, s = "0", h, m
    if not (int(h) < 24 and int(m) < 60 and int(s) <= 61):  # strptime allows leap seconds
        raise _bad(hea, f"base time {tokens[0]!r} is not a time of day (HH:MM:SS)")
    d = _DATE.fullmatch(tokens[1]) if len(tokens) > 1 else None
    if d:
        try:
            datetime.date(int(d.group(3)), int(d.group(2)), int(d.group(1)))
        except ValueError:
            raise _bad(hea, f"base date {tokens[1]!r} is not a date (DD/MM/YYYY)") from None


def _signal(hea: str, i: int, line: str) -> HeaderSignal:
    """Parse signal line i (0-based, reported 1-based)."""
    where = f"signal {i + 1}"
    tok = line.split(None, 8)
    if len(tok) < 2:
        raise _bad(hea, f"{where}: line {line.strip()[:40]!r} lacks a file name and format")
    m = _FMT.fullmatch(tok[1])
    if not m:
        raise _bad(hea, f"{where}: format field {tok[1][:20]!r} is not a WFDB format")
    spf = int(m.group(2)) if m.group(2) else 1
    if not 1 <= spf <= 100_000:
        raise _bad(hea, f"{where}: {spf} samples per frame is out of range (accepted: 1 to 100000)")
    offset = int(m.group(4) or 0)
    if offset > 2 ** 40:
        raise _bad(hea, f"{where}: byte offset {offset} is out of range")
    sig = HeaderSignal(file_name=tok[0], fmt=str(int(m.group(1))), samps_per_frame=spf, byte_offset=offset)
    if len(tok) > 2:
        g = _GAIN.fullmatch(tok[2])
        if not g:
            raise _bad(hea, f"{where}: gain field {tok[2][:30]!r} is not 'gain(baseline)/units'")
        gain = _num(hea, f"{where}: ADC gain", g.group(1)) if g.group(1) else DEFAULT_GAIN
        if not (math.isfinite(gain) and 0 < gain <= MAX_GAIN):
            why = "0 (uncalibrated signal)" if gain == 0 else f"{g.group(1)}"
            raise _bad(hea, f"{where}: ADC gain {why} cannot convert to physical units "
                            f"(accepted: above 0 up to {MAX_GAIN:g} ADC units per physical unit)")
        sig.gain = gain
        if g.group(2) is not None:
            sig.baseline = _int(hea, f"{where}: baseline", g.group(2), -2 ** 31, 2 ** 31 - 1)
        if g.group(3) is not None:
            units = g.group(3).strip()
            if not units or len(units) > 40 or not units.isprintable():
                raise _bad(hea, f"{where}: units {units[:20]!r} are not readable text")
            sig.units = units
    for k, name in enumerate(_INT_FIELDS):
        if len(tok) > 3 + k:
            lo, hi = (0, 64) if name == "adc_res" else (-2 ** 31, 2 ** 31 - 1)
            if name == "block_size":
                lo = 0
            v = _int(hea, f"{where}: {name.replace('_', ' ')}", tok[3 + k], lo, hi)
            if name in ("adc_res", "adc_zero"):
                setattr(sig, name, v)
    if len(tok) > 8:
        desc = tok[8].strip()
        if not desc.isprintable():
            raise _bad(hea, f"{where}: description contains control characters")
        sig.description = desc or None
    if sig.baseline is None:
        sig.baseline = sig.adc_zero
    return sig


def parse_header(hea: str) -> Header:
    """Parse and check a .hea file; UserError (one line) when it is not a plausible WFDB header."""
    text = read_header_text(hea)
    lines, comments = [], []
    for raw in text.splitlines():
        s = raw.strip()
        if not s:
            continue
        if s.startswith("#"):
            comments.append(s[1:].strip())
        else:
            lines.append(s)
    if not lines:
        raise _bad(hea, "empty header (no record line)")
    tok = lines[0].split()
    if len(tok) < 2:
        raise _bad(hea, f"record line {lines[0][:40]!r} lacks the number of signals")
    name, _, nseg_text = tok[0].partition("/")
    n_sig = _int(hea, "number of signals", tok[1], 0, MAX_SIGNALS)
    fs = _fs(hea, tok[2] if len(tok) > 2 else None)
    n_samples = _int(hea, "number of samples", tok[3], 0, 2 ** 53) if len(tok) > 3 else None
    _check_time(hea, tok[4:6])
    hdr = Header(path=hea, name=name, n_sig=n_sig, fs=fs, n_samples=n_samples or None, comments=comments)
    body = lines[1:]
    if nseg_text:
        n_seg = _int(hea, "number of segments", nseg_text, 1, MAX_SEGMENTS)
        if len(body) != n_seg:
            raise _bad(hea, f"header says {n_seg} segments but lists {len(body)}")
        hdr.segments = []
        for j, line in enumerate(body):
            st = line.split()
            if len(st) < 2:
                raise _bad(hea, f"segment line {j + 1} is not 'name samples'")
            hdr.segments.append((st[0], _int(hea, f"segment {j + 1}: number of samples", st[1], 0, 2 ** 53)))
        return hdr
    if n_sig == 0:
        raise _bad(hea, "header lists no signals")
    if len(body) != n_sig:
        raise _bad(hea, f"header says {n_sig} signals but has {len(body)} signal lines")
    hdr.signals = [_signal(hea, i, line) for i, line in enumerate(body)]
    if n_samples == 0 and any(s.file_name != "~" for s in hdr.signals):  # (a layout header has 0 and no files)
        raise _bad(hea, "header gives 0 samples per signal; put the record's number of samples in its first "
                        "line (the WFDB reader cannot tell it from the signal file)")
    return hdr
