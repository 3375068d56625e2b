"""Universal adversarial perturbation: one smooth δ (mV) that fools a model on many records.

Moosavi-Dezfooli et al. (CVPR 2017), adapted to ECGs, ε in mV and SAP's smoothness. δ is one
period of P samples at the model's rate (P = the model's input length) and is applied to a
record of any length by tiling it from the record's first sample (and cropping the last copy):
x_adv[i] = x[i] + δ[i mod P]. δ = θ ∗ g, g the mean of SAP's Gaussian kernel bank
(engine.attacks.kernels) applied circularly, so the tiled δ is smooth across copies, and
|θ| ≤ ε gives |δ| ≤ ε (g is non-negative and sums to one).

Fitting (`fit_universal`): passes over the fitting records in a seeded random order, `batch_size`
at a time; for the records of a batch that the current δ does not fool yet, `steps` projected
sign-gradient steps on θ (θ ← clip(θ + α·sign(∇θ Σ CE), ±ε), the cross-entropy to each record's
clean prediction, ascended). After each pass the fooling rate on the fitting set is measured; the
fit stops when it no longer improves (or after `passes`) and keeps the best δ.

Evaluation (`evaluate_universal`): `apply_universal` on each held-out record at its own rate (δ
resampled when the rates differ), projected onto the record's ADC grid like every attack
(engine.attacks.runner.quantise), classified; rows like attack-eval's, so
engine.attack_eval.summarize gives the success among correctly classified records with n and a
95 % Clopper–Pearson interval, per class.

File (`save_universal` / `load_universal`): a .npz (read with allow_pickle=False, every field
validated, one-line errors) holding δ in mV with its fs, ε, the model's name and fingerprint,
the dataset's folder name, the fitting and evaluation splits, the fitting records, the seed and
the fit's history.
"""

from __future__ import annotations

import io
import math
import os
import zipfile
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .attacks.params import EPS, PAPER_SIGMAS, PAPER_SIZES, SEED
from .errors import Cancelled, UserError

KIND = "ecgadv-universal/1"
MAX_PERIOD = 10_000_000  # samples of δ a file may hold
MIN_FS, MAX_FS = 100.0, 10000.0


@dataclass
class Universal:
    """A universal perturbation: `delta_mv` (P,) float32 mV, one period at `fs` Hz, |δ| ≤ `eps_mv`."""

    delta_mv: np.ndarray = field(repr=False)
    fs: float
    eps_mv: float
    model: str = ""
    model_sha: str = ""
    dataset: str = ""
    fit_split: str = ""
    eval_split: str = ""
    fit_records: tuple[str, ...] = ()
    seed: int = 0
    kernel_sizes: tuple[int, ...] = PAPER_SIZES
    kernel_sigmas: tuple[float, ...] = PAPER_SIGMAS
    history: tuple[float, ...] = ()  # fooling rate on the fitting set after each pass
    steps_taken: int = 0

    @property
    def period_s(self) -> float:
        return len(self.delta_mv) / self.fs

    @property
    def fit_fooling_rate(self) -> float | None:
        return max(self.history) if self.history else None

    def describe(self) -> dict:
        """Plain-JSON description (no δ samples)."""
        return {"fs": self.fs, "eps_mv": self.eps_mv, "period_samples": int(len(self.delta_mv)),
                "period_s": self.period_s, "linf_mv": float(np.max(np.abs(self.delta_mv))) if len(self.delta_mv) else 0.0,
                "model": self.model, "model_sha": self.model_sha, "dataset": self.dataset,
                "fit_split": self.fit_split, "eval_split": self.eval_split or None,
                "fit_records": len(self.fit_records), "seed": self.seed, "kernel_sizes": list(self.kernel_sizes),
                "kernel_sigmas": list(self.kernel_sigmas), "fit_history": list(self.history),
                "fit_fooling_rate": self.fit_fooling_rate, "steps_taken": self.steps_taken}


# -- applying δ ------------------------------------------------------------------------------------

def circular_smooth(theta, kernel):
    """θ (B, P) or (P,) torch tensor convolved with the odd kernel (K,), wrapping around (so the tiled
    result is smooth across copies); same shape back."""
    import torch
    import torch.nn.functional as F

    one = theta.dim() == 1
    t = theta[None] if one else theta
    k = kernel.to(dtype=t.dtype, device=t.device).flip(0).view(1, 1, -1)
    h = kernel.numel() // 2
    p = t.shape[-1]
    reps = max(1, math.ceil(h / p))  # a kernel longer than the period wraps more than once
    padded = torch.cat([t] * (2 * reps + 1), dim=-1)[..., reps * p - h: (reps + 1) * p + h]
    out = F.conv1d(padded.unsqueeze(1), k).squeeze(1)
    return out[0] if one else out


