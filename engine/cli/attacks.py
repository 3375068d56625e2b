"""Attack commands: attack, band, attack-eval, robustness.

Attack options (ε and α in mV, steps, seed, ...) are generated from the declarations in
engine.attacks.registry, with the paper's defaults and their allowed ranges.
Same conventions as the core commands: `--json` prints one JSON document on stdout, progress
goes to stderr, bad input exits 2 with one `error: ...` line.
"""

from __future__ import annotations

import os
import re
import sys

from ..errors import UserError
from ..intervals import format_rate
from .core import ONE_RECORD_HELP, finish_model_command
from .core import quiet as _quiet
from .options import add_attack_batch, add_batch_size, add_dataset_args, add_ranged, add_results_file

# -- shared options -------------------------------------------------------------------------------

def add_attack_args(p, method: bool = True, eps: bool = True) -> None:
    """--method and the attack parameters, generated from engine.attacks.registry; --lead."""
    from ..attacks.registry import add_attack_args as add_declared

    add_declared(p, method=method, skip=() if eps else ("eps_mv",))
    p.add_argument("--lead", default=None, help="lead name (default: first ECG lead)")


def _params(args, clf, **override):
    """AttackParams from the options, range-checked, targets resolved against the model's classes
    (before any results file is started)."""
    from ..attacks.registry import params_from_args

    return params_from_args(args, classes=list(clf.classes), **override)


def _check_out(out: str | None, names: list[str], overwrite: bool, inputs: list[str] = ()) -> None:
    """Fail before the (long) attack when saved examples would collide or overwrite files (never
    one of the `inputs` records, not even with `overwrite`)."""
    if not out:
        return
    if os.path.exists(out) and not os.path.isdir(out):
        raise UserError(f"--out {out} exists and is not a folder")
    from ..export import check_records_free

    seen = set()
    for n in names:
        if n in seen:
            raise UserError(f"two records are named {n}; their examples would overwrite each other in {out}")
        seen.add(n)
        check_records_free([os.path.join(out, n)], overwrite=True, inputs=inputs)
        if not overwrite and (os.path.exists(os.path.join(out, n + ".hea"))
                              or os.path.exists(os.path.join(out, n + ".dat"))):
            raise UserError(f"{os.path.join(out, n)}.hea already exists (use --overwrite to replace it)")


# -- registration ---------------------------------------------------------------------------------

