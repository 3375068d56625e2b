"""Exports of a review study: CSV of all answers, and a report (HTML or PDF) with the study's
parameters, tables and plots. Plots use matplotlib's Agg canvas directly (no pyplot, no GUI)."""

from __future__ import annotations

import csv
import html
import io
import json
from collections import Counter

from ..attacks.registry import ATTACKS, all_params
from ..errors import UserError
from ..figures import figure, png_base64
from ..outputs import atomic_write, check_output, check_suffix, write_bytes_atomic
from .stats import ALL, compute
from .access import Study
from .tasks import ANSWERS

CSV_COLUMNS = ["answer_id", "session_id", "reviewer", "session_locked", "item_id", "position", "task",
               "answer", "correct", "confidence", "elapsed_s", "answered_at", "method", "shown",
               "altered_trace", "pair_id", "source_record", "adversarial_record", "reference_label",
               "orig_pred", "adv_pred", "model"]
TASK_NAMES = {"A": "Task A — same diagnosis?", "B": "Task B — which ECG was altered?",
              "C": "Task C — rhythm labelling"}


REPORT_SUFFIXES = {"csv": (".csv",), "html": (".html", ".htm"), "pdf": (".pdf",)}


def check_report_output(path: str, kind: str, overwrite: bool) -> None:
    """A report of `kind` (csv, html, pdf) may be written to `path` (its suffix, engine.outputs)."""
    check_output(path, overwrite, "report")
    check_suffix(path, REPORT_SUFFIXES[kind], f"{kind.upper()} report")


def _write_atomic(path: str, data: bytes, overwrite: bool, kind: str) -> None:
    """Check, then write `path` whole or not at all (engine.outputs); never clobbers without `overwrite`."""
    check_report_output(path, kind, overwrite)
    try:
        write_bytes_atomic(path, data, overwrite=overwrite)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None


def _cell(v):
    """A CSV cell that a spreadsheet will not run: text starting with = + - @ or a tab / CR (a
    reviewer may name themselves "=HYPERLINK(...)") gets a leading apostrophe."""
    if v is None:
        return ""
    if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + v
    return v


def answers_csv(rows: list[dict]) -> str:
    """All answers as CSV (text cells made safe for spreadsheets, see _cell)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: _cell(r.get(k)) for k in CSV_COLUMNS})
    return buf.getvalue()


def write_csv(study: Study, path: str, overwrite: bool = False) -> int:
    rows = study.answers()
    _write_atomic(path, answers_csv(rows).encode("utf-8"), overwrite, "csv")
    return len(rows)


# ---------------------------------------------------------------------------------------------
# content shared by the HTML and PDF reports


# attack parameters worth a line in the report: those declared in the attack registry, and the target
_PARAM_NAMES = tuple(q.attr for q in all_params() if q.kind is not bool and q.attr != "seed") + ("target",)


def study_parameters(study: Study) -> list[tuple[str, str]]:
    meta = study.meta
    params = meta.get("params", {})
    key = study.answer_key()
    attack_sets = Counter()
    for k in key:
        try:
            p = json.loads(k.get("params") or "{}")
        except ValueError:
            p = {}
        desc = ", ".join(f"{n}={p[n]}" for n in _PARAM_NAMES if n in p)
        attack_sets[f"{k['method']}: {desc}" if desc else k["method"]] += 1
    models = sorted({k["model"] for k in key if k.get("model")})
    rows = [("Title", study.title), ("Study id", study.study_id), ("Created", meta.get("created_at", "")),
            ("Seed", meta.get("seed", "")), ("Tasks (in order)", ", ".join(study.tasks)),
            ("Items per task", ", ".join(f"{t}: {n}" for t, n in params.get("items_per_task", {}).items())),
            ("Pairs available", str(params.get("n_pairs", ""))),
            ("Pairs used (one per original ECG)", str(params.get("n_pairs_used", "–"))),
            ("Methods", ", ".join(m.upper() for m in params.get("methods", []))),
            ("Models", ", ".join(models) or "unknown"),
            ("Attack parameters", "; ".join(sorted(attack_sets)) or "unknown"),
            ("Confidence rating asked", "yes" if study.ask_confidence else "no")]
    for k in ("n_per_task", "sources"):
        if params.get(k) or meta.get(k):
            rows.append((k.replace("_", " ").capitalize(), str(params.get(k) or meta.get(k))))
    if meta.get("warnings"):
        rows.append(("Warnings at creation", "; ".join(meta["warnings"])))
    return rows


def _pct(v) -> str:
    return "–" if v is None else f"{100 * v:.1f} %"


def _ci(ci) -> str:
    return "–" if not ci or ci[0] is None else f"{100 * ci[0]:.1f}–{100 * ci[1]:.1f} %"


def _p(v) -> str:
    if v is None:
        return "–"
    return f"{v:.2e}" if v < 1e-3 else f"{v:.3f}"


def _clustered(d: dict, with_p: bool = True) -> str:
    """The item-clustered interval (and p) of a pooled row; '' for a reviewer's own row."""
    c = d.get("items_clustered")
    if not c:
        return ""
    if c["ci95"][0] is None:
        return f"– ({c.get('note', 'undefined')})"
    return _ci(c["ci95"]) + (f", p {_p(c['p_value'])}" if with_p else "")


