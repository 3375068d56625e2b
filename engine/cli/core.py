"""Core commands: info, classify, evaluate, train."""

from __future__ import annotations

import os
import time

from ..datasets import CLASSES, label_for_record, open_dataset, select_split, stratified_split
from ..errors import UserError
from ..records import read_record


def add_model_args(p) -> None:
    p.add_argument("--model", default="default", help="default, paper-cnn or a checkpoint file")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:N or mps (default: best available)")


def add_json(p) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")


def register(sub) -> None:
    p = sub.add_parser("info", help="describe a record")
    p.add_argument("record")
    add_json(p)
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("classify", help="classify records")
    p.add_argument("records", nargs="+")
    p.add_argument("--lead", default=None, help="lead name (default: first ECG lead)")
    p.add_argument("--fill-gaps", action="store_true",
                   help="interpolate short runs of missing samples (≤0.5 s each, ≤1%% in all)")
    add_model_args(p)
    add_json(p)
    p.set_defaults(func=cmd_classify)

    p = sub.add_parser("evaluate", help="evaluate a model on a dataset split")
    p.add_argument("dataset")
    p.add_argument("--split", default="all", help="all, paper-val, paper-train, strat-val[:SEED], "
                                                   "strat-train[:SEED] or a file of record names")
    p.add_argument("--labels", default=None, help="label file (default: REFERENCE*.csv in the folder)")
    p.add_argument("--lead", default=None)
    add_model_args(p)
    add_json(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("model-card", help="print a model's card (data, split, command, metrics)")
    add_model_args(p)
    p.add_argument("--out", default=None, help="also write the card to this Markdown file")
    p.add_argument("--overwrite", action="store_true")
    add_json(p)
    p.set_defaults(func=cmd_model_card)

    p = sub.add_parser("train", help="train a model on a dataset")
    p.add_argument("dataset")
    p.add_argument("--arch", default="default", choices=["default", "paper-cnn"])
    p.add_argument("--out", required=True, help="checkpoint file to write (.safetensors)")
    p.add_argument("--split", default="all", help="training pool (as for evaluate; default all)")
    p.add_argument("--val-split", default="strat",
                   help="'strat' (seeded stratified 10%% of the pool) or a split name/file")
    p.add_argument("--labels", default=None)
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-minutes", type=float, default=None)
    p.add_argument("--limit", type=int, default=None, help="use only the first N records (quick runs)")
    p.add_argument("--no-resume", action="store_true", help="ignore an interrupted run's state")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--device", default=None)
    add_json(p)
    p.set_defaults(func=cmd_train)


label_for = label_for_record  # re-exported: the attack commands and the GUI import it from here


def cmd_info(args) -> int:
    from . import emit

    rec = read_record(args.record, label=label_for(args.record))
    doc = {"record": rec.path, "fs": rec.fs, "n_samples": rec.n_samples, "duration_s": rec.duration_s,
           "leads": [{"name": ld.name, "units": ld.units, "gain": ld.gain} for ld in rec.leads],
           "label": rec.label}
    text = (f"{rec.path}: {rec.fs:g} Hz, {rec.n_samples} samples ({rec.duration_s:.1f} s), label {rec.label}\n"
            + "\n".join(f"  {ld.name:8s} {ld.units:6s} gain {ld.gain:g}/unit fmt {ld.fmt}" for ld in rec.leads))
    emit(args, doc, text)
    return 0


def cmd_classify(args) -> int:
    from . import emit

    # read and check every record first: bad input fails fast, before torch and a model are loaded
    signals = []
    for path in args.records:
        rec = read_record(path)
        x, _ = rec.lead_mv(args.lead, fill_gaps=args.fill_gaps)
        signals.append((rec, x))
    from ..models.checkpoint import resolve_model

    clf = resolve_model(args.model, args.device)
    results = []
    for rec, x in signals:
        pred, probs = clf.classify(x, rec.fs)
        results.append({"record": rec.path, "pred": pred, "probs": probs})
    doc = {"model": clf.name, "results": results}
    text = "\n".join(f"{r['record']}: {r['pred']}  " + " ".join(f"{c}={p:.3f}" for c, p in r["probs"].items())
                     for r in results)
    emit(args, doc, text)
    return 0


def _labelled(ds, names: list[str]) -> list[str]:
    return [n for n in names if ds.label(n) in CLASSES]


def cmd_evaluate(args) -> int:
    from . import emit, progress

    ds = open_dataset(args.dataset, args.labels)
    split = select_split(ds, args.split)
    if split.missing:
        progress(f"warning: {split.describe_missing()}")
    names = _labelled(ds, split.names)
    if not names:
        raise UserError(f"{args.dataset}: no labelled records in split {args.split!r}")
    from ..metrics import summarize
    from ..models.checkpoint import resolve_model
    from ..signals_cache import load_dataset_signals
    from ..training import evaluate_signals

    clf = resolve_model(args.model, args.device)
    t0 = time.monotonic()
    sigs = load_dataset_signals(ds, names, clf.fs, args.lead,
                                progress=lambda i, n: progress(f"reading {i}/{n}") if i % 500 == 0 else None)
    probs = evaluate_signals(clf, sigs)
    pred = [clf.classes[i] for i in probs.argmax(1)]
    res = summarize([ds.label(n) for n in names], pred)
    doc = {"model": clf.name, **res, "missing": len(split.missing), "seconds": round(time.monotonic() - t0, 2)}
    text = (f"model {clf.name} on {res['n']} records: accuracy {res['accuracy']:.3f}, "
            f"F1 N {res['f1']['N']:.3f} A {res['f1']['A']:.3f} O {res['f1']['O']:.3f} ~ {res['f1']['~']:.3f}, "
            f"mean F1 (N,A,O) {res['f1_mean_nao']:.3f}, all {res['f1_mean_all']:.3f}\n"
            f"confusion (rows true N,A,O,~):\n" + "\n".join("  " + " ".join(f"{v:5d}" for v in row)
                                                            for row in res["confusion"]))
    emit(args, doc, text)
    return 0


def cmd_model_card(args) -> int:
    from ..model_card import model_card
    from ..models.checkpoint import resolve_model
    from . import emit

    clf = resolve_model(args.model, args.device)
    text = model_card(clf)
    if args.out:
        if os.path.exists(args.out) and not args.overwrite:
            raise UserError(f"{args.out} already exists (use --overwrite to replace it)")
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text)
    emit(args, {"model": clf.name, "meta": clf.meta, "card": text}, text)
    return 0


