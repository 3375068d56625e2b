"""Universal perturbation and robustness card commands: `universal`, `robustness-card`.

Same conventions as the other commands: `--json` prints one JSON document on stdout, progress goes
to stderr, bad input exits 2 with one `error: ...` line; every output is checked before any work.
"""

from __future__ import annotations

import os
import sys
import time

from ..errors import UserError
from .core import add_json, finish_model_command
from .options import add_attack_batch, add_batch_size, add_dataset_args, add_ranged, add_seed

UNIVERSAL_EPS = 0.05  # mV: the default budget of a universal perturbation (the card's largest ε)


def register(sub) -> None:
    p = sub.add_parser(
        "universal", help="fit one smooth perturbation that fools the model on many records (.npz)",
        description="Fit a universal adversarial perturbation (Moosavi-Dezfooli et al. 2017, adapted: ε in mV, "
                    "smoothed by SAP's Gaussian kernel bank) on the labelled records of --split, and evaluate it on "
                    "the held-out records of --eval-split (default: strat-val for strat-train, paper-val for "
                    "paper-train): success among correctly classified records and the share of all records whose "
                    "prediction changed, with n and 95 % Clopper-Pearson intervals, per true class. The "
                    "perturbation is one period at the model's rate and is tiled over a record of any length. "
                    "Writes δ (mV) with its sampling rate, ε, the model's fingerprint, the splits and the seed.")
    add_dataset_args(p, limit=False)
    p.add_argument("--out", required=True, help="the perturbation file to write (.npz)")
    p.add_argument("--eval-split", default=None,
                   help="held-out records to evaluate on (a split as for --split; default: the other half of "
                        "--split when it is strat-train[:SEED] or paper-train, else no evaluation)")
    add_ranged(p, "--eps", float, 1e-4, 5.0, UNIVERSAL_EPS, "L∞ budget ε of the perturbation", unit="mV")
    add_ranged(p, "--alpha", float, 1e-6, 5.0, None, "sign-step size α (default ε/5)", unit="mV")
    add_ranged(p, "--steps", int, 1, 10_000, 5, "gradient steps on each batch of records not yet fooled")
    add_ranged(p, "--passes", int, 1, 1000, 5, "most passes over the fitting records (the fit stops earlier "
                                               "when a pass does not raise the fooling rate)")
    add_ranged(p, "--fit-limit", int, 1, 10_000_000, None, "fit on the first N labelled records of --split")
    add_ranged(p, "--eval-limit", int, 1, 10_000_000, None, "evaluate on the first N held-out records")
    add_batch_size(p, 16, "records per gradient step", hi=1024)
    add_seed(p, "random seed (the order of the fitting records)")
    p.add_argument("--lead", default=None, help="lead name (default: first ECG lead)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    finish_model_command(p, cmd_universal)
    register_card(sub)


def _names(ds, split: str, limit, say):
    from ..workbench.selection import split_records

    return split_records(ds, split, limit, warn=say, need_labels=True)


class _Steps:
    """Throttled 'what: k/n' lines on stderr (at most every `every_s`, plus the last)."""

    def __init__(self, what: str, every_s: float = 2.0) -> None:
        self.what, self.every, self.last = what, every_s, float("-inf")

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done >= total or now - self.last >= self.every:
            self.last = now
            sys.stderr.write(f"{self.what}: {done}/{total}\n")
            sys.stderr.flush()


def cmd_universal(args) -> int:
    from ..attack_eval import model_fingerprint, read_inputs
    from ..datasets import open_dataset
    from ..models.checkpoint import resolve_model
    from ..outputs import check_output
    from ..universal import evaluate_heldout, fit_universal, paired_split, save_universal, universal_text
    from . import emit, progress

    out = args.out
    if not str(out).lower().endswith(".npz"):
        raise UserError(f"--out must name a .npz file, got {out}")
    check_output(out, args.overwrite, what="universal perturbation")  # before any work
    t0 = time.monotonic()
    ds = open_dataset(args.dataset, args.labels)
    eval_split = args.eval_split or paired_split(args.split, "eval")
    fit_names = _names(ds, args.split, args.fit_limit, progress)
    eval_names = _names(ds, eval_split, args.eval_limit, progress) if eval_split else []
    if eval_split and not set(eval_names) - set(fit_names):
        raise UserError(f"--eval-split {eval_split} holds only records of the fitting split {args.split}: "
                        "nothing is held out")
    clf = resolve_model(args.model, args.device)
    inputs, errors, _ = read_inputs(ds, fit_names, args.lead)
    for name, row in errors.items():
        progress(f"warning: {name} skipped: {row['error']}")
    uap = fit_universal(clf, inputs, eps_mv=args.eps, alpha_mv=args.alpha, steps=args.steps, passes=args.passes,
                        batch_size=args.batch_size, seed=args.seed, progress=_Steps("universal step"))
    uap.model_sha = model_fingerprint(clf)
    uap.dataset = os.path.basename(os.path.abspath(ds.folder))
    uap.fit_split, uap.eval_split = args.split, eval_split or ""
    heldout = None
    if eval_names:
        heldout = evaluate_heldout(clf, ds, eval_names, uap, lead=args.lead, progress=_Steps("held-out records"))
        heldout.pop("rows")
    save_universal(uap, out, overwrite=args.overwrite)
    doc = {"model": clf.name, "universal": uap.describe(), "fit_unreadable": len(errors), "eval_split": eval_split,
           "heldout": heldout, "out": os.path.abspath(out), "seconds": round(time.monotonic() - t0, 2),
           "note": None if eval_split else "no --eval-split given and --split has no held-out half"}
    emit(args, doc, universal_text(doc) + f"\nwrote {os.path.abspath(out)}")
    return 0


# -- robustness-card -------------------------------------------------------------------------------

def register_card(sub) -> None:
    from ..card.build import CARD_ATTACKS, CARD_EPS, CARD_ITERATIONS, CARD_QUERIES, ENSEMBLE_EPS
    from .attacks import add_attack_args

    p = sub.add_parser(
        "robustness-card", help="one report on how robust a model is (HTML, optional PDF and JSON; resumable)",
        description="Build a model's robustness card on the labelled records of a split: clean accuracy, per-class "
                    "F1 and the confusion matrix; success (n, 95 % Clopper-Pearson intervals) against ε in mV for each "
                    "attack (white-box and black-box), per true class; robust accuracy under the ensemble (APGD-CE, "
                    "targeted APGD-DLR, Square) at 0.01, 0.02 and 0.05 mV; the perceptibility of the successful "
                    "examples (SNR, PRD, smoothness, share at ±ε) as distributions; a universal perturbation's "
                    "success on held-out records; band statistics from a band-eval file; provenance. Every "
                    "(attack, ε) cell is an attack-eval results file in --results-dir, so a rerun resumes and "
                    "`torchrun --nproc_per_node N main.py robustness-card ...` shards the records. Card defaults: "
                    f"APGD {CARD_ITERATIONS} iterations, Square {CARD_QUERIES} queries (the time budget; give "
                    "--iterations / --queries for more).")
    add_dataset_args(p)
    p.add_argument("--out", required=True, help="the card to write (.html)")
    p.add_argument("--pdf", default=None, help="also write the card as a PDF file")
    p.add_argument("--attacks", default=",".join(CARD_ATTACKS),
                   help=f"comma-separated attacks swept over --eps-list (default {','.join(CARD_ATTACKS)})")
    p.add_argument("--eps-list", default=",".join(f"{e:g}" for e in CARD_EPS),
                   help=f"ε values in mV for the attack sweep (default {','.join(f'{e:g}' for e in CARD_EPS)})")
    p.add_argument("--ensemble-eps", default=",".join(f"{e:g}" for e in ENSEMBLE_EPS),
                   help="ε values in mV for the ensemble's robust accuracy (default "
                        f"{','.join(f'{e:g}' for e in ENSEMBLE_EPS)}; 'none' leaves it out)")
    add_attack_args(p, method=False, eps=False)
    p.set_defaults(iterations=CARD_ITERATIONS, queries=CARD_QUERIES)
    add_ranged(p, "--alpha-ratio", float, 0.0, 10.0, 0.1, "PGD/SAP step α = ε × ratio (unless --alpha)", lo_open=True)
    p.add_argument("--universal", default=None, metavar="FILE",
                   help="a universal perturbation (.npz from `universal`) to evaluate instead of fitting one")
    p.add_argument("--universal-split", default=None,
                   help="split to fit the universal perturbation on (default: the training half of --split, e.g. "
                        "strat-train for strat-val; its records are left out of the evaluation)")
    add_ranged(p, "--universal-eps", float, 1e-4, 5.0, UNIVERSAL_EPS, "ε of the fitted universal perturbation",
               unit="mV")
    add_ranged(p, "--universal-fit-limit", int, 1, 10_000_000, 200, "fit it on at most N records")
    add_ranged(p, "--universal-steps", int, 1, 10_000, 5, "its gradient steps per batch")
    add_ranged(p, "--universal-passes", int, 1, 1000, 5, "its most passes over the fitting records")
    p.add_argument("--no-universal", action="store_true", help="leave the universal perturbation out")
    p.add_argument("--band-eval", default=None, metavar="FILE", help="a band-eval results file of this model")
    p.add_argument("--results-dir", default=None,
                   help="folder for the cells' attack-eval results files (default: <out>.results beside the card); "
                        "a rerun resumes them")
    p.add_argument("--overwrite", action="store_true",
                   help="replace existing --out/--pdf files, and start afresh cell files that do not match")
    add_attack_batch(p)
    finish_model_command(p, cmd_robustness_card)
    p.description += (" `robustness-card compare CARD.json CARD.json ... [--certify CERT.json ...] [--smooth-attack "
                      "SMOOTH.json ...] [--out compare.html] [--markdown compare.md] [--plot compare.png]` compares "
                      "saved cards side by side "
                      "(`robustness-card compare --help`; a dataset folder named 'compare' is ./compare).")
    _add_compare_mode(p)


def _add_compare_mode(p) -> None:
    """`robustness-card compare ...`: parsed by a parser of its own when the first argument is
    'compare' (the card's own parser wants a dataset folder and --out)."""
    from .. import cli

    c = cli._Parser(
        prog=f"{p.prog} compare",
        description="Compare saved robustness cards (the JSON of `robustness-card DATASET ... --json > card.json`) "
                    "of two or more models side by side: clean accuracy and mean F1 over N/A/O, success with n "
                    "and 95 % Clopper-Pearson intervals per attack and ε, the worst case per ε (strongest single "
                    "attack, the ensemble's success and robust accuracy), and with --certify the certified "
                    "accuracy of the smoothed model at radius 0 and at the paper's ε 0.01 mV (L∞). The cards must "
                    "be of the same split, records (data digest), lead and attack parameters; different ε grids "
                    "are compared at their common ε values. A smoothed model (base model + noise σ) gets a column "
                    "of its own from its certify summary (`certify DATASET --split S --json > cert.json`, or its "
                    "--out results file) and its smooth-attack summary (EOT-PGD through the noise), which must be "
                    "of the cards' split and record count (with --dataset: their records). Without --json "
                    "prints the table as text.")
    c.add_argument("cards", nargs="+", metavar="CARD.json", help="saved robustness cards (at least two)")
    c.add_argument("--certify", action="append", default=[], metavar="CERT.json",
                   help="a certify summary of a smoothed model (repeat for several)")
    c.add_argument("--smooth-attack", action="append", default=[], metavar="SMOOTH.json",
                   help="a smooth-attack summary (EOT-PGD on a smoothed model; `smooth-attack DATASET ... --json`, "
                        "or its --results file; repeat for several)")
    c.add_argument("--dataset", default=None,
                   help="the cards' dataset folder: check the summaries' records against the cards' digest")
    c.add_argument("--labels", default=None, help="with --dataset: its label file (default: REFERENCE*.csv)")
    c.add_argument("--names", default=None,
                   help="comma-separated column names: one per card, then one per smoothed model (default: the "
                        "model names)")
    c.add_argument("--out", default=None, help="write the comparison as a self-contained HTML page")
    c.add_argument("--markdown", default=None, help="write the table as Markdown (for a README)")
    c.add_argument("--plot", default=None, help="write the success-vs-ε plot as a PNG")
    c.add_argument("--overwrite", action="store_true", help="replace existing output files")
    add_json(c)
    c.set_defaults(func=cmd_card_compare, command="robustness-card")
    card_parse = p.parse_known_args

    def parse_known_args(args=None, namespace=None):
        args = list(sys.argv[1:] if args is None else args)
        if args and args[0] == "compare":
            return c.parse_known_args(args[1:], namespace)
        return card_parse(args, namespace)

    p.parse_known_args = parse_known_args
    p.compare_parser = c


def cmd_card_compare(args) -> int:
    from ..card.compare import compare
    from ..card.render import check_outputs, comparison_text, write_outputs
    from . import emit

    outputs = {"html": args.out, "markdown": args.markdown, "plot": args.plot}
    names = None
    if args.names is not None:
        names = [n.strip() for n in args.names.split(",")]
        if not all(names):
            raise UserError(f"--names has an empty name: {args.names!r}")
    if args.labels and not args.dataset:
        raise UserError("--labels applies with --dataset")
    if args.dataset and not os.path.isdir(args.dataset):
        raise UserError(f"--dataset {args.dataset} is not a folder")
    inputs = [*args.cards, *args.certify, *args.smooth_attack]
    check_outputs(outputs, inputs, args.overwrite)  # before reading anything
    comp = compare(list(args.cards), list(args.certify), names, list(args.smooth_attack), args.dataset, args.labels)
    comp["outputs"] = write_outputs(comp, outputs, args.overwrite)
    text = comparison_text(comp) + "".join(f"\n{k}: {v}" for k, v in comp["outputs"].items())
    emit(args, comp, text)
    return 0


def _eps_values(text: str, flag: str, allow_none: bool = False) -> tuple[float, ...]:
    from ..attacks.params import EPS
    from ..robustness import parse_eps_list

    if allow_none and str(text).strip().lower() in ("none", ""):
        return ()
    try:
        vals = parse_eps_list(text)
    except UserError as exc:
        raise UserError(str(exc).replace("--eps", flag)) from None
    return tuple(EPS.check(v, flag) for v in vals)


def card_outputs(args) -> tuple[str, str | None, str]:
    """(html, pdf or None, results folder), checked before any work."""
    from ..outputs import check_output

    out, pdf = args.out, args.pdf
    if not str(out).lower().endswith((".html", ".htm")):
        raise UserError(f"--out must name an .html file, got {out}")
    check_output(out, args.overwrite, what="card")
    if pdf:
        if not str(pdf).lower().endswith(".pdf"):
            raise UserError(f"--pdf must name a .pdf file, got {pdf}")
        if os.path.abspath(pdf) == os.path.abspath(out):
            raise UserError("--pdf and --out name the same file")
        check_output(pdf, args.overwrite, what="card")
    results = args.results_dir or os.path.splitext(out)[0] + ".results"
    if os.path.abspath(results) in (os.path.abspath(out), os.path.abspath(pdf or out)):
        raise UserError("--results-dir must be a folder of its own")
    return out, pdf, results


def cmd_robustness_card(args) -> int:
    from ..attack_eval import dist_from_env
    from ..attacks.params import ALPHA
    from ..card.build import CardSettings, build_card, check_inputs
    from ..card.render import card_text, write_card_html, write_card_pdf
    from ..device import pick_device
    from ..models.checkpoint import resolve_model
    from ..robustness import parse_methods
    from . import emit
    from .attacks import _dataset_names, _params, _rank_printer

    attacks = tuple(parse_methods(args.attacks)) if str(args.attacks).strip().lower() not in ("", "none") else ()
    eps_list = _eps_values(args.eps_list, "--eps-list") if attacks else ()
    ens = _eps_values(args.ensemble_eps, "--ensemble-eps", allow_none=True)
    if args.alpha is None:
        for e in eps_list + ens:
            ALPHA.check(e * args.alpha_ratio, f"step α = ε {e:g} mV × --alpha-ratio {args.alpha_ratio:g}")
    if args.universal and (args.no_universal or args.universal_split):
        raise UserError("give either --universal FILE or --no-universal / --universal-split")
    if not eps_list and not ens:
        raise UserError("the card needs at least one attack (--attacks) or one ensemble ε (--ensemble-eps)")
    out, pdf, results = card_outputs(args)
    dist, device = dist_from_env(pick_device(args.device))
    say = _rank_printer(dist)
    last = [0.0]

    def prog(done: int, total: int, msg: str = "") -> None:
        now = time.monotonic()
        if ("records" not in msg and "step" not in msg) or now - last[0] >= 2.0 or (total and done >= total):
            last[0] = now
            say(msg)

    try:
        clf = resolve_model(args.model, device)
        base = _params(args, clf, eps_mv=(eps_list or ens)[0])
        settings = CardSettings(attacks=attacks, eps_list=eps_list, ensemble_eps=ens, base=base,
                                alpha_ratio=args.alpha_ratio, alpha_mv=args.alpha, batch_size=args.batch_size,
                                lead=args.lead, results_dir=results, restart=args.overwrite,
                                universal=not args.no_universal, universal_file=args.universal,
                                universal_split=args.universal_split, universal_eps=args.universal_eps,
                                universal_fit_limit=args.universal_fit_limit, universal_steps=args.universal_steps,
                                universal_passes=args.universal_passes, band_eval=args.band_eval)
        check_inputs(clf, settings)  # --universal / --band-eval files, before the dataset and any attack
        ds, names = _dataset_names(args, say if dist.rank == 0 else (lambda m: None))
        doc = build_card(clf, ds, names, args.split, settings, dist=dist, progress=prog)
    finally:
        dist.close()
    if doc is None:  # ranks other than 0: rank 0 writes the card
        return 0
    doc["outputs"] = {"html": write_card_html(doc, out, overwrite=args.overwrite),
                      "pdf": write_card_pdf(doc, pdf, overwrite=args.overwrite) if pdf else None}
    emit(args, doc, card_text(doc) + f"\ncard: {os.path.abspath(out)}" + (f"\npdf: {os.path.abspath(pdf)}" if pdf else ""))
    return 0
