"""Whole-record models (input_mode "whole", issue 13 §1): padding never changes a record's logits,
long records are windows with a declared aggregation, attacks and bands take records of different
lengths in one batch and perturb every real sample, the 30-s checkpoint is untouched, training."""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.attacks import AttackInput, AttackParams, run_attack
from engine.errors import UserError
from engine.models import ARCHITECTURES, build
from engine.models.checkpoint import base_meta, load_checkpoint, save_checkpoint
from engine.models.classifier import Classifier, pad_batch, window_starts
from engine.models.default_cnn import DefaultCNN
from engine.training import TrainConfig, batch_crops, evaluate_signals, length_batches, train

# the registry's whole-record entry (named once, in engine.models)
WHOLE = next(n for n, a in ARCHITECTURES.items() if a.input.mode == "whole")
FS = 300.0


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: one intra-op thread


def _module(seed: int = 0, **arch_args) -> DefaultCNN:
    """An untrained network with spread BatchNorm statistics and biases (as a trained one has),
    so padding that leaked through BatchNorm or the pooling would show in the logits."""
    torch.manual_seed(seed)
    m = build(WHOLE, **arch_args)
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm1d):
                mod.running_mean.normal_(0, 0.3)
                mod.running_var.uniform_(0.5, 2.0)
                mod.bias.normal_(0, 0.5)
        m.classifier.weight.mul_(20.0)
    return m.eval()


def _clf(seed: int = 0, twin: bool = True, **arch_args) -> Classifier:
    clf = Classifier(_module(seed, **arch_args), base_meta(WHOLE, arch_args))
    clf.use_twin = twin
    return clf


def _sig(n: int, seed: int) -> np.ndarray:
    t = np.arange(n) / FS
    rng = np.random.default_rng(seed)
    return (np.sin(2 * np.pi * 1.1 * t) ** 15 + rng.normal(0, 0.1, n)).astype(np.float32)


# ------------------------------------------------------------------ padding cannot change logits

@pytest.mark.parametrize("twin,depth", [(True, 1), (False, 1), (True, 2), (False, 2)])
def test_logits_alone_equal_logits_in_a_batch_with_longer_records(twin, depth):
    """depth 2: the stride-1 blocks of a deeper network (train --depth) are masked too."""
    clf = _clf(twin=twin, depth=depth)
    short, mid, full = _sig(2713, 1), _sig(9000, 2), _sig(18300, 3)  # 9.04 s, 30 s, 61 s
    with torch.no_grad():
        alone = [clf.logits(torch.from_numpy(x)[None])[0] for x in (short, mid, full)]
        xb = torch.from_numpy(pad_batch([short, mid, full]))
        mb = torch.from_numpy(pad_batch([np.ones(len(x), bool) for x in (short, mid, full)], False))
        batched = clf.logits(xb, mb)
        # padding filled with garbage instead of zeros: still masked out
        junk = xb.clone()
        junk[~mb] = 7.0
        batched_junk = clf.logits(junk, mb)
    for i, a in enumerate(alone):
        scale = 1e-4 * (1 + float(a.abs().max()))
        assert torch.allclose(batched[i], a, atol=scale), (i, (batched[i] - a).abs().max())
        assert torch.allclose(batched_junk[i], a, atol=scale)
    # the padded row really differs from what an unmasked pass over the padding gives
    with torch.no_grad():
        unmasked = clf.module(xb[:1].unsqueeze(1))[0]
    assert not torch.allclose(unmasked, alone[0], atol=1e-2)


@settings(max_examples=12, deadline=None)
@given(ns=st.lists(st.integers(1, 20000), min_size=2, max_size=3), seed=st.integers(0, 1000))
def test_fuzz_batched_logits_equal_alone(ns, seed):
    clf = _clf()
    xs = [_sig(n, seed + i) for i, n in enumerate(ns)]
    with torch.no_grad():
        alone = torch.cat([clf.logits(torch.from_numpy(x)[None]) for x in xs])
        batched = clf.logits(torch.from_numpy(pad_batch(xs)),
                             torch.from_numpy(pad_batch([np.ones(len(x), bool) for x in xs], False)))
    assert torch.allclose(batched, alone, atol=1e-4 * (1 + float(alone.abs().max())))


