"""Side-by-side comparison of saved robustness cards (and smoothed models) of several models.

Inputs are the JSON documents `robustness-card DATASET ... --json` prints (engine.card.build) and,
for smoothed classifiers (a base model with Gaussian noise σ), certify summaries (`certify DATASET
--split S --json`, or its JSONL results file) and smooth-attack summaries (`smooth-attack DATASET
... --json`, EOT-PGD through the noise, or its JSONL results file). Cards are comparable only when
made on the same split, records (the card's data digest: record names, file digests and labels),
lead and attack parameters; different ε grids are compared at the ε values common to all cards
(the dropped ones are named in the notes). Each smoothed model (model name, σ) gets a column of its
own; its summaries must be of the cards' split and record count. Cards list their record names
(older cards only a digest of them): the summaries' record names are checked against each other,
against the cards' names when listed, and against the cards' digest when the dataset folder is given.

`compare(...)` → a plain-JSON comparison: columns (one per model) and rows (measure × column cells:
rate records {"k", "n", "rate", "ci95"} with 95 % Clopper–Pearson intervals, or numbers); ε in mV.
engine.card.render draws it (Markdown, text, HTML, PNG) and writes the files.
"""

from __future__ import annotations

import json
import math
import os

from ..errors import UserError
from ..inputs import read_bounded
from ..intervals import rate_record
from .build import KIND

COMPARE_KIND = "ecgadv-card-comparison/1"
PAPER_EPS = 0.01  # mV, Han et al.'s L∞ budget
MAX_BYTES = 64 * 2 ** 20  # refuse larger inputs (a card is a few hundred kB)
CERTIFY_KIND = "certify-eval"

__all__ = ["COMPARE_KIND", "compare", "load_card", "load_certify", "load_smooth_attack"]


# -- reading and checking the inputs ---------------------------------------------------------------

def _read_bytes(path: str, what: str) -> bytes:
    return read_bounded(path, what, MAX_BYTES)


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
        raise UserError(f"{path} is not a valid {what}: {key} holds {v!r}, not a positive number of mV")
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
    _eps(doc["params"]["sigma_mv"], "params.sigma_mv", path, what)
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
    _check_rows(doc, path, what, "pred")
    return doc


def _check_rows(doc: dict, path: str, what: str, cert_key: str) -> None:
    """Optional per-record rows: record and label names, predictions (None: abstained), L∞ bound."""
    rows = _get(doc, "rows", (list,), path, what, optional=True)
    for i, r in enumerate(rows or []):
        ok = (isinstance(r, dict) and isinstance(r.get("record"), str) and isinstance(r.get("label"), str)
              and all(r.get(k) is None or isinstance(r.get(k), str) for k in ("pred", cert_key))
              and isinstance(r.get("linf_mv"), (int, float)) and not isinstance(r.get("linf_mv"), bool))
        if not ok:
            raise UserError(f"{path} is not a valid {what}: rows[{i}] lacks a record, label, prediction or L∞ bound")
    if rows is not None and len({r["record"] for r in rows}) != len(rows):
        raise UserError(f"{path} is not a valid {what}: a record appears twice in its rows")


def _smooth_from_jsonl(path: str) -> dict:
    """The summary of a smooth-attack results file (JSONL, `smooth-attack ... --results`)."""
    from ..results_file import read_jsonl_results
    from ..smooth_attack import FORMAT, summarize

    header, rows = read_jsonl_results(path, FORMAT)
    if header is None or not rows:
        raise UserError(f"smooth-attack results file {path} holds no records")
    eps = _get(header, "eps_mv", (list,), path, "smooth-attack results file")
    doc = summarize(list(rows.values()), [_eps(e, "eps_mv", path, "smooth-attack results file") for e in eps])
    return {"model": header.get("model"), "split": header.get("split"), **doc, "header": header,
            "rows": list(rows.values())}


