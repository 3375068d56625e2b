"""APGD-CE and APGD-DLR: the paper's schedule, the losses, PGD dominance on real records, targeted,
smooth, budget, padding, seeds, restarts, cancel."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attack_support import grid_ok, load_model, sample_inputs
from engine.attacks import AttackInput, AttackParams, run_attack
from engine.attacks.apgd import apgd_run, checkpoints
from engine.attacks.objectives import ce_loss, dlr_loss, fooled, margin
from engine.errors import Cancelled


def test_checkpoints_follow_the_paper():
    # p: 0, 0.22, 0.41, 0.57, 0.70, 0.80, 0.87, 0.93, 0.99 (then 1.05 > 1)
    assert checkpoints(100) == [22, 41, 57, 70, 80, 87, 93, 99]
    assert checkpoints(1000)[:3] == [220, 410, 570]
    assert checkpoints(1) == [1]


def test_dlr_and_ce_losses_by_hand():
    z = torch.tensor([[4.0, 1.0, 0.0, -1.0], [0.0, 3.0, 2.0, 1.0]])
    y = torch.tensor([0, 1])
    un = torch.tensor([-1, -1])
    # untargeted: −(z_y − max_{i≠y} z_i) / (z_π1 − z_π3)
    assert torch.allclose(dlr_loss(z, y, un), torch.tensor([-(4 - 1) / (4 - 0), -(3 - 2) / (3 - 1)]))
    # targeted toward class 2: −(z_y − z_t) / (z_π1 − (z_π3 + z_π4)/2)
    t = torch.tensor([2, 2])
    assert torch.allclose(dlr_loss(z, y, t), torch.tensor([-(4 - 0) / (4 - (0 - 1) / 2), -(3 - 2) / (3 - (1 + 0) / 2)]))
    # the DLR loss is scale-invariant, CE is not
    assert torch.allclose(dlr_loss(5 * z, y, un), dlr_loss(z, y, un))
    assert ce_loss(z, y, un)[0] > 0 > ce_loss(z, y, t)[0]
    lp = torch.log_softmax(z, 1)
    assert torch.all(margin(lp, y, un) > 0) and torch.all(margin(lp, y, t) > 0)
    assert fooled(torch.tensor([2, 1]), y, t).tolist() == [True, False]
    assert fooled(torch.tensor([2, 1]), y, un).tolist() == [True, False]


def test_step_size_halving_reaches_an_interior_optimum(monkeypatch):
    """loss −‖u − c‖² with c inside the ε-ball: sign steps of a fixed size would oscillate around c;
    APGD's halving at the checkpoints must bring the best point close to c."""
    eps = 1.0
    gen = torch.Generator().manual_seed(0)
    c = (torch.rand((3, 50), generator=gen, dtype=torch.float64) * 1.6 - 0.8)
    mask = torch.ones_like(c)
    mask[:, 40:] = 0

    def lg(u):
        f = -((u - c * mask) ** 2).sum(1)
        return f, -2 * (u - c * mask), torch.zeros(3, dtype=torch.bool)

    u_best, f_best, _, found = apgd_run(lg, torch.zeros_like(c), mask, eps, 100)
    assert not found.any()
    assert torch.all(u_best[:, 40:] == 0) and u_best.abs().max() <= eps
    assert f_best.max().item() > -0.05  # a fixed step of 2ε could not get closer than ~ε² per sample
    import engine.attacks.apgd as apgd_module

    monkeypatch.setattr(apgd_module, "checkpoints", lambda n: [])  # the same run without any checkpoint
    _, f_fixed, _, _ = apgd_run(lg, torch.zeros_like(c), mask, eps, 100)
    assert f_best.min() > f_fixed.max()


@pytest.fixture(scope="module")
def clf():
    return load_model()


def _flags(res):
    return [bool(r.success) for r in res]


