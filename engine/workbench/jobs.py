"""Workflow jobs: each factory returns `fn(progress, should_stop)` that runs one workflow.

The one implementation of every workflow both front ends run (the CLI calls them with a printing
`progress`, the GUI in its worker thread). `progress(done, total, msg="", data=None)` reports;
`should_stop()` is polled between steps and makes the job raise `Cancelled`. Nothing here touches
Qt. Signals are mV; ε and α are in mV (AttackParams). The attack workflows (attack, band,
attack-eval, robustness) live in `attack_jobs` and are re-exported here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..errors import Cancelled, UserError
from .attack_jobs import (attack, attack_eval, attack_params, attack_records, band, band_styles,  # noqa: F401
                          robustness)
from .selection import select_records, split_records, training_split

Progress = Callable[..., None]
ShouldStop = Callable[[], bool]
Job = Callable[[Progress, ShouldStop], Any]


@dataclass
class OpenedRecord:
    """One lead of a record, as the session holds it: `x_mv` (n,) float32 mV at `fs` Hz."""

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
    units: str = "mV"  # the shown lead's physical unit (x_mv is in mV only for an ECG lead in mV)
    channel: Any = field(default=None, repr=False)  # its engine.records.Lead (ADC range, for saturation)
    annotations: Any = field(default=None, repr=False)  # engine.annotations.Annotations of its .atr, or None
    annotation_error: str = ""  # why its .atr could not be read (one line), or ""

    @property
    def quantum_mv(self) -> float:
        """The record's ADC step in mV (1/gain)."""
        return 1.0 / self.gain if self.gain else 0.001


def preload() -> None:
    """Import the heavy libraries (PyTorch, wfdb, SciPy) and the engine up front.

    Loading PyTorch's shared libraries holds Python's global lock for a second or more; a GUI
    calls this once behind a splash screen so the window never stalls on a first import.
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


def configure_threads(leave_free: int = 1) -> int:
    """Set PyTorch's compute threads for an interactive session: all cores but `leave_free`.

    On a 2-core machine two compute threads plus a GUI thread oversubscribe the CPU and OpenMP's
    synchronisation then slows an attack down many times. ECGADV_THREADS overrides. Returns n.
    """
    import torch

    want = os.environ.get("ECGADV_THREADS")
    n = int(want) if want and want.isdigit() and int(want) > 0 else max(1, (os.cpu_count() or 2) - leave_free)
    n = min(n, torch.get_num_threads()) if not want else n
    torch.set_num_threads(n)
    return n


def check_stop(should_stop: ShouldStop) -> None:
    if should_stop():
        raise Cancelled("cancelled")


def never_stop() -> bool:
    return False


# ---- one record ------------------------------------------------------------------------------

def load_model(spec: str, device: str | None = None) -> Job:
    """(Classifier, device description) for 'default', 'paper-cnn' or a checkpoint file."""
    def fn(progress, should_stop):
        from ..device import describe_device
        from ..models.checkpoint import resolve_model

        progress(0, 1, f"loading model {spec}")
        clf = resolve_model(spec, device)
        return clf, describe_device(clf.device, threads=False)  # each job's threads: the status bar
    return fn


def open_record(path: str, label: str | None = None, lead: str | None = None, fill_gaps: bool = False) -> Job:
    """Read a record and one lead (the first ECG lead unless `lead`) → OpenedRecord. `fill_gaps`
    interpolates short runs of missing samples instead of refusing the record (MissingSamples)."""
    def fn(progress, should_stop):
        from ..datasets import label_for_record
        from ..records import read_record, record_base

        progress(0, 1, f"reading {os.path.basename(record_base(path))}")
        lab = label if label is not None else label_for_record(path)
        rec = read_record(path, label=lab)
        x, ld = rec.lead_mv(lead, fill_gaps=fill_gaps)
        return OpenedRecord(path=rec.path, name=rec.name, fs=rec.fs, x_mv=x, lead=ld.name, gain=ld.gain,
                            label=lab, duration_s=rec.duration_s, n_leads=len(rec.leads),
                            comments=list(rec.comments), leads=[(c.name, c.is_ecg) for c in rec.leads],
                            gaps_filled=bool(fill_gaps), units=str(ld.units), channel=ld,
                            annotations=rec.annotations, annotation_error=rec.annotation_error)
    return fn


def classify(clf, x_mv: np.ndarray, fs: float, detail: bool = False, lead=None) -> Job:
    """(pred, probs); with `detail` Classifier.classify_detail's dict (what the model saw; `lead`, the
    record's engine.records.Lead, gives the ADC limits its saturation check uses)."""
    def fn(progress, should_stop):
        progress(0, 1, "classifying")
        return clf.classify_detail(x_mv, fs, lead) if detail else clf.classify(x_mv, fs)
    return fn


