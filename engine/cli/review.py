"""Review commands: `review create`, `review copy`, `review merge`, `review report`, `review open`.

A study is one SQLite file built from saved adversarial examples (their WFDB provenance names the
original record). Reviewers answer in the GUI (`review open STUDY`, run by gui.reviewer: main.py
hands it over, this module only declares its options for --help); copies from several reviewers
are merged back into one file; `review report` computes the statistics and writes CSV/HTML/PDF.
Same conventions as the other commands: `--json` prints one JSON document on stdout, progress goes
to stderr, bad input exits 2 with one `error: ...` line.
"""

from __future__ import annotations

import os

from ..errors import UserError
from . import invocation
from .core import add_json
from ..review.open_args import add_open_args  # declared once; gui.reviewer parses it too


CREATE_HELP = """\
Build a blinded review study (one SQLite file) from saved adversarial examples and their originals.

Tasks (reviewers meet them in the order of --tasks, each as one block):
  A  two ECGs, an original and its adversarial example in random order: "would you give both
     the same rhythm diagnosis?" (same / different)
  B  two ECGs, the same kind of pair: "one was digitally altered; which one?" (1 / 2); scored
     against chance (50 %). B tells reviewers about alteration, so put it last.
  C  one ECG, an original or an adversarial example (balanced mix): "which rhythm?"
     (N normal, A AF, O other, ~ noisy); scored against the reference labels.

Blinding: each original ECG is used with one adversarial example only (one pair per source, the
methods balanced), the randomisation seed and all provenance stay in the key file, and the
--reviewer-copy written for reviewers holds no answer key (`review copy STUDY COPY` writes one
later). Never hand the study file itself to reviewers. Merge reviewers' copies back with
`review merge`, then `review report`.
"""