def tiled(delta: np.ndarray, n: int, offset: int = 0) -> np.ndarray:
    """`n` samples of δ repeated: out[i] = δ[(offset + i) mod P]."""
    p = len(delta)
    if p == 0:
        raise UserError("the universal perturbation has no samples")
    idx = (np.arange(n, dtype=np.int64) + int(offset)) % p
    return np.asarray(delta)[idx]


def delta_at(delta: "Universal | np.ndarray", fs: float) -> tuple[np.ndarray, float]:
    """(δ at `fs` Hz, ε): resampled when the perturbation's rate differs (then clipped to ±ε again)."""
    if isinstance(delta, Universal):
        d, eps = np.asarray(delta.delta_mv, dtype=np.float64), float(delta.eps_mv)
        if delta.fs != fs:
            from .records import resample

            d = np.clip(resample(d, delta.fs, fs).astype(np.float64), -eps, eps)
        return d, eps
    d = np.asarray(delta, dtype=np.float64)
    if d.ndim != 1:
        raise UserError(f"a universal perturbation is one row of samples, got shape {d.shape}")
    return d, float(np.max(np.abs(d))) if d.size else 0.0


def apply_universal(x_mv: np.ndarray, fs: float, delta: "Universal | np.ndarray",
                    quantum_mv: float = 0.0) -> np.ndarray:
    """x_mv (n,) mV at `fs` Hz plus the universal δ tiled from the record's first sample (cropped to
    n): x_adv (n,) float32 mV. `delta` a Universal (resampled to `fs` when its rate differs) or an
    array already at `fs`. With `quantum_mv` > 0 the result is rounded onto that ADC grid (mV) with
    |x_adv − x| ≤ ε kept (engine.attacks.runner.quantise)."""
    x = np.asarray(x_mv, dtype=np.float32)
    if x.ndim != 1:
        raise UserError(f"apply_universal takes one lead (n,), got shape {x.shape}")
    if not (isinstance(fs, (int, float)) and math.isfinite(fs) and fs > 0):
        raise UserError(f"sampling rate must be a positive number of Hz, got {fs!r}")
    d, eps = delta_at(delta, float(fs))
    x_adv = (x.astype(np.float64) + tiled(d, len(x))).astype(np.float32)
    if quantum_mv and quantum_mv > 0:
        from .attacks.runner import quantise

        x_adv = quantise(x, x_adv, float(quantum_mv), eps)
    return x_adv


# -- fitting ---------------------------------------------------------------------------------------

@dataclass
class _Prepared:
    """Fitting records as model inputs: x (N, L) mV, mask (N, L) bool, idx (N, L) δ index, y (N,)."""

    x: np.ndarray
    mask: np.ndarray
    idx: np.ndarray
    y0: np.ndarray
    names: list[str]


def _prepare(clf, inputs, period: int) -> _Prepared:
    """Each input at the model rate, placed as the model sees it; idx maps every input sample to the
    δ sample tiled onto it (record sample s gets δ[s mod P])."""
    from .models.classifier import pad_batch

    xs, ms, ids = [], [], []
    for inp in inputs:
        x_model = clf.to_model_rate(inp.x_mv, inp.fs)
        xin, pl = clf.fit(x_model)
        idx = np.zeros(len(xin), dtype=np.int64)
        j = np.arange(pl.n, dtype=np.int64)
        idx[pl.dst_start:pl.dst_start + pl.n] = (pl.src_start + j) % period
        xs.append(xin)
        ms.append(pl.mask())
        ids.append(idx)
    x, m, idx = pad_batch(xs), pad_batch(ms, False), pad_batch(ids, 0)
    probs = clf.predict_proba(x, mask=m)
    return _Prepared(x=x, mask=m, idx=idx, y0=probs.argmax(1), names=[i.name for i in inputs])


def _fooled(clf, prep: _Prepared, delta_t, rows: np.ndarray, batch_size: int) -> np.ndarray:
    """(len(rows),) bool: prediction differs from the clean one with δ tiled on (no grid)."""
    import torch

    out = []
    with torch.no_grad():
        for s in range(0, len(rows), batch_size):
            r = rows[s:s + batch_size]
            x = torch.as_tensor(prep.x[r], device=clf.device)
            m = torch.as_tensor(prep.mask[r], device=clf.device)
            d = delta_t[torch.as_tensor(prep.idx[r], device=clf.device)] * m
            z = clf.logits(x + d, m if clf.whole else None)
            out.append((z.argmax(1).cpu().numpy() != prep.y0[r]))
    return np.concatenate(out) if out else np.zeros(0, bool)


