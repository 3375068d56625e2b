"""Training loop: class balancing, per-epoch validation, best checkpoint, resume, time limit.

Class balancing follows the paper's code: each epoch lists AF records twice and Noisy records six
times (duplicate AF once, Noisy five times). Fixed-input models: training examples are random crops
(long records) or random placements (short records) inside the model's fixed input length.
Whole-record models (input_mode "whole"): batches are formed from records of similar length
(`length_batches`: shuffled, sorted by length within pools of 32 batches, batch order shuffled),
and every record of a batch is cropped at a random place to one common length drawn between 80
and 100 % of the batch's shortest record (at least min_length samples when it has them, at most
`length`; `batch_crops`): nothing is padded, so BatchNorm's batch statistics see signal only,
and most batches (records of 30 s, or of 60 s) keep 80-100 % of every record. Both: a random
gain of ±15 % (and, when asked, the augmentations of engine.augment, label smoothing and a
stronger weight decay); validation classifies exactly as inference does (fixed: centred placement; whole:
the whole record, batched by length and masked). The kept checkpoint is the epoch
with the best validation mean F1 over N, A, O (the paper's figure); ties keep the earlier epoch.
State for resuming (weights, optimiser, epoch, best score, RNG) is written after every epoch
next to the output file as `<out>.resume.pt` and read back with `weights_only=True`; it also keeps
the run's recipe and data (run_recipe), and a run of other settings or data is not resumed from it. The output
is checked before training starts (an existing file is replaced only with `overwrite` or by the
interrupted run it belongs to; the folder must be writable); every write is atomic.
On a CUDA device (or with `resident`), fixed-input models train with every record resident on
the device and batches drawn there, under mixed precision (`amp`; engine.training_gpu); the
examples, balancing, schedule, validation and checkpoints are the same. A model card
(engine.model_card) is written next to the checkpoint at the end (`m.safetensors` → `m.md`).
The learning rate warms up, then follows a cosine over training progress, which is measured in
steps or, when `max_minutes` is set and tighter, in time: a time-limited run still anneals fully.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from . import __version__
from .datasets import CLASSES
from .errors import UserError
from .metrics import summarize
from .models import ARCHITECTURES, DEFAULT_ARCH, build
from .models.checkpoint import base_meta, save_checkpoint
from .models.classifier import Classifier
from .outputs import atomic_write, check_output, write_text_atomic
from .augment import augment_batch
from .weight_average import WeightAverage, init_from
from .training_gpu import ResidentData, amp_setup, autocast, centred, precision_text, predict_resident

DUPLICATES = {"N": 1, "A": 2, "O": 1, "~": 6}


@dataclass
class TrainConfig:
    arch: str = DEFAULT_ARCH
    epochs: int = 40
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    seed: int = 0
    max_minutes: float | None = None
    gain_jitter: float = 0.15
    noise_sd_mv: float = 0.0  # Gaussian noise (mV) on every training example: a base model for smoothing
    adversarial: str | None = None  # one of attacks.registry.ADV_TRAINING_METHODS: train on adversarial examples (engine.adv_training)
    adv_eps_mv: float = 0.01  # their L∞ budget (mV)
    adv_steps: int = 1  # ascent steps (1: fast adversarial training with a random start)
    adv_share: float = 1.0  # share of each batch replaced by adversarial examples (the rest stay clean)
    arch_args: dict = field(default_factory=dict)
    resident: bool | None = None  # data resident on the device (engine.training_gpu); None: on CUDA
    amp: str = "auto"  # autocast precision (engine.training_gpu.AMP_CHOICES); auto: bf16/fp16 on CUDA
    ema: float = 0.0  # decay of an exponential moving average of the weights (0: off); validated and kept
    init: str | None = None  # start from this checkpoint's weights (same architecture): fine-tuning
    label_smoothing: float = 0.0  # cross-entropy label smoothing (0: off)
    augment: tuple[str, ...] = ()  # engine.augment.AUGMENTATIONS applied to every training batch, in order


@dataclass
class EpochReport:
    epoch: int
    epochs: int
    train_loss: float
    val: dict
    best_f1: float
    best_epoch: int
    elapsed_s: float
    eta_s: float
    threads: int = 0  # intra-op threads the epoch ran with (see ThreadChooser)


def schedule_progress(step: int, total_steps: int, elapsed_s: float, budget_s: float | None) -> float:
    """Training progress in [0, 1]: by steps, or by time when a budget is set and is the tighter."""
    frac = step / max(total_steps, 1)
    if budget_s:
        frac = max(frac, elapsed_s / budget_s)
    return min(frac, 1.0)


def lr_at(progress: float, base_lr: float, warmup: float = 0.05) -> float:
    """Linear warm-up for the first `warmup` of training, then cosine decay to 1 % of base_lr."""
    if progress < warmup:
        return base_lr * (0.1 + 0.9 * progress / warmup)
    t = (progress - warmup) / (1 - warmup)
    return base_lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(t, 1.0))))


def _balanced_index(labels: list[str]) -> np.ndarray:
    return np.array([i for i, lab in enumerate(labels) for _ in range(DUPLICATES[lab])], dtype=np.int64)


def _random_window(x: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    out = np.zeros(length, dtype=np.float32)
    if len(x) >= length:
        s = int(rng.integers(0, len(x) - length + 1))
        out[:] = x[s:s + length]
    else:
        s = int(rng.integers(0, length - len(x) + 1))
        out[s:s + len(x)] = x
    return out


def batch_crops(xs: list[np.ndarray], min_len: int, max_len: int, rng: np.random.Generator,
                keep: float = 0.8) -> np.ndarray:
    """Whole-record training batch (B, c): each record cropped at a random place to one common
    length c, uniform in [max(keep·n, min_len), n] for n the shortest record (at most max_len;
    never more than n, so a record shorter than min_len is kept whole and sets c)."""
    n = min(min(len(x) for x in xs), max_len)
    lo = min(n, max(int(keep * n), min_len))
    c = int(rng.integers(lo, n + 1))
    out = np.empty((len(xs), c), dtype=np.float32)
    for i, x in enumerate(xs):
        s = int(rng.integers(0, len(x) - c + 1))
        out[i] = x[s:s + c]
    return out


def length_batches(order: np.ndarray, lengths: np.ndarray, batch_size: int, rng: np.random.Generator,
                   pool: int = 32) -> list[np.ndarray]:
    """Split `order` (indices, already shuffled) into batches of similar length: pools of `pool`
    batches are sorted by length and cut into batches; the batches' order is shuffled."""
    batches = []
    for p in range(0, len(order), pool * batch_size):
        chunk = order[p:p + pool * batch_size]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[b:b + batch_size] for b in range(0, len(chunk), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


class ThreadChooser:
    """CPU training on a shared machine: the first `probe` steps of each epoch alternate between
    one intra-op thread and all of them, then the epoch runs with the faster (median seconds per
    input sample). Measured on 2 cores shared with other work: one thread ran 5x faster than two
    (OpenMP's threads wait for each other while the other core is busy); on a quiet machine two
    are faster. Inactive (threads left alone) off CPU, with one core, or when OMP_NUM_THREADS or
    ECGADV_THREADS is set. `restore()` puts back the count found at the start."""

    def __init__(self, device: torch.device, probe: int = 4) -> None:
        self.start = torch.get_num_threads()
        fixed = os.environ.get("OMP_NUM_THREADS") or os.environ.get("ECGADV_THREADS")
        self.options = [1, self.start] if device.type == "cpu" and self.start > 1 and not fixed else []
        self.probe = probe
        self.chosen = self.start
        self._times: dict[int, list[float]] = {}

    def before(self, i: int) -> None:
        """Before step i of an epoch (0-based)."""
        if not self.options:
            return
        if i == 0:
            self._times = {n: [] for n in self.options}
        if i < self.probe:
            torch.set_num_threads(self.options[i % len(self.options)])
        elif i == self.probe:
            rate = {n: float(np.median(t)) for n, t in self._times.items() if t}
            self.chosen = min(rate, key=rate.get) if rate else self.start
            torch.set_num_threads(self.chosen)

    def after(self, i: int, seconds: float, samples: int) -> None:
        if self.options and i < self.probe:
            self._times[torch.get_num_threads()].append(seconds / max(samples, 1))

    def restore(self) -> None:
        torch.set_num_threads(self.start)


# What the run is, as opposed to how long it runs (epochs, max_minutes may change on resuming)
_RECIPE_FIELDS = ("arch", "batch_size", "lr", "weight_decay", "seed", "gain_jitter", "noise_sd_mv", "adversarial",
                  "adv_eps_mv", "adv_steps", "adv_share", "arch_args", "ema", "init", "label_smoothing", "augment")


def run_recipe(cfg: TrainConfig, train_y: list[str], val_y: list[str], provenance: dict | None) -> dict:
    """The settings and data an interrupted run must be resumed with (JSON-able): the recipe's
    fields, the class counts of both splits and where the data came from."""
    rec = {k: getattr(cfg, k) for k in _RECIPE_FIELDS}
    rec["augment"] = list(rec["augment"])
    rec["train_counts"] = {c: int(sum(y == c for y in train_y)) for c in CLASSES}
    rec["val_counts"] = {c: int(sum(y == c for y in val_y)) for c in CLASSES}
    rec.update({k: (provenance or {}).get(k) for k in ("dataset", "label_file", "split", "validation")})
    return json.loads(json.dumps(rec, default=str))  # plain types, as read back


def _recipe_mismatch(saved: dict, now: dict) -> str:
    diff = [f"{k} {saved.get(k)!r} now {now.get(k)!r}" for k in now if saved.get(k) != now.get(k)]
    return "; ".join(diff[:3]) + (f" (and {len(diff) - 3} more)" if len(diff) > 3 else "")


def card_path_for(out: str) -> str:
    """The model card written next to checkpoint `out` (`m.safetensors` → `m.md`)."""
    return (out[:-len(".safetensors")] if out.endswith(".safetensors") else out) + ".md"


def evaluate_signals(clf: Classifier, signals: list[np.ndarray], batch_size: int = 64) -> np.ndarray:
    """Probabilities (n, C) for mV signals already at the model rate, placed as inference does
    (fixed models: centred; whole-record models: whole, batched by length)."""
    return clf.predict_signals(signals, batch_size)


def train(train_x: list[np.ndarray], train_y: list[str], val_x: list[np.ndarray], val_y: list[str],
          cfg: TrainConfig, out: str, *, device: torch.device, provenance: dict | None = None,
          resume: bool = True, overwrite: bool = False, progress=None, should_stop=None,
          init_model=None) -> dict:
    """Train and write the best checkpoint to `out`. Returns the best epoch's validation metrics.

    Signals are float32 mV at the architecture's sampling rate. `progress(EpochReport)` is called
    after every epoch; `should_stop()` is polled between batches (cancel / interrupt).
    `init_model`: the checkpoint `cfg.init` names, already read (engine.weight_average.load_init).
    """
    if not train_x or not val_x:
        raise UserError("training needs labelled records in both the training and validation split")
    if cfg.adversarial:
        from .adv_training import check as check_adversarial

        check_adversarial(cfg.adversarial, cfg.adv_eps_mv, cfg.adv_steps, cfg.adv_share)
    bad = sorted({y for y in list(train_y) + list(val_y) if y not in CLASSES})
    if bad:
        raise UserError(f"unknown class labels in training data: {bad}")
    resume_path = out + ".resume.pt"
    inputs = [cfg.init]  # the checkpoint fine-tuned from is never replaced, not even with overwrite
    check_output(out, overwrite or (resume and os.path.exists(resume_path)), what="checkpoint", inputs=inputs)
    card_path = card_path_for(out)
    check_output(card_path, overwrite or (resume and os.path.exists(resume_path)), what="model card",
                 inputs=inputs)
    arch_args = {**getattr(ARCHITECTURES.get(cfg.arch), "default_args", {}), **cfg.arch_args}
    start = None  # the checkpoint fine-tuned from, read once
    if cfg.init:
        from .models.checkpoint import load_checkpoint

        # safetensors or weights-only; checked like any model (`init_model`: it, already read)
        start = init_model if init_model is not None else load_checkpoint(cfg.init)
        if not cfg.arch_args and start.meta.get("arch") == cfg.arch:  # keeps its own widths and depth
            arch_args = {**arch_args, **start.meta.get("arch_args", {})}
    meta = base_meta(cfg.arch, arch_args)
    torch.manual_seed(cfg.seed)
    module = build(cfg.arch, **arch_args).to(device)
    init = init_from(module, cfg.init, cfg.arch, loaded=start) if cfg.init else None
    clf = Classifier(module, meta, device)
    ema = WeightAverage(module, cfg.ema) if cfg.ema else None
    val_clf = Classifier(ema.module, meta, device) if ema else clf  # what is validated and kept
    resident = (device.type == "cuda" and not clf.whole) if cfg.resident is None else bool(cfg.resident)
    if resident and clf.whole:
        raise UserError(f"--gpu-resident trains fixed-input models only; {cfg.arch} takes whole records")
    amp_dtype, use_scaler = amp_setup(cfg.amp, device)
    scaler = torch.amp.GradScaler(device.type, enabled=use_scaler)
    opt = torch.optim.AdamW(module.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(len(_balanced_index(train_y)) / cfg.batch_size)
    total_steps = steps_per_epoch * cfg.epochs
    budget_s = cfg.max_minutes * 60 if cfg.max_minutes else None
    rng = np.random.default_rng(cfg.seed)
    start_epoch, best_f1, best_epoch, best_val, spent = 0, -1.0, -1, {}, 0.0
    recipe = run_recipe(cfg, train_y, val_y, provenance)
    if resume and os.path.exists(resume_path):
        try:
            st = torch.load(resume_path, map_location="cpu", weights_only=True)
            module.load_state_dict(st["model"])
            opt.load_state_dict(st["opt"])
            if ema:
                ema.load_state_dict(st["ema"])
            start_epoch, best_f1, best_epoch = int(st["epoch"]), float(st["best_f1"]), int(st["best_epoch"])
        except Exception as exc:  # another run's, another architecture's or a damaged state file
            raise UserError(f"cannot resume from {resume_path} ({type(exc).__name__}); delete it or pass "
                            "--no-resume") from None
        if "recipe" in st:  # resume files before 2026-12-02 hold none
            try:
                saved = json.loads(st["recipe"])
            except (TypeError, ValueError):
                saved = {}
            mismatch = _recipe_mismatch(saved, recipe)
            if mismatch:
                raise UserError(f"{resume_path} belongs to a run with other settings or data ({mismatch}); "
                                "rerun with the same options, or pass --no-resume to start afresh")
        spent = float(st.get("spent_s", 0.0))
        rng = np.random.default_rng([cfg.seed, start_epoch])
    y_idx = np.array([CLASSES.index(y) for y in train_y])
    t0 = time.monotonic() - spent
    L = clf.length
    step = start_epoch * steps_per_epoch
    progress_frac = 0.0
    epoch = start_epoch - 1  # nothing left to run when resuming a finished run
    whole = clf.whole
    min_len = int(meta.get("min_length", 0))
    lengths = np.array([min(len(x), L) for x in train_x])
    threads = ThreadChooser(device)
    if resident:  # every record once on the device, in model units; batches are drawn there
        data = ResidentData(train_x, L, clf.units_per_mv, device)
        val_t = centred(val_x, L, clf.units_per_mv, device)
        y_dev = torch.from_numpy(y_idx).to(device)
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True
    try:
        for epoch in range(start_epoch, cfg.epochs):
            module.train()
            order = rng.permutation(_balanced_index(train_y))
            batches = (length_batches(order, lengths, cfg.batch_size, rng) if whole else
                       [order[b:b + cfg.batch_size] for b in range(0, len(order), cfg.batch_size)])
            n_steps = 0
            loss_sum = torch.zeros((), device=device)  # summed on the device: no sync per step
            for i_step, idx in enumerate(batches):
                if should_stop and should_stop():
                    raise KeyboardInterrupt
                if budget_s is not None and time.monotonic() - t0 > budget_s:
                    break  # time budget spent: validate what we have and stop
                progress_frac = schedule_progress(step, total_steps, time.monotonic() - t0, budget_s)
                for group in opt.param_groups:
                    group["lr"] = lr_at(progress_frac, cfg.lr)
                threads.before(i_step)
                t_step = time.perf_counter()
                if resident:
                    xt = data.batch(idx, rng, cfg.gain_jitter)  # model units, on the device
                    if cfg.noise_sd_mv:
                        xt = xt + torch.randn_like(xt) * (cfg.noise_sd_mv * clf.units_per_mv)
                    yt = y_dev[torch.from_numpy(idx).to(device)]
                else:
                    if whole:
                        xb = batch_crops([train_x[i] for i in idx], min_len, L, rng)
                    else:
                        xb = np.stack([_random_window(train_x[i], L, rng) for i in idx])
                    xb *= (1.0 + cfg.gain_jitter * rng.uniform(-1, 1, size=(len(idx), 1))).astype(np.float32)
                    if cfg.noise_sd_mv:
                        xb += rng.normal(0.0, cfg.noise_sd_mv, size=xb.shape).astype(np.float32)
                    xt = torch.from_numpy(xb).to(device)
                    yt = torch.from_numpy(y_idx[idx]).to(device)
                if cfg.augment:
                    xt = augment_batch(xt, tuple(cfg.augment), rng, units_per_mv=clf.units_per_mv if resident else 1.0,
                                       fixed_length=None if whole else L, max_length=L)
                if cfg.adversarial:  # crafted in mV; the resident path's batches are in model units
                    from .adv_training import adversarial_count, adversarial_inputs

                    scale = clf.units_per_mv if resident else 1.0
                    k = adversarial_count(len(yt), cfg.adv_share)  # batches are shuffled: the first k
                    xt = torch.cat([adversarial_inputs(clf, xt[:k] / scale, yt[:k], cfg.adversarial,
                                                       cfg.adv_eps_mv, cfg.adv_steps) * scale, xt[k:]])
                with autocast(device, amp_dtype):
                    logits = module(xt.unsqueeze(1)) if resident else clf.logits(xt)
                loss = F.cross_entropy(logits.float(), yt, label_smoothing=cfg.label_smoothing)
                opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
                if ema:
                    ema.update(module)
                loss_sum += loss.detach()
                n_steps += 1
                threads.after(i_step, time.perf_counter() - t_step, xt.numel())
                step += 1
            if n_steps == 0 and step == 0:
                # not one step, now or in an interrupted run: the network is untrained, never saved as a model
                raise UserError(f"the time budget of {cfg.max_minutes:g} min ran out before the first "
                                "training step; nothing was trained or written (allow more time)")
            mean_loss = float(loss_sum) / n_steps if n_steps else float("nan")
            kept_module = ema.module if ema else module
            probs = predict_resident(kept_module, val_t) if resident else evaluate_signals(val_clf, val_x)
            val = summarize(list(val_y), [CLASSES[i] for i in probs.argmax(1)])
            if val["f1_mean_nao"] > best_f1:
                best_f1, best_epoch, best_val = val["f1_mean_nao"], epoch + 1, val
                meta["metrics"] = {"validation": val, "epoch": best_epoch}
                meta["training"] = {**(provenance or {}), "epochs_planned": cfg.epochs, "best_epoch": best_epoch,
                                    "batch_size": cfg.batch_size, "lr": cfg.lr, "seed": cfg.seed,
                                    "optimizer": "AdamW, warm-up + cosine (by epochs or time budget)",
                                    "balancing": "AF x2, Noisy x6 per epoch",
                                    **({"noise_sd_mv": cfg.noise_sd_mv} if cfg.noise_sd_mv else {}),
                                    **({"ema": cfg.ema} if cfg.ema else {}),
                                    "weight_decay": cfg.weight_decay,
                                    **({"label_smoothing": cfg.label_smoothing} if cfg.label_smoothing else {}),
                                    **({"augment": ",".join(cfg.augment)} if cfg.augment else {}),
                                    **({"init": init} if init else {}),
                                    **({"adversarial": {"method": cfg.adversarial, "eps_mv": cfg.adv_eps_mv,
                                                        "steps": cfg.adv_steps,
                                                        **({"share": cfg.adv_share} if cfg.adv_share < 1 else {})}}
                                       if cfg.adversarial else {}),
                                    "examples": ("whole records batched by length, each batch cropped to one random "
                                                 "length of 80-100 % of its shortest record" if whole
                                                 else "random windows of the input length"),
                                    "train_records": len(train_x), "val_records": len(val_x),
                                    "app_version": __version__, "device": str(device),
                                    "precision": precision_text(amp_dtype, use_scaler),
                                    "data": "resident on the device" if resident else "batches copied per step"}
                save_checkpoint(out, kept_module, meta, overwrite=True)
            elapsed = time.monotonic() - t0
            with atomic_write(resume_path) as tmp:
                torch.save({"model": module.state_dict(), "opt": opt.state_dict(),
                            **({"ema": ema.state_dict()} if ema else {}),
                            "epoch": epoch + 1, "best_f1": best_f1, "best_epoch": best_epoch, "spent_s": elapsed,
                            "recipe": json.dumps(recipe, sort_keys=True)},
                           tmp)
            done = epoch + 1 - start_epoch
            eta = (elapsed - spent) / done * (cfg.epochs - epoch - 1)
            if progress:
                progress(EpochReport(epoch + 1, cfg.epochs, mean_loss, val, best_f1, best_epoch,
                                     elapsed, eta, torch.get_num_threads()))
            if budget_s is not None and elapsed + 0.5 * (elapsed - spent) / done > budget_s:
                break  # the schedule has annealed by time; another epoch would overrun the budget
    finally:
        threads.restore()
    # record final training time in the kept checkpoint's metadata
    from .models.checkpoint import load_checkpoint

    kept = load_checkpoint(out)
    kept.meta["training"]["train_time_s"] = round(time.monotonic() - t0, 1)
    kept.meta["training"]["epochs_run"] = epoch + 1
    save_checkpoint(out, kept.module, kept.meta, overwrite=True)
    from .model_card import model_card

    write_text_atomic(card_path, model_card(kept))
    if os.path.exists(resume_path):
        os.remove(resume_path)
    # a resumed run that did not improve returns the kept (earlier) epoch's validation metrics
    return best_val or kept.meta.get("metrics", {}).get("validation", {})
