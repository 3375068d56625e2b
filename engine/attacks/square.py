"""Square Attack (Andriushchenko et al., ECCV 2020), score-based black-box L∞, for ECGs.

Needs only class probabilities: `square_attack(score, x0_mv, ...)` attacks any scorer
`score(x (B, L) mV) -> probs (B, C)` (numpy in, numpy out when x0 is numpy; torch otherwise), so a
model behind a device's own interface can be attacked; `Square` (registered as "square") wraps
the workbench's Classifier. No gradient is ever computed.

The image squares become time windows: start from per-window ±ε (the record cut into windows of the
initial length, a random sign each: the 1-D analogue of the paper's vertical stripes); then each
query sets one random window of the record's real samples to one random sign ·ε and keeps the change
when the margin loss (log p_y − max_{i≠y} log p_i; targeted max_{i≠t} log p_i − log p_t) drops. The
window length is the share p of the record's real samples, p = P_INIT halved at the paper's
iterations 10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000 of 10000, rescaled to the query budget.
A record stops as soon as it is fooled; `queries` counts its model queries (the start included).
Smooth variant: the windows shape SAP's θ and the queried δ is θ smoothed by SAP's Gaussian kernel
bank (soft window edges, |δ| ≤ ε). With `quanta` (mV per record) every query is made on the ADC
grid, so success holds for the saved example.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from .base import Attack
from .kernels import fused_kernel, smooth
from .objectives import adc_delta, advance, fooled, margin, model_logits, target_vector
from .params import QUERIES

# initial window: this share of the record's real samples. The paper's L∞ value 0.05 fooled 5 of the 12
# bundled samples at ε 0.05 mV within 300 queries, 0.2 fooled 8 (0.35 and 0.6: 8; 0.01: 1)
P_INIT = 0.2
_HALVINGS = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)  # of 10000 iterations (paper's schedule)


def window_share(p_init: float, it: int, budget: int) -> float:
    """The paper's p at iteration `it` of `budget`: p_init halved at each rescaled checkpoint passed."""
    t = int(it / max(budget, 1) * 10000)
    return p_init / 2 ** sum(1 for h in _HALVINGS if t > h)


def square_search(score: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], x0: torch.Tensor,
                  mask: torch.Tensor, labels: torch.Tensor, targets: torch.Tensor, eps: float, budget: int, *,
                  seed: int = 0, p_init: float = P_INIT, kernel: torch.Tensor | None = None,
                  quanta: torch.Tensor | None = None, tick: Callable[[], None] | None = None,
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The search on a batch: x0, mask (B, L) (mask 0/1, 1 on real samples), labels, targets (B,)
    (-1 untargeted); `score(x, rows) -> probs` for rows `rows` of the batch. Returns (δ (B, L) mV,
    queries (B,) long, fooled (B,) bool). `tick` is called once per query round.

    Only the records still unfooled are queried (kept compacted: a record leaves when it is fooled).
    Without `kernel` every real sample of θ is ±ε, so the two candidate signals x0 ± ε (on the grid)
    are computed once and a query picks between them."""
    b, n = x0.shape
    dev = x0.device
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    idx = torch.arange(n, device=dev)[None, :]
    real = mask > 0
    n_real = real.sum(1).clamp(min=1)
    first = torch.where(real.any(1), real.float().argmax(1), torch.zeros_like(n_real))

    def rand(*shape):
        return torch.rand(shape, generator=gen, dtype=torch.float64).to(dev)

    if kernel is None:  # the two candidate signals, projected onto the grid once
        x_plus = x0 + adc_delta(x0, eps * mask, mask, quanta, eps)
        x_minus = x0 + adc_delta(x0, -eps * mask, mask, quanta, eps)

    def signal(theta, rows):
        if kernel is None:
            return torch.where(theta > 0, x_plus[rows], x_minus[rows])
        d = smooth(theta, kernel) * mask[rows]
        return x0[rows] + adc_delta(x0[rows], d, mask[rows], None if quanta is None else quanta[rows], eps)

    lab_t = torch.stack([labels, targets], 1)

    def query(theta, rows):
        p = score(signal(theta, rows), rows)
        p = torch.as_tensor(p).to(device=dev, dtype=torch.float32)
        logp = p.clamp(min=1e-30).log()
        y, t = lab_t[rows, 0], lab_t[rows, 1]
        return margin(logp, y, t), fooled(p.argmax(1), y, t)

    # start: the record cut into windows of the initial length, each ±ε
    s0 = (p_init * n_real.double()).round().long().clamp(min=1)[:, None]
    block = ((idx - first[:, None]).clamp(min=0) // s0).clamp(max=n - 1)
    signs = torch.where(rand(b, n) < 0.5, -1.0, 1.0).to(x0.dtype)
    theta = signs.gather(1, block) * eps * mask
    rows = torch.arange(b, device=dev)
    loss, done = query(theta, rows)
    queries = torch.ones(b, dtype=torch.long, device=dev)
    if tick:
        tick()
    # the records still to fool, compacted: their θ, loss, real length and first real sample
    keep = ~done
    rows, th, lo = rows[keep], theta[keep], loss[keep]
    nr, fr = n_real[keep], first[keep]
    for it in range(1, budget):
        if rows.numel() == 0:
            break
        k = rows.numel()
        p = window_share(p_init, it - 1, budget)
        s = torch.minimum((p * nr.double()).round().long().clamp(min=1), (nr - 1).clamp(min=1))
        a = fr + (rand(k) * (nr - s + 1).double()).long().clamp(max=(nr - s).clamp(min=0))
        win = (idx >= a[:, None]) & (idx < (a + s)[:, None])
        sign = torch.where(rand(k) < 0.5, -1.0, 1.0).to(x0.dtype)[:, None] * eps
        same = torch.where(win, th == sign, True).all(1, keepdim=True)  # no change: the other sign
        cand = torch.where(win, torch.where(same, -sign, sign), th)
        new_loss, new_done = query(cand, rows)
        better = new_loss < lo
        th = torch.where(better[:, None], cand, th)
        lo = torch.where(better, new_loss, lo)
        queries[rows] += 1
        if tick:
            tick()
        won = better & new_done
        if won.any():  # fooled records leave the search with their θ
            theta[rows[won]] = th[won]
            done[rows[won]] = True
            keep = ~won
            rows, th, lo, nr, fr = rows[keep], th[keep], lo[keep], nr[keep], fr[keep]
    theta[rows] = th
    d = smooth(theta, kernel) * mask if kernel is not None else theta * mask
    return d, queries, done


@dataclass
class SquareOutcome:
    """A scorer attack's outcome, per record: x_adv and delta (B, L) mV, queries used, fooled."""

    x_adv: np.ndarray | torch.Tensor
    delta: np.ndarray | torch.Tensor
    queries: np.ndarray
    fooled: np.ndarray


