"""The SAP Gaussian kernel bank and its fused (mean) kernel.

Each kernel is exp(-i²/2σ²) over i = -s//2 .. s//2, divided by its sum; the bank is every
(size, σ) pair (paper: sizes 5, 7, 11, 15, 19 × σ 1, 3, 5, 7, 10 → 25 kernels). The mean of the
centred 'same' convolutions equals one convolution with the mean kernel zero-padded to the
largest size, which is what the attacks apply.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .params import PAPER_SIGMAS, PAPER_SIZES  # noqa: F401  (declared with the other parameters)


def gaussian_kernel(size: int, sigma: float) -> torch.Tensor:
    """Normalised 1-D Gaussian of `size` taps (odd), float64."""
    if size < 1 or size % 2 == 0:
        raise ValueError(f"kernel size must be a positive odd number, got {size}")
    i = torch.arange(-(size // 2), size // 2 + 1, dtype=torch.float64)
    k = torch.exp(-(i ** 2) / (2.0 * sigma ** 2))
    return k / k.sum()


def kernel_bank(sizes=PAPER_SIZES, sigmas=PAPER_SIGMAS) -> list[torch.Tensor]:
    return [gaussian_kernel(s, sg) for s in sizes for sg in sigmas]


def fused_kernel(sizes=PAPER_SIZES, sigmas=PAPER_SIGMAS) -> torch.Tensor:
    """Mean of the bank, each kernel centred in max(sizes) taps: shape (max(sizes),), float64."""
    n = max(sizes)
    acc = torch.zeros(n, dtype=torch.float64)
    bank = kernel_bank(sizes, sigmas)
    for k in bank:
        off = (n - k.numel()) // 2
        acc[off:off + k.numel()] += k
    return acc / len(bank)


def smooth(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """'same' zero-padded convolution of (B, L) signals with one odd kernel (K,)."""
    k = kernel.to(dtype=x.dtype, device=x.device).flip(0).view(1, 1, -1)
    return F.conv1d(x.unsqueeze(1), k, padding=kernel.numel() // 2).squeeze(1)


def smooth_bank(x: torch.Tensor, bank: list[torch.Tensor]) -> torch.Tensor:
    """Mean of the separate 'same' convolutions (reference for tests; slow)."""
    return torch.stack([smooth(x, k) for k in bank]).mean(0)