def register(sub) -> None:
    from ..attacks.registry import ATTACKS, PAPER_METHODS

    p = sub.add_parser("attack", help=f"attack records ({', '.join(ATTACKS)}; see --method) and optionally save "
                                      "the examples")
    p.add_argument("records", nargs="+")
    add_attack_args(p)
    p.add_argument("--out", default=None, help="folder to write <record>_<method> WFDB examples into")
    p.add_argument("--overwrite", action="store_true")
    add_attack_batch(p)
    finish_model_command(p, cmd_attack)

    p = sub.add_parser("band", help="expand the band of adversarial examples around one record's example")
    p.add_argument("record", nargs="+", help=ONE_RECORD_HELP)
    add_attack_args(p)
    add_ranged(p, "--trials", int, 1, 100_000, 1000, "noise trials (and uniform draws)")
    add_ranged(p, "--noise-sd", float, 0.0, 1.0, 0.005, "noise sd", unit="mV")
    add_ranged(p, "--max-pairs", int, 0, 100_000, 200, "concatenation: at most this many member pairs, drawn at random")
    add_ranged(p, "--max-splices", int, 0, 1000, 10, "concatenation: at most this many crossings spliced per pair")
    add_batch_size(p, None, "band trials classified at once (default 32 on CPU, where larger batches only cost "
                            "cache, 250 on GPUs)", hi=10_000)
    p.add_argument("--band-style", default="workbench", choices=["workbench", "paper-code", "both"],
                   help="workbench (default): only the noise is smoothed, δ kept; paper-code: the authors' "
                        "scripts (δ + noise smoothed together, survivors keep the adversarial class); both: "
                        "the two side by side (not with --out)")
    add_ranged(p, "--members", int, 0, 100_000, 0, "also save the first K band members (with --out)")
    p.add_argument("--out", default=None, help="folder for the band (min/max) record and members")
    p.add_argument("--overwrite", action="store_true")
    finish_model_command(p, cmd_band)

    p = sub.add_parser(
        "attack-eval", help="attack every record of a dataset split (resumable; torchrun-able)",
        description="Attack every labelled record of a split and report the paper's success rate (among "
                    "correctly classified records, the share whose prediction changed; targeted: reached the "
                    "target), per true class, and for misclassified records separately. Each finished batch is "
                    "appended to the JSONL results file (header line = model, method, parameters); rerunning "
                    "the same command resumes where it stopped. Several processes: `torchrun --nproc_per_node N "
                    "main.py attack-eval ...` (gloo on CPU, NCCL on GPUs): each rank attacks a strided shard into "
                    "<results>.rank<R>.part and rank 0 merges them into the results file and prints the summary.")
    add_dataset_args(p)
    add_attack_args(p)
    add_results_file(p, "--results", "attack-eval")
    p.add_argument("--out", default=None, help="folder to save every adversarial example in")
    p.add_argument("--overwrite", action="store_true",
                   help="replace existing example files in --out, and start afresh a results file that does "
                        "not match this run (a matching one is always resumed)")
    add_attack_batch(p)
    finish_model_command(p, cmd_attack_eval)

    p = sub.add_parser("robustness", help="success rate against a list of ε values (table + PNG plot)")
    add_dataset_args(p)
    p.add_argument("--eps", required=True, help="comma-separated ε values in mV, e.g. 0.002,0.005,0.01,0.02")
    paper = ",".join(PAPER_METHODS)
    p.add_argument("--method", default=paper,
                   help=f"comma-separated methods among {', '.join(ATTACKS)} (default: the paper's {paper})")
    add_attack_args(p, method=False, eps=False)
    add_ranged(p, "--alpha-ratio", float, 0.0, 10.0, 0.1, "the α rule: step α = ε × ratio for every ε (paper 0.001/0.01 "
               "= 0.1) unless --alpha A mV fixes one α for every ε; recorded in the output as alpha_rule "
               "ratio:R or fixed:A", lo_open=True)
    p.add_argument("--plot", default=None, help="PNG file for the success-vs-ε plot")
    p.add_argument("--results-dir", default=None,
                   help="keep one JSONL results file per (method, ε) here; a rerun resumes (default: none kept)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing --plot file, and start afresh cell results files that do not match")
    add_attack_batch(p)
    finish_model_command(p, cmd_robustness)


# -- commands -------------------------------------------------------------------------------------

def _fmt_probs(probs: dict) -> str:
    return " ".join(f"{c}={v:.2f}" for c, v in probs.items())


def _progress(say=None):
    """A job's progress printer on stderr (at most one line a second, plus the last)."""
    from . import job_progress

    return job_progress(every_s=1.0, say=say)