def fit_universal(clf, inputs: list, *, eps_mv: float, alpha_mv: float | None = None, steps: int = 5,
                  passes: int = 5, batch_size: int = 16, seed: int = 0,
                  kernel_sizes: tuple[int, ...] = PAPER_SIZES, kernel_sigmas: tuple[float, ...] = PAPER_SIGMAS,
                  progress: Callable[[int, int], None] | None = None,
                  should_stop: Callable[[], bool] | None = None) -> Universal:
    """Fit one δ on `inputs` (engine.attacks.runner.AttackInput, mV at their rates); see the module
    docstring. α defaults to ε/5. `progress(done, total)` counts gradient steps (steps skipped for
    fooled records count as done); raises engine.errors.Cancelled when `should_stop()` turns true."""
    import torch
    import torch.nn.functional as F

    from .attacks.base import frozen
    from .attacks.kernels import fused_kernel

    EPS.check(eps_mv, "--eps")
    if not inputs:
        raise UserError("no records to fit the universal perturbation on")
    if steps < 1 or passes < 1 or batch_size < 1:
        raise UserError("steps, passes and batch size must each be at least 1")
    alpha = float(alpha_mv) if alpha_mv is not None else eps_mv / 5.0
    if not (math.isfinite(alpha) and alpha > 0):
        raise UserError(f"step α must be a positive number of mV, got {alpha_mv!r}")
    period = int(clf.length)
    prep = _prepare(clf, inputs, period)
    n = len(prep.names)
    n_batches = math.ceil(n / batch_size)
    total = passes * n_batches * steps
    done = 0
    dev = clf.device
    kernel = fused_kernel(kernel_sizes, kernel_sigmas).to(dev, torch.float32)
    theta = torch.zeros(period, dtype=torch.float32, device=dev)
    rng = np.random.default_rng(int(seed))
    every = np.arange(n)
    history: list[float] = []
    best_theta, best_rate = theta.clone(), 0.0

    def stop():
        if should_stop and should_stop():
            raise Cancelled(f"universal perturbation cancelled after {done} of {total} steps")

    def report():
        if progress:
            progress(done, total)

    report()
    with frozen(clf):
        for _ in range(passes):
            order = rng.permutation(n)
            for b in range(n_batches):
                stop()
                rows = order[b * batch_size:(b + 1) * batch_size]
                with torch.no_grad():
                    d_now = circular_smooth(theta, kernel)
                todo = rows[~_fooled(clf, prep, d_now, rows, batch_size)]
                if len(todo) == 0:
                    done += steps
                    report()
                    continue
                x = torch.as_tensor(prep.x[todo], device=dev)
                m = torch.as_tensor(prep.mask[todo], device=dev)
                mf = m.to(x.dtype)
                idx = torch.as_tensor(prep.idx[todo], device=dev)
                y = torch.as_tensor(prep.y0[todo], device=dev)
                for _s in range(steps):
                    th = theta.detach().requires_grad_(True)
                    d = circular_smooth(th, kernel)[idx] * mf
                    z = clf.logits(x + d, m if clf.whole else None)
                    loss = F.cross_entropy(z, y, reduction="sum")
                    (g,) = torch.autograd.grad(loss, th)
                    with torch.no_grad():
                        theta = (theta + alpha * g.sign()).clamp(-eps_mv, eps_mv)
                    done += 1
                    report()
                    stop()
            with torch.no_grad():
                rate = float(_fooled(clf, prep, circular_smooth(theta, kernel), every, batch_size).mean())
            history.append(rate)
            if rate > best_rate:
                best_theta, best_rate = theta.clone(), rate
            elif len(history) > 1:
                break  # no better than the best pass: the fit has stopped improving
    if progress and done < total:  # passes left out once the fit stopped improving
        progress(total, total)
    with torch.no_grad():
        delta = circular_smooth(best_theta, kernel).clamp(-eps_mv, eps_mv).cpu().numpy().astype(np.float32)
    return Universal(delta_mv=delta, fs=float(clf.fs), eps_mv=float(eps_mv), model=clf.name,
                     fit_records=tuple(prep.names), seed=int(seed), kernel_sizes=tuple(kernel_sizes),
                     kernel_sigmas=tuple(float(s) for s in kernel_sigmas), history=tuple(history),
                     steps_taken=done)


