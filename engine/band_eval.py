"""Bands over a dataset split: the three band fractions for every successful example, side by side
for the two band procedures (engine.band STYLES), in a resumable JSONL file.

Results file (JSON Lines):
- line 1, the header: {"kind": "ecgadv-band-eval/1", "model", "model_sha", "method", "params",
  "band", "styles", "lead", "dataset", "split", "records", "labels"}: "params" are the attack's
  parameters (engine.attack_eval.params_doc) plus the smoothing kernels the bands use, "band" the
  band settings (trials, noise sd in mV, uniform draws, pair/splice caps, seed), "records"/"labels"
  the data identity (engine.attack_identity). A rerun with the same file must match all of them,
  else it stops with a one-line error (or, with `restart`, starts the file afresh);
- then one line per finished record: the attack's outcome ("true", "orig_pred", "adv_pred",
  "success", "correct", the measures) and "bands": {style: band report} for the examples whose
  bands were expanded, or "bands": null and "skipped": why (misclassified to begin with, not
  fooled, already the target); {"record", "error"} for a record that could not be read.
A band report is engine.band.BandResult.to_json()'s noise / concat / uniform plus
"centre_margin": the logit margin of the band's centre ((min + max) / 2) -- for an untargeted
attack max over other classes minus the original class's logit, targeted: the target's logit
minus the best other; > 0 exactly when the centre is adversarial -- and "yields_more": whether at
least one noise trial was adversarial (the paper: "87.6 % of adversarial examples yielded more").
"example_margin" is the same margin for the example itself.

Which records: every labelled record of the split is attacked; bands are expanded for those the
model classified correctly and the attack fooled (the paper's successful examples). Each record's
line is appended (flushed, fsync'ed) as soon as its bands are done: a killed run loses at most
the record in flight and a rerun skips what is in the file. One writer at a time
(engine.outputs.FileLock on the results file).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, replace
from typing import Callable

import numpy as np
import torch

from .attack_eval import MEASURES, model_fingerprint, params_doc, read_inputs
from .attack_identity import check_identity, dataset_identity
from .attacks.base import AttackParams
from .attacks.runner import AttackResult, run_attack
from .band import STYLES, BandParams, expand_band
from .datasets import Dataset
from .errors import Cancelled, UserError
from .intervals import rate_record
from .models.modes import eval_mode
from .models.classifier import Classifier
from .outputs import FileLock, check_output
from .results_file import ResultsFormat, append_lines, open_results, read_jsonl_results, valid_record_row
from .figures import figure, save_png
from .robustness import check_plot_path  # the same --plot check

KIND = "ecgadv-band-eval/1"
CHECKED = ("kind", "model_sha", "method", "params", "band", "styles", "lead")


def parse_styles(text: str) -> list[str]:
    """'workbench', 'paper-code' or 'both' → the styles to run, in engine.band.STYLES order."""
    t = str(text).strip().lower()
    if t == "both":
        return list(STYLES)
    if t not in STYLES:
        raise UserError(f"unknown band style {text!r} (choose from {', '.join(STYLES)} or both)")
    return [t]


def band_doc(band: BandParams) -> dict:
    """The band settings as stored in the header (batch size excluded: it does not change results)."""
    d = asdict(band)
    d.pop("batch_size", None)
    d.pop("style", None)
    return d


def make_header(clf: Classifier, method: str, params: AttackParams, band: BandParams, styles: list[str],
                ds: Dataset, names: list[str], lead: str | None = None, split: str | None = None) -> dict:
    p = params_doc(params, method)
    p.update(kernel_sizes=list(params.kernel_sizes), kernel_sigmas=list(params.kernel_sigmas))
    return {"kind": KIND, "model": clf.name, "model_sha": model_fingerprint(clf), "method": method,
            "params": json.loads(json.dumps(p, default=float)), "band": band_doc(band), "styles": list(styles),
            "lead": lead, "dataset": os.path.abspath(ds.folder), "split": split, **dataset_identity(ds, names)}


def check_header(found: dict, want: dict, path: str) -> None:
    """UserError naming the first setting or data difference between a results file and this run."""
    if found.get("kind") != KIND:
        raise UserError(f"{path} is not a band-eval results file (its first line has no \"kind\": \"{KIND}\"); "
                        "use another --out file, or --overwrite to start it afresh")
    for key in CHECKED:
        if found.get(key) != want.get(key):
            raise UserError(f"{path} was made with different settings: {key} differs "
                            f"({found.get(key)!r} in the file vs {want.get(key)!r} now); use another --out "
                            "file, or --overwrite to start it afresh")
    check_identity(found, want, path)


def _valid_row(doc: dict) -> bool:
    if not valid_record_row(doc):
        return False
    if "error" in doc:
        return True
    if doc.get("success") not in (True, False, None) or not (doc.get("bands") is None or
                                                             isinstance(doc["bands"], dict)):
        return False
    return all(isinstance(b, dict) and all(isinstance(b.get(k), dict) for k in ("noise", "concat", "uniform"))
               for b in (doc.get("bands") or {}).values())


def _check_first(path: str, doc: dict) -> None:
    if doc.get("kind") != KIND:
        raise UserError(f"{path} is not a band-eval results file (its first line has no "
                        f"\"kind\": \"{KIND}\"); use another --out file, or --overwrite to start it afresh")


FORMAT = ResultsFormat(check_first=_check_first, valid_row=_valid_row, row_what="band-eval row",
                       check=check_header)


def _read(path: str, repair: bool = False) -> tuple[dict | None, dict[str, dict]]:
    """(header, {record: row}) of a band-eval results file; (None, {}) when absent or empty. A
    torn last line (killed mid-write) is ignored, and with `repair` cut off the file."""
    return read_jsonl_results(path, FORMAT, repair)


def margin(clf: Classifier, x_mv: np.ndarray, orig_pred: str, target: str | None) -> float:
    """Logit margin of a signal (n,) mV at the model rate: > 0 exactly when it is adversarial
    (untargeted: best other class minus the original class; targeted: target minus best other)."""
    x, _ = clf.prepare(np.asarray(x_mv, dtype=np.float32), clf.fs)
    with eval_mode(clf.module), torch.no_grad():
        z = clf.logits(torch.from_numpy(x).to(clf.device).unsqueeze(0))[0].double().cpu().numpy()
    ref = clf.classes.index(target if target is not None else orig_pred)
    others = np.delete(z, ref)
    return float(others.max() - z[ref]) if target is None else float(z[ref] - others.max())


def style_band(clf: Classifier, res: AttackResult, params: AttackParams, band: BandParams,
               progress: Callable[[int, int], None] | None = None,
               should_stop: Callable[[], bool] | None = None, stage=None) -> tuple:
    """One style's band around `res` → (BandResult, report): the report holds the noise / concat /
    uniform results, the band centre's logit margin (> 0 when adversarial; None without a band) and
    whether noise yields more adversarial examples."""
    b = expand_band(clf, res, params, band, progress=progress, should_stop=should_stop, stage=stage)
    target = params.target_for(res.orig_pred)
    no_band = b.uniform.get("centre_adversarial") is None  # paper-code: no trial survived, no band
    return b, {"noise": b.noise, "concat": b.concat, "uniform": b.uniform,
               "centre_margin": None if no_band else margin(clf, (b.lo + b.hi) / 2, res.orig_pred, target),
               "yields_more": b.noise["adversarial"] > 0}


def band_report(clf: Classifier, res: AttackResult, params: AttackParams, band: BandParams,
                progress: Callable[[int, int], None] | None = None,
                should_stop: Callable[[], bool] | None = None) -> dict:
    """One style's band report around `res` (style_band without the band itself)."""
    return style_band(clf, res, params, band, progress=progress, should_stop=should_stop)[1]


