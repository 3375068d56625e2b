"""Adaptive evaluation of a smoothed classifier: EOT-PGD judged against the smoothed prediction.

For each record (a signal (n,) mV at the model's rate) with its label:

1. the smoothed classifier g of engine.certify (Gaussian noise of sd σ mV on the model input) is
   evaluated on the clean input with Cohen's PREDICT (n draws, abstaining at level alpha), and its
   CERTIFY certificate is taken (n0 + n draws): L2 radius R (mV) and its L∞ bound R/√d, d the
   record samples the model sees;
2. a record counts as correct when PREDICT returns its label (an abstention is not correct); each
   correct record is attacked at every ε (mV) with EOT-PGD (engine.attacks.eot: L∞ PGD on the soft
   smoothed loss, the same σ, K draws per step) away from its label, and PREDICT (the same noise
   seed) is run on x0 + δ: the record stays robust when it still returns the label.

Per ε, over all N records: the certified accuracy at the L2 radius ε·√d (CERTIFY returned the label
with R ≥ ε√d, i.e. its L∞ bound ≥ ε: a lower bound on the true robust accuracy, holding with
probability ≥ 1 − alpha per record) next to the empirical robust accuracy (correct and still robust
after the attack: an upper bound, as a stronger attack can only lower it), each with n and a 95 %
Clopper–Pearson interval; the attack success among the correct records; and the records certified
at ε yet broken by the attack (should be ~0: a failed certificate, or PREDICT's own error).
δ is not projected onto the ADC grid (the smoothing noise σ is far above one ADC quantum).

A results file (engine.results_file layout: a header naming model, split, smoothing and attack
parameters and the ε list, then one JSON line per record) is resumed by a rerun of the same run.
"""

from __future__ import annotations

import math
from dataclasses import asdict, replace
from typing import Callable

import numpy as np

from .attacks.params import ALPHA, EPS, AttackParams
from .certify import SmoothParams, certify_input, predict_input, record_input
from .certify_eval import check_resumed_inputs, input_digest
from .errors import Cancelled, UserError
from .intervals import rate_record
from .outputs import FileLock
from .results_file import ResultsFormat, append_lines, open_results

KIND = "smooth-attack"
METHOD = "eot-pgd"
SMOOTH_MATCH = ("sigma_mv", "n0", "n", "alpha", "seed")
ALPHA_RATIO = ALPHA.default / EPS.default  # step α = ε × this unless a fixed α is given (paper 0.001/0.01)


def alpha_for(eps_mv: float, alpha_mv: float | None) -> float:
    """The step α (mV) at ε: the fixed `alpha_mv` when given, else ε × ALPHA_RATIO."""
    return float(alpha_mv) if alpha_mv is not None else eps_mv * ALPHA_RATIO


def check_eps_list(eps_list: list[float]) -> list[float]:
    """Sorted unique ε values (mV), each within ε's declared range; UserError otherwise."""
    if not eps_list:
        raise UserError("--eps needs at least one value (mV, comma-separated)")
    return sorted({float(EPS.check(e, "--eps")) for e in eps_list})


def attack_params_for(attack: AttackParams, smooth: SmoothParams, eps_mv: float,
                      alpha_mv: float | None) -> AttackParams:
    """The EOT-PGD parameters of one ε: untargeted, noise σ = the smoothing σ."""
    return replace(attack, eps_mv=eps_mv, alpha_mv=alpha_for(eps_mv, alpha_mv), eot_sigma_mv=smooth.sigma_mv,
                   target=None, target_map=())


