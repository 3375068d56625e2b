"""The AutoAttack-style ensemble: first success among APGD-CE, targeted APGD-DLR and Square per record,
which attack fooled it, targeted mode, progress and cancel."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attack_support import load_model, sample_inputs
from engine.attacks import AttackParams, run_attack
from engine.errors import Cancelled

FAST = dict(iterations=10, queries=60)


@pytest.fixture(scope="module")
def clf():
    return load_model()


def test_ensemble_dominates_apgd_ce_and_names_the_attack(clf):
    ins = sample_inputs()
    p = AttackParams(eps_mv=0.004, **FAST)
    ce = run_attack(clf, ins, "apgd-ce", p, batch_size=12)
    steps = []
    ens = run_attack(clf, ins, "ensemble", p, batch_size=12, progress=lambda d, t: steps.append((d, t)))
    assert all(e.success for c, e in zip(ce, ens) if c.success)
    assert sum(bool(e.success) for e in ens) >= sum(bool(c.success) for c in ce)
    for c, e in zip(ce, ens):
        by = e.extras["fooled_by"]
        assert (by is not None) == bool(e.success), (e.record, by, e.success)
        if c.success:  # APGD-CE runs first on every record, with the same seed: it is credited
            assert by == "apgd-ce" and np.array_equal(c.x_adv, e.x_adv)
        if by in (None, "square"):
            assert 1 <= e.extras["queries"] <= p.queries
        assert e.to_json()["fooled_by"] == by
    total = 2 * p.iterations + p.queries
    assert steps[-1] == (total, total) and all(a[0] <= b[0] for a, b in zip(steps, steps[1:]))
    assert all(t == total for _, t in steps)


def test_later_attacks_take_over_what_the_first_leaves(clf, monkeypatch):
    """With APGD-CE disabled the targeted APGD-DLR fools records; with both disabled Square does."""
    from engine.attacks import ensemble

    ins = sample_inputs(["A00001", "A00013", "A00020"])
    p = AttackParams(eps_mv=0.05, **FAST)
    monkeypatch.setattr(ensemble.APGDCE, "perturb", lambda self, x0, mask, labels: torch.zeros_like(x0))
    res = run_attack(clf, ins, "ensemble", p, batch_size=3)
    assert {r.extras["fooled_by"] for r in res} == {"apgd-dlr"}
    monkeypatch.setattr(ensemble.APGDDLR, "perturb", lambda self, x0, mask, labels: torch.zeros_like(x0))
    res = run_attack(clf, ins, "ensemble", AttackParams(eps_mv=0.2, **FAST), batch_size=3)
    assert any(r.extras["fooled_by"] == "square" for r in res)
    assert all(r.extras["fooled_by"] in ("square", None) for r in res)
    assert all(r.extras["queries"] <= FAST["queries"] for r in res)


def test_targeted_ensemble_and_cancel(clf):
    ins = sample_inputs(["A00001", "A00013", "A00020"])
    res = run_attack(clf, ins, "ensemble", AttackParams(eps_mv=0.05, target="A", **FAST), batch_size=3)
    for r in res:
        if r.orig_pred == "A":
            assert r.success is None
        else:
            assert r.success == (r.adv_pred == "A")
            assert (r.extras["fooled_by"] is not None) == r.success
    seen = []
    with pytest.raises(Cancelled):
        run_attack(clf, ins, "ensemble", AttackParams(eps_mv=0.001, **FAST), progress=lambda d, t: seen.append(d),
                   should_stop=lambda: len(seen) >= 3)