def _skip_reason(res: AttackResult) -> str | None:
    if res.correct is False:
        return "misclassified to begin with"
    if res.success is None:
        return "already the target"
    if not res.success:
        return "not fooled"
    return None


def run_band_eval(clf: Classifier, ds: Dataset, names: list[str], *, method: str, params: AttackParams,
                  band: BandParams, styles: list[str], results: str, batch_size: int = 8,
                  lead: str | None = None, split: str | None = None, restart: bool = False,
                  progress: Callable[[str], None] | None = None,
                  should_stop: Callable[[], bool] | None = None) -> dict:
    """Attack `names`, expand the bands of the successful examples in every style, appending to
    `results`; returns the summary (`summarize`). `restart`: replace a results file that does not
    match this run instead of refusing it. Raises Cancelled / KeyboardInterrupt; what finished stays."""
    if batch_size < 1:
        raise UserError("--batch-size must be at least 1")
    if not styles:
        raise UserError("no band style given")
    check_output(results, overwrite=True, what="results file")
    lock = FileLock(results).acquire()
    try:
        header = make_header(clf, method, params, band, styles, ds, names, lead, split)
        done = open_results(results, header, FORMAT, restart=restart)
        todo = [n for n in names if n not in done]
        count = len(names) - len(todo)
        say = progress or (lambda m: None)
        for s in range(0, len(todo), batch_size):
            if should_stop and should_stop():
                raise Cancelled(f"band-eval cancelled after {count} of {len(names)} records")
            chunk = todo[s:s + batch_size]
            inputs, errors, _ = read_inputs(ds, chunk, lead)
            res = {r.record: r for r in (run_attack(clf, inputs, method, params, batch_size=max(1, len(inputs)),
                                                    should_stop=should_stop) if inputs else [])}
            for name in chunk:
                if name in errors:
                    append_lines(results, [errors[name]])
                else:
                    append_lines(results, [_row(clf, res[name], params, band, styles, should_stop)])
                count += 1
                say(f"band-eval: {count}/{len(names)} records")
        _, rows = _read(results)
    finally:
        lock.release()
    out = summarize([rows[n] for n in names if n in rows], styles, clf.classes)
    out["pending"] = sum(1 for n in names if n not in rows)
    return out


