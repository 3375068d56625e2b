"""`certify`: randomised smoothing certificates (engine.certify) for records or a dataset split.

`certify RECORD... --sigma MV`: per record the smoothed prediction or an abstention, the certified
L2 radius (mV) and its L∞ bound on the record (radius/√d). `certify DATASET --sigma MV --split S`
(the one argument is a folder): every labelled record of the split, then certified accuracy against
radius as a table and, with --plot, a PNG; with --out a JSONL results file that a rerun resumes
(engine.certify_eval). Outputs are checked before any work.
"""

from __future__ import annotations

import os

from ..attacks.params import SIGMA_MIN_MV
from ..errors import UserError
from .core import finish_model_command
from .options import SPLIT_HELP, add_batch_size, add_limit, add_ranged, add_seed


def register(sub) -> None:
    p = sub.add_parser(
        "certify", help="certified L2 radius by randomised smoothing (records or a dataset split)",
        description="The smoothed classifier of Cohen, Rosenfeld & Kolter (ICML 2019): Gaussian noise of sd σ "
                    "(mV) on the model input; n0 draws choose the class, n draws bound its probability "
                    "(one-sided Clopper-Pearson at level 1-alpha); the certified L2 radius is σ·Φ⁻¹(pA_lower), "
                    "abstaining when pA_lower < 0.5. The L∞ bound radius/√d (d record samples the model sees) "
                    "is set against the paper's ε = 0.01 mV. One folder argument: dataset mode (certified "
                    "accuracy against radius).")
    p.add_argument("inputs", nargs="+", metavar="RECORD_OR_DATASET",
                   help="record files, or one dataset folder")
    add_ranged(p, "--sigma", float, SIGMA_MIN_MV, 100.0, None, "noise sd (required)", unit="mV")
    add_ranged(p, "--n0", int, 1, 10_000_000, 100, "selection draws")
    add_ranged(p, "--n", int, 1, 100_000_000, 10_000, "estimation draws")
    add_ranged(p, "--alpha", float, 0.0, 0.25, 0.001, "failure probability of each certificate", lo_open=True)
    add_batch_size(p, 1000, "noisy copies per forward pass", hi=100_000)
    add_seed(p, "noise seed")
    p.add_argument("--lead", default=None, help="lead name (default: first ECG lead)")
    p.add_argument("--split", default=None, help="dataset mode: " + SPLIT_HELP)
    p.add_argument("--labels", default=None, help="dataset mode: label file (default: REFERENCE*.csv)")
    add_limit(p, "dataset mode: only the first N labelled records of the split")
    p.add_argument("--plot", default=None, help="dataset mode: PNG of certified accuracy against radius")
    p.add_argument("--out", default=None,
                   help="dataset mode: JSONL results file, one line per record as it finishes; rerunning the "
                        "same command resumes (default: none, nothing kept)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing --plot, and start afresh an --out file of another run")
    finish_model_command(p, cmd_certify)


def _params(args):
    from ..certify import SmoothParams

    if args.sigma is None:
        raise UserError("--sigma is required (noise sd in mV, e.g. --sigma 0.1)")
    return SmoothParams(sigma_mv=args.sigma, n0=args.n0, n=args.n, alpha=args.alpha,
                        batch_size=args.batch_size, seed=args.seed).check()


def cmd_certify(args) -> int:
    params = _params(args)
    dirs = [p for p in args.inputs if os.path.isdir(p)]
    if dirs and len(args.inputs) > 1:
        raise UserError(f"give either record files or one dataset folder, not both ({dirs[0]} is a folder)")
    if dirs:
        return _cmd_dataset(args, params)
    for opt in ("split", "labels", "limit", "plot", "out"):
        if getattr(args, opt) is not None:
            raise UserError(f"--{opt} applies to a dataset folder, not to record files")
    return _cmd_records(args, params)


def _line(name: str, c) -> str:
    if c.abstained:
        return (f"{name}: abstain (top {c.top}, p̂ {c.p_hat:.4f}, pA_lower {c.p_lower:.4f} < 0.5)")
    paper = "certified" if c.certified_at() else "not certified"
    return (f"{name}: {c.pred}  L2 radius {c.radius_mv:.4f} mV, L∞ {c.linf_mv:.6f} mV over {c.d} samples "
            f"({paper} at the paper's ε 0.01 mV)  p̂ {c.p_hat:.4f}, pA_lower {c.p_lower:.4f}")


def _cmd_records(args, params) -> int:
    from ..workbench import jobs
    from . import emit, job_progress
    from .core import open_records, quiet

    warnings: list[str] = []
    recs = open_records(args.inputs, args.lead, warnings)  # every record read and checked before the model loads
    clf, _ = jobs.load_model(args.model, args.device)(quiet, lambda: False)
    results = []
    for rec in recs:
        c = jobs.certify(clf, rec, params)(job_progress(), lambda: False)
        results.append({"record": rec.path, **c.to_dict(), "resampled": rec.fs != clf.fs})
    doc = {"model": clf.name, "params": _param_doc(params), "results": results,
           **({"warnings": warnings} if warnings else {})}
    from ..certify import Certificate

    text = "\n".join(_line(r["record"], Certificate(**{k: r[k] for k in Certificate.__dataclass_fields__}))
                     for r in results)
    emit(args, doc, text)
    return 0


def _param_doc(params) -> dict:
    from dataclasses import asdict

    return {**asdict(params), "paper_eps_mv": 0.01}


def _cmd_dataset(args, params) -> int:
    from ..datasets import open_dataset
    from ..models.checkpoint import resolve_model
    from ..robustness import check_plot_path
    from ..workbench import jobs
    from . import emit, run_job

    from ..outputs import check_output

    if args.plot:
        check_plot_path(args.plot, args.overwrite)  # before any work
    if args.out:
        if args.plot and os.path.abspath(args.plot) == os.path.abspath(args.out):
            raise UserError("--plot and --out name the same file")
        check_output(args.out, overwrite=True, what="results file")  # resumed when it matches
        if not args.overwrite:  # a foreign or damaged file is refused before the records are read
            from ..certify_eval import FORMAT
            from ..results_file import read_jsonl_results

            read_jsonl_results(args.out, FORMAT)
    ds = open_dataset(args.inputs[0], args.labels)
    clf = resolve_model(args.model, args.device)
    split = args.split or "all"
    doc = run_job(jobs.certify_dataset(ds, split, clf, params, limit=args.limit, lead=args.lead,
                                       results=args.out, restart=args.overwrite))
    doc["params"] = _param_doc(params)
    from ..certify import format_table, plot_certified

    title = (f"Certified accuracy, σ {params.sigma_mv:g} mV, n {params.n}, α {params.alpha:g} — model {clf.name}, "
             f"{os.path.basename(os.path.normpath(args.inputs[0]))} {os.path.basename(split)}")
    doc["plot"] = plot_certified(doc, args.plot, title, args.overwrite) if args.plot else None
    s = doc
    text = (f"{title}\n{format_table(doc, doc.get('d_median'))}\n"
            f"abstained {s['abstention']['k']}/{s['n']}; base model clean accuracy "
            f"{100 * (s['clean_accuracy']['rate'] or 0):.1f}%; certified correct at the paper's ε 0.01 mV (L∞): "
            f"{s['certified_at_paper_eps']['k']}/{s['n']}" + (f"\nplot: {doc['plot']}" if doc["plot"] else "")
            + (f"\nresults: {doc['results_file']} ({doc['done_before']} records done before this run)"
               if doc.get("results_file") else ""))
    emit(args, doc, text)
    return 0
