"""Adversarial attacks on ECG classifiers: PGD and the smoothed SAP, one per module."""

from .base import Attack, AttackParams
from .pgd import PGD
from .runner import ATTACKS, AttackInput, AttackResult, run_attack
from .sap import SAP

__all__ = ["Attack", "AttackParams", "PGD", "SAP", "ATTACKS", "AttackInput", "AttackResult", "run_attack"]
