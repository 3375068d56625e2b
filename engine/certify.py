"""Certified robustness by randomised smoothing (Cohen, Rosenfeld & Kolter, ICML 2019).

The smoothed classifier g(x) = argmax_c P(f(x + δ) = c), δ ~ N(0, σ² I), σ in mV, is evaluated by
Monte Carlo with the paper's two procedures:

* PREDICT: n draws; the top two vote counts nA, nB; g returns the top class when a two-sided
  binomial test of nA against nA + nB at p = 0.5 rejects at level α, else abstains.
* CERTIFY: n0 draws select the class cA; n further draws count its votes nA; pA_lower is the
  one-sided (1 − α) Clopper–Pearson lower bound of nA/n; g abstains when pA_lower < 0.5, else
  returns cA with certified L2 radius R = σ · Φ⁻¹(pA_lower) (mV): with probability ≥ 1 − α over
  the draws, g(x + e) = cA for every ‖e‖₂ < R.

The noise is added to the whole model input (the record at the model's rate, placed as the model
places it; a fixed-input model's zero padding gets noise too, as in `train --noise-sd`). An
attacker changes only the d record samples the model sees, so an L∞ perturbation of size R/√d has
L2 norm at most R: `linf_mv` = R/√d is the certified L∞ bound, set against the paper's ε = 0.01 mV.

Draws run in batches of `batch_size` noisy copies, one forward each. The noise comes in blocks of
NOISE_BLOCK draws from one seeded generator, so results do not depend on the batch size.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
import torch

from .errors import Cancelled, UserError
from .intervals import clopper_pearson

PAPER_EPS_MV = 0.01  # Han et al.'s L∞ budget
NOISE_BLOCK = 16  # draws per noise block (batch-size independent stream)
LogitsFn = Callable[[torch.Tensor], torch.Tensor]  # (B, d) mV noisy inputs → (B, C) logits


@dataclass(frozen=True)
class SmoothParams:
    """sigma_mv: noise sd (mV); n0: selection draws; n: estimation draws; alpha: failure probability
    of the certificate; batch_size: noisy copies per forward; seed: the noise's seed."""

    sigma_mv: float
    n0: int = 100
    n: int = 10_000
    alpha: float = 0.001
    batch_size: int = 1000
    seed: int = 0

    def check(self) -> "SmoothParams":
        """UserError (one line) for values that cannot work."""
        from .attacks.params import SIGMA_MIN_MV

        if not (math.isfinite(self.sigma_mv) and self.sigma_mv >= SIGMA_MIN_MV):
            raise UserError(f"sigma must be at least {SIGMA_MIN_MV:g} mV, got {self.sigma_mv!r}")
        if self.n0 < 1 or self.n < 1:
            raise UserError(f"n0 and n must be at least 1, got n0={self.n0}, n={self.n}")
        if not (0.0 < self.alpha < 0.5) or not math.isfinite(self.alpha):
            raise UserError(f"alpha must be in (0, 0.5), got {self.alpha!r}")
        if self.batch_size < 1:
            raise UserError(f"batch size must be at least 1, got {self.batch_size}")
        return self


def p_lower(k: int, n: int, alpha: float) -> float:
    """One-sided (1 − alpha) Clopper–Pearson lower bound of a proportion k/n."""
    ci = clopper_pearson(k, n, level=1.0 - 2.0 * alpha)
    return 0.0 if ci is None else ci[0]


def abstention_rate(p_a: float, n: int, alpha: float) -> float:
    """Probability that CERTIFY abstains when the top class's true vote probability is p_a: the
    chance that Binomial(n, p_a) votes fall below k*, the fewest votes whose lower bound reaches 0.5
    (with p_a = p̂, the estimated abstention rate of the procedure on that record)."""
    from scipy.stats import binom

    lo, hi = 0, n + 1  # k* in [0, n + 1]; n + 1: no count certifies
    while lo < hi:
        mid = (lo + hi) // 2
        if p_lower(mid, n, alpha) >= 0.5:
            hi = mid
        else:
            lo = mid + 1
    return 1.0 if lo > n else float(binom.cdf(lo - 1, n, min(max(p_a, 0.0), 1.0)))


