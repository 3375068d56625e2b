"""Adversarial training examples (`train --adversarial pgd|sap --eps MV --steps K`).

PGD (Madry et al., ICLR 2018): a uniform random start in the L∞ ball of radius ε (mV), K steps of
signed-gradient ascent on the cross-entropy with step α = 2.5ε/K, each projected back onto the
ball. With K = 1 this is the fast variant of Wong, Rice & Kolter (ICLR 2020): random start, one
step of α = 1.25ε. SAP (Han et al. 2020): the same ascent on θ with the perturbation δ = θ
smoothed by the paper's fused Gaussian kernel (engine.attacks.kernels), so the examples are smooth.
APGD-CE (Croce & Hein 2020, engine.attacks.apgd.apgd_run): K iterations (K + 1 gradients) from the
random start with its adaptive step size; the point of highest loss is the training example.
The network crafts in eval mode with frozen weights (no BatchNorm statistics from the ascent) and
without the CPU twin (whose rebuild after every optimiser step would cost more than the step).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .attacks.registry import ADV_TRAINING_METHODS
from .errors import UserError
from .models.modes import eval_mode

METHODS = ADV_TRAINING_METHODS  # sap, pgd, apgd-ce (declared in engine.attacks.registry)


def step_size(eps_mv: float, steps: int) -> float:
    """α (mV): 1.25ε for one step (fast adversarial training), else 2.5ε/K (Madry et al.)."""
    return 1.25 * eps_mv if steps == 1 else 2.5 * eps_mv / steps


def adversarial_count(batch: int, share: float) -> int:
    """How many of a batch of `batch` examples are replaced by adversarial ones: round(share × batch),
    at least 1 (share 0.5: half clean, half adversarial, as in Goodfellow et al.'s mixed loss)."""
    return min(batch, max(1, int(round(share * batch))))


def check(method: str, eps_mv: float, steps: int, share: float = 1.0) -> None:
    """UserError (one line) for settings that cannot train."""
    if method not in METHODS:
        raise UserError(f"unknown adversarial training method {method!r}; one of {', '.join(METHODS)}")
    if not (eps_mv > 0) or eps_mv != eps_mv or eps_mv == float("inf"):
        raise UserError(f"adversarial training needs --eps > 0 mV, got {eps_mv!r}")
    if int(steps) < 1:
        raise UserError(f"adversarial training needs --steps >= 1, got {steps!r}")
    if not (0 < share <= 1):
        raise UserError(f"adversarial training needs 0 < --adv-share <= 1, got {share!r}")


def adversarial_inputs(clf, x_mv: torch.Tensor, y: torch.Tensor, method: str, eps_mv: float,
                       steps: int) -> torch.Tensor:
    """x_mv (B, L) mV, y (B,) class indices → x_mv + δ, ‖δ‖∞ ≤ ε mV, ascending the cross-entropy."""
    from .attacks.kernels import fused_kernel, smooth

    x = x_mv.detach().float()
    alpha = step_size(eps_mv, steps)
    kernel = fused_kernel().to(x.device, x.dtype) if method == "sap" else None
    theta = (torch.rand(x.shape, device=x.device) * 2 - 1) * eps_mv
    twin, clf.use_twin = clf.use_twin, False
    try:
        with eval_mode(clf.module, freeze=True):
            if method == "apgd-ce":
                return _apgd(clf, x, y, theta, eps_mv, steps).to(x_mv.dtype)
            for _ in range(int(steps)):
                theta.requires_grad_(True)
                delta = smooth(theta, kernel) if kernel is not None else theta
                loss = F.cross_entropy(clf.logits(x + delta).float(), y)
                (g,) = torch.autograd.grad(loss, theta)
                with torch.no_grad():
                    theta = (theta + alpha * g.sign()).clamp(-eps_mv, eps_mv)
    finally:
        clf.use_twin = twin
    with torch.no_grad():
        delta = smooth(theta, kernel) if kernel is not None else theta
        return (x + delta.clamp(-eps_mv, eps_mv)).to(x_mv.dtype)


def _apgd(clf, x: torch.Tensor, y: torch.Tensor, u0: torch.Tensor, eps_mv: float, steps: int) -> torch.Tensor:
    from .attacks.apgd import apgd_run

    def loss_grad(u):
        u = u.detach().requires_grad_(True)
        z = clf.logits(x + u)
        losses = F.cross_entropy(z.float(), y, reduction="none")
        (g,) = torch.autograd.grad(losses.sum(), u)
        return losses.detach(), g, (z.argmax(1) != y).detach()

    u_best, _, _, _ = apgd_run(loss_grad, u0, torch.ones_like(x), eps_mv, int(steps))
    return (x + u_best.clamp(-eps_mv, eps_mv)).detach()
