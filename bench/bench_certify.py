"""Randomised smoothing cost: N noisy draws of engine.certify (noise generation, forward, votes) on
a 30-s record against N plain batched forwards of the same record, in one run, interleaved.

    python bench/bench_certify.py                 # n = 10000 draws, batch 1000
    python bench/bench_certify.py --n 2000 --json # quicker (a loaded machine)

Target (issue 16): draws ≤ 1.10 × forwards. The installed default model is used when present,
otherwise an untrained one of the same shape (weights do not change the cost).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000, help="draws (and forwards) per measurement")
    ap.add_argument("--batch-size", type=int, default=1000)
    ap.add_argument("--reps", type=int, default=3, help="interleaved repetitions (median)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    from engine.allocator import tune_heap

    tune_heap()  # the C heap's policy of the app (engine/allocator.py)

    from bench_core import load_default

    from engine.certify import NoiseStream, record_input, sample_counts
    from engine.records import read_record

    clf, weights = load_default()
    clf.to(a.device)
    rec = read_record(str(ROOT / "resources" / "samples" / "A00001.hea"))  # 30 s at 300 Hz
    x, _ = rec.lead_mv()
    seen, fn, _ = record_input(clf, x, rec.fs)
    xt = torch.as_tensor(seen, device=clf.device)
    C = len(clf.classes)

    def sync():
        if clf.device.type == "cuda":
            torch.cuda.synchronize()

    def draws():
        sample_counts(fn, xt, C, a.n, NoiseStream(len(seen), 0.1, 0, 1, clf.device), a.batch_size)
        sync()

    full = xt[None].expand(min(a.batch_size, a.n), -1).contiguous()  # one batch of the record, made once

    def forwards():
        with torch.no_grad():
            done = 0
            while done < a.n:
                k = min(a.batch_size, a.n - done)
                fn(full[:k]).argmax(1)
                done += k
        sync()

    def timed(f):
        t = time.perf_counter()
        f()
        return time.perf_counter() - t

    timed(lambda: fn(full))  # warm-up (twin, allocator)
    def noise_only():
        ns = NoiseStream(len(seen), 0.1, 0, 1, clf.device)
        done = 0
        while done < a.n:
            k = min(a.batch_size, a.n - done)
            ns.take(k).add_(xt[None])
            done += k
        sync()

    t_draw, t_fwd, t_noise = [], [], []
    for i in range(a.reps):  # interleaved, order alternating: a loaded machine drifts
        pair = [(t_fwd, forwards), (t_draw, draws)]
        for store, f in (pair if i % 2 == 0 else pair[::-1]):
            store.append(timed(f))
        t_noise.append(timed(noise_only))
    d, f, nz = statistics.median(t_draw), statistics.median(t_fwd), statistics.median(t_noise)
    doc = {"n": a.n, "batch_size": a.batch_size, "samples": len(seen), "draws_s": round(d, 3),
           "forwards_s": round(f, 3), "ratio": round(d / f, 4), "target": 1.10, "reps": a.reps,
           "noise_only_s": round(nz, 3), "ratio_from_parts": round((f + nz) / f, 4),
           "threads": torch.get_num_threads(), "device": str(clf.device), "weights": weights,
           "torch": torch.__version__, "cpu": platform.processor() or platform.machine(),
           "all_draws_s": [round(v, 3) for v in t_draw], "all_forwards_s": [round(v, 3) for v in t_fwd]}
    if a.json:
        print(json.dumps(doc))
    else:
        print(f"certify_draws_{a.n}: {d:.3f} s ({1e3 * d / a.n:.3f} ms/draw)")
        print(f"batched_forwards_{a.n}: {f:.3f} s")
        print(f"noise_only_{a.n}: {nz:.3f} s (ratio from parts (forwards + noise) / forwards: {(f + nz) / f:.3f})")
        print(f"ratio: {d / f:.3f} (target ≤ 1.10), batch {a.batch_size}, {len(seen)} samples, "
              f"{doc['threads']} threads, {doc['device']}, {weights}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    np.seterr(all="ignore")
    raise SystemExit(main())