def radius_for(p_low: float, sigma_mv: float) -> float:
    """σ·Φ⁻¹(pA_lower) in mV (0 when pA_lower ≤ 0.5)."""
    from scipy.stats import norm

    return float(sigma_mv * norm.ppf(p_low)) if p_low > 0.5 else 0.0


class NoiseStream:
    """Gaussian noise (k, d) float32 of sd σ, drawn in fixed blocks of NOISE_BLOCK rows from one
    seeded generator: the sequence of draws is the same whatever sizes it is taken in. Full blocks
    are drawn straight into the output (no copies), on the device itself when it has a generator
    (CUDA: the draws then differ from the CPU's, but not between batch sizes)."""

    def __init__(self, d: int, sigma: float, seed: int, stage: int, device: torch.device) -> None:
        gen_device = torch.device(device) if torch.device(device).type == "cuda" else torch.device("cpu")
        self.gen = torch.Generator(device=gen_device).manual_seed(int(seed) * 1_000_003 + stage)
        self.d, self.sigma, self.device, self.gen_device = d, float(sigma), torch.device(device), gen_device
        self.rest = torch.zeros((0, d), device=gen_device)  # rows of the last block not yet taken

    def _block(self, out: torch.Tensor) -> None:
        out.normal_(0.0, self.sigma, generator=self.gen)

    def take(self, k: int) -> torch.Tensor:
        out = torch.empty((k, self.d), device=self.gen_device)
        i = min(k, self.rest.shape[0])
        out[:i] = self.rest[:i]
        self.rest = self.rest[i:]
        while k - i >= NOISE_BLOCK:
            self._block(out[i:i + NOISE_BLOCK])
            i += NOISE_BLOCK
        if i < k:
            blk = torch.empty((NOISE_BLOCK, self.d), device=self.gen_device)
            self._block(blk)
            out[i:] = blk[:k - i]
            self.rest = blk[k - i:]
        return out.to(self.device)


def sample_counts(logits_fn: LogitsFn, x: torch.Tensor, n_classes: int, num: int, noise: NoiseStream,
                  batch_size: int, progress: Callable[[int, int], None] | None = None,
                  should_stop: Callable[[], bool] | None = None) -> np.ndarray:
    """Votes (C,) int64 of the base classifier over `num` noisy copies of x (d,) mV."""
    from .device import rows_per_forward

    counts = torch.zeros(n_classes, dtype=torch.long)
    done = 0
    batch_size = rows_per_forward(batch_size, len(x))  # a huge --batch-size costs time, not all memory
    with torch.no_grad():
        while done < num:
            if should_stop is not None and should_stop():
                raise Cancelled("certification cancelled")
            k = min(batch_size, num - done)
            z = logits_fn(noise.take(k).add_(x[None, :]))
            if not bool(torch.isfinite(z).all()):
                raise UserError("the model gave non-finite outputs under noise (non-finite weights?); "
                                "no certificate made")
            counts += torch.bincount(z.argmax(1).cpu(), minlength=n_classes)[:n_classes]
            done += k
            if progress is not None:
                progress(done, num)
    return counts.numpy()


@dataclass
class Certificate:
    """One record's CERTIFY result. pred: class or None (abstained); radius_mv: certified L2 radius
    (0 when abstaining); linf_mv = radius_mv / √d; d: record samples the model sees; counts0 / counts:
    votes of the selection / estimation draws; p_hat = nA/n; p_lower: its bound."""

    pred: str | None
    radius_mv: float
    linf_mv: float
    d: int
    top: str
    p_hat: float
    p_lower: float
    counts0: dict
    counts: dict
    sigma_mv: float
    n0: int
    n: int
    alpha: float

    @property
    def abstained(self) -> bool:
        return self.pred is None

    def certified_at(self, eps_linf_mv: float = PAPER_EPS_MV) -> bool:
        """True when the certified L∞ ball reaches eps (mV)."""
        return not self.abstained and self.linf_mv >= eps_linf_mv

    @property
    def abstention_rate(self) -> float:
        """Estimated probability that CERTIFY abstains on this input (see `abstention_rate`, p̂ for pA)."""
        return abstention_rate(self.p_hat, self.n, self.alpha)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["abstained"] = self.abstained
        d["abstention_rate_est"] = self.abstention_rate
        d["certified_at_paper_eps"] = self.certified_at()
        return d