def test_apgd_ce_succeeds_wherever_pgd_does_and_more(clf):
    """On the 12 bundled samples at ε 0.004 mV: APGD-CE (100 iterations) fools every record PGD
    (the paper's schedule: α = ε/10, 20 steps) fools, and at least as many."""
    eps = 0.004
    ins = sample_inputs()
    pgd = run_attack(clf, ins, "pgd", AttackParams(eps_mv=eps, alpha_mv=eps / 10), batch_size=12)
    apgd = run_attack(clf, ins, "apgd-ce", AttackParams(eps_mv=eps), batch_size=12)
    assert 0 < sum(_flags(pgd)) < len(ins), "ε must leave room on both sides"
    missed = [p.record for p, a in zip(pgd, apgd) if p.success and not a.success]
    assert not missed, f"APGD-CE missed records PGD fooled: {missed}"
    assert sum(_flags(apgd)) >= sum(_flags(pgd))
    for r in apgd:
        d = r.x_adv.astype(np.float64) - r.x0.astype(np.float64)
        assert np.abs(d).max() <= eps + 1e-6 and grid_ok(r.x_adv)


@pytest.mark.parametrize("method", ["apgd-ce", "apgd-dlr"])
def test_targeted_and_untargeted_both_losses(clf, method):
    ins = sample_inputs(["A00001", "A00013", "A00020"])
    un = run_attack(clf, ins, method, AttackParams(eps_mv=0.05, iterations=10), batch_size=3)
    assert all(r.success for r in un) and all(r.adv_pred != r.orig_pred for r in un)
    tg = run_attack(clf, ins, method, AttackParams(eps_mv=0.05, iterations=10, target="A"), batch_size=3)
    for r in tg:
        if r.orig_pred == "A":
            assert r.success is None
        else:
            assert r.success == (r.adv_pred == "A")
    assert any(r.success for r in tg)


def test_smooth_variant_is_as_smooth_as_sap_and_zero_on_padding(clf):
    x = sample_inputs(["A00013"])[0]
    short = AttackInput("short", x.x_mv[:3000], x.fs, x.true, x.quantum_mv)  # padded in the model input
    p = AttackParams(eps_mv=0.02, iterations=8)
    plain = run_attack(clf, [short], "apgd-ce", p)[0]
    smooth = run_attack(clf, [short], "apgd-ce", AttackParams(eps_mv=0.02, iterations=8, smooth=True))[0]
    sap = run_attack(clf, [short], "sap", AttackParams(eps_mv=0.02, alpha_mv=0.002, steps=4, sap_steps=4))[0]
    assert smooth.measures["smoothness"] < plain.measures["smoothness"] / 20
    assert smooth.measures["smoothness"] < 5 * sap.measures["smoothness"] + 1e-9
    for r in (plain, smooth):
        assert len(r.x_adv) == 3000 and r.measures["linf_mv"] <= 0.02 + 1e-6
    # the attack's own δ in the model input: zero on the padding around the 3000 samples
    from engine.attacks.apgd import APGDCE

    xin, pl = clf.fit(clf.to_model_rate(short.x_mv, short.fs))
    m = torch.from_numpy(pl.mask())[None]
    d = APGDCE(clf, AttackParams(eps_mv=0.02, iterations=3, smooth=True))(
        torch.from_numpy(xin)[None], m, torch.tensor([0]))
    assert d.abs().max() > 0 and torch.all(d[~m] == 0)


def test_seed_reproduces_restarts_progress_and_cancel(clf):
    ins = sample_inputs(["A00001", "A00013"])
    p = AttackParams(eps_mv=0.003, iterations=6, restarts=2, seed=5)
    steps = []
    a = run_attack(clf, ins, "apgd-dlr", p, progress=lambda d, t: steps.append((d, t)))
    b = run_attack(clf, ins, "apgd-dlr", p)
    assert all(np.array_equal(x.x_adv, y.x_adv) for x, y in zip(a, b))
    assert steps[-1] == (12, 12) and all(t == 12 for _, t in steps)
    c = run_attack(clf, ins, "apgd-dlr", AttackParams(eps_mv=0.003, iterations=6, restarts=2, seed=6))
    assert any(not np.array_equal(x.x_adv, y.x_adv) for x, y in zip(a, c))
    seen = []
    with pytest.raises(Cancelled):
        run_attack(clf, ins, "apgd-ce", AttackParams(iterations=50), progress=lambda d, t: seen.append(d),
                   should_stop=lambda: len(seen) >= 3)
    assert len(seen) == 3
