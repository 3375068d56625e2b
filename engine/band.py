"""Bands of adversarial examples around one example (Han et al. 2020), every procedure batched.

1. noise: Gaussian noise (sd in mV), smoothed with the kernel bank, added to the perturbation δ,
   clipped to ±ε, classified; survivors (still adversarial) and the example itself form the band
   (per-sample min and max).
2. concatenation: pairs of band members that cross (equal at a sample, or change order between
   two samples) are spliced at each crossing, left of one + right of the other, both ways.
3. uniform: each sample drawn uniformly between the band's min and max, the draw's departure
   from the example smoothed, projected back into the band, classified. Also reported: whether
   the band's centre ((min + max) / 2) is adversarial — the draws average out around it, so it
   decides the fraction almost on its own (measured: 0 % at ε 0.01 mV and 100 % at 0.02 mV
   on the bundled records, exactly as the centre goes).
Adversarial means: prediction differs from the original prediction (untargeted) or equals the
target (targeted).

`BandParams.style = "paper-code"` follows the authors' published scripts instead
(adv_measure_norm_all.py, check_uniform.py): noise is added to the example and the whole
perturbation δ + noise is smoothed with the bank (so δ is smoothed a second time), clipped to ±ε;
a trial survives only if it keeps the example's adversarial class; the band is the survivors'
min/max (the example itself not included); uniform draws are smoothed as a whole (departure from
the original) with the mean of the first row of the bank (the size-5 kernels, as the script's
loop does), then projected into the band. With our default model the paper-code procedure is
all-or-nothing: it keeps 100 % when the twice-smoothed δ is still adversarial (e.g. SAP at
ε 0.02 mV on the bundled records) and 0 % when it is not (most examples at ε 0.01 mV).

Work happens in the model's input frame; `lo`, `hi` and `members` come back at the model rate
over the whole record (outside the attacked window they equal the original). Memory: up to
trials + 1 members over the whole record are kept, so `check_band_memory` (called by
`expand_band` first, and by the CLI before the attack) refuses a band whose estimate exceeds
`band_memory_limit()` (4 GB, or half the RAM) with a one-line UserError: a 24-hour record at
1000 trials would need ~100 GB. Non-finite trials (an infinite noise sd) never count as adversarial.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np
import torch

from .attacks.base import AttackParams
from .attacks.params import is_adversarial
from .attacks.kernels import fused_kernel, smooth
from .attacks.runner import AttackResult
from .errors import Cancelled, UserError
from .intervals import rate_record
from .models.classifier import Classifier
from .models.modes import eval_mode


STYLES = ("workbench", "paper-code")


def default_batch_size(dev: torch.device) -> int:
    """Band trials classified at once when BandParams.batch_size is 0: 32 on CPU (larger
    batches fall out of cache and run slower), 250 on CUDA."""
    return 250 if dev.type == "cuda" else 32


MAX_BAND_BYTES = 4 * 2 ** 30  # members kept at most (also at most half the machine's memory)


def _physical_memory() -> int | None:
    try:
        import os

        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def band_memory_limit() -> int:
    """Bytes a band may hold: MAX_BAND_BYTES, or half the physical memory when that is less."""
    phys = _physical_memory()
    return min(MAX_BAND_BYTES, phys // 2) if phys else MAX_BAND_BYTES


def band_memory_estimate(n_record: int, length: int, trials: int) -> int:
    """Bytes to hold up to trials + 1 members (float32) in the model frame (`length` samples, kept
    twice while the band is formed) and over the whole record at the model rate (`n_record`)."""
    return (int(trials) + 1) * (2 * int(length) + int(n_record)) * 4


def check_band_memory(clf: Classifier, n_samples: int, fs: float, trials: int, record: str = "record") -> int:
    """Refuse (UserError, one line, before any work) a band whose members would not fit in memory:
    `n_samples` at `fs` Hz is the record as read. Returns the estimate in bytes."""
    n_model = int(np.ceil(n_samples * clf.fs / fs)) if fs > 0 else int(n_samples)
    frame = n_model if clf.whole else clf.length  # whole-record models: the record is the model input
    need, limit = band_memory_estimate(n_model, frame, trials), band_memory_limit()
    if need > limit:
        raise UserError(f"{record}: the band would need about {need / 1e9:.1f} GB to keep up to {trials + 1} "
                        f"members over the record's {n_model} samples at {clf.fs:g} Hz (limit "
                        f"{limit / 1e9:.1f} GB); use fewer trials or crop the record"
                        + ("" if clf.whole else f" to the model's {clf.length / clf.fs:g}-s window"))
    return need


@dataclass
class BandParams:
    trials: int = 1000
    noise_sd_mv: float = 0.005
    uniform_trials: int | None = None  # default: same as trials
    max_pairs: int = 200
    max_splices_per_pair: int = 10
    batch_size: int = 0  # 0: by device (32 on CPU, where larger batches fall out of cache; 250 on CUDA)
    seed: int = 0
    style: str = "workbench"  # or "paper-code" (see the module docstring)


@dataclass
class BandResult:
    record: str
    orig_pred: str
    adv_pred: str
    noise: dict
    concat: dict
    uniform: dict
    fs: float
    lo: np.ndarray = field(repr=False)
    hi: np.ndarray = field(repr=False)
    members: np.ndarray = field(repr=False)  # (K, n) mV: the example first, then noise survivors
    style: str = "workbench"                 # paper-code: survivors only (the example alone if none)

    def to_json(self) -> dict:
        return {"record": self.record, "orig_pred": self.orig_pred, "adv_pred": self.adv_pred,
                "style": self.style, "noise": self.noise, "concat": self.concat, "uniform": self.uniform}


def find_crossings(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Indices c where a and b are equal at c, or swap order between c and c+1 (splice after c)."""
    d = a.astype(np.float64) - b.astype(np.float64)
    s = np.sign(d)
    eq = np.flatnonzero(s[:-1] == 0)
    swap = np.flatnonzero(s[:-1] * s[1:] < 0)
    return np.union1d(eq, swap)