def certify_input(logits_fn: LogitsFn, x: np.ndarray, classes: list[str], params: SmoothParams,
                  device: torch.device | str = "cpu", progress: Callable[[int, int, str], None] | None = None,
                  should_stop: Callable[[], bool] | None = None, d: int | None = None) -> Certificate:
    """CERTIFY around the base classifier's input x (L,) mV (noise on all of it); `d`: the samples
    an attacker can change, for the L∞ bound (default L)."""
    params.check()
    d = len(x) if d is None else int(d)
    if len(x) == 0 or not np.isfinite(np.asarray(x, dtype=np.float64)).all():
        raise UserError("cannot certify: the input has no samples or non-finite samples")
    dev = torch.device(device)
    xt = torch.as_tensor(np.asarray(x, dtype=np.float32), device=dev)
    C = len(classes)

    def prog(stage):
        return None if progress is None else (lambda k, n: progress(k, n, stage))

    c0 = sample_counts(logits_fn, xt, C, params.n0, NoiseStream(len(xt), params.sigma_mv, params.seed, 0, dev),
                       params.batch_size, prog("selection draws"), should_stop)
    top = int(np.argmax(c0))
    c = sample_counts(logits_fn, xt, C, params.n, NoiseStream(len(xt), params.sigma_mv, params.seed, 1, dev),
                      params.batch_size, prog("estimation draws"), should_stop)
    pl = p_lower(int(c[top]), params.n, params.alpha)
    r = radius_for(pl, params.sigma_mv)
    abstain = pl < 0.5
    return Certificate(pred=None if abstain else classes[top], radius_mv=0.0 if abstain else r,
                       linf_mv=0.0 if abstain else r / math.sqrt(d), d=d, top=classes[top],
                       p_hat=float(c[top]) / params.n, p_lower=pl,
                       counts0={k: int(v) for k, v in zip(classes, c0)},
                       counts={k: int(v) for k, v in zip(classes, c)}, sigma_mv=params.sigma_mv,
                       n0=params.n0, n=params.n, alpha=params.alpha)


def predict_input(logits_fn: LogitsFn, x: np.ndarray, classes: list[str], params: SmoothParams,
                  device: torch.device | str = "cpu") -> tuple[str | None, dict]:
    """PREDICT around x (d,) mV with params.n draws: (class or None when abstaining, votes)."""
    from scipy.stats import binomtest

    params.check()
    dev = torch.device(device)
    xt = torch.as_tensor(np.asarray(x, dtype=np.float32), device=dev)
    c = sample_counts(logits_fn, xt, len(classes), params.n,
                      NoiseStream(len(xt), params.sigma_mv, params.seed, 2, dev), params.batch_size)
    order = np.argsort(-c, kind="stable")
    na, nb = int(c[order[0]]), int(c[order[1]]) if len(c) > 1 else 0
    votes = {k: int(v) for k, v in zip(classes, c)}
    if binomtest(na, na + nb, 0.5).pvalue > params.alpha:
        return None, votes
    return classes[int(order[0])], votes


# -- a Classifier as the base classifier ----------------------------------------------------------

def record_input(clf, x_mv: np.ndarray, fs: float) -> tuple[np.ndarray, LogitsFn, int]:
    """A record's model input (L,) mV (Classifier.prepare), the base classifier on a batch of such
    inputs (B, L) → logits (B, C) in eval mode, and d, the record samples in the input."""
    from .models.modes import eval_mode

    xin, pl = clf.prepare(x_mv, fs)

    def logits_fn(batch: torch.Tensor) -> torch.Tensor:
        with eval_mode(clf.module):
            return clf.logits(batch)
    return xin, logits_fn, int(pl.n)


