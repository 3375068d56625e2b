"""Smooth adversarial perturbation (SAP, Han et al. 2020).

The adversarial ECG is x0 + mean_k(θ ∗ g_k) over a bank of Gaussian kernels, applied as one fused
convolution with the mean kernel. θ starts as the PGD perturbation (same ε, α, `steps`), then
`sap_steps` sign steps θ ← clip_{±ε}(θ + α·sign(∇θ loss)). Since the kernel is non-negative and
sums to one, |θ ∗ g| ≤ ε.
"""

from __future__ import annotations

import torch

from .base import Attack
from .kernels import fused_kernel, smooth
from .pgd import pgd_delta


class SAP(Attack):
    name = "sap"

    def perturb(self, x0: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        eps, alpha = self.p.eps_mv, self.p.alpha_mv
        kernel = fused_kernel(self.p.kernel_sizes, self.p.kernel_sigmas).to(x0.device, x0.dtype)
        theta = pgd_delta(self, x0, mask, labels, self.p.steps)
        for _ in range(self.p.sap_steps):
            theta.requires_grad_(True)
            delta = smooth(theta, kernel) * mask
            g = self.loss_grad(x0 + delta, labels, theta)
            with torch.no_grad():
                theta = ((theta + alpha * g.sign()).clamp(-eps, eps) * mask).detach()
            self.tick()
        with torch.no_grad():
            return smooth(theta, kernel) * mask