def _of(n: int, n_any: int | None) -> str:
    """Items every reviewer answered, and of how many any reviewer answered when that is more."""
    return f"{n} of {n_any}" if n_any is not None and n_any > n else str(n)


def _k(v) -> str:
    return "–" if v is None else f"{v:.3f}"


def _meth(m: str) -> str:
    return "all methods" if m == ALL else m.upper()


def _who_rows(block: dict) -> list[tuple[str, str, dict]]:
    out = []
    for who, per in block.get("by_reviewer", {}).items():
        for m, d in per.items():
            out.append((who, m, d))
    if len(block.get("by_reviewer", {})) > 1:
        for m, d in block.get("pooled", {}).items():
            out.append(("pooled", m, d))
    return out


def tables(stats: dict) -> list[tuple[str, list[str], list[list[str]], str]]:
    """(title, header, rows, note) per table."""
    out = []
    b = stats["task_b"]
    if b.get("pooled"):
        rows = [[who, _meth(m), str(d["n"]), str(d["correct"]), _pct(d["accuracy"]), _ci(d["ci95"]),
                 _p(d["p_value"]), _clustered(d)] for who, m, d in _who_rows(b)]
        out.append((TASK_NAMES["B"], ["Reviewer", "Method", "Items", "Found", "Accuracy", "95 % CI",
                                      "p (vs 50 %)", "Pooled, items clustered: 95 % CI, p"], rows,
                    "Exact two-sided binomial test against chance (50 %); Clopper–Pearson intervals. "
                    "Pooled rows' exact CI and p count every reviewer's answers as independent, too optimistic "
                    "when reviewers find the same items; the last column clusters the answers by item "
                    "(cluster-robust standard error as in a GEE, Wald interval on the logit scale, z test)."))
    a = stats["task_a"]
    if a.get("pooled"):
        rows = [[who, _meth(m), str(d["n"]), str(d["same"]), _pct(d["share_same"]), _ci(d["ci95"]),
                 _clustered(d, with_p=False)] for who, m, d in _who_rows(a)]
        out.append((TASK_NAMES["A"], ["Reviewer", "Method", "Pairs", "Judged same", "Share same", "95 % CI",
                                      "Pooled, items clustered: 95 % CI"],
                    rows, "Share of (original, adversarial) pairs given the same diagnosis. The last column "
                          "clusters pooled answers by item (as for task B)."))
    c = stats["task_c"]
    if c.get("pooled"):
        rows = []
        for who, m, d in _who_rows(c):
            orig = f"{d['original']['correct']}/{d['original']['n']}" if d["original"]["n"] else "–"
            rows.append([who, _meth(m), orig,
                         _pct(d["original"]["accuracy"]), f"{d['adversarial']['correct']}/{d['adversarial']['n']}",
                         _pct(d["adversarial"]["accuracy"]), _pct(d["adversarial_follows_original"]["share"]),
                         _pct(d["adversarial_follows_model"]["share"])])
        out.append((TASK_NAMES["C"], ["Reviewer", "Method", "Originals correct", "Accuracy",
                                      "Adversarial correct", "Accuracy", "Adv. = original class",
                                      "Adv. = model's class"], rows,
                    "Accuracy against the reference labels. 'Original class' is the reference label (else the "
                    "model's prediction on the original); the last column counts adversarial ECGs whose "
                    "prediction the attack changed. Unaltered originals belong to no method: they are counted "
                    "under 'all methods' only."))
    ag = stats["agreement"]
    if ag:
        rows = []
        for t, e in ag.items():
            rows.append([t, ", ".join(e["reviewers"]), _of(e["n_items"], e.get("n_items_any")),
                         "Cohen" if e["statistic"] == "cohen" else "Fleiss",
                         _k(e["kappa"]) if e["kappa"] is not None else f"– ({e.get('note', 'undefined')})",
                         _pct(e["observed_agreement"])])
        out.append(("Agreement between reviewers", ["Task", "Reviewers", "Items", "Statistic", "Kappa",
                                                    "Observed agreement"], rows,
                    "Over the items every reviewer answered. Kappa is undefined (–) when chance agreement is 1."))
    if len(stats.get("reviewers", [])) < 2:  # no pooled rows: no clustered column
        out = [(t, h[:-1], [r[:-1] for r in rows], n.split(" Pooled rows'")[0].split(" The last column")[0])
               if h and h[-1].startswith("Pooled, items clustered") else (t, h, rows, n) for t, h, rows, n in out]
    tm = stats["timing"]
    if tm:
        rows = [[who, t, str(d["n"]), "–" if d["median_s"] is None else f"{d['median_s']:.1f}",
                 "–" if d["mean_confidence"] is None else f"{d['mean_confidence']:.2f}"]
                for who, per in tm.items() for t, d in per.items()]
        out.append(("Time and confidence", ["Reviewer", "Task", "Answers", "Median s/item", "Mean confidence"],
                    rows, "Confidence 1 (guessing) to 5 (certain), where given."))
    return out


