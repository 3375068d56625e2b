"""Auto-PGD (Croce & Hein, ICML 2020) in L∞ with ε in mV: APGD-CE and APGD-DLR.

Per record, from a random start in the ε-ball (zero on padding), `iterations` steps
    z = P(u + η·sign(∇f(u))),  u ← P(u + α(z − u) + (1 − α)(u − u_prev)),  α = 0.75 (1 on the first step),
with η₀ = 2ε and P the clip to ±ε. At the checkpoints w_j = ⌈p_j·N⌉ (p₀ = 0, p₁ = 0.22,
p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06)) a record's step is halved and it restarts from its
best point when (1) the loss rose in fewer than ρ = 0.75 of the steps since the last checkpoint, or
(2) its step was not halved at the last checkpoint and its best loss has not improved since.
`restarts` > 1 runs again, from another random start, on the records not yet fooled (judged after
the runner's ADC-grid projection). Returned per record: the last fooling iterate, else the point
of highest loss (over all restarts).

Losses (engine.attacks.objectives): cross-entropy (apgd-ce) or the difference of logits ratio
(apgd-dlr), targeted toward `target` / the per-class map, untargeted otherwise.
Smooth variant (`smooth`): the optimised variable is SAP's θ (|θ| ≤ ε) and δ = θ ∗ g, g the mean
of SAP's Gaussian kernel bank (engine.attacks.kernels), so δ is as smooth as SAP's and |δ| ≤ ε.
Cost: iterations + 1 forward+backward passes per restart, plus one forward per restart.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from .base import Attack
from .kernels import fused_kernel, smooth
from .objectives import advance, ce_loss, dlr_loss, fooled, fooled_on_grid, model_logits, target_vector

RHO = 0.75       # condition 1: share of steps that must increase the loss
MOMENTUM = 0.75  # α
P1, DECAY, MIN_GAP = 0.22, 0.03, 0.06


def checkpoints(n_iter: int) -> list[int]:
    """Iterations w_j (1 ≤ w_j ≤ n_iter) at which the step size is checked (the paper's schedule)."""
    p = [0.0, P1]
    while p[-1] < 1.0:
        p.append(p[-1] + max(p[-1] - p[-2] - DECAY, MIN_GAP))
    w = sorted({math.ceil(q * n_iter - 1e-9) for q in p[1:]})
    return [k for k in w if 1 <= k <= n_iter]


def apgd_run(loss_grad: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
             u0: torch.Tensor, mask: torch.Tensor, eps: float, n_iter: int,
             tick: Callable[[], None] | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One APGD run over the variable u (B, L) from u0 (inside the ε-ball, zero on padding).

    `loss_grad(u) -> (loss (B,), grad (B, L), fooled (B,) bool)`. Returns (u_best_loss, best loss,
    u_fooled, found): the point of highest loss, and the last fooling iterate where `found`."""
    def proj(u):
        return u.clamp(-eps, eps) * mask

    b = u0.shape[0]
    eta = torch.full((b, 1), 2.0 * eps, dtype=u0.dtype, device=u0.device)
    u = u0.detach()
    f, g, adv = loss_grad(u)
    u_best, f_best, g_best = u.clone(), f.clone(), g.clone()
    u_adv, found = u.clone(), adv.clone()
    u_prev = u
    marks = set(checkpoints(n_iter))
    last_mark = 0
    increases = torch.zeros(b, dtype=torch.long, device=u0.device)
    f_best_at_mark = f_best.clone()
    halved_at_mark = torch.zeros(b, dtype=torch.bool, device=u0.device)
    f_cur = f
    for k in range(n_iter):
        with torch.no_grad():
            a = MOMENTUM if k > 0 else 1.0
            z = proj(u + eta * g.sign())
            u_new = proj(u + a * (z - u) + (1 - a) * (u - u_prev))
            u_prev, u = u, u_new
        f, g, adv = loss_grad(u)
        with torch.no_grad():
            increases += (f > f_cur).long()
            f_cur = f
            better = f > f_best
            u_best = torch.where(better[:, None], u, u_best)
            g_best = torch.where(better[:, None], g, g_best)
            f_best = torch.where(better, f, f_best)
            u_adv = torch.where(adv[:, None], u, u_adv)
            found |= adv
            if k + 1 in marks:
                span = k + 1 - last_mark
                cond1 = increases.double() < RHO * span
                cond2 = ~halved_at_mark & (f_best <= f_best_at_mark)
                halve = cond1 | cond2
                eta = torch.where(halve[:, None], eta / 2, eta)
                u = torch.where(halve[:, None], u_best, u)
                g = torch.where(halve[:, None], g_best, g)
                halved_at_mark, f_best_at_mark = halve, f_best.clone()
                increases.zero_()
                last_mark = k + 1
        if tick:
            tick()
    return u_best, f_best, u_adv, found


class APGD(Attack):
    """APGD over the runner's batch; subclasses set `name` and `loss`."""

    name = "apgd"
    loss = staticmethod(ce_loss)

    def perturb(self, x0: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        eps, n_iter = self.p.eps_mv, self.p.iterations
        targets = target_vector(self, labels)
        kernel = fused_kernel(self.p.kernel_sizes, self.p.kernel_sigmas).to(x0.device, x0.dtype) \
            if self.p.smooth else None

        def to_delta(u, m):
            return (smooth(u, kernel) * m) if kernel is not None else u * m

        gen = torch.Generator(device="cpu").manual_seed(self.p.seed)
        b = x0.shape[0]
        delta = torch.zeros_like(x0)
        best = torch.full((b,), -math.inf, dtype=x0.dtype, device=x0.device)
        done = torch.zeros(b, dtype=torch.bool, device=x0.device)
        for _ in range(self.p.restarts):
            rows = (~done).nonzero()[:, 0]
            start = (torch.rand(x0.shape, generator=gen, dtype=x0.dtype) * 2 - 1).to(x0.device) * eps
            if rows.numel() == 0:
                advance(self, n_iter)
                continue
            xr, mr, yr, tr = x0[rows], mask[rows], labels[rows], targets[rows]

            def loss_grad(u, xr=xr, mr=mr, yr=yr, tr=tr, rows=rows):
                u = u.detach().requires_grad_(True)
                z = model_logits(self, xr + to_delta(u, mr), rows)
                f = self.loss(z, yr, tr)
                (g,) = torch.autograd.grad(f.sum(), u)
                return f.detach(), g, fooled(z.detach().argmax(1), yr, tr)

            u_best, f_best, u_adv, found = apgd_run(loss_grad, start[rows] * mr, mr, eps, n_iter, self.tick)
            with torch.no_grad():
                d_adv, d_best = to_delta(u_adv, mr), to_delta(u_best, mr)
                cand = torch.where(found[:, None], d_adv, d_best)
                ok = fooled_on_grid(self, xr, cand, mr, yr, tr, rows)
                # a record keeps this restart's δ if it fools now, or (not yet fooled) its loss is higher
                take = ok | (f_best > best[rows])
                delta[rows] = torch.where(take[:, None], cand, delta[rows])
                best[rows] = torch.where(take, f_best, best[rows])
                done[rows] = ok
        return delta


class APGDCE(APGD):
    name = "apgd-ce"
    loss = staticmethod(ce_loss)


class APGDDLR(APGD):
    name = "apgd-dlr"
    loss = staticmethod(dlr_loss)
