"""A model together with its input convention: the engine's one way to run a network on mV signals.

Two conventions (metadata `input_mode`, engine.models.InputSpec): "fixed" (absent in older
checkpoints): every record is centred zero-padded or centre-cropped to `length` samples; "whole":
the record itself, of any length, is the model input. In a batch, whole records sit left-aligned,
zero-padded to the longest and masked (mask (B, L) bool, True on real samples); records up to
`length` samples go through the network in one pass, longer ones as windows (`windows`) whose
probabilities are averaged. `fit`, `pad_batch`, `logits(x, mask)`, `predict_proba(x, mask=)` and
`predict_signals` serve both conventions; with a fixed-input model the mask is ignored and the
results are exactly those of the model alone (it pools over its padding, as it was trained to).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..datasets import CLASSES
from ..errors import UserError
from ..records import resample
from . import cpu_twin
from .modes import eval_mode

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

    def apply(self, x: np.ndarray) -> np.ndarray:
        """A record (at the model rate) placed as described: (length,) float32, zeros elsewhere."""
        out = np.zeros(self.length, dtype=np.float32)
        out[self.dst_start:self.dst_start + self.n] = x[self.src_start:self.src_start + self.n]
        return out


def place(n_samples: int, length: int) -> Placement:
    """Centred zero padding (short records) or centred cropping (long records)."""
    if n_samples >= length:
        return Placement(length, (n_samples - length) // 2, 0, length)
    return Placement(length, 0, (length - n_samples) // 2, n_samples)


def whole_placement(n_samples: int) -> Placement:
    """A whole record as the model input: no padding, no cropping."""
    return Placement(n_samples, 0, 0, n_samples)


def pad_batch(rows: list[np.ndarray], fill=0) -> np.ndarray:
    """Left-aligned rows of different lengths → (B, max length), padded with `fill`."""
    n = max((len(r) for r in rows), default=0)
    out = np.full((len(rows), n), fill, dtype=rows[0].dtype if rows else np.float32)
    for i, r in enumerate(rows):
        out[i, :len(r)] = r
    return out


def window_starts(n: int, length: int, window: int, hop: int) -> list[int]:
    """Start samples of the windows of an n-sample record: [0] if n <= length, else every `hop`
    samples while a whole window fits, then one window ending at the record's end."""
    if n <= length:
        return [0]
    starts = list(range(0, n - window + 1, hop))
    if starts[-1] + window < n:
        starts.append(n - window)
    return starts


def fit_length(x: np.ndarray, length: int) -> tuple[np.ndarray, Placement]:
    """x (n,) → (length,) float32 with centred padding/cropping, and where the samples went."""
    p = place(x.shape[0], length)
    out = np.zeros(length, dtype=np.float32)
    out[p.dst_start:p.dst_start + p.n] = x[p.src_start:p.src_start + p.n]
    return out, p


# whole-record inference runs the network on at most this many samples at once (memory), and
# with input gradients recomputes each such chunk in the backward pass (torch.utils.checkpoint)
CHUNK_SAMPLES = 64 * 18_000