# ---------------------------------------------------------------------------------------------
# plots


def _bar_ci(ax, labels, values, cis, colors, ylabel, chance=None):
    import numpy as np

    x = np.arange(len(labels))
    v = [np.nan if a is None else a for a in values]
    lo = [0 if (c[0] is None or a is None) else a - c[0] for a, c in zip(values, cis)]
    hi = [0 if (c[1] is None or a is None) else c[1] - a for a, c in zip(values, cis)]
    ax.bar(x, v, color=colors, width=0.6, edgecolor="#333333", linewidth=0.5)
    ax.errorbar(x, v, yerr=[lo, hi], fmt="none", ecolor="#222222", capsize=4, linewidth=1)
    if chance is not None:
        ax.axhline(chance, color="#b22222", linestyle="--", linewidth=1, label="chance")
        ax.legend(loc="lower right", fontsize=8, frameon=False)
    ax.set_xticks(x)
    ax.set_xticklabels(labels, fontsize=8, rotation=0)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel(ylabel)
    ax.spines[["top", "right"]].set_visible(False)


_PALETTE = ("#5f8fd9", "#d98c5f", "#7fae7f", "#b07fc0", "#c0a060")
_COLORS = {**{m: _PALETTE[i % len(_PALETTE)] for i, m in enumerate(ATTACKS)}, ALL: "#9a9a9a"}  # from the registry


