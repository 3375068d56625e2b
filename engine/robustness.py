"""Success rate against the perturbation budget ε (and the attack method): a table and a PNG plot.

Each (method, ε) cell is one dataset-level run of engine.attack_eval (same success definition:
among correctly classified records, the share whose prediction changed / reached the target).
The α rule is an explicit option, recorded in the output ("alpha_rule"): by default the step follows
ε, α = ε · alpha_ratio ("ratio:0.1", the paper's 0.001 / 0.01 mV), so every ε gets the same number
of steps to use its budget (CLI --alpha-ratio R); a fixed α for every ε ("fixed:A mV", CLI --alpha A)
is the alternative (with it a small ε may be reached in one step and a large one never). Every cell
reports its success rate with its denominator and an exact 95 % interval (engine.intervals), overall
and per true class; the plot draws the intervals as error bars and labels each point with k/n. With a results folder every cell
keeps its JSONL file there and an interrupted sweep resumes cell by cell.

Under torchrun (`dist` from engine.attack_eval.dist_from_env) every cell is sharded like
attack-eval: each rank attacks a strided share of the records, rank 0 merges the cell's results
file and alone returns the table (other ranks return None). Without a results folder rank 0's
temporary folder is used by all ranks, so they must share a filesystem (one machine; across
machines give a results folder on a shared filesystem).

Outputs: a cell file in the results folder that does not match this run is refused unless
`restart` (CLI --overwrite) replaces it; the plot is written atomically by `plot_robustness`,
which refuses an existing file unless `overwrite` (CLI: checked before any attack runs).
"""

from __future__ import annotations

import math
import os
import re
import tempfile
from dataclasses import replace
from typing import Callable

from .attack_eval import Dist, run_eval
from .attacks.base import AttackParams
from .attacks.runner import ATTACKS
from .datasets import Dataset
from .errors import UserError
from .intervals import format_rate
from .models.classifier import Classifier
from .figures import figure, save_png
from .outputs import check_output, check_output_dir


def parse_eps_list(text: str) -> list[float]:
    """'0.001,0.005,0.01' (mV) → sorted unique positive floats."""
    vals = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        try:
            v = float(part)
        except ValueError:
            raise UserError(f"--eps: {part!r} is not a number (give mV values separated by commas)") from None
        if not math.isfinite(v) or v <= 0:
            raise UserError(f"--eps: {part} is not a positive number of mV")
        vals.append(v)
    if not vals:
        raise UserError("--eps needs at least one value (mV, comma-separated)")
    return sorted(set(vals))


def parse_methods(text: str) -> list[str]:
    out = []
    for m in str(text).split(","):
        m = m.strip().lower()
        if not m:
            continue
        if m not in ATTACKS:
            raise UserError(f"unknown attack method {m!r} (choose from {', '.join(ATTACKS)})")
        if m not in out:
            out.append(m)
    if not out:
        raise UserError("--method needs at least one of " + ", ".join(ATTACKS))
    return out


def _safe(s: str) -> str:
    return re.sub(r"[^-\w.]+", "_", s)


