"""Our APGD and Square against the torchattacks reference implementations (issue 15, §2 and §4).

Same model, same held-out records (the first --n of the split, ../shared/data/physionet2017
strat-val by default), same ε, iterations and query budget, one run: success rate (untargeted:
the model's prediction changed, judged after the same ADC-grid projection) and wall time side by
side. Then the speed ratios, measured in the same run on --speed-batch records:
APGD-CE with --iterations vs that many forward+backward-to-input passes of the model on the same
batch, and Square with --speed-queries queries (at an ε too small to fool, so every record uses
the whole budget) vs that many batched forwards (issue targets: ≤ 1.10× each).

torchattacks works on images in [0, 1]: each batch is mapped onto its mV range [lo, hi] (the
records' min − ε to max + ε, so the [0, 1] clip never binds), ε becomes ε / (hi − lo), and the
9000-sample model input becomes a 2 × 90 × 100 image: channel 0 the signal, channel 1 the padding
mask (the wrapper reads it, thresholded, to keep the padding of short records at 0 mV, as ours
does; the reference's perturbation of that channel has no effect). torchattacks is a bench-only
dependency: `pip install --no-deps torchattacks==3.5.1`; without it only our side is run.

Usage: python bench/bench_reference.py [--data DIR] [--split strat-val] [--n 100] [--eps 0.01]
       [--iterations 100] [--queries 5000] [--batch 16] [--speed-batch 4] [--speed-queries 5000]
       [--threads 2] [--model default|FILE] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from engine.attacks import AttackInput, AttackParams, run_attack  # noqa: E402
from engine.attacks.runner import quantise  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "physionet2017"


def log(msg: str) -> None:
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def load_inputs(data: Path, split: str, n: int) -> list[AttackInput]:
    from engine.datasets import open_dataset
    from engine.records import read_record
    from engine.workbench.selection import split_records

    ds = open_dataset(str(data))
    out = []
    for name in split_records(ds, split, n, need_labels=True):
        rec = read_record(ds.path(name), label=ds.label(name))
        x, lead = rec.lead_mv()
        out.append(AttackInput(name=name, x_mv=x, fs=rec.fs, true=ds.label(name),
                               quantum_mv=1.0 / lead.gain if lead.gain else 0.0))
    return out


# -- the reference side ---------------------------------------------------------------------------

class ImageModel(torch.nn.Module):
    """[0, 1] images (B, 2, H, W) → the classifier's logits: channel 0 mapped onto [lo, hi] mV,
    zero wherever channel 1 (the mask) is below 0.5."""

    def __init__(self, clf) -> None:
        super().__init__()
        self.clf = clf
        self.net = clf.module  # torchattacks reads the device and switches eval mode through it
        self.lo = self.hi = 0.0

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        b = u.shape[0]
        m = (u[:, 1] > 0.5).reshape(b, -1).to(u.dtype)
        x = (self.lo + u[:, 0].reshape(b, -1) * (self.hi - self.lo)) * m
        return self.clf.logits(x)


def image_shape(length: int) -> tuple[int, int]:
    h = int(np.sqrt(length))
    while length % h:
        h -= 1
    return h, length // h


def reference_run(clf, inputs, make_attack, eps: float, batch: int) -> tuple[list[bool], float]:
    """Run a torchattacks attack over the inputs in batches; success per record after the ADC grid."""
    model = ImageModel(clf)
    flags: list[bool] = []
    t0 = time.perf_counter()
    for s in range(0, len(inputs), batch):
        chunk = inputs[s:s + batch]
        xm = [clf.to_model_rate(i.x_mv, i.fs) for i in chunk]
        fitted = [clf.fit(x) for x in xm]
        x0 = np.stack([f[0] for f in fitted]).astype(np.float32)
        mask = np.stack([f[1].mask() for f in fitted])
        y0 = clf.predict_proba(x0).argmax(1)
        lo, hi = float(x0.min()) - 2 * eps, float(x0.max()) + 2 * eps
        model.lo, model.hi = lo, hi
        h, w = image_shape(x0.shape[1])
        u0 = np.stack([(x0 - lo) / (hi - lo), mask.astype(np.float32)], 1).reshape(len(chunk), 2, h, w)
        atk = make_attack(model, eps / (hi - lo))
        ua = atk(torch.from_numpy(u0).to(clf.device), torch.from_numpy(y0).to(clf.device)).detach().cpu().numpy()
        xa = (lo + ua[:, 0].reshape(len(chunk), -1) * (hi - lo)) * mask
        adv = []
        for i, inp in enumerate(chunk):
            pl = fitted[i][1]
            x_adv = x0[i].copy()
            sl = slice(pl.dst_start, pl.dst_start + pl.n)
            x_adv[sl] = quantise(x0[i][sl], xa[i][sl].astype(np.float32), inp.quantum_mv, eps)
            adv.append(x_adv)
        y1 = clf.predict_proba(np.stack(adv)).argmax(1)
        flags += [bool(a != b) for a, b in zip(y1, y0)]
        log(f"  reference: {min(s + batch, len(inputs))}/{len(inputs)} records")
    return flags, time.perf_counter() - t0


def ours_run(clf, inputs, method: str, params: AttackParams, batch: int) -> tuple[list[bool], float, list]:
    t0 = time.perf_counter()
    res = run_attack(clf, inputs, method, params, batch_size=batch)
    return [bool(r.success) for r in res], time.perf_counter() - t0, res


# -- speed ratios -----------------------------------------------------------------------------------

def model_batch(clf, inputs):
    fitted = [clf.prepare(i.x_mv, i.fs) for i in inputs]
    x = torch.from_numpy(np.stack([f[0] for f in fitted])).to(clf.device)
    return x


def bare_passes(clf, x: torch.Tensor, n: int, backward: bool) -> float:
    """n forward (+ backward to the input) passes of the model on batch x, frozen weights."""
    module = clf.module
    module.eval()
    flags = [p.requires_grad for p in module.parameters()]
    for p in module.parameters():
        p.requires_grad_(False)
    y = torch.zeros(x.shape[0], dtype=torch.long, device=x.device)
    try:
        t = time.perf_counter()
        for _ in range(n):
            if backward:
                xx = x.clone().requires_grad_(True)
                (g,) = torch.autograd.grad(F.cross_entropy(clf.logits(xx), y, reduction="sum"), xx)
            else:
                with torch.no_grad():
                    clf.logits(x)
        if x.device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t
    finally:
        for p, f in zip(module.parameters(), flags):
            p.requires_grad_(f)


def speed(clf, inputs, iterations: int, queries: int, repeat: int = 3) -> dict:
    """The two ratios; each timing the minimum of `repeat` interleaved repetitions (the machine may
    be shared), with the median of the per-repetition ratios."""
    x = model_batch(clf, inputs)
    bare_passes(clf, x, 2, True)
    run_attack(clf, inputs, "apgd-ce", AttackParams(eps_mv=0.01, iterations=2), batch_size=len(inputs))  # warm-up
    t_apgd, t_fb, t_sq, t_fw = [], [], [], []
    used = []
    for i in range(repeat):
        t = time.perf_counter()
        run_attack(clf, inputs, "apgd-ce", AttackParams(eps_mv=0.01, iterations=iterations), batch_size=len(inputs))
        t_apgd.append(time.perf_counter() - t)
        t_fb.append(bare_passes(clf, x, iterations, True))
        t = time.perf_counter()
        res = run_attack(clf, inputs, "square", AttackParams(eps_mv=1e-4, queries=queries), batch_size=len(inputs))
        t_sq.append(time.perf_counter() - t)
        t_fw.append(bare_passes(clf, x, queries, False))
        used = [r.extras["queries"] for r in res]
        log(f"  speed repetition {i + 1}/{repeat}: APGD {t_apgd[-1]:.2f} s vs {t_fb[-1]:.2f} s; "
            f"Square {t_sq[-1]:.2f} s vs {t_fw[-1]:.2f} s")

    def med(a, b):
        r = sorted(p / q for p, q in zip(a, b))
        return r[len(r) // 2]

    return {"records": len(inputs), "repeat": repeat, "apgd_s": min(t_apgd), "fwd_bwd_s": min(t_fb),
            "apgd_ratio": min(t_apgd) / min(t_fb), "apgd_ratio_median": med(t_apgd, t_fb),
            "apgd_iterations": iterations, "square_s": min(t_sq), "forwards_s": min(t_fw),
            "square_ratio": min(t_sq) / min(t_fw), "square_ratio_median": med(t_sq, t_fw),
            "square_queries": queries, "square_queries_used": used,
            "all_s": {"apgd": t_apgd, "fwd_bwd": t_fb, "square": t_sq, "forwards": t_fw}}


# -- main -------------------------------------------------------------------------------------------

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--split", default="strat-val")
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--eps", type=float, default=0.01, help="ε in mV (paper 0.01)")
    ap.add_argument("--iterations", type=int, default=100)
    ap.add_argument("--queries", type=int, default=5000)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--speed-batch", type=int, default=4)
    ap.add_argument("--speed-queries", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=3, help="interleaved repetitions of the speed timings")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--model", default="default")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--skip-square", action="store_true", help="leave out the Square comparison (the slow part)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    from engine.allocator import tune_heap

    tune_heap()  # the C heap's policy of the app (engine/allocator.py)
    if not Path(args.data).is_dir():
        print(f"skipped: {args.data} not found (the shared PhysioNet 2017 data is needed)")
        return 0
    from engine.models.checkpoint import resolve_model

    clf = resolve_model(args.model, args.device)
    inputs = load_inputs(Path(args.data), args.split, args.n)
    log(f"{len(inputs)} records of {args.split}; model {clf.name}; ε {args.eps:g} mV")
    try:
        import torchattacks
    except ImportError:
        torchattacks = None
        log("torchattacks not installed: reference side skipped (pip install --no-deps torchattacks==3.5.1)")
    p = AttackParams(eps_mv=args.eps, iterations=args.iterations, queries=args.queries)
    run_attack(clf, inputs[:args.batch], "apgd-ce", AttackParams(eps_mv=args.eps, iterations=1),
               batch_size=args.batch)  # warm-up (first-call costs out of the timings)
    rows = []

    def row(name, ours, ref):
        d = {"attack": name, "n": len(inputs), "ours_success": sum(ours[0]), "ours_s": ours[1]}
        if ref is not None:
            d.update(ref_success=sum(ref[0]), ref_s=ref[1],
                     ours_not_ref=sum(a and not b for a, b in zip(ours[0], ref[0])),
                     ref_not_ours=sum(b and not a for a, b in zip(ours[0], ref[0])))
        rows.append(d)
        log(f"{name}: {d}")

    log("APGD-CE ...")
    ours = ours_run(clf, inputs, "apgd-ce", p, args.batch)
    ref = reference_run(clf, inputs, lambda m, e: torchattacks.APGD(m, norm="Linf", eps=e, steps=args.iterations,
                                                                       n_restarts=1, loss="ce", seed=0),
                        args.eps, args.batch) if torchattacks else None
    row("apgd-ce", ours[:2], ref)
    if not args.skip_square:
        log("Square ...")
        ours = ours_run(clf, inputs, "square", p, args.batch)
        ref = reference_run(clf, inputs, lambda m, e: torchattacks.Square(m, norm="Linf", eps=e,
                                                                            n_queries=args.queries, n_restarts=1,
                                                                            seed=0),
                            args.eps, args.batch) if torchattacks else None
        row("square", ours[:2], ref)
    log("speed ratios ...")
    sp = speed(clf, inputs[:args.speed_batch], args.iterations, args.speed_queries, args.repeat)
    doc = {"records": len(inputs), "split": args.split, "eps_mv": args.eps, "iterations": args.iterations,
           "queries": args.queries, "threads": args.threads, "model": clf.name,
           "torchattacks": getattr(torchattacks, "__version__", None), "comparison": rows, "speed": sp}
    if args.json:
        print(json.dumps(doc, indent=1))
        return 0
    print(f"{len(inputs)} records ({args.split}), ε {args.eps:g} mV, model {clf.name}, {args.threads} threads")
    for r in rows:
        ref = (f"torchattacks {r['ref_success']}/{r['n']} in {r['ref_s']:.1f} s; only ours {r['ours_not_ref']}, "
               f"only theirs {r['ref_not_ours']}") if "ref_s" in r else "torchattacks: not run"
        print(f"{r['attack']}: ours {r['ours_success']}/{r['n']} in {r['ours_s']:.1f} s; {ref}")
    print(f"speed ({sp['records']} records): APGD {sp['apgd_iterations']} iterations {sp['apgd_s']:.2f} s vs "
          f"{sp['apgd_iterations']} forward+backward {sp['fwd_bwd_s']:.2f} s = {sp['apgd_ratio']:.3f}x; "
          f"Square {sp['square_queries']} queries {sp['square_s']:.2f} s vs {sp['square_queries']} forwards "
          f"{sp['forwards_s']:.2f} s = {sp['square_ratio']:.3f}x (minima of {sp['repeat']} interleaved repetitions; "
          f"median ratios {sp['apgd_ratio_median']:.3f}x, {sp['square_ratio_median']:.3f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
