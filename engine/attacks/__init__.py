"""Adversarial attacks on ECG classifiers, one per module, declared in engine.attacks.registry
(their parameters in engine.attacks.params).

Importing this package does not import torch: the names below load their modules on first use,
so the registry and the parameter declarations can be read from a GUI thread cheaply.
"""

from __future__ import annotations

import importlib

_LAZY = {"Attack": "base", "AttackParams": "params", "Param": "params", "AttackSpec": "registry",
         "PGD": "pgd", "SAP": "sap", "ATTACKS": "runner", "AttackInput": "runner", "AttackResult": "runner",
         "run_attack": "runner", "APGDCE": "apgd", "APGDDLR": "apgd", "Square": "square", "Ensemble": "ensemble",
         "square_attack": "square", "SquareOutcome": "square"}

__all__ = list(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
