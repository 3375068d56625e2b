"""Statistics of a review study: detection (task B), "same" judgements (task A), labelling (task C)
and agreement between reviewers.

Proportions come with exact (Clopper–Pearson) 95 % intervals; task B detection accuracy is tested
against chance (50 %) with an exact two-sided binomial test (scipy.stats.binomtest). Pooled rows
add up all reviewers' answers; their exact interval and p treat answers as independent although
reviewers saw the same items (as the paper's pooled percentages do), which is too optimistic when
reviewers agree on which items are easy. So pooled rows of tasks A and B also carry
`items_clustered`: the same share with a cluster-robust (sandwich) standard error over items —
what a GEE with an independence working correlation and one intercept gives — a Wald 95 %
interval on the logit scale and a two-sided z test against 50 %. Per-reviewer rows are exact.

When a reviewer has several answers to one item (two sessions under the same name, which only
merging separate copies can produce), the latest answer counts, and `compute` says so in its
`warnings` (with how many answers were set aside): two people who typed the same initials, or one
who answered twice, must not pass silently as one reviewer. Kappa is None where it is undefined,
with a `note` saying why.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict

from .access import original_class, reviewer_key
from .tasks import ANSWERS

ALL = "all"


def _f(v: float | None) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def proportion(k: int, n: int) -> dict:
    """k of n with the exact Clopper–Pearson 95 % interval."""
    from scipy.stats import binomtest

    if n == 0:
        return {"n": 0, "k": 0, "share": None, "ci95": [None, None]}
    ci = binomtest(k, n, 0.5).proportion_ci(0.95, method="exact")
    return {"n": int(n), "k": int(k), "share": k / n, "ci95": [float(ci.low), float(ci.high)]}


def binomial_summary(k: int, n: int, p0: float = 0.5) -> dict:
    """Accuracy k/n, exact binomial test against p0 (two-sided and 'greater'), 95 % CI."""
    from scipy.stats import binomtest

    if n == 0:
        return {"n": 0, "correct": 0, "accuracy": None, "p_value": None, "p_value_greater": None,
                "ci95": [None, None]}
    res = binomtest(k, n, p0, alternative="two-sided")
    ci = res.proportion_ci(0.95, method="exact")
    return {"n": int(n), "correct": int(k), "accuracy": k / n, "p_value": float(res.pvalue),
            "p_value_greater": float(binomtest(k, n, p0, alternative="greater").pvalue),
            "ci95": [float(ci.low), float(ci.high)]}


def clustered_share(values: list[tuple[str, bool]], p0: float = 0.5) -> dict:
    """Share of True among (cluster, value) pairs with a cluster-robust standard error (clusters:
    items). Var = G/(G−1) · Σ_c (Σ_{j∈c} (y_j − p̂))² / n² (the GEE sandwich, independence working
    correlation, small-sample factor G/(G−1)); 95 % Wald interval on the logit scale; two-sided z
    test of share = p0. Interval and p are None (with `note`) when undefined: fewer than 2
    clusters, or a share of 0 or 1 (no variation to estimate from)."""
    from scipy.stats import norm

    n = len(values)
    by: dict[str, list[bool]] = defaultdict(list)
    for c, y in values:
        by[c].append(bool(y))
    g = len(by)
    out = {"n": n, "n_clusters": g, "share": None, "se": None, "ci95": [None, None], "p_value": None}
    if n == 0:
        out["note"] = "no answers"
        return out
    p = sum(y for _, y in values) / n
    out["share"] = p
    if g < 2:
        out["note"] = "undefined: answers to fewer than two items"
        return out
    var = g / (g - 1) * sum((sum(ys) - p * len(ys)) ** 2 for ys in by.values()) / n ** 2
    se = math.sqrt(var)
    out["se"] = se
    if se == 0.0 or p in (0.0, 1.0):
        out["note"] = f"undefined: every answer {'right' if p == 1.0 else 'wrong' if p == 0.0 else 'alike'}"
        return out
    centre, half = math.log(p / (1 - p)), norm.ppf(0.975) * se / (p * (1 - p))  # delta method: se of logit p̂
    out["ci95"] = [1 / (1 + math.exp(-(centre - half))), 1 / (1 + math.exp(-(centre + half)))]
    out["p_value"] = float(2 * norm.sf(abs(p - p0) / se))
    return out


def cohen_kappa(a: list, b: list, categories: list | None = None) -> dict:
    """Cohen's kappa for two raters' labels of the same items."""
    if len(a) != len(b):
        raise ValueError("both raters must label the same items")
    n = len(a)
    cats = list(categories) if categories else sorted(set(a) | set(b), key=str)
    if n == 0:
        return {"n_items": 0, "kappa": None, "observed_agreement": None, "expected_agreement": None,
                "note": "undefined: no item answered by both reviewers"}
    po = sum(1 for x, y in zip(a, b) if x == y) / n
    ca, cb = Counter(a), Counter(b)
    pe = sum((ca[c] / n) * (cb[c] / n) for c in cats)
    kappa = None if math.isclose(pe, 1.0) else (po - pe) / (1.0 - pe)
    out = {"n_items": n, "kappa": _f(kappa), "observed_agreement": po, "expected_agreement": pe}
    if kappa is None:
        out["note"] = "undefined: both reviewers gave one and the same answer to every item (chance agreement 1)"
    return out


def fleiss_kappa(counts: list[list[int]]) -> dict:
    """Fleiss' kappa from an items × categories matrix of rater counts (same raters per item)."""
    N = len(counts)
    if N == 0:
        return {"n_items": 0, "kappa": None, "observed_agreement": None, "expected_agreement": None,
                "note": "undefined: no item answered by every reviewer"}
    n = sum(counts[0])
    if n < 2 or any(sum(row) != n for row in counts):
        raise ValueError("every item needs the same number (≥ 2) of ratings")
    k = len(counts[0])
    p_j = [sum(row[j] for row in counts) / (N * n) for j in range(k)]
    P_i = [(sum(c * c for c in row) - n) / (n * (n - 1)) for row in counts]
    pbar = sum(P_i) / N
    pe = sum(p * p for p in p_j)
    kappa = None if math.isclose(pe, 1.0) else (pbar - pe) / (1.0 - pe)
    out = {"n_items": N, "n_raters": n, "kappa": _f(kappa), "observed_agreement": pbar, "expected_agreement": pe}
    if kappa is None:
        out["note"] = "undefined: every reviewer gave one and the same answer to every item (chance agreement 1)"
    return out