def evaluate_record(clf, name: str, label: str, x: np.ndarray, smooth: SmoothParams, attack: AttackParams,
                    eps_list: list[float], alpha_mv: float | None = None,
                    should_stop: Callable[[], bool] | None = None) -> dict:
    """One record (n,) mV at the model's rate → its results row: "record", "label", "d", PREDICT's
    "pred" (None: abstained) and "votes", CERTIFY's "cert_pred", "radius_mv", "linf_mv", "correct",
    and per ε (only when correct) {"eps_mv", "alpha_mv", "certified", "adv_pred", "adv_votes",
    "robust", "delta_linf_mv"}."""
    import torch

    from .attacks.eot import EOTPGD

    classes = clf.classes
    if label not in classes:
        raise UserError(f"{name}: label {label!r} is not a class of model {clf.name} ({', '.join(classes)})")
    xin, logits_fn, d = record_input(clf, x, clf.fs)
    _, pl = clf.prepare(x, clf.fs)
    dev = clf.device
    cert = certify_input(logits_fn, xin, classes, smooth, dev, d=d)  # first: it refuses a non-finite input
    pred, votes = predict_input(logits_fn, xin, classes, smooth, dev)
    row = {"record": name, "label": label, "d": int(d), "pred": pred, "votes": votes, "cert_pred": cert.pred,
           "radius_mv": cert.radius_mv, "linf_mv": cert.linf_mv, "correct": pred == label, "eps": []}
    if pred != label:
        return row
    x0 = torch.as_tensor(np.asarray(xin, dtype=np.float32))[None]
    mask = torch.as_tensor(pl.mask())[None]
    y = torch.tensor([classes.index(label)])
    for eps in eps_list:
        if should_stop is not None and should_stop():
            raise Cancelled("smooth-attack cancelled")
        ap = attack_params_for(attack, smooth, eps, alpha_mv)
        delta = EOTPGD(clf, ap, should_stop=should_stop)(x0, mask, y)[0].cpu().numpy()
        adv_pred, adv_votes = predict_input(logits_fn, xin + delta, classes, smooth, dev)
        row["eps"].append({"eps_mv": eps, "alpha_mv": ap.alpha_mv,
                           "certified": cert.pred == label and cert.linf_mv >= eps,
                           "adv_pred": adv_pred, "adv_votes": adv_votes, "robust": adv_pred == label,
                           "delta_linf_mv": float(np.abs(delta).max()) if delta.size else 0.0})
    return row


def summarize(rows: list[dict], eps_list: list[float]) -> dict:
    """{"n", "clean" (PREDICT correct), "abstained" (PREDICT abstained on the clean input),
    "d_median", "table": per ε {"eps_mv", "l2_radius_mv" (ε·√d_median), "certified" (certified
    accuracy), "robust" (empirical robust accuracy), "success" (among correct records),
    "abstained_adv" (count), "certified_but_broken" (count)}}; rates are engine.intervals records."""
    n = len(rows)
    correct = [r for r in rows if r["correct"]]
    d_med = int(np.median([r["d"] for r in rows])) if rows else None
    table = []
    for eps in eps_list:
        cells = [next((c for c in r["eps"] if math.isclose(c["eps_mv"], eps, rel_tol=1e-9)), None) for r in correct]
        if any(c is None for c in cells):
            raise UserError(f"a results row lacks ε {eps:g} mV; the results file is damaged")
        cert_k = sum(1 for r in rows if r["cert_pred"] == r["label"] and r["linf_mv"] >= eps)
        robust_k = sum(1 for c in cells if c["robust"])
        table.append({"eps_mv": eps, "l2_radius_mv": None if d_med is None else eps * math.sqrt(d_med),
                      "certified": rate_record(cert_k, n), "robust": rate_record(robust_k, n),
                      "success": rate_record(len(cells) - robust_k, len(cells)),
                      "abstained_adv": sum(1 for c in cells if c["adv_pred"] is None),
                      "certified_but_broken": sum(1 for c in cells if c["certified"] and not c["robust"])})
    return {"n": n, "clean": rate_record(len(correct), n), "abstained": sum(r["pred"] is None for r in rows),
            "d_median": d_med, "table": table}


def format_table(summary: dict) -> str:
    """The per-ε table as text: certified (lower bound) next to empirical (upper bound) accuracy."""
    from .intervals import format_rate

    def rate(r):
        return format_rate(r["k"], r["n"])

    lines = [f"{'ε (mV)':>8s} {'L2 = ε√d (mV)':>14s}  {'certified accuracy (lower bound)':<36s} "
             f"{'empirical robust accuracy (upper bound)':<40s} attack success (of correct)"]
    for t in summary["table"]:
        l2 = "-" if t["l2_radius_mv"] is None else f"{t['l2_radius_mv']:.4f}"
        lines.append(f"{t['eps_mv']:8g} {l2:>14s}  {rate(t['certified']):<36s} {rate(t['robust']):<40s} "
                     f"{rate(t['success'])}")
    broken = sum(t["certified_but_broken"] for t in summary["table"])
    if broken:
        lines.append(f"warning: {broken} record×ε cells were certified yet broken by the attack (a certificate "
                     "fails with probability ≤ alpha; many point to too few draws --n)")
    return "\n".join(lines)


