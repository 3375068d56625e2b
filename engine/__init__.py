"""ECG adversarial workbench engine: records, datasets, models, attacks (no Qt here)."""

__version__ = "0.1.0"