def register(sub) -> None:
    import argparse

    from . import _Parser

    p = sub.add_parser("review", help="blinded expert-review studies (create, copy, merge, report, open)")
    rs = p.add_subparsers(dest="review_command", parser_class=_Parser, metavar="SUBCOMMAND")
    rs.required = True

    c = rs.add_parser("create", help="build a study file from saved adversarial examples (tasks A, B, C)",
                      description=CREATE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_argument("--from", dest="inputs", nargs="+", action="extend", required=True, metavar="DIR_OR_RESULTS",
                   help="folders of adversarial records, single records or JSONL results files")
    c.add_argument("--out", required=True, help="study file to write (.sqlite), with the answer key")
    c.add_argument("--tasks", default="A,C,B",
                   help="tasks in the order reviewers meet them (default A,C,B: B tells reviewers that "
                        "one trace was altered, so it is best last)")
    c.add_argument("--seed", type=int, default=None,
                   help="randomisation seed, 0 to 2^64-1 (default: 64 random bits, kept in the key file); "
                        "a seed you choose reproduces the study exactly, but whoever guesses it can "
                        "replay the randomisation")
    c.add_argument("--n-per-task", type=int, default=None,
                   help="items per task (default: every pair with a distinct original once in A and B, "
                        "as many in C)")
    c.add_argument("--methods", default=None, help="only these methods, e.g. pgd,sap (default: all found)")
    c.add_argument("--successful-only", action="store_true",
                   help="only examples whose attack changed the model's prediction")
    c.add_argument("--source-dir", action="append", default=[],
                   help="folder to look for the original records in by name (repeatable)")
    c.add_argument("--title", default="ECG review", help="title shown to reviewers (say nothing revealing)")
    c.add_argument("--no-confidence", action="store_true", help="do not ask for a confidence rating")
    c.add_argument("--reviewer-copy", default=None, metavar="FILE",
                   help="also write a copy without the answer key, to hand to reviewers (merge their copies "
                        "back into --out); both files are written or neither")
    c.add_argument("--overwrite", action="store_true", help="replace existing output files")
    add_json(c)
    c.set_defaults(func=cmd_create)

    k = rs.add_parser("copy", help="write a reviewer copy of a study, without the answer key",
                      description="Write a copy of STUDY for reviewers: the answer key and the creation "
                                  "parameters are dropped and the file vacuumed, so nothing of them is left. "
                                  "Merge the answered copies back into STUDY with `review merge`.")
    k.add_argument("study", help="the study file with the answer key")
    k.add_argument("out", help="the reviewer copy to write")
    k.add_argument("--keep-answers", action="store_true",
                   help="keep the sessions and answers already in STUDY (default: left out, so no reviewer "
                        "sees another's answers); for a reviewer who resumes a session begun on STUDY")
    k.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    add_json(k)
    k.set_defaults(func=cmd_copy)

    m = rs.add_parser("merge", help="merge reviewers' copies of one study into one file")
    m.add_argument("out", help="merged study file (may be the first input)")
    m.add_argument("inputs", nargs="+", help="copies of the same study")
    m.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    add_json(m)
    m.set_defaults(func=cmd_merge)

    r = rs.add_parser("report", help="statistics of a study; CSV, HTML and PDF exports")
    r.add_argument("study")
    r.add_argument("--csv", default=None, help="write all answers (with the answer key) as CSV")
    r.add_argument("--html", default=None, help="write an HTML report (tables, plots, parameters)")
    r.add_argument("--pdf", default=None, help="write the report as PDF")
    r.add_argument("--overwrite", action="store_true", help="replace existing report files")
    add_json(r)
    r.set_defaults(func=cmd_report)

    o = rs.add_parser("open", help="open a study in the reviewer window (GUI)")
    add_open_args(o)
    o.set_defaults(func=cmd_open)


def _damaged_is_user_error(func):
    """A study file that SQLite finds damaged is bad input: one line, exit 2."""
    import functools
    import sqlite3

    @functools.wraps(func)
    def wrapped(args) -> int:
        try:
            return func(args)
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
            raise UserError(f"damaged study file ({type(exc).__name__})") from None
    return wrapped


@_damaged_is_user_error
def cmd_create(args) -> int:
    from ..review.collect import collect_pairs
    from ..review.create import check_study_output, refuse_replacing_answers
    from ..review.study import check_seed, create_study, parse_tasks
    from . import emit, progress

    tasks = parse_tasks(args.tasks)
    if args.n_per_task is not None and args.n_per_task < 1:
        raise UserError("--n-per-task must be at least 1")
    if args.seed is not None:
        check_seed(args.seed)
    check_study_output(args.out, args.overwrite)
    refuse_replacing_answers(args.out)  # before reading any record
    if args.reviewer_copy:
        if os.path.abspath(args.reviewer_copy) == os.path.abspath(args.out):
            raise UserError("--reviewer-copy must be another file than --out")
        check_study_output(args.reviewer_copy, args.overwrite, "reviewer copy")
        refuse_replacing_answers(args.reviewer_copy, "reviewer copy")
    methods = [m.strip().lower() for m in args.methods.split(",") if m.strip()] if args.methods else None
    for d in args.source_dir:
        if not os.path.isdir(d):
            raise UserError(f"--source-dir {d}: no such folder")
    pairs, warnings = collect_pairs(args.inputs, args.source_dir, methods, args.successful_only)
    progress(f"read {len(pairs)} adversarial examples and their originals")
    if "B" in tasks and tasks[-1] != "B":
        warnings.append("task B tells reviewers that one trace was altered; tasks after it are no longer blind "
                        "to that")
    for w in warnings:
        progress(f"warning: {w}")
    params = {"inputs": [os.path.abspath(p) for p in args.inputs], "successful_only": args.successful_only,
              "methods_filter": methods, "command": "review create"}
    with create_study(args.out, pairs, tasks, seed=args.seed, n_per_task=args.n_per_task, title=args.title,
                      ask_confidence=not args.no_confidence, params=params, overwrite=args.overwrite,
                      reviewer_copy=args.reviewer_copy) as st:
        meta = st.meta
        for w in meta.get("warnings", []):
            progress(f"warning: {w}")
        counts = meta["params"]["items_per_task"]
        seed = int(meta["seed"])
        doc = {"study": os.path.abspath(args.out), "study_id": st.study_id, "seed": seed, "tasks": tasks,
               "items": st.n_items(), "items_per_task": counts, "pairs": len(pairs),
               "pairs_used": meta["params"].get("n_pairs_used"),
               "methods": sorted({p.method for p in pairs}),
               "pairs_per_method": {m: sum(1 for p in pairs if p.method == m)
                                    for m in sorted({p.method for p in pairs})},
               "warnings": warnings + meta.get("warnings", []),
               "reviewer_copy": os.path.abspath(args.reviewer_copy) if args.reviewer_copy else None}
    text = (f"wrote {args.out}: {doc['items']} items ({', '.join(f'{t} {n}' for t, n in counts.items())}) "
            f"from {doc['pairs_used']} of {len(pairs)} pairs "
            f"({', '.join(f'{m.upper()} {n}' for m, n in doc['pairs_per_method'].items())}), "
            f"seed {seed} (kept in the key file)\n"
            + (f"reviewer copy without the answer key: {args.reviewer_copy}\nreviewers open it with: "
               f"{invocation()} review open {args.reviewer_copy}" if args.reviewer_copy else
               f"{args.out} holds the answer key: never hand it to reviewers; write their copy without it with: "
               f"{invocation()} review copy {args.out} COPY.sqlite"))
    emit(args, doc, text)
    return 0


@_damaged_is_user_error
def cmd_copy(args) -> int:
    from ..review.study import open_study, write_reviewer_copy
    from . import emit

    write_reviewer_copy(args.study, args.out, overwrite=args.overwrite, keep_answers=args.keep_answers)
    with open_study(args.out) as st:
        doc = {"study": os.path.abspath(args.study), "out": os.path.abspath(args.out), "study_id": st.study_id,
               "items": st.n_items(), "has_key": st.has_key, "sessions": len(st.sessions())}
    emit(args, doc, f"wrote {args.out}: reviewer copy of {args.study} without the answer key ({doc['items']} items"
                    + (f", {doc['sessions']} sessions kept" if args.keep_answers else "") + ")"
                    f"\nreviewers open it with: {invocation()} review open {args.out}")
    return 0


@_damaged_is_user_error
def cmd_merge(args) -> int:
    from ..review.study import merge_studies
    from . import emit, progress

    res = merge_studies(args.out, args.inputs, overwrite=args.overwrite)
    for w in res.get("warnings", []):
        progress(f"warning: {w}")
    text = (f"wrote {args.out}: {res['sessions']} sessions"
            + (f" ({res['sessions_unfinished']} not finished)" if res.get("sessions_unfinished") else "")
            + f", {res['answers']} answers "
            f"({res['answers_added']} added, {res['answers_duplicate']} already present"
            + (f", {res['answers_replaced']} replaced by later versions" if res["answers_replaced"] else "")
            + (f", {res['answers_outdated']} older versions ignored" if res.get("answers_outdated") else "")
            + (f", {res['answers_rejected_locked']} refused: session locked" if res["answers_rejected_locked"] else "")
            + ")")
    emit(args, {**res, "out": os.path.abspath(args.out)}, text)
    return 0


def _clustered_text(c: dict | None) -> str:
    """A pooled row's item-clustered interval and p (engine.review.stats.clustered_share)."""
    if not c:
        return ""
    if c["ci95"][0] is None:
        return f"; items clustered: – ({c.get('note', 'undefined')})"
    return (f"; items clustered: [95 % CI {100 * c['ci95'][0]:.1f}–{100 * c['ci95'][1]:.1f}], "
            f"p = {c['p_value']:.3g}")


def _report_text(stats: dict, tasks: list[str] | None = None) -> str:
    lines = [f"{stats['n_answers']} answers from {len(stats['reviewers'])} reviewer(s): "
             + (", ".join(stats["reviewers"]) or "none")]
    for title, block, fmt in (
            ("task B (altered trace found)", stats["task_b"],
             lambda d: f"{d['correct']}/{d['n']} = {100 * d['accuracy']:.1f} % "
                       f"[95 % CI {100 * d['ci95'][0]:.1f}–{100 * d['ci95'][1]:.1f}], p = {d['p_value']:.3g}"
                       + _clustered_text(d.get("items_clustered"))),
            ("task A (judged same)", stats["task_a"],
             lambda d: f"{d['same']}/{d['n']} = {100 * d['share_same']:.1f} %"),
            ("task C (correct: originals, adversarial; adversarial labelled as the original class)",
             stats["task_c"],
             lambda d: ((f"originals {d['original']['correct']}/{d['original']['n']}, " if d["original"]["n"] else "")
                        + f"adversarial {d['adversarial']['correct']}/{d['adversarial']['n']}, "
                        f"original class {d['adversarial_follows_original']['k']}/"
                        f"{d['adversarial_follows_original']['n']}"))):
        if not block.get("pooled"):
            if title[5] in (tasks or []):
                lines.append(f"{title.split(' (')[0]}: no answers yet")
            continue
        lines.append(title + ":")
        rows = [(who, per) for who, per in block["by_reviewer"].items()]
        if len(rows) > 1:
            rows.append(("pooled", block["pooled"]))
        for who, per in rows:
            for m, d in per.items():
                if d.get("n", 1) == 0:
                    continue
                lines.append(f"  {who:16s} {m.upper():4s} {fmt(d)}")
    for t, e in stats["agreement"].items():
        k = f"– ({e.get('note', 'undefined')})" if e["kappa"] is None else f"{e['kappa']:.3f}"
        some = e.get("n_items_any", e["n_items"])
        lines.append(f"agreement task {t}: {e['statistic']} kappa {k} over {e['n_items']} items"
                     + (f" (of {some} answered by any reviewer: only items every reviewer answered count)"
                        if some > e["n_items"] else ""))
    if len(stats["reviewers"]) == 1:
        lines.append("agreement: not computed (needs answers from two or more reviewers)")
    lines += [f"warning: {w}" for w in stats.get("warnings", [])]
    return "\n".join(lines)


@_damaged_is_user_error
def cmd_report(args) -> int:
    from ..review.report import check_report_output, write_csv, write_html, write_pdf
    from ..review.stats import compute
    from ..review.study import open_study
    from . import emit, progress

    outputs = [(opt, getattr(args, opt)) for opt in ("csv", "html", "pdf") if getattr(args, opt)]
    paths = [path for _, path in outputs]
    if len({os.path.abspath(p) for p in paths}) != len(paths):
        raise UserError("--csv, --html and --pdf must be different files")
    for kind, path in outputs:  # check every output before any work
        if os.path.exists(path) and os.path.exists(args.study) and os.path.samefile(path, args.study):
            raise UserError(f"{path} is the study file itself")
        check_report_output(path, kind, args.overwrite)
    with open_study(args.study) as st:
        rows = st.answers()
        stats = compute(rows, st.sessions(), st.n_items())
        written = {}
        if args.csv:
            write_csv(st, args.csv, overwrite=args.overwrite)
            written["csv"] = os.path.abspath(args.csv)
        if args.html:
            progress("writing HTML report ...")
            write_html(st, args.html, stats, overwrite=args.overwrite)
            written["html"] = os.path.abspath(args.html)
        if args.pdf:
            progress("writing PDF report ...")
            write_pdf(st, args.pdf, stats, overwrite=args.overwrite)
            written["pdf"] = os.path.abspath(args.pdf)
        meta = st.meta
        try:
            seed = int(meta.get("seed", 0))
        except ValueError:
            seed = None
        doc = {"study": os.path.abspath(args.study), "study_id": st.study_id, "title": st.title,
               "seed": seed, "tasks": st.tasks, "items": st.n_items(),
               "sessions": st.sessions(), **stats, "written": written}
    text = _report_text(stats, doc["tasks"]) + "".join(f"\nwrote {v}" for v in written.values())
    emit(args, doc, text)
    return 0


def cmd_open(args) -> int:
    """Reached only when the GUI entry point did not take `review open` (main.py hands it to
    gui.reviewer.run_review_open); the engine never imports the GUI."""
    raise UserError(f"review open needs the GUI (PySide6): start it as `{invocation()} review open STUDY`")
