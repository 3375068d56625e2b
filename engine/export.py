"""Writing results as WFDB records with provenance in the header comments."""

from __future__ import annotations

import json
import os
from dataclasses import asdict

import numpy as np

from . import __version__
from .attacks.base import AttackParams
from .attacks.runner import AttackResult
from .band import BandResult
from .records import write_record


def provenance(source: str, model: str, kind: str, params: dict) -> list[str]:
    """Header comment lines: what this record is, where it came from, how it was made."""
    return [f"ecg-adv-workbench {__version__}: {kind}",
            f"source: {source}",
            f"model: {model}",
            "params: " + json.dumps(params, sort_keys=True, separators=(",", ":"))]


def write_adversarial(out_dir: str, result: AttackResult, *, model: str, method: str, params: AttackParams,
                      source: str, gain: float = 1000.0, overwrite: bool = False) -> str:
    """Write the adversarial example as `<out_dir>/<record>_<method>` (one lead, mV); returns its path."""
    base = os.path.join(out_dir, f"{result.record}_{method}")
    p = {**asdict(params), "method": method, "orig_pred": result.orig_pred, "adv_pred": result.adv_pred}
    return write_record(base, result.x_adv, result.fs, lead_names=["ECG"], gain=gain,
                        comments=provenance(source, model, f"{method} adversarial example", p),
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
    base = write_record(os.path.join(out_dir, f"{band.record}_{method}_band"), env_q if gain else env, band.fs,
                        lead_names=["band_min", "band_max"], gain=gain,
                        comments=provenance(source, model, "band of adversarial examples (min, max)", p),
                        overwrite=overwrite)
    paths = []
    for k in range(min(members, band.members.shape[0])):
        paths.append(write_record(os.path.join(out_dir, f"{band.record}_{method}_member{k:04d}"),
                                  band.members[k], band.fs, lead_names=["ECG"], gain=gain,
                                  comments=provenance(source, model, f"band member {k}", {"method": method}),
                                  overwrite=overwrite))
    return {"band": base, "members": paths}