def certify_record(clf, x_mv: np.ndarray, fs: float, params: SmoothParams, progress=None,
                   should_stop=None) -> Certificate:
    """CERTIFY one record (n,) mV at fs Hz with the Classifier `clf` as the base classifier."""
    xin, fn, d = record_input(clf, x_mv, fs)
    return certify_input(fn, xin, clf.classes, params, clf.device, progress, should_stop, d=d)


# -- a dataset ------------------------------------------------------------------------------------

def radius_grid(sigma_mv: float, steps: int = 9) -> list[float]:
    """L2 radii (mV) of the certified-accuracy table: 0 to 4σ in equal steps."""
    return [round(4 * sigma_mv * i / (steps - 1), 10) for i in range(steps)]


def certified_accuracy(rows: list[dict], radii: list[float]) -> list[dict]:
    """[{"radius_mv", "k", "n", "accuracy"}]: the fraction of rows (dicts with "label", "pred",
    "radius_mv") certified correct with radius ≥ r (radius 0: correct, not abstained)."""
    n = len(rows)
    out = []
    for r in radii:
        k = sum(1 for row in rows if row["pred"] is not None and row["pred"] == row["label"]
                and row["radius_mv"] >= r)
        out.append({"radius_mv": r, "k": k, "n": n, "accuracy": (k / n) if n else None})
    return out


def summarize(rows: list[dict], sigma_mv: float) -> dict:
    """The dataset summary: certified accuracy against radius, abstention rate, clean accuracy of
    the base classifier, and how many records are certified at the paper's ε in L∞."""
    from .intervals import rate_record

    n = len(rows)
    table = certified_accuracy(rows, radius_grid(sigma_mv))
    return {"n": n, "table": table,
            "abstention": rate_record(sum(r["pred"] is None for r in rows), n),
            "clean_accuracy": rate_record(sum(r.get("clean_pred") == r["label"] for r in rows), n),
            "certified_at_paper_eps": rate_record(sum(r["pred"] == r["label"] and r["linf_mv"] >= PAPER_EPS_MV
                                                      for r in rows), n)}


def format_table(summary: dict, d_typical: int | None = None) -> str:
    """Certified accuracy against radius as text (L2 radius; with `d_typical` its L∞ bound)."""
    lines = [f"{'L2 radius (mV)':>15s} {'L∞ bound (mV)':>14s} {'certified accuracy':>20s}"]
    for row in summary["table"]:
        linf = "-" if not d_typical else f"{row['radius_mv'] / math.sqrt(d_typical):.5f}"
        acc = "-" if row["accuracy"] is None else f"{100 * row['accuracy']:.1f}% ({row['k']}/{row['n']})"
        lines.append(f"{row['radius_mv']:15.4f} {linf:>14s} {acc:>20s}")
    return "\n".join(lines)


def plot_certified(summary: dict, path: str, title: str, overwrite: bool = False) -> str:
    """Certified accuracy (%) against L2 radius (mV) as a PNG, written atomically."""
    from .figures import figure, save_png
    from .robustness import check_plot_path

    check_plot_path(path, overwrite)
    fig = figure(6.4, 4.2, dpi=120)
    ax = fig.add_subplot()
    xs = [r["radius_mv"] for r in summary["table"]]
    ys = [float("nan") if r["accuracy"] is None else 100 * r["accuracy"] for r in summary["table"]]
    ax.step(xs, ys, where="post", marker="o", label=f"smoothed (n = {summary['n']})")
    clean = summary["clean_accuracy"]["rate"]
    if clean is not None:
        ax.axhline(100 * clean, color="grey", ls="--", lw=0.8, label="base model, clean accuracy")
    ax.set_xlabel("certified L2 radius (mV)")
    ax.set_ylabel("certified accuracy (%)")
    ax.set_ylim(-2, 102)
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(title, fontsize=10)
    save_png(fig, path, overwrite)
    return path