def load_smooth_attack(path: str) -> dict:
    """A smooth-attack summary (`smooth-attack DATASET ... --json`, or its --results JSONL file):
    EOT-PGD on a smoothed classifier; checked, UserError (one line) for anything else."""
    what = "smooth-attack summary"
    data = _read_bytes(path, what)
    first = data.lstrip().split(b"\n", 1)[0]
    if b'"kind"' in first and b'"smooth-attack"' in first and data.strip().count(b"\n"):
        doc = _smooth_from_jsonl(path)
    else:
        doc = _parse(data, path, what)
    if doc.get("kind") == KIND:
        raise UserError(f"{path} is a robustness card, not a smooth-attack summary (give it as a card)")
    if "certified_at_paper_eps" in doc:
        raise UserError(f"{path} is a certify summary, not a smooth-attack summary (give it with --certify)")
    header = doc.get("header")
    if not isinstance(header, dict) or header.get("kind") != "smooth-attack":
        raise UserError(f"{path} is not a smooth-attack summary (save one with `smooth-attack DATASET --split S "
                        "--sigma MV --eps ... --json > smooth.json`)")
    for key, types in (("model", (str,)), ("split", (str,)), ("n", (int,)), ("table", (list,)),
                       ("header.smooth.sigma_mv", (int, float))):
        _get(doc, key, types, path, what)
    _eps(doc["header"]["smooth"]["sigma_mv"], "header.smooth.sigma_mv", path, what)
    _rate(doc, "clean", path, what)
    _get(doc, "d_median", (int,), path, what, optional=True)
    for i, t in enumerate(doc["table"]):
        if not isinstance(t, dict):
            raise UserError(f"{path} is not a valid {what}: table[{i}] is not an object")
        _eps(t.get("eps_mv"), f"table[{i}].eps_mv", path, what)
        for key in ("certified", "robust", "success"):
            _rate(t, key, path, f"{what} (table[{i}])")
    _check_rows(doc, path, what, "cert_pred")
    return doc


# -- comparability ---------------------------------------------------------------------------------

def _key(e: float) -> float:
    return round(float(e), 9)


def _check_cards(cards: list[tuple[str, dict]]) -> list[str]:
    """UserError when the cards are not comparable; → notes on what is compared."""
    (p0, c0), notes = cards[0], []
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
    return sorted(set.intersection(*[{_key(e) for e in c["settings"][key]} for c in cards]))


def _check_summaries(sums: list[tuple[str, dict]], card0: dict, dataset: str | None, labels: str | None) -> str:
    """Certify / smooth-attack summaries against the cards (split, count; with `dataset`, the
    records' digest) and each other (record names); → a note on how records were checked."""
    data = card0["data"]
    for p, s in sums:
        if s["split"] != data["split"]:
            raise UserError(f"{p} is of split {s['split']!r}, the cards of {data['split']!r}")
        if s["n"] != data["records"]:
            raise UserError(f"{p} holds {s['n']} records, the cards {data['records']}: not the same records")
    named = [(p, s) for p, s in sums if s.get("rows") is not None]
    for p, s in named[1:]:
        a, b = {r["record"]: r["label"] for r in named[0][1]["rows"]}, {r["record"]: r["label"] for r in s["rows"]}
        if set(a) != set(b):
            raise UserError(f"{named[0][0]} and {p} are of other records ({len(set(a) ^ set(b))} records in only one)")
        if a != b:
            raise UserError(f"{named[0][0]} and {p} give other labels (e.g. {next(k for k in a if a[k] != b[k])})")
    if not sums:
        return ""
    card_names = data.get("names")
    if named and isinstance(card_names, list):  # cards that list their records: compared by name
        have = {r["record"] for r in named[0][1]["rows"]}
        if have != set(card_names):
            raise UserError(f"{named[0][0]} is of other records than the cards "
                            f"({len(have ^ set(card_names))} records in only one)")
        if dataset is None:
            return "the summaries' records were checked against the record names the cards list"
    if dataset is None or not named:
        return ("the cards store a digest of their records, not their names: the certify / smooth-attack "
                "summaries were checked by split and record count only (give --dataset to check the records)")
    from ..datasets import open_dataset
    from .build import data_digest

    ds = open_dataset(dataset, labels)
    names = [r["record"] for r in named[0][1]["rows"]]
    missing = [n for n in names if n not in set(ds.names)]
    if missing:
        raise UserError(f"{named[0][0]} holds record {missing[0]!r}, which dataset {dataset} does not have")
    relabelled = [r["record"] for r in named[0][1]["rows"] if r["label"] != ds.label(r["record"])]
    if relabelled:
        raise UserError(f"{named[0][0]} gives {relabelled[0]} another label than dataset {dataset}")
    if data_digest(ds, names) != data["digest"]:
        raise UserError(f"{named[0][0]} is of other records (or labels) than the cards (digest "
                        f"{data_digest(ds, names)} in {dataset}, the cards' {data['digest']})")
    return f"the summaries' records were checked against the cards' digest in {dataset}"


