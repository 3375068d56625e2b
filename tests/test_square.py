"""Square attack: black-box (never a gradient), any scorer callable (numpy or torch), query budget and
queries reported per record, window schedule, smooth variant, targeted, ε and padding."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attack_support import grid_ok, load_model, sample_inputs
from engine.attacks import AttackParams, run_attack
from engine.attacks.square import square_attack, window_share


def test_window_schedule_is_the_papers_rescaled_to_the_budget():
    assert window_share(0.2, 0, 10000) == 0.2
    assert window_share(0.2, 11, 10000) == 0.1       # past 10 of 10000
    assert window_share(0.2, 51, 10000) == 0.05
    assert window_share(0.2, 9999, 10000) == pytest.approx(0.2 / 512)
    assert window_share(0.2, 100, 1000) == window_share(0.2, 1000, 10000)  # rescaled


def _linear_scorer(w: np.ndarray):
    calls = []

    def score(x):
        assert isinstance(x, np.ndarray) and x.dtype == np.float32
        calls.append(len(x))
        z = x.astype(np.float64) @ w
        z -= z.max(1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(1, keepdims=True)
    return score, calls


def test_any_numpy_scorer_budget_mask_and_eps():
    rng = np.random.default_rng(0)
    n, c = 400, 4
    w = rng.normal(size=(n, c)) * 0.05
    x0 = rng.normal(size=(6, n)).astype(np.float32)
    mask = np.ones((6, n), bool)
    mask[:, 300:] = False  # padding: never perturbed
    score, calls = _linear_scorer(w)
    out = square_attack(score, x0, 0.1, queries=200, seed=1, mask=mask)
    assert isinstance(out.x_adv, np.ndarray) and out.x_adv.shape == x0.shape
    assert np.abs(out.delta).max() <= 0.1 + 1e-6 and np.all(out.delta[:, 300:] == 0)
    assert np.all((out.queries >= 2) & (out.queries <= 201))  # + the label query
    assert sum(calls) == out.queries.sum()  # every scored row is counted, no more
    pred0, pred1 = score(x0).argmax(1), score(out.x_adv).argmax(1)
    assert np.array_equal(out.fooled, pred1 != pred0) and out.fooled.any() and not out.fooled.all()
    assert np.all(out.queries[~out.fooled] == 201) and np.all(out.queries[out.fooled] < 201)
    # seeded: the same call gives the same result
    again = square_attack(_linear_scorer(w)[0], x0, 0.1, queries=200, seed=1, mask=mask)
    assert np.array_equal(again.x_adv, out.x_adv)
    # targeted toward class 2, labels given: success means the scorer says 2
    tg = square_attack(score, x0, 0.5, pred0, queries=200, target=2, mask=mask)
    assert tg.fooled.any() and tg.queries.max() <= 200
    assert np.array_equal(tg.fooled, score(tg.x_adv).argmax(1) == 2)


def test_the_registered_attack_never_asks_for_a_gradient(monkeypatch):
    """With autograd disabled for good (any gradient call raises), Square still runs and fools some of
    the bundled records at ε 0.05 mV within its budget; queries are reported per record."""
    def no_grad(*a, **k):
        raise AssertionError("Square asked for a gradient")

    monkeypatch.setattr(torch.autograd, "grad", no_grad)
    monkeypatch.setattr(torch.Tensor, "backward", no_grad)
    clf = load_model()
    budget = 300
    res = run_attack(clf, sample_inputs(), "square", AttackParams(eps_mv=0.05, queries=budget), batch_size=12)
    fooled = [r for r in res if r.success]
    assert len(fooled) >= 3, [r.success for r in res]
    for r in res:
        q = r.extras["queries"]
        assert r.to_json()["queries"] == q and 1 <= q <= budget
        if not r.success:
            assert q == budget
        d = r.x_adv.astype(np.float64) - r.x0.astype(np.float64)
        assert np.abs(d).max() <= 0.05 + 1e-6 and grid_ok(r.x_adv)
    assert all(r.extras["queries"] < budget for r in fooled)


def test_a_torch_scorer_under_no_grad_and_the_smooth_variant():
    clf = load_model()
    ins = sample_inputs(["A00001", "A00013", "A00020"])
    xs = [clf.fit(clf.to_model_rate(i.x_mv, i.fs))[0] for i in ins]
    x0 = torch.from_numpy(np.stack(xs))

    def score(x):
        assert isinstance(x, torch.Tensor) and not torch.is_grad_enabled() and not x.requires_grad
        return torch.softmax(clf.logits(x), 1)

    plain = square_attack(score, x0, 0.05, queries=60, seed=0)
    smooth = square_attack(score, x0, 0.05, queries=60, seed=0, smooth_perturbation=True)
    for o in (plain, smooth):
        assert isinstance(o.delta, torch.Tensor) and o.delta.abs().max() <= 0.05 + 1e-6
    rough = lambda d: torch.diff(d, dim=1).var(1).mean().item()  # noqa: E731
    assert rough(smooth.delta) < rough(plain.delta) / 5


def test_cancel_and_progress():
    from engine.errors import Cancelled

    clf = load_model()
    seen = []
    with pytest.raises(Cancelled):
        run_attack(clf, sample_inputs(["A00001"]), "square", AttackParams(eps_mv=0.001, queries=100),
                   progress=lambda d, t: seen.append((d, t)), should_stop=lambda: len(seen) >= 4)
    assert seen[-1] == (4, 100)
    steps = []
    run_attack(clf, sample_inputs(["A00013"]), "square", AttackParams(eps_mv=0.5, queries=50),
               progress=lambda d, t: steps.append((d, t)))
    assert steps[-1] == (50, 50)
