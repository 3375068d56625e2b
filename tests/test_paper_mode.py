"""The paper-code mode on paper-cnn (engine.paper_mode, `--paper-code`): first-18000 crop, δ/θ on
the zero padding during the steps and zeroed there at the end, the true label in the loss; and
a paper-format `module.*` state dict giving identical logits through both loading paths."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
import torch
from torch import nn

from engine.attacks import registry as reg
from engine.attacks.base import Attack
from engine.attacks.params import AttackParams
from engine.attacks.runner import AttackInput, run_attack
from engine.errors import UserError
from engine.models import build
from engine.models.checkpoint import base_meta, load_checkpoint, save_checkpoint
from engine.models.classifier import Classifier, place
from engine.paper_mode import paper_fit, paper_place

SHORT_LEN = 1200  # a paper-cnn run on a short input: the network is convolutional, the tests stay fast


def _paper_clf(length: int = SHORT_LEN, seed: int = 0) -> Classifier:
    torch.manual_seed(seed)
    module = build("paper-cnn").eval()
    meta = base_meta("paper-cnn")
    meta["length"] = length
    return Classifier(module, meta)


def _signal(n: int, seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(n) * 0.3).astype(np.float32)


def _spy(monkeypatch) -> list[tuple[np.ndarray, np.ndarray]]:
    """Record (model input, labels) of every loss-gradient call of every attack."""
    calls: list[tuple[np.ndarray, np.ndarray]] = []
    orig = Attack.loss_grad

    def spy(self, x_adv, labels, wrt):
        calls.append((x_adv.detach().cpu().numpy().copy(), labels.cpu().numpy().copy()))
        return orig(self, x_adv, labels, wrt)

    monkeypatch.setattr(Attack, "loss_grad", spy)
    return calls


def test_paper_placement_crops_the_first_samples_and_centres_short_records():
    p = paper_place(20_000, 18_000)
    assert (p.src_start, p.dst_start, p.n) == (0, 0, 18_000)
    assert place(20_000, 18_000).src_start == 1000  # the workbench's default: the centre
    for n in (5000, 17_999, 18_000):  # shorter (or equal): centred zero padding, as by default
        assert paper_place(n, 18_000) == place(n, 18_000)
    x = np.arange(20_000, dtype=np.float32)
    out, _ = paper_fit(x, 18_000)
    assert out[0] == 0 and out[-1] == 17_999


def test_the_switch_is_declared_for_sap_and_pgd_and_off_by_default():
    assert AttackParams().paper_code is False
    for m in ("sap", "pgd"):
        assert "paper_code" in {p.attr for p in reg.spec(m).params}
        assert reg.header_params(m, AttackParams())["paper_code"] is False
    ap = argparse.ArgumentParser()
    reg.add_attack_args(ap)
    assert reg.params_from_args(ap.parse_args(["--paper-code"]), "sap").paper_code is True
    # results files written before the switch existed resume as the default (off)
    assert reg.params_differences("sap", {k: v for k, v in reg.header_params("sap", AttackParams()).items()
                                          if k != "paper_code"}, reg.header_params("sap", AttackParams())) == []


def test_refused_on_other_architectures_and_without_labels():
    torch.manual_seed(0)
    other = Classifier(build("default", channels=[4, 4], kernel=5).eval(), base_meta("default", {"channels": [4, 4],
                                                                                                 "kernel": 5}))
    inp = [AttackInput("r1", _signal(900, 0), 300.0, "N")]
    p = AttackParams(paper_code=True, steps=1, sap_steps=1)
    with pytest.raises(UserError, match="paper CNN only") as info:
        run_attack(other, inp, "sap", p)
    assert "\n" not in str(info.value)
    clf = _paper_clf()
    with pytest.raises(UserError, match="r2 has no label"):
        run_attack(clf, [AttackInput("r2", _signal(900, 1), 300.0, None)], "pgd", p)
    with pytest.raises(UserError, match="not a class"):
        run_attack(clf, [AttackInput("r3", _signal(900, 1), 300.0, "X")], "pgd", p)
    # the default mode attacks an unlabelled record, and the switch is ignored by attacks without it
    assert run_attack(clf, [AttackInput("r2", _signal(900, 1), 300.0, None)], "pgd",
                      AttackParams(steps=1))[0].true is None


@pytest.mark.parametrize("method", ["pgd", "sap"])
def test_paper_code_crop_padding_and_label(monkeypatch, method):
    clf = _paper_clf()
    long_x, short_x = _signal(SHORT_LEN + 300, 2), _signal(SHORT_LEN // 2, 3)
    pred = [clf.classify(x, 300.0)[0] for x in (long_x, short_x)]
    true = [next(c for c in clf.classes if c != p) for p in pred]  # labels the model does not predict
    inputs = [AttackInput("long", long_x, 300.0, true[0]), AttackInput("short", short_x, 300.0, true[1])]
    params = dict(steps=2, sap_steps=2 if method == "sap" else 0, eps_mv=0.05, alpha_mv=0.01)
    calls = _spy(monkeypatch)
    default = run_attack(clf, inputs, method, AttackParams(**params), batch_size=2)
    default_calls = list(calls)
    calls.clear()
    paper = run_attack(clf, inputs, method, AttackParams(paper_code=True, **params), batch_size=2)

    # crop: the first SHORT_LEN samples (default: the centre), and the perturbation only there
    assert default[0].placement.src_start == 150 and paper[0].placement.src_start == 0
    d = paper[0].delta
    assert np.abs(d[:SHORT_LEN]).max() > 0 and not d[SHORT_LEN:].any()
    d0 = default[0].delta
    assert not d0[:150].any() and not d0[150 + SHORT_LEN:].any() and np.abs(d0[150:150 + SHORT_LEN]).max() > 0

    # padding: during the steps the model sees δ/θ on the short record's zero padding in the paper
    # mode only; the returned perturbation is zero there in both
    pl = paper[1].placement
    pad = np.ones(SHORT_LEN, bool)
    pad[pl.dst_start:pl.dst_start + pl.n] = False
    assert pad.any()
    later = [x for x, _ in calls[1:]]
    assert any(np.abs(x[1][pad]).max() > 0 for x in later)
    assert all(not x[1][pad].any() for x, _ in default_calls)
    assert len(paper[1].delta) == len(short_x)  # the result covers the record only (padding dropped)

    # label: the loss refers to the true label (paper mode) or to the model's prediction (default)
    idx = [clf.classes.index(c) for c in true]
    assert all(list(lab) == idx for _, lab in calls)
    assert all(list(lab) == [clf.classes.index(c) for c in pred] for _, lab in default_calls)


def test_attack_zeroes_the_padding_only_at_the_end():
    from engine.attacks.pgd import PGD

    clf = _paper_clf()
    x0 = torch.zeros(1, SHORT_LEN)
    mask = torch.zeros(1, SHORT_LEN, dtype=torch.bool)
    mask[0, 300:900] = True
    x0[0, 300:900] = torch.from_numpy(_signal(600, 4))
    p = AttackParams(paper_code=True, steps=3, eps_mv=0.05, alpha_mv=0.01)
    att = PGD(clf, p)
    inner = att.perturb
    seen = {}

    def spy(x, m, labels):
        seen["mask"] = m.clone()
        seen["delta"] = inner(x, m, labels)
        return seen["delta"]

    att.perturb = spy
    delta = att(x0, mask, torch.tensor([1]))
    assert bool((seen["mask"] == 1).all())  # the steps ran without a mask
    assert torch.abs(seen["delta"][0, ~mask[0]]).max() > 0  # δ lived on the padding ...
    assert not delta[0, ~mask[0]].any() and torch.abs(delta[0, mask[0]]).max() > 0  # ... zeroed at the end


def _trained_like(m: nn.Module, seed: int) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for k, v in m.state_dict().items():
            if k.endswith("running_var"):  # BatchNorm statistics as after training (weights: default init)
                v.copy_(torch.rand(v.shape, generator=g) * 2 + 0.5)
            elif k.endswith("running_mean"):
                v.copy_(torch.randn(v.shape, generator=g) * 0.1)
    return m.eval()


def test_dataparallel_state_dict_gives_identical_logits_through_both_loading_paths(tmp_path):
    m = _trained_like(build("paper-cnn"), 3)
    sd = nn.DataParallel(m).state_dict()
    assert all(k.startswith("module.") for k in sd)
    torch.save(sd, tmp_path / "paper.pth")
    from_pth = load_checkpoint(tmp_path / "paper.pth")  # torch.load(weights_only=True)
    save_checkpoint(tmp_path / "paper.safetensors", from_pth.module, from_pth.meta)  # the conversion
    from_st = load_checkpoint(tmp_path / "paper.safetensors")
    assert from_st.meta["arch"] == "paper-cnn" and from_st.length == 18_000
    x = torch.from_numpy(np.stack([_signal(4000, 5), _signal(4000, 6)]))
    with torch.no_grad():
        a, b = from_pth.logits(x), from_st.logits(x)
        direct = m((x * 1000).unsqueeze(1))
    assert torch.equal(a, b)
    assert torch.allclose(a, direct, rtol=1e-4, atol=1e-4)  # the CPU twin computes the same network
    with torch.no_grad():  # the loaded weights decide the logits (another network's differ)
        other = _trained_like(build("paper-cnn"), 4)((x * 1000).unsqueeze(1))
    assert (other - a).abs().max() > 1e-3


def test_cli_refuses_paper_code_on_the_default_model(tmp_path):
    from conftest import SAMPLE_NAMES, SAMPLES, assert_user_error, run_cli

    from engine.models.checkpoint import BUILTIN

    if not BUILTIN["default"].is_file():
        pytest.skip("default weights not installed")
    proc = run_cli("attack", str(SAMPLES / SAMPLE_NAMES[0]), "--paper-code", "--steps", "1", "--sap-steps", "1",
                   "--out", str(tmp_path / "o"))
    assert_user_error(proc, "paper CNN only")
