"""The paper's 13-layer dilated CNN (Han et al. 2020), as tabled in PAPER.md.

Input: (B, 1, 18000) in ADC units at 1000/mV (µV), 300 Hz. Output: (B, 4) logits.
"""

from __future__ import annotations

import torch
from torch import nn

# (in, out, kernel, dilation, padding, maxpool after)
PAPER_LAYERS = [
    (1, 320, 24, 1, 11, True),
    (320, 256, 16, 2, 15, False),
    (256, 256, 16, 4, 30, False),
    (256, 256, 16, 4, 30, False),
    (256, 256, 16, 4, 30, False),
    (256, 128, 8, 4, 14, True),
    (128, 128, 8, 6, 21, False),
    (128, 128, 8, 6, 21, False),
    (128, 128, 8, 6, 21, False),
    (128, 128, 8, 6, 21, False),
    (128, 128, 8, 8, 28, True),
    (128, 64, 8, 8, 28, False),
    (64, 64, 8, 8, 28, False),
]


def scaled_channels(width: float) -> list[int]:
    """Each layer's output channels of PAPER_LAYERS times `width` (at least 4): the same 13 layers,
    kernel sizes, dilations and pooling, fewer channels (1.0: the paper's network)."""
    return [max(4, int(round(cout * width))) for _, cout, _, _, _, _ in PAPER_LAYERS]


class PaperCNN(nn.Module):
    """Conv1d → BatchNorm → ReLU → Dropout(0.3) ×13 (three MaxPools), mean over time, Linear(64→4)."""

    def __init__(self, n_classes: int = 4, dropout: float = 0.3, width: float = 1.0) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        ch = scaled_channels(width)
        for (_, _, k, d, p, pool), cin, cout in zip(PAPER_LAYERS, [1] + ch[:-1], ch):
            layers += [nn.Conv1d(cin, cout, k, dilation=d, padding=p), nn.BatchNorm1d(cout),
                       nn.ReLU(), nn.Dropout(dropout)]
            if pool:
                layers.append(nn.MaxPool1d(kernel_size=2, stride=2, padding=1, dilation=2))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(ch[-1], n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, 1, L) µV → (B, n_classes) logits (or (B, 1, 1, L) in its 2-D twin)."""
        return self.classifier(self.features(x).flatten(2).mean(dim=-1))


class PaperNarrowCNN(PaperCNN):
    """The paper's CNN with a sixteenth of its channels (20, 16, …, 8, 4): same layers, kernels,
    dilations, pooling and input (µV, 60 s), sized to train on a CPU in the default model's budget
    (a training step: 42 ms per record on 2 quiet cores, ~7 minutes per balanced epoch; at 1/8
    width 109 ms, ~18 minutes, too few epochs in 45 minutes)."""

    def __init__(self, n_classes: int = 4, dropout: float = 0.3, width: float = 0.0625) -> None:
        super().__init__(n_classes, dropout, width)