class _Classify:
    """Batched 'is adversarial?' on perturbations (B, L) added to x0, with cancel + progress."""

    def __init__(self, clf, x0, target_idx, orig_idx, batch, progress, should_stop, total_batches,
                 keep_idx=None):
        self.clf, self.x0, self.batch = clf, x0, batch
        self.target_idx, self.orig_idx = target_idx, orig_idx
        self.keep_idx = keep_idx  # paper-code noise survivors: the example's own adversarial class
        self.progress, self.should_stop = progress, should_stop
        self.done, self.total = 0, total_batches

    def __call__(self, perts: torch.Tensor, keep: bool = False) -> torch.Tensor:
        if self.should_stop and self.should_stop():
            raise Cancelled("band expansion cancelled")
        with torch.no_grad():
            pred = self.clf.logits(self.x0.unsqueeze(0) + perts).argmax(1)
        self.done += 1
        if self.progress:
            self.progress(min(self.done, self.total), self.total)
        # a non-finite signal (e.g. from an infinite noise sd) is never adversarial: argmax of NaN
        # logits is an arbitrary class
        finite = torch.isfinite(perts).all(dim=1)
        if keep:
            return (pred == self.keep_idx) & finite
        return is_adversarial(pred, self.orig_idx, self.target_idx) & finite


def _draw(fn, b: int, length: int, gen: torch.Generator) -> torch.Tensor:
    """b trials of `fn` (torch.randn / torch.rand), drawn one trial at a time: the CPU generator
    fills a (b, L) tensor in an order that depends on b, so drawing per trial keeps the results
    of a seed independent of the batch size."""
    return torch.stack([fn((length,), generator=gen) for _ in range(b)])


