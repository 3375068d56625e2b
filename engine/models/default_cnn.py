"""Our compact default model: a small residual 1-D CNN for single-lead ECG at 300 Hz.

Input: (B, 1, L) in mV (L = 9000, 30 s, by convention). Output: (B, 4) logits.
A strided stem and six stride-2 residual blocks bring 300 Hz down to ~2.3 Hz feature rate; mean
and max pooling over time feed a linear layer. One forward+backward to the input costs a few ms.
"""

from __future__ import annotations

import torch
from torch import nn


class ResBlock(nn.Module):
    """Two convolutions with BatchNorm and a (strided 1×1) shortcut."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, dropout: float) -> None:
        super().__init__()
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


class DefaultCNN(nn.Module):
    """Compact residual CNN; `channels` lists the stem width then each block's width."""

    def __init__(self, n_classes: int = 4, channels: tuple[int, ...] = (16, 24, 32, 48, 64, 64, 96),
                 kernel: int = 7, dropout: float = 0.2) -> None:
        super().__init__()
        c0 = channels[0]
        self.stem = nn.Sequential(nn.Conv1d(1, c0, 15, 2, 7, bias=False), nn.BatchNorm1d(c0), nn.ReLU())
        blocks, c = [], c0
        for cout in channels[1:]:
            blocks.append(ResBlock(c, cout, kernel, 2, dropout))
            c = cout
        self.blocks = nn.Sequential(*blocks)
        self.head_drop = nn.Dropout(dropout)
        self.classifier = nn.Linear(2 * c, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, 1, L) mV → (B, n_classes) logits. Also runs as its 2-D twin on (B, 1, 1, L)
        (engine.models.cpu_twin), hence the flatten."""
        h = self.blocks(self.stem(x)).flatten(2)
        return self.classifier(self.head_drop(torch.cat([h.mean(-1), h.amax(-1)], dim=1)))
