"""Job factories: each returns a callable `fn(progress, should_stop)` that runs engine code in the
worker thread. Only orchestration lives here (reading, batching, counting); the numerical work is
the engine's. Nothing in this module touches a widget.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from engine.errors import Cancelled, UserError


@dataclass
class OpenedRecord:
    path: str
    name: str
    fs: float
    x_mv: np.ndarray = field(repr=False)
    lead: str
    gain: float
    label: str | None
    duration_s: float
    n_leads: int
    comments: list
    leads: list = field(default_factory=list)  # [(name, is_ecg)] of every channel
    gaps_filled: bool = False

    @property
    def quantum_mv(self) -> float:
        return 1.0 / self.gain if self.gain else 0.001


def preload() -> None:
    """Import the heavy libraries (PyTorch, wfdb, SciPy) and the engine up front.

    Loading PyTorch's shared libraries holds Python's global lock for a second or more; done in
    the worker while the window is up, it would freeze the window. The app calls this once,
    behind a splash screen, before the main window appears.
    """
    import torch  # noqa: F401
    import wfdb  # noqa: F401
    from scipy import signal  # noqa: F401

    import engine.attacks  # noqa: F401
    import engine.band  # noqa: F401
    import engine.datasets  # noqa: F401
    import engine.export  # noqa: F401
    import engine.models.checkpoint  # noqa: F401
    import engine.training  # noqa: F401

    # wfdb imports more (fsspec, dateutil, pandas parts...) on its first read: read one bundled
    # record now, so the first dataset listing does not stall the window for a few hundred ms
    from engine.datasets import RESOURCES
    from engine.records import read_record

    try:
        read_record(str(RESOURCES / "samples" / "A00001.hea")).lead_mv()
    except (UserError, OSError):
        pass  # a bundle without samples: nothing to warm up


def configure_threads() -> None:
    """Runs once in the worker thread: leave one CPU core to the GUI thread.

    On a 2-core machine two PyTorch compute threads plus the GUI thread oversubscribe the CPU,
    and OpenMP's synchronisation then slows an attack down many times (measured: 1.4 s with one
    thread, over 60 s with two while the GUI and another process run). ECGADV_THREADS overrides.
    """
    import torch

    want = os.environ.get("ECGADV_THREADS")
    n = int(want) if want and want.isdigit() and int(want) > 0 else max(1, (os.cpu_count() or 2) - 1)
    n = min(n, torch.get_num_threads()) if not want else n
    torch.set_num_threads(n)


def _check(should_stop) -> None:
    if should_stop():
        raise Cancelled("cancelled")


def load_model(spec: str, device: str | None = None):
    def fn(progress, should_stop):
        from engine.device import describe_device
        from engine.models.checkpoint import resolve_model

        progress(0, 1, f"loading model {spec}")
        clf = resolve_model(spec, device)
        return clf, describe_device(clf.device)
    return fn


def open_record(path: str, label: str | None = None, lead: str | None = None, fill_gaps: bool = False):
    """Read a record and one lead (the first ECG lead unless `lead`); `fill_gaps` interpolates
    short runs of missing samples instead of refusing the record."""
    def fn(progress, should_stop):
        from engine.datasets import label_for_record
        from engine.records import read_record, record_base

        progress(0, 1, f"reading {os.path.basename(record_base(path))}")
        lab = label if label is not None else label_for_record(path)
        rec = read_record(path, label=lab)
        x, ld = rec.lead_mv(lead, fill_gaps=fill_gaps)
        return OpenedRecord(path=rec.path, name=rec.name, fs=rec.fs, x_mv=x, lead=ld.name, gain=ld.gain,
                            label=lab, duration_s=rec.duration_s, n_leads=len(rec.leads),
                            comments=list(rec.comments), leads=[(c.name, c.is_ecg) for c in rec.leads],
                            gaps_filled=bool(fill_gaps))
    return fn


def classify(clf, x_mv: np.ndarray, fs: float):
    def fn(progress, should_stop):
        progress(0, 1, "classifying")
        return clf.classify(x_mv, fs)
    return fn


def attack_params(params):
    """engine AttackParams from the panel's plain dict (built here, in the worker thread, so the
    GUI thread never imports torch); an AttackParams passes through."""
    from engine.attacks import AttackParams
    from engine.attacks.base import PAPER_TARGET_MAP

    if isinstance(params, AttackParams):
        return params
    fields = dict(params)
    if fields.pop("paper_protocol", False):
        fields["target_map"] = PAPER_TARGET_MAP
    return AttackParams(**fields)


def attack(clf, rec: OpenedRecord, method: str, params):
    """Returns (AttackResult, AttackParams)."""
    def fn(progress, should_stop):
        from engine.attacks import AttackInput, run_attack

        p = attack_params(params)
        total = p.total_steps(method)

        def prog(done, n):
            progress(done, n, f"{method.upper()} step {done}/{n}")

        progress(0, total, f"{method.upper()} attack on {rec.name}")
        res = run_attack(clf, [AttackInput(rec.name, rec.x_mv, rec.fs, rec.label, rec.quantum_mv)], method,
                         p, progress=prog, should_stop=should_stop)
        return res[0], p
    return fn


def band(clf, result, params, trials: int, noise_sd_mv: float, seed: int = 0, **options):
    """engine.band.expand_band; `options` go to BandParams (e.g. max_pairs, batch_size)."""
    def fn(progress, should_stop):
        from engine.band import BandParams, expand_band

        bp = BandParams(trials=int(trials), noise_sd_mv=float(noise_sd_mv), seed=int(seed), **options)

        def prog(done, n):
            progress(done, n, f"band: batch {done}/{n}")

        progress(0, 1, "band expansion")
        return expand_band(clf, result, params, bp, progress=prog, should_stop=should_stop)
    return fn


def list_dataset(folder: str, labels: str | None = None):
    def fn(progress, should_stop):
        from engine.datasets import open_dataset

        progress(0, 1, f"listing {folder}")
        return open_dataset(folder, labels)
    return fn


def fill_batch(ds, names: list[str], clf, yield_to=None, chunk: int = 4):
    """Durations and (with a model) predictions for a batch of a dataset's records.

    Returns {"rows": {name: {...}}, "rest": [names not done]}: between chunks the job stops early
    when `yield_to()` says a user job is waiting, so background filling never delays the user.
    """
    def fn(progress, should_stop):
        from engine.records import read_record
        from engine.training import evaluate_signals

        out: dict[str, dict] = {}
        todo = list(names)
        while todo:
            _check(should_stop)
            part, todo = todo[:chunk], todo[chunk:]
            sigs, ok = [], []
            for name in part:
                try:
                    rec = read_record(ds.path(name))
                    x, _ = rec.lead_mv()
                    out[name] = {"duration": rec.duration_s}
                    if clf is not None:
                        sigs.append(clf.to_model_rate(x, rec.fs))
                        ok.append(name)
                except UserError as exc:
                    out[name] = {"error": str(exc)}
            if clf is not None and sigs:
                probs = evaluate_signals(clf, sigs, batch_size=chunk)
                for name, p in zip(ok, probs):
                    out[name]["pred"] = clf.classes[int(np.argmax(p))]
                    out[name]["probs"] = {c: float(v) for c, v in zip(clf.classes, p)}
            if todo and yield_to is not None and yield_to():
                break
        return {"rows": out, "rest": todo}
    return fn


def export_adversarial(out_dir: str, result, *, model: str, method: str, params, source: str,
                       overwrite: bool):
    def fn(progress, should_stop):
        from engine.export import write_adversarial

        progress(0, 1, "writing adversarial example")
        return write_adversarial(out_dir, result, model=model, method=method, params=params, source=source,
                                 overwrite=overwrite)
    return fn


def export_band(out_dir: str, band_result, *, model: str, method: str, params, source: str,
                members: int, overwrite: bool):
    def fn(progress, should_stop):
        from engine.export import write_band

        progress(0, 1, "writing band")
        return write_band(out_dir, band_result, model=model, method=method, params=params, source=source,
                          members=members, overwrite=overwrite)
    return fn


# ---- dataset actions -------------------------------------------------------------------------

def _split_names(ds, split: str, limit: int | None = None) -> list[str]:
    from engine.datasets import CLASSES, select_split

    sp = select_split(ds, split)
    names = [n for n in sp.names if ds.label(n) in CLASSES]
    if not names:
        raise UserError(f"{ds.folder}: no labelled records in split {split!r}")
    if limit:
        names = names[:limit]
    return names


def _signals(ds, names, clf, progress, should_stop):
    from engine.signals_cache import load_dataset_signals

    def prog(i, n):
        progress(i, n, f"reading records {i}/{n}")
        _check(should_stop)

    return load_dataset_signals(ds, names, clf.fs, progress=prog)


def _predict(clf, sigs, progress, should_stop, what="classifying"):
    from engine.training import evaluate_signals

    out = []
    step = 128
    for i in range(0, len(sigs), step):
        _check(should_stop)
        out.append(evaluate_signals(clf, sigs[i:i + step]))
        progress(min(i + step, len(sigs)), len(sigs), f"{what} {min(i + step, len(sigs))}/{len(sigs)}")
    return np.concatenate(out) if out else np.zeros((0, len(clf.classes)))


def evaluate(ds, split: str, clf):
    def fn(progress, should_stop):
        from engine.metrics import summarize

        names = _split_names(ds, split)
        sigs = _signals(ds, names, clf, progress, should_stop)
        probs = _predict(clf, sigs, progress, should_stop)
        pred = [clf.classes[int(i)] for i in probs.argmax(1)]
        res = summarize([ds.label(n) for n in names], pred)
        res["model"] = clf.name
        res["split"] = split
        res["predictions"] = dict(zip(names, pred))
        return res
    return fn


def attack_eval(ds, split: str, clf, method: str, params, limit: int | None):
    """engine.attack_eval.run_eval over the split (results kept in a temporary JSONL file)."""
    def fn(progress, should_stop):
        import tempfile

        from engine.attack_eval import run_eval

        params_ = attack_params(params)
        names = _split_names(ds, split, limit)
        state = {"done": 0, "total": len(names)}

        def rec_prog(done, total):
            state.update(done=done, total=total)
            progress(done, total, f"{method.upper()} attack evaluation: {done}/{total} records")

        def step_prog(step, n):
            progress(state["done"], state["total"], f"{method.upper()} attack evaluation: "
                                                    f"{state['done']}/{state['total']} records (step {step}/{n})")

        with tempfile.TemporaryDirectory(prefix="ecgadv-gui-") as tmp:
            summary = run_eval(clf, ds, names, method=method, params=params_,
                               results=os.path.join(tmp, "attack-eval.jsonl"), split=split,
                               progress=rec_prog, step_progress=step_prog, should_stop=should_stop)
        target = ("paper protocol (AF → N, others untargeted)" if params_.target_map else
                  f"targeted → {params_.target}" if params_.target else "untargeted")
        return {"model": clf.name, "method": method, "split": split, "eps_mv": params_.eps_mv, "target": target,
                **summary}
    return fn


def robustness(ds, split: str, clf, method: str, params, eps_text: str, limit: int | None):
    """engine.robustness.run_robustness, one ε at a time so the curve grows while it runs.
    `eps_text`: ε values in mV separated by commas."""
    def fn(progress, should_stop):
        from engine.robustness import parse_eps_list, run_robustness

        eps_list = parse_eps_list(eps_text.replace(";", ","))
        params_ = attack_params(params)
        names = _split_names(ds, split, limit)
        ratio = params_.alpha_mv / params_.eps_mv
        table = []
        for i, eps in enumerate(eps_list):
            _check(should_stop)

            def prog(cell, done, total, _i=i):
                progress(_i * total + done, len(eps_list) * total,
                         f"robustness {cell} ({_i + 1}/{len(eps_list)}): {done}/{total} records")

            doc = run_robustness(clf, ds, names, methods=[method], eps_list=[float(eps)], base=params_,
                                 alpha_ratio=ratio, split=split, progress=prog, should_stop=should_stop)
            table += doc["table"]
            progress(i + 1, len(eps_list), f"ε {eps:g} mV done", data={"table": list(table)})
        return {"model": clf.name, "method": method, "split": split, "n": len(names), "table": table}
    return fn


def train(ds, split: str, arch: str, epochs: int, out: str, device=None, seed: int = 0, limit: int | None = None):
    def fn(progress, should_stop):
        from engine.device import pick_device

        from engine.datasets import stratified_split
        from engine.models import INPUT_SPECS
        from engine.signals_cache import load_dataset_signals
        from engine.training import TrainConfig
        from engine.training import train as engine_train

        names = _split_names(ds, split, limit)
        tr, va = stratified_split(names, ds.labels, 0.1, seed)
        if not tr or not va:
            raise UserError("training needs labelled records in both the training and the validation split")
        fs = INPUT_SPECS[arch]["fs"]

        def rprog(i, n):
            progress(i, n, f"reading records {i}/{n}")
            _check(should_stop)

        sigs = load_dataset_signals(ds, tr + va, fs, progress=rprog)
        tx, vx = sigs[:len(tr)], sigs[len(tr):]
        cfg = TrainConfig(arch=arch, epochs=int(epochs), seed=seed)

        def report(r):
            progress(r.epoch, r.epochs, f"epoch {r.epoch}/{r.epochs}: loss {r.train_loss:.3f}, "
                                        f"val F1 (N,A,O) {r.val['f1_mean_nao']:.3f}", data=r)

        prov = {"dataset": os.path.abspath(ds.folder), "label_file": ds.label_file, "split": split,
                "validation": f"seeded stratified 10% (seed {seed})", "command": "GUI train"}
        try:
            best = engine_train(tx, [ds.label(n) for n in tr], vx, [ds.label(n) for n in va], cfg, out,
                                device=pick_device(device), provenance=prov, resume=False, overwrite=True,
                                progress=report, should_stop=should_stop)
        except KeyboardInterrupt:
            raise Cancelled("training cancelled") from None
        return {"out": out, "best": best}
    return fn