# -- the comparison --------------------------------------------------------------------------------

def _labels(columns: list[dict], names: list[str] | None) -> None:
    base = [c["model"] if c["_card"] is not None else f"{c['model']} smoothed (σ {c['sigma_mv']:g} mV)"
            for c in columns]
    if names:
        if len(names) != len(base):
            raise UserError(f"--names gives {len(names)} names for {len(base)} columns ({', '.join(base)})")
        base = list(names)
    elif len(set(base)) < len(base):  # one model name for different weights: add the fingerprint
        base = [b if base.count(b) == 1 or not c.get("model_sha") else f"{b} ({c['model_sha'][:8]})"
                for b, c in zip(base, columns)]
    if len(set(base)) < len(base):
        raise UserError(f"two columns would share the name {next(b for b in base if base.count(b) > 1)!r}: "
                        "give --names")
    for c, b in zip(columns, base):
        c["label"] = b


def compare(card_paths: list[str], certify_paths: list[str] = (), names: list[str] | None = None,
            smooth_paths: list[str] = (), dataset: str | None = None, labels: str | None = None) -> dict:
    """The comparison of ≥ 2 saved cards, plus smoothed models (certify and smooth-attack summaries,
    one column per model and σ), as plain JSON; UserError (one line) when an input is missing, of
    the wrong kind, or not comparable. `dataset` (a folder, with its label file `labels`) lets the
    summaries' record names be checked against the cards' digest."""
    if len(card_paths) < 2:
        raise UserError(f"a comparison needs at least two cards, got {len(card_paths)}")
    seen: dict[str, str] = {}
    for p in [*card_paths, *certify_paths, *smooth_paths]:
        real = os.path.realpath(p)
        if real in seen:
            raise UserError(f"{p} is given twice")
        seen[real] = p
    cards = [(p, load_card(p)) for p in card_paths]
    smooths = [(p, load_smooth_attack(p)) for p in smooth_paths]
    certs = [(p, load_certify(p)) for p in certify_paths]
    notes = _check_cards(cards)
    docs = [c for _, c in cards]
    columns = [{"model": c["model"], "model_sha": c["model_sha"], "card": p, "certify": None, "smooth_attack": None,
                "sigma_mv": None, "_card": c, "_cert": None, "_smooth": None} for p, c in cards]
    smoothed: dict[tuple, dict] = {}
    for kind, items in (("smooth_attack", smooths), ("certify", certs)):
        for p, s in items:
            sigma = float(s["header"]["smooth"]["sigma_mv"] if kind == "smooth_attack" else s["params"]["sigma_mv"])
            col = smoothed.get((s["model"], _key(sigma)))
            if col is None:
                col = smoothed[(s["model"], _key(sigma))] = {
                    "model": s["model"], "model_sha": None, "card": None, "certify": None, "smooth_attack": None,
                    "sigma_mv": sigma, "_card": None, "_cert": None, "_smooth": None}
                columns.append(col)
            if col[kind] is not None:
                raise UserError(f"two {kind.replace('_', '-')} summaries for {s['model']} smoothed with σ "
                                f"{sigma:g} mV: {col[kind]} and {p}")
            col[kind], col["_smooth" if kind == "smooth_attack" else "_cert"] = p, s
    check = _check_summaries(smooths + certs, docs[0], dataset, labels)
    if check:
        notes.append(check)
    _labels(columns, names)
    eps, ens_eps = _common_eps(docs, "eps_mv"), _common_eps(docs, "ensemble_eps_mv")
    if not eps and not ens_eps:
        raise UserError("cards not comparable: no attack ε and no ensemble ε is common to all of them")
    grid = sorted(set(eps) | set(ens_eps))
    attacks = list(dict.fromkeys(a["method"] for c in docs for a in c["attacks"] if _key(a["eps_mv"]) in eps))
    missing = [m for m in attacks if not all(any(a["method"] == m for a in c["attacks"]) for c in docs)]
    if missing:
        notes.append(f"not every card ran {', '.join(missing)}: '–' where a card has no result")
    for p, s in smooths:
        off = sorted({_key(t["eps_mv"]) for t in s["table"]} - set(grid))
        if off:
            notes.append(f"{p}: ε {', '.join(f'{e:g}' for e in off)} mV left out (not on the cards' grid)")
    if smoothed:
        notes.append("smoothed columns: the smoothed classifier (an abstention counts as wrong); its clean accuracy "
                     "and F1 are PREDICT's with a smooth-attack summary, CERTIFY's with a certify summary only; its "
                     "attack is EOT-PGD through the noise; certified accuracy at ε counts records whose certified "
                     "L∞ bound (L2 radius/√d) reaches ε")
    rows = _rows(columns, attacks, eps, ens_eps, grid)
    out_cols = []
    for col in columns:
        c = {k: v for k, v in col.items() if not k.startswith("_")}
        if col["_cert"] is not None:
            c["certified_curve"] = [{"radius_mv": r["radius_mv"], **rate_record(r["k"], r["n"])}
                                    for r in col["_cert"]["table"]]
        if col["_smooth"] is not None:
            c["attack"] = (col["_smooth"].get("header") or {}).get("attack")
        out_cols.append(c)
    d = docs[0]["data"]
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


