"""Per-record losses and success tests shared by APGD, Square and the ensemble.

Logits z (B, C); `labels` (B,) the class each record is moved away from (the model's original
prediction); `targets` (B,) the class it is moved toward, -1 where untargeted. Every loss is one
value per record, to be *maximised* (APGD) or, for `margin`, minimised (Square).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def target_vector(att, labels: torch.Tensor) -> torch.Tensor:
    """(B,) per-record target index (-1: untargeted) of an engine.attacks.base.Attack: its one
    target class, else its per-class target map (by original label), else -1; an attack's
    `forced_targets` (set by the ensemble) overrides both."""
    forced = getattr(att, "forced_targets", None)
    if forced is not None:
        return forced.to(labels.device)
    if att.target_index is not None:
        return torch.full_like(labels, att.target_index)
    if att._map:
        return att._targets_for(labels)
    return torch.full_like(labels, -1)


def ce_loss(z: torch.Tensor, labels: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy to the label (untargeted) or minus cross-entropy to the target: (B,)."""
    toward = targets >= 0
    away = F.cross_entropy(z, labels, reduction="none")
    to = F.cross_entropy(z, targets.clamp(min=0), reduction="none")
    return torch.where(toward, -to, away)


def dlr_loss(z: torch.Tensor, labels: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Difference of logits ratio (Croce & Hein 2020), (B,), to maximise.

    Untargeted: −(z_y − max_{i≠y} z_i) / (z_π1 − z_π3 + 1e-12); targeted: −(z_y − z_t) /
    (z_π1 − (z_π3 + z_π4)/2 + 1e-12), π the classes sorted by decreasing logit. With fewer than 3
    (untargeted) or 4 (targeted) classes the smallest logit stands in for the missing ranks."""
    c = z.shape[1]
    zs = z.sort(dim=1, descending=True).values
    i3, i4 = min(2, c - 1), min(3, c - 1)
    zy = z.gather(1, labels[:, None])[:, 0]
    top_is_y = z.argmax(1) == labels
    other_max = torch.where(top_is_y, zs[:, min(1, c - 1)], zs[:, 0])
    untargeted = -(zy - other_max) / (zs[:, 0] - zs[:, i3] + 1e-12)
    zt = z.gather(1, targets.clamp(min=0)[:, None])[:, 0]
    targeted = -(zy - zt) / (zs[:, 0] - 0.5 * (zs[:, i3] + zs[:, i4]) + 1e-12)
    return torch.where(targets >= 0, targeted, untargeted)


def margin(logp: torch.Tensor, labels: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Square's margin on log-probabilities, (B,), to minimise; ≤ 0 once the record is fooled:
    untargeted log p_y − max_{i≠y} log p_i, targeted max_{i≠t} log p_i − log p_t."""
    ref = torch.where(targets >= 0, targets, labels)
    own = logp.gather(1, ref[:, None])[:, 0]
    others = logp.scatter(1, ref[:, None], float("-inf")).max(1).values
    return torch.where(targets >= 0, others - own, own - others)


def fooled(pred: torch.Tensor, labels: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """(B,) bool: untargeted the prediction changed, targeted it is the target."""
    return torch.where(targets >= 0, pred == targets, pred != labels)


def adc_delta(x0: torch.Tensor, delta: torch.Tensor, mask: torch.Tensor, quanta: torch.Tensor | None,
              eps: float) -> torch.Tensor:
    """δ after the runner's ADC-grid projection (engine.attacks.runner.quantise): x0 + δ rounded to
    multiples of each record's quantum (mV, (B,); ≤ 0: none), stepped back a quantum where that
    would exceed ε; zero where `mask` (B, L) is 0. Lets an attack judge success as the runner will."""
    if quanta is None:
        return delta
    q = quanta.to(device=x0.device, dtype=torch.float64)[:, None]
    x0d = x0.double()
    has = q > 0
    qs = torch.where(has, q, torch.ones_like(q))
    xq = torch.round((x0d + delta.double()) / qs) * qs
    d = xq - x0d
    over = d.abs() > eps + 1e-3 * qs
    xq = torch.where(over, xq - torch.sign(d) * qs, xq)
    return torch.where(has, xq - x0d, delta.double()).to(delta.dtype) * mask


# -- helpers for attacks working on subsets of their batch -----------------------------------------

def model_logits(att, x: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
    """Logits of the attack's model for `x` (B', L) mV, rows `rows` of the batch being attacked (the
    whole-record mask of those rows; None: all rows)."""
    m = getattr(att, "_mask", None)
    if m is None:
        return att.clf.logits(x)
    return att.clf.logits(x, m if rows is None else m[rows])


@torch.no_grad()
def fooled_on_grid(att, x0: torch.Tensor, delta: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor,
                   targets: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
    """(B',) bool: would the runner count x0 + δ as fooled, after its ADC-grid projection (the
    attack's `quanta`, set by the runner; none: δ as is)? One forward pass."""
    quanta = getattr(att, "quanta", None)
    if quanta is not None and rows is not None:
        quanta = quanta[rows.cpu()] if quanta.device.type == "cpu" else quanta[rows]
    d = adc_delta(x0, delta, mask, quanta, att.p.eps_mv)
    return fooled(model_logits(att, x0 + d, rows).argmax(1), labels, targets)


def advance(att, n: int) -> None:
    """Count `n` progress steps at once (work skipped because every record is already fooled)."""
    if n > 0:
        att._step += n
        if att.progress:
            att.progress(att._step, att._total)
    att.check_stop()