def square_attack(score: Callable, x0_mv, eps_mv: float, labels=None, *, target=None, queries: int | None = None,
                  seed: int = 0, smooth_perturbation: bool = False, mask=None, quantum_mv=None,
                  p_init: float = P_INIT) -> SquareOutcome:
    """Attack any scorer: `score(x (B, L) mV) -> probs (B, C)` (called with numpy float32 when x0_mv
    is numpy, with a torch tensor otherwise; it may return either). x0_mv (B, L) or (L,) mV;
    labels (B,) the classes to move away from (default: the scorer's prediction for x0); `target`
    one class index or (B,) indices (-1 untargeted) to move toward; `queries` the budget per record
    (default: the declared --queries default); `mask` (B, L) bool of real samples (default all);
    `quantum_mv` the ADC step (queries on the grid). The scorer is only ever evaluated; `queries` in
    the outcome counts its rows per record (plus one for the label query when `labels` is None)."""
    as_numpy = not isinstance(x0_mv, torch.Tensor)
    x0 = torch.as_tensor(np.asarray(x0_mv, dtype=np.float32) if as_numpy else x0_mv)
    single = x0.ndim == 1
    x0 = x0[None] if single else x0
    b = x0.shape[0]

    def call(x, rows=None):
        with torch.no_grad():
            out = score(x.cpu().numpy() if as_numpy else x)
        return torch.as_tensor(np.asarray(out) if as_numpy else out)

    m = torch.ones_like(x0) if mask is None else torch.as_tensor(np.asarray(mask)).reshape(x0.shape).to(x0)
    label_queries = 0
    if labels is None:  # one more query per record: the scorer's own prediction for x0
        labels, label_queries = call(x0).argmax(1), 1
    labels = torch.as_tensor(np.asarray(labels) if as_numpy else labels).reshape(b).long().to(x0.device)
    tg = torch.full_like(labels, -1) if target is None else \
        torch.as_tensor(np.asarray(target)).long().reshape(-1).expand(b).clone().to(x0.device)
    quanta = None if quantum_mv is None else torch.as_tensor(np.asarray(quantum_mv, dtype=np.float64)).reshape(-1) \
        .expand(b).clone()
    kernel = fused_kernel().to(x0.device, x0.dtype) if smooth_perturbation else None
    with torch.no_grad():
        d, q, ok = square_search(lambda x, rows: call(x, rows), x0, m, labels, tg, float(eps_mv),
                                 int(queries if queries is not None else QUERIES.default), seed=seed,
                                 p_init=p_init, kernel=kernel, quanta=quanta)
        d = adc_delta(x0, d, m, quanta, float(eps_mv))
    xa = x0 + d
    if single:
        xa, d = xa[0], d[0]
    if as_numpy:
        xa, d = xa.numpy(), d.numpy()
    return SquareOutcome(xa, d, q.cpu().numpy() + label_queries, ok.cpu().numpy())


class Square(Attack):
    """The registered black-box attack on the workbench's own model (probabilities only)."""

    name = "square"

    def perturb(self, x0: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        targets = target_vector(self, labels)
        kernel = fused_kernel(self.p.kernel_sizes, self.p.kernel_sigmas).to(x0.device, x0.dtype) \
            if self.p.smooth else None
        quanta = getattr(self, "quanta", None)

        def score(x, rows):
            return torch.softmax(model_logits(self, x, rows), dim=1)

        with torch.no_grad():
            delta, used, _ = square_search(score, x0, mask, labels, targets, self.p.eps_mv, self.p.queries,
                                           seed=self.p.seed, kernel=kernel,
                                           quanta=None if quanta is None else quanta.to(x0.device), tick=self.tick)
        advance(self, self.p.queries - int(used.max()))
        self.extras = {i: {"queries": int(q)} for i, q in enumerate(used.tolist())}
        return delta