# -- evaluation ------------------------------------------------------------------------------------

def evaluate_universal(clf, inputs: list, uap: Universal, batch_size: int = 32,
                       progress: Callable[[int, int], None] | None = None,
                       should_stop: Callable[[], bool] | None = None) -> list[dict]:
    """One row per input (AttackInput): record, true, orig_pred, adv_pred, success (prediction changed),
    correct, and the perturbation measures (engine.attacks.measures, over the whole record at its
    rate) of δ after the ADC-grid projection. Rows fit engine.attack_eval.summarize."""
    from .attacks.measures import perturbation_measures

    rows: list[dict] = []
    for s in range(0, len(inputs), batch_size):
        if should_stop and should_stop():
            raise Cancelled(f"universal evaluation cancelled after {s} of {len(inputs)} records")
        chunk = inputs[s:s + batch_size]
        clean, adv, advs = [], [], []
        for inp in chunk:
            x_adv = apply_universal(inp.x_mv, inp.fs, uap, inp.quantum_mv)
            advs.append(x_adv)
            clean.append(clf.to_model_rate(np.asarray(inp.x_mv, dtype=np.float32), inp.fs))
            adv.append(clf.to_model_rate(x_adv, inp.fs))
        p0 = clf.predict_signals(clean)
        p1 = clf.predict_signals(adv)
        for i, inp in enumerate(chunk):
            orig, now = clf.classes[int(p0[i].argmax())], clf.classes[int(p1[i].argmax())]
            x0 = np.asarray(inp.x_mv, dtype=np.float64)
            rows.append({"record": inp.name, "true": inp.true, "orig_pred": orig, "adv_pred": now,
                         "success": now != orig, "correct": None if inp.true is None else inp.true == orig,
                         **perturbation_measures(x0, advs[i].astype(np.float64) - x0, uap.eps_mv)})
        if progress:
            progress(min(s + batch_size, len(inputs)), len(inputs))
    return rows


def summarize_universal(rows: list[dict], classes: list[str] | None = None) -> dict:
    """engine.attack_eval.summarize of the rows (success among correctly classified records, n and
    95 % interval, per class) plus "fooling" over every record (prediction changed, any true class)."""
    from .attack_eval import summarize
    from .intervals import rate_record

    ok = [r for r in rows if "error" not in r]
    doc = summarize(rows, classes)
    doc["fooling"] = rate_record(sum(1 for r in ok if r["success"]), len(ok))
    return doc


# -- file ------------------------------------------------------------------------------------------

def save_universal(uap: Universal, path: str, overwrite: bool = False) -> str:
    """Write `uap` to `path` (.npz) atomically; an existing file refused unless `overwrite`."""
    from .outputs import check_suffix, write_bytes_atomic

    check_suffix(path, (".npz",), "universal perturbation")
    buf = io.BytesIO()
    np.savez(buf, kind=np.array(KIND), delta_mv=np.asarray(uap.delta_mv, dtype=np.float32),
             fs=np.float64(uap.fs), eps_mv=np.float64(uap.eps_mv), model=np.array(uap.model),
             model_sha=np.array(uap.model_sha), dataset=np.array(uap.dataset),
             fit_split=np.array(uap.fit_split), eval_split=np.array(uap.eval_split or ""),
             fit_records=np.array(list(uap.fit_records), dtype=str).reshape(-1), seed=np.int64(uap.seed),
             kernel_sizes=np.asarray(uap.kernel_sizes, dtype=np.int64),
             kernel_sigmas=np.asarray(uap.kernel_sigmas, dtype=np.float64),
             history=np.asarray(uap.history, dtype=np.float64), steps_taken=np.int64(uap.steps_taken))
    return write_bytes_atomic(path, buf.getvalue(), overwrite=overwrite)


_TEXT = ("model", "model_sha", "dataset", "fit_split", "eval_split")