def latest_answers(rows: list[dict]) -> list[dict]:
    """One answer per (reviewer, item): the latest."""
    best: dict[tuple[str, str], dict] = {}
    for r in rows:
        key = (reviewer_key(r["reviewer"]), r["item_id"])
        if key not in best or r["answered_at"] > best[key]["answered_at"]:
            best[key] = r
    return sorted(best.values(), key=lambda r: (reviewer_key(r["reviewer"]), r["position"]))


def session_warnings(rows: list[dict], sessions: list[dict] | None = None, n_items: int | None = None) -> list[str]:
    """Plain-language warnings about whose answers the statistics mix: several sessions under one
    reviewer name (answers set aside), and unfinished sessions (from `sessions`, Study.sessions())."""
    out = []
    per: dict[str, dict[str, int]] = defaultdict(Counter)
    names: dict[str, str] = {}
    for r in rows:
        k = reviewer_key(r["reviewer"])
        names.setdefault(k, r["reviewer"])
        per[k][r["session_id"]] += 1
    kept = latest_answers(rows)
    kept_per = Counter(reviewer_key(r["reviewer"]) for r in kept)
    for k in sorted(per):
        if len(per[k]) > 1:
            total = sum(per[k].values())
            out.append(f"reviewer {names[k]!r} has {len(per[k])} sessions under one name (from separate copies "
                       f"of the study): they count as one reviewer, the latest answer to each item counts "
                       f"({total - kept_per[k]} earlier answer(s) set aside); if they are different people, "
                       "their answers are mixed")
    for s in sessions or []:
        done = s.get("n_answers", 0)
        of = f" of {n_items}" if n_items is not None else ""
        if not s.get("locked"):
            out.append(f"reviewer {s['reviewer']!r}: session not finished ({done}{of} items answered); "
                       "its answers are included")
        elif n_items is not None and done < n_items:  # the window locks only complete sessions
            out.append(f"reviewer {s['reviewer']!r}: session locked with {done}{of} items answered, which the "
                       "reviewer window never does (file edited?); its answers are included")
    return out


def _groups(rows: list[dict]) -> tuple[dict[str, list[dict]], dict[str, str]]:
    by: dict[str, list[dict]] = defaultdict(list)
    names: dict[str, str] = {}
    for r in rows:
        k = reviewer_key(r["reviewer"])
        names.setdefault(k, r["reviewer"])
        by[k].append(r)
    return by, names


def _by_method(rows: list[dict], fn, adversarial_only: bool = False) -> dict:
    """fn over each method's rows and over all rows. adversarial_only: the per-method groups
    leave out unaltered originals (task C), which belong to no method."""
    out = {}
    for m in sorted({r["method"] for r in rows}):
        out[m] = fn([r for r in rows if r["method"] == m and not (adversarial_only and r["shown"] == "original")])
    out[ALL] = fn(rows)
    return out


def task_b(rows: list[dict]) -> dict:
    def fn(rs):
        return binomial_summary(sum(1 for r in rs if r["correct"]), len(rs))

    def pooled(rs):
        return {**fn(rs), "items_clustered": clustered_share([(r["item_id"], bool(r["correct"])) for r in rs])}

    return _per_reviewer_and_pooled([r for r in rows if r["task"] == "B" and r["correct"] is not None], fn,
                                    pooled_fn=pooled)


def task_a(rows: list[dict]) -> dict:
    def fn(rs):
        d = proportion(sum(1 for r in rs if r["answer"] == "same"), len(rs))
        return {"n": d["n"], "same": d["k"], "share_same": d["share"], "ci95": d["ci95"]}

    def pooled(rs):
        return {**fn(rs), "items_clustered": clustered_share([(r["item_id"], r["answer"] == "same") for r in rs])}

    return _per_reviewer_and_pooled([r for r in rows if r["task"] == "A"], fn, pooled_fn=pooled)