def cmd_attack(args) -> int:
    from ..attack_eval import params_doc
    from ..workbench import jobs
    from . import emit
    from .core import open_records

    warnings: list[str] = []
    recs = open_records(args.records, args.lead, warnings)
    if args.out:
        from ..export import adversarial_base

        _check_out(args.out, [os.path.basename(adversarial_base(args.out, r.name, args.method)) for r in recs],
                   args.overwrite, inputs=[r.path for r in recs])
    if args.out:
        from ..outputs import check_output_dir

        check_output_dir(args.out, "--out folder")  # writable before the attack runs
    clf, _ = jobs.load_model(args.model, args.device)(_quiet, lambda: False)
    params = _params(args, clf)
    results = jobs.attack_records(clf, recs, args.method, params, args.batch_size)(_progress(), lambda: False)
    rows = []
    for r, rec in zip(results, recs):
        out = None
        if args.out:
            out = jobs.export_adversarial(args.out, r, model=clf.name, method=args.method, params=params,
                                          source=rec.path, overwrite=args.overwrite, gain=rec.gain or 1000.0,
                                          lead=rec.lead, source_fs=rec.fs, classifier=clf)(_progress(), lambda: False)
        rows.append({**r.to_json(), "out": out})
    doc = {"model": clf.name, "method": args.method, "params": params_doc(params, args.method), "results": rows}
    if warnings:
        doc["warnings"] = warnings
    if len(rows) > 1:  # several records: the success rate with n, 95% interval and per-class rates
        from ..attack_eval import summarize

        doc["summary"] = summarize(rows, list(clf.classes))
    lines = []
    for r in rows:
        verdict = {True: "fooled", False: "not fooled", None: "n/a (already the target)"}[r["success"]]
        snr = "-" if r["snr_db"] is None else f"{r['snr_db']:.1f}"
        lines.append(f"{r['record']}: true {r['true'] or '?'}, {r['orig_pred']} -> {r['adv_pred']} {verdict}; "
                     f"Linf {r['linf_mv']:.4f} mV, L2 {r['l2_mv']:.3f} mV, SNR {snr} dB, "
                     f"smoothness {r['smoothness']:.3g}, square-wave {r['square_wave']:.2f}"
                     + (f"; saved {r['out']}" if r["out"] else ""))
    if "summary" in doc:
        lines.append(_summary_text(doc["summary"], args.method, None))
    emit(args, doc, "\n".join(lines))
    return 0


def cmd_band(args) -> int:
    from ..band import check_band_memory
    from ..workbench import jobs
    from ..workbench.attack_jobs import check_expandable
    from . import emit
    from .core import one_record, open_records

    if args.band_style == "both" and (args.out or args.members):
        raise UserError("--band-style both reports the two procedures side by side and saves nothing: "
                        "run each style separately with --out")
    if args.members and not args.out:  # it ran the whole band and saved nothing
        raise UserError(f"--members {args.members} saves band members into a folder: give --out FOLDER too")
    warnings: list[str] = []
    rec = open_records([one_record(args.record, "band")], args.lead, warnings)[0]
    if args.out:  # the folder writable, the band and every member free, before any work
        from ..export import band_bases, check_records_free
        from ..outputs import check_output_dir

        _check_out(args.out, [], args.overwrite)
        check_output_dir(args.out, "--out folder")
        k = min(args.members, args.trials + 1)  # members written: the example and at most every trial
        check_records_free(band_bases(args.out, rec.name, args.method, k), args.overwrite, inputs=[rec.path])
    clf, _ = jobs.load_model(args.model, args.device)(_quiet, lambda: False)
    params = _params(args, clf)
    check_band_memory(clf, len(rec.x_mv), rec.fs, args.trials, rec.name)  # before the attack
    res = jobs.attack_records(clf, [rec], args.method, params)(_progress(), lambda: False)[0]
    check_expandable(res, params, args.method)
    options = dict(max_pairs=args.max_pairs, max_splices_per_pair=args.max_splices, batch_size=args.batch_size or 0)
    if args.band_style == "both":  # the two procedures side by side
        from .bands import band_both_text

        both = jobs.band_styles(clf, res, params, args.trials, args.noise_sd, params.seed,
                                **options)(_progress(), lambda: False)
        reports = {st: v["report"] for st, v in both.items()}
        doc = {"record": res.record, "model": clf.name, "method": args.method, "orig_pred": res.orig_pred,
               "adv_pred": res.adv_pred, "style": "both", "styles": reports, "out": None, "members_out": []}
        if warnings:
            doc["warnings"] = warnings
        emit(args, doc, band_both_text(res.record, res.orig_pred, res.adv_pred, args.method, params.eps_mv,
                                       reports))
        return 0
    band = jobs.band(clf, res, params, args.trials, args.noise_sd, params.seed, style=args.band_style,
                     **options)(_progress(), lambda: False)
    out = None
    members_out: list[str] = []
    if args.out:
        w = jobs.export_band(args.out, band, model=clf.name, method=args.method, params=params, source=rec.path,
                             members=args.members, overwrite=args.overwrite, gain=rec.gain or 1000.0,
                             lead=rec.lead, source_fs=rec.fs, classifier=clf)(_progress(), lambda: False)
        out, members_out = w["band"], w["members"]
    doc = {"record": res.record, "model": clf.name, "method": args.method, "orig_pred": res.orig_pred,
           "adv_pred": res.adv_pred, "style": band.style, "noise": band.noise, "concat": band.concat,
           "uniform": band.uniform, "out": out, "members_out": members_out}
    c, u = band.concat, band.uniform

    def pct(f):
        return "-" if f is None else f"{100 * f:.1f}%"

    centre = {True: "; band centre adversarial", False: "; band centre NOT adversarial"}.get(
        u.get("centre_adversarial"), "")
    text = (f"{res.record}: {res.orig_pred} -> {res.adv_pred} ({args.method}, ε {params.eps_mv:g} mV, "
            f"{band.style} band)\n"
            f"  noise:   stayed adversarial {format_rate(band.noise['adversarial'], band.noise['trials'])}\n"
            f"  concat:  {c['adversarial']}/{c['splices']} splices over {c['pairs']} pairs adversarial "
            f"({pct(c['fraction'])})\n"
            f"  uniform: adversarial {format_rate(u['adversarial'], u['trials'])}{centre}"
            + (f"\n  {u['note']}" if u.get("note") else "")
            + (f"\n  saved {out}" if out else ""))
    if warnings:
        doc["warnings"] = warnings
    emit(args, doc, text)
    return 0