def _row(clf, r: AttackResult, params, band, styles, should_stop) -> dict:
    row = {"record": r.record, "true": r.true, "orig_pred": r.orig_pred, "adv_pred": r.adv_pred,
           "success": r.success, "correct": r.correct, **{k: r.measures.get(k) for k in MEASURES}}
    why = _skip_reason(r)
    if why:
        return {**row, "bands": None, "skipped": why}
    target = params.target_for(r.orig_pred)
    row["example_margin"] = margin(clf, r.x_adv, r.orig_pred, target)
    try:
        row["bands"] = {st: band_report(clf, r, params, replace(band, style=st), should_stop=should_stop)
                        for st in styles}
    except UserError as exc:  # e.g. a band too large for memory: this record only, the run goes on
        return {**row, "bands": None, "skipped": f"no band: {exc}"}
    return row


# -- summary ---------------------------------------------------------------------------------------

def _dist(vals: list[float]) -> dict:
    """n, mean, quartiles, min/max and the share of exactly 0 and exactly 1 of fractions in [0, 1]."""
    v = np.asarray([x for x in vals if x is not None], dtype=np.float64)
    if v.size == 0:
        return {"n": 0, "mean": None, "median": None, "q25": None, "q75": None, "min": None, "max": None,
                "zero": 0, "one": 0}
    return {"n": int(v.size), "mean": float(v.mean()), "median": float(np.median(v)),
            "q25": float(np.quantile(v, 0.25)), "q75": float(np.quantile(v, 0.75)), "min": float(v.min()),
            "max": float(v.max()), "zero": int((v == 0).sum()), "one": int((v == 1).sum())}


def summarize(rows: list[dict], styles: list[str], classes: list[str] | None = None) -> dict:
    """Per style: the distribution of the three fractions (noise, concatenation, uniform), the band
    centre's margin, how often noise yields more adversarial examples (k/n with a 95 %
    Clopper-Pearson interval), how often the uniform fraction is all-or-nothing, and how often the
    centre's sign decides it (uniform fraction ≥ 0.5 exactly when the centre is adversarial).
    Also the attack's own success (k/n, interval) overall and per true class."""
    ok = [r for r in rows if "error" not in r]
    correct = [r for r in ok if r.get("correct")]
    attacked = [r for r in correct if r.get("success") is not None]
    banded = [r for r in ok if isinstance(r.get("bands"), dict)]
    per_class = {}
    for c in list(classes or []) + sorted({r.get("true") for r in attacked if r.get("true")} - set(classes or [])):
        rc = [r for r in attacked if r.get("true") == c]
        if rc:
            per_class[c] = rate_record(sum(1 for r in rc if r["success"]), len(rc))
    doc = {"records": len(ok), "errors": len(rows) - len(ok), "correct": len(correct),
           "attack_success": rate_record(sum(1 for r in attacked if r["success"]), len(attacked)),
           "attack_success_per_class": per_class, "examples": len(banded),
           "skipped": _count(r.get("skipped") for r in ok if r.get("skipped")),
           "interval": "95% Clopper-Pearson (exact binomial)", "styles": {}}
    for st in styles:
        reps = [r["bands"][st] for r in banded if isinstance(r["bands"].get(st), dict)]
        n = len(reps)
        fr = {k: _dist([b[k].get("fraction") for b in reps]) for k in ("noise", "concat", "uniform")}
        margins = [b["centre_margin"] for b in reps if b.get("centre_margin") is not None]
        uni = [(b["uniform"].get("fraction"), b.get("centre_margin")) for b in reps]
        uni = [(f, m) for f, m in uni if f is not None and m is not None]
        doc["styles"][st] = {
            "examples": n, "fractions": fr,
            "yields_more": rate_record(sum(1 for b in reps if b.get("yields_more")), n),
            "uniform_all_or_nothing": rate_record(sum(1 for f, _ in uni if f in (0.0, 1.0)), len(uni)),
            "centre_adversarial": rate_record(sum(1 for m in margins if m > 0), len(margins)),
            "centre_decides_uniform": rate_record(sum(1 for f, m in uni if (f >= 0.5) == (m > 0)), len(uni)),
            "centre_margin": {**_dist_plain(margins)}}
    return doc