def run_robustness(clf: Classifier, ds: Dataset, names: list[str], *, methods: list[str], eps_list: list[float],
                   base: AttackParams | None = None, alpha_ratio: float = 0.1, alpha_mv: float | None = None,
                   results_dir: str | None = None, batch_size: int = 16, lead: str | None = None,
                   split: str | None = None, progress: Callable[[str, int, int], None] | None = None,
                   step_progress: Callable[[int, int], None] | None = None,
                   should_stop: Callable[[], bool] | None = None, dist: Dist | None = None,
                   restart: bool = False) -> dict | None:
    """Run every (method, ε) cell; returns {"table": [...], "eps": [...], "methods": [...], ...}
    (None on torchrun ranks other than 0).

    `progress(cell, done, total)` reports records finished in the current cell. `restart`:
    replace cell results files that do not match this run instead of refusing them.
    """
    base = base or AttackParams()
    dist = dist or Dist()
    if alpha_mv is None and not (alpha_ratio > 0):
        raise UserError("the step ratio α/ε must be positive")
    tmp = None
    if results_dir is None:
        if dist.rank == 0:
            tmp = tempfile.TemporaryDirectory(prefix="ecgadv-robustness-")
        folder = dist.share(tmp.name if tmp else None)
    else:
        folder, problem = results_dir, None
        if dist.rank == 0:
            try:
                check_output_dir(folder, "results folder")
            except UserError as exc:
                problem = str(exc)
        problem = dist.share(problem)  # every rank stops with rank 0's error, none waits forever
        if problem:
            raise UserError(problem)
    table = []
    try:
        tag = "_paper-protocol" if base.target_map else (f"_target{_safe(base.target)}" if base.target else "")
        for method in methods:
            for eps in eps_list:
                params = replace(base, eps_mv=eps, alpha_mv=alpha_mv if alpha_mv is not None else eps * alpha_ratio)
                path = os.path.join(folder, f"robustness_{_safe(clf.name)}_{method}_eps{eps:g}{tag}.jsonl")
                cell = f"{method} ε={eps:g} mV"
                summ = run_eval(clf, ds, names, method=method, params=params, results=path, batch_size=batch_size,
                                lead=lead, split=split,
                                progress=(lambda d, t, _c=cell: progress(_c, d, t)) if progress else None,
                                step_progress=step_progress, should_stop=should_stop, dist=dist,
                                restart=restart)
                if summ is None:  # another rank: rank 0 keeps the table
                    continue
                table.append({"method": method, "eps_mv": eps, "alpha_mv": params.alpha_mv,
                              "n": summ["n"], "errors": summ["errors"],  # unreadable records, left out
                              "correct": summ["correct"], "attacked": summ["attacked"],
                              "success": summ["success"], "success_rate": summ["success_rate"],
                              "success_ci95": summ["success_ci95"],
                              "per_class": {c: {k: v[k] for k in ("attacked", "success", "success_rate",
                                                                  "success_ci95")}
                                            for c, v in summ["per_class"].items()},
                              "misclassified_flip_rate": summ["misclassified"]["success_rate"],
                              "mean_linf_mv": summ["mean_linf_mv"], "mean_l2_mv": summ["mean_l2_mv"],
                              "mean_smoothness": summ["mean_smoothness"],
                              "mean_square_wave": summ["mean_square_wave"],
                              "results_file": None if tmp else path})
    finally:
        if tmp is not None:
            tmp.cleanup()
    if dist.rank != 0:
        return None
    return {"model": clf.name, "methods": methods, "eps_mv": eps_list, "n": len(names),
            "alpha_rule": alpha_rule(alpha_ratio, alpha_mv), "interval": "95% Clopper-Pearson (exact binomial)",
            "table": table, "results_dir": None if tmp else folder}


def alpha_rule(alpha_ratio: float = 0.1, alpha_mv: float | None = None) -> str:
    """The sweep's step rule as recorded in its output: 'ratio:R' (α = ε · R) or 'fixed:A' (α = A mV)."""
    return f"fixed:{alpha_mv:g}" if alpha_mv is not None else f"ratio:{alpha_ratio:g}"