def _dataset_names(args, progress) -> tuple:
    """(dataset, labelled record names of the split): the Workbench's one record selection."""
    from ..datasets import open_dataset
    from ..workbench.selection import split_records

    ds = open_dataset(args.dataset, args.labels)
    return ds, split_records(ds, args.split, args.limit, warn=progress, need_labels=True)


def default_results_name(dataset: str, split: str, model: str, method: str, eps: float,
                         target: str | None) -> str:
    def safe(s: str) -> str:
        return re.sub(r"[^-\w.]+", "_", s).strip("_") or "x"

    split_name = os.path.splitext(os.path.basename(split))[0] if os.path.sep in split or split.endswith(".txt") \
        else split
    parts = ["attack-eval", safe(os.path.basename(os.path.normpath(dataset))), safe(split_name),
             safe(os.path.splitext(os.path.basename(model))[0]), method, f"eps{eps:g}"]
    if target == "paper":
        parts.append("paper-protocol")
    elif target:
        parts.append("target" + {"~": "noisy"}.get(target, target))
    return "_".join(parts) + ".jsonl"


def _summary_text(s: dict, method: str, results: str) -> str:
    mis = s["misclassified"]
    per = "\n".join(f"    {c}: {format_rate(v['success'], v['attacked'])}" for c, v in s["per_class"].items())
    f = lambda v, spec: "-" if v is None else format(v, spec)  # noqa: E731
    return (f"{method.upper()} on {s['n']} records: success {format_rate(s['success'], s['attacked'])} "
            f"of {s['correct']} correctly classified\n"
            f"  per true class:\n{per}\n"
            f"  misclassified to begin with: {mis['n']}"
            + (f" (prediction flipped for {format_rate(mis['success'], mis['attacked'])})" if mis["attacked"] else "")
            + "\n"
            f"  mean Linf {f(s['mean_linf_mv'], '.4f')} mV, L2 {f(s['mean_l2_mv'], '.3f')} mV, "
            f"SNR {f(s['mean_snr_db'], '.1f')} dB, smoothness {f(s['mean_smoothness'], '.3g')}, "
            f"square-wave {f(s['mean_square_wave'], '.3f')}"
            + (f"\n  {s['errors']} records could not be read" if s["errors"] else "")
            + (f"\n  {s['unlabelled']} records without a label (not counted)" if s.get("unlabelled") else "")
            + (f"\n  results: {results}" if results else ""))