def _count(reasons) -> dict:
    out: dict[str, int] = {}
    for why in reasons:
        key = "no band" if str(why).startswith("no band") else str(why)
        out[key] = out.get(key, 0) + 1
    return out


def _dist_plain(vals: list[float]) -> dict:
    v = np.asarray(vals, dtype=np.float64)
    if v.size == 0:
        return {"n": 0, "mean": None, "median": None, "q25": None, "q75": None, "min": None, "max": None}
    return {"n": int(v.size), "mean": float(v.mean()), "median": float(np.median(v)),
            "q25": float(np.quantile(v, 0.25)), "q75": float(np.quantile(v, 0.75)),
            "min": float(v.min()), "max": float(v.max())}


def read_rows(results: str, names: list[str] | None = None) -> list[dict]:
    """The finished rows of a band-eval file (in `names` order when given)."""
    _, rows = _read(results)
    return [rows[n] for n in names if n in rows] if names is not None else list(rows.values())


# -- text and plot -------------------------------------------------------------------------------

PAPER_YIELDS_MORE = 0.876  # Han et al. 2020: share of adversarial examples whose noise trials yielded more


def format_text(doc: dict) -> str:
    """The summary as a text table, the styles side by side."""
    from .intervals import format_rate

    styles = list(doc["styles"])
    a = doc["attack_success"]
    lines = [f"{doc['records']} records, {doc['correct']} correctly classified; attack success "
             f"{format_rate(a['k'], a['n'])}; bands expanded for {doc['examples']} successful examples"
             + (f"; {doc['errors']} records unreadable" if doc.get("errors") else "")]
    if doc.get("skipped"):
        lines.append("  no band for: " + "; ".join(f"{v} {k}" for k, v in doc["skipped"].items()))
    if doc.get("attack_success_per_class"):
        lines.append("  per true class: " + "; ".join(f"{c} {format_rate(v['k'], v['n'])}"
                                                      for c, v in doc["attack_success_per_class"].items()))
    w = 40
    lines.append(f"{'':34s}" + "".join(f"{s:>{w}s}" for s in styles))

    def row(label, cell):
        lines.append(f"{label:34s}" + "".join(f"{cell(doc['styles'][s]):>{w}s}" for s in styles))

    def dist(d):
        if not d["n"]:
            return "-"
        return (f"mean {d['mean']:.3f}, median {d['median']:.3f} [{d['q25']:.2f}–{d['q75']:.2f}]")

    def zero_one(d):
        return "-" if not d["n"] else f"0: {d['zero']}, 1: {d['one']} of {d['n']}"

    def rate(k):
        return lambda s: format_rate(s[k]["k"], s[k]["n"])

    row("examples", lambda s: str(s["examples"]))
    for k, name in (("noise", "noise"), ("concat", "concatenation"), ("uniform", "uniform")):
        row(f"{name} fraction", lambda s, k=k: dist(s["fractions"][k]))
        row("  exactly 0 / exactly 1", lambda s, k=k: zero_one(s["fractions"][k]))
    row("noise yields more (paper 87.6%)", rate("yields_more"))
    row("uniform all-or-nothing", rate("uniform_all_or_nothing"))
    row("band centre adversarial", rate("centre_adversarial"))
    row("centre decides uniform (≥0.5)", rate("centre_decides_uniform"))
    row("centre margin (logits)", lambda s: "-" if not s["centre_margin"]["n"] else
        f"median {s['centre_margin']['median']:+.3f} [{s['centre_margin']['min']:+.2f}, "
        f"{s['centre_margin']['max']:+.2f}]")
    lines.append("rates: k/n with 95% Clopper-Pearson intervals; fractions: per example, then over examples")
    return "\n".join(lines)