@dataclass
class Classifier:
    """A network plus metadata. All public methods take signals in mV.

    meta keys: arch, arch_args, classes, fs, units, units_per_mv, length, length_convention,
    training, metrics, name; whole-record models also input_mode ("whole"), min_length,
    window_length, window_hop (samples) and aggregation.
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
        """Fixed models: the input length. Whole-record models: the longest record classified in
        one pass (samples)."""
        return int(self.meta["length"])

    @property
    def units_per_mv(self) -> float:
        return float(self.meta["units_per_mv"])

    @property
    def whole(self) -> bool:
        """True when the model takes the whole record (input_mode "whole")."""
        return self.meta.get("input_mode", "fixed") == "whole"

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

    def fit(self, x_model: np.ndarray) -> tuple[np.ndarray, Placement]:
        """A signal at the model rate (n,) mV → the model input float32 and its placement: centred
        to `length` (fixed models) or the record itself (whole-record models)."""
        if self.whole:
            if len(x_model) == 0:
                raise UserError(f"model {self.name}: a record without samples cannot be classified")
            return np.asarray(x_model, dtype=np.float32).copy(), whole_placement(len(x_model))
        return fit_length(x_model, self.length)

    def prepare(self, x_mv: np.ndarray, fs: float) -> tuple[np.ndarray, Placement]:
        """Signal (n,) mV at fs → model input (L,) mV at the model rate, and its placement."""
        return self.fit(self.to_model_rate(x_mv, fs))

    def windows(self, n: int) -> list[tuple[int, int]]:
        """[(start, end)] samples of an n-sample record (at the model rate) that the network sees:
        one pass, or the windows of a long record for a whole-record model."""
        if not self.whole:
            p = place(n, self.length)
            return [(p.src_start, p.src_start + p.n)]
        w = int(self.meta["window_length"])
        return [(s, min(n, s + (w if n > self.length else n)))
                for s in window_starts(n, self.length, w, int(self.meta["window_hop"]))]

    def logits(self, x_mv: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """x_mv: (B, L) mV on self.device → (B, C) logits (differentiable w.r.t. the input; in
        eval mode on CPU computed by the module's channels-last 2-D twin, see cpu_twin).

        mask (B, L) bool or 0/1, True on real samples (whole-record models: left-aligned records,
        zeros after; None: every sample is real). A record longer than `length` is classified as
        windows and its row holds log(mean of the windows' probabilities), whose softmax is that
        mean. Fixed-input models ignore the mask."""
        if not self.whole:
            return self._net(x_mv, None)
        n_rows, L = x_mv.shape
        if mask is None:
            lengths = [L] * n_rows
        else:
            real = mask != 0
            lt = real.sum(1)
            if not torch.equal(real, torch.arange(L, device=real.device)[None] < lt[:, None]):
                raise ValueError("whole-record models take left-aligned records: mask True on [0, n) only")
            lengths = [int(v) for v in lt.tolist()]
        if max(lengths, default=0) <= self.length:
            return self._chunked(x_mv[:, :max(lengths, default=0)], lengths)
        segs, seg_len, owner = [], [], []
        for b, n in enumerate(lengths):
            for s, e in self.windows(n):
                segs.append((b, s, e))
                seg_len.append(e - s)
                owner.append(b)
        w = max(seg_len)
        rows = [torch.nn.functional.pad(x_mv[b, s:e], (0, w - (e - s))) for b, s, e in segs]
        z = self._chunked(torch.stack(rows), seg_len)
        out = []
        owner_t = torch.tensor(owner, device=z.device)
        for b, n in enumerate(lengths):
            zb = z[owner_t == b]
            if zb.shape[0] == 1:
                out.append(zb[0])
            else:  # log of the mean probability: logsumexp of the log-probabilities − log(count)
                out.append(torch.logsumexp(torch.log_softmax(zb, dim=1), dim=0) - math.log(zb.shape[0]))
        return torch.stack(out)

    def _chunked(self, x_mv: torch.Tensor, lengths: list[int]) -> torch.Tensor:
        """Whole-record rows (S, W) with real lengths → (S, C), at most CHUNK_SAMPLES per pass."""
        per = max(1, CHUNK_SAMPLES // max(1, x_mv.shape[1]))
        lt = torch.tensor(lengths, dtype=torch.long)
        if x_mv.shape[0] <= per or self.module.training:  # a training batch stays one (BatchNorm)
            return self._net(x_mv, lt)
        grad = torch.is_grad_enabled() and x_mv.requires_grad
        out = []
        for i in range(0, x_mv.shape[0], per):
            xb, lb = x_mv[i:i + per], lt[i:i + per]
            w = int(lb.max())
            xb = xb[:, :w]
            if grad:
                from torch.utils.checkpoint import checkpoint

                out.append(checkpoint(self._net, xb, lb, use_reentrant=False))
            else:
                out.append(self._net(xb, lb))
        return torch.cat(out)

    def _net(self, x_mv: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        x = (x_mv * self.units_per_mv).unsqueeze(1)
        args = () if lengths is None else (lengths,)
        twin = self._cpu_twin()
        if twin is not None:
            return twin(cpu_twin.to_2d_input(x), *args)
        return self.module(x, *args)

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
    def predict_proba(self, batch_mv: np.ndarray, batch_size: int = 64, mask: np.ndarray | None = None) -> np.ndarray:
        """batch_mv: (B, L) mV model inputs (see `fit`; whole-record models: left-aligned, padded,
        with `mask` (B, L) True on real samples, None: all real) → (B, C) probabilities."""
        out = []
        with eval_mode(self.module):
            for i in range(0, len(batch_mv), batch_size):
                xb = torch.as_tensor(np.asarray(batch_mv[i:i + batch_size]), dtype=torch.float32,
                                     device=self.device)
                mb = None if mask is None else torch.as_tensor(np.asarray(mask[i:i + batch_size]))
                out.append(torch.softmax(self.logits(xb, mb), dim=1).float().cpu().numpy())
        probs = np.concatenate(out) if out else np.zeros((0, len(self.classes)), np.float32)
        if not np.isfinite(probs).all():
            bad = "input" if not np.isfinite(np.asarray(batch_mv, dtype=np.float64)).all() else "weights"
            raise UserError(f"model {self.name} gave non-finite outputs (non-finite {bad}); no prediction made")
        return probs

    def predict_signals(self, signals: list[np.ndarray], batch_size: int = 64) -> np.ndarray:
        """Probabilities (n, C) for mV signals already at the model rate, each placed by `fit`.
        Whole-record models batch records of similar length together (little padding)."""
        if not signals:
            return np.zeros((0, len(self.classes)), np.float32)
        if not self.whole:
            return self.predict_proba(np.stack([self.fit(x)[0] for x in signals]), batch_size)
        out = np.zeros((len(signals), len(self.classes)), np.float32)
        order = sorted(range(len(signals)), key=lambda i: len(signals[i]))
        i = 0
        while i < len(order):
            n = len(signals[order[i]])
            # a long record alone (its windows fill the batch); else up to batch_size records
            take = 1 if n > self.length else batch_size
            idx = order[i:i + take]
            rows = [np.asarray(signals[j], dtype=np.float32) for j in idx]
            mask = pad_batch([np.ones(len(r), bool) for r in rows], False)
            out[idx] = self.predict_proba(pad_batch(rows), len(idx), mask=mask)
            i += take
        return out

    def classify_detail(self, x_mv: np.ndarray, fs: float, lead=None) -> dict:
        """Like `classify`, with what the model saw: {"pred", "probs", "duration_s", "window":
        [start_s, end_s] of the record in the model input (seconds from the record's start; for
        windows, the span they cover), "cropped" (record longer than the input: only the window
        was classified), "padded", "saturated_fraction" (in the window; at the ADC
        limits of `lead`, an engine.records.Lead, or clipped flat, see engine.records.saturation)
        and "saturated" (above 0.5 %)}. Whole-record models add "input_mode": "whole", "short"
        (below min_length) and, for a record classified as several windows, "windows"
        [[start_s, end_s], ...] and "aggregation" (how their probabilities were combined)."""
        from ..records import SATURATED_FRACTION, saturation
        from . import AGGREGATIONS

        x_model = self.to_model_rate(x_mv, fs)
        xin, pl = self.fit(x_model)
        p = self.predict_signals([xin])[0] if self.whole else self.predict_proba(xin[None])[0]
        duration = len(x_mv) / fs
        wins = self.windows(len(x_model))
        start_s = wins[0][0] / self.fs
        end_s = min(duration, wins[-1][1] / self.fs)
        a, b = int(round(start_s * fs)), int(round(end_s * fs))
        frac = saturation(np.asarray(x_mv)[a:max(b, a + 1)], fs, lead)
        d = {"pred": self.classes[int(p.argmax())], "probs": {c: float(v) for c, v in zip(self.classes, p)},
             "duration_s": round(duration, 6), "window": [round(start_s, 6), round(end_s, 6)],
             "cropped": bool(end_s - start_s < duration - 1e-9),
             "padded": bool(pl.dst_start > 0 or pl.n < pl.length),
             "saturated_fraction": round(frac, 6), "saturated": bool(frac > SATURATED_FRACTION)}
        if self.whole:
            d["input_mode"] = "whole"
            d["short"] = bool(len(xin) < int(self.meta.get("min_length", 0)))
            if len(wins) > 1:
                d["windows"] = [[round(s / self.fs, 6), round(min(duration, e / self.fs), 6)] for s, e in wins]
                agg = self.meta["aggregation"]
                d["aggregation"] = f"{agg}: {AGGREGATIONS.get(agg, agg)}"
        return d

    def classify(self, x_mv: np.ndarray, fs: float) -> tuple[str, dict[str, float]]:
        """One record's signal (n,) mV → (predicted class, {class: probability})."""
        xin, _ = self.prepare(x_mv, fs)
        p = (self.predict_signals([xin]) if self.whole else self.predict_proba(xin[None]))[0]
        return self.classes[int(p.argmax())], {c: float(v) for c, v in zip(self.classes, p)}