def expand_band(clf: Classifier, result: AttackResult, params: AttackParams | None = None,
                band: BandParams | None = None, progress: Callable[[int, int], None] | None = None,
                should_stop: Callable[[], bool] | None = None,
                stage: Callable[[str], None] | None = None) -> BandResult:
    """Run the three band procedures around `result` (an adversarial example of `clf`).
    `progress(done, total)` counts classified batches over all three; `stage(name)` is told when
    each procedure starts ("noise", "concatenation", "uniform")."""
    stage = stage or (lambda _name: None)
    params = params or AttackParams()
    band = band or BandParams()
    if band.trials < 1 or band.batch_size < 0 or (band.uniform_trials is not None and band.uniform_trials < 0):
        raise UserError("band needs at least one trial and a positive batch size")
    if not (np.isfinite(band.noise_sd_mv) and band.noise_sd_mv >= 0):
        raise UserError(f"band noise sd {band.noise_sd_mv!r} mV is not usable (accepted: a finite value ≥ 0 mV)")
    check_band_memory(clf, len(result.x0), clf.fs, band.trials, result.record)
    if band.style not in STYLES:
        raise UserError(f"unknown band style {band.style!r} (choose from {', '.join(STYLES)})")
    paper = band.style == "paper-code"
    target = params.target_for(result.orig_pred)
    target_idx = None if target is None else clf.classes.index(target)
    orig_idx = clf.classes.index(result.orig_pred)
    adv_idx = clf.classes.index(result.adv_pred)
    if not is_adversarial(adv_idx, orig_idx, target_idx):
        raise UserError(f"{result.record}: the example is not adversarial (prediction {result.adv_pred}); "
                        "there is no band to expand")
    # the model input as the attack placed it (whole-record models: the record itself; the
    # paper-code mode on paper-cnn: the first samples of a long record, engine.paper_mode)
    pl = result.placement
    x0_in, xa_in = pl.apply(result.x0), pl.apply(result.x_adv)
    dev, L, eps = clf.device, len(x0_in), params.eps_mv
    mask = torch.from_numpy(pl.mask()).to(dev, torch.float32)
    x0 = torch.from_numpy(x0_in).to(dev)
    delta = torch.from_numpy(xa_in - x0_in).to(dev) * mask
    kernel = fused_kernel(params.kernel_sizes, params.kernel_sigmas).to(dev, torch.float32)
    # the script's uniform step smooths with the first len(sizes) kernels of the bank: the
    # smallest size with every σ (paper: 5 taps, σ 1..10)
    uni_kernel = fused_kernel(params.kernel_sizes[:1], params.kernel_sigmas).to(dev, torch.float32)
    gen = torch.Generator(device="cpu").manual_seed(band.seed)
    if not band.batch_size:
        band = replace(band, batch_size=default_batch_size(dev))
    from .device import rows_per_forward

    band = replace(band, batch_size=rows_per_forward(band.batch_size, L))  # memory, not results
    n_uni = band.uniform_trials or band.trials
    nb = lambda n: (n + band.batch_size - 1) // band.batch_size  # noqa: E731
    est_concat = nb(band.max_pairs * band.max_splices_per_pair * 2)
    is_adv = _Classify(clf, x0, target_idx, orig_idx, band.batch_size, progress, should_stop,
                       nb(band.trials) + est_concat + nb(n_uni), keep_idx=adv_idx)
    with eval_mode(clf.module):
        # 1. noise
        stage("noise")
        survivors = [] if paper else [delta.unsqueeze(0)]
        n_adv = 0
        for s in range(0, band.trials, band.batch_size):
            b = min(band.batch_size, band.trials - s)
            noise = _draw(torch.randn, b, L, gen).to(dev) * band.noise_sd_mv
            if paper:
                # the script: smooth δ + noise as a whole (δ smoothed a second time), keep the class
                pert = smooth(delta.unsqueeze(0) + noise, kernel).clamp(-eps, eps) * mask
                ok = is_adv(pert, keep=True)
            else:
                # the noise is smoothed, not the example: smoothing δ + noise would smooth δ a
                # second time, and a twice-smoothed SAP perturbation of our model is usually no
                # longer adversarial, so the band would be centred on a non-adversarial signal
                pert = (delta.unsqueeze(0) + smooth(noise, kernel)).clamp(-eps, eps) * mask
                ok = is_adv(pert)
            n_adv += int(ok.sum())
            survivors.append(pert[ok])
        # noise trials and uniform draws are independent draws: their fractions get an exact interval
        noise_rep = {"trials": band.trials, "adversarial": n_adv, "fraction": n_adv / band.trials,
                     "ci95": rate_record(n_adv, band.trials)["ci95"]}
        members = torch.cat(survivors)  # (K, L); workbench style: the example first
        if members.shape[0] == 0:
            # paper-code style with no survivor: no band; the example alone is drawn
            members = delta.unsqueeze(0)
            lo_d = hi_d = delta
            concat_rep = {"pairs": 0, "crossing_pairs": 0, "crossings": 0, "splices": 0, "adversarial": 0,
                          "fraction": None}
            uni_rep = {"trials": 0, "adversarial": 0, "fraction": None, "ci95": None, "centre_adversarial": None,
                       "note": "no noise trial kept the adversarial class: there is no band to sample"}
        else:
            lo_d, hi_d = members.min(0).values, members.max(0).values
            # 2. concatenation
            stage("concatenation")
            concat_rep = _concatenate(members.cpu().numpy(), pl, band, gen, is_adv, dev)
            # 3. uniform
            stage("uniform")
            n_u_adv = 0
            for s in range(0, n_uni, band.batch_size):
                b = min(band.batch_size, n_uni - s)
                u = lo_d + _draw(torch.rand, b, L, gen).to(dev) * (hi_d - lo_d)
                if paper:
                    sm = smooth(u, uni_kernel)  # the whole departure from the original
                else:
                    # as in the noise procedure, what is smoothed is the random part (the draw's
                    # departure from the example), not the example itself
                    sm = delta + smooth(u - delta, kernel)
                pert = torch.minimum(torch.maximum(sm, lo_d), hi_d) * mask
                n_u_adv += int(is_adv(pert).sum())
            # the uniform draws average out: what the model sees is close to the band's centre
            # plus small smoothed noise, so the fraction is nearly all-or-nothing, decided by
            # whether the centre itself is adversarial (with thin margins and clipping at ±ε, the
            # centre is pulled inward from δ and may not be)
            centre = ((lo_d + hi_d) / 2 * mask).unsqueeze(0)
            uni_rep = {"trials": n_uni, "adversarial": n_u_adv, "fraction": n_u_adv / n_uni,
                       "ci95": rate_record(n_u_adv, n_uni)["ci95"],
                       "centre_adversarial": bool(is_adv(centre)[0])}

    # back to the whole record at the model rate
    def to_record(pert_in: np.ndarray) -> np.ndarray:
        out = np.repeat(result.x0[None].astype(np.float32), pert_in.shape[0], axis=0)
        out[:, pl.src_start:pl.src_start + pl.n] += pert_in[:, pl.dst_start:pl.dst_start + pl.n]
        return out

    mem = to_record(members.cpu().numpy())
    lo_hi = to_record(torch.stack([lo_d, hi_d]).cpu().numpy())
    return BandResult(record=result.record, orig_pred=result.orig_pred, adv_pred=result.adv_pred,
                      noise=noise_rep, concat=concat_rep, uniform=uni_rep, fs=result.fs,
                      lo=lo_hi[0], hi=lo_hi[1], members=mem, style=band.style)


