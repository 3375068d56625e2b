"""Side-by-side comparison of saved robustness cards (and certify summaries) of several models.

Inputs are the JSON documents `robustness-card DATASET ... --json` prints (engine.card.build) and,
optionally, certify summaries (`certify DATASET --split S --json`, or its JSONL results file from
--out). Cards are comparable only when they were made on the same split, the same records (the
card's data digest: record names, file digests and labels), the same lead and the same attack
parameters; different ε grids are compared on the ε values common to all cards (the dropped ones
are named in the notes). Certify summaries are matched to cards by model name (one that matches no
card gets a column of its own) and must be of the same split and record count (a card stores a
digest of its records, not their names, so the record names of a summary cannot be checked against
it; several summaries' record names are checked against each other).

`compare(paths, certify_paths)` → a plain-JSON comparison: columns (one per model) and rows
(measure × column cells: rate records {"k", "n", "rate", "ci95"} with 95 % Clopper–Pearson
intervals, or numbers). `markdown` / `comparison_html` / `comparison_figure` render it; ε in mV.
"""

from __future__ import annotations

import json
import math
import os

from ..errors import UserError
from ..intervals import format_rate, rate_record
from .build import KIND

COMPARE_KIND = "ecgadv-card-comparison/1"
PAPER_EPS = 0.01  # mV, Han et al.'s L∞ budget
MAX_BYTES = 64 * 2 ** 20  # refuse larger inputs (a card is a few hundred kB)
CERTIFY_KIND = "certify-eval"

__all__ = ["COMPARE_KIND", "compare", "load_card", "load_certify", "markdown", "cell_text"]


# -- reading and checking the inputs ---------------------------------------------------------------

def _read_bytes(path: str, what: str) -> bytes:
    if not os.path.lexists(path):
        raise UserError(f"{what} {path} does not exist")
    if os.path.isdir(path):
        raise UserError(f"{what} {path} is a folder, not a file")
    try:
        size = os.path.getsize(path)
        if size > MAX_BYTES:
            raise UserError(f"{what} {path} is too large ({size / 2 ** 20:.0f} MB; at most "
                            f"{MAX_BYTES // 2 ** 20} MB)")
        with open(path, "rb") as fh:
            return fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise UserError(f"cannot read {what} {path}: {exc.strerror or exc}") from None


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def _parse(data: bytes, path: str, what: str) -> dict:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UserError(f"{what} {path} is not a JSON document (not UTF-8 text)") from None
    if not text.strip():
        raise UserError(f"{what} {path} is empty")
    try:
        doc = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise UserError(f"{what} {path} is not a JSON document ({exc.msg}, line {exc.lineno})") from None
    except (ValueError, RecursionError) as exc:
        raise UserError(f"{what} {path} is not a valid JSON document ({str(exc)[:80]})") from None
    if not isinstance(doc, dict):
        raise UserError(f"{what} {path} is not a JSON object (it holds a {type(doc).__name__})")
    return doc


def _get(doc: dict, key: str, types: tuple, path: str, what: str, optional: bool = False):
    """doc[a][b]... for key 'a.b...' of one of `types` (bools are not numbers), else UserError."""
    cur = doc
    for part in key.split("."):
        if not isinstance(cur, dict) or part not in cur:
            if optional:
                return None
            raise UserError(f"{path} is not a valid {what}: it has no {key!r}")
        cur = cur[part]
    if optional and cur is None:
        return None
    bad_bool = isinstance(cur, bool) and bool not in types
    if bad_bool or not isinstance(cur, types) or (isinstance(cur, float) and not math.isfinite(cur)):
        raise UserError(f"{path} is not a valid {what}: {key!r} is {type(cur).__name__}, not "
                        f"{' or '.join(t.__name__ for t in types)}")
    return cur


def _rate(doc: dict, key: str, path: str, what: str) -> dict:
    """A rate record {"k", "n", ...} at `key`, checked (0 ≤ k ≤ n), returned as a fresh rate_record."""
    r = _get(doc, key, (dict,), path, what)
    k, n = _get(r, "k", (int,), path, f"{what} ({key})"), _get(r, "n", (int,), path, f"{what} ({key})")
    if not 0 <= k <= n:
        raise UserError(f"{path} is not a valid {what}: {key} has k={k} outside 0..n={n}")
    return rate_record(k, n)


