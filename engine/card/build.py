"""Building a robustness card: the cells, clean metrics, ensemble robust accuracy, perceptibility,
the universal perturbation, band statistics and provenance, as one plain-JSON document.

Rates are fractions with n and a 95 % Clopper–Pearson interval (engine.intervals.rate_record);
ε in mV. Attack success follows attack-eval (among correctly classified records, the share whose
prediction changed / reached the target); robust accuracy under the ensemble is the share of all
records classified correctly and not fooled by any of its attacks.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

import numpy as np

from ..attack_eval import Dist, model_fingerprint, params_doc, read_results
from ..attacks.base import AttackParams
from ..attacks.registry import CARD_METHODS
from ..errors import UserError
from ..intervals import rate_record

KIND = "ecgadv-robustness-card/1"
BLACK_BOX = ("square",)  # attacks that only read the model's probabilities
CARD_ATTACKS = CARD_METHODS  # declared in engine.attacks.registry (AttackSpec.card)
CARD_EPS = (0.005, 0.01, 0.02, 0.05)
ENSEMBLE_EPS = (0.01, 0.02, 0.05)  # the paper's ε and two larger budgets
CARD_ITERATIONS = 50  # APGD iterations (the paper's 100 halved: the card's time budget)
CARD_QUERIES = 250  # Square queries per record (Square is most of the card's time)
PERCEPTIBILITY = ("snr_db", "prd", "smoothness", "square_wave")


def card_params(**change) -> AttackParams:
    """The card's default attack parameters (paper values, fewer APGD iterations and Square queries)."""
    return AttackParams(**{"iterations": CARD_ITERATIONS, "queries": CARD_QUERIES, **change})


@dataclass
class CardSettings:
    """What a card runs. ε in mV; `universal_file` (a saved .npz) replaces fitting one; fitting uses
    `universal_split` (None: the other half of the card's split, e.g. strat-train for strat-val)."""

    attacks: tuple[str, ...] = CARD_ATTACKS
    eps_list: tuple[float, ...] = CARD_EPS
    ensemble_eps: tuple[float, ...] = ENSEMBLE_EPS
    base: AttackParams = field(default_factory=card_params)
    alpha_ratio: float = 0.1
    alpha_mv: float | None = None
    batch_size: int = 16
    lead: str | None = None
    results_dir: str | None = None
    restart: bool = False
    universal: bool = True
    universal_file: str | None = None
    universal_split: str | None = None
    universal_eps: float = 0.05
    universal_fit_limit: int | None = 200
    universal_steps: int = 5
    universal_passes: int = 5
    band_eval: str | None = None


def settings_from_values(values: dict, **extra) -> CardSettings:
    """CardSettings from plain values (a panel's): "attacks" (comma-separated), "eps" and
    "ensemble_eps" (mV, comma-separated; empty ensemble: none), "iterations", "queries", "universal";
    each checked against its declared range (UserError, one line). `extra` sets other fields."""
    from ..attacks.params import EPS, ITERATIONS, QUERIES
    from ..robustness import parse_eps_list, parse_methods

    def eps_values(text, what, allow_empty):
        t = str(text or "").replace(";", ",").strip()
        if allow_empty and not t:
            return ()
        try:
            return tuple(EPS.check(e, what) for e in parse_eps_list(t))
        except UserError as exc:
            raise UserError(str(exc).replace("--eps", what)) from None

    attacks = tuple(parse_methods(values["attacks"])) if str(values.get("attacks") or "").strip() else ()
    eps = eps_values(values.get("eps"), "ε", False) if attacks else ()
    ens = eps_values(values.get("ensemble_eps"), "ensemble ε", True)
    base = card_params(iterations=ITERATIONS.check(values.get("iterations", CARD_ITERATIONS), "APGD iterations"),
                       queries=QUERIES.check(values.get("queries", CARD_QUERIES), "Square queries"))
    s = CardSettings(attacks=attacks, eps_list=eps, ensemble_eps=ens, base=base,
                     universal=bool(values.get("universal", True)), **extra)
    if not s.attacks and not s.ensemble_eps:
        raise UserError("the card needs at least one attack or one ensemble ε")
    return s


# -- before any work -----------------------------------------------------------------------------