def export_adversarial(out_dir: str, result, *, model: str, method: str, params, source: str,
                       overwrite: bool, **options) -> Job:
    """engine.export.write_adversarial (`options`: its further keywords, e.g. the source's ADC gain)."""
    def fn(progress, should_stop):
        from ..export import write_adversarial

        progress(0, 1, "writing adversarial example")
        return write_adversarial(out_dir, result, model=model, method=method, params=params, source=source,
                                 overwrite=overwrite, **options)
    return fn


def export_band(out_dir: str, band_result, *, model: str, method: str, params, source: str,
                members: int, overwrite: bool, **options) -> Job:
    """engine.export.write_band (`options`: its further keywords, e.g. the source's ADC gain)."""
    def fn(progress, should_stop):
        from ..export import write_band

        progress(0, 1, "writing band")
        return write_band(out_dir, band_result, model=model, method=method, params=params, source=source,
                          members=members, overwrite=overwrite, **options)
    return fn


# ---- datasets --------------------------------------------------------------------------------

def list_dataset(folder: str, labels: str | None = None) -> Job:
    def fn(progress, should_stop):
        from ..datasets import open_dataset

        progress(0, 1, f"listing {folder}")
        return open_dataset(folder, labels)
    return fn


def fill_batch(ds, names: list[str], clf, yield_to=None, chunk: int = 4) -> Job:
    """Durations and (with a model) predictions for a batch of a dataset's records.

    Returns {"rows": {name: {...}}, "rest": [names not done]}: between chunks the job stops early
    when `yield_to()` says a user job is waiting, so background filling never delays the user.
    """
    def fn(progress, should_stop):
        from ..records import read_record
        from ..training import evaluate_signals

        out: dict[str, dict] = {}
        todo = list(names)
        while todo:
            check_stop(should_stop)
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


def _signals(ds, names, fs, lead, progress, should_stop):
    from ..signals_cache import load_dataset_signals

    def prog(i, n):
        progress(i, n, f"reading records {i}/{n}")
        check_stop(should_stop)

    return load_dataset_signals(ds, names, fs, lead, progress=prog)


def _predict(clf, sigs, progress, should_stop, what="classifying"):
    from ..training import evaluate_signals

    out = []
    step = 128
    for i in range(0, len(sigs), step):
        check_stop(should_stop)
        out.append(evaluate_signals(clf, sigs[i:i + step]))
        progress(min(i + step, len(sigs)), len(sigs), f"{what} {min(i + step, len(sigs))}/{len(sigs)}")
    return np.concatenate(out) if out else np.zeros((0, len(clf.classes)))


def evaluate(ds, split: str, clf, *, lead: str | None = None, limit: int | None = None,
             warn: Callable[[str], None] | None = None, against=None) -> Job:
    """Accuracy, per-class F1 and confusion of `clf` on the labelled records of a split; the
    document also holds every record's prediction, the split's name and `absent_classes` (neither
    in the records nor predicted: F1 0/0, counted as 0 in the means).

    `against` (a Classifier or a model spec for engine.models.checkpoint.resolve_model, loaded on
    `clf`'s device before any record is read): a second model scored on the same records, in
    res["against"] with its figures and `paired`, the paired bootstrap of clf's mean F1 N/A/O minus
    its own (engine.metrics.paired_f1_difference)."""
    def fn(progress, should_stop):
        from ..metrics import absent_classes, f1_interval, paired_f1_difference, summarize

        other = against
        if isinstance(other, str):
            from ..models.checkpoint import resolve_model

            progress(0, 1, f"loading {other} ...")
            other = resolve_model(other, clf.device)
        sel = select_records(ds, split, limit, warn=warn or (lambda m: progress(0, 1, m)))
        names = sel.names
        truth = [ds.label(n) for n in names]

        def score(model, sigs=None):
            sigs = sigs if sigs is not None else _signals(ds, names, model.fs, lead, progress, should_stop)
            probs = _predict(model, sigs, progress, should_stop)
            pred = [model.classes[int(i)] for i in probs.argmax(1)]
            res = summarize(truth, pred)
            res["f1_mean_nao_ci95"] = f1_interval(truth, pred)  # resampling the records (engine.metrics)
            res["absent_classes"] = absent_classes(res["confusion"], list(res["f1"]))  # F1 0/0, counted as 0
            return res, pred, sigs

        res, pred, sigs = score(clf)
        res["model"] = clf.name
        res["split"] = split
        res["missing"] = len(sel.missing)
        res["predictions"] = dict(zip(names, pred))
        if other is not None:
            progress(0, 1, f"evaluating {other.name} on the same records ...")
            ores, opred, _ = score(other, sigs if other.fs == clf.fs else None)
            res["against"] = {"model": other.name, **{k: ores[k] for k in ("accuracy", "f1", "f1_mean_nao",
                                                                          "f1_mean_nao_ci95", "confusion")},
                              "paired": paired_f1_difference(truth, opred, pred)}
        return res
    return fn


