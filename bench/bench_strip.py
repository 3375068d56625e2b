"""Benchmark of the ECG strip widget (gui.strip.StripView).

Targets (issue 4, section 3):
  * a 24-hour single-lead 300 Hz record (26 M samples) opens in <= 2 s and pans/zooms with a
    p95 frame time <= 16 ms at every zoom level from 1 s to 24 h; memory < 3x the raw signal;
  * a 60-s record with original, adversarial, perturbation and a 1000-member band drawn:
    p95 frame <= 16 ms.

The 24-h record is made by tiling real records (../shared/data/physionet2017 when present,
else resources/samples).  A frame = one view change (pan or zoom) + a synchronous repaint
(``plot.repaint(); app.processEvents()``).  Each frame is timed as wall time and as CPU time
of the GUI thread (``time.thread_time``); on a busy machine the CPU time is the better
estimate of what the frame costs.  Baselines measured in the same run:
  * naive:   pg.PlotDataItem.setData(whole record), no downsampling, no clipping;
  * pyqtgraph: the same with pyqtgraph's own clipToView + auto 'peak' downsampling.

Every strip case is measured ``--repeats`` times (5; 3 with --quick), each time with
fresh random views, and reported as the spread of its p95 over the repeats (``p95_runs_ms``
and min / median / max), not as one run: on a shared machine one run can be several ms
better or worse than the next.  Continuous mode is measured with free zoom (the row as
tall as the view: the most ink, the case of the issue's figures); ``--calibrated`` measures
it with square paper instead.

Usage:  QT_QPA_PLATFORM=offscreen python bench/bench_strip.py [--quick] [--repeats N] [--json]
"""
from __future__ import annotations

import argparse
import gc
import glob
import json
import os
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import gui  # noqa: E402

gui.apply_pyside_workaround()  # PySide6 6.12 refcount workaround (Python < 3.12), before any Qt call
gui.paint_on_gui_thread()  # as the app: Qt's painting stays on the GUI thread
import pyqtgraph as pg  # noqa: E402
from PySide6 import QtWidgets  # noqa: E402

FS = 300.0
DAY = 24 * 3600
LEVELS = [("1 s", 1.0), ("10 s", 10.0), ("1 min", 60.0), ("10 min", 600.0), ("1 h", 3600.0),
          ("24 h", float(DAY))]


def real_records(max_records: int = 40) -> list[np.ndarray]:
    from engine.records import read_record

    shared = ROOT.parent / "shared" / "data" / "physionet2017"
    files = sorted(glob.glob(str(shared / "A*.hea")))[:max_records] if shared.is_dir() else []
    if not files:
        files = sorted(glob.glob(str(ROOT / "resources" / "samples" / "A*.hea")))
    out = []
    for f in files:
        rec = read_record(f)
        if rec.fs != FS:
            continue
        out.append(rec.lead_mv()[0])
    return out


def tiled_day(records: list[np.ndarray]) -> np.ndarray:
    """24 h at 300 Hz by concatenating real records over and over."""
    n = int(DAY * FS)
    block = np.concatenate(records)
    return np.resize(block, n).astype(np.float32)


def frame_times(app, widget, set_view, views, max_seconds: float = 30.0, show=None):
    """Wall and GUI-thread CPU seconds of each frame: set_view + synchronous repaint.

    `show`: a baseline window shown only while it is measured (hidden windows are not
    painted, so they cannot slow down the others)."""
    if show is not None:
        show.show()
        app.processEvents()
    wall, cpu = [], []
    start = time.perf_counter()
    for t0, t1 in views:
        c0, w0 = time.thread_time(), time.perf_counter()
        set_view(t0, t1)
        widget.repaint()
        app.processEvents()
        wall.append(time.perf_counter() - w0)
        cpu.append(time.thread_time() - c0)
        if time.perf_counter() - start > max_seconds:
            break
    if show is not None:
        show.hide()
        app.processEvents()
    return np.array(wall), np.array(cpu)


