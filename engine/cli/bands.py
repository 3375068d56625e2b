"""Band commands: `band-eval` (bands of every successful example of a split, resumable), and the
`band --band-style both` report (the two band procedures side by side for one record).

Same conventions as the other commands: `--json` prints one JSON document on stdout, progress goes
to stderr, bad input exits 2 with one `error: ...` line; outputs are checked before any work.
"""

from __future__ import annotations

import os
import re

from ..errors import UserError
from ..intervals import format_rate
from .core import finish_model_command
from .options import add_attack_batch, add_dataset_args, add_ranged, add_results_file


def register(sub) -> None:
    from .attacks import add_attack_args

    p = sub.add_parser(
        "band-eval", help="bands of every successful attack example of a split (resumable JSONL, table, plot)",
        description="Attack every labelled record of a split (SAP by default) and, for every example that fooled "
                    "a correctly classified record, expand its band with the noise, concatenation and uniform "
                    "procedures, in the workbench and/or the paper-code style. Reports the distribution of the "
                    "three fractions, the band centre's logit margin and how often noise yields more adversarial "
                    "examples than the example itself (the paper: 87.6 %), with n and 95 % Clopper-Pearson "
                    "intervals. One JSONL line per record is appended as it finishes; rerunning the same command "
                    "resumes.")
    add_dataset_args(p)
    add_attack_args(p)
    p.set_defaults(method="sap")
    add_ranged(p, "--trials", int, 1, 100_000, 1000, "noise trials per example")
    add_ranged(p, "--uniform-trials", int, 1, 100_000, None,
               "uniform draws per example (default: --trials; the paper's script checks 100)")
    add_ranged(p, "--noise-sd", float, 0.0, 1.0, 0.005, "noise sd", unit="mV")
    add_ranged(p, "--max-pairs", int, 0, 100_000, 200, "concatenation: at most this many member pairs")
    add_ranged(p, "--max-splices", int, 0, 1000, 10, "concatenation: at most this many crossings per pair")
    p.add_argument("--style", default="both", choices=["workbench", "paper-code", "both"],
                   help="band procedure(s): workbench, paper-code (the authors' scripts) or both side by side "
                        "(default both)")
    add_results_file(p, "--out", "band-eval")
    p.add_argument("--plot", default=None, help="PNG file for the plot")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing --plot, and start afresh a results file that does not match this run "
                        "(a matching one is always resumed)")
    add_attack_batch(p, 8)
    finish_model_command(p, cmd_band_eval)


def _default_out(dataset: str, split: str, model: str, method: str, eps: float) -> str:
    def safe(s: str) -> str:
        return re.sub(r"[^-\w.]+", "_", s).strip("_") or "x"

    split_name = os.path.splitext(os.path.basename(split))[0]
    return "_".join(["band-eval", safe(os.path.basename(os.path.normpath(dataset))), safe(split_name),
                     safe(os.path.splitext(os.path.basename(model))[0]), method, f"eps{eps:g}"]) + ".jsonl"


def cmd_band_eval(args) -> int:
    from ..band import BandParams
    from ..band_eval import check_plot_path, format_text, parse_styles, plot_band_eval, read_rows, run_band_eval
    from ..models.checkpoint import resolve_model
    from ..outputs import check_output
    from . import emit, progress
    from .attacks import _dataset_names, _params

    styles = parse_styles(args.style)
    if args.batch_size < 1:
        raise UserError("--batch-size must be at least 1")
    if args.plot:
        check_plot_path(args.plot, args.overwrite)  # before any work
    clf = resolve_model(args.model, args.device)
    params = _params(args, clf)
    out = args.out or _default_out(args.dataset, args.split, args.model, args.method, params.eps_mv)
    if args.plot and os.path.abspath(args.plot) == os.path.abspath(out):
        raise UserError("--plot and --out name the same file")
    check_output(out, overwrite=True, what="results file")
    ds, names = _dataset_names(args, progress)
    band = BandParams(trials=args.trials, uniform_trials=args.uniform_trials, noise_sd_mv=args.noise_sd,
                      max_pairs=args.max_pairs, max_splices_per_pair=args.max_splices, seed=params.seed)
    summary = run_band_eval(clf, ds, names, method=args.method, params=params, band=band, styles=styles,
                            results=out, batch_size=args.batch_size, lead=args.lead, split=args.split,
                            restart=args.overwrite, progress=progress)
    doc = {"model": clf.name, "method": args.method, "eps_mv": params.eps_mv, "split": args.split,
           "band": {"trials": band.trials, "uniform_trials": band.uniform_trials or band.trials,
                    "noise_sd_mv": band.noise_sd_mv, "max_pairs": band.max_pairs,
                    "max_splices": band.max_splices_per_pair, "seed": band.seed},
           **summary, "results_file": os.path.abspath(out)}
    title = (f"Bands of {args.method.upper()} examples, ε {params.eps_mv:g} mV, {band.trials} trials — model "
             f"{clf.name}, {os.path.basename(os.path.normpath(args.dataset))} {os.path.basename(args.split)}")
    doc["plot"] = plot_band_eval(doc, read_rows(out, names), args.plot, title=title, overwrite=args.overwrite) \
        if args.plot else None
    text = (f"{args.method.upper()} ε {params.eps_mv:g} mV on {args.dataset} ({args.split}), model {clf.name}; "
            f"{band.trials} noise trials per example\n" + format_text(doc)
            + (f"\n  {doc['pending']} records pending" if doc.get("pending") else "")
            + f"\nresults: {doc['results_file']}" + (f"\nplot: {doc['plot']}" if doc["plot"] else ""))
    emit(args, doc, text)
    return 0


# -- band --band-style both ------------------------------------------------------------------------

def band_both_text(record: str, orig: str, adv: str, method: str, eps: float, reports: dict) -> str:
    """The two band procedures' results for one example, side by side."""
    def pct(f):
        return "-" if f is None else f"{100 * f:.1f}%"

    styles = list(reports)
    w = 40
    lines = [f"{record}: {orig} -> {adv} ({method}, ε {eps:g} mV)", f"{'':10s}" + "".join(f"{s:>{w}s}" for s in styles)]

    def row(label, cell):
        lines.append(f"{label:10s}" + "".join(f"{cell(reports[s]):>{w}s}" for s in styles))

    row("noise", lambda b: format_rate(b['noise']['adversarial'], b['noise']['trials']))
    row("concat", lambda b: f"{b['concat']['adversarial']}/{b['concat']['splices']} ({pct(b['concat']['fraction'])})")
    row("uniform", lambda b: format_rate(b['uniform']['adversarial'], b['uniform']['trials']))
    row("centre", lambda b: {True: "adversarial", False: "NOT adversarial", None: "no band"}[
        b["uniform"].get("centre_adversarial")]
        + ("" if b.get("centre_margin") is None else f" (margin {b['centre_margin']:+.3f})"))
    return "\n".join(lines)