def check_inputs(clf, s: CardSettings) -> dict:
    """Read the given --universal and --band-eval files now (UserError before any attack runs)."""
    from ..universal import load_universal

    if not s.attacks and not s.ensemble_eps:
        raise UserError("the card needs at least one attack or one ensemble ε")
    got: dict = {"universal": None, "band": None}
    if s.universal_file:
        got["universal"] = load_universal(s.universal_file)
    if s.band_eval:
        got["band"] = read_band_eval(s.band_eval, model_fingerprint(clf))
    return got


def universal_plan(ds, split: str, s: CardSettings) -> dict:
    """Which records the universal perturbation is fitted on: {"split", "names"}, or {"skipped": why}
    (none asked for, a file given, or no training half of `split`). UserError for a bad split."""
    from ..universal import paired_split
    from ..workbench.selection import split_records

    if s.universal_file and s.universal_split:
        raise UserError("give either --universal FILE or --universal-split, not both")
    if s.universal_file or not s.universal:
        return {"skipped": "not fitted"}
    fit_split = s.universal_split or paired_split(split, "fit")
    if not fit_split:
        return {"skipped": f"no fitting split: give --universal-split (the card's split {split!r} has no "
                           "training half) or --universal FILE"}
    return {"split": fit_split, "names": split_records(ds, fit_split, s.universal_fit_limit, need_labels=True)}


def read_band_eval(path: str, model_sha: str) -> dict:
    """(header, rows) of a band-eval results file made with this model (UserError otherwise)."""
    from ..band_eval import FORMAT
    from ..results_file import read_jsonl_results

    if not os.path.isfile(path):
        raise UserError(f"--band-eval {path} does not exist or is not a file")
    header, rows = read_jsonl_results(path, FORMAT)
    if header is None:
        raise UserError(f"--band-eval {path} is empty")
    if header.get("model_sha") != model_sha:
        raise UserError(f"--band-eval {path} was made with another model ({header.get('model')!r}, weights "
                        f"{header.get('model_sha')}), not this card's ({model_sha})")
    return {"header": header, "rows": rows}


# -- statistics ----------------------------------------------------------------------------------

