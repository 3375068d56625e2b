"""Training on a CPU in bf16: does `train --amp bf16` pay on this machine?

    python bench/bench_train_amp.py            # plain lines: "name: value unit (ratio X vs baseline)"
    python bench/bench_train_amp.py --json     # one JSON document

For each architecture, one training step of a batch of 64 real records (the bundled samples,
centred to the model's training length: 30 s for default-whole, 60 s for paper-narrow) —
forward, cross-entropy, backward, AdamW — timed in fp32 and under bf16 autocast
(engine.training_gpu.autocast, as `train --amp bf16` runs it), interleaved, median over --batches
after one warm-up each. The ratio is bf16 time over fp32 time in the same run (below 1: bf16 is
faster), and the epochs that fit in the 42-minute budget follow from it (9589 balanced examples
per epoch, validation not counted). Without native bf16 arithmetic (AVX512-BF16 or AMX) autocast
is emulated and the ratio can be far above 1; `native_bf16` says which case this CPU is.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from bench_core import SHARED_COUNTS, machine_info, print_rows, real_signals  # noqa: E402

BUDGET_MIN = 42  # the README's training command
ARCHS = {  # label -> (architecture, its arguments, training length in samples)
    "default-whole": ("default-whole", {}, 9000),
    "default-whole-depth2": ("default-whole", {"depth": 2}, 9000),
    "paper-narrow": ("paper-narrow", {}, 18000),
}


def step_times(label: str, batch: int, batches: int) -> tuple[float, float]:
    """Median seconds of one training step in fp32 and in bf16 autocast (interleaved)."""
    from engine.models import build
    from engine.models.checkpoint import base_meta
    from engine.models.classifier import Classifier
    from engine.training_gpu import autocast

    name, kwargs, length = ARCHS[label]
    torch.manual_seed(0)
    module = build(name, **kwargs).train()
    clf = Classifier(module, base_meta(name, kwargs))
    opt = torch.optim.AdamW(module.parameters(), lr=1e-3)
    sig = real_signals(length)
    x = torch.from_numpy(sig[[i % len(sig) for i in range(batch)]].copy())
    y = torch.tensor([i % 4 for i in range(batch)])
    dev = torch.device("cpu")

    def step(dtype):
        t = time.perf_counter()
        with autocast(dev, dtype):
            logits = clf.logits(x)
        loss = F.cross_entropy(logits.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return time.perf_counter() - t

    times: dict[str, list[float]] = {"fp32": [], "bf16": []}
    step(None), step(torch.bfloat16)  # warm-up: oneDNN builds its kernels on first use
    for _ in range(batches):
        times["fp32"].append(step(None))
        times["bf16"].append(step(torch.bfloat16))
    return statistics.median(times["fp32"]), statistics.median(times["bf16"])


def bench(archs: list[str], batch: int, batches: int) -> list[dict]:
    from engine.training import DUPLICATES
    from engine.training_gpu import cpu_bf16_native

    examples = sum(n * DUPLICATES[c] for c, n in SHARED_COUNTS.items())
    rows = []
    for label in archs:
        t32, t16 = step_times(label, batch, batches)
        per32, per16 = t32 / batch, t16 / batch
        rows.append({"name": f"train_step_{label}_fp32", "value": per32 * 1e3, "unit": "ms/example",
                     "ratio": 1.0, "baseline": "itself"})
        rows.append({"name": f"train_step_{label}_bf16", "value": per16 * 1e3, "unit": "ms/example",
                     "ratio": per16 / per32, "baseline": "fp32, same run"})
        for prec, per in (("fp32", per32), ("bf16", per16)):
            rows.append({"name": f"epochs_in_{BUDGET_MIN}min_{label}_{prec}", "value": BUDGET_MIN * 60 / (per * examples),
                         "unit": "epochs", "ratio": None, "baseline": None})
    rows.append({"name": "_info", "value": {
        "native_bf16": cpu_bf16_native(), **machine_info(), "batch": batch, "batches": batches,
        "examples_per_epoch": examples}})
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true", help="print one JSON document")
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2)")
    ap.add_argument("--batch", type=int, default=64, help="records per training step (default 64)")
    ap.add_argument("--batches", type=int, default=5, help="steps timed per precision (default 5)")
    ap.add_argument("--arch", action="append", choices=list(ARCHS),
                    help="architecture to time (repeatable; default all three)")
    a = ap.parse_args(argv)
    if a.threads < 1 or a.batch < 1 or a.batches < 1:
        print("error: --threads, --batch and --batches must be at least 1", file=sys.stderr)
        return 2
    torch.set_num_threads(a.threads)
    print_rows(bench(a.arch or list(ARCHS), a.batch, a.batches), a.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
