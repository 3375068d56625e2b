"""EOT-PGD through a smoothed classifier's noise (engine.attacks.eot): on a base model built with a
gradient trap that the noise averages away, it flips the SMOOTHED prediction where plain PGD does
not; its gradient is the exact gradient of −log mean softmax over the draws whatever the chunking;
ε and padding respected, deterministic under its seed; noise where the smoothed classifier puts
it; the `attack --method eot-pgd` command."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from engine.attacks import eot
from engine.attacks.params import AttackParams
from engine.attacks.registry import ATTACKS, spec
from engine.certify import SmoothParams, predict_input
from engine.models import ARCHITECTURES
from engine.models.checkpoint import base_meta
from engine.models.classifier import Classifier

from conftest import SAMPLES, assert_user_error, one_json, run_cli

D = 64          # model input samples
S0 = 0.06       # clean mean of the input (mV)
EPS = 0.1       # mV: moves the mean by at most ε
SIGMA = 0.1     # mV; noise sd on the mean σ/√D = 0.0125


class Trap(torch.nn.Module):
    """Two classes from s = mean of the input: margin m(s) = s + A·sin(ωs), logits k·(m, −m).

    ω puts S0 at the middle of a stretch where m decreases (cos(ωS0) = −1, Aω = 3): the base
    model's gradient at S0 points UP in s, into a local minimum of m (plain PGD is trapped there),
    while the smoothed classifier, whose noise on s (sd σ/√D, ωσ/√D ≈ 3.3) averages the sine away,
    is ≈ the sign of s: lowering s by ε flips it."""

    def __init__(self, k: float = 20.0) -> None:
        super().__init__()
        self.omega = 5 * math.pi / S0
        self.amp = 3.0 / self.omega
        self.k = k

    def forward(self, x: torch.Tensor, *lengths) -> torch.Tensor:
        s = x.mean(dim=(1, 2))
        m = s + self.amp * torch.sin(self.omega * s)
        return self.k * torch.stack([m, -m], 1)


def trap_classifier() -> Classifier:
    meta = base_meta("default")
    meta.update(classes=["N", "A"], length=D, units_per_mv=1.0, fs=300.0, name="trap")
    return Classifier(Trap().eval(), meta, use_twin=False)


def smoothed(clf: Classifier, x: np.ndarray) -> str | None:
    return predict_input(clf.logits, x, clf.classes, SmoothParams(sigma_mv=SIGMA, n=1000, batch_size=1000))[0]


def attack(clf, method: str, x0: torch.Tensor, mask: torch.Tensor | None = None, **kw) -> torch.Tensor:
    p = AttackParams(**{"eps_mv": EPS, "alpha_mv": 0.002, "steps": 80, "eot_sigma_mv": SIGMA, **kw})
    mask = torch.ones_like(x0, dtype=torch.bool) if mask is None else mask
    return spec(method).cls(clf, p)(x0, mask, torch.zeros(x0.shape[0], dtype=torch.long))


def test_eot_beats_plain_pgd_against_the_smoothed_prediction():
    clf = trap_classifier()
    x0 = torch.full((1, D), S0)
    assert smoothed(clf, x0[0].numpy()) == "N"
    d_pgd = attack(clf, "pgd", x0)
    d_eot = attack(clf, "eot-pgd", x0, eot_draws=16)
    # plain PGD climbs into the trap (s goes up); EOT goes down through the boundary of the smoothed model
    assert float((x0 + d_pgd).mean()) > S0
    assert smoothed(clf, (x0 + d_pgd)[0].numpy()) == "N"
    assert float((x0 + d_eot).mean()) == pytest.approx(S0 - EPS, abs=1e-6)
    assert smoothed(clf, (x0 + d_eot)[0].numpy()) == "A"


def test_eps_and_padding_respected_and_deterministic_under_the_seed():
    clf = trap_classifier()
    rng = np.random.default_rng(0)
    x0 = torch.as_tensor(rng.normal(S0, 0.05, (3, D)).astype(np.float32))
    mask = torch.ones_like(x0, dtype=torch.bool)
    mask[1, :10] = False
    mask[2, 50:] = False
    a = attack(clf, "eot-pgd", x0, mask, eot_draws=2, random_start=True, seed=5)
    b = attack(clf, "eot-pgd", x0, mask, eot_draws=2, random_start=True, seed=5)
    c = attack(clf, "eot-pgd", x0, mask, eot_draws=2, random_start=True, seed=6)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert float(a.abs().max()) <= EPS + 1e-7 and float(a.abs().max()) > 0.5 * EPS
    assert torch.all(a[~mask] == 0)


def _naive_grad(clf, x0, delta, noise, cls, sign):
    d = delta.clone().requires_grad_(True)
    ps = torch.stack([torch.softmax(clf.logits(x0 + d + n), 1).gather(1, cls[:, None])[:, 0] for n in noise])
    loss = (sign * torch.log(ps.mean(0))).sum()
    (g,) = torch.autograd.grad(loss, d)
    return g


@pytest.mark.parametrize("rows", [1, 3, 64])
def test_gradient_is_the_soft_smoothed_loss_whatever_the_chunking(rows):
    clf = trap_classifier()
    clf.module.k = 1.0  # soft enough that every draw contributes
    gen = torch.Generator().manual_seed(1)
    x0 = torch.randn((2, D), generator=gen) * 0.05 + S0
    delta = torch.randn((2, D), generator=gen) * 0.01
    noise = torch.randn((7, 2, D), generator=gen) * SIGMA
    mask = torch.ones_like(x0, dtype=torch.bool)
    labels = torch.tensor([0, 1])
    got = eot.eot_grad(clf, x0, delta, noise.split(rows), labels, torch.tensor([-1, -1]), mask)
    want = _naive_grad(clf, x0, delta, noise, labels, -1.0)
    assert torch.allclose(got, want, rtol=1e-4, atol=1e-7)
    # targeted: + log mean p_target
    got_t = eot.eot_grad(clf, x0, delta, noise.split(rows), labels, torch.tensor([1, -1]), mask)
    want_t = torch.stack([_naive_grad(clf, x0, delta, noise, torch.tensor([1, 1]), 1.0)[0],
                          want[1]])
    assert torch.allclose(got_t, want_t, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("whole", [False, True])
def test_noise_goes_where_the_smoothed_classifier_puts_it(monkeypatch, whole):
    """Fixed-input models: on the whole input (padding too, as engine.certify); whole-record
    models: only on each record's samples (the batch padding belongs to no record)."""
    arch = next(n for n, a in ARCHITECTURES.items() if (a.input.mode == "whole") == whole)
    clf = Classifier(torch.nn.Linear(1, 1), base_meta(arch), use_twin=False)
    seen = []

    def spy(clf, x0, delta, noise, labels, targets, mask):
        seen.append(torch.cat(list(noise)))
        return torch.zeros_like(x0)

    monkeypatch.setattr(eot, "eot_grad", spy)
    x0 = torch.zeros((2, 40))
    mask = torch.ones_like(x0, dtype=torch.bool)
    mask[1, 25:] = False
    p = AttackParams(eps_mv=0.01, steps=2, eot_sigma_mv=0.5, eot_draws=3)
    eot.EOTPGD(clf, p)(x0, mask, torch.zeros(2, dtype=torch.long))
    assert len(seen) == 2 and seen[0].shape == (3, 2, 40) and not torch.equal(seen[0], seen[1])
    pad = seen[0][:, 1, 25:]
    assert bool((pad == 0).all()) == whole
    assert abs(float(seen[0][:, 0].std()) - 0.5) < 0.1