def figures(stats: dict) -> list[tuple[str, object]]:
    """(caption, matplotlib Figure) for each plot that has data."""
    out = []
    for key, title, field, ylabel, chance in (
            ("task_b", "Task B: detection accuracy (95 % CI)", "accuracy", "share found", 0.5),
            ("task_a", "Task A: pairs judged the same diagnosis (95 % CI)", "share_same", "share 'same'", None)):
        block = stats[key]
        if not block.get("pooled"):
            continue
        labels, vals, cis, cols = [], [], [], []
        for who, m, d in _who_rows(block):
            if m == ALL and len([k for k in (block["pooled"]) if k != ALL]) > 1 and who != "pooled":
                continue
            labels.append(f"{who}\n{_meth(m)}")
            vals.append(d[field])
            cis.append(d["ci95"])
            cols.append(_COLORS.get(m, "#7fae7f"))
        fig = figure(max(5.0, 0.9 * len(labels) + 2), 3.6)
        ax = fig.add_subplot(111)
        _bar_ci(ax, labels, vals, cis, cols, ylabel, chance)
        ax.set_title(title, fontsize=10)
        fig.tight_layout()
        out.append((title, fig))
    c = stats["task_c"]
    if c.get("pooled"):
        labels, vals, cis, cols = [], [], [], []
        for who, per in list(c["by_reviewer"].items()) + ([("pooled", c["pooled"])] if len(c["by_reviewer"]) > 1
                                                          else []):
            d = per[ALL]
            for name, e, col in (("originals", d["original"], "#9a9a9a"),
                                 ("adversarial", d["adversarial"], "#5f8fd9")):
                labels.append(f"{who}\n{name}")
                vals.append(e["accuracy"])
                cis.append(e["ci95"])
                cols.append(col)
        fig = figure(max(5.0, 0.9 * len(labels) + 2), 3.6)
        ax = fig.add_subplot(111)
        _bar_ci(ax, labels, vals, cis, cols, "accuracy vs reference")
        ax.set_title("Task C: labelling accuracy (95 % CI)", fontsize=10)
        fig.tight_layout()
        out.append(("Task C: labelling accuracy", fig))
    return out


def confusion_figure(rows: list[dict]):
    """Task C: reference label × reviewer label, originals and adversarial side by side."""
    import numpy as np

    from .stats import latest_answers

    rows = [r for r in latest_answers(rows) if r["task"] == "C" and r.get("reference_label")]
    if not rows:
        return None
    cats = list(ANSWERS["C"])
    fig = figure(7.5, 3.4)
    for i, shown in enumerate(("original", "adversarial")):
        m = np.zeros((4, 4), int)
        for r in rows:
            if r["shown"] == shown and r["reference_label"] in cats and r["answer"] in cats:
                m[cats.index(r["reference_label"]), cats.index(r["answer"])] += 1
        ax = fig.add_subplot(1, 2, i + 1)
        ax.imshow(m, cmap="Blues", vmin=0, vmax=max(1, m.max()))
        for (a, b), v in np.ndenumerate(m):
            ax.text(b, a, str(v), ha="center", va="center", fontsize=9,
                    color="white" if v > m.max() / 2 else "black")
        ax.set_xticks(range(4))
        ax.set_xticklabels(cats)
        ax.set_yticks(range(4))
        ax.set_yticklabels(cats)
        ax.set_xlabel("reviewer label")
        ax.set_ylabel("reference label")
        ax.set_title(f"{shown} ECGs", fontsize=10)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------
# HTML and PDF


