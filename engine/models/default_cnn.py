"""Our compact default model: a small residual 1-D CNN for single-lead ECG at 300 Hz.

Input: (B, 1, L) in mV. Output: (B, 4) logits. A strided stem and six stride-2 residual blocks
bring 300 Hz down to ~2.3 Hz feature rate; mean and max pooling over time feed a linear layer.
One forward+backward to the input costs a few ms per 30 s.

Two input conventions use the same network (and the same weights layout):
- fixed (the 30-s checkpoint): `forward(x)` pools over the whole input, padding included;
- whole record: `forward(x, lengths)` with records left-aligned in the batch, real samples
  [0, lengths[b]) and zeros after. Every feature map is zeroed past the record's end at its own
  resolution (ceil(n / 2) per stride-2 stage), so the convolutions see exactly the zero padding
  they would see on the record alone, and the pooling runs over the real positions only: a
  record's logits do not depend on how much padding the batch adds (to float rounding). In eval
  mode BatchNorm is a fixed affine map per channel, so it cannot mix padding into real positions.
  (Training batches are cropped to one length, engine.training.batch_crops: nothing padded, so
  the batch statistics see signal only.)
"""

from __future__ import annotations

import torch
from torch import nn


def _down(lengths: torch.Tensor | None, stride: int) -> torch.Tensor | None:
    """Real positions after a 'same'-padded odd-kernel convolution of `stride`: ceil(n / stride)."""
    return lengths if lengths is None or stride == 1 else (lengths + stride - 1) // stride


def apply_mask(h: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """Zero h (B, C, L) or its 2-D twin's (B, C, 1, L) at positions >= lengths[b]."""
    if lengths is None:
        return h
    n = h.shape[-1]
    m = (torch.arange(n, device=h.device) < lengths.to(h.device)[:, None]).to(h.dtype)
    return h * m.view(m.shape[0], *([1] * (h.dim() - 2)), n)


class ResBlock(nn.Module):
    """Two convolutions with BatchNorm and a (strided 1×1) shortcut."""

    bn_after_conv = (("conv1", "bn1"), ("conv2", "bn2"))  # BatchNorms the CPU twin may fold (cpu_twin)

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, dropout: float) -> None:
        super().__init__()
        self.stride = stride
        self.conv1 = nn.Conv1d(cin, cout, kernel, stride, kernel // 2, bias=False)
        self.bn1 = nn.BatchNorm1d(cout)
        self.drop = nn.Dropout(dropout)
        self.conv2 = nn.Conv1d(cout, cout, kernel, 1, kernel // 2, bias=False)
        self.bn2 = nn.BatchNorm1d(cout)
        self.short = (nn.Identity() if cin == cout and stride == 1 else
                      nn.Sequential(nn.Conv1d(cin, cout, 1, stride, bias=False), nn.BatchNorm1d(cout)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.drop(torch.relu(self.bn1(self.conv1(x))))
        return torch.relu(self.bn2(self.conv2(y)) + self.short(x))

    def masked(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """forward() for left-aligned records of `lengths` (x already zero past them) → (out, lengths)."""
        lengths = _down(lengths, self.stride)
        y = apply_mask(self.drop(torch.relu(self.bn1(self.conv1(x)))), lengths)
        return apply_mask(torch.relu(self.bn2(self.conv2(y)) + self.short(x)), lengths), lengths


class DefaultCNN(nn.Module):
    """Compact residual CNN; `channels` lists the stem width then each stage's width. Each stage is
    one stride-2 residual block followed by `depth - 1` stride-1 blocks of the same width (depth 1,
    the shipped models: one block per stage)."""

    accepts_lengths = True  # forward(x, lengths): whole records of different lengths in one batch

    def __init__(self, n_classes: int = 4, channels: tuple[int, ...] = (16, 24, 32, 48, 64, 64, 96),
                 kernel: int = 7, dropout: float = 0.2, depth: int = 1) -> None:
        super().__init__()
        c0 = channels[0]
        self.stem = nn.Sequential(nn.Conv1d(1, c0, 15, 2, 7, bias=False), nn.BatchNorm1d(c0), nn.ReLU())
        blocks, c = [], c0
        for cout in channels[1:]:
            blocks.append(ResBlock(c, cout, kernel, 2, dropout))
            blocks += [ResBlock(cout, cout, kernel, 1, dropout) for _ in range(depth - 1)]
            c = cout
        self.blocks = nn.Sequential(*blocks)
        self.head_drop = nn.Dropout(dropout)
        self.classifier = nn.Linear(2 * c, n_classes)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """x: (B, 1, L) mV → (B, n_classes) logits. Also runs as its 2-D twin on (B, 1, 1, L)
        (engine.models.cpu_twin), hence the flatten. `lengths` (B,) int: real samples of each
        left-aligned record (None: all L samples are real, and padding is pooled like signal)."""
        if lengths is not None and bool((lengths >= x.shape[-1]).all()):
            lengths = None  # nothing padded: the plain pass computes the same
        if lengths is None:
            h = self.blocks(self.stem(x)).flatten(2)
            return self.classifier(self.head_drop(torch.cat([h.mean(-1), h.amax(-1)], dim=1)))
        lengths = lengths.to(x.device)
        h = apply_mask(x, lengths)
        lengths = _down(lengths, 2)
        h = apply_mask(self.stem(h), lengths)
        for block in self.blocks:
            h, lengths = block.masked(h, lengths)
        h = h.flatten(2)
        # h >= 0 (ReLU) and zero past each record's end, so its max over all positions is the
        # max over the real ones
        mean = h.sum(-1) / lengths.clamp(min=1).to(h.dtype)[:, None]
        return self.classifier(self.head_drop(torch.cat([mean, h.amax(-1)], dim=1)))