def distribution(vals: list, bins: int = 10) -> dict:
    """n, quartiles, min/max and a histogram (edges, counts) of the finite values."""
    v = np.asarray([x for x in vals if x is not None and np.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return {"n": 0, "min": None, "q25": None, "median": None, "q75": None, "max": None,
                "hist": {"edges": [], "counts": []}}
    lo, hi = float(v.min()), float(v.max())
    if hi <= lo:
        hi = lo + (abs(lo) * 1e-6 or 1e-12)
    counts, edges = np.histogram(v, bins=bins, range=(lo, hi))
    return {"n": int(v.size), "min": float(v.min()), "q25": float(np.quantile(v, 0.25)),
            "median": float(np.median(v)), "q75": float(np.quantile(v, 0.75)), "max": float(v.max()),
            "hist": {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]}}


def perceptibility(rows: list[dict]) -> dict:
    """Distributions of SNR (dB), PRD (%), smoothness (mV²) and the share at ±ε over the successful
    examples (correctly classified records the attack fooled)."""
    ok = [r for r in rows if "error" not in r and r.get("correct") and r.get("success")]
    return {k: distribution([r.get(k) for r in ok]) for k in PERCEPTIBILITY}


def clean_metrics(rows: list[dict], classes: list[str]) -> dict:
    """Accuracy (with n and 95 % interval), per-class F1 and the confusion matrix of the clean
    predictions (rows true classes, columns predictions)."""
    from ..metrics import summarize

    ok = [r for r in rows if "error" not in r and r.get("true") in classes and r.get("orig_pred") in classes]
    m = summarize([r["true"] for r in ok], [r["orig_pred"] for r in ok], classes)
    correct = sum(1 for r in ok if r["true"] == r["orig_pred"])
    m["accuracy_rate"] = rate_record(correct, len(ok))
    m["classes"] = list(classes)
    m["per_class_n"] = {c: sum(1 for r in ok if r["true"] == c) for c in classes}
    return m


def robust_accuracy(rows: list[dict], classes: list[str]) -> dict:
    """Records classified correctly and not fooled, of all labelled records: overall and per class;
    plus which ensemble member fooled each fooled record."""
    ok = [r for r in rows if "error" not in r and r.get("true") is not None]

    def robust(rs):
        return rate_record(sum(1 for r in rs if r["true"] == r["orig_pred"] and not r.get("success")), len(rs))

    by: dict[str, int] = {}
    for r in ok:
        if r["true"] == r["orig_pred"] and r.get("success"):
            k = str(r.get("fooled_by") or "?")
            by[k] = by.get(k, 0) + 1
    return {"robust": robust(ok), "per_class": {c: robust([r for r in ok if r["true"] == c])
                                                for c in classes if any(r["true"] == c for r in ok)},
            "fooled_by": by}


def data_digest(ds, names: list[str]) -> str:
    """16 hex digits over the records' file digests and labels (engine.attack_identity)."""
    from ..attack_identity import dataset_identity

    doc = json.dumps(dataset_identity(ds, names), sort_keys=True)
    return hashlib.sha256(doc.encode()).hexdigest()[:16]


def versions() -> dict:
    import scipy
    import torch

    from .. import __version__

    return {"ecgadv": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "numpy": np.__version__, "scipy": scipy.__version__, "platform": platform.platform(terse=True)}


# -- the run -------------------------------------------------------------------------------------

def _cell_rows(entry: dict, names: list[str]) -> list[dict]:
    _, rows = read_results(entry["results_file"])
    return [rows[n] for n in names if n in rows]


def build_card(clf, ds, names: list[str], split: str, settings: CardSettings | None = None, *,
               dist: Dist | None = None, progress: Callable[..., None] | None = None,
               should_stop: Callable[[], bool] | None = None) -> dict | None:
    """Run (or resume) everything the card shows and return its document (rank 0; other torchrun
    ranks return None). `progress(done, total, msg)` counts cells; raises engine.errors.Cancelled."""
    from ..robustness import run_robustness

    s = settings or CardSettings()
    dist = dist or Dist()
    t0 = time.monotonic()
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    given = check_inputs(clf, s)
    given["fit"] = universal_plan(ds, split, s)  # a bad --universal-split stops here, not after the cells
    say = progress or (lambda *a, **k: None)
    cells = [(m, e) for m in s.attacks for e in s.eps_list] + [("ensemble", e) for e in s.ensemble_eps]
    tmp = None
    folder = s.results_dir
    if folder is None:
        if dist.active:
            raise UserError("a card sharded under torchrun needs a results folder")
        tmp = tempfile.TemporaryDirectory(prefix="ecgadv-card-")
        folder = tmp.name
    try:
        entries = []
        for i, (method, eps) in enumerate(cells):
            def prog(cell, done, total, _i=i):
                say(_i, len(cells), f"card cell {_i + 1}/{len(cells)} {cell}: {done}/{total} records")

            say(i, len(cells), f"card cell {i + 1}/{len(cells)}: {method} ε {eps:g} mV")
            doc = run_robustness(clf, ds, names, methods=[method], eps_list=[eps], base=s.base,
                                 alpha_ratio=s.alpha_ratio, alpha_mv=s.alpha_mv, results_dir=folder,
                                 batch_size=s.batch_size, lead=s.lead, split=split, progress=prog,
                                 should_stop=should_stop, dist=dist, restart=s.restart)
            if doc is not None:
                entry = doc["table"][0]
                entry["rows"] = _cell_rows(entry, names)
                entries.append(entry)
        if dist.rank != 0:
            return None
        say(len(cells), len(cells) + 1, "card: clean metrics, universal perturbation, bands")
        return _assemble(clf, ds, names, split, s, entries, given, t0, started, dist, say, should_stop,
                         keep_files=tmp is None)
    finally:
        if tmp is not None:
            tmp.cleanup()


def _assemble(clf, ds, names, split, s, entries, given, t0, started, dist, say, should_stop, keep_files) -> dict:
    classes = list(clf.classes)
    first = entries[0]["rows"]
    attacks, ensemble = [], []
    for e in entries:
        rows = e.pop("rows")
        if not keep_files:
            e["results_file"] = None
        if e["method"] == "ensemble":
            ensemble.append({"eps_mv": e["eps_mv"], **robust_accuracy(rows, classes),
                             "success": rate_record(e["success"], e["attacked"]), "results_file": e["results_file"]})
            continue
        queries = [r["queries"] for r in rows if isinstance(r.get("queries"), (int, float))]
        attacks.append({**e, "box": "black-box" if e["method"] in BLACK_BOX else "white-box",
                        "rate": rate_record(e["success"], e["attacked"]),
                        "perceptibility": perceptibility(rows),
                        "queries_median": float(np.median(queries)) if queries else None})
    universal = _universal(clf, ds, names, split, s, given["universal"], given["fit"], say, should_stop)
    band = None
    if given["band"] is not None:
        from ..band_eval import summarize as band_summary

        h = given["band"]["header"]
        band_rows = list(given["band"]["rows"].values())
        band = {"file": os.path.abspath(s.band_eval), "method": h.get("method"), "params": h.get("params"),
                "split": h.get("split"), "styles": h.get("styles"), "band": h.get("band"),
                **band_summary(band_rows, list(h.get("styles") or []), classes)}
    from ..model_card import model_card

    return {
        "kind": KIND, "model": clf.name, "model_sha": model_fingerprint(clf),
        "data": {"dataset": os.path.basename(os.path.abspath(ds.folder)), "split": split, "records": len(names),
                 "unreadable": sum(1 for r in first if "error" in r),
                 "digest": data_digest(ds, names), "lead": s.lead, "names": list(names)},
        "settings": {"attacks": list(s.attacks), "eps_mv": list(s.eps_list), "ensemble_eps_mv": list(s.ensemble_eps),
                     "params": params_doc(s.base), "alpha_rule": (f"fixed:{s.alpha_mv:g}" if s.alpha_mv is not None
                                                                  else f"ratio:{s.alpha_ratio:g}"),
                     "batch_size": s.batch_size},
        "interval": "95% Clopper-Pearson (exact binomial)",
        "clean": clean_metrics(first, classes),
        "attacks": attacks, "ensemble": ensemble, "universal": universal, "band": band,
        "provenance": {"model_card": model_card(clf), "versions": versions(),
                       "seeds": {"attacks": s.base.seed, "universal": (universal or {}).get("seed")},
                       "started": started, "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                       "seconds": round(time.monotonic() - t0, 2), "world_size": dist.world,
                       "results_dir": os.path.abspath(s.results_dir) if keep_files and s.results_dir else None,
                       "device": str(clf.device)},
    }


def _universal(clf, ds, names, split, s: CardSettings, loaded, plan: dict, say, should_stop) -> dict:
    """The universal perturbation's success on the card's records it was not fitted on."""
    from ..attack_eval import read_inputs as _read
    from ..universal import evaluate_heldout, fit_universal

    if loaded is None and not s.universal:
        return {"skipped": "not asked for"}
    if loaded is not None:
        uap, source = loaded, "file"
    else:
        if "skipped" in plan:
            return {"skipped": plan["skipped"]}
        fit_split = plan["split"]
        inputs, _, _ = _read(ds, plan["names"], s.lead)
        if not inputs:
            return {"skipped": f"no readable records in the fitting split {fit_split}"}

        def prog(done, total):
            say(0, 0, f"card: universal perturbation step {done}/{total}")

        uap = fit_universal(clf, inputs, eps_mv=s.universal_eps, steps=s.universal_steps,
                            passes=s.universal_passes, batch_size=s.batch_size, seed=s.base.seed,
                            progress=prog, should_stop=should_stop)
        uap.model_sha = model_fingerprint(clf)
        uap.dataset = os.path.basename(os.path.abspath(ds.folder))
        uap.fit_split, uap.eval_split, source = fit_split, split, "fitted"
    try:
        held = evaluate_heldout(clf, ds, names, uap, lead=s.lead, should_stop=should_stop)
    except UserError as exc:
        return {"skipped": str(exc), **uap.describe(), "source": source}
    rows = held.pop("rows")
    doc = {**uap.describe(), "source": source, "transfer": uap.model_sha != model_fingerprint(clf),
           "records": held["records"], "excluded_fit_records": held["excluded_fit_records"],
           "summary": held["summary"], "perceptibility": {k: distribution([r.get(k) for r in rows if "error" not in r])
                                                          for k in PERCEPTIBILITY}}
    if source == "file":
        doc["file"] = os.path.abspath(s.universal_file)
    return doc


__all__ = ["KIND", "CardSettings", "build_card", "card_params", "check_inputs", "distribution", "settings_from_values"]
