"""One place for the model's train/eval state (engine.models.modes) and one rule for
"is this prediction adversarial?" (engine.attacks.params.is_adversarial)."""

import numpy as np
import pytest
import torch
from torch import nn

from engine.attacks.params import is_adversarial
from engine.models.modes import eval_mode


def test_eval_mode_restores_state_also_on_errors():
    m = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5))
    m.train()
    m[0].bias.requires_grad_(False)
    with pytest.raises(RuntimeError):
        with eval_mode(m, freeze=True):
            assert not m.training and not any(p.requires_grad for p in m.parameters())
            raise RuntimeError("boom")
    assert m.training
    assert m[0].weight.requires_grad and not m[0].bias.requires_grad
    m.eval()
    with eval_mode(m):
        pass
    assert not m.training and m[0].weight.requires_grad


def test_is_adversarial_untargeted_targeted_and_nothing_to_attack():
    assert is_adversarial("O", "A") and not is_adversarial("A", "A")
    assert is_adversarial("N", "A", "N") and not is_adversarial("O", "A", "N")
    assert is_adversarial("N", "N", "N") is None  # already in its target class
    pred = torch.tensor([0, 1, 2])
    assert is_adversarial(pred, 1).tolist() == [True, False, True]
    assert is_adversarial(pred, 1, 2).tolist() == [False, False, True]
    assert is_adversarial(np.array([0, 1]), 0).tolist() == [False, True]


def test_no_hand_made_train_eval_state_outside_modes():
    """Train/eval state is saved and restored only by engine.models.modes (training itself sets
    train mode once per epoch and is exempt)."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "engine"
    offenders = [str(p.relative_to(root)) for p in root.rglob("*.py")
                 if p.name not in ("modes.py", "training.py") and "was_training" in p.read_text(encoding="utf-8")]
    assert offenders == []
