"""Core benchmarks on 2 CPU threads: gradient step (default vs paper CNN, one run), inference per
record, training time per epoch (estimated from a few batches).

    python bench/bench_core.py            # plain lines: "name: value unit (ratio X vs baseline)"
    python bench/bench_core.py --json     # one JSON document

Timings are medians over --reps repetitions after one warm-up. Weights do not change the cost:
the installed default model is used when present, otherwise an untrained one of the same shape.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

# PhysioNet 2017 training records in ../shared (REFERENCE-v3): the set the default model trains on
SHARED_COUNTS = {"N": 4567, "A": 674, "O": 2186, "~": 248}
TIME_BUDGET_S = 45 * 60  # the limit for training the default model on 2 cores


def machine_info() -> dict:
    """Where a benchmark ran: torch threads and version, Python, CPU."""
    return {"threads": torch.get_num_threads(), "torch": torch.__version__, "python": platform.python_version(),
            "cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count()}


def print_rows(rows: list[dict], as_json: bool) -> None:
    """Benchmark rows ({name, value, unit, ratio, baseline}; one "_info" row) as one JSON document,
    or as lines "name: value unit (ratio X vs baseline)" and "info: k=v, ..."."""
    if as_json:
        doc = {r["name"]: {k: v for k, v in r.items() if k != "name"} for r in rows if r["name"] != "_info"}
        doc["info"] = next(r["value"] for r in rows if r["name"] == "_info")
        print(json.dumps(doc))
        return
    for r in rows:
        if r["name"] == "_info":
            print("info: " + ", ".join(f"{k}={v}" for k, v in r["value"].items()))
            continue
        v = r["value"]
        val = f"{v:.3g}" if v < 100 else f"{v:.0f}"
        extra = f" (ratio {r['ratio']:.4g} vs {r['baseline']})" if r["ratio"] is not None else ""
        print(f"{r['name']}: {val} {r['unit']}{extra}")


def median_time(fn, reps: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def load_default():
    from engine.models import build
    from engine.models.checkpoint import BUILTIN, base_meta, load_checkpoint
    from engine.models.classifier import Classifier

    if BUILTIN["default"].is_file():
        clf = load_checkpoint(BUILTIN["default"])
        clf.meta["name"] = "default"
        return clf, "installed weights"
    torch.manual_seed(0)
    return Classifier(build("default").eval(), base_meta("default")), "untrained (weights not installed)"


def paper_classifier():
    from engine.models import build
    from engine.models.checkpoint import BUILTIN, base_meta, load_checkpoint
    from engine.models.classifier import Classifier

    if BUILTIN["paper-cnn"].is_file():
        return load_checkpoint(BUILTIN["paper-cnn"])
    torch.manual_seed(0)
    return Classifier(build("paper-cnn").eval(), base_meta("paper-cnn"))


def real_signals(length: int) -> np.ndarray:
    """The 12 bundled real records, centred to `length`, in mV."""
    from engine.datasets import open_dataset, load_signals
    from engine.models.classifier import fit_length

    ds = open_dataset(ROOT / "resources" / "samples")
    return np.stack([fit_length(x, length)[0] for _, x, _ in load_signals(ds, ds.names)])


def grad_step(clf, x_mv: np.ndarray):
    """One forward + backward to the input (batch 1, frozen weights: the attack's inner step)."""
    module = clf.module.eval()
    for p in module.parameters():
        p.requires_grad_(False)
    x = torch.from_numpy(x_mv[None].copy())
    target = torch.tensor([0])

    def step():
        xv = x.clone().requires_grad_(True)
        loss = F.cross_entropy(clf.logits(xv), target)
        (g,) = torch.autograd.grad(loss, xv)
        return g

    return step


def bench(reps: int, paper_reps: int, train_batches: int) -> list[dict]:
    from engine.training import DUPLICATES, _random_window

    rows: list[dict] = []

    def add(name, value, unit, ratio=None, baseline=None):
        rows.append({"name": name, "value": value, "unit": unit, "ratio": ratio, "baseline": baseline})

    default, how = load_default()
    paper = paper_classifier()
    sig9k = real_signals(9000)
    sig18k = real_signals(18000)

    # (a) gradient step to the input: default on 30 s vs the paper's CNN on its 60-s input, same run
    t_paper = median_time(grad_step(paper, sig18k[0]), paper_reps)
    t_default = median_time(grad_step(default, sig9k[0]), reps)
    add("grad_step_paper_cnn_60s", t_paper * 1e3, "ms", 1.0, "itself")
    add("grad_step_default_30s", t_default * 1e3, "ms", t_default / t_paper, "paper-cnn 60 s")
    add("grad_step_speedup", t_paper / t_default, "x", None, None)

    # (b) inference per record, default model: batch 1 (classify incl. input preparation) and batched 64
    from engine.datasets import open_dataset, load_signals

    ds = open_dataset(ROOT / "resources" / "samples")
    raw = [(x, fs) for _, x, fs in load_signals(ds, ds.names)]
    k = iter(range(10 ** 9))

    def one():
        x, fs = raw[next(k) % len(raw)]
        default.classify(x, fs)

    t_b1 = median_time(one, reps)
    batch64 = np.concatenate([sig9k] * 6)[:64]
    t_b64 = median_time(lambda: default.predict_proba(batch64, batch_size=64), max(3, reps // 4)) / 64
    t_paper_inf = median_time(lambda: paper.predict_proba(sig18k[:1]), paper_reps)
    add("infer_paper_cnn_batch1", t_paper_inf * 1e3, "ms/record", 1.0, "itself")
    add("infer_default_batch1", t_b1 * 1e3, "ms/record", t_b1 / t_paper_inf, "paper-cnn batch 1")
    add("infer_default_batch64", t_b64 * 1e3, "ms/record", t_b64 / t_b1, "default batch 1")

    # (b2) the CPU twin (engine.models.cpu_twin) against the plain 1-D module, interleaved
    if default.device.type == "cpu":
        gs = grad_step(default, sig9k[0])
        inf64 = lambda: default.predict_proba(batch64, batch_size=64)  # noqa: E731
        times = {(w, what): [] for w in (True, False) for what in ("grad", "inf")}
        for _ in range(3):
            for use in (True, False):
                default.use_twin = use
                times[(use, "grad")].append(median_time(gs, max(3, reps // 3)))
                times[(use, "inf")].append(median_time(inf64, 2) / 64)
        default.use_twin = True
        g_on, g_off = min(times[(True, "grad")]), min(times[(False, "grad")])
        i_on, i_off = min(times[(True, "inf")]), min(times[(False, "inf")])
        add("grad_step_default_30s_cpu_twin", g_on * 1e3, "ms", g_on / g_off,
            f"the plain Conv1d module, {g_off * 1e3:.2f} ms")
        add("infer_default_batch64_cpu_twin", i_on * 1e3, "ms/record", i_on / i_off,
            f"the plain Conv1d module, {i_off * 1e3:.2f} ms/record")

    # (c) training time per epoch: a few batches of 64 x 9000, extrapolated to the 7675-record set
    module = default.module
    for p in module.parameters():
        p.requires_grad_(True)
    module.train()
    opt = torch.optim.AdamW(module.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    long_sigs = [x for x, _ in raw]

    def train_batch():
        xb = np.stack([_random_window(long_sigs[i % len(long_sigs)], 9000, rng) for i in range(64)])
        yb = torch.from_numpy(rng.integers(0, 4, 64))
        loss = F.cross_entropy(default.logits(torch.from_numpy(xb)), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    t_batch = median_time(train_batch, train_batches)
    module.eval()
    n_examples = sum(n * DUPLICATES[c] for c, n in SHARED_COUNTS.items())  # AF x2, Noisy x6
    n_batches = -(-n_examples // 64)
    val_s = (sum(SHARED_COUNTS.values()) // 10) * t_b64  # a 10 % validation pass per epoch
    epoch_s = n_batches * t_batch + val_s
    add("train_batch64_default", t_batch * 1e3, "ms/batch", None, None)
    add("train_epoch_default_est", epoch_s, "s/epoch", epoch_s / TIME_BUDGET_S, "45-min budget")
    add("train_epochs_in_45min_est", TIME_BUDGET_S / epoch_s, "epochs", None, None)
    rows.append({"name": "_info", "value": {
        **machine_info(), "default_weights": how, "balanced_examples_per_epoch": n_examples,
        "batches_per_epoch": n_batches}})
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true", help="print one JSON document")
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2)")
    ap.add_argument("--reps", type=int, default=20, help="repetitions for the cheap measurements")
    ap.add_argument("--paper-reps", type=int, default=3, help="repetitions for the paper CNN (~1 s each)")
    ap.add_argument("--train-batches", type=int, default=4, help="training batches timed")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    from engine.allocator import tune_heap

    tune_heap()  # the C heap's policy of the app (engine/allocator.py)
    print_rows(bench(args.reps, args.paper_reps, args.train_batches), args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