def plot_band_eval(doc: dict, rows: list[dict], path: str, title: str | None = None,
                   overwrite: bool = False) -> str:
    """Three panels, the styles side by side: the per-example fractions (box + points), the uniform
    fraction against the band centre's margin, and 'noise yields more' (k/n with its 95 % interval
    against the paper's 87.6 %). PNG, written atomically; an existing file refused unless `overwrite`."""
    check_plot_path(path, overwrite)
    styles = list(doc["styles"])
    colours = {"workbench": "tab:blue", "paper-code": "tab:orange"}
    banded = [r for r in rows if isinstance(r.get("bands"), dict)]
    fig = figure(14, 4.4)
    axes = fig.subplots(1, 3)
    ax = axes[0]
    kinds = ("noise", "concat", "uniform")
    width = 0.8 / max(1, len(styles))
    rng = np.random.default_rng(0)
    for j, st in enumerate(styles):
        for i, k in enumerate(kinds):
            vals = [r["bands"][st][k].get("fraction") for r in banded if st in r["bands"]]
            vals = [100 * v for v in vals if v is not None]
            x = i + (j - (len(styles) - 1) / 2) * width
            if vals:
                ax.boxplot([vals], positions=[x], widths=width * 0.8, showfliers=False,
                           medianprops={"color": colours.get(st, "k")})
                ax.scatter(x + rng.uniform(-width * 0.3, width * 0.3, len(vals)), vals, s=8, alpha=0.5,
                           color=colours.get(st, "k"), label=st if i == 0 else None)
    ax.set_xticks(range(3))
    ax.set_xticklabels(["noise", "concatenation", "uniform"])
    ax.set_xlim(-0.6, 2.6)
    ax.set_ylim(-4, 104)
    ax.set_ylabel("still adversarial (% of trials), per example")
    ax.set_title(f"Band fractions ({doc['examples']} examples)", fontsize=10)
    ax.legend(fontsize=8)
    ax = axes[1]
    for st in styles:
        pts = [(r["bands"][st].get("centre_margin"), r["bands"][st]["uniform"].get("fraction"))
               for r in banded if st in r["bands"]]
        pts = [(m, 100 * f) for m, f in pts if m is not None and f is not None]
        if pts:
            m, f = zip(*pts)
            ax.scatter(m, f, s=14, alpha=0.7, color=colours.get(st, "k"), label=f"{st} (n = {len(pts)})")
    ax.axvline(0, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("band centre margin (logits; > 0: centre adversarial)")
    ax.set_ylabel("uniform draws adversarial (%)")
    ax.set_ylim(-4, 104)
    ax.set_title("Uniform fraction vs the band centre's margin", fontsize=10)
    ax.legend(fontsize=8)
    ax = axes[2]
    for j, st in enumerate(styles):
        y = doc["styles"][st]["yields_more"]
        if y["n"]:
            lo, hi = y["ci95"]
            ax.bar(j, 100 * y["rate"], color=colours.get(st, "grey"), alpha=0.8,
                   yerr=[[100 * (y["rate"] - lo)], [100 * (hi - y["rate"])]], capsize=5)
            ax.annotate(f"{y['k']}/{y['n']}", (j, 100 * hi), textcoords="offset points", xytext=(0, 4),
                        ha="center", fontsize=8)
    ax.axhline(100 * PAPER_YIELDS_MORE, color="k", lw=0.8, ls="--", label="paper 87.6%")
    ax.set_xticks(range(len(styles)))
    ax.set_xticklabels(styles)
    ax.set_ylim(0, 110)
    ax.set_ylabel("examples whose noise yields more (%, 95% CI)")
    ax.set_title("Noise yields more adversarial examples", fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    fig.suptitle(title or f"Bands over a split — model {doc.get('model', '')}", fontsize=11)
    save_png(fig, path, overwrite)
    return path