def load_universal(path: str) -> Universal:
    """Read and validate a universal perturbation file (np.load with allow_pickle=False); UserError
    (one line) naming the first problem."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise UserError(f"universal perturbation file {path} does not exist" if not os.path.exists(path)
                        else f"universal perturbation file {path} is not a file")
    what = f"{path} is not a universal perturbation file"
    try:
        with open(path, "rb") as fh:
            magic = fh.read(6)
    except OSError as exc:
        raise UserError(f"cannot read universal perturbation file {path}: {exc.strerror or exc}") from None
    if not magic.startswith((b"PK", b"\x93NUMPY")):
        # numpy calls any other file "pickled (object) data" and advises loading it unsafely
        raise UserError(f"{what} (not a .npz archive; write one with `universal --out FILE.npz`)")
    try:
        z = np.load(path, allow_pickle=False)
        if not hasattr(z, "files"):
            raise UserError(f"{what} (a bare array, not a .npz archive)")
        with z:
            arrays = {k: z[k] for k in z.files}
    except UserError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError, RuntimeError) as exc:
        raise UserError(f"{what} ({type(exc).__name__}: {str(exc)[:120]})") from None
    return _validate(arrays, path, what)


def _scalar(a: dict, key: str, kinds: str, path: str):
    v = a.get(key)
    if v is None:
        raise UserError(f"{path}: field {key!r} is missing")
    if v.shape != () or v.dtype.kind not in kinds:
        raise UserError(f"{path}: field {key!r} must be a single {'text' if kinds == 'U' else 'number'}")
    return v.item()


def _validate(a: dict, path: str, what: str) -> Universal:
    if "kind" not in a:
        raise UserError(f"{what} (no 'kind' field)")
    kind = _scalar(a, "kind", "U", path)
    if kind != KIND:
        raise UserError(f"{what} (kind {str(kind)[:60]!r}, expected {KIND!r})")
    d = a.get("delta_mv")
    if d is None:
        raise UserError(f"{path}: field 'delta_mv' is missing")
    if d.ndim != 1 or d.dtype.kind != "f" or not (1 <= d.size <= MAX_PERIOD):
        raise UserError(f"{path}: 'delta_mv' must be one row of 1 to {MAX_PERIOD} numbers (mV), "
                        f"got {d.dtype} {d.shape}")
    if not np.isfinite(d).all():
        raise UserError(f"{path}: 'delta_mv' holds non-finite values")
    fs = float(_scalar(a, "fs", "fiu", path))
    if not (math.isfinite(fs) and MIN_FS <= fs <= MAX_FS):
        raise UserError(f"{path}: sampling rate fs must be {MIN_FS:g}-{MAX_FS:g} Hz, got {fs:g}")
    eps = float(_scalar(a, "eps_mv", "fiu", path))
    EPS.check(eps, f"{path}: eps_mv")
    linf = float(np.max(np.abs(d)))
    if linf > eps * (1 + 1e-5) + 1e-9:
        raise UserError(f"{path}: |delta| reaches {linf:.6g} mV, above its ε {eps:g} mV")
    seed = _scalar(a, "seed", "iu", path)
    SEED.check(int(seed), f"{path}: seed")
    text = {}
    for k in _TEXT:
        v = _scalar(a, k, "U", path)
        if len(v) > 4096:
            raise UserError(f"{path}: field {k!r} is too long")
        text[k] = v
    recs = a.get("fit_records")
    if recs is None:
        raise UserError(f"{path}: field 'fit_records' is missing")
    if recs.ndim != 1 or (recs.size and recs.dtype.kind != "U"):
        raise UserError(f"{path}: 'fit_records' must be a list of record names")
    sizes, sigmas = a.get("kernel_sizes"), a.get("kernel_sigmas")
    ks, kg = PAPER_SIZES, PAPER_SIGMAS
    if sizes is not None or sigmas is not None:
        if sizes is None or sigmas is None or sizes.ndim != 1 or sigmas.ndim != 1 or sizes.dtype.kind not in "iu" \
                or sigmas.dtype.kind not in "fiu" or not (1 <= sizes.size <= 64 and 1 <= sigmas.size <= 64):
            raise UserError(f"{path}: 'kernel_sizes' and 'kernel_sigmas' must be short lists of numbers")
        if (sizes < 1).any() or (sizes % 2 == 0).any() or (sizes > 100_001).any() \
                or not np.isfinite(sigmas).all() or (sigmas <= 0).any():
            raise UserError(f"{path}: kernel sizes must be odd positive numbers and σ positive")
        ks, kg = tuple(int(s) for s in sizes), tuple(float(s) for s in sigmas)
    hist = a.get("history")
    history: tuple[float, ...] = ()
    if hist is not None:
        if hist.ndim != 1 or hist.dtype.kind != "f" or hist.size > 100_000 or not np.isfinite(hist).all() \
                or ((hist < 0) | (hist > 1)).any():
            raise UserError(f"{path}: 'history' must be fooling rates between 0 and 1")
        history = tuple(float(h) for h in hist)
    steps_taken = 0
    if "steps_taken" in a:
        steps_taken = int(_scalar(a, "steps_taken", "iu", path))
    return Universal(delta_mv=d.astype(np.float32), fs=fs, eps_mv=eps, model=text["model"],
                     model_sha=text["model_sha"], dataset=text["dataset"], fit_split=text["fit_split"],
                     eval_split=text["eval_split"], fit_records=tuple(str(r) for r in recs.tolist()),
                     seed=int(seed), kernel_sizes=ks, kernel_sigmas=kg, history=history,
                     steps_taken=max(0, steps_taken))


# -- a whole run (CLI `universal`, the robustness card, the GUI) ---------------------------------------

def paired_split(split: str | None, want: str) -> str | None:
    """The other half of a split pair: `want` "eval" maps strat-train[:s] → strat-val[:s] and
    paper-train → paper-val; `want` "fit" the reverse. None when `split` is not half of a pair."""
    import re

    s = str(split or "")
    pairs = {"eval": ("train", "val"), "fit": ("val", "train")}[want]
    m = re.fullmatch(r"(strat|paper)-(train|val)(:\d+)?", s)
    if not m or m.group(2) != pairs[0] or (m.group(1) == "paper" and m.group(3)):
        return None
    return f"{m.group(1)}-{pairs[1]}{m.group(3) or ''}"


def heldout_names(eval_names: list[str], fit_records) -> tuple[list[str], int]:
    """(evaluation records not used for fitting, how many were dropped as fitting records)."""
    fit = set(fit_records)
    kept = [n for n in eval_names if n not in fit]
    return kept, len(eval_names) - len(kept)


def evaluate_heldout(clf, ds, eval_names: list[str], uap: Universal, *, lead: str | None = None,
                     batch_size: int = 32, progress: Callable[[int, int], None] | None = None,
                     should_stop: Callable[[], bool] | None = None) -> dict:
    """Apply `uap` to the records of `eval_names` that it was not fitted on and summarize
    (summarize_universal) → {"records", "excluded_fit_records", "unreadable", "summary", "rows"}."""
    from .attack_eval import read_inputs

    names, dropped = heldout_names(eval_names, uap.fit_records)
    if not names:
        raise UserError(f"every one of the {len(eval_names)} evaluation records was used to fit the universal "
                        "perturbation: nothing is held out (evaluate on another split)")
    inputs, errors, _ = read_inputs(ds, names, lead)
    rows = evaluate_universal(clf, inputs, uap, batch_size=batch_size, progress=progress,
                              should_stop=should_stop) + list(errors.values())
    return {"records": len(names), "excluded_fit_records": dropped, "unreadable": len(errors),
            "summary": summarize_universal(rows, clf.classes), "rows": rows}


def universal_text(doc: dict) -> str:
    """A few lines: the perturbation, its fit, the held-out success and fooling rates per class."""
    from .intervals import format_rate

    u = doc["universal"]
    hist = u.get("fit_history") or []
    lines = [f"universal perturbation of model {u['model']}: ε {u['eps_mv']:g} mV (max |δ| {u['linf_mv']:.4g} mV), "
             f"period {u['period_s']:.4g} s at {u['fs']:g} Hz, smooth (SAP kernels), seed {u['seed']}",
             f"  fitted on {u['fit_records']} records of {u['fit_split'] or '?'}: fooling rate "
             + (" → ".join(f"{100 * h:.1f}%" for h in hist) if hist else "-")
             + f" over {len(hist)} passes" + (f" (kept the best, {100 * max(hist):.1f}%)" if hist else "")]
    h = doc.get("heldout")
    if h:
        s = h["summary"]
        f = s["fooling"]
        lines.append(f"  held out {doc.get('eval_split') or ''} ({h['records']} records"
                     + (f", {h['excluded_fit_records']} fitting records left out" if h["excluded_fit_records"] else "")
                     + f"): success {format_rate(s['success'], s['attacked'])} of correctly classified; "
                     f"prediction changed for {format_rate(f['k'], f['n'])} of all")
        if s["per_class"]:
            lines.append("  per true class: " + "; ".join(f"{c} {format_rate(v['success'], v['attacked'])}"
                                                          for c, v in s["per_class"].items()))
    else:
        lines.append("  no held-out evaluation" + (f" ({doc['note']})" if doc.get("note") else ""))
    return "\n".join(lines)
