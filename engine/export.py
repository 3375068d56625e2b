"""Writing results as WFDB records with provenance in the header comments.

Every record is written whole or not at all (`write_record_atomic`): both files go into a
temporary folder beside the target and are renamed into place, the .dat first and the .hea last,
so a failed or interrupted write never leaves a header without its signal file. Existing files
are refused unless `overwrite` (checked for all records of a call before any is written).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import asdict

import numpy as np

from . import __version__
from .attacks.base import AttackParams
from .attacks.runner import AttackResult
from .band import BandResult
from .errors import UserError
from .outputs import check_output_dir
from .records import record_base, write_record


def _existing(base: str) -> str | None:
    for f in (base + ".hea", base + ".dat"):
        if os.path.lexists(f):
            return f
    return None


def check_records_free(bases: list[str], overwrite: bool = False) -> None:
    """UserError when a record would replace existing files (unless `overwrite`) or two of
    `bases` are the same record; checks nothing is written yet."""
    seen: set[str] = set()
    for base in bases:
        key = os.path.normcase(os.path.abspath(record_base(base)))
        if key in seen:
            raise UserError(f"two outputs are named {os.path.basename(base)}; one would overwrite the other")
        seen.add(key)
        f = _existing(record_base(base))
        if f and not overwrite:
            raise UserError(f"{f} already exists (use --overwrite to replace it)")


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


def provenance(source: str, model: str, kind: str, params: dict, run: str | None = None) -> list[str]:
    """Header comment lines: what this record is, where it came from, how it was made (and, from
    attack-eval, the run that wrote it, so a resumed run may replace its own files)."""
    return [f"ecg-adv-workbench {__version__}: {kind}",
            f"source: {source}",
            f"model: {model}",
            "params: " + json.dumps(params, sort_keys=True, separators=(",", ":"))] + \
        ([f"run: {run}"] if run else [])


def write_adversarial(out_dir: str, result: AttackResult, *, model: str, method: str, params: AttackParams,
                      source: str, gain: float = 1000.0, overwrite: bool = False, run: str | None = None) -> str:
    """Write the adversarial example as `<out_dir>/<record>_<method>` (one lead, mV); returns its path."""
    base = os.path.join(out_dir, f"{result.record}_{method}")
    p = {**asdict(params), "method": method, "orig_pred": result.orig_pred, "adv_pred": result.adv_pred}
    return write_record_atomic(base, result.x_adv, result.fs, lead_names=["ECG"], gain=gain,
                               comments=provenance(source, model, f"{method} adversarial example", p, run),
                               overwrite=overwrite)


def write_band(out_dir: str, band: BandResult, *, model: str, method: str, params: AttackParams,
               source: str, gain: float = 1000.0, members: int = 0, overwrite: bool = False) -> dict:
    """Write the band envelope (2 leads: band_min, band_max) and optionally the first `members`
    band members (one lead each) as WFDB records; returns {"band": path, "members": [paths]}."""
    p = {**asdict(params), "method": method, "band_style": band.style, "noise": band.noise, "concat": band.concat,
         "uniform": band.uniform}
    env = np.stack([band.lo, band.hi], axis=1)
    # envelope limits are rounded outward so the written band still contains every member
    env_q = np.stack([np.floor(band.lo * gain + 1e-6) / gain, np.ceil(band.hi * gain - 1e-6) / gain], axis=1)
    k_members = min(members, band.members.shape[0])
    bases = band_bases(out_dir, band.record, method, k_members)
    check_records_free(bases, overwrite)  # all of them before the first is written
    base = write_record_atomic(bases[0], env_q if gain else env, band.fs,
                               lead_names=["band_min", "band_max"], gain=gain,
                               comments=provenance(source, model, "band of adversarial examples (min, max)", p),
                               overwrite=overwrite)
    paths = []
    for k in range(k_members):
        paths.append(write_record_atomic(bases[1 + k], band.members[k], band.fs, lead_names=["ECG"], gain=gain,
                                         comments=provenance(source, model, f"band member {k}",
                                                             {"method": method}),
                                         overwrite=overwrite))
    return {"band": base, "members": paths}


def band_bases(out_dir: str, record: str, method: str, members: int = 0) -> list[str]:
    """Record paths `write_band` writes: the band, then `members` members."""
    return [os.path.join(out_dir, f"{record}_{method}_band")] + \
        [os.path.join(out_dir, f"{record}_{method}_member{k:04d}") for k in range(members)]
