"""Universal perturbation and robustness card commands: `universal`, `robustness-card`.

Same conventions as the other commands: `--json` prints one JSON document on stdout, progress goes
to stderr, bad input exits 2 with one `error: ...` line; every output is checked before any work.
"""

from __future__ import annotations

import os
import sys
import time

from ..errors import UserError
from .core import add_json, add_model_args
from .options import add_batch_size, add_dataset_args, add_ranged, add_seed

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
    add_model_args(p)
    add_json(p)
    p.set_defaults(func=cmd_universal)


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
