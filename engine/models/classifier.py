"""A model together with its input convention: the engine's one way to run a network on mV signals."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..datasets import CLASSES
from ..errors import UserError
from ..records import resample
from . import cpu_twin

MIN_FS, MAX_FS = 100.0, 10000.0


@dataclass
class Placement:
    """Where a record's samples sit inside the fixed model input.

    The model input is `length` samples; record samples [src_start, src_start+n) occupy
    input samples [dst_start, dst_start+n). Everything else is zero padding.
    """

    length: int
    src_start: int
    dst_start: int
    n: int

    def mask(self) -> np.ndarray:
        m = np.zeros(self.length, dtype=bool)
        m[self.dst_start:self.dst_start + self.n] = True
        return m


def place(n_samples: int, length: int) -> Placement:
    """Centred zero padding (short records) or centred cropping (long records)."""
    if n_samples >= length:
        return Placement(length, (n_samples - length) // 2, 0, length)
    return Placement(length, 0, (length - n_samples) // 2, n_samples)


def fit_length(x: np.ndarray, length: int) -> tuple[np.ndarray, Placement]:
    """x (n,) → (length,) float32 with centred padding/cropping, and where the samples went."""
    p = place(x.shape[0], length)
    out = np.zeros(length, dtype=np.float32)
    out[p.dst_start:p.dst_start + p.n] = x[p.src_start:p.src_start + p.n]
    return out, p


@dataclass
class Classifier:
    """A network plus metadata. All public methods take signals in mV.

    meta keys: arch, arch_args, classes, fs, units, units_per_mv, length, length_convention,
    training, metrics, name.
    """

    module: nn.Module
    meta: dict
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    use_twin: bool = field(default_factory=lambda: os.environ.get("ECGADV_NO_CPU_TWIN", "") in ("", "0"))

    @property
    def name(self) -> str:
        return self.meta.get("name", self.meta["arch"])

    @property
    def classes(self) -> list[str]:
        return list(self.meta.get("classes", CLASSES))

    @property
    def fs(self) -> float:
        return float(self.meta["fs"])

    @property
    def length(self) -> int:
        return int(self.meta["length"])

    @property
    def units_per_mv(self) -> float:
        return float(self.meta["units_per_mv"])

    def to(self, device: torch.device | str) -> "Classifier":
        self.device = torch.device(device)
        self.module.to(self.device)
        return self

    def to_model_rate(self, x_mv: np.ndarray, fs: float) -> np.ndarray:
        """Resample a mV signal to the model's rate; refuse rates the model cannot use."""
        if not (MIN_FS <= fs <= MAX_FS):
            raise UserError(f"sampling rate {fs:g} Hz cannot be used by model {self.name} "
                            f"(needs {MIN_FS:g}–{MAX_FS:g} Hz, resampled to {self.fs:g} Hz)")
        return resample(x_mv, fs, self.fs)

    def prepare(self, x_mv: np.ndarray, fs: float) -> tuple[np.ndarray, Placement]:
        """Signal (n,) mV at fs → model-length (L,) mV at the model rate, and its placement."""
        return fit_length(self.to_model_rate(x_mv, fs), self.length)

    def logits(self, x_mv: torch.Tensor) -> torch.Tensor:
        """x_mv: (B, L) mV on self.device → (B, C) logits (differentiable w.r.t. the input; in
        eval mode on CPU computed by the module's channels-last 2-D twin, see cpu_twin)."""
        x = (x_mv * self.units_per_mv).unsqueeze(1)
        twin = self._cpu_twin()
        if twin is not None:
            return twin(cpu_twin.to_2d_input(x))
        return self.module(x)

    def _cpu_twin(self) -> nn.Module | None:
        if self.module.training or self.device.type != "cpu" or not self.use_twin:
            return None
        # (module, its parameters and buffers, their state key, twin); the tensors are listed once
        # per module, since walking the module tree on every call costs 2 % of an attack step
        cache = self.__dict__.get("_twin_cache")
        if cache is None or cache[0] is not self.module:
            cache = (self.module, [*self.module.parameters(), *self.module.buffers()], None, None)
        key = cpu_twin.state_key(cache[1])
        if key != cache[2]:
            cache = (cache[0], cache[1], key, cpu_twin.make_twin(self.module, self.length))
        self.__dict__["_twin_cache"] = cache
        return cache[3]

    @torch.no_grad()
    def predict_proba(self, batch_mv: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """batch_mv: (B, L) mV, already model-length → (B, C) probabilities."""
        was_training = self.module.training
        self.module.eval()
        out = []
        try:
            for i in range(0, len(batch_mv), batch_size):
                xb = torch.as_tensor(np.asarray(batch_mv[i:i + batch_size]), dtype=torch.float32,
                                     device=self.device)
                out.append(torch.softmax(self.logits(xb), dim=1).float().cpu().numpy())
        finally:
            self.module.train(was_training)
        probs = np.concatenate(out) if out else np.zeros((0, len(self.classes)), np.float32)
        if not np.isfinite(probs).all():
            bad = "input" if not np.isfinite(np.asarray(batch_mv, dtype=np.float64)).all() else "weights"
            raise UserError(f"model {self.name} gave non-finite outputs (non-finite {bad}); no prediction made")
        return probs

    def classify_detail(self, x_mv: np.ndarray, fs: float, lead=None) -> dict:
        """Like `classify`, with what the model saw: {"pred", "probs", "duration_s", "window":
        [start_s, end_s] of the record in the model input (seconds from the record's start),
        "cropped" (record longer than the input: only the window was classified), "padded",
        "saturated_fraction" (in the window; at the ADC limits of `lead`, an engine.records.Lead,
        or clipped flat, see engine.records.saturation) and "saturated" (above 0.5 %)}."""
        from ..records import SATURATED_FRACTION, saturation

        xin, pl = self.prepare(x_mv, fs)
        p = self.predict_proba(xin[None])[0]
        duration = len(x_mv) / fs
        start_s = pl.src_start / self.fs
        end_s = min(duration, (pl.src_start + pl.n) / self.fs)
        a, b = int(round(start_s * fs)), int(round(end_s * fs))
        frac = saturation(np.asarray(x_mv)[a:max(b, a + 1)], fs, lead)
        return {"pred": self.classes[int(p.argmax())], "probs": {c: float(v) for c, v in zip(self.classes, p)},
                "duration_s": round(duration, 6), "window": [round(start_s, 6), round(end_s, 6)],
                "cropped": bool(end_s - start_s < duration - 1e-9),
                "padded": bool(pl.dst_start > 0 or pl.n < self.length),
                "saturated_fraction": round(frac, 6), "saturated": bool(frac > SATURATED_FRACTION)}

    def classify(self, x_mv: np.ndarray, fs: float) -> tuple[str, dict[str, float]]:
        """One record's signal (n,) mV → (predicted class, {class: probability})."""
        xin, _ = self.prepare(x_mv, fs)
        p = self.predict_proba(xin[None])[0]
        return self.classes[int(p.argmax())], {c: float(v) for c, v in zip(self.classes, p)}