_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1000px;color:#222}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left}th{background:#f3f3f3}
td.num{text-align:right}p.note{color:#555;font-size:.85em;max-width:60em}img{max-width:100%}
"""


def _html_table(header, rows) -> str:
    h = "".join(f"<th>{html.escape(c)}</th>" for c in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{h}</tr></thead><tbody>{body}</tbody></table>"


def html_report(study: Study, stats: dict | None = None) -> str:
    rows = study.answers()
    stats = stats or compute(rows, study.sessions(), study.n_items())
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(study.title)} — report"
             f"</title><style>{_CSS}</style></head><body>",
             f"<h1>{html.escape(study.title)}: review study report</h1>",
             "<h2>Study parameters</h2>", _html_table(["Parameter", "Value"], study_parameters(study))]
    sess = study.sessions()
    parts += ["<h2>Sessions</h2>",
              _html_table(["Reviewer", "Started", "Finished", "Locked", "Answers"],
                          [[s["reviewer"], s["started_at"], s["finished_at"] or "–", "yes" if s["locked"] else "no",
                            f"{s['n_answers']} of {study.n_items()}"] for s in sess]) if sess
              else "<p>No answers yet.</p>"]
    if stats.get("warnings"):
        parts += ["<h2>Read first</h2>", "<ul>" + "".join(f"<li>{html.escape(w)}</li>" for w in stats["warnings"])
                  + "</ul>"]
    for title, header, trs, note in tables(stats):
        parts += [f"<h2>{html.escape(title)}</h2>", _html_table(header, trs),
                  f"<p class='note'>{html.escape(note)}</p>"]
    figs = figures(stats)
    cf = confusion_figure(rows)
    if cf is not None:
        figs.append(("Task C: confusion matrices", cf))
    if figs:
        parts.append("<h2>Plots</h2>")
        for cap, fig in figs:
            parts.append(f"<figure><img alt='{html.escape(cap)}' src='data:image/png;base64,{png_base64(fig)}'>"
                         f"<figcaption class='note'>{html.escape(cap)}</figcaption></figure>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_html(study: Study, path: str, stats: dict | None = None, overwrite: bool = False) -> None:
    _write_atomic(path, html_report(study, stats).encode("utf-8"), overwrite, "html")


TEXT_PAGE_CHARS = 118  # characters of 7-pt monospace across an A4 page inside its margins


def _fit_widths(widths: list[int], total: int, least: int = 6) -> list[int]:
    """Column widths (characters) narrowed, widest first, until they add up to at most `total`
    (none below `least`): a table fits the page and its cells wrap instead of running off it."""
    widths = list(widths)
    while sum(widths) > total and max(widths) > least:
        i = widths.index(max(widths))
        widths[i] -= 1
    return widths


def _text_pages(title: str, blocks: list[tuple[str, list[str], list[list[str]], str]]):
    """Tables laid out as monospace text on A4 portrait pages."""
    import textwrap

    lines: list[tuple[str, str]] = [("title", title), ("", "")]
    for name, header, rows, note in blocks:
        lines.append(("h", name))
        widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)] if rows else [len(h) for h in header]
        widths = _fit_widths(widths, TEXT_PAGE_CHARS - 2 * (len(widths) - 1))

        def fmt(r, kind):
            cells = [textwrap.wrap(str(c), w) or [""] for c, w in zip(r, widths)]
            for k in range(max(len(c) for c in cells)):
                lines.append((kind, "  ".join((c[k] if k < len(c) else "").ljust(w) for c, w in zip(cells, widths))))
        fmt(header, "th")
        for r in rows:
            fmt(r, "")
        for ln in textwrap.wrap(note, 110):
            lines.append(("note", ln))
        lines.append(("", ""))
    per_page = 62
    pages = []
    for start in range(0, len(lines), per_page):
        fig = figure(8.27, 11.69)
        y = 0.96
        for kind, text in lines[start:start + per_page]:
            size = {"title": 13, "h": 10.5}.get(kind, 7)
            weight = "bold" if kind in ("title", "h", "th") else "normal"
            family = "sans-serif" if kind in ("title", "h", "note") else "monospace"
            color = "#555555" if kind == "note" else "#111111"
            fig.text(0.05, y, text, fontsize=size, fontweight=weight, family=family, color=color, va="top")
            y -= 0.0145 if kind not in ("title",) else 0.02
        pages.append(fig)
    return pages


def write_pdf(study: Study, path: str, stats: dict | None = None, overwrite: bool = False) -> None:
    from matplotlib.backends.backend_pdf import PdfPages

    check_report_output(path, "pdf", overwrite)
    rows = study.answers()
    stats = stats or compute(rows, study.sessions(), study.n_items())
    sess = study.sessions()
    blocks = [("Study parameters", ["Parameter", "Value"], [list(r) for r in study_parameters(study)], ""),
              ("Sessions", ["Reviewer", "Started", "Finished", "Locked", "Answers"],
               [[s["reviewer"], s["started_at"][:19], (s["finished_at"] or "–")[:19], "yes" if s["locked"] else "no",
                 f"{s['n_answers']}/{study.n_items()}"] for s in sess], "")]
    if stats.get("warnings"):
        blocks.append(("Read first", ["Warning"], [[w] for w in stats["warnings"]], ""))
    blocks += tables(stats)
    figs = [f for _, f in figures(stats)]
    cf = confusion_figure(rows)
    if cf is not None:
        figs.append(cf)
    try:
        with atomic_write(path, overwrite=overwrite) as tmp:
            with PdfPages(tmp, metadata={"Title": f"{study.title}: review study report"}) as pdf:
                for page in _text_pages(f"{study.title}: review study report", blocks):
                    pdf.savefig(page)
                for fig in figs:
                    pdf.savefig(fig)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