def _rr(r: dict | None) -> dict | None:
    return None if r is None else rate_record(r["k"], r["n"])


def _f1_nao(rows: list[dict]) -> float:
    """Mean F1 over N, A, O of rows' "pred" (None: abstained, wrong) against "label" (engine.metrics' rule)."""
    f1 = []
    for c in ("N", "A", "O"):
        tp = sum(1 for r in rows if r["label"] == c and r["pred"] == c)
        wrong = sum(1 for r in rows if (r["label"] == c) != (r["pred"] == c))
        f1.append(2 * tp / (2 * tp + wrong) if tp + wrong else 0.0)
    return sum(f1) / 3


def _smoothed_clean(col: dict) -> tuple[dict | None, float | None]:
    """(accuracy, mean F1 N/A/O) of a smoothed column: PREDICT's (smooth-attack) else CERTIFY's."""
    sm, ce = col["_smooth"], col["_cert"]
    if sm is not None:
        return _rr(sm["clean"]), _f1_nao(sm["rows"]) if sm.get("rows") else None
    zero = min(ce["table"], key=lambda r: r["radius_mv"])
    return _rr(zero), _f1_nao(ce["rows"]) if ce.get("rows") else None


def _certified_at(col: dict, e: float) -> dict | None:
    """Certified accuracy of a smoothed column at L∞ ε (mV), from whichever summary has it."""
    sm, ce = col["_smooth"], col["_cert"]  # the certify run first (a run of its own, often more draws)
    if ce is not None and ce.get("rows"):
        rs = ce["rows"]
        return rate_record(sum(1 for r in rs if r["pred"] == r["label"] and r["linf_mv"] >= e), len(rs))
    if ce is not None and e == _key(PAPER_EPS):
        return _rr(ce["certified_at_paper_eps"])
    t = _find((sm or {}).get("table", []), e)
    if t is not None:
        return _rr(t["certified"])
    if sm is not None and sm.get("rows"):
        rs = sm["rows"]
        return rate_record(sum(1 for r in rs if r["cert_pred"] == r["label"] and r["linf_mv"] >= e), len(rs))
    return None


