"""GPU benchmark of the paper CNN (issue 13, section 5): one short script for the first GPU lent.

Measures on a CUDA device, with the paper CNN (`resources/models/paper-cnn.safetensors` when
installed, else an untrained PaperCNN of the same shape: the cost does not depend on the weights):
1. `sap_records_per_s`: SAP with the paper's schedule (ε 0.01 mV, α 0.001 mV, 20 PGD + 40 SAP
   steps) through `engine.attacks.run_attack` in batches of --batch records (18000 samples each),
   including the re-classification and ADC-grid projection; records: the bundled samples
   (resources/samples), repeated up to --records.
2. `band_trials_per_s`: `engine.band.expand_band` around one SAP result, --trials noise trials
   (plus the concatenation and uniform procedures; their trials are counted too), batches of 250.
   If no record was fooled (an untrained network), the band is timed around a result marked
   adversarial (the trials cost the same) and the output says so.
3. `train_examples_per_s`: training steps (forward, backward, AdamW) of batch 64 under bf16 autocast
   on random data, and the estimated seconds per epoch of the paper's balanced PhysioNet 2017 training
   set (7675 records → 9589 examples).
Without a CUDA device it prints "no CUDA device: skipped" and exits 0, unless --cpu asks for a
tiny CPU run (2 records, 2+2 steps, 20 trials, no warm-up: a smoke test of the script, not a
measurement; a few minutes on 2 busy cores).

Usage: python bench/bench_gpu.py [--records 256] [--batch 64] [--trials 1000] [--model FILE] [--json]
       python bench/bench_gpu.py --cpu
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

EPOCH_EXAMPLES = 9589  # 7675 training records with AF ×2 and Noisy ×6 (bench_core.py)


def log(msg: str) -> None:
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def load_model(spec: str | None, dev: torch.device):
    from engine.models import build
    from engine.models.checkpoint import BUILTIN, base_meta, load_checkpoint
    from engine.models.classifier import Classifier

    path = Path(spec) if spec else BUILTIN["paper-cnn"]
    if path.is_file():
        clf, what = load_checkpoint(path), f"weights {path.name}"
    else:
        torch.manual_seed(0)
        clf, what = Classifier(build("paper-cnn").eval(), base_meta("paper-cnn")), "untrained PaperCNN"
    return clf.to(dev), what


def sample_inputs(n: int):
    from engine.attacks import AttackInput
    from engine.datasets import open_dataset
    from engine.records import read_record

    ds = open_dataset(ROOT / "resources" / "samples")
    base = []
    for name in ds.names:
        rec = read_record(ds.path(name))
        x, lead = rec.lead_mv()
        base.append((name, x, rec.fs, ds.label(name), 1.0 / lead.gain))
    return [AttackInput(f"{b[0]}#{i // len(base)}", b[1], b[2], b[3], b[4])
            for i, b in ((i, base[i % len(base)]) for i in range(n))]


def bench_sap(clf, inputs, batch: int, params, dev):
    from engine.attacks import run_attack

    if dev.type == "cuda":  # warm-up (cuDNN algorithm choice)
        run_attack(clf, inputs[:min(batch, len(inputs))], "sap", dataclasses.replace(params, steps=1, sap_steps=1),
                   batch_size=batch)
    sync(dev)
    t = time.perf_counter()
    res = run_attack(clf, inputs, "sap", params, batch_size=batch)
    sync(dev)
    return res, time.perf_counter() - t


def bench_band(clf, results, params, trials: int, dev):
    from engine.band import BandParams, expand_band

    fooled = [r for r in results if r.success]
    note = "around a fooled record"
    if fooled:
        r = fooled[0]
    else:  # the trials' cost does not depend on the outcome
        r = results[0]
        r = dataclasses.replace(r, adv_pred=next(c for c in clf.classes if c != r.orig_pred))
        note = "no record fooled: timed around a result marked adversarial"
    bp = BandParams(trials=trials)
    if dev.type == "cuda":
        expand_band(clf, r, params, BandParams(trials=min(trials, 50)))  # warm-up
    sync(dev)
    t = time.perf_counter()
    out = expand_band(clf, r, params, bp)
    sync(dev)
    dt = time.perf_counter() - t
    n_trials = (out.noise.get("trials", 0) + (out.concat.get("splices", 0) or 0)
                + (out.uniform.get("trials", 0) or 0))
    return dt, n_trials, note


def bench_train(clf, dev, batch: int, steps: int):
    import torch.nn.functional as F

    from engine.training_gpu import amp_setup, autocast

    module = clf.module
    dtype, use_scaler = amp_setup("auto" if dev.type == "cuda" else "bf16", dev)
    scaler = torch.amp.GradScaler(dev.type, enabled=use_scaler)
    opt = torch.optim.AdamW(module.parameters(), lr=1e-4)
    x = torch.randn(batch, 1, clf.length, device=dev) * 300
    y = torch.randint(0, len(clf.classes), (batch,), device=dev)
    module.train()
    try:
        times = []
        for i in range(steps + 2):
            sync(dev)
            t = time.perf_counter()
            with autocast(dev, dtype):
                loss = F.cross_entropy(module(x).float(), y)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            sync(dev)
            if i >= 2:  # the first two: warm-up
                times.append(time.perf_counter() - t)
    finally:
        module.eval()
    per_step = sorted(times)[len(times) // 2]
    return batch / per_step, dtype


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=256)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--trials", type=int, default=1000)
    ap.add_argument("--train-steps", type=int, default=10)
    ap.add_argument("--model", default=None, help="a paper-cnn checkpoint (default: the installed one, or untrained)")
    ap.add_argument("--cpu", action="store_true", help="a tiny CPU run (smoke test, not a measurement)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if not args.cpu and not torch.cuda.is_available():
        print("no CUDA device: skipped")
        return 0
    from engine.attacks import AttackParams

    dev = torch.device("cpu" if args.cpu else "cuda")
    params = AttackParams()  # the paper's schedule
    if args.cpu:
        args.records, args.batch, args.trials, args.train_steps = 2, 2, 20, 1
        params = AttackParams(steps=2, sap_steps=2)
    clf, what = load_model(args.model, dev)
    if clf.meta["arch"] != "paper-cnn":
        print(f"error: {args.model} is not a paper-cnn checkpoint", file=sys.stderr)
        return 2
    doc = {"device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu (smoke test)",
           "torch": torch.__version__, "model": what, "records": args.records, "batch": args.batch,
           "schedule": f"{params.steps} PGD + {params.sap_steps} SAP steps, eps {params.eps_mv} mV"}
    log(f"SAP on {args.records} records ...")
    res, dt = bench_sap(clf, sample_inputs(args.records), args.batch, params, dev)
    doc["sap_seconds"] = round(dt, 3)
    doc["sap_records_per_s"] = round(args.records / dt, 3)
    doc["sap_fooled"] = sum(bool(r.success) for r in res)
    log(f"band, {args.trials} trials ...")
    bt, n_trials, note = bench_band(clf, res, params, args.trials, dev)
    doc.update(band_seconds=round(bt, 3), band_trials=n_trials, band_trials_per_s=round(n_trials / bt, 1),
               band_note=note)
    log("training steps ...")
    rate, dtype = bench_train(clf, dev, 64 if not args.cpu else 2, args.train_steps)
    doc.update(train_examples_per_s=round(rate, 1), train_precision=str(dtype).replace("torch.", ""),
               train_epoch_s_est=round(EPOCH_EXAMPLES / rate, 1))
    if args.json:
        print(json.dumps(doc))
    else:
        for k, v in doc.items():
            print(f"{k}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
