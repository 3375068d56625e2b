"""Training with the data resident on the device, and mixed precision (the GPU path of training).

`ResidentData` holds every training record once, as one tensor on the device in the model's own
input units (µV for paper-cnn): row i is record i, left-aligned, zero after its length; records
longer than `2 × length` samples keep their central 2 × length (no PhysioNet 2017 record is: the
longest is 61 s = 18300 samples for an 18000-sample input). Each batch is drawn on the device by
one gather: a random window of `length` samples of a longer record, or a shorter record at a
random place in zero padding — the same examples as the CPU path's `_random_window` — times a
random gain. `ResidentData.centred` holds the validation records placed as inference places them
(centred), so validation copies nothing either. Only fixed-input models take this path.

`amp_setup` chooses the autocast precision: "auto" is bf16 on a CUDA device that has it (fp16
with a gradient scaler otherwise) and full precision elsewhere; "bf16" / "fp16" / "off" force it
(bf16 also runs on CPU, which is how the path is tested without a GPU).
"""

from __future__ import annotations

from contextlib import nullcontext

import numpy as np
import torch

from .errors import UserError

AMP_CHOICES = ("auto", "off", "bf16", "fp16")
STORE_FACTOR = 2  # rows hold at most this many input lengths of a record


def amp_setup(amp: str, device: torch.device) -> tuple[torch.dtype | None, bool]:
    """(autocast dtype or None for full precision, use a GradScaler) for `amp` on `device`."""
    if amp not in AMP_CHOICES:
        raise UserError(f"unknown precision {amp!r} (choose from {', '.join(AMP_CHOICES)})")
    if amp == "off" or (amp == "auto" and device.type != "cuda"):
        return None, False
    if amp == "auto":
        amp = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if amp == "fp16":
        if device.type != "cuda":
            raise UserError("fp16 mixed precision needs a CUDA device (use bf16 on CPU)")
        return torch.float16, True
    return torch.bfloat16, False


def cpu_bf16_native() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX, as oneDNN sees it). Without it
    bf16 autocast is emulated: measured on an AVX2-only EPYC, a paper-CNN forward pass of one record
    took over 4 minutes in bf16 against 1.5 s in fp32 (small networks suffer far less)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a private probe: when absent, do not stand in the way
        return True


BF16_EMULATED = ("warning: this CPU has no native bf16 arithmetic (AVX512-BF16 or AMX), so bf16 autocast is "
                 "emulated and can be many times slower than fp32 (--amp off)")


def autocast(device: torch.device, dtype: torch.dtype | None):
    """torch.autocast for `dtype` on `device`, or a no-op for full precision."""
    return nullcontext() if dtype is None else torch.autocast(device.type, dtype=dtype)


def precision_text(dtype: torch.dtype | None, scaler: bool) -> str:
    if dtype is None:
        return "fp32"
    return {torch.bfloat16: "bf16 autocast", torch.float16: "fp16 autocast"}[dtype] + (
        " + GradScaler" if scaler else "")


def _resident_bytes(n_rows: int, width: int) -> int:
    return n_rows * width * 4


def check_memory(n_bytes: int, device: torch.device) -> None:
    """UserError when the resident data would take more than half the device's free memory."""
    if device.type != "cuda":
        return
    free, _total = torch.cuda.mem_get_info(device)
    if n_bytes > free // 2:
        raise UserError(f"the training data needs {n_bytes / 2**30:.1f} GiB on {device} but only "
                        f"{free / 2**30:.1f} GiB is free; train without --gpu-resident or on fewer records")


class ResidentData:
    """Training records as one (N, S) tensor on `device` in model units (mV × units_per_mv)."""

    def __init__(self, signals: list[np.ndarray], length: int, units_per_mv: float, device: torch.device) -> None:
        self.length = int(length)
        self.device = device
        width = min(max(len(x) for x in signals), STORE_FACTOR * self.length)
        width = max(width, 1)
        check_memory(_resident_bytes(len(signals), width), device)
        host = np.zeros((len(signals), width), dtype=np.float32)
        lengths = np.zeros(len(signals), dtype=np.int64)
        for i, x in enumerate(signals):
            s = max(0, (len(x) - width) // 2)
            n = min(len(x), width)
            host[i, :n] = x[s:s + n]
            lengths[i] = n
        host *= np.float32(units_per_mv)
        self.x = torch.from_numpy(host).to(device)
        self.lengths_np = lengths
        self.lengths = torch.from_numpy(lengths).to(device)
        self._cols = torch.arange(self.length, device=device)

    def __len__(self) -> int:
        return self.x.shape[0]

    def shifts(self, idx: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Per row, where its window starts in the record (≥ 0: a crop) or, negated, how far the
        record sits into the zero padding (< 0), drawn as `_random_window` draws them."""
        n = self.lengths_np[idx]
        extra = n - self.length
        s = np.array([int(rng.integers(0, abs(int(e)) + 1)) for e in extra], dtype=np.int64)
        return np.where(extra >= 0, s, -s)

    def batch(self, idx: np.ndarray, rng: np.random.Generator, gain_jitter: float) -> torch.Tensor:
        """(B, length) float32 on the device: random windows / placements of records `idx`, each
        times a gain uniform in [1 − gain_jitter, 1 + gain_jitter]."""
        k = torch.from_numpy(self.shifts(idx, rng)).to(self.device)
        gain = (1.0 + gain_jitter * rng.uniform(-1, 1, size=len(idx))).astype(np.float32)
        rows = torch.from_numpy(np.asarray(idx, dtype=np.int64)).to(self.device)
        src = self._cols[None, :] + k[:, None]
        valid = (src >= 0) & (src < self.lengths[rows][:, None])
        xb = self.x[rows[:, None], src.clamp(0, self.x.shape[1] - 1)]
        return xb * valid * torch.from_numpy(gain).to(self.device)[:, None]


def centred(signals: list[np.ndarray], length: int, units_per_mv: float, device: torch.device) -> torch.Tensor:
    """Validation records placed as inference places them (centred; engine.models.classifier
    .fit_length), in model units, as one (N, length) tensor on `device`."""
    from .models.classifier import fit_length

    check_memory(_resident_bytes(len(signals), length), device)
    host = np.stack([fit_length(x, length)[0] for x in signals]) * np.float32(units_per_mv)
    return torch.from_numpy(host).to(device)


@torch.no_grad()
def predict_resident(module: torch.nn.Module, x: torch.Tensor, batch_size: int = 128) -> np.ndarray:
    """Class probabilities (N, C) of rows x (N, L) in model units, in eval mode and full precision
    (as inference computes them)."""
    from .models.modes import eval_mode

    out = []
    with eval_mode(module):
        for i in range(0, x.shape[0], batch_size):
            out.append(torch.softmax(module(x[i:i + batch_size].unsqueeze(1)).float(), dim=1))
    return torch.cat(out).cpu().numpy()
