"""Finding (original, adversarial) pairs for a study from attack outputs on disk.

Adversarial examples are WFDB records written by engine.export.write_adversarial, whose header
comments carry provenance: "ecg-adv-workbench V: <method> adversarial example", "source: PATH",
"model: NAME", "params: {json with method, orig_pred, adv_pred, ...}". Inputs may be folders of
such records, single records, or JSONL results files (each line a JSON object; any string value
naming an adversarial record is followed, and the file's folder is scanned when none does).
"""

from __future__ import annotations

import glob
import json
import os

import numpy as np

from ..datasets import label_for_record
from ..errors import UserError
from ..inputs import read_bounded
from ..records import read_record, record_base, resample
from .plan import Pair

_KIND_SUFFIX = "adversarial example"


def parse_provenance(comments: list[str]) -> dict | None:
    """{'kind', 'method', 'source', 'model', 'params'} from header comments, or None when the record
    is not one of our adversarial examples (bands, members and plain records are skipped)."""
    out: dict = {}
    for line in comments:
        line = line.strip()
        if line.startswith("ecg-adv-workbench") and ":" in line:
            out["kind"] = line.split(":", 1)[1].strip()
        elif line.startswith("source:"):
            out["source"] = line.split(":", 1)[1].strip()
        elif line.startswith("model:"):
            out["model"] = line.split(":", 1)[1].strip()
        elif line.startswith("params:"):
            try:
                out["params"] = json.loads(line.split(":", 1)[1].strip())
            except (ValueError, RecursionError):
                out["params"] = {}
            if not isinstance(out["params"], dict):
                out["params"] = {}
    kind = out.get("kind", "")
    if not kind.endswith(_KIND_SUFFIX) or "source" not in out:
        return None
    params = out.setdefault("params", {})
    out["method"] = str(params.get("method") or kind[: -len(_KIND_SUFFIX)].strip() or "unknown").lower()
    return out


def _is_record(path: str) -> bool:
    try:
        return os.path.isfile(record_base(path) + ".hea")
    except (ValueError, OSError):
        return False


def _records_in(folder: str) -> list[str]:
    return sorted(record_base(p) for p in glob.glob(os.path.join(folder, "*.hea")))


MAX_JSONL_BYTES = 256 * 2 ** 20


def _strings(obj) -> list[str]:
    """Every string value in a JSON document (iteratively: any depth)."""
    out, stack = [], [obj]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
        elif isinstance(v, str):
            out.append(v)
    return out


def _candidates_from_jsonl(path: str) -> list[str]:
    """Adversarial records named by a JSONL results file: each line's "out" (attack, attack-eval),
    else any string value that names an existing record."""
    folder = os.path.dirname(os.path.abspath(path))
    found: list[str] = []
    raw = read_bounded(path, "results file", MAX_JSONL_BYTES)
    if b"\x00" in raw:
        raise UserError(f"{path}: not a text JSONL results file (binary, or UTF-16)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a UTF-8 JSONL results file") from None

    for i, line in enumerate(text.splitlines()):
        line = line.strip()
        if not line:
            continue
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError):
            raise UserError(f"{path}: line {i + 1} is not JSON") from None
        if isinstance(obj, dict) and "out" in obj:
            cands = [obj["out"]] if isinstance(obj["out"], str) else []
        elif isinstance(obj, dict) and isinstance(obj.get("results"), list):
            cands = [r.get("out") for r in obj["results"] if isinstance(r, dict) and isinstance(r.get("out"), str)]
        else:
            cands = _strings(obj)
        for s in cands:
            if not 0 < len(s) < 4096 or "\x00" in s:
                continue
            for cand in (s, os.path.join(folder, s)):
                if _is_record(cand):
                    found.append(record_base(cand))
                    break
    if not found:
        raise UserError(f"{path}: names no saved adversarial examples (save them with --out when attacking)")
    return found


def _resolve_source(source: str, adv_path: str, source_dirs: list[str]) -> str | None:
    adv_dir = os.path.dirname(os.path.abspath(adv_path))
    name = os.path.basename(record_base(source))
    cands = [source, os.path.join(adv_dir, source)]
    cands += [os.path.join(d, name) for d in source_dirs]
    cands += [os.path.join(adv_dir, name), os.path.join(os.path.dirname(adv_dir), name)]
    for c in cands:
        if _is_record(c):
            return record_base(c)
    return None


def _check_same_record(base: str, src: str, xo: np.ndarray, xa: np.ndarray, eps_mv, gain: float) -> None:
    """UserError when the original found for an example is not the record it was made from: they
    differ by more than the attack's ε (plus one ADC step of the written example). A record of the
    same name in another folder (--source-dir) paired the example with an unrelated ECG, silently."""
    if not isinstance(eps_mv, (int, float)) or isinstance(eps_mv, bool) or not eps_mv > 0 or xo.size == 0:
        return  # no ε in the provenance: nothing to check against
    tol = float(eps_mv) + (1.0 / gain if gain and gain > 0 else 0.0) + 1e-6
    worst = float(np.max(np.abs(xa.astype(np.float64) - xo.astype(np.float64))))
    if not worst <= tol:
        raise UserError(f"{base}: {src} is not the record it was made from: they differ by up to "
                        f"{worst:.4g} mV, more than its ε {float(eps_mv):g} mV (a record of the same name "
                        "in another folder? check --source-dir)")