def _eps(v, key: str, path: str, what: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
        raise UserError(f"{path} is not a valid {what}: {key} holds {v!r}, not a positive ε in mV")
    return float(v)


def load_card(path: str) -> dict:
    """A saved robustness card (the JSON of `robustness-card ... --json`), checked for every field
    the comparison reads; UserError (one line) for anything else."""
    what = "robustness card"
    doc = _parse(_read_bytes(path, what), path, what)
    if doc.get("kind") != KIND:
        if "table" in doc and "clean_accuracy" in doc:
            raise UserError(f"{path} is a certify summary, not a robustness card (give it with --certify)")
        if doc.get("kind") == COMPARE_KIND:
            raise UserError(f"{path} is a card comparison, not a robustness card")
        raise UserError(f"{path} is not a robustness card (no \"kind\": \"{KIND}\"; save one with "
                        "`robustness-card DATASET ... --json > card.json`)")
    for key, types in (("model", (str,)), ("model_sha", (str,)), ("data.dataset", (str,)), ("data.split", (str,)),
                       ("data.records", (int,)), ("data.digest", (str,)), ("settings.eps_mv", (list,)),
                       ("settings.ensemble_eps_mv", (list,)), ("settings.params", (dict,)),
                       ("settings.alpha_rule", (str,)), ("clean.f1_mean_nao", (int, float)),
                       ("attacks", (list,)), ("ensemble", (list,))):
        _get(doc, key, types, path, what)
    _get(doc, "data.lead", (str,), path, what, optional=True)
    _rate(doc, "clean.accuracy_rate", path, what)
    for i, e in enumerate(doc["settings"]["eps_mv"] + doc["settings"]["ensemble_eps_mv"]):
        _eps(e, f"settings ε [{i}]", path, what)
    for i, a in enumerate(doc["attacks"]):
        if not isinstance(a, dict):
            raise UserError(f"{path} is not a valid {what}: attacks[{i}] is not an object")
        _get(a, "method", (str,), path, f"{what} (attacks[{i}])")
        _get(a, "box", (str,), path, f"{what} (attacks[{i}])")
        _eps(a.get("eps_mv"), f"attacks[{i}].eps_mv", path, what)
        _rate(a, "rate", path, f"{what} (attacks[{i}])")
    for i, e in enumerate(doc["ensemble"]):
        if not isinstance(e, dict):
            raise UserError(f"{path} is not a valid {what}: ensemble[{i}] is not an object")
        _eps(e.get("eps_mv"), f"ensemble[{i}].eps_mv", path, what)
        _rate(e, "robust", path, f"{what} (ensemble[{i}])")
        _rate(e, "success", path, f"{what} (ensemble[{i}])")
    return doc


def _certify_from_jsonl(path: str) -> dict:
    """The summary of a certify results file (JSONL, `certify DATASET --out`)."""
    from ..certify import summarize
    from ..certify_eval import FORMAT
    from ..results_file import read_jsonl_results

    header, rows = read_jsonl_results(path, FORMAT)
    if header is None or not rows:
        raise UserError(f"certify results file {path} holds no certified records")
    sigma = _get(header, "params.sigma_mv", (int, float), path, "certify results file")
    rows = list(rows.values())
    d = sorted(r["d"] for r in rows if isinstance(r.get("d"), int))
    return {"model": header.get("model"), "split": header.get("split"), "params": header.get("params"),
            **summarize(rows, float(sigma)), "d_median": d[len(d) // 2] if d else None, "rows": rows}


def load_certify(path: str) -> dict:
    """A certify summary (`certify DATASET --split S --json`, or its --out JSONL results file),
    checked; UserError (one line) for anything else."""
    what = "certify summary"
    data = _read_bytes(path, what)
    first = data.lstrip().split(b"\n", 1)[0]
    if b'"kind"' in first and CERTIFY_KIND.encode() in first and data.strip().count(b"\n"):
        doc = _certify_from_jsonl(path)
    else:
        doc = _parse(data, path, what)
    if doc.get("kind") == KIND:
        raise UserError(f"{path} is a robustness card, not a certify summary (give it as a card)")
    if "results" in doc and "table" not in doc:
        raise UserError(f"{path} is `certify RECORD` output (single records); give the summary of "
                        "`certify DATASET --split S --json`")
    if "table" not in doc or "certified_at_paper_eps" not in doc:
        raise UserError(f"{path} is not a certify summary (save one with `certify DATASET --split S --sigma MV "
                        "--json > cert.json`)")
    for key, types in (("model", (str,)), ("split", (str,)), ("n", (int,)), ("table", (list,)),
                       ("params.sigma_mv", (int, float))):
        _get(doc, key, types, path, what)
    for key in ("abstention", "clean_accuracy", "certified_at_paper_eps"):
        _rate(doc, key, path, what)
    if not doc["table"]:
        raise UserError(f"{path} is not a valid {what}: its certified-accuracy table is empty")
    for i, r in enumerate(doc["table"]):
        if not isinstance(r, dict):
            raise UserError(f"{path} is not a valid {what}: table[{i}] is not an object")
        _get(r, "radius_mv", (int, float), path, f"{what} (table[{i}])")
        _rate({"r": r}, "r", path, f"{what} (table[{i}])")
    _get(doc, "d_median", (int,), path, what, optional=True)
    rows = _get(doc, "rows", (list,), path, what, optional=True)
    if rows is not None and any(not isinstance(r, dict) or not isinstance(r.get("record"), str) for r in rows):
        raise UserError(f"{path} is not a valid {what}: a row has no record name")
    return doc


# -- comparability ---------------------------------------------------------------------------------

def _key(e: float) -> float:
    return round(float(e), 9)


def _check_cards(cards: list[tuple[str, dict]]) -> list[str]:
    """UserError when the cards are not comparable; → notes on what is compared."""
    (p0, c0), notes = cards[0], []
    seen: dict[str, str] = {}
    for p, c in cards:
        real = os.path.realpath(p)
        if real in seen:
            raise UserError(f"card {p} is given twice")
        seen[real] = p
    shas: dict[str, str] = {}
    for p, c in cards:
        if c["model_sha"] in shas:
            raise UserError(f"cards {shas[c['model_sha']]} and {p} are of the same model weights "
                            f"({c['model']}, {c['model_sha']}): nothing to compare")
        shas[c["model_sha"]] = p
    for p, c in cards[1:]:
        d, d0 = c["data"], c0["data"]
        if d["split"] != d0["split"]:
            raise UserError(f"cards not comparable: {p} is of split {d['split']!r}, {p0} of {d0['split']!r}")
        if d["digest"] != d0["digest"] or d["records"] != d0["records"]:
            raise UserError(f"cards not comparable: {p} is of other records ({d['records']} records, digest "
                            f"{d['digest']}) than {p0} ({d0['records']} records, digest {d0['digest']})")
        if d.get("lead") != d0.get("lead"):
            raise UserError(f"cards not comparable: {p} attacked lead {d.get('lead')!r}, {p0} lead {d0.get('lead')!r}")
        s, s0 = c["settings"], c0["settings"]
        diff = sorted(k for k in set(s["params"]) | set(s0["params"]) if s["params"].get(k) != s0["params"].get(k))
        if s["alpha_rule"] != s0["alpha_rule"]:
            diff.append("step rule")
        if diff:
            raise UserError(f"cards not comparable: {p} attacked with other parameters than {p0} "
                            f"({', '.join(diff[:6])}{' …' if len(diff) > 6 else ''} differ)")
    for what, key in (("attack ε", "eps_mv"), ("ensemble ε", "ensemble_eps_mv")):
        grids = [{_key(e) for e in c["settings"][key]} for _, c in cards]
        common = set.intersection(*grids)
        dropped = sorted(set.union(*grids) - common)
        if dropped:
            notes.append(f"{what} grids differ: compared at the common values "
                         f"{', '.join(f'{e:g}' for e in sorted(common)) or '(none)'} mV; left out "
                         f"{', '.join(f'{e:g}' for e in dropped)} mV")
    return notes


def _common_eps(cards: list[dict], key: str) -> list[float]:
    common = set.intersection(*[{_key(e) for e in c["settings"][key]} for c in cards])
    return sorted(common)


def _check_certify(certs: list[tuple[str, dict]], cards: list[tuple[str, dict]]) -> None:
    p0, c0 = cards[0]
    for p, s in certs:
        if s["split"] != c0["data"]["split"]:
            raise UserError(f"certify summary {p} is of split {s['split']!r}, the cards of {c0['data']['split']!r}")
        if s["n"] != c0["data"]["records"]:
            raise UserError(f"certify summary {p} holds {s['n']} records, the cards {c0['data']['records']}: "
                            "not the same records")
    named = [(p, s) for p, s in certs if s.get("rows") is not None]
    for p, s in named[1:]:
        a, b = {r["record"] for r in named[0][1]["rows"]}, {r["record"] for r in s["rows"]}
        if a != b:
            raise UserError(f"certify summaries {named[0][0]} and {p} are of other records "
                            f"({len(a ^ b)} records in only one)")


# -- the comparison --------------------------------------------------------------------------------

def _labels(cards: list[dict], names: list[str] | None, extra: list[str]) -> list[str]:
    base = [c["model"] for c in cards] + extra
    if names:
        if len(names) != len(base):
            raise UserError(f"--names gives {len(names)} names for {len(base)} models")
        base = names
    if len(set(base)) < len(base):  # same model name for different weights: add the fingerprint
        base = [b if base.count(b) == 1 or i >= len(cards) else f"{b} ({cards[i]['model_sha'][:8]})"
                for i, b in enumerate(base)]
    if len(set(base)) < len(base):
        raise UserError(f"two models would share the column name {next(b for b in base if base.count(b) > 1)!r}: "
                        "give --names")
    return base


def compare(card_paths: list[str], certify_paths: list[str] = (), names: list[str] | None = None) -> dict:
    """The comparison of ≥ 2 saved cards (plus certify summaries) as plain JSON; UserError (one
    line) when an input is missing, of the wrong kind, or not comparable."""
    if len(card_paths) < 2:
        raise UserError(f"a comparison needs at least two cards, got {len(card_paths)}")
    cards = [(p, load_card(p)) for p in card_paths]
    certs = [(p, load_certify(p)) for p in certify_paths]
    notes = _check_cards(cards)
    _check_certify(certs, cards)
    by_model: dict[int, tuple[str, dict]] = {}
    alone: list[tuple[str, dict]] = []
    for p, s in certs:
        hits = [i for i, (_, c) in enumerate(cards) if c["model"] == s["model"]]
        if len(hits) > 1:
            raise UserError(f"certify summary {p} is of model {s['model']!r}, which names {len(hits)} cards")
        if hits and hits[0] in by_model:
            raise UserError(f"two certify summaries for model {s['model']!r} ({by_model[hits[0]][0]}, {p})")
        if hits:
            by_model[hits[0]] = (p, s)
        else:
            alone.append((p, s))
    docs = [c for _, c in cards]
    labels = _labels(docs, names, [f"{s['model']} (smoothed)" for _, s in alone])
    columns = []
    for i, (p, c) in enumerate(cards):
        cp, cs = by_model.get(i, (None, None))
        columns.append({"label": labels[i], "model": c["model"], "model_sha": c["model_sha"], "card": p,
                        "certify": cp, "_card": c, "_cert": cs})
    for j, (p, s) in enumerate(alone):
        columns.append({"label": labels[len(cards) + j], "model": s["model"], "model_sha": None, "card": None,
                        "certify": p, "_card": None, "_cert": s})
    if alone:
        notes.append("a certify summary that matches no card has a column of its own (no attack results)")
    eps, ens_eps = _common_eps(docs, "eps_mv"), _common_eps(docs, "ensemble_eps_mv")
    if not eps and not ens_eps:
        raise UserError("cards not comparable: no attack ε and no ensemble ε is common to all of them")
    attacks = list(dict.fromkeys(a["method"] for c in docs for a in c["attacks"] if _key(a["eps_mv"]) in eps))
    missing = [m for m in attacks if not all(any(a["method"] == m for a in c["attacks"]) for c in docs)]
    if missing:
        notes.append(f"not every card ran {', '.join(missing)}: '–' where a card has no result")
    rows = _rows(columns, attacks, eps, ens_eps)
    d = docs[0]["data"]
    out_cols = [{k: v for k, v in col.items() if not k.startswith("_")} for col in columns]
    for col in columns:
        s = col["_cert"]
        if s is not None:
            out_cols[columns.index(col)]["sigma_mv"] = s["params"]["sigma_mv"]
            out_cols[columns.index(col)]["certified_curve"] = [
                {"radius_mv": r["radius_mv"], **rate_record(r["k"], r["n"])} for r in s["table"]]
    return {"kind": COMPARE_KIND, "columns": out_cols,
            "data": {k: d.get(k) for k in ("dataset", "split", "records", "digest", "lead")},
            "params": docs[0]["settings"]["params"], "alpha_rule": docs[0]["settings"]["alpha_rule"],
            "eps_mv": eps, "ensemble_eps_mv": ens_eps, "attacks": attacks, "notes": notes,
            "interval": "95% Clopper-Pearson (exact binomial)", "rows": rows}


def _find(items: list[dict], eps: float, method: str | None = None) -> dict | None:
    for a in items:
        if _key(a["eps_mv"]) == eps and (method is None or a.get("method") == method):
            return a
    return None


def _rows(columns: list[dict], attacks: list[str], eps: list[float], ens_eps: list[float]) -> list[dict]:
    def row(group, measure, kind, cells, **extra):
        return {"group": group, "measure": measure, "kind": kind, "cells": cells, **extra}

    def card_cells(fn):
        return [fn(c["_card"]) if c["_card"] is not None else None for c in columns]

    def rr(r):
        return None if r is None else rate_record(r["k"], r["n"])

    out = [row("Clean", "Clean accuracy", "rate", card_cells(lambda c: rr(c["clean"]["accuracy_rate"]))),
           row("Clean", "Mean F1 (N, A, O)", "number", card_cells(lambda c: float(c["clean"]["f1_mean_nao"])))]
    g = "Attack success (of correctly classified records)"
    for m in attacks:
        for e in eps:
            out.append(row(g, f"{m}, ε {e:g} mV", "rate",
                           card_cells(lambda c, m=m, e=e: rr((_find(c["attacks"], e, m) or {}).get("rate"))),
                           attack=m, eps_mv=e))
    g = "Worst case"
    for e in eps:
        strongest, by = [], []
        for col in columns:
            rs = [a for a in (col["_card"] or {}).get("attacks", []) if _key(a["eps_mv"]) == e and a["rate"]["n"]]
            best = max(rs, key=lambda a: (a["rate"]["k"] / a["rate"]["n"], a["rate"]["n"]), default=None)
            strongest.append(rr(best["rate"]) if best else None)
            by.append(best["method"] if best else None)
        out.append(row(g, f"Strongest single attack, ε {e:g} mV", "rate", strongest, eps_mv=e, by=by))
    for e in ens_eps:
        out.append(row(g, f"Ensemble success, ε {e:g} mV", "rate",
                       card_cells(lambda c, e=e: rr((_find(c["ensemble"], e) or {}).get("success"))),
                       attack="ensemble", eps_mv=e))
        out.append(row(g, f"Robust accuracy (ensemble), ε {e:g} mV", "rate",
                       card_cells(lambda c, e=e: rr((_find(c["ensemble"], e) or {}).get("robust"))), eps_mv=e))
    certs = [c["_cert"] for c in columns]
    if any(s is not None for s in certs):
        g = "Certified (randomised smoothing)"

        def cc(fn):
            return [fn(s) if s is not None else None for s in certs]

        out += [row(g, "Noise σ (mV)", "number", cc(lambda s: float(s["params"]["sigma_mv"]))),
                row(g, "Certified accuracy, L2 radius 0 (smoothed, abstain = wrong)", "rate",
                    cc(lambda s: rr(min(s["table"], key=lambda r: r["radius_mv"])))),
                row(g, f"Certified accuracy at the paper's ε {PAPER_EPS:g} mV (L∞ radius/√d ≥ ε)", "rate",
                    cc(lambda s: rr(s["certified_at_paper_eps"]))),
                row(g, f"L2 radius equal to L∞ {PAPER_EPS:g} mV (median d)", "number",
                    cc(lambda s: PAPER_EPS * math.sqrt(s["d_median"]) if s.get("d_median") else None)),
                row(g, "Abstentions", "rate", cc(lambda s: rr(s["abstention"]))),
                row(g, "Base model clean accuracy (certify run)", "rate", cc(lambda s: rr(s["clean_accuracy"])))]
    return out


# -- text ------------------------------------------------------------------------------------------

def cell_text(row: dict, i: int) -> str:
    """The shown text of column i of a comparison row ('–' where the model has no value)."""
    v = row["cells"][i]
    if v is None:
        return "–"
    if row["kind"] == "rate":
        if not v["n"]:
            return "– (0/0)"
        text = format_rate(v["k"], v["n"])
        by = (row.get("by") or [None] * (i + 1))[i]
        return f"{text} [{by}]" if by else text
    return f"{v:.3f}" if "F1" in row["measure"] else f"{v:.4g}"


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def intro(comp: dict) -> str:
    """One paragraph: the data, the rule for rates and what is compared."""
    d = comp["data"]
    lead = f", lead {d['lead']}" if d.get("lead") else ""
    return (f"{d['dataset']}, split {d['split']}, {d['records']} records (digest {d['digest']}{lead}). "
            f"Rates with k/n and {comp['interval']} intervals; ε in mV (L∞). Attack success: among the records "
            "the model classifies correctly, the share whose prediction the attack changed (each model's own n). "
            "Strongest single attack: the highest success of the sweep's attacks at that ε [which one]; the "
            "ensemble (APGD-CE, targeted APGD-DLR, Square) counts a record fooled by any member. Step rule "
            f"{comp['alpha_rule']}.")


def markdown(comp: dict) -> str:
    """The comparison as one Markdown table (a README's), with a title line and notes."""
    cols = comp["columns"]
    lines = [f"**Robustness comparison** — {_md(intro(comp))}", "",
             "| Measure | " + " | ".join(_md(c["label"]) for c in cols) + " |",
             "|---|" + "---|" * len(cols)]
    group = None
    for r in comp["rows"]:
        if r["group"] != group:
            group = r["group"]
            lines.append(f"| **{_md(group)}** |" + " |" * len(cols))
        lines.append(f"| {_md(r['measure'])} | " + " | ".join(_md(cell_text(r, i)) for i in range(len(cols))) + " |")
    lines.append("")
    src = "; ".join(f"{c['label']}: " + ", ".join(x for x in (c.get("card") and f"card {os.path.basename(c['card'])}",
                                                               c.get("certify") and
                                                               f"certify {os.path.basename(c['certify'])}") if x)
                    for c in cols)
    lines.append(f"Sources: {_md(src)}.")
    for n in comp["notes"]:
        lines.append(f"Note: {_md(n)}.")
    return "\n".join(lines) + "\n"


def comparison_text(comp: dict) -> str:
    """The comparison as an aligned plain-text table (the CLI's output without --json)."""
    header = ["Measure", *[c["label"] for c in comp["columns"]]]
    body, group = [], None
    for r in comp["rows"]:
        if r["group"] != group:
            group = r["group"]
            body.append([f"[{group}]", *[""] * len(comp["columns"])])
        body.append([r["measure"], *[cell_text(r, i) for i in range(len(comp["columns"]))]])
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body)]
    lines = ["  ".join(str(x).ljust(w) for x, w in zip(r, widths)).rstrip() for r in [header, *body]]
    return "\n".join(lines + [f"note: {n}" for n in comp["notes"]])


# -- outputs ---------------------------------------------------------------------------------------

OUTPUT_TYPES = {"html": ((".html", ".htm"), "an .html file"), "markdown": ((".md", ".markdown"), "a .md file"),
                "plot": ((".png",), "a .png file")}


def check_outputs(outputs: dict[str, str | None], inputs: list[str], overwrite: bool = False) -> None:
    """Before any work: each given output {"html"|"markdown"|"plot": path} has its extension, is
    not another output or an input, and can be written (engine.outputs.check_output)."""
    from ..outputs import check_output

    flags = {"html": "--out", "markdown": "--markdown", "plot": "--plot"}
    seen: dict[str, str] = {os.path.realpath(p): f"input {p}" for p in inputs}
    for kind, path in outputs.items():
        if path is None:
            continue
        exts, what = OUTPUT_TYPES[kind]
        if not str(path).lower().endswith(exts):
            raise UserError(f"{flags[kind]} must name {what}, got {path}")
        real = os.path.realpath(path)
        if real in seen:
            raise UserError(f"{flags[kind]} {path} is the same file as {seen[real]}")
        seen[real] = f"{flags[kind]} {path}"
        check_output(path, overwrite, what="comparison")


def write_outputs(comp: dict, outputs: dict[str, str | None], overwrite: bool = False) -> dict:
    """Render everything first, then write each given output atomically; → {kind: absolute path}."""
    from ..outputs import write_bytes_atomic
    from .render import comparison_html, comparison_png

    png = comparison_png(comp) if outputs.get("html") or outputs.get("plot") else None
    data: dict[str, bytes] = {}
    if outputs.get("html"):
        data["html"] = comparison_html(comp, png).encode("utf-8")
    if outputs.get("markdown"):
        data["markdown"] = markdown(comp).encode("utf-8")
    if outputs.get("plot"):
        if png is None:
            raise UserError("nothing to plot: the cards share no attack ε and no certify summary was given")
        data["plot"] = png
    written = {}
    for kind, blob in data.items():
        written[kind] = os.path.abspath(write_bytes_atomic(outputs[kind], blob, overwrite=overwrite))
    return written
