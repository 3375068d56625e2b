"""Adversarial training (engine.adv_training, `train --adversarial`): the examples stay in the ε
ball and raise the loss; SAP's are smooth; a tiny training run records its settings."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import SAMPLES, assert_user_error, run_cli

from engine.adv_training import adversarial_inputs, check, step_size
from engine.errors import UserError


@pytest.fixture(scope="module")
def clf_and_batch(tiny_model):
    from engine.models.checkpoint import load_checkpoint
    from engine.records import read_record

    clf = load_checkpoint(tiny_model)
    xs = []
    for name in ("A00001", "A00009", "A00013"):
        x, _ = read_record(str(SAMPLES / f"{name}.hea")).lead_mv()
        xs.append(clf.fit(x)[0])
    x = torch.as_tensor(np.stack(xs))
    with torch.no_grad():
        y = clf.logits(x).argmax(1)
    return clf, x, y


@pytest.mark.parametrize("method,steps", [("pgd", 1), ("pgd", 4), ("sap", 3), ("apgd-ce", 4)])
def test_examples_stay_in_the_ball_and_raise_the_loss(clf_and_batch, method, steps):
    clf, x, y = clf_and_batch
    torch.manual_seed(0)
    eps = 0.05
    adv = adversarial_inputs(clf, x, y, method, eps, steps)
    d = adv - x
    assert float(d.abs().max()) <= eps + 1e-6 and float(d.abs().max()) > 0.2 * eps
    with torch.no_grad():
        clean, worse = F.cross_entropy(clf.logits(x), y), F.cross_entropy(clf.logits(adv), y)
    assert float(worse) > float(clean)
    if method == "sap":  # smooth: neighbouring samples differ far less than a sign pattern would
        assert float((d[:, 1:] - d[:, :-1]).abs().mean()) < 0.2 * eps


def test_mode_and_weights_untouched(clf_and_batch):
    clf, x, y = clf_and_batch
    clf.module.train()
    before = {k: v.clone() for k, v in clf.module.state_dict().items()}
    adversarial_inputs(clf, x, y, "pgd", 0.02, 2)
    assert clf.module.training and all(p.requires_grad for p in clf.module.parameters())
    assert all(torch.equal(before[k], v) for k, v in clf.module.state_dict().items())
    clf.module.eval()


def test_settings_checked():
    assert step_size(0.01, 1) == pytest.approx(0.0125) and step_size(0.01, 10) == pytest.approx(0.0025)
    for bad in (("fgsm", 0.01, 1), ("pgd", 0.0, 1), ("pgd", float("nan"), 1), ("pgd", 0.01, 0)):
        with pytest.raises(UserError):
            check(*bad)


def _tiny_run(samples, cfg, out) -> None:
    """One epoch of `cfg` on 4 bundled sample records (validation on 2), one thread, into `out`."""
    from engine.datasets import open_dataset
    from engine.signals_cache import load_dataset_signals
    from engine.training import train

    ds = open_dataset(samples)
    names = sorted(ds.names)[:6]
    sigs = load_dataset_signals(ds, names, 300.0)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(sigs[:4], [ds.label(n) for n in names[:4]], sigs[4:], [ds.label(n) for n in names[4:]], cfg,
              str(out), device=torch.device("cpu"))
    finally:
        torch.set_num_threads(before)


def test_tiny_adversarial_training_run_records_its_settings(samples, tmp_path):
    from engine.models.checkpoint import load_checkpoint
    from engine.training import TrainConfig

    _tiny_run(samples, TrainConfig(epochs=1, batch_size=8, seed=0, adversarial="sap", adv_eps_mv=0.01,
                                   adv_steps=1), tmp_path / "adv.safetensors")
    meta = load_checkpoint(tmp_path / "adv.safetensors").meta
    assert meta["training"]["adversarial"] == {"method": "sap", "eps_mv": 0.01, "steps": 1}


def test_cli_options(tmp_path):
    out = str(tmp_path / "m.safetensors")
    assert_user_error(run_cli("train", str(SAMPLES), "--out", out, "--adversarial", "fgsm"), "--adversarial")
    assert_user_error(run_cli("train", str(SAMPLES), "--out", out, "--adversarial", "pgd", "--eps", "0"), "--eps")
    assert_user_error(run_cli("train", str(SAMPLES), "--out", out, "--adversarial", "pgd", "--steps", "0"), "--steps")
    from engine.cli import build_parser
    from engine.cli.core import train_request

    args = build_parser().parse_args(["train", "d", "--out", "m.safetensors", "--adversarial", "pgd", "--eps", "0.02",
                                      "--steps", "7"])
    assert train_request(args).command.split()[-6:] == ["--adversarial", "pgd", "--eps", "0.02", "--steps", "7"]


def test_adv_share_mixes_clean_and_adversarial_examples(samples, tmp_path, monkeypatch):
    """--adv-share 0.5: half of each batch is crafted, the other half reaches the loss untouched."""
    import engine.adv_training as adv
    from engine.adv_training import adversarial_count
    from engine.models.checkpoint import load_checkpoint
    from engine.training import TrainConfig

    assert [adversarial_count(64, s) for s in (1.0, 0.5, 0.25, 0.001)] == [64, 32, 16, 1]
    for bad in (0.0, -0.5, 1.5, float("nan")):
        with pytest.raises(UserError):
            check("pgd", 0.01, 1, bad)
    seen = []
    real = adv.adversarial_inputs

    def spy(clf, x, y, *a):
        seen.append(len(x))
        return real(clf, x, y, *a)

    monkeypatch.setattr(adv, "adversarial_inputs", spy)
    _tiny_run(samples, TrainConfig(epochs=1, batch_size=8, seed=0, adversarial="pgd", adv_eps_mv=0.01,
                                   adv_steps=1, adv_share=0.5), tmp_path / "mix.safetensors")
    assert seen, seen
    assert all(n == adversarial_count(8, 0.5) for n in seen[:-1]) and 0 < seen[-1] <= 4, seen
    meta = load_checkpoint(tmp_path / "mix.safetensors").meta
    assert meta["training"]["adversarial"] == {"method": "pgd", "eps_mv": 0.01, "steps": 1, "share": 0.5}


def test_adv_share_option(tmp_path):
    from engine.cli import build_parser
    from engine.cli.core import train_request

    out = str(tmp_path / "m.safetensors")
    for bad in ("0", "1.5", "nan"):
        assert_user_error(run_cli("train", str(SAMPLES), "--out", out, "--adversarial", "pgd", "--adv-share", bad),
                          "--adv-share")
    args = build_parser().parse_args(["train", "d", "--out", "m.safetensors", "--adversarial", "pgd",
                                      "--adv-share", "0.5"])
    assert train_request(args).command.split()[-2:] == ["--adv-share", "0.5"]