def robustness_card(ds, split: str, clf, settings=None, limit: int | None = None) -> Job:
    """engine.card.build.build_card on the split's labelled records (`settings` an
    engine.card.build.CardSettings; None: the card's defaults) → {"doc": the card, "html": its page}."""
    def fn(progress, should_stop):
        from ..card.build import build_card
        from ..card.render import card_html

        names = split_records(ds, split, limit, need_labels=True, warn=lambda m: progress(0, 1, m))
        doc = build_card(clf, ds, names, split, settings, progress=progress, should_stop=should_stop)
        return {"doc": doc, "html": card_html(doc)}
    return fn


def certify(clf, rec: OpenedRecord, params) -> Job:
    """Randomised-smoothing CERTIFY (engine.certify) of one opened record → Certificate;
    `params` an engine.certify.SmoothParams."""
    def fn(progress, should_stop):
        from ..certify import certify_record

        progress(0, params.n0 + params.n, f"certifying {rec.name} (σ {params.sigma_mv:g} mV)")
        return certify_record(clf, rec.x_mv, rec.fs, params, should_stop=should_stop,
                              progress=lambda k, n, stage: progress(k, n, f"certify {rec.name}: {stage} {k}/{n}"))
    return fn


def certify_dataset(ds, split: str, clf, params, *, limit: int | None = None, lead: str | None = None,
                    results: str | None = None, restart: bool = False) -> Job:
    """engine.certify_eval.run_certify_eval over the split's labelled records → its summary plus
    "model" and "split". With `results` (JSONL) a rerun resumes; without, a temporary file."""
    def fn(progress, should_stop):
        import tempfile

        from ..certify_eval import run_certify_eval

        names = split_records(ds, split, limit, need_labels=True, warn=lambda m: progress(0, 1, m))
        sigs = _signals(ds, names, clf.fs, lead, progress, should_stop)
        labels = [ds.label(n) for n in names]

        def run(path):
            return run_certify_eval(clf, names, labels, sigs, params, path, split=split, restart=restart,
                                    progress=progress, should_stop=should_stop)

        if results is None:
            with tempfile.TemporaryDirectory(prefix="ecgadv-certify-") as tmp:
                doc = run(os.path.join(tmp, "certify.jsonl"))
            doc["results_file"] = None
        else:
            doc = run(results)
        return {"model": clf.name, "split": split, **doc}
    return fn


@dataclass
class TrainRequest:
    """Everything a training run needs; the CLI fills it from its options, the GUI from its panel."""

    dataset: Any  # an open Dataset
    out: str  # .safetensors checkpoint to write
    arch: str = "default"
    split: str = "all"  # the training pool
    val_split: str = "strat"
    epochs: int | None = None  # None: the architecture's default
    batch_size: int = 64
    lr: float = 1e-3
    seed: int = 0
    max_minutes: float | None = None
    limit: int | None = None
    device: str | None = None
    resume: bool = True
    overwrite: bool = False
    resident: bool | None = None  # data resident on the device (None: automatic, on CUDA)
    amp: str = "auto"  # mixed precision (engine.training_gpu.AMP_CHOICES)
    noise_sd_mv: float = 0.0  # Gaussian noise augmentation (mV), for randomised smoothing (engine.certify)
    adversarial: str | None = None  # adversarial training: "pgd" or "sap" (engine.adv_training)
    adv_eps_mv: float = 0.01
    adv_steps: int = 1
    adv_share: float = 1.0  # share of each batch made adversarial
    ema: float = 0.0  # weight moving-average decay (engine.weight_average); 0: off
    init: str | None = None  # checkpoint to start from (fine-tuning)
    weight_decay: float = 1e-4  # AdamW's decoupled weight decay
    label_smoothing: float = 0.0  # cross-entropy label smoothing
    augment: tuple[str, ...] = ()  # engine.augment names, applied in order to every training batch
    command: str = ""  # how the run was started, for the model card ("": engine.train_params.command_line)
    arch_args: dict = field(default_factory=dict)  # constructor arguments (e.g. channels), checked and kept


