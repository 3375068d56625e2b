"""Training-time augmentation of ECG batches (engine.training), beyond the random gain.

Named augmentations (`train --augment stretch,noise`):
- stretch: the whole batch resampled in time by one factor drawn uniformly in [1 - 0.08, 1 + 0.08]
  (heart rate ±8 %, linear interpolation); a fixed-input model's batch is centre-cropped or
  zero-padded back to its input length, a whole-record batch keeps the stretched length (at most
  the model's longest input);
- noise: white Gaussian noise on every record, its sd drawn per record uniformly in [0, 0.02] mV.

Random draws come from the training loop's numpy Generator, so a resumed run continues the same
stream. Batches are (B, c) tensors in model units (`units_per_mv`: mV → model units).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import UserError

if TYPE_CHECKING:  # torch and numpy are imported where used: the CLI's parser lists AUGMENTATIONS
    import numpy as np
    import torch

AUGMENTATIONS = {
    "stretch": "time resampled by a factor in [0.92, 1.08] per batch (heart rate ±8 %)",
    "noise": "white Gaussian noise, sd uniform in [0, 0.02] mV per record",
}
STRETCH = 0.08
NOISE_MAX_MV = 0.02


def parse_augment(text: str) -> tuple[str, ...]:
    """'stretch,noise' → ('stretch', 'noise') in the order given; unknown or repeated names are refused."""
    names = tuple(t.strip() for t in str(text).split(",") if t.strip())
    bad = [n for n in names if n not in AUGMENTATIONS]
    if bad or not names:
        raise UserError(f"--augment: {', '.join(bad) or 'nothing given'}: choose from {', '.join(AUGMENTATIONS)}")
    if len(set(names)) != len(names):
        raise UserError(f"--augment: {text!r} names an augmentation twice")
    return names


def _fit(x: torch.Tensor, length: int) -> torch.Tensor:
    """Centre-crop or zero-pad (B, n) to (B, length)."""
    import torch.nn.functional as F

    n = x.shape[-1]
    if n >= length:
        s = (n - length) // 2
        return x[:, s:s + length]
    left = (length - n) // 2
    return F.pad(x, (left, length - n - left))


def augment_batch(x: torch.Tensor, names: tuple[str, ...], rng: np.random.Generator, *, units_per_mv: float,
                  fixed_length: int | None, max_length: int) -> torch.Tensor:
    """Apply `names` in order to the batch x (B, c) in model units. `fixed_length`: the output
    length a fixed-input model needs (None for whole-record models, whose output length follows the
    stretch but stays within 1..max_length)."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    for name in names:
        if name == "stretch":
            r = float(rng.uniform(1 - STRETCH, 1 + STRETCH))
            n = max(1, min(int(round(x.shape[-1] * r)), max_length))
            x = F.interpolate(x[:, None], size=n, mode="linear", align_corners=False)[:, 0]
            if fixed_length is not None:
                x = _fit(x, fixed_length)
        elif name == "noise":
            sd = torch.from_numpy(rng.uniform(0, NOISE_MAX_MV, size=(x.shape[0], 1)).astype(np.float32))
            x = x + torch.randn(x.shape, generator=_torch_gen(rng), dtype=x.dtype).to(x.device) \
                * (sd.to(x.device, x.dtype) * units_per_mv)
    return x


def _torch_gen(rng: np.random.Generator) -> torch.Generator:
    """A CPU torch generator seeded from the numpy stream (reproducible and resumable)."""
    import torch

    return torch.Generator().manual_seed(int(rng.integers(0, 2**63 - 1)))
