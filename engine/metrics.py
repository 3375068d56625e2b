"""Classification metrics as the PhysioNet 2017 challenge and the paper report them."""

from __future__ import annotations

import numpy as np

from .datasets import CLASSES


def confusion(true: list[str], pred: list[str], classes=CLASSES) -> np.ndarray:
    """(C, C) counts; rows are true classes, columns predictions."""
    idx = {c: i for i, c in enumerate(classes)}
    m = np.zeros((len(classes), len(classes)), dtype=np.int64)
    for t, p in zip(true, pred):
        m[idx[t], idx[p]] += 1
    return m


def summarize(true: list[str], pred: list[str], classes=CLASSES) -> dict:
    """accuracy, per-class F1, mean F1 over N/A/O (the paper's figure) and over all classes."""
    m = confusion(true, pred, classes)
    n = int(m.sum())
    f1 = {}
    for i, c in enumerate(classes):
        denom = m[i, :].sum() + m[:, i].sum()
        f1[c] = float(2 * m[i, i] / denom) if denom else 0.0
    nao = [f1[c] for c in ("N", "A", "O") if c in f1]
    return {"n": n, "accuracy": float(np.trace(m) / n) if n else 0.0, "f1": f1,
            "f1_mean_nao": float(np.mean(nao)) if nao else 0.0,
            "f1_mean_all": float(np.mean(list(f1.values()))) if f1 else 0.0,
            "confusion": m.tolist()}