# -- a resumable run over a split -----------------------------------------------------------------

def _check_first(path: str, doc: dict) -> None:
    if doc.get("kind") != KIND:
        raise UserError(f"{path} is not a smooth-attack results file (its first line has no \"kind\": \"{KIND}\")")


def _valid_row(doc: dict) -> bool:
    return (isinstance(doc.get("record"), str) and isinstance(doc.get("label"), str)
            and isinstance(doc.get("correct"), bool) and isinstance(doc.get("eps"), list)
            and isinstance(doc.get("d"), int) and isinstance(doc.get("linf_mv"), (int, float))
            and all(isinstance(c, dict) and isinstance(c.get("eps_mv"), (int, float))
                    and isinstance(c.get("robust"), bool) for c in doc["eps"]))


def _check(found: dict, want: dict, path: str) -> None:
    diff = [k for k in ("model", "model_sha", "split", "eps_mv", "alpha") if found.get(k) != want.get(k)]
    diff += [f"smooth.{k}" for k in SMOOTH_MATCH if (found.get("smooth") or {}).get(k) != want["smooth"][k]]
    diff += [f"attack.{k}" for k in want["attack"] if (found.get("attack") or {}).get(k) != want["attack"][k]]
    if diff:
        raise UserError(f"{path} holds another run's results ({', '.join(diff)} differ); pass another --results "
                        "or --overwrite to start it afresh")


FORMAT = ResultsFormat(check_first=_check_first, valid_row=_valid_row, row_what="smooth-attack row", check=_check)


def header_for(clf, smooth: SmoothParams, attack: AttackParams, eps_list: list[float], alpha_mv: float | None,
               split: str) -> dict:
    from .attacks.registry import header_params

    s = asdict(smooth)
    att = {k: v for k, v in header_params(METHOD, attack).items()
           if k not in ("eps_mv", "alpha_mv", "eot_sigma_mv", "target", "target_map")}
    from .attack_eval import model_fingerprint

    return {"kind": KIND, "model": clf.name, "model_sha": model_fingerprint(clf), "split": split, "method": METHOD,
            "smooth": {k: s[k] for k in SMOOTH_MATCH}, "attack": att, "eps_mv": list(eps_list),
            "alpha": f"fixed:{alpha_mv:g}" if alpha_mv is not None else f"ratio:{ALPHA_RATIO:g}"}


def run_smooth_attack(clf, names: list[str], labels: list[str], signals: list[np.ndarray], smooth: SmoothParams,
                      attack: AttackParams, eps_list: list[float], results: str, *, alpha_mv: float | None = None,
                      split: str = "", restart: bool = False,
                      progress: Callable[[int, int, str], None] | None = None,
                      should_stop: Callable[[], bool] | None = None) -> dict:
    """Evaluate the records not yet in `results` (signals mV at the model's rate), appending a row
    for each; → `summarize` over every row of the split plus "rows", "header", "done_before" and
    "results_file"."""
    smooth.check()
    eps_list = check_eps_list(eps_list)
    header = header_for(clf, smooth, attack, eps_list, alpha_mv, split)
    lock = FileLock(results).acquire()
    try:
        done = open_results(results, header, FORMAT, restart=restart)
        digests = {n: input_digest(x, lab) for n, lab, x in zip(names, labels, signals)}
        done = check_resumed_inputs(results, header, done, digests, restart, "--results")
        before = sum(n in done for n in names)
        for i, (name, lab, x) in enumerate(zip(names, labels, signals)):
            if name in done:
                continue
            if should_stop is not None and should_stop():
                raise Cancelled("smooth-attack cancelled")
            row = {**evaluate_record(clf, name, lab, x, smooth, attack, eps_list, alpha_mv, should_stop),
                   "input_sha": digests[name]}
            append_lines(results, [row])
            done[name] = row
            if progress is not None:
                broken = ", ".join(f"{c['eps_mv']:g}" for c in row["eps"] if not c["robust"])
                what = ("not correct (smoothed " + (row["pred"] or "abstains") + ")" if not row["correct"]
                        else f"broken at ε {broken} mV" if broken else "robust at every ε")
                progress(i + 1, len(names), f"smooth-attack {i + 1}/{len(names)}: {name} {what}")
    finally:
        lock.release()
    rows = [done[n] for n in names]
    return {**summarize(rows, eps_list), "header": header, "done_before": before, "results_file": results,
            "rows": rows}
