"""A robustness card document (engine.card.build) as text, HTML and PDF, and its key figures.

HTML: one self-contained file (inline CSS, the success-vs-ε plot as a PNG data URI, perceptibility
histograms as inline SVG). PDF: the same tables as text pages plus the plot (matplotlib's Agg and
PDF backends, no pyplot). Both are written atomically; an existing file is refused unless
`overwrite` (engine.outputs).
"""

from __future__ import annotations

import base64
import html
import json
import os

from ..errors import UserError
from ..figures import figure, png_base64, png_bytes
from ..intervals import format_rate
from ..outputs import atomic_write, check_output, check_suffix, write_bytes_atomic, write_text_atomic

MEASURE_LABELS = {"snr_db": "SNR (dB)", "prd": "PRD (%)", "smoothness": "smoothness (mV², lower smoother)",
                  "square_wave": "share at ±ε"}
PAPER_EPS = 0.01


def _rate(r: dict | None) -> str:
    return "–" if not r else format_rate(r["k"], r["n"])


def _num(v, spec: str = ".3g") -> str:
    return "–" if v is None else format(v, spec)


def _dist(d: dict, spec: str = ".3g") -> str:
    if not d or not d.get("n"):
        return "–"
    return f"{format(d['median'], spec)} [{format(d['q25'], spec)}–{format(d['q75'], spec)}] (n={d['n']})"