def test_an_empty_record_is_a_user_error():
    with pytest.raises(UserError, match="without samples"):
        _clf().classify(np.zeros(0, np.float32), FS)


def test_a_mask_that_is_not_left_aligned_is_refused():
    clf = _clf()
    m = torch.zeros(1, 9000, dtype=torch.bool)
    m[0, 1000:8000] = True  # a centred placement: not how whole records are batched
    with pytest.raises(ValueError, match="left-aligned"):
        clf.logits(torch.zeros(1, 9000), m)


def test_input_gradients_alone_equal_gradients_in_a_batch():
    clf = _clf()
    a, b = _sig(4000, 4), _sig(15000, 5)
    xa = torch.from_numpy(a)[None].requires_grad_(True)
    (ga,) = torch.autograd.grad(clf.logits(xa)[0, 1], xa)
    xb = torch.from_numpy(pad_batch([a, b])).requires_grad_(True)
    mb = torch.from_numpy(pad_batch([np.ones(len(a), bool), np.ones(len(b), bool)], False))
    (gb,) = torch.autograd.grad(clf.logits(xb, mb)[0, 1], xb)
    assert float((gb[0, :4000] - ga[0]).norm() / ga.norm()) < 1e-3
    assert float(gb[0, 4000:].abs().max()) == 0.0  # nothing flows to the padding


def test_twin_runs_the_masked_pass():
    clf = _clf()
    xs = [_sig(5000, 6), _sig(11000, 7)]
    xb = torch.from_numpy(pad_batch(xs))
    lengths = torch.tensor([5000, 11000])
    with torch.no_grad():
        ref = clf.module(xb.unsqueeze(1), lengths)
        twin = clf._cpu_twin()
        assert twin is not None
        out = twin(xb.unsqueeze(1).unsqueeze(2).contiguous(memory_format=torch.channels_last), lengths)
    assert torch.allclose(out, ref, atol=1e-4 * (1 + float(ref.abs().max())))


def test_batch_predictions_equal_one_by_one_and_bucketing_keeps_order():
    clf = _clf()
    rng = np.random.default_rng(0)
    sigs = [_sig(int(n), i) for i, n in enumerate(rng.integers(2700, 18300, 9))]
    batched = clf.predict_signals(sigs, batch_size=4)
    one = np.concatenate([clf.predict_signals([x]) for x in sigs])
    np.testing.assert_allclose(batched, one, atol=1e-5)
    np.testing.assert_allclose(evaluate_signals(clf, sigs), one, atol=1e-5)


# ------------------------------------------------------------------ long records: windows

def test_window_rule():
    L, W, H = 18300, 18000, 9000
    assert window_starts(18300, L, W, H) == [0] and window_starts(100, L, W, H) == [0]
    assert window_starts(45000, L, W, H) == [0, 9000, 18000, 27000]
    assert window_starts(18600, L, W, H) == [0, 600]  # 62 s: the second window ends at the end


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 2_000_000), w=st.integers(256, 30000), hop_frac=st.floats(0.05, 1.0))
def test_windows_cover_every_sample_and_stay_inside(n, w, hop_frac):
    hop = max(1, int(w * hop_frac))
    length = w + 300
    starts = window_starts(n, length, w, hop)
    if n <= length:
        assert starts == [0]
        return
    assert starts[0] == 0 and starts[-1] + w == n and all(0 <= s <= n - w for s in starts)
    assert all(b - a <= hop for a, b in zip(starts, starts[1:]))  # no gap between windows
    assert starts == sorted(set(starts))