def _concatenate(members: np.ndarray, pl, band: BandParams, gen: torch.Generator, is_adv, dev) -> dict:
    """Splice crossing pairs of members (perturbations in the model frame) and classify them."""
    k = members.shape[0]
    real = slice(pl.dst_start, pl.dst_start + pl.n)
    all_pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
    rng = np.random.default_rng(int(torch.randint(0, 2 ** 31 - 1, (1,), generator=gen)))
    if len(all_pairs) > band.max_pairs:
        pick = rng.choice(len(all_pairs), band.max_pairs, replace=False)
        all_pairs = [all_pairs[p] for p in sorted(pick)]
    specs, crossing_pairs, crossings = [], 0, 0
    for i, j in all_pairs:
        c = find_crossings(members[i, real], members[j, real]) + pl.dst_start
        if c.size == 0:
            continue
        crossing_pairs += 1
        crossings += int(c.size)
        if c.size > band.max_splices_per_pair:
            c = c[np.linspace(0, c.size - 1, band.max_splices_per_pair).round().astype(int)]
        for cc in c:
            specs += [(i, j, int(cc)), (j, i, int(cc))]
    n_adv = 0
    for s in range(0, len(specs), band.batch_size):
        chunk = specs[s:s + band.batch_size]
        batch = np.empty((len(chunk), members.shape[1]), dtype=np.float32)
        for r, (a, b, cc) in enumerate(chunk):
            batch[r, :cc + 1] = members[a, :cc + 1]
            batch[r, cc + 1:] = members[b, cc + 1:]
        n_adv += int(is_adv(torch.from_numpy(batch).to(dev)).sum())
    n = len(specs)
    return {"pairs": len(all_pairs), "crossing_pairs": crossing_pairs, "crossings": crossings,
            "splices": n, "adversarial": n_adv, "fraction": (n_adv / n) if n else None}


def splice(a: np.ndarray, b: np.ndarray, c: int) -> np.ndarray:
    """Left of `a` up to and including sample c, right of `b` after it."""
    return np.concatenate([a[:c + 1], b[c + 1:]])
