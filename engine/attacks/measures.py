"""Size and perceptibility measures of a perturbation δ = x_adv − x0 (mV), over real samples only."""

from __future__ import annotations

import numpy as np


def perturbation_measures(x0_mv: np.ndarray, delta_mv: np.ndarray, eps_mv: float) -> dict:
    """linf_mv, l2_mv, snr_db (signal power / perturbation power), prd (% RMS difference),
    smoothness (variance of first differences of δ, mV²; lower is smoother) and square_wave
    (share of samples with |δ| at ε, within 1 % of ε: PGD's square-wave signature)."""
    x0 = np.asarray(x0_mv, dtype=np.float64)
    d = np.asarray(delta_mv, dtype=np.float64)
    p_sig, p_d = float(np.sum(x0 ** 2)), float(np.sum(d ** 2))
    return {
        "linf_mv": float(np.max(np.abs(d))) if d.size else 0.0,
        "l2_mv": float(np.sqrt(p_d)),
        "snr_db": float(10 * np.log10(p_sig / p_d)) if p_d > 0 and p_sig > 0 else None,
        "prd": float(100 * np.sqrt(p_d / p_sig)) if p_sig > 0 else None,
        "smoothness": float(np.var(np.diff(d))) if d.size > 1 else 0.0,
        "square_wave": float(np.mean(np.abs(d) >= 0.99 * eps_mv)) if d.size and eps_mv > 0 else 0.0,
    }
