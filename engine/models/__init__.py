"""Model registry: architectures, their input conventions and checkpoint loading."""

from __future__ import annotations

from torch import nn

from .default_cnn import DefaultCNN
from .paper_cnn import PaperCNN

ARCHS: dict[str, type[nn.Module]] = {"default": DefaultCNN, "paper-cnn": PaperCNN}

# Input conventions per architecture: sampling rate, units and fixed length (centred pad/crop).
INPUT_SPECS = {
    "default": {"fs": 300.0, "units": "mV", "units_per_mv": 1.0, "length": 9000,
                "length_convention": "centre zero-pad / centre crop to length"},
    "paper-cnn": {"fs": 300.0, "units": "uV (ADC units at 1000/mV)", "units_per_mv": 1000.0,
                  "length": 18000, "length_convention": "centre zero-pad / centre crop to length"},
}


def build(arch: str, **kwargs) -> nn.Module:
    """A fresh (untrained) module of architecture `arch`."""
    if arch not in ARCHS:
        from ..errors import UserError

        raise UserError(f"unknown architecture {arch!r} (choose from {', '.join(ARCHS)})")
    return ARCHS[arch](**kwargs)
