"""Model registry: every architecture declared once (class, input convention, CPU-twin support).

`ARCHITECTURES` is the one list of architectures: the CLI's `--arch` choices and `--model` help,
the GUI's model menu and training panel, checkpoints (`base_meta`, argument limits), training
defaults and the CPU twin all read it. Adding an architecture is its module plus one `ArchSpec`
entry below. This module does not import torch (the GUI reads it in its own thread); `ArchSpec.cls`,
`ARCHS` and `build` import the architecture's module on first use.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class InputSpec:
    """What a model expects: sampling rate fs (Hz), units (units_per_mv per mV) and a length.

    mode "fixed": every record is centred zero-padded or centre-cropped to `length` samples.
    mode "whole": each record is classified whole, in one pass up to `length` samples (records
    left-aligned in a batch, zero-padded and masked: the network pools over the real samples
    only); a longer record is cut into windows of `window_length` samples every `window_hop`
    (the last window ends at the record's end, so every sample is seen) and the windows'
    class probabilities are combined by `aggregation` ("mean_prob": their mean). `min_length`:
    shortest record the model was made for (shorter ones are classified, and flagged)."""

    fs: float
    units: str
    units_per_mv: float
    length: int
    length_convention: str = "centre zero-pad / centre crop to length"
    mode: str = "fixed"
    min_length: int = 0
    window_length: int = 0
    window_hop: int = 0
    aggregation: str = ""

    def as_dict(self) -> dict:
        d = {"fs": self.fs, "units": self.units, "units_per_mv": self.units_per_mv, "length": self.length,
             "length_convention": self.length_convention}
        if self.mode != "fixed":  # fixed-input checkpoints keep the metadata they always had
            d.update(input_mode=self.mode, min_length=self.min_length, window_length=self.window_length,
                     window_hop=self.window_hop, aggregation=self.aggregation)
        return d


INPUT_MODES = ("fixed", "whole")
AGGREGATIONS = {"mean_prob": "mean of the windows' class probabilities"}
def whole_input(fs: float, min_s: float, max_s: float, window_s: float, hop_s: float,
                aggregation: str) -> InputSpec:
    """The input convention of a whole-record model in mV (durations in s), with its description."""
    text = (f"whole record in one pass up to {max_s:g} s (batches left-aligned, zero-padded and masked); "
            f"longer records: {window_s:g}-s windows every {hop_s:g} s, the last ending at the record's end, "
            f"{AGGREGATIONS[aggregation]}")
    return InputSpec(fs=fs, units="mV", units_per_mv=1.0, length=round(max_s * fs), length_convention=text,
                     mode="whole", min_length=round(min_s * fs), window_length=round(window_s * fs),
                     window_hop=round(hop_s * fs), aggregation=aggregation)


@dataclass(frozen=True)
class ArchSpec:
    """One architecture. `target`: "module:Class" of its nn.Module; `cpu_twin`: its forward pass
    also runs as the channels-last 2-D twin (engine.models.cpu_twin); `arg_limits`: constructor
    argument -> (kind, lo, hi) accepted from checkpoint metadata (kinds int, float, ints);
    `weights`: file name of the bundled weights in resources/models; `default_epochs`: training;
    `default_args`: constructor arguments written into every checkpoint trained from scratch (so
    a checkpoint keeps its shape if the class's defaults change)."""

    name: str
    label: str
    help: str
    target: str
    input: InputSpec
    cpu_twin: bool
    default_epochs: int
    weights: str
    arg_limits: dict[str, tuple[str, Any, Any]] = field(default_factory=dict)
    default_args: dict[str, Any] = field(default_factory=dict)

    @property
    def cls(self) -> type:
        """The nn.Module subclass (imports its module, and torch, on first use)."""
        module, name = self.target.split(":")
        return getattr(importlib.import_module(module), name)


MAX_CLASSES = 1000  # classes a checkpoint may declare

# The architectures, in menu order; the first is `train`'s default (DEFAULT_MODEL below is the
# model used when none is chosen).
ARCHITECTURES: dict[str, ArchSpec] = {a.name: a for a in (
    ArchSpec("default", "Fast CNN, central 30 s",
             "our compact residual 1-D CNN in mV (30 s at 300 Hz; fast on CPU)",
             "engine.models.default_cnn:DefaultCNN",
             InputSpec(fs=300.0, units="mV", units_per_mv=1.0, length=9000),
             cpu_twin=True, default_epochs=40, weights="default.safetensors",
             arg_limits={"n_classes": ("int", 2, MAX_CLASSES), "channels": ("ints", 1, 1024),
                         "kernel": ("int", 1, 101), "dropout": ("float", 0.0, 0.99), "depth": ("int", 1, 8)}),
    ArchSpec("default-whole", "Fast CNN, whole record (the default)",
             "our compact residual 1-D CNN in mV on the whole record (9-61 s in one pass, longer records "
             "as 60-s windows every 30 s, mean of their probabilities; 300 Hz; fast on CPU)",
             "engine.models.default_cnn:DefaultCNN",
             whole_input(fs=300.0, min_s=9, max_s=61, window_s=60, hop_s=30, aggregation="mean_prob"),
             cpu_twin=True, default_epochs=40, weights="default-whole.safetensors",
             arg_limits={"n_classes": ("int", 2, MAX_CLASSES), "channels": ("ints", 1, 1024),
                         "kernel": ("int", 1, 101), "dropout": ("float", 0.0, 0.99), "depth": ("int", 1, 8)}),
    ArchSpec("paper-cnn", "Paper CNN (Han et al., 13 layers)",
             "the paper's 13-layer dilated CNN in µV (60 s at 300 Hz)",
             "engine.models.paper_cnn:PaperCNN",
             InputSpec(fs=300.0, units="uV (ADC units at 1000/mV)", units_per_mv=1000.0, length=18000),
             cpu_twin=True, default_epochs=200, weights="paper-cnn.safetensors",
             arg_limits={"n_classes": ("int", 2, MAX_CLASSES), "dropout": ("float", 0.0, 0.99)}),
    ArchSpec("paper-narrow", "Paper CNN, narrow (13 layers, 1/16 channels)",
             "the paper's 13-layer dilated CNN with a sixteenth of its channels, in µV (60 s at 300 Hz): "
             "is SAP susceptibility a property of the architecture? (trainable on a CPU)",
             "engine.models.paper_cnn:PaperNarrowCNN",
             InputSpec(fs=300.0, units="uV (ADC units at 1000/mV)", units_per_mv=1000.0, length=18000),
             cpu_twin=True, default_epochs=60, weights="paper-narrow.safetensors",
             arg_limits={"n_classes": ("int", 2, MAX_CLASSES), "dropout": ("float", 0.0, 0.99),
                         "width": ("float", 0.01, 1.0)},
             default_args={"width": 0.0625}),
)}
DEFAULT_ARCH = next(iter(ARCHITECTURES))  # `train --arch` when none is given


@dataclass(frozen=True)
class BundledModel:
    """A model the app ships weights for (resources/models/`weights`), selected by `name` in
    `--model` and the Model menu: every architecture's own weights, plus trained variants of one
    (`arch`), e.g. an adversarially trained default model."""

    name: str
    label: str
    arch: str
    weights: str
    help: str


# The bundled models, in menu order: each architecture's weights, then the variants.
BUNDLED: dict[str, BundledModel] = {m.name: m for m in (
    *(BundledModel(a.name, a.label, a.name, a.weights, a.help) for a in ARCHITECTURES.values()),
    BundledModel("default-robust", "Fast CNN, central 30 s, adversarially trained", "default",
                 "default-robust.safetensors",
                 "the default CNN fine-tuned with fast PGD adversarial training at ε 0.01 mV (harder to "
                 "fool, slightly less accurate; see its model card)"),
)}

# The model used when none is chosen (CLI --model, the window's first start): the whole-record
# network, so a record is classified and attacked on all of its samples, not its central 30 s.
DEFAULT_MODEL = "default-whole"

# Input conventions per architecture (the form stored in checkpoint metadata).
INPUT_SPECS: dict[str, dict] = {name: a.input.as_dict() for name, a in ARCHITECTURES.items()}


def arch(name: str) -> ArchSpec:
    """The declaration of architecture `name`, or UserError listing them."""
    try:
        return ARCHITECTURES[name]
    except (KeyError, TypeError):
        from ..errors import UserError

        raise UserError(f"unknown architecture {name!r} (choose from {', '.join(ARCHITECTURES)})") from None


def build(name: str, **kwargs):
    """A fresh (untrained) nn.Module of architecture `name`."""
    return arch(name).cls(**kwargs)


def twin_classes() -> tuple[type, ...]:
    """The module classes whose CPU twin is supported (imports them)."""
    return tuple(a.cls for a in ARCHITECTURES.values() if a.cpu_twin)


def __getattr__(name: str):
    if name == "ARCHS":  # name -> nn.Module class (imports torch)
        return {n: a.cls for n, a in ARCHITECTURES.items()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