def reference_eps(doc: dict) -> float | None:
    """The ε whose perceptibility histograms are drawn: the paper's 0.01 mV if swept, else the middle one."""
    eps = doc["settings"]["eps_mv"]
    if not eps:
        return None
    return PAPER_EPS if PAPER_EPS in eps else eps[len(eps) // 2]


# -- tables (shared by text, HTML and PDF) ---------------------------------------------------------

def tables(doc: dict) -> list[tuple[str, list[str], list[list[str]], str]]:
    """(title, header, rows, note) of every table of the card."""
    out = []
    c = doc["clean"]
    classes = c["classes"]
    out.append(("Clean performance", ["Measure", "Value"],
                [["Accuracy", _rate(c["accuracy_rate"])], ["Mean F1 (N, A, O)", _num(c["f1_mean_nao"])],
                 ["Mean F1 (all classes)", _num(c["f1_mean_all"])]]
                + [[f"F1 {k} (n={c['per_class_n'].get(k, 0)})", _num(v)] for k, v in c["f1"].items()], ""))
    out.append(("Confusion matrix (rows true, columns predicted)", ["true \\ predicted", *classes],
                [[t, *[str(v) for v in row]] for t, row in zip(classes, c["confusion"])], ""))
    if doc["attacks"]:
        rows = []
        for a in doc["attacks"]:
            per = "; ".join(f"{k} {format_rate(v['success'], v['attacked'])}" for k, v in a["per_class"].items())
            rows.append([a["method"], a["box"], f"{a['eps_mv']:g}", _rate(a["rate"]), per or "–"]
                        + ([_num(a["queries_median"], ".0f")] if a["method"] in ("square",) else ["–"]))
        out.append(("Attack success vs ε", ["Attack", "Access", "ε (mV)", "Success (k/n, 95 % CI)", "Per true class",
                                             "Median queries"], rows,
                    "Success: among correctly classified records, the share whose prediction the attack changed. "
                    f"Step rule {doc['settings']['alpha_rule']}."))
    if doc["ensemble"]:
        rows = [[f"{e['eps_mv']:g}", _rate(e["robust"]),
                 "; ".join(f"{k} {_rate(v)}" for k, v in e["per_class"].items()) or "–",
                 ", ".join(f"{k} {v}" for k, v in e["fooled_by"].items()) or "–"] for e in doc["ensemble"]]
        out.append(("Robust accuracy under the ensemble (APGD-CE, APGD-DLR targeted, Square)",
                    ["ε (mV)", "Robust accuracy (k/n, 95 % CI)", "Per true class", "Fooled by"], rows,
                    "Robust accuracy: records classified correctly and not fooled by any ensemble member, of all "
                    "records."))
    if doc["attacks"]:
        rows = [[a["method"], f"{a['eps_mv']:g}", *[_dist(a["perceptibility"][k]) for k in MEASURE_LABELS]]
                for a in doc["attacks"]]
        out.append(("Perceptibility of the successful examples", ["Attack", "ε (mV)",
                                                                   *MEASURE_LABELS.values()], rows,
                    "median [lower–upper quartile] (n successful examples)."))
    u = doc.get("universal") or {}
    if u:
        out.append(("Universal perturbation", ["Item", "Value"], _universal_rows(u), ""))
    b = doc.get("band")
    if b:
        rows = [["Method / split", f"{b.get('method')} / {b.get('split')}"],
                ["Attack success", _rate(b["attack_success"])], ["Examples with bands", str(b["examples"])]]
        for st, d in b["styles"].items():
            rows += [[f"{st}: noise yields more", _rate(d["yields_more"])],
                     [f"{st}: band centre adversarial", _rate(d["centre_adversarial"])],
                     [f"{st}: noise fraction median", _num(d["fractions"]["noise"]["median"])]]
        out.append(("Bands (band-eval)", ["Item", "Value"], rows, ""))
    p = doc["provenance"]
    d = doc["data"]
    rows = [["Model", f"{doc['model']} (weights {doc['model_sha']})"],
            ["Data", f"{d['dataset']}, split {d['split']}, {d['records']} records, digest {d['digest']}"],
            ["Attack parameters", ", ".join(f"{k}={v}" for k, v in doc["settings"]["params"].items()
                                            if k not in ("kernel_sizes", "kernel_sigmas"))],
            ["Seeds", ", ".join(f"{k} {v}" for k, v in p["seeds"].items() if v is not None)],
            ["Software", ", ".join(f"{k} {v}" for k, v in p["versions"].items())],
            ["Device / processes", f"{p['device']} / {p['world_size']}"],
            ["Built", f"{p['started']} – {p['finished']} ({p['seconds']:.0f} s this run)"],
            ["Results folder", p.get("results_dir") or "temporary (not kept)"]]
    out.append(("Provenance", ["Item", "Value"], rows, "Cells already in the results folder are resumed, not rerun: "
                                                     "the time is this run's."))
    return out


def _universal_rows(u: dict) -> list[list[str]]:
    if "skipped" in u and "summary" not in u:
        return [["Not computed", u["skipped"]]]
    s = u["summary"]
    rows = [["Source", ("file " + u.get("file", "")) if u["source"] == "file" else "fitted for this card"],
            ["ε / max |δ|", f"{u['eps_mv']:g} mV / {u['linf_mv']:.4g} mV"],
            ["Period", f"{u['period_s']:.4g} s at {u['fs']:g} Hz, tiled over each record"],
            ["Fitted on", f"{u['fit_records']} records of {u['fit_split'] or '?'} (model {u['model']})"
                          + (" — a transfer attack from another model" if u.get("transfer") else "")],
            ["Fooling rate while fitting", " → ".join(f"{100 * h:.1f}%" for h in u.get("fit_history") or []) or "–"],
            ["Held-out records", f"{u['records']}" + (f" ({u['excluded_fit_records']} fitting records left out)"
                                                       if u.get("excluded_fit_records") else "")],
            ["Success (correctly classified)", format_rate(s["success"], s["attacked"])],
            ["Prediction changed (all records)", _rate(s["fooling"])]]
    rows += [[f"Success, true {c}", format_rate(v["success"], v["attacked"])] for c, v in s["per_class"].items()]
    rows += [[f"{MEASURE_LABELS[k]}", _dist(u["perceptibility"][k])] for k in ("snr_db", "prd")]
    return rows


def card_text(doc: dict) -> str:
    """The card's tables as plain text (the CLI's output without --json)."""
    lines = [f"Robustness card: model {doc['model']} on {doc['data']['dataset']} {doc['data']['split']} "
             f"({doc['data']['records']} records)"]
    for title, header, rows, note in tables(doc):
        if title == "Provenance":
            continue
        lines.append(f"\n{title}")
        widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
        for r in [header, *rows]:
            lines.append("  " + "  ".join(str(x).ljust(w) for x, w in zip(r, widths)).rstrip())
    return "\n".join(lines)


# -- figures ---------------------------------------------------------------------------------------

def success_figure(doc: dict):
    """Success rate (%) vs ε with 95 % intervals, one line per attack, and the ensemble's robust
    accuracy; None without attacks."""
    if not doc["attacks"] and not doc["ensemble"]:
        return None
    fig = figure(7.0, 3.6)
    ax = fig.add_subplot(121)
    for method in dict.fromkeys(a["method"] for a in doc["attacks"]):
        rs = [a for a in doc["attacks"] if a["method"] == method and a["rate"]["rate"] is not None]
        if not rs:
            continue
        xs = [a["eps_mv"] for a in rs]
        ys = [100 * a["rate"]["rate"] for a in rs]
        err = [[y - 100 * a["rate"]["ci95"][0] for y, a in zip(ys, rs)],
               [100 * a["rate"]["ci95"][1] - y for y, a in zip(ys, rs)]]
        ax.errorbar(xs, ys, yerr=err, marker="o", capsize=3, label=f"{method} ({rs[0]['box']})")
    ax.set_xscale("log")
    ax.set_xlabel("ε (mV)")
    ax.set_ylabel("success (% of correctly classified)")
    ax.set_ylim(-2, 102)
    ax.grid(alpha=0.3)
    if doc["attacks"]:
        ax.legend(fontsize=7)
    ax.set_title("Attack success (95 % CI)", fontsize=9)
    ax2 = fig.add_subplot(122)
    es = [e for e in doc["ensemble"] if e["robust"]["rate"] is not None]
    if es:
        xs = [e["eps_mv"] for e in es]
        ys = [100 * e["robust"]["rate"] for e in es]
        err = [[y - 100 * e["robust"]["ci95"][0] for y, e in zip(ys, es)],
               [100 * e["robust"]["ci95"][1] - y for y, e in zip(ys, es)]]
        ax2.errorbar(xs, ys, yerr=err, marker="s", capsize=3, color="#b22222")
        ax2.axhline(100 * (doc["clean"]["accuracy_rate"]["rate"] or 0), color="grey", ls=":", label="clean accuracy")
        ax2.legend(fontsize=7)
        ax2.set_xscale("log")
    ax2.set_xlabel("ε (mV)")
    ax2.set_ylabel("robust accuracy (%)")
    ax2.set_ylim(-2, 102)
    ax2.grid(alpha=0.3)
    ax2.set_title("Robust accuracy, ensemble (95 % CI)", fontsize=9)
    from matplotlib.ticker import NullFormatter

    for axis, eps in ((ax, doc["settings"]["eps_mv"]), (ax2, doc["settings"]["ensemble_eps_mv"])):
        if eps and len(eps) <= 12:  # the ε values themselves as ticks, plainly
            axis.set_xticks(eps)
            axis.set_xticklabels([f"{e:g}" for e in eps], fontsize=7)
            axis.xaxis.set_minor_formatter(NullFormatter())
    fig.tight_layout()
    return fig


def svg_histogram(dist: dict, label: str, w: int = 210, h: int = 80) -> str:
    """A small inline SVG histogram of `dist` (engine.card.build.distribution), or '' when empty."""
    counts, edges = dist["hist"]["counts"], dist["hist"]["edges"]
    if not counts or not sum(counts):
        return ""
    top, n = max(counts), len(counts)
    bw = (w - 10) / n
    bars = "".join(f"<rect x='{5 + i * bw:.1f}' y='{h - 18 - (h - 30) * c / top:.1f}' width='{bw - 1:.1f}' "
                   f"height='{(h - 30) * c / top:.1f}' fill='#5f8fd9'><title>{edges[i]:.3g}–{edges[i + 1]:.3g}: "
                   f"{c}</title></rect>" for i, c in enumerate(counts))
    return (f"<svg xmlns='http://www.w3.org/2000/svg' width='{w}' height='{h}' role='img' "
            f"aria-label='{html.escape(label)}'><text x='5' y='10' font-size='9'>{html.escape(label)} "
            f"(n={dist['n']})</text>{bars}<text x='5' y='{h - 4}' font-size='8'>{edges[0]:.3g}</text>"
            f"<text x='{w - 5}' y='{h - 4}' font-size='8' text-anchor='end'>{edges[-1]:.3g}</text></svg>")


# -- HTML ------------------------------------------------------------------------------------------

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1100px;color:#222}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;margin:.5em 0;font-size:.88em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}th{background:#f3f3f3}
p.note{color:#555;font-size:.85em;max-width:60em}img{max-width:100%}pre{background:#f7f7f7;padding:.6em;
font-size:.8em;white-space:pre-wrap}.hists svg{margin:0 .4em .4em 0;border:1px solid #eee}
"""


def _html_table(header, rows) -> str:
    h = "".join(f"<th>{html.escape(str(c))}</th>" for c in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{h}</tr></thead><tbody>{body}</tbody></table>"


def card_html(doc: dict, plots: bool = True) -> str:
    """The card as one self-contained HTML page (`plots` False leaves out the PNG plot, e.g. for a
    quick preview)."""
    d = doc["data"]
    title = f"Robustness card — {doc['model']}"
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{_CSS}</style></head><body>", f"<h1>{html.escape(title)}</h1>",
             f"<p>{html.escape(d['dataset'])}, split {html.escape(str(d['split']))}, {d['records']} records; "
             f"rates with n and {html.escape(doc['interval'])} intervals; ε in mV.</p>"]
    fig = success_figure(doc) if plots else None
    for title_, header, rows, note in tables(doc):
        parts += [f"<h2>{html.escape(title_)}</h2>", _html_table(header, rows)]
        if note:
            parts.append(f"<p class='note'>{html.escape(note)}</p>")
        if title_ == "Attack success vs ε" and fig is not None:
            parts.append(f"<figure><img alt='success and robust accuracy vs ε' "
                         f"src='data:image/png;base64,{png_base64(fig)}'></figure>")
        if title_ == "Perceptibility of the successful examples":
            eps = reference_eps(doc)
            parts.append(f"<p class='note'>Distributions at ε = {eps:g} mV:</p>")
            for a in doc["attacks"]:
                if a["eps_mv"] != eps:
                    continue
                hists = "".join(svg_histogram(a["perceptibility"][k], lab) for k, lab in MEASURE_LABELS.items())
                parts.append(f"<div class='hists'><b>{html.escape(a['method'])}</b><br>{hists or '(no successful examples)'}"
                             "</div>")
    if doc.get("band"):
        from ..band_eval import format_text

        parts += ["<h2>Bands, in full</h2>", f"<pre>{html.escape(format_text(doc['band']))}</pre>"]
    parts += ["<h2>Model card</h2>", f"<pre>{html.escape(doc['provenance']['model_card'])}</pre>", "</body></html>"]
    return "\n".join(parts)


def write_card_html(doc: dict, path: str, overwrite: bool = False) -> str:
    check_output(path, overwrite, "card")
    return write_text_atomic(path, card_html(doc), overwrite=overwrite)


def write_card_pdf(doc: dict, path: str, overwrite: bool = False) -> str:
    """The card's tables as A4 text pages, then the plot, in one PDF (written atomically)."""
    from matplotlib.backends.backend_pdf import PdfPages

    from ..review.report import _text_pages  # the review report's A4 table layout

    check_output(path, overwrite, "card")
    title = f"Robustness card: {doc['model']} on {doc['data']['dataset']} {doc['data']['split']}"
    fig = success_figure(doc)
    with atomic_write(path, overwrite=overwrite) as tmp:
        with PdfPages(tmp, metadata={"Title": title}) as pdf:
            for page in _text_pages(title, tables(doc)):
                pdf.savefig(page)
            if fig is not None:
                pdf.savefig(fig)
    return path


# -- key figures (side-by-side comparison) -----------------------------------------------------------

def key_figures(doc: dict) -> dict[str, str]:
    """{label: value} of the card's headline numbers, in a stable order."""
    out = {"Records": str(doc["data"]["records"]), "Clean accuracy": _rate(doc["clean"]["accuracy_rate"]),
           "Mean F1 (N, A, O)": _num(doc["clean"]["f1_mean_nao"])}
    for a in doc["attacks"]:
        out[f"{a['method']} success, ε {a['eps_mv']:g} mV"] = _rate(a["rate"])
    for e in doc["ensemble"]:
        out[f"Robust accuracy (ensemble), ε {e['eps_mv']:g} mV"] = _rate(e["robust"])
    eps = reference_eps(doc)
    for a in doc["attacks"]:
        if a["eps_mv"] == eps:
            out[f"{a['method']} median SNR (dB), ε {eps:g} mV"] = _num(a["perceptibility"]["snr_db"]["median"], ".1f")
    u = doc.get("universal") or {}
    if "summary" in u:
        out[f"Universal success (held out), ε {u['eps_mv']:g} mV"] = format_rate(u["summary"]["success"],
                                                                               u["summary"]["attacked"])
    return out


def compare_rows(left: dict, right: dict) -> list[tuple[str, str, str]]:
    """(label, left value, right value) over the key figures of two cards (missing: '–')."""
    a, b = key_figures(left), key_figures(right)
    labels = list(a) + [k for k in b if k not in a]
    return [(k, a.get(k, "–"), b.get(k, "–")) for k in labels]


# -- comparison of several cards (engine.card.compare) ------------------------------------------------

def comparison_figure(comp: dict):
    """Success (%) vs ε with 95 % intervals, one panel per attack (and the ensemble), one line per
    model; plus certified accuracy vs L2 radius where certify summaries were given. None when
    there is nothing to draw."""
    from matplotlib.ticker import NullFormatter

    series = list(dict.fromkeys(r["attack"] for r in comp["rows"] if r.get("attack")))
    curves = [c for c in comp["columns"] if c.get("certified_curve")]
    panels = len(series) + (1 if curves else 0)
    if not panels:
        return None
    ncols = min(3, panels)
    nrows = -(-panels // ncols)
    fig = figure(3.4 * ncols, 2.9 * nrows)
    for p, name in enumerate(series):
        ax = fig.add_subplot(nrows, ncols, p + 1)
        rows = [r for r in comp["rows"] if r.get("attack") == name]
        for i, col in enumerate(comp["columns"]):
            pts = [(r["eps_mv"], r["cells"][i]) for r in rows if r["cells"][i] and r["cells"][i]["n"]]
            if not pts:
                continue
            shift = 1.0 + 0.04 * (i - (len(comp["columns"]) - 1) / 2)  # side by side on the log axis
            xs = [e * shift for e, _ in pts]
            ys = [100 * v["rate"] for _, v in pts]
            err = [[y - 100 * v["ci95"][0] for y, (_, v) in zip(ys, pts)],
                   [100 * v["ci95"][1] - y for y, (_, v) in zip(ys, pts)]]
            ax.errorbar(xs, ys, yerr=err, marker="o", capsize=3, label=col["label"], color=f"C{i % 10}")
        eps = sorted({r["eps_mv"] for r in rows})
        ax.set_xscale("log")
        if eps:
            ax.set_xlim(eps[0] / 1.4, eps[-1] * 1.4)
        if eps and len(eps) <= 12:
            ax.set_xticks(eps)
            ax.set_xticklabels([f"{e:g}" for e in eps], fontsize=7)
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_ylim(-2, 102)
        ax.grid(alpha=0.3)
        ax.set_title(f"{name} success (95 % CI)", fontsize=9)
        ax.set_xlabel("ε (mV)", fontsize=8)
        ax.set_ylabel("success (%)", fontsize=8)
        ax.legend(fontsize=6)
    if curves:
        ax = fig.add_subplot(nrows, ncols, panels)
        for col in curves:
            pts = [r for r in col["certified_curve"] if r["rate"] is not None]
            ax.step([r["radius_mv"] for r in pts], [100 * r["rate"] for r in pts], where="post", marker="o",
                    label=col["label"] + ("" if "σ" in col["label"] else f" (σ {col['sigma_mv']:g} mV)"),
                    color=f"C{comp['columns'].index(col) % 10}")
        ax.set_ylim(-2, 102)
        ax.grid(alpha=0.3)
        ax.set_title("Certified accuracy", fontsize=9)
        ax.set_xlabel("L2 radius (mV)", fontsize=8)
        ax.set_ylabel("certified accuracy (%)", fontsize=8)
        ax.legend(fontsize=6)
    fig.tight_layout()
    return fig


def comparison_png(comp: dict) -> bytes | None:
    fig = comparison_figure(comp)
    if fig is None:
        return None
    return png_bytes(fig)


def comparison_html(comp: dict, png: bytes | None = None) -> str:
    """The comparison as one self-contained HTML page (the table, the plot as a PNG data URI, the
    certified-accuracy curves and the sources). `png`: the plot (comparison_png) if made already."""
    cols = comp["columns"]
    title = "Robustness comparison — " + ", ".join(c["label"] for c in cols)
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{_CSS}</style></head><body>", f"<h1>{html.escape(title)}</h1>",
             f"<p>{html.escape(intro(comp))}</p>"]
    if comp["notes"]:
        parts.append("<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in comp["notes"]) + "</ul>")
    head = "".join(f"<th>{html.escape(c)}</th>" for c in ["Measure", *[c["label"] for c in cols]])
    body, group = [], None
    for r in comp["rows"]:
        if r["group"] != group:
            group = r["group"]
            body.append(f"<tr><th colspan='{len(cols) + 1}'>{html.escape(group)}</th></tr>")
        body.append("<tr>" + "".join(f"<td>{html.escape(x)}</td>" for x in
                                     [r["measure"], *[cell_text(r, i) for i in range(len(cols))]]) + "</tr>")
    parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")
    png = png if png is not None else comparison_png(comp)
    if png:
        parts.append("<figure><img alt='success vs ε per model and certified accuracy' "
                     f"src='data:image/png;base64,{base64.b64encode(png).decode('ascii')}'></figure>")
    for c in cols:
        if c.get("certified_curve"):
            rows = [[f"{r['radius_mv']:.4g}", _rate(r)] for r in c["certified_curve"]]
            parts += [f"<h2>Certified accuracy — {html.escape(c['label'])} (σ {c['sigma_mv']:g} mV)</h2>",
                      _html_table(["L2 radius (mV)", "Certified accuracy (k/n, 95 % CI)"], rows)]
    src = [[c["label"], c["model"], c.get("model_sha") or "–", "–" if c.get("sigma_mv") is None else f"{c['sigma_mv']:g}",
            *[c.get(k) or "–" for k in ("card", "certify", "smooth_attack")]] for c in cols]
    parts += ["<h2>Sources</h2>", _html_table(["Column", "Model", "Weights", "Noise σ (mV)", "Card", "Certify summary",
                                               "Smooth-attack summary"], src),
              "<h2>Attack parameters (all cards)</h2>",
              f"<pre>{html.escape(json.dumps(comp['params'], indent=1, sort_keys=True))}</pre>"]
    for c in cols:
        if c.get("attack"):
            parts += [f"<h2>EOT-PGD parameters — {html.escape(c['label'])}</h2>",
                      f"<pre>{html.escape(json.dumps(c['attack'], indent=1, sort_keys=True))}</pre>"]
    parts.append("</body></html>")
    return "\n".join(parts)


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
    text = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("|", "\\|").replace("\n", " ")


def intro(comp: dict) -> str:
    """One paragraph: the data, the rule for rates and what is compared."""
    d = comp["data"]
    lead = f", lead {d['lead']}" if d.get("lead") else ""
    return (f"{d['dataset']}, split {d['split']}, {d['records']} records (digest {d['digest']}{lead}). "
            f"Rates with k/n and {comp['interval']} intervals; ε in mV (L∞). Attack success: among the records "
            "the model classifies correctly, the share whose prediction the attack changed (each model's own n). "
            "Strongest single attack: the highest success of the sweep's attacks at that ε [which one]; the "
            "ensemble (APGD-CE, targeted APGD-DLR, Square) counts a record fooled by any member. Robust accuracy: "
            "the share of all records classified correctly and not fooled. Step rule "
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
    src = "; ".join(f"{c['label']}: " + ", ".join(f"{k.replace('_', '-')} {os.path.basename(c[k])}"
                                                  for k in ("card", "certify", "smooth_attack") if c.get(k))
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


# -- comparison outputs ---------------------------------------------------------------------------------------

OUTPUT_TYPES = {"html": (".html", ".htm"), "markdown": (".md", ".markdown"), "plot": (".png",)}


def check_outputs(outputs: dict[str, str | None], inputs: list[str], overwrite: bool = False) -> None:
    """Before any work: each given output {"html"|"markdown"|"plot": path} has its extension, is
    not another output or an input, and can be written (engine.outputs.check_output)."""
    flags = {"html": "--out", "markdown": "--markdown", "plot": "--plot"}
    seen: dict[str, str] = {os.path.realpath(p): f"input {p}" for p in inputs}
    for kind, path in outputs.items():
        if path is None:
            continue
        check_suffix(path, OUTPUT_TYPES[kind], f"{flags[kind]} ({kind})")
        real = os.path.realpath(path)
        if real in seen:
            raise UserError(f"{flags[kind]} {path} is the same file as {seen[real]}")
        seen[real] = f"{flags[kind]} {path}"
        check_output(path, overwrite, what="comparison")


def write_outputs(comp: dict, outputs: dict[str, str | None], overwrite: bool = False) -> dict:
    """Render everything first, then write each given output atomically; → {kind: absolute path}."""

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