def stats(wall, cpu) -> dict:
    return {"frames": int(wall.size),
            "p95_ms": round(float(np.percentile(wall, 95)) * 1e3, 2),
            "median_ms": round(float(np.median(wall)) * 1e3, 2),
            "cpu_p95_ms": round(float(np.percentile(cpu, 95)) * 1e3, 2),
            "cpu_median_ms": round(float(np.median(cpu)) * 1e3, 2)}


def repeated(runs: list[dict]) -> dict:
    """Stats of several repeats of one case: the spread of p95 (and of the GUI thread's CPU
    p95) over the runs, with the median run's other figures."""
    p95 = [r["p95_ms"] for r in runs]
    cpu = [r["cpu_p95_ms"] for r in runs]
    mid = sorted(runs, key=lambda r: r["p95_ms"])[len(runs) // 2]
    return {"repeats": len(runs), "frames_per_run": mid["frames"],
            "p95_ms": {"min": min(p95), "median": round(float(np.median(p95)), 2), "max": max(p95)},
            "p95_runs_ms": p95,
            "cpu_p95_ms": {"min": min(cpu), "median": round(float(np.median(cpu)), 2), "max": max(cpu)},
            "median_ms": mid["median_ms"]}


def spread_text(s: dict) -> str:
    p, c = s["p95_ms"], s["cpu_p95_ms"]
    return (f"p95 min/median/max {p['min']:5.1f} / {p['median']:5.1f} / {p['max']:5.1f} ms "
            f"(cpu {c['min']:4.1f} / {c['median']:4.1f} / {c['max']:4.1f}) over {s['repeats']} runs")


def pan_zoom_views(rng, duration: float, width: float, n: int):
    """n views of about `width` s: random pans, every other frame a small zoom step."""
    views = []
    for i in range(n):
        w = min(width, duration) * (1.0 if i % 2 == 0 else rng.uniform(0.85, 0.99))
        t0 = rng.uniform(0, max(0.0, duration - w))
        views.append((t0, t0 + w))
    return views


def baseline_widget(x: np.ndarray, fs: float, peak: bool):
    w = pg.PlotWidget(background="w")
    w.resize(1600, 900)
    item = pg.PlotDataItem(pen=pg.mkPen("k", width=1), antialias=False)
    if peak:
        item.setClipToView(True)
        item.setDownsampling(auto=True, method="peak")
    w.addItem(item)
    item.setData(np.arange(x.size) / fs, x)
    vb = w.getPlotItem().getViewBox()
    vb.enableAutoRange(enable=False)
    vb.setYRange(float(x.min()), float(x.max()), padding=0.05)
    return w, item, (lambda t0, t1: vb.setXRange(t0, t1, padding=0))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer frames (about a minute)")
    ap.add_argument("--json", action="store_true", help="print the results as JSON only")
    ap.add_argument("--members", type=int, default=1000, help="band members in the 60-s case")
    ap.add_argument("--repeats", type=int, default=None, help="runs of every case (default 5, --quick 3)")
    ap.add_argument("--calibrated", action="store_true", help="continuous mode with square paper (not free zoom)")
    args = ap.parse_args(argv)
    n_frames = 30 if args.quick else 80
    repeats = max(1, args.repeats if args.repeats is not None else (3 if args.quick else 5))
    log = (lambda *a: None) if args.json else print

    from engine.allocator import tune_heap

    tune_heap()  # the C heap's policy of the app (engine/allocator.py)
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    from gui.strip import StripView

    rng = np.random.default_rng(0)
    res: dict = {"machine": {"cpus": os.cpu_count(), "loadavg": list(os.getloadavg())},
                 "frame": "set_view + plot.repaint() + processEvents(), 1600x1000 window",
                 "repeats": repeats, "continuous": "calibrated" if args.calibrated else "free zoom"}

    # ------------------------------------------------------------ 24-h record
    recs = real_records()
    x = tiled_day(recs)
    log(f"24-h record: {x.size:,} samples ({x.nbytes / 2**20:.0f} MiB float32) "
        f"tiled from {len(recs)} real records")
    v = StripView()
    v.resize(1600, 1000)
    v.set_free_zoom(not args.calibrated)
    v.show()
    app.processEvents()
    # as the app does once its window is up (gui/app.py): what lives now stays out of later
    # garbage collections, whose full passes over it took 15-75 ms (one frame in ~40)
    gc.collect()
    gc.freeze()
    tracemalloc.start()
    t = time.perf_counter()
    v.set_record(x, FS, "24h")
    v.plot.repaint()
    app.processEvents()
    open_s = time.perf_counter() - t
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    mem = v.memory_bytes()
    res["open_24h"] = {"seconds": round(open_s, 3), "target_s": 2.0,
                       "set_record_s": round(v.last_open_s, 3)}
    res["memory_24h"] = {"raw_bytes": int(x.nbytes), "pyramid_bytes": mem["pyramids"],
                         "held_over_raw": round((x.nbytes + mem["pyramids"]) / x.nbytes, 3),
                         "peak_alloc_during_open_over_raw": round(peak / x.nbytes, 3),
                         "target_over_raw": 3.0}
    log(f"open (set_record + first paint): {open_s:.3f} s  [target 2 s]")
    log(f"memory: signal + pyramid = {res['memory_24h']['held_over_raw']:.2f} x raw; "
        f"peak allocation while opening {res['memory_24h']['peak_alloc_during_open_over_raw']:.2f} x raw "
        f"[target < 3 x]")

    # baseline widgets (same record, same run)
    base_naive = baseline_widget(x, FS, peak=False)
    base_peak = baseline_widget(x, FS, peak=True)
    app.processEvents()

    res["zoom_levels_24h"] = {}
    for mode in ("continuous", "rows"):
        v.set_mode(mode)
        app.processEvents()
        for name, w in LEVELS:
            if mode == "rows" and w > 600:
                continue  # rows mode shows at most 60 rows; long spans are for continuous mode
            runs = []
            for _ in range(repeats):
                views = pan_zoom_views(rng, DAY, w, n_frames)
                runs.append(stats(*frame_times(app, v.plot, v.set_view, views)))
            s = repeated(runs)
            if mode == "continuous":
                bw, bc = frame_times(app, base_peak[0], base_peak[2], views[:max(6, n_frames // 5)], 20,
                                     show=base_peak[0])
                s["pyqtgraph_peak_p95_ms"] = stats(bw, bc)["p95_ms"]
                nw, nc = frame_times(app, base_naive[0], base_naive[2], views[:1], 10, show=base_naive[0])
                s["naive_p95_ms"] = stats(nw, nc)["p95_ms"]
                s["speedup_vs_pyqtgraph_peak"] = round(s["pyqtgraph_peak_p95_ms"] / max(1e-3, s["p95_ms"]["median"]), 1)
                s["speedup_vs_naive"] = round(s["naive_p95_ms"] / max(1e-3, s["p95_ms"]["median"]), 1)
            res["zoom_levels_24h"][f"{mode} {name}"] = s
            extra = (f" | baselines p95: pyqtgraph peak {s['pyqtgraph_peak_p95_ms']:.1f} ms "
                     f"(x{s['speedup_vs_pyqtgraph_peak']}), naive {s['naive_p95_ms']:.0f} ms "
                     f"(x{s['speedup_vs_naive']})") if mode == "continuous" else ""
            log(f"{mode:10s} {name:>6s}: {spread_text(s)}{extra}")
    for w in (base_naive[0], base_peak[0]):
        w.close()
    v.set_record(np.zeros(600, np.float32), FS)
    del x

    # ------------------------------------------------------------ 60 s + band
    x60 = np.resize(np.concatenate(recs), int(60 * FS)).astype(np.float32)
    ker = np.hanning(31) / np.hanning(31).sum()
    pert = np.convolve(rng.standard_normal(x60.size), ker, "same")
    adv = (x60 + 0.01 * pert / np.abs(pert).max()).astype(np.float32)
    from scipy.signal import fftconvolve

    z = fftconvolve(rng.standard_normal((args.members, x60.size)), ker[None], mode="same", axes=1)
    members = (adv[None] + 0.005 * z / np.abs(z).max(axis=1, keepdims=True)).astype(np.float32)
    t = time.perf_counter()
    v.set_record(x60, FS, "60s")
    v.set_adversarial(adv)
    v.set_band(members.min(0), members.max(0))
    v.set_band_members(members)
    v.plot.repaint()
    app.processEvents()
    res["band_60s_setup_s"] = round(time.perf_counter() - t, 3)
    res["band_60s"] = {"members": args.members, "members_drawn": v.model.members_shown()}
    log(f"60-s record + adversarial + perturbation + band of {args.members} "
        f"({res['band_60s']['members_drawn']} members drawn): setup {res['band_60s_setup_s']:.2f} s")
    # baseline: everything as plain PlotDataItems at full resolution (members as one NaN path)
    bw = pg.PlotWidget(background="w")
    bw.resize(1600, 900)
    tt = np.arange(x60.size) / FS
    for y, pen in ((x60, "k"), (adv, "r"), ((adv - x60) * 100 - 3, "r")):
        bw.addItem(pg.PlotDataItem(tt, y, pen=pen))
    mx = np.concatenate([np.append(tt, np.nan)] * members.shape[0])
    my = np.concatenate([np.append(m - x60, np.nan) * 100 - 3 for m in members])
    bw.addItem(pg.PlotDataItem(mx, my, pen=pg.mkPen(150, 185, 235), connect="finite"))
    lo = pg.PlotDataItem(tt, members.min(0))
    hi = pg.PlotDataItem(tt, members.max(0))
    bw.addItem(lo)
    bw.addItem(hi)
    bw.addItem(pg.FillBetweenItem(lo, hi, brush=(30, 110, 200, 45)))
    bvb = bw.getPlotItem().getViewBox()
    bvb.enableAutoRange(enable=False)
    bvb.setYRange(-5, 2)
    app.processEvents()
    for mode in ("continuous", "rows"):
        v.set_mode(mode)
        app.processEvents()
        for name, w in (("10 s", 10.0), ("1 min", 60.0)):
            runs = []
            for _ in range(repeats):
                views = pan_zoom_views(rng, 60.0, w, n_frames)
                setter = v.set_view
                if mode == "rows":
                    # rows snap to whole rows and a 60-s record fits on screen, so a pan changes
                    # nothing: each frame is one zoom step instead (3 % in, then out), which lays
                    # out and redraws every row
                    v.set_view(0.0, w)
                    app.processEvents()
                    flip = iter(range(10**9))
                    setter = lambda a, b, flip=flip: v.zoom(1.03 if next(flip) % 2 == 0 else 1 / 1.03)
                runs.append(stats(*frame_times(app, v.plot, setter, views)))
            s = repeated(runs)
            if mode == "continuous":
                nw, nc = frame_times(app, bw, lambda a, b: bvb.setXRange(a, b, padding=0), views[:3], 20,
                                     show=bw)
                s["naive_p95_ms"] = stats(nw, nc)["p95_ms"]
                s["speedup_vs_naive"] = round(s["naive_p95_ms"] / max(1e-3, s["p95_ms"]["median"]), 1)
            res["band_60s"][f"{mode} {name}"] = s
            extra = (f" | naive p95 {s['naive_p95_ms']:.0f} ms (x{s['speedup_vs_naive']})"
                     if mode == "continuous" else "")
            log(f"band {mode:10s} {name:>6s}: {spread_text(s)}{extra}")
    bw.close()
    res["machine"]["loadavg_end"] = list(os.getloadavg())
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        log(f"load average start {res['machine']['loadavg']}, end {res['machine']['loadavg_end']} "
            f"on {res['machine']['cpus']} CPUs")
    v.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
