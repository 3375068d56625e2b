"""Projected gradient descent in L∞ with sign steps (Madry et al.; the paper's PGD baseline)."""

from __future__ import annotations

import torch

from .base import Attack


class PGD(Attack):
    """T steps of δ ← clip_{±ε}(δ + α·sign(∇δ loss)), δ zero on padding; optional random start."""

    name = "pgd"

    def perturb(self, x0: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return pgd_delta(self, x0, mask, labels, self.p.steps)


def pgd_delta(att: Attack, x0: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor,
              steps: int) -> torch.Tensor:
    """The PGD loop shared by PGD and SAP's initialisation."""
    eps, alpha = att.p.eps_mv, att.p.alpha_mv
    if att.p.random_start:
        gen = torch.Generator(device="cpu").manual_seed(att.p.seed)
        delta = (torch.rand(x0.shape, generator=gen, dtype=x0.dtype) * 2 - 1).to(x0.device) * eps * mask
    else:
        delta = torch.zeros_like(x0)
    for _ in range(steps):
        delta.requires_grad_(True)
        g = att.loss_grad(x0 + delta, labels, delta)
        with torch.no_grad():
            delta = ((delta + alpha * g.sign()).clamp(-eps, eps) * mask).detach()
        att.tick()
    return delta