def _rows(columns: list[dict], attacks: list[str], eps: list[float], ens_eps: list[float],
          grid: list[float]) -> list[dict]:
    def row(group, measure, kind, cells, **extra):
        return {"group": group, "measure": measure, "kind": kind, "cells": cells, **extra}

    def per(card_fn, smooth_fn=None):
        return [card_fn(c["_card"]) if c["_card"] is not None else (smooth_fn(c) if smooth_fn else None)
                for c in columns]

    def eot(e, key):
        return lambda c: _rr((_find((c["_smooth"] or {}).get("table", []), e) or {}).get(key))

    any_smooth = any(c["_smooth"] is not None for c in columns)
    out = [row("Clean", "Clean accuracy", "rate", per(lambda c: _rr(c["clean"]["accuracy_rate"]),
                                                      lambda c: _smoothed_clean(c)[0])),
           row("Clean", "Mean F1 (N, A, O)", "number", per(lambda c: float(c["clean"]["f1_mean_nao"]),
                                                           lambda c: _smoothed_clean(c)[1]))]
    g = "Attack success (of correctly classified records)"
    for m in attacks:
        for e in eps:
            out.append(row(g, f"{m}, ε {e:g} mV", "rate",
                           per(lambda c, m=m, e=e: _rr((_find(c["attacks"], e, m) or {}).get("rate"))),
                           attack=m, eps_mv=e))
    if any_smooth:
        for e in grid:
            out.append(row(g, f"eot-pgd through the noise (smoothed), ε {e:g} mV", "rate",
                           per(lambda c: None, eot(e, "success")), attack="eot-pgd", eps_mv=e))
    g = "Worst case"
    for e in eps:
        strongest, by = [], []
        for col in columns:
            rs = [a for a in (col["_card"] or {}).get("attacks", []) if _key(a["eps_mv"]) == e and a["rate"]["n"]]
            best = max(rs, key=lambda a: (a["rate"]["k"] / a["rate"]["n"], a["rate"]["n"]), default=None)
            cell = _rr(best["rate"]) if best else (eot(e, "success")(col) if col["_card"] is None else None)
            strongest.append(cell)
            by.append(best["method"] if best else ("eot-pgd" if cell else None))
        out.append(row(g, f"Strongest single attack, ε {e:g} mV", "rate", strongest, eps_mv=e, by=by))
    for e in ens_eps:
        out.append(row(g, f"Ensemble success, ε {e:g} mV", "rate",
                       per(lambda c, e=e: _rr((_find(c["ensemble"], e) or {}).get("success"))),
                       attack="ensemble", eps_mv=e))
    for e in grid:
        cells = per(lambda c, e=e: _rr((_find(c["ensemble"], e) or {}).get("robust")), eot(e, "robust"))
        if any(x is not None for x in cells):
            by = [None if x is None else ("ensemble" if c["_card"] is not None else "eot-pgd")
                  for x, c in zip(cells, columns)]
            out.append(row(g, f"Robust accuracy (ensemble; smoothed: EOT-PGD), ε {e:g} mV", "rate", cells,
                           eps_mv=e, by=by))
    smoothed = [c for c in columns if c["_card"] is None]
    if smoothed:
        g = "Certified (randomised smoothing)"

        def sm(fn):
            return per(lambda c: None, fn)

        out += [row(g, "Noise σ (mV)", "number", sm(lambda c: c["sigma_mv"])),
                row(g, "Certified accuracy, L2 radius 0 (abstain = wrong)", "rate",
                    sm(lambda c: _certified_at(c, 0.0) if c["_cert"] is None else
                       _rr(min(c["_cert"]["table"], key=lambda r: r["radius_mv"]))))]
        for e in sorted(set(grid) | {_key(PAPER_EPS)}):
            paper = ", the paper's ε" if e == _key(PAPER_EPS) else ""
            out.append(row(g, f"Certified accuracy at L∞ ε {e:g} mV{paper} (L2 radius ε√d)", "rate",
                           sm(lambda c, e=e: _certified_at(c, e)), eps_mv=e, certified=True))

        def d_med(c):
            d = next((s.get("d_median") for s in (c["_smooth"], c["_cert"]) if s and s.get("d_median")), None)
            return PAPER_EPS * math.sqrt(d) if d else None

        out += [row(g, f"L2 radius equal to L∞ {PAPER_EPS:g} mV (median d)", "number", sm(d_med)),
                row(g, "Certify: abstentions (CERTIFY, clean input)", "rate",
                    sm(lambda c: _rr(c["_cert"]["abstention"]) if c["_cert"] else None)),
                row(g, "Certify: base model clean accuracy (no noise)", "rate",
                    sm(lambda c: _rr(c["_cert"]["clean_accuracy"]) if c["_cert"] else None))]
    return out
