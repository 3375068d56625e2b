"""Shared attack machinery: device, targeted/untargeted loss, frozen model state, cancel, progress.

Attacks work on model-length batches in mV: x0 (B, L), mask (B, L) bool (True on real samples,
False on padding), labels (B,) class indices. ε and α are in mV; the model wrapper converts to its
own input units. The perturbation is always zero where mask is False.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable

import torch
import torch.nn.functional as F

from ..errors import Cancelled
from ..models.classifier import Classifier
from ..models.modes import eval_mode
from .params import PAPER_TARGET_MAP, AttackParams  # noqa: F401  (re-exported)
from .registry import ATTACKS


@contextmanager
def frozen(clf: Classifier):
    """Eval mode and no parameter gradients for the duration; previous state restored after."""
    with eval_mode(clf.module, freeze=True):
        yield


class Attack:
    """Base class. Subclasses implement `perturb(x0, mask, labels) -> delta` (B, L) mV; `name` is
    the key of the attack's declaration in engine.attacks.registry (label, parameters, steps)."""

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
        self._mask: torch.Tensor | None = None  # (B, L) of the batch being attacked (whole-record models)
        self._step = 0
        declared = ATTACKS.get(self.name)
        self._total = declared.total_steps(self.p) if declared else self.p.steps
        # the paper code's switch (engine.paper_mode), for the attacks that declare it: the steps
        # see no mask (δ/θ live on the zero padding too); the padding is zeroed once, at the end
        self.paper_code = bool(self.p.paper_code) and bool(declared) and any(
            q.attr == "paper_code" for q in declared.params)

    # -- helpers for subclasses -------------------------------------------------------------
    def loss_grad(self, x_adv: torch.Tensor, labels: torch.Tensor, wrt: torch.Tensor) -> torch.Tensor:
        """Gradient of the ascent objective w.r.t. `wrt` (which x_adv depends on).

        Untargeted: cross-entropy to the current label (ascend). Targeted: minus cross-entropy to
        the target (ascend = move toward the target).
        """
        logits = self.clf.logits(x_adv, self._mask)
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
        """Return delta (B, L) mV, |delta| ≤ ε, zero on padding. Model state restored afterwards.
        `labels`: the class each record's loss refers to (the runner passes the model's prediction,
        or the true label in the paper-code mode)."""
        self._step = 0
        self.check_stop()
        dev = self.clf.device
        x0, mask, labels = x0.to(dev), mask.to(dev), labels.to(dev)
        self._targets = None
        self._mask = mask
        try:
            with frozen(self.clf):
                steps_mask = torch.ones_like(x0) if self.paper_code else mask.to(x0.dtype)
                delta = self.perturb(x0, steps_mask, labels)
        finally:
            self._mask = None
        return delta.detach() * mask