def collect_pairs(inputs: list[str], source_dirs: list[str] | None = None,
                  methods: list[str] | None = None, successful_only: bool = False,
                  progress=None) -> tuple[list[Pair], list[str]]:
    """Pairs from folders / records / JSONL files; returns (pairs, warnings).

    The original is read from the provenance's source path (or found by name in `source_dirs`),
    resampled to the adversarial example's rate when they differ and cut to the same length.
    """
    source_dirs = [str(d) for d in (source_dirs or [])]
    paths: list[str] = []
    for inp in inputs:
        inp = str(inp)
        if os.path.isdir(inp):
            paths += _records_in(inp)
        elif inp.lower().endswith((".jsonl", ".json", ".ndjson")) and os.path.isfile(inp):
            paths += _candidates_from_jsonl(inp)
        elif _is_record(inp):
            paths.append(record_base(inp))
        else:
            raise UserError(f"{inp}: not a folder, a record or a JSONL results file")
    seen: set[str] = set()
    pairs: list[Pair] = []
    warnings: list[str] = []
    skipped_other = skipped_failed = 0
    want = {m.lower() for m in methods} if methods else None
    for i, base in enumerate(paths):
        key = os.path.abspath(base)
        if key in seen:
            continue
        seen.add(key)
        try:
            import wfdb

            header = wfdb.rdheader(base)
        except Exception:
            warnings.append(f"{base}: unreadable header, skipped")
            continue
        prov = parse_provenance(list(header.comments or []))
        if prov is None:
            skipped_other += 1
            continue
        if want is not None and prov["method"] not in want:
            continue
        pp = prov.get("params", {})
        if successful_only and not (pp.get("adv_pred") and pp.get("adv_pred") != pp.get("orig_pred")):
            skipped_failed += 1
            continue
        src = _resolve_source(prov["source"], base, source_dirs)
        if src is None:
            raise UserError(f"{base}: its source record {prov['source']} was not found "
                            "(pass the folder of the originals with --source-dir)")
        try:
            adv = read_record(base)
            xa, adv_lead = adv.lead_mv()
            orig = read_record(src)
            xo, _ = orig.lead_mv()
            if orig.fs != adv.fs:
                xo = resample(xo, orig.fs, adv.fs)
        except UserError:
            raise
        except (ValueError, OSError, IndexError, KeyError, TypeError, ZeroDivisionError) as exc:
            raise UserError(f"{base}: cannot read the example or its original ({type(exc).__name__})") from None
        n = min(len(xo), len(xa))
        if abs(len(xo) - len(xa)) > max(2, 0.01 * n):
            warnings.append(f"{base}: original and adversarial lengths differ ({len(xo)} vs {len(xa)}); "
                            "both cut to the shorter")
        params = prov.get("params", {})
        _check_same_record(base, src, xo[:n], xa[:n], params.get("eps_mv"), adv_lead.gain)
        pairs.append(Pair(pair_id=f"p{len(pairs):05d}", method=prov["method"],
                          x_orig=np.asarray(xo[:n], np.float32), x_adv=np.asarray(xa[:n], np.float32),
                          fs=float(adv.fs), source_record=src, adversarial_record=base,
                          reference_label=label_for_record(src), orig_pred=params.get("orig_pred"),
                          adv_pred=params.get("adv_pred"), model=prov.get("model"), params=params))
        if progress:
            progress(i + 1, len(paths))
    if skipped_failed:
        warnings.append(f"{skipped_failed} example(s) whose attack did not change the prediction skipped")
    if skipped_other:
        warnings.append(f"{skipped_other} record(s) without adversarial-example provenance skipped")
    if not pairs:
        raise UserError("no adversarial examples found in " + ", ".join(map(str, inputs)) +
                        " (records written by `attack` carry a 'source:' provenance line)")
    return pairs, warnings


def pair_from_attack(result, method: str, *, source_record: str = "", model: str | None = None,
                     params: dict | None = None, reference_label: str | None = None,
                     pair_id: str | None = None) -> Pair:
    """A study pair straight from an engine.attacks AttackResult (both signals at the model's rate),
    for building a study from results chosen in the GUI without writing records first."""
    return Pair(pair_id=pair_id or f"{result.record}_{method}", method=str(method).lower(),
                x_orig=np.asarray(result.x0, np.float32), x_adv=np.asarray(result.x_adv, np.float32),
                fs=float(result.fs), source_record=source_record or result.record,
                adversarial_record=f"{result.record}_{method}",
                reference_label=reference_label if reference_label is not None else result.true,
                orig_pred=result.orig_pred, adv_pred=result.adv_pred, model=model, params=dict(params or {}))
