"""`smooth-attack`: the adaptive attack on a smoothed classifier (engine.smooth_attack).

`smooth-attack DATASET --split S --sigma MV --eps 0.005,0.01,0.02`: every labelled record of the
split is classified by the smoothed classifier (PREDICT, with abstention) and certified (CERTIFY);
each correct record is attacked with EOT-PGD through the noise at every ε and judged by PREDICT
again. Per ε: certified accuracy at the L2 radius ε·√d (lower bound) beside the empirical robust
accuracy (upper bound) and the attack success, with n and 95 % intervals. With --results a JSONL
file keeps one line per record; rerunning the same command resumes. Outputs checked before work.
"""

from __future__ import annotations

import os

from ..errors import UserError
from .core import finish_model_command
from .options import SPLIT_HELP, add_batch_size, add_limit, add_ranged

METHOD = "eot-pgd"


def register(sub) -> None:
    from ..attacks.registry import arg_type, spec

    p = sub.add_parser(
        "smooth-attack", help="attack a smoothed classifier through its noise (EOT-PGD) and set the empirical "
                              "robust accuracy against the certified one",
        description="Adaptive evaluation of randomised smoothing (Cohen et al. 2019) with EOT-PGD through the "
                    "noise (Salman et al. 2019). Success is judged against the SMOOTHED prediction (PREDICT with "
                    "abstention, n draws), not the base model: a record is robust at ε when PREDICT still returns "
                    "its label after the attack. Per ε the certified accuracy at L2 radius ε·√d (a lower bound on "
                    "the robust accuracy) is shown beside the empirical robust accuracy (an upper bound).")
    p.add_argument("dataset", help="dataset folder")
    p.add_argument("--split", default="all", help=SPLIT_HELP)
    p.add_argument("--labels", default=None, help="label file (default: REFERENCE*.csv in the folder)")
    add_limit(p)
    p.add_argument("--eps", required=True, help="comma-separated L∞ budgets ε in mV, e.g. 0.005,0.01,0.02")
    for q in spec(METHOD).params:  # the attack's declared options, except ε (a list here)
        if q.attr == "eps_mv":
            continue
        if q.kind is bool:
            p.add_argument(q.flag, dest=q.attr, action="store_true", default=None, help=q.help)
            continue
        unit = f" {q.unit}" if q.unit else ""
        extra = {"eot_sigma_mv": "; the smoothing σ too (required)",
                 "alpha_mv": f"; default ε × {_ratio():g} at each ε"}.get(q.attr, f" (default {q.default:g}{unit})")
        p.add_argument(q.flag, dest=q.attr, type=arg_type(q), default=None, metavar=q.unit.upper() or "N",
                       help=f"{q.help}; {q.range_text()}{extra}")
    add_ranged(p, "--n0", int, 1, 10_000_000, 100, "CERTIFY's selection draws")
    add_ranged(p, "--n", int, 1, 100_000_000, 1000, "PREDICT's draws (clean and after each attack) and CERTIFY's "
                                                    "estimation draws")
    add_ranged(p, "--cert-alpha", float, 0.0, 0.25, 0.001, "failure probability of PREDICT and of each certificate",
               lo_open=True)
    add_batch_size(p, 1000, "noisy copies per forward pass of PREDICT/CERTIFY", hi=100_000)
    p.add_argument("--lead", default=None, help="lead name (default: first ECG lead)")
    p.add_argument("--results", default=None,
                   help="JSONL results file, one line per record as it finishes; rerunning the same command "
                        "resumes (default: none kept)")
    p.add_argument("--overwrite", action="store_true", help="start afresh a --results file of another run")
    finish_model_command(p, cmd_smooth_attack)


def _ratio() -> float:
    from ..smooth_attack import ALPHA_RATIO

    return ALPHA_RATIO


def _alpha_text(alpha: float | None) -> str:
    return f"{alpha:g} mV" if alpha is not None else f"ε × {_ratio():g}"


def parse_args(args):
    """(SmoothParams, AttackParams, ε list, fixed α or None) from the options; UserError on bad input."""
    from ..attacks.params import AttackParams
    from ..attacks.registry import spec
    from ..certify import SmoothParams
    from ..robustness import parse_eps_list
    from ..smooth_attack import check_eps_list

    if args.eot_sigma_mv is None:
        raise UserError("--sigma is required (the smoothing noise sd in mV, e.g. --sigma 0.25)")
    eps_list = check_eps_list(parse_eps_list(args.eps))
    values = {q.attr: getattr(args, q.attr) for q in spec(METHOD).params
              if q.attr != "eps_mv" and getattr(args, q.attr, None) is not None}
    alpha = values.pop("alpha_mv", None)
    attack = AttackParams(**values)
    smooth = SmoothParams(sigma_mv=args.eot_sigma_mv, n0=args.n0, n=args.n, alpha=args.cert_alpha,
                          batch_size=args.batch_size, seed=attack.seed).check()
    return smooth, attack, eps_list, alpha


def cmd_smooth_attack(args) -> int:
    import tempfile

    from ..datasets import open_dataset
    from ..models.checkpoint import resolve_model
    from ..outputs import check_output
    from ..signals_cache import load_dataset_signals
    from ..smooth_attack import format_table, run_smooth_attack
    from ..workbench.selection import split_records
    from . import emit, job_progress

    smooth, attack, eps_list, alpha = parse_args(args)
    if args.results:
        check_output(args.results, overwrite=True, what="results file")  # resumed when it matches
        if not args.overwrite:  # a foreign or damaged file is refused before any work
            from ..results_file import read_jsonl_results
            from ..smooth_attack import FORMAT

            read_jsonl_results(args.results, FORMAT)
    if not os.path.isdir(args.dataset):
        raise UserError(f"{args.dataset} is not a dataset folder")
    ds = open_dataset(args.dataset, args.labels)
    report = job_progress()
    names = split_records(ds, args.split, args.limit, need_labels=True, warn=lambda m: report(0, 1, m))
    if not names:
        raise UserError(f"no labelled records in split {args.split!r} of {args.dataset}")
    clf = resolve_model(args.model, args.device)
    sigs = load_dataset_signals(ds, names, clf.fs, args.lead)
    labels = [ds.label(n) for n in names]

    def run(path):
        return run_smooth_attack(clf, names, labels, sigs, smooth, attack, eps_list, path, alpha_mv=alpha,
                                 split=args.split, restart=args.overwrite, progress=report)

    if args.results:
        doc = run(args.results)
    else:
        with tempfile.TemporaryDirectory(prefix="ecgadv-smooth-attack-") as tmp:
            doc = run(os.path.join(tmp, "smooth-attack.jsonl"))
        doc["results_file"] = None
    doc = {"model": clf.name, "dataset": args.dataset, "split": args.split, **doc}
    title = (f"EOT-PGD on the smoothed model {clf.name} (σ {smooth.sigma_mv:g} mV; PREDICT n {smooth.n}, "
             f"alpha {smooth.alpha:g}; {attack.steps} steps × {attack.eot_draws} draws, step α "
             f"{_alpha_text(alpha)}) — "
             f"{os.path.basename(os.path.normpath(args.dataset))} {args.split}")
    c = doc["clean"]
    text = (f"{title}\n{format_table(doc)}\n"
            f"records {doc['n']}; smoothed clean accuracy {c['k']}/{c['n']}, abstained {doc['abstained']}; "
            f"d (median) {doc['d_median']} samples"
            + (f"\nresults: {doc['results_file']} ({doc['done_before']} records done before this run)"
               if doc.get("results_file") else ""))
    emit(args, doc, text)
    return 0