def test_long_record_is_the_mean_of_its_windows_probabilities():
    clf = _clf()
    x = _sig(int(150 * FS), 8)  # 150 s: windows 0-60, 30-90, 60-120, 90-150 s
    wins = clf.windows(len(x))
    assert [(s / FS, e / FS) for s, e in wins] == [(0, 60), (30, 90), (60, 120), (90, 150)]
    per = clf.predict_signals([x[s:e] for s, e in wins])
    p = clf.predict_signals([x])[0]
    np.testing.assert_allclose(p, per.mean(0), atol=1e-5)
    # in a batch with a short record, the long one is still its windows' mean
    both = clf.predict_proba(pad_batch([x, x[:3000]]), mask=pad_batch([np.ones(len(x), bool),
                                                                       np.ones(3000, bool)], False))
    np.testing.assert_allclose(both[0], p, atol=1e-5)
    np.testing.assert_allclose(both[1], clf.predict_signals([x[:3000]])[0], atol=1e-5)
    d = clf.classify_detail(x, FS)
    assert d["input_mode"] == "whole" and d["window"] == [0.0, 150.0] and not d["cropped"]
    assert d["windows"] == [[0.0, 60.0], [30.0, 90.0], [60.0, 120.0], [90.0, 150.0]]
    assert d["aggregation"].startswith("mean_prob")
    assert d["probs"] == pytest.approx(dict(zip(clf.classes, map(float, p))), abs=1e-5)
    assert clf.classify(x, FS)[0] == d["pred"]


def test_classify_detail_of_whole_records():
    clf = _clf()
    d = clf.classify_detail(_sig(int(45 * FS), 9), FS)
    assert d["window"] == [0.0, 45.0] and "windows" not in d and not d["cropped"] and not d["padded"]
    assert not d["short"] and d["input_mode"] == "whole"
    # at another rate: resampled, the whole record still
    d = clf.classify_detail(np.interp(np.arange(45 * 500) / 500, np.arange(45 * 300) / 300,
                                      _sig(45 * 300, 9)).astype(np.float32), 500.0)
    assert d["window"] == pytest.approx([0.0, 45.0])
    assert clf.classify_detail(_sig(int(5 * FS), 9), FS)["short"]  # below 9 s: classified, flagged


def test_gradient_through_windows_is_chunked_and_reaches_every_sample(monkeypatch):
    from engine.models import classifier as cmod

    monkeypatch.setattr(cmod, "CHUNK_SAMPLES", 2 * 18000)  # 2 windows per pass: checkpointed chunks
    clf = _clf()
    x = torch.from_numpy(_sig(int(200 * FS), 10))[None].requires_grad_(True)
    (g,) = torch.autograd.grad(clf.logits(x)[0, 0], x)
    assert (g != 0).float().mean() > 0.99
    monkeypatch.setattr(cmod, "CHUNK_SAMPLES", 64 * 18000)
    x2 = x.detach().clone().requires_grad_(True)
    (g2,) = torch.autograd.grad(clf.logits(x2)[0, 0], x2)
    assert float((g - g2).norm() / g2.norm()) < 1e-4


# ------------------------------------------------------------------ attacks and bands

@functools.lru_cache(maxsize=None)
def _attacked():
    clf = _clf(seed=1)
    xs = [_sig(int(s * FS), 20 + i) for i, s in enumerate((9.5, 30.0, 61.0, 75.0))]
    params = AttackParams(eps_mv=0.05, alpha_mv=0.01, steps=4)
    res = run_attack(clf, [AttackInput(f"r{i}", x, FS) for i, x in enumerate(xs)], "pgd", params, batch_size=4)
    return clf, xs, params, res


def test_attack_perturbs_every_real_sample_of_records_of_different_lengths():
    clf, xs, params, res = _attacked()
    for x, r in zip(xs, res):
        assert len(r.x0) == len(r.x_adv) == len(x)
        assert (r.placement.src_start, r.placement.dst_start, r.placement.n) == (0, 0, len(x))
        assert np.abs(r.delta).max() <= params.eps_mv + 1e-6
        assert (r.delta != 0).mean() > 0.98, r.record  # every sample the model sees (sign steps)
        assert r.orig_pred == clf.classify(x, FS)[0]