def test_declared_once_and_offered_by_the_attack_command(tiny_model):
    s = ATTACKS["eot-pgd"]
    assert {p.flag for p in s.params} >= {"--sigma", "--draws", "--eps", "--alpha", "--steps", "--seed"}
    assert s.total_steps(AttackParams(steps=7)) == 7
    proc = run_cli("attack", SAMPLES / "A00001", "--model", tiny_model, "--method", "eot-pgd", "--sigma", "0.05",
                   "--draws", "2", "--steps", "2", "--eps", "0.02", "--alpha", "0.01", "--device", "cpu", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = one_json(proc.stdout)
    assert doc["method"] == "eot-pgd" and doc["params"]["eot_draws"] == 2 and doc["params"]["eot_sigma_mv"] == 0.05
    assert 0 < doc["results"][0]["linf_mv"] <= 0.02 + 1e-6
    assert_user_error(run_cli("attack", SAMPLES / "A00001", "--method", "eot-pgd", "--draws", "0"), "--draws")
    assert_user_error(run_cli("attack", SAMPLES / "A00001", "--method", "eot-pgd", "--sigma", "0"), "--sigma")


def test_with_vanishing_noise_it_is_plain_pgd():
    clf = trap_classifier()
    x0 = torch.as_tensor(np.random.default_rng(2).normal(S0, 0.02, (2, D)).astype(np.float32))
    d_pgd = attack(clf, "pgd", x0)
    d_eot = attack(clf, "eot-pgd", x0, eot_draws=1, eot_sigma_mv=1e-6)
    assert torch.allclose(d_pgd, d_eot, atol=1e-6)


def test_the_attack_does_not_depend_on_the_draws_per_forward_pass(monkeypatch):
    clf = trap_classifier()
    clf.module.k = 1.0
    x0 = torch.as_tensor(np.random.default_rng(3).normal(S0, 0.02, (2, D)).astype(np.float32))
    ref = attack(clf, "eot-pgd", x0, eot_draws=5, steps=6)
    monkeypatch.setattr(eot, "ROWS", 2)  # one draw of the two records per forward pass
    got = attack(clf, "eot-pgd", x0, eot_draws=5, steps=6)
    assert torch.equal(ref, got)