def cmd_train(args) -> int:
    # check the arguments and the dataset before loading torch: bad input fails fast
    if os.path.exists(args.out) and not args.overwrite and not (os.path.exists(args.out + ".resume.pt")
                                                               and not args.no_resume):
        raise UserError(f"{args.out} already exists (use --overwrite to replace it)")
    if not args.out.endswith(".safetensors"):
        raise UserError("--out must end in .safetensors")
    ds = open_dataset(args.dataset, args.labels)

    import torch

    from ..device import pick_device, seed_everything
    from ..models import INPUT_SPECS
    from ..signals_cache import load_dataset_signals
    from ..training import TrainConfig, train
    from . import emit, progress

    pool = select_split(ds, args.split)
    if pool.missing:
        progress(f"warning: {pool.describe_missing()}")
    names = _labelled(ds, pool.names)
    if args.limit:
        names = names[: args.limit]
    if args.val_split == "strat":
        tr, va = stratified_split(names, ds.labels, 0.1, args.seed)
        val_desc = f"seeded stratified 10% of the pool (seed {args.seed})"
    else:
        vs = select_split(ds, args.val_split)
        va = _labelled(ds, vs.names)
        tr = [n for n in names if n not in set(va)]
        val_desc = args.val_split
    if not tr or not va:
        raise UserError("training needs labelled records in both the training and the validation split")
    seed_everything(args.seed)
    device = pick_device(args.device)
    fs = INPUT_SPECS[args.arch]["fs"]
    progress(f"reading {len(tr) + len(va)} records from {args.dataset} ...")
    sigs = load_dataset_signals(ds, tr + va, fs,
                                progress=lambda i, n: progress(f"reading {i}/{n}") if i % 500 == 0 else None)
    tx, vx = sigs[: len(tr)], sigs[len(tr):]
    epochs = args.epochs or (40 if args.arch == "default" else 200)
    cfg = TrainConfig(arch=args.arch, epochs=epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                      max_minutes=args.max_minutes)
    prov = {"dataset": os.path.abspath(args.dataset), "label_file": ds.label_file, "split": args.split,
            "validation": val_desc, "torch": torch.__version__,
            "command": "python main.py train " + " ".join(_argv_for(args))}

    def report(r):
        v = r.val
        progress(f"epoch {r.epoch}/{r.epochs} loss {r.train_loss:.4f} val acc {v['accuracy']:.3f} "
                 f"F1(N,A,O) {v['f1_mean_nao']:.3f} [N {v['f1']['N']:.3f} A {v['f1']['A']:.3f} "
                 f"O {v['f1']['O']:.3f} ~ {v['f1']['~']:.3f}] best {r.best_f1:.3f}@{r.best_epoch} "
                 f"elapsed {r.elapsed_s / 60:.1f} min ETA {r.eta_s / 60:.1f} min")

    best = train([tx[i] for i in range(len(tr))], [ds.label(n) for n in tr], vx, [ds.label(n) for n in va],
                 cfg, args.out, device=device, provenance=prov, resume=not args.no_resume,
                 overwrite=args.overwrite, progress=report)
    doc = {"out": args.out, "arch": args.arch, "train_records": len(tr), "val_records": len(va), **best}
    emit(args, doc, f"wrote {args.out}: validation mean F1 (N,A,O) {best.get('f1_mean_nao', float('nan')):.3f}")
    return 0


def _argv_for(args) -> list[str]:
    out = [args.dataset, "--arch", args.arch, "--out", os.path.basename(args.out), "--seed", str(args.seed)]
    if args.epochs:
        out += ["--epochs", str(args.epochs)]
    if args.max_minutes:
        out += ["--max-minutes", str(args.max_minutes)]
    if args.split != "all":
        out += ["--split", args.split]
    return out
