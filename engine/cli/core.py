"""Core commands: info, classify, evaluate, train."""

from __future__ import annotations

import argparse
import os
import time
from collections import Counter
from dataclasses import replace

from ..attacks.registry import ADV_TRAINING_METHODS
from ..augment import AUGMENTATIONS, parse_augment
from ..datasets import CLASSES, label_for_record, open_dataset
from ..errors import UserError
from ..models import ARCHITECTURES, DEFAULT_ARCH, DEFAULT_MODEL
from ..metrics import f1_text
from ..records import read_record
from ..train_params import TRAIN_PARAMS, check_request, command_line
from .options import add_dataset_args, add_declared, add_limit, device_type


def add_model_args(p) -> None:
    from ..models import BUNDLED

    p.add_argument("--model", default=DEFAULT_MODEL,
                   help=f"{', '.join(BUNDLED)} (bundled weights) or a checkpoint file (default {DEFAULT_MODEL}: "
                        "the whole record)")
    add_device(p)


def add_device(p) -> None:
    p.add_argument("--device", default=None, type=device_type,
                   help="cpu, cuda, cuda:N, mps or auto (default: best available)")


def add_json(p) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")


def finish_model_command(p, func) -> None:
    """The last options of every command that runs a model (--model, --device, --json) and the
    function the command calls."""
    add_model_args(p)
    add_json(p)
    p.set_defaults(func=func)


