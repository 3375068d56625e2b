"""Compute device choice and seeding."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from .errors import UserError


def pick_device(requested: str | torch.device | None = None) -> torch.device:
    """CUDA when available, then Apple MPS, else CPU; `requested` ('cpu', 'cuda', 'cuda:1', 'mps') wins."""
    if requested not in (None, "", "auto"):
        dev = torch.device(requested)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise UserError(f"device {requested} requested but CUDA is not available")
        if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise UserError(f"device {requested} requested but Apple MPS is not available")
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def describe_device(dev: torch.device, threads: bool = True) -> str:
    """Human-readable device name: 'CPU (2 threads)' (this thread's torch threads now) or, with
    threads=False, 'CPU (2 cores)' (the machine's; a job's thread count varies), or the CUDA card."""
    if dev.type == "cuda":
        return f"CUDA: {torch.cuda.get_device_name(dev)}"
    if dev.type == "mps":
        return "Apple MPS"
    n, unit = (torch.get_num_threads(), "thread") if threads else (os.cpu_count() or 1, "core")
    return f"CPU ({n} {unit}{'s' if n != 1 else ''})"


# Input values (rows × samples) one inference forward takes at most. The CNNs here peak at about
# 190 bytes per input value, so 2^25 values is ~6 GB: the defaults fit under it (certify's 1000
# noisy copies of a 61-s record: 18.3 M values), while --batch-size 100000 would have asked for
# hundreds of GB and been killed by the system, not refused. Results do not depend on it.
MAX_FORWARD_VALUES = 2 ** 25


def rows_per_forward(batch_size: int, length: int) -> int:
    """`batch_size` rows of `length` samples, fewer when that exceeds MAX_FORWARD_VALUES (≥ 1)."""
    return max(1, min(int(batch_size), MAX_FORWARD_VALUES // max(1, int(length))))


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch.manual_seed(seed)
