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


def absent_classes(confusion: list[list[int]], classes=CLASSES) -> list[str]:
    """Classes neither in the reference labels nor in the predictions (F1 0/0, counted as 0)."""
    m = np.asarray(confusion)
    return [c for i, c in enumerate(classes) if m[i, :].sum() + m[:, i].sum() == 0]


def f1_text(f1: dict, confusion: list[list[int]]) -> str:
    """'N 0.912 A 0.801 O 0.700 ~ —', a class absent from records and predictions shown as '—', with
    a note when one of N/A/O is, since the mean F1 N/A/O counts it as 0."""
    gone = absent_classes(confusion, list(f1))  # f1 is keyed in the confusion matrix's class order
    text = " ".join(f"{c} {'—' if c in gone else f'{v:.3f}'}" for c, v in f1.items())
    nao = [c for c in gone if c in ("N", "A", "O")]
    if gone:
        text += f" ({', '.join(gone)}: none in these records or predictions"
        text += ("; counted as F1 0 in the mean F1 N/A/O)" if nao else ")")
    return text


BOOTSTRAP_DRAWS = 2000


def _f1_nao_draws(t: np.ndarray, p: np.ndarray, idx: np.ndarray, n_classes: int) -> np.ndarray:
    """Mean F1 over N/A/O (classes 0-2) for each row of resampled record indices idx (R, n).
    A class absent from the whole set (neither true nor predicted) counts as F1 0, as in
    summarize(); one present in the set but missing from a resample is left out of that
    resample's mean (it has no F1 there)."""
    # per draw confusion counts via one bincount over (draw, true, pred)
    R = idx.shape[0]
    code = (np.arange(R)[:, None] * n_classes + t[idx]) * n_classes + p[idx]
    m = np.bincount(code.ravel(), minlength=R * n_classes * n_classes).reshape(R, n_classes, n_classes)
    f, seen = [], []
    for c in range(min(3, n_classes)):
        tp = m[:, c, c]
        denom = m[:, c, :].sum(1) + m[:, :, c].sum(1)
        f.append(np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0))
        seen.append((denom > 0) | (not np.any(t == c) and not np.any(p == c)))
    f, seen = np.array(f), np.array(seen)
    return np.where(seen.any(0), (f * seen).sum(0) / np.maximum(seen.sum(0), 1), 0.0)


def _resamples(n: int, draws: int, seed: int, cells: int = 2_000_000):
    """Bootstrap resamples of n records as (k, n) index arrays, a few million cells at a time."""
    rng = np.random.default_rng(seed)
    step = max(1, cells // max(n, 1))
    for start in range(0, draws, step):
        yield rng.integers(0, n, (min(step, draws - start), n))


def _indices(true: list[str], preds: list[list[str]], classes) -> tuple[np.ndarray, list[np.ndarray]]:
    idx = {c: i for i, c in enumerate(classes)}
    return np.array([idx[c] for c in true]), [np.array([idx[c] for c in p]) for p in preds]


def f1_interval(true: list[str], pred: list[str], classes=CLASSES, draws: int = BOOTSTRAP_DRAWS,
                seed: int = 0) -> list[float]:
    """95 % percentile-bootstrap interval [lo, hi] of mean F1 over N/A/O, resampling records
    (how far the figure can move on another sample of this many records)."""
    if not true:
        return [0.0, 0.0]
    t, (p,) = _indices(true, [pred], classes)
    vals = np.concatenate([_f1_nao_draws(t, p, ix, len(classes)) for ix in _resamples(len(t), draws, seed)])
    return [float(np.percentile(vals, 2.5)), float(np.percentile(vals, 97.5))]


def paired_f1_difference(true: list[str], pred_a: list[str], pred_b: list[str], classes=CLASSES,
                         draws: int = BOOTSTRAP_DRAWS, seed: int = 0) -> dict:
    """Mean F1 N/A/O of b minus that of a on the same records, with a paired percentile-bootstrap
    95 % interval (both models scored on each resample of records) and the share of resamples in
    which b is not better (≈ a one-sided p-value for 'b is better')."""
    t, (a, b) = _indices(true, [pred_a, pred_b], classes)
    d = np.concatenate([_f1_nao_draws(t, b, ix, len(classes)) - _f1_nao_draws(t, a, ix, len(classes))
                        for ix in _resamples(len(t), draws, seed)])
    full = np.arange(len(t))[None]
    diff = float(_f1_nao_draws(t, b, full, len(classes))[0] - _f1_nao_draws(t, a, full, len(classes))[0])
    return {"difference": diff, "ci95": [float(np.percentile(d, 2.5)), float(np.percentile(d, 97.5))],
            "share_not_better": float(np.mean(d <= 0)), "draws": draws, "seed": seed}
