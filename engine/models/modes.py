"""The one place a network's train/eval state (and parameter gradients) is set and restored."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from torch import nn


@contextmanager
def eval_mode(module: nn.Module, freeze: bool = False) -> Iterator[nn.Module]:
    """Eval mode for the duration (and with `freeze`, no parameter gradients); the module's
    previous training flag and requires_grad flags are restored afterwards, also on errors."""
    was_training = module.training
    flags = [p.requires_grad for p in module.parameters()] if freeze else None
    module.eval()
    if freeze:
        for p in module.parameters():
            p.requires_grad_(False)
    try:
        yield module
    finally:
        if flags is not None:
            for p, f in zip(module.parameters(), flags):
                p.requires_grad_(f)
        module.train(was_training)
