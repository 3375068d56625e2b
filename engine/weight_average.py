"""Training helpers for what a run starts from and what it keeps.

`WeightAverage`: an exponential moving average (EMA) of a network's weights, updated after every
optimiser step and validated / kept instead of the raw weights (`train --ema 0.999`). The decay is
ramped up over the first steps, (1 + t) / (10 + t), so the average does not remember the random
initialisation. Floating-point parameters and buffers (BatchNorm running statistics) are averaged;
integer buffers (batch counters) are copied.

`init_from`: start a run from a trained checkpoint's weights (`train --init CKPT`), e.g. to
fine-tune a model with noise (randomised smoothing) or adversarial examples; the checkpoint is read
with the safe loader and must be of the same architecture.
"""

from __future__ import annotations

import copy
import os

import torch
from torch import nn

from .errors import UserError


class WeightAverage:
    def __init__(self, module: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise UserError(f"the weight-average decay must be between 0 and 1 (exclusive), not {decay:g}")
        self.decay = float(decay)
        self.module = copy.deepcopy(module).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.updates = 0

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        """Move the average towards `module`'s current weights (call after each optimiser step)."""
        self.updates += 1
        d = min(self.decay, (1.0 + self.updates) / (10.0 + self.updates))
        avg, cur = self.module.state_dict(), module.state_dict()
        for k, v in avg.items():
            if v.dtype.is_floating_point:
                v.lerp_(cur[k].detach(), 1.0 - d)
            else:
                v.copy_(cur[k])

    def state_dict(self) -> dict:
        return {"weights": self.module.state_dict(), "updates": torch.tensor(self.updates)}

    def load_state_dict(self, st: dict) -> None:
        self.module.load_state_dict(st["weights"])
        self.updates = int(st["updates"])


def load_init(path: str, arch: str, loaded=None):
    """The checkpoint `--init` names (`loaded`: it, already read), checked to be a model of `arch`
    (UserError)."""
    from .models.checkpoint import load_checkpoint

    # safetensors or a weights-only state dict; refuses anything else
    clf = loaded if loaded is not None else load_checkpoint(path)
    if clf.meta.get("arch") != arch:
        raise UserError(f"--init {path} is a {clf.meta.get('arch')!r} model; this run trains {arch!r}")
    return clf


def init_from(module: nn.Module, path: str, arch: str, loaded=None) -> str:
    """Copy a checkpoint's weights into `module` (same architecture) → "file (weights fingerprint)".
    `loaded`: the checkpoint at `path` already loaded (a Classifier), so it is not read twice."""
    from .attack_eval import model_fingerprint

    clf = load_init(path, arch, loaded)
    try:
        module.load_state_dict(clf.module.state_dict())
    except RuntimeError:
        raise UserError(f"--init {path}: its weights do not fit a {arch!r} network of this size") from None
    return f"{os.path.basename(path)} (weights fingerprint {model_fingerprint(clf)})"