def register(sub) -> None:
    p = sub.add_parser("info", help="describe a record")
    p.add_argument("record", nargs="+", help=ONE_RECORD_HELP)
    add_json(p)
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("classify", help="classify records")
    p.add_argument("records", nargs="+")
    p.add_argument("--lead", default=None, help="lead name (default: first ECG lead)")
    p.add_argument("--fill-gaps", action="store_true",
                   help="interpolate short runs of missing samples (≤0.5 s each, ≤1%% in all)")
    finish_model_command(p, cmd_classify)

    p = sub.add_parser("evaluate", help="evaluate a model on a dataset split")
    add_dataset_args(p, limit=False)
    p.add_argument("--lead", default=None)
    add_model_args(p)
    p.add_argument("--against", default=None, metavar="MODEL",
                   help="also evaluate this model (bundled name or checkpoint) on the same records and report "
                        "--model's mean F1 N/A/O minus its, with a paired bootstrap 95 %% interval")
    add_json(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("model-card", help="print a model's card (data, split, command, metrics)")
    add_model_args(p)
    p.add_argument("--out", default=None, help="also write the card to this Markdown file (.md)")
    p.add_argument("--overwrite", action="store_true")
    add_json(p)
    p.set_defaults(func=cmd_model_card)

    p = sub.add_parser("train", help="train a model on a dataset")
    p.add_argument("dataset")
    p.add_argument("--arch", default=DEFAULT_ARCH, choices=list(ARCHITECTURES),
                   help="; ".join(f"{a.name}: {a.help}" for a in ARCHITECTURES.values()) + f" (default {DEFAULT_ARCH})")
    p.add_argument("--out", required=True, help="checkpoint file to write (.safetensors)")
    p.add_argument("--split", default="all", help="training pool (as for evaluate; default all)")
    p.add_argument("--val-split", default="strat",
                   help="'strat' (seeded stratified 10%% of the pool) or a split name/file")
    p.add_argument("--labels", default=None)
    epochs = TRAIN_PARAMS["epochs"]
    add_declared(p, replace(epochs, help=epochs.help.removesuffix(")") + ": " + ", ".join(
        f"{a.name} {a.default_epochs}" for a in ARCHITECTURES.values()) + ")"))
    for name in ("batch_size", "lr", "seed", "max_minutes"):
        add_declared(p, TRAIN_PARAMS[name])
    add_limit(p, "use only the first N records (quick runs)")
    p.add_argument("--no-resume", action="store_true", help="ignore an interrupted run's state")
    add_declared(p, TRAIN_PARAMS["noise_sd_mv"])
    p.add_argument("--adversarial", default=None, choices=list(ADV_TRAINING_METHODS),
                   help="adversarial training: pgd (Madry et al.; --steps 1 is the fast variant with a random "
                        "start, Wong et al.), sap (smooth perturbations) or apgd-ce (Auto-PGD, adaptive step)")
    for name in ("adv_eps_mv", "adv_steps", "adv_share", "ema", "weight_decay", "label_smoothing"):
        add_declared(p, TRAIN_PARAMS[name])
    p.add_argument("--augment", type=_augment_list, default=(), metavar="NAME,...",
                   help="augment every training batch besides the random gain: " + "; ".join(
                       f"{k}: {v}".replace("%", "%%") for k, v in AUGMENTATIONS.items()) + " (applied in the order given)")
    p.add_argument("--channels", type=_channel_list, default=None, metavar="C0,C1,...",
                   help="widths of " + ", ".join(_CHANNEL_ARCHS) + ": the stem's, then one per residual block "
                   "(default 16,24,32,48,64,64,96; e.g. 24,36,48,72,96,96,144 for 1.5x), kept in the checkpoint")
    depth = TRAIN_PARAMS["depth"]
    add_declared(p, replace(depth, help=depth.help.replace("per stage", "per stage of " + ", ".join(_CHANNEL_ARCHS))))
    p.add_argument("--init", default=None, help="start from this checkpoint's weights (same --arch): fine-tuning, "
                   "e.g. with --noise-sd or --adversarial")
    p.add_argument("--gpu-resident", action="store_true",
                   help="keep every training record on the device and draw batches there (automatic on CUDA "
                        "for fixed-input models; this forces it, e.g. on CPU)")
    p.add_argument("--amp", default="auto", choices=["auto", "off", "bf16", "fp16"],
                   help="mixed precision: auto (bf16 on CUDA, or fp16 with a gradient scaler; off elsewhere), "
                        "off, bf16 (also on CPU) or fp16 (CUDA) (default auto)")
    p.add_argument("--overwrite", action="store_true")
    add_device(p)
    add_json(p)
    p.set_defaults(func=cmd_train)


label_for = label_for_record  # re-exported: the attack commands and the GUI import it from here


ONE_RECORD_HELP = ("the record: its .hea file or its name without extension (its files from a shell glob, A00001.*, "
                   "are one record)")


def one_record(paths: list[str], command: str) -> str:
    """The one record that `paths` name (the files of one record, e.g. A00001.hea A00001.mat from a
    shell glob, count as one record, as in classify and attack); UserError for several records."""
    from ..records import record_base

    bases = list(dict.fromkeys(os.path.normcase(os.path.abspath(record_base(p))) for p in paths))
    if len(bases) > 1:
        names = ", ".join(os.path.basename(b) for b in bases[:4]) + (", ..." if len(bases) > 4 else "")
        raise UserError(f"{command} takes one record, got {len(bases)}: {names}")
    return paths[0]


def cmd_info(args) -> int:
    from . import emit

    path = one_record(args.record, "info")
    rec = read_record(path, label=label_for(path))
    doc = {"record": rec.path, "fs": rec.fs, "n_samples": rec.n_samples, "duration_s": rec.duration_s,
           "leads": [{"name": ld.name, "units": ld.units, "gain": ld.gain} for ld in rec.leads],
           "label": rec.label, "annotations": None, "annotation_error": rec.annotation_error or None}
    text = (f"{rec.path}: {rec.fs:g} Hz, {rec.n_samples} samples ({rec.duration_s:.1f} s), "
            + (f"label {rec.label}\n" if rec.label else "no label\n")
            + "\n".join(f"  {ld.name:8s} {ld.units:6s} gain {ld.gain:g}/unit fmt {ld.fmt}" for ld in rec.leads))
    ann = rec.annotations
    if ann is not None:
        counts = Counter(ann.label).most_common()
        doc["annotations"] = {"source": ann.source, "n": len(ann), "counts": dict(counts), "note": ann.note or None}
        text += f"\n  annotations: {ann.summary()}: " + ", ".join(f"{k} {n}" for k, n in counts)
    elif rec.annotation_error:
        text += f"\n  annotations: {rec.annotation_error}"
    emit(args, doc, text)
    return 0


def non_ecg_warning(rec, lead) -> str | None:
    """A one-line warning when `lead` (engine.records.Lead) of `rec` is not an ECG channel (PLETH,
    ABP, RESP, ...), printed on stderr; None for an ECG lead. The caller puts it in its JSON too."""
    return _non_ecg(rec.name, lead.name, lead.units, lead.is_ecg)


def opened_warning(o) -> str | None:
    """non_ecg_warning for an engine.workbench.OpenedRecord."""
    return _non_ecg(o.name, o.lead, o.units, dict(o.leads).get(o.lead, True))


def _non_ecg(record: str, lead: str, units: str, is_ecg: bool) -> str | None:
    if is_ecg:
        return None
    msg = (f"{record}: {lead} [{units}] is not an ECG channel; the model was trained on ECG "
           "leads in mV, so its output on this channel means nothing")
    import sys

    sys.stderr.write(f"warning: {msg}\n")
    return msg


def quiet(*_args, **_kw) -> None:
    """A job progress that says nothing (e.g. loading a model: an error after it stays one line)."""


def open_records(paths: list[str], lead: str | None, warnings: list[str], fill_gaps: bool = False) -> list:
    """Open each record once (the files of one record, e.g. A00001.hea and A00001.mat from a shell
    glob, are one record) with the Workbench's open job → OpenedRecords; a non-ECG channel warns on
    stderr and in `warnings`."""
    from ..records import record_base
    from ..workbench import jobs

    out, seen = [], set()
    for path in paths:
        key = os.path.normcase(os.path.abspath(record_base(path)))
        if key in seen:
            continue
        seen.add(key)
        o = jobs.open_record(path, lead=lead, fill_gaps=fill_gaps)(quiet, lambda: False)
        w = opened_warning(o)
        if w:
            warnings.append(w)
        out.append(o)
    return out


def cmd_classify(args) -> int:
    from ..workbench import jobs
    from . import emit

    # read and check every record first: bad input fails fast, before torch and a model are loaded
    warnings: list[str] = []
    recs = open_records(args.records, args.lead, warnings, fill_gaps=args.fill_gaps)
    clf, _ = jobs.load_model(args.model, args.device)(quiet, lambda: False)
    results = [{"record": r.path, **jobs.classify(clf, r.x_mv, r.fs, True, r.channel)(quiet, lambda: False)}
               for r in recs]
    doc = {"model": clf.name, "results": results, **({"warnings": warnings} if warnings else {})}
    text = "\n".join(f"{r['record']}: {r['pred']}  " + " ".join(f"{c}={p:.3f}" for c, p in r["probs"].items())
                     + (f"  (classified {r['window'][0]:g}-{r['window'][1]:g} s of {r['duration_s']:g} s)"
                        if r["cropped"] else "")
                     + (f"  ({len(r['windows'])} windows of {_window_s(r):g} s, {r['aggregation']})"
                        if r.get("windows") else "")
                     + ("  (zero-padded to the model's input)" if r["padded"] else "")
                     + ("  (shorter than the records the model was made for)" if r.get("short") else "")
                     + (f"  (saturated: {100 * r['saturated_fraction']:.1f}% of samples at the ADC limits or "
                        "clipped flat)" if r["saturated"] else "")
                     for r in results)
    emit(args, doc, text)
    return 0


def _window_s(r: dict) -> float:
    """The length in s of a whole-record model's windows (classify_detail's 'windows')."""
    return round(max(e - s for s, e in r["windows"]), 3)


def against_text(a: dict) -> str:
    """One line for evaluate's comparison (jobs.evaluate's res["against"]): the other model's mean F1
    and the paired difference with its interval."""
    cmp = a["paired"]
    lo, hi = cmp["ci95"]
    return (f"against {a['model']}: mean F1 (N,A,O) {a['f1_mean_nao']:.3f}; difference {cmp['difference']:+.3f} "
            f"(paired bootstrap 95 % {lo:+.3f} to {hi:+.3f}; not better in {cmp['share_not_better']:.1%} "
            f"of {cmp['draws']} resamples)")


def cmd_evaluate(args) -> int:
    from ..models.checkpoint import resolve_model
    from ..workbench import jobs
    from . import emit, run_job

    ds = open_dataset(args.dataset, args.labels)
    clf = resolve_model(args.model, args.device)
    other = resolve_model(args.against, args.device) if args.against else None
    t0 = time.monotonic()
    res = run_job(jobs.evaluate(ds, args.split, clf, lead=args.lead, against=other))
    res.pop("predictions")
    lo, hi = res["f1_mean_nao_ci95"]
    vs = ""
    if other is not None:
        vs = "\n" + against_text(res["against"])
    doc = {"model": clf.name, **res, "seconds": round(time.monotonic() - t0, 2)}
    text = (f"model {clf.name} on {res['n']} records: accuracy {res['accuracy']:.3f}, "
            f"F1 {f1_text(res['f1'], res['confusion'])}, "
            f"mean F1 (N,A,O) {res['f1_mean_nao']:.3f} (bootstrap 95 % {lo:.3f}-{hi:.3f}), "
            f"all {res['f1_mean_all']:.3f}\n"
            f"confusion (rows true {','.join(CLASSES)}):\n" + "\n".join("  " + " ".join(f"{v:5d}" for v in row)
                                                            for row in res["confusion"])) + vs
    emit(args, doc, text)
    return 0


def cmd_model_card(args) -> int:
    from ..model_card import model_card
    from ..models.checkpoint import resolve_model
    from . import emit

    from ..outputs import check_output, check_suffix, write_text_atomic

    if args.out:  # Markdown, like every other output named for its kind: never a record, a CSV ... by mistake
        check_suffix(args.out, (".md", ".markdown"), "model card")
        check_output(args.out, args.overwrite, what="model card", inputs=[args.model])  # never the model
    clf = resolve_model(args.model, args.device)
    text = model_card(clf)
    if args.out:
        write_text_atomic(args.out, text, overwrite=args.overwrite)
    emit(args, {"model": clf.name, "meta": clf.meta, "card": text}, text)
    return 0


_CHANNEL_ARCHS = [a.name for a in ARCHITECTURES.values() if "channels" in a.arg_limits]  # train --channels


def _augment_list(text: str) -> tuple[str, ...]:
    try:
        return parse_augment(text)
    except UserError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--augment: ")) from None


def _channel_list(text: str) -> list[int]:
    """--channels: comma-separated whole numbers within the architectures' declared limits
    (argparse type: ArgumentTypeError -> one-line error)."""
    from ..models.checkpoint import MAX_CHANNEL_LIST

    _, lo, hi = ARCHITECTURES[_CHANNEL_ARCHS[0]].arg_limits["channels"]
    try:
        vals = [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of whole numbers") from None
    if not 1 <= len(vals) <= MAX_CHANNEL_LIST or not all(lo <= v <= hi for v in vals):
        raise argparse.ArgumentTypeError(f"{text!r}: 1 to {MAX_CHANNEL_LIST} widths, each between {lo} and {hi}")
    return vals


def train_request(args, ds=None):
    """The TrainRequest of parsed `train` options (checked by their declarations, engine.train_params),
    its `command` the line that repeats it; `ds` the open dataset (None: only the command is wanted)."""
    from ..workbench import TrainRequest

    arch_args = {k: v for k, v in (("channels", args.channels), ("depth", args.depth)) if v is not None}
    req = TrainRequest(dataset=ds, out=args.out, arch=args.arch, split=args.split, val_split=args.val_split,
                       epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                       max_minutes=args.max_minutes, limit=args.limit, device=args.device,
                       resume=not args.no_resume, overwrite=args.overwrite,
                       resident=True if args.gpu_resident else None, amp=args.amp, noise_sd_mv=args.noise_sd,
                       adversarial=args.adversarial, adv_eps_mv=args.eps, adv_steps=args.steps,
                       adv_share=args.adv_share, ema=args.ema, init=args.init, arch_args=arch_args,
                       weight_decay=args.weight_decay, label_smoothing=args.label_smoothing, augment=args.augment)
    check_request(req)
    req.command = command_line(req, args.dataset)
    return req


def cmd_train(args) -> int:
    # check the arguments and the dataset before loading torch: bad input fails fast
    from ..outputs import check_output, check_suffix

    check_suffix(args.out, (".safetensors",), "checkpoint")

    # an existing checkpoint is replaced only with --overwrite, or by the run it belongs to (resume);
    # the folder must be writable now, not after hours of training
    resuming = os.path.exists(args.out + ".resume.pt") and not args.no_resume
    # never the checkpoint it fine-tunes from (--init), not even with --overwrite
    check_output(args.out, args.overwrite or resuming, what="checkpoint", inputs=[args.init])
    # the model card written next to it (engine.training.card_path_for)
    check_output(args.out[:-len(".safetensors")] + ".md", args.overwrite or resuming, what="model card",
                 inputs=[args.init])
    req = train_request(args)  # every option checked before the dataset is read
    req.dataset = open_dataset(args.dataset, args.labels)

    from ..workbench import jobs
    from . import emit, run_job

    res = run_job(jobs.train(req))
    best = res.pop("best")
    doc = {**res, **best}
    emit(args, doc, f"wrote {args.out}: validation mean F1 (N,A,O) {best.get('f1_mean_nao', float('nan')):.3f}")
    return 0