def test_attack_alone_equals_attack_in_a_batch():
    clf, xs, params, res = _attacked()
    alone = run_attack(clf, [AttackInput("r0", xs[0], FS)], "pgd", params)[0]
    # sign steps: a gradient within float rounding of zero may flip a sample's step
    assert np.mean(np.abs(alone.x_adv - res[0].x_adv) > 1e-6) < 0.01
    assert alone.orig_probs == pytest.approx(res[0].orig_probs, abs=1e-5)


def test_attack_delta_is_zero_on_padding():
    from engine.attacks.pgd import PGD

    clf = _clf(seed=1)
    xs = [_sig(3000, 30), _sig(9000, 31)]
    xb = torch.from_numpy(pad_batch(xs))
    mb = torch.from_numpy(pad_batch([np.ones(len(x), bool) for x in xs], False))
    delta = PGD(clf, AttackParams(eps_mv=0.05, alpha_mv=0.01, steps=3))(xb, mb, torch.tensor([0, 1]))
    assert float(delta[0, 3000:].abs().max()) == 0.0 and (delta[0, :3000] != 0).float().mean() > 0.98
    assert (delta[1] != 0).float().mean() > 0.98


def test_band_on_a_whole_record_example():
    from engine.band import BandParams, expand_band

    clf = _clf(seed=2)
    x = _sig(int(12 * FS), 40)
    # move the decision boundary next to the record (an untrained network is hard to fool)
    with torch.no_grad():
        z = clf.logits(torch.from_numpy(x)[None])[0]
        top, second = z.topk(2).values
        clf.module.classifier.bias[int(z.argmax())] -= float(top - second) - 0.05
    params = AttackParams(eps_mv=0.5, alpha_mv=0.1, steps=6)
    r = run_attack(clf, [AttackInput("b", x, FS)], "pgd", params)[0]
    assert r.success
    b = expand_band(clf, r, params, BandParams(trials=8, batch_size=4, max_pairs=3, max_splices_per_pair=2))
    assert b.lo.shape == b.hi.shape == (len(x),) and b.members.shape[1] == len(x)
    assert np.all(b.lo <= r.x_adv + 1e-6) and np.all(r.x_adv <= b.hi + 1e-6)


# ------------------------------------------------------------------ checkpoints

def test_whole_checkpoint_round_trip_and_the_old_one_is_fixed(tmp_path):
    path = tmp_path / "w.safetensors"
    save_checkpoint(path, _module(), base_meta(WHOLE))
    clf = load_checkpoint(path)
    assert clf.whole and clf.meta["input_mode"] == "whole" and clf.length == 18300
    x = _sig(7000, 50)
    np.testing.assert_allclose(clf.predict_signals([x]), _clf().predict_signals([x]), atol=1e-6)
    # a checkpoint without input_mode (every one written before) is a fixed 30-s model
    meta = base_meta("default")
    assert "input_mode" not in meta
    save_checkpoint(tmp_path / "f.safetensors", _module(), meta)
    old = load_checkpoint(tmp_path / "f.safetensors")
    assert not old.whole
    xin, pl = old.prepare(_sig(int(60 * FS), 51), FS)
    assert xin.shape == (9000,) and pl.src_start == 4500
    d = old.classify_detail(_sig(int(60 * FS), 51), FS)
    assert d["window"] == [15.0, 45.0] and d["cropped"] and "input_mode" not in d and "windows" not in d
    # the fixed model ignores a mask: its results are those it always gave
    xb = torch.from_numpy(np.stack([xin, xin]))
    with torch.no_grad():
        assert torch.equal(old.logits(xb), old.logits(xb, torch.zeros(2, 9000, dtype=torch.bool)))