def format_table(doc: dict) -> str:
    """The sweep as text: one line per (method, ε) with the rate, k/n and its 95 % interval, then
    the per-class rates of each cell."""
    lines = []
    if doc.get("alpha_rule"):
        rule = doc["alpha_rule"]
        lines.append("step α: " + (f"ε × {rule[6:]}" if rule.startswith("ratio:") else f"fixed {rule[6:]} mV")
                     + f" ({rule}); rates among correctly classified records, 95% Clopper-Pearson intervals")
    lines.append(f"{'method':6s} {'eps mV':>8s} {'alpha mV':>9s} {'success (k/n, 95% CI)':>36s} "
                 f"{'mean Linf':>10s} {'smoothness':>11s} {'square':>7s}")
    f = lambda v, spec: "-" if v is None else format(v, spec)  # noqa: E731
    for r in doc["table"]:
        lines.append(f"{r['method']:6s} {r['eps_mv']:8.4g} {r['alpha_mv']:9.3g} "
                     f"{format_rate(r['success'], r['attacked']):>36s} {f(r['mean_linf_mv'], '10.4g')} "
                     f"{f(r['mean_smoothness'], '11.3g')} {f(r['mean_square_wave'], '7.3f')}")
    per = [r for r in doc["table"] if r.get("per_class")]
    if per:
        lines.append("per true class:")
        for r in per:
            cls = "; ".join(f"{c} {format_rate(v['success'], v['attacked'])}" for c, v in r["per_class"].items())
            lines.append(f"  {r['method']} ε={r['eps_mv']:g}: {cls}")
    errors = max((r.get("errors") or 0 for r in doc["table"]), default=0)
    if errors:  # left out of every rate: say so, as attack-eval does
        lines.append(f"{errors} record{'s' if errors != 1 else ''} could not be read and {'are' if errors != 1 else 'is'} "
                     "left out of the rates")
    return "\n".join(lines)


def check_plot_path(path: str, overwrite: bool = False) -> str:
    """Before the sweep: `path` names a .png that may be written (UserError otherwise).
    Used for every --plot (robustness, band-eval)."""
    if not str(path).lower().endswith(".png"):
        raise UserError(f"--plot must name a .png file, got {path}")
    return check_output(path, overwrite, what="plot")


def plot_robustness(doc: dict, path: str, title: str | None = None, overwrite: bool = False) -> str:
    """Success rate (%) against ε (mV), one line per method, written as a PNG (Agg backend),
    atomically (temporary file + rename); an existing file is refused unless `overwrite`."""
    check_plot_path(path, overwrite)
    fig = figure(6.4, 4.2, dpi=120)
    ax = fig.add_subplot()
    for method in doc["methods"]:
        rows = [r for r in doc["table"] if r["method"] == method]
        xs = [r["eps_mv"] for r in rows]
        ys = [float("nan") if r["success_rate"] is None else 100 * r["success_rate"] for r in rows]
        ci = [r.get("success_ci95") or [float("nan")] * 2 for r in rows]
        err = [[y - 100 * c[0] for y, c in zip(ys, ci)], [100 * c[1] - y for y, c in zip(ys, ci)]]
        ns = sorted({r["attacked"] for r in rows})
        n_txt = f"n = {ns[0]}" if len(ns) == 1 else f"n = {ns[0]}–{ns[-1]}"
        line = ax.errorbar(xs, ys, yerr=err, marker="o", capsize=3,
                           label=f"{method.upper()} ({n_txt}, 95% CI)")
        for x, y, r in zip(xs, ys, rows):  # k/n at every point
            if y == y:
                ax.annotate(f"{r['success']}/{r['attacked']}", (x, y), textcoords="offset points",
                            xytext=(4, -11), fontsize=7, color=line[0].get_color())
    eps = doc["eps_mv"]
    if len(eps) > 1 and max(eps) / min(eps) > 20:
        ax.set_xscale("log")
    if len(eps) <= 12:  # label the ε values themselves, plainly (no overlapping log minor labels)
        from matplotlib.ticker import NullFormatter

        ax.set_xticks(eps)
        ax.set_xticklabels([f"{e:g}" for e in eps])
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.axvline(0.01, color="grey", lw=0.8, ls=":", label="paper ε (0.01 mV)")
    ax.set_xlabel("ε (mV, L∞ budget)")
    ax.set_ylabel("success rate (% of correctly classified)")
    ax.set_ylim(-2, 102)
    ax.grid(alpha=0.3)
    ax.legend()
    rule = doc.get("alpha_rule")
    ax.set_title(title or f"Attack success vs ε — model {doc['model']}"
                 + (f"\nα rule {rule}, n = correctly classified records attacked" if rule else ""),
                 fontsize=10)
    save_png(fig, path, overwrite)
    return path