def _rank_printer(dist):
    """Progress lines on stderr, prefixed with the rank under torchrun."""
    tag = f"[rank {dist.rank}] " if dist.active else ""

    def say(msg: str) -> None:
        sys.stderr.write(tag + msg + "\n")
        sys.stderr.flush()

    return say


def cmd_attack_eval(args) -> int:
    from ..attack_eval import dist_from_env
    from ..datasets import open_dataset
    from ..device import pick_device
    from ..attack_eval import params_doc
    from ..workbench import jobs
    from . import emit

    if args.out and os.path.exists(args.out) and not os.path.isdir(args.out):
        raise UserError(f"--out {args.out} exists and is not a folder")
    dist, device = dist_from_env(pick_device(args.device))
    prog = _progress(_rank_printer(dist))
    try:
        clf, _ = jobs.load_model(args.model, device)(_quiet, lambda: False)
        params = _params(args, clf)
        ds = open_dataset(args.dataset, args.labels)
        results = args.results or default_results_name(args.dataset, args.split, args.model, args.method,
                                                        params.eps_mv,
                                                        "paper" if params.target_map else params.target)
        summary = jobs.attack_eval(ds, args.split, clf, args.method, params, args.limit, results,
                                   batch_size=args.batch_size, out_dir=args.out, lead=args.lead,
                                   overwrite=args.overwrite, restart=args.overwrite, dist=dist)(prog, lambda: False)
    finally:
        dist.close()
    if summary is None:  # ranks other than 0: rank 0 prints the merged result
        return 0
    doc = {**summary, "params": params_doc(params, args.method), "results_file": os.path.abspath(results),
           "world_size": dist.world}
    emit(args, doc, _summary_text(summary, args.method, os.path.abspath(results)))
    return 0


def cmd_robustness(args) -> int:
    from ..attack_eval import dist_from_env
    from ..attacks.params import ALPHA, EPS
    from ..datasets import open_dataset
    from ..device import pick_device
    from ..attack_eval import params_doc
    from ..robustness import format_table, parse_eps_list, parse_methods, plot_robustness
    from ..workbench import jobs
    from . import emit

    eps_list = [EPS.check(e, "--eps") for e in parse_eps_list(args.eps)]  # each within ε's declared range
    if args.alpha is None:  # α follows ε: each cell's α must be in range too
        for e in eps_list:
            ALPHA.check(e * args.alpha_ratio, f"step α = ε {e:g} mV × --alpha-ratio {args.alpha_ratio:g}")
    methods = parse_methods(args.method)
    if args.plot:  # a .png that may be written, checked before the sweep
        from ..robustness import check_plot_path

        check_plot_path(args.plot, args.overwrite)
    dist, device = dist_from_env(pick_device(args.device))
    prog = _progress(_rank_printer(dist))
    try:
        clf, _ = jobs.load_model(args.model, device)(_quiet, lambda: False)
        base = _params(args, clf, eps_mv=eps_list[0])
        ds = open_dataset(args.dataset, args.labels)
        doc = jobs.robustness(ds, args.split, clf, methods, base, eps_list, args.limit,
                              alpha_ratio=args.alpha_ratio, alpha_mv=args.alpha, results_dir=args.results_dir,
                              batch_size=args.batch_size, lead=args.lead, dist=dist,
                              restart=args.overwrite)(prog, lambda: False)
    finally:
        dist.close()
    if doc is None:  # ranks other than 0: rank 0 prints the merged table
        return 0
    doc["plot"] = plot_robustness(doc, args.plot, overwrite=args.overwrite) if args.plot else None
    p = params_doc(base)
    doc["params"] = {k: v for k, v in p.items() if k not in ("eps_mv", "alpha_mv")}
    doc["world_size"] = dist.world
    emit(args, doc, format_table(doc) + (f"\nplot: {doc['plot']}" if doc["plot"] else ""))
    return 0
