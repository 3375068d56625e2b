"""Shared attack machinery: device, targeted/untargeted loss, frozen model state, cancel, progress.

Attacks work on model-length batches in mV: x0 (B, L), mask (B, L) bool (True on real samples,
False on padding), labels (B,) class indices. ε and α are in mV; the model wrapper converts to its
own input units. The perturbation is always zero where mask is False.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from ..errors import Cancelled, UserError
from ..models.classifier import Classifier


@dataclass
class AttackParams:
    """Attack parameters in mV (paper: ε 10 ADC = 0.01 mV, α 1 ADC = 0.001 mV, 20 PGD + 40 SAP steps)."""

    eps_mv: float = 0.01
    alpha_mv: float = 0.001
    steps: int = 20
    sap_steps: int = 40
    target: str | None = None
    random_start: bool = False
    seed: int = 0
    kernel_sizes: tuple[int, ...] = (5, 7, 11, 15, 19)
    kernel_sigmas: tuple[float, ...] = (1.0, 3.0, 5.0, 7.0, 10.0)
    # per-record targets by original prediction, e.g. (("A", "N"),): records predicted AF are
    # moved toward Normal, every other record is attacked untargeted (the paper's protocol);
    # used when `target` is None
    target_map: tuple[tuple[str, str], ...] = ()

    def total_steps(self, method: str) -> int:
        return self.steps + (self.sap_steps if method == "sap" else 0)

    def check_targets(self, classes: list[str]) -> None:
        """UserError unless `target` / `target_map` name classes of the model (and not both)."""
        if self.target is not None and self.target not in classes:
            raise UserError(f"unknown target class {self.target!r} (choose from {', '.join(classes)})")
        for a, b in self.target_map:
            if a not in classes or b not in classes:
                raise UserError(f"target map {a}->{b}: classes must be among {', '.join(classes)}")
        if self.target is not None and self.target_map:
            raise UserError("give either one target class or a per-class target map, not both")

    def target_for(self, orig_pred: str) -> str | None:
        """The class a record originally predicted as `orig_pred` is moved to (None: untargeted)."""
        if self.target is not None:
            return self.target
        return dict(self.target_map).get(orig_pred)


PAPER_TARGET_MAP: tuple[tuple[str, str], ...] = (("A", "N"),)  # paper text: AF → Normal, others untargeted


@contextmanager
def frozen(clf: Classifier):
    """Eval mode and no parameter gradients for the duration; previous state restored after."""
    module = clf.module
    was_training = module.training
    flags = [p.requires_grad for p in module.parameters()]
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, f in zip(module.parameters(), flags):
            p.requires_grad_(f)
        module.train(was_training)


class Attack:
    """Base class. Subclasses implement `perturb(x0, mask, labels) -> delta` (B, L) mV."""

    name = "attack"

    def __init__(self, clf: Classifier, params: AttackParams | None = None,
                 progress: Callable[[int, int], None] | None = None,
                 should_stop: Callable[[], bool] | None = None) -> None:
        self.clf = clf
        self.p = params or AttackParams()
        self.progress = progress
        self.should_stop = should_stop
        self.target_index = None if self.p.target is None else clf.classes.index(self.p.target)
        self._map = {clf.classes.index(a): clf.classes.index(b) for a, b in self.p.target_map}
        self._targets: torch.Tensor | None = None  # (B,) per-record target index, -1 untargeted
        self._step = 0
        self._total = self.p.total_steps(self.name)

    # -- helpers for subclasses -------------------------------------------------------------
    def loss_grad(self, x_adv: torch.Tensor, labels: torch.Tensor, wrt: torch.Tensor) -> torch.Tensor:
        """Gradient of the ascent objective w.r.t. `wrt` (which x_adv depends on).

        Untargeted: cross-entropy to the current label (ascend). Targeted: minus cross-entropy to
        the target (ascend = move toward the target).
        """
        logits = self.clf.logits(x_adv)
        if self.target_index is not None:
            tgt = torch.full_like(labels, self.target_index)
            loss = -F.cross_entropy(logits, tgt, reduction="sum")
        elif self._map:
            tgt = self._targets_for(labels)
            toward = tgt >= 0
            ce_away = F.cross_entropy(logits, labels, reduction="none")
            ce_toward = F.cross_entropy(logits, tgt.clamp(min=0), reduction="none")
            loss = torch.where(toward, -ce_toward, ce_away).sum()
        else:
            loss = F.cross_entropy(logits, labels, reduction="sum")
        (g,) = torch.autograd.grad(loss, wrt)
        return g

    def _targets_for(self, labels: torch.Tensor) -> torch.Tensor:
        """Per-record target index from `target_map` (-1: untargeted), by original label."""
        if self._targets is None or self._targets.shape != labels.shape:
            self._targets = torch.tensor([self._map.get(int(c), -1) for c in labels.tolist()],
                                         device=labels.device, dtype=labels.dtype)
        return self._targets

    def tick(self) -> None:
        """Count one step: report progress, stop if asked (raises Cancelled)."""
        self._step += 1
        if self.progress:
            self.progress(self._step, self._total)
        if self.should_stop and self.should_stop():
            raise Cancelled(f"{self.name} cancelled after step {self._step} of {self._total}")

    def check_stop(self) -> None:
        if self.should_stop and self.should_stop():
            raise Cancelled(f"{self.name} cancelled")

    # -- public -----------------------------------------------------------------------------
    def perturb(self, x0: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def __call__(self, x0: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Return delta (B, L) mV, |delta| ≤ ε, zero on padding. Model state restored afterwards."""
        self._step = 0
        self.check_stop()
        dev = self.clf.device
        x0, mask, labels = x0.to(dev), mask.to(dev), labels.to(dev)
        self._targets = None
        with frozen(self.clf):
            delta = self.perturb(x0, mask.to(x0.dtype), labels)
        return delta.detach() * mask