def train(req: TrainRequest) -> Job:
    """Train `req.arch` on the pool's training names and write the best checkpoint to `req.out`.

    progress(epoch, epochs, text, data=EpochReport) after each epoch. Returns
    {"out", "arch", "train_records", "val_records", "best": validation metrics of the best epoch}.
    """
    def fn(progress, should_stop):
        import torch

        from ..device import pick_device, seed_everything
        from ..models import ARCHITECTURES
        from ..outputs import check_output, check_suffix
        from ..train_params import check_request, command_line
        from ..training import TrainConfig
        from ..training import train as engine_train

        check_request(req)  # the CLI's ranges and messages, whichever front end asks
        resume_file = req.out + ".resume.pt"
        check_suffix(req.out, (".safetensors",), "checkpoint")
        if req.arch_args:  # before any data is read: a network that cannot be built or is absurdly large
            from ..models.checkpoint import MAX_PARAMETERS, parameter_count

            try:
                n_params = parameter_count(req.arch, req.arch_args)
            except Exception as exc:  # noqa: BLE001 - the constructor's own complaint, in one line
                raise UserError(f"{req.arch} cannot be built with {req.arch_args}: {exc}") from None
            if n_params > MAX_PARAMETERS:
                raise UserError(f"{req.arch} with {req.arch_args} has {n_params:,} parameters "
                                f"(limit {MAX_PARAMETERS:,})")
        check_output(req.out, req.overwrite or (req.resume and os.path.exists(resume_file)), what="checkpoint",
                     inputs=[req.init])
        device = pick_device(req.device)
        from ..training_gpu import amp_setup
        from ..weight_average import load_init

        amp_setup(req.amp, device)  # fp16 on a CPU, a bad --init: refused before the records are read
        start = load_init(req.init, req.arch) if req.init else None
        ds = req.dataset
        names = split_records(ds, req.split, req.limit, warn=lambda m: progress(0, 1, m))
        ts = training_split(ds, names, req.val_split, req.seed)
        seed_everything(req.seed)
        if req.amp == "bf16" and device.type == "cpu":
            from ..training_gpu import BF16_EMULATED, cpu_bf16_native

            if not cpu_bf16_native():
                progress(0, 1, BF16_EMULATED)
        fs = ARCHITECTURES[req.arch].input.fs
        progress(0, 1, f"reading {len(ts.train) + len(ts.val)} records from {ds.folder} ...")
        sigs = _signals(ds, ts.train + ts.val, fs, None, progress, should_stop)
        tx, vx = sigs[:len(ts.train)], sigs[len(ts.train):]
        epochs = req.epochs or ARCHITECTURES[req.arch].default_epochs
        cfg = TrainConfig(arch=req.arch, epochs=int(epochs), batch_size=req.batch_size, lr=req.lr, seed=req.seed,
                          max_minutes=req.max_minutes, resident=req.resident, amp=req.amp,
                          noise_sd_mv=float(req.noise_sd_mv or 0.0), adversarial=req.adversarial,
                          adv_eps_mv=float(req.adv_eps_mv), adv_steps=int(req.adv_steps),
                          adv_share=float(req.adv_share),
                          ema=float(req.ema or 0.0), init=req.init, arch_args=dict(req.arch_args),
                          weight_decay=float(req.weight_decay), label_smoothing=float(req.label_smoothing),
                          augment=tuple(req.augment))
        prov = {"dataset": os.path.basename(os.path.abspath(ds.folder)),
                "label_file": os.path.basename(ds.label_file) if ds.label_file else None,
                "split": req.split, "validation": ts.description, "torch": torch.__version__,
                "command": req.command or command_line(req)}

        def report(r):
            v = r.val
            progress(r.epoch, r.epochs,
                     f"epoch {r.epoch}/{r.epochs} loss {r.train_loss:.4f} val acc {v['accuracy']:.3f} "
                     f"F1(N,A,O) {v['f1_mean_nao']:.3f} [N {v['f1']['N']:.3f} A {v['f1']['A']:.3f} "
                     f"O {v['f1']['O']:.3f} ~ {v['f1']['~']:.3f}] best {r.best_f1:.3f}@{r.best_epoch} "
                     f"elapsed {r.elapsed_s / 60:.1f} min ETA {r.eta_s / 60:.1f} min", data=r)

        try:
            best = engine_train(tx, [ds.label(n) for n in ts.train], vx, [ds.label(n) for n in ts.val], cfg,
                                req.out, device=device, provenance=prov, resume=req.resume,
                                overwrite=req.overwrite, progress=report, should_stop=should_stop,
                                init_model=start)
        except KeyboardInterrupt:
            raise Cancelled("training cancelled") from None
        return {"out": req.out, "arch": req.arch, "train_records": len(ts.train), "val_records": len(ts.val),
                "best": best}
    return fn