@pytest.mark.parametrize("change,msg", [
    ({"input_mode": "sliding"}, "input_mode"),
    ({"input_mode": ["whole"]}, "input_mode"),
    ({"window_length": 20000}, "window_length"),
    ({"window_length": 100}, "window_length"),
    ({"window_hop": 0}, "window_hop"),
    ({"window_hop": 18001}, "window_hop"),
    ({"window_hop": 1.5}, "window_hop"),
    ({"min_length": -1}, "min_length"),
    ({"aggregation": "max"}, "aggregation"),
    ({"aggregation": ["mean_prob"]}, "aggregation"),
])
def test_tampered_whole_metadata_refused(tmp_path, change, msg):
    path = tmp_path / "t.safetensors"
    save_checkpoint(path, _module(), {**base_meta(WHOLE), **change})
    with pytest.raises(UserError, match=msg) as info:
        load_checkpoint(path)
    assert "\n" not in str(info.value)


def test_whole_mode_refused_for_an_architecture_without_masks(tmp_path):
    from engine.models.paper_cnn import PaperCNN

    meta = {**base_meta("paper-cnn"), **{k: v for k, v in base_meta(WHOLE).items()
                                         if k in ("input_mode", "window_length", "window_hop", "min_length",
                                                  "aggregation")}}
    meta["length"] = 18300
    save_checkpoint(tmp_path / "p.safetensors", PaperCNN(), meta)
    with pytest.raises(UserError, match="cannot take whole records"):
        load_checkpoint(tmp_path / "p.safetensors")


# ------------------------------------------------------------------ training

def test_length_batches_cover_every_example_once_with_little_padding():
    rng = np.random.default_rng(0)
    lengths = rng.integers(2700, 18300, 1000)
    order = rng.permutation(1000)
    batches = length_batches(order, lengths, 16, np.random.default_rng(1))
    assert len(batches) == int(np.ceil(1000 / 16))
    assert sorted(np.concatenate(batches).tolist()) == list(range(1000))
    padded = sum(len(b) * lengths[b].max() for b in batches)
    assert padded < 1.1 * lengths.sum()  # unsorted batches would pad ~40 %


@settings(max_examples=80, deadline=None)
@given(ns=st.lists(st.integers(1, 40000), min_size=1, max_size=5), seed=st.integers(0, 2 ** 16))
def test_batch_crops_bounds(ns, seed):
    xs = [np.arange(n, dtype=np.float32) for n in ns]
    b = batch_crops(xs, 2700, 18300, np.random.default_rng(seed))
    n = min(min(ns), 18300)
    assert b.shape[0] == len(ns) and min(n, max(int(0.8 * n), 2700)) <= b.shape[1] <= n
    for row, x in zip(b, xs):  # one contiguous piece of each record, nothing padded
        assert row[0] >= 0 and np.all(np.diff(row) == 1) and row[-1] < len(x)


def test_training_a_whole_record_model(samples, tmp_path):
    from conftest import SAMPLE_NAMES

    from engine.datasets import open_dataset
    from engine.signals_cache import load_dataset_signals

    ds = open_dataset(samples)
    sigs = load_dataset_signals(ds, SAMPLE_NAMES, FS)
    ys = [ds.label(n) for n in SAMPLE_NAMES]
    out = tmp_path / "w.safetensors"
    reports = []
    best = train(sigs[:8], ys[:8], sigs[8:], ys[8:], TrainConfig(arch=WHOLE, epochs=2, batch_size=4, seed=0),
                 str(out), device=torch.device("cpu"), progress=reports.append)
    assert [r.epoch for r in reports] == [1, 2] and all(np.isfinite(r.train_loss) for r in reports)
    clf = load_checkpoint(out)
    assert clf.whole and "whole records" in clf.meta["training"]["examples"]
    # validation classified the whole records, as inference does
    probs = evaluate_signals(clf, sigs[8:])
    assert [clf.classes[i] for i in probs.argmax(1)] == [clf.classify(x, FS)[0] for x in sigs[8:]]
    assert json.dumps(best)