def task_c(rows: list[dict]) -> dict:
    def fn(rs):
        out = {}
        for shown in ("original", "adversarial"):
            sub = [r for r in rs if r["shown"] == shown and r.get("reference_label")]
            d = proportion(sum(1 for r in sub if r["answer"] == r["reference_label"]), len(sub))
            out[shown] = {"n": d["n"], "correct": d["k"], "accuracy": d["share"], "ci95": d["ci95"]}
        adv = [r for r in rs if r["shown"] == "adversarial" and original_class(r)]
        d = proportion(sum(1 for r in adv if r["answer"] == original_class(r)), len(adv))
        out["adversarial_follows_original"] = {"n": d["n"], "k": d["k"], "share": d["share"], "ci95": d["ci95"]}
        changed = [r for r in adv if r.get("adv_pred") and r["adv_pred"] != original_class(r)]
        d = proportion(sum(1 for r in changed if r["answer"] == r["adv_pred"]), len(changed))
        out["adversarial_follows_model"] = {"n": d["n"], "k": d["k"], "share": d["share"], "ci95": d["ci95"]}
        lab = [r for r in rs if r.get("reference_label")]
        d = proportion(sum(1 for r in lab if r["answer"] == r["reference_label"]), len(lab))
        out["all"] = {"n": d["n"], "correct": d["k"], "accuracy": d["share"], "ci95": d["ci95"]}
        return out

    return _per_reviewer_and_pooled([r for r in rows if r["task"] == "C"], fn, adversarial_only=True)


def _per_reviewer_and_pooled(rows: list[dict], fn, adversarial_only: bool = False, pooled_fn=None) -> dict:
    by, names = _groups(rows)
    return {"by_reviewer": {names[k]: _by_method(v, fn, adversarial_only) for k, v in sorted(by.items())},
            "pooled": _by_method(rows, pooled_fn or fn, adversarial_only) if rows else {}}


def agreement(rows: list[dict]) -> dict:
    """Per task, over the items every reviewer answered: Cohen's kappa for two reviewers, Fleiss'
    kappa for more (with the pairwise Cohen's kappas as well)."""
    out = {}
    by, names = _groups(rows)
    for task in sorted({r["task"] for r in rows}):
        per = {k: {r["item_id"]: r["answer"] for r in v if r["task"] == task} for k, v in by.items()}
        per = {k: v for k, v in per.items() if v}
        revs = sorted(per)
        if len(revs) < 2:
            continue
        common = sorted(set.intersection(*(set(v) for v in per.values())))
        cats = list(ANSWERS[task])
        entry: dict = {"reviewers": [names[k] for k in revs], "n_items": len(common),
                       "n_items_any": len(set.union(*(set(v) for v in per.values())))}  # a shortfall: unfinished
        if len(revs) == 2:
            entry.update(cohen_kappa([per[revs[0]][i] for i in common], [per[revs[1]][i] for i in common], cats))
            entry["statistic"] = "cohen"
        else:
            counts = [[sum(1 for k in revs if per[k][i] == c) for c in cats] for i in common]
            entry.update(fleiss_kappa(counts))
            entry["statistic"] = "fleiss"
            entry["pairwise_cohen"] = [
                {"reviewers": [names[a], names[b]],
                 **cohen_kappa([per[a][i] for i in common], [per[b][i] for i in common], cats)}
                for ai, a in enumerate(revs) for b in revs[ai + 1:]]
        out[task] = entry
    return out


def timing(rows: list[dict]) -> dict:
    """Median seconds per item and mean confidence, per reviewer and task."""
    import statistics

    by, names = _groups(rows)
    out = {}
    for k, v in sorted(by.items()):
        per = {}
        for task in sorted({r["task"] for r in v}):
            rs = [r for r in v if r["task"] == task]
            secs = [r["elapsed_s"] for r in rs if r["elapsed_s"] is not None]
            conf = [r["confidence"] for r in rs if r["confidence"] is not None]
            per[task] = {"n": len(rs), "median_s": statistics.median(secs) if secs else None,
                         "total_s": sum(secs) if secs else None,
                         "mean_confidence": sum(conf) / len(conf) if conf else None}
        out[names[k]] = per
    return out


def compute(rows: list[dict], sessions: list[dict] | None = None, n_items: int | None = None) -> dict:
    """All statistics from Study.answers() rows (`sessions`, `n_items`: Study.sessions() and
    Study.n_items(), for the warnings about unfinished sessions)."""
    warnings = session_warnings(rows, sessions, n_items)
    n_given = len(rows)
    rows = latest_answers(rows)
    _, names = _groups(rows)
    return {"n_answers": len(rows), "n_answers_given": n_given, "reviewers": [names[k] for k in sorted(names)],
            "warnings": warnings,
            "task_a": task_a(rows), "task_b": task_b(rows), "task_c": task_c(rows),
            "agreement": agreement(rows), "timing": timing(rows)}


def study_statistics(study) -> dict:
    return compute(study.answers(), study.sessions(), study.n_items())
