"""EOT-PGD: L∞ PGD through the Gaussian noise of a smoothed classifier (SmoothAdv, Salman et al.,
NeurIPS 2019; expectation over transformation, Athalye et al. 2018).

The smoothed classifier of engine.certify adds noise n ~ N(0, σ² I) (σ = `eot_sigma_mv`, mV) to
the model input. Each of `steps` steps draws K = `eot_draws` noise vectors and ascends the soft
smoothed loss of each record

    untargeted:  −log( (1/K) Σ_k softmax(f(x0 + δ + n_k))_y )     (y: the class moved away from)
    targeted:    +log( (1/K) Σ_k softmax(f(x0 + δ + n_k))_t )     (t: the target)

with δ ← clip_{±ε}(δ + α·sign(∇δ)), δ zero on padding (ε, α in mV), as PGD. The log of the mean is
a log-sum-exp of log-probabilities, combined stably across chunks of draws (at most ROWS noisy
copies per forward pass), so results do not depend on the chunking. Noise goes where the smoothed
classifier puts it: on the whole input of a fixed-input model (its zero padding too), on the
record's samples of a whole-record model. The random start (when on) comes from a CPU generator
seeded by `seed` as PGD's; the noise from another one, one (B, L) draw at a time, seeded apart
from engine.certify's streams (NOISE_STAGE) so that the attack does not share the draws a
certificate or PREDICT is made with. The attack is deterministic.

The runner (`attack --method eot-pgd`) judges success on the base model like every attack; to
judge it against the smoothed prediction (Cohen's PREDICT) use engine.smooth_attack.
Cost: steps × K forward+backward passes of one record-length input per record.
"""

from __future__ import annotations

import math
from typing import Iterable

import torch

from .base import Attack
from .objectives import target_vector

ROWS = 64  # noisy copies per forward pass (memory); results do not depend on it
NOISE_STAGE = 3  # engine.certify.NoiseStream seeds seed·1000003 + stage with stages 0-2


class EOTPGD(Attack):
    """PGD on the noise-averaged soft loss of the smoothed classifier (see the module docstring)."""

    name = "eot-pgd"

    def perturb(self, x0: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        eps, alpha, steps = self.p.eps_mv, self.p.alpha_mv, self.p.steps
        sigma, draws = float(self.p.eot_sigma_mv), int(self.p.eot_draws)
        targets = target_vector(self, labels)
        if self.p.random_start:
            gen = torch.Generator(device="cpu").manual_seed(int(self.p.seed))
            delta = (torch.rand(x0.shape, generator=gen, dtype=x0.dtype) * 2 - 1).to(x0.device) * eps * mask
        else:
            delta = torch.zeros_like(x0)
        # the smoothed classifier's noise: everywhere on a fixed model's input, on the records of a batch
        # of whole records (their batch padding is no part of any record)
        whole_mask = self._mask if self._mask is not None else torch.ones_like(x0, dtype=torch.bool)
        noise_mask = whole_mask.to(x0.dtype) if self.clf.whole else torch.ones_like(x0)
        gen = torch.Generator(device="cpu").manual_seed(int(self.p.seed) * 1_000_003 + NOISE_STAGE)
        per = max(1, ROWS // max(1, x0.shape[0]))

        def chunks():  # the step's K draws, one (B, L) draw at a time from `gen`, at most ROWS rows a chunk
            for i in range(0, draws, per):
                k = min(per, draws - i)
                n = torch.stack([torch.randn(x0.shape, generator=gen, dtype=x0.dtype) for _ in range(k)])
                yield n.to(x0.device) * sigma * noise_mask

        for _ in range(steps):
            g = eot_grad(self.clf, x0, delta, chunks(), labels, targets, whole_mask)
            with torch.no_grad():
                delta = ((delta + alpha * g.sign()).clamp(-eps, eps) * mask).detach()
            self.tick()
        return delta


def eot_grad(clf, x0: torch.Tensor, delta: torch.Tensor, noise: Iterable[torch.Tensor], labels: torch.Tensor,
             targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """∇δ of the ascent objective (B, L): ∓ log mean_k softmax(f(x0 + δ + noise_k))_c per record,
    c = labels (untargeted, minus sign) or targets (≥ 0: targeted, plus sign); `noise`: the K draws
    in chunks (k, B, L) mV, one forward+backward pass each; mask (B, L) as for Classifier.logits.

    Each chunk's log-sum-exp of log-probabilities and its gradient are merged as a running
    log-sum-exp (weights exp(lse_chunk − lse_total)): the result does not depend on the chunking."""
    b, L = x0.shape
    toward = targets >= 0
    cls = torch.where(toward, targets, labels)
    sign = torch.where(toward, 1.0, -1.0).to(x0.dtype)[:, None]
    run_lse = torch.full((b,), -math.inf, dtype=x0.dtype, device=x0.device)
    run_g = torch.zeros_like(x0)
    for n in noise:
        k = n.shape[0]
        d = delta.detach().requires_grad_(True)
        x = (x0 + d)[None] + n  # (k, B, L)
        z = clf.logits(x.reshape(k * b, L), mask.repeat(k, 1))
        logp = torch.log_softmax(z.float(), dim=1).gather(1, cls.repeat(k)[:, None])[:, 0].view(k, b)
        lse = torch.logsumexp(logp, dim=0)  # (B,)
        (g,) = torch.autograd.grad(lse.sum(), d)
        with torch.no_grad():
            lse = lse.to(x0.dtype)
            new = torch.logaddexp(run_lse, lse)
            ok = torch.isfinite(new)
            w_old = torch.where(ok, torch.exp(run_lse - new), torch.zeros_like(new))
            w_new = torch.where(ok, torch.exp(lse - new), torch.zeros_like(new))
            run_g = run_g * w_old[:, None] + g * w_new[:, None]
            run_lse = new
    return sign * run_g
