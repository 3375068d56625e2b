"""Models: the paper CNN's exact shapes and size, the default model, the input convention, devices."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from engine.errors import UserError
from engine.models import ARCHS, INPUT_SPECS, build
from engine.models.checkpoint import base_meta
from engine.models.classifier import MAX_FS, MIN_FS, Classifier, fit_length, place
from engine.models.default_cnn import DefaultCNN
from engine.models.paper_cnn import PAPER_LAYERS, PaperCNN


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_paper_cnn_parameter_count():
    m = PaperCNN()
    assert round(n_params(m) / 1e6, 2) == 5.49
    convs = [c for c in m.modules() if isinstance(c, nn.Conv1d)]
    assert len(convs) == 13
    for conv, (cin, cout, k, d, p, _) in zip(convs, PAPER_LAYERS):
        assert (conv.in_channels, conv.out_channels, conv.kernel_size[0], conv.dilation[0], conv.padding[0]) \
            == (cin, cout, k, d, p)
    assert sum(isinstance(x, nn.BatchNorm1d) for x in m.modules()) == 13
    assert sum(isinstance(x, nn.Dropout) and x.p == 0.3 for x in m.modules()) == 13
    pools = [x for x in m.modules() if isinstance(x, nn.MaxPool1d)]
    assert [(p.kernel_size, p.stride, p.padding, p.dilation) for p in pools] == [(2, 2, 1, 2)] * 3
    assert (m.classifier.in_features, m.classifier.out_features) == (64, 4)


def test_paper_cnn_time_axis_shapes():
    torch.manual_seed(0)
    m = PaperCNN().eval()
    seen = []
    hooks = [mod.register_forward_hook(lambda mod, inp, out: seen.append((inp[0].shape[-1], tuple(out.shape))))
             for mod in m.modules() if isinstance(mod, nn.MaxPool1d)]
    last = []
    hooks.append(m.features.register_forward_hook(lambda mod, inp, out: last.append(tuple(out.shape))))
    with torch.no_grad():
        y = m(torch.randn(1, 1, 18000) * 100)
    for h in hooks:
        h.remove()
    assert [s[1][-1] for s in seen] == [9000, 4500, 2250]
    assert [s[1][1] for s in seen] == [320, 128, 128]
    assert last == [(1, 64, 2250)]
    assert y.shape == (1, 4) and torch.isfinite(y).all()


def test_default_model_output_shape_and_size():
    m = DefaultCNN().eval()
    with torch.no_grad():
        assert m(torch.randn(3, 1, 9000)).shape == (3, 4)
        assert m(torch.randn(1, 1, 4000)).shape == (1, 4)  # any length works (global pooling)
    assert n_params(m) < 500_000  # compact: far smaller than the paper's 5.49 M


def test_registry_and_unknown_arch():
    assert set(ARCHS) == {"default", "default-whole", "paper-cnn", "paper-narrow"}
    assert isinstance(build("default"), DefaultCNN) and isinstance(build("paper-cnn"), PaperCNN)
    with pytest.raises(UserError, match="unknown architecture"):
        build("resnet")
    assert INPUT_SPECS["paper-cnn"]["length"] == 18000 and INPUT_SPECS["paper-cnn"]["units_per_mv"] == 1000
    assert INPUT_SPECS["default"]["length"] == 9000 and INPUT_SPECS["default"]["fs"] == 300


def test_base_meta_fields():
    meta = base_meta("paper-cnn")
    for key in ("format", "arch", "arch_args", "classes", "fs", "units", "units_per_mv", "length",
                "length_convention", "training", "metrics"):
        assert key in meta
    assert meta["classes"] == ["N", "A", "O", "~"]


# ---------------------------------------------------------------- input convention

def test_place_centred_padding_and_cropping():
    p = place(6000, 9000)
    assert (p.src_start, p.dst_start, p.n) == (0, 1500, 6000)
    assert p.mask().sum() == 6000 and p.mask()[1500] and not p.mask()[1499] and not p.mask()[7500]
    p = place(12001, 9000)
    assert (p.src_start, p.dst_start, p.n) == (1500, 0, 9000)
    p = place(9000, 9000)
    assert (p.src_start, p.dst_start, p.n) == (0, 0, 9000)


def test_fit_length():
    x = np.arange(1, 6001, dtype=np.float32)
    y, p = fit_length(x, 9000)
    assert y.dtype == np.float32 and y.shape == (9000,)
    assert (y[:1500] == 0).all() and (y[7500:] == 0).all()
    np.testing.assert_array_equal(y[1500:7500], x)
    x = np.arange(20000, dtype=np.float32)
    y, p = fit_length(x, 18000)
    np.testing.assert_array_equal(y, x[1000:19000])


class _Spy(nn.Module):
    """Records the model input it is given; returns fixed logits."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))
        self.seen = None

    def forward(self, x):
        self.seen = x.detach().clone()
        return torch.tensor([[0.0, 2.0, 0.0, 0.0]]).repeat(x.shape[0], 1) + self.w


def _clf(arch="default"):
    meta = base_meta(arch)
    meta["name"] = "spy"
    return Classifier(_Spy(), meta)


def test_prepare_pads_crops_and_resamples():
    clf = _clf()
    x = np.sin(np.arange(3000) / 30).astype(np.float32)
    y, p = clf.prepare(x, 300.0)
    assert y.shape == (9000,) and (p.dst_start, p.n) == (3000, 3000)
    np.testing.assert_array_equal(y[3000:6000], x)
    # 150 Hz: resampled (doubled) then centred
    y, p = clf.prepare(x, 150.0)
    assert (p.dst_start, p.n) == (1500, 6000)
    assert np.abs(y[1500:7500]).max() > 0.9 and (y[:1500] == 0).all() and (y[7500:] == 0).all()
    # 360 Hz, 60 s: resampled to 18000 samples, centre-cropped to 9000
    z = np.random.default_rng(0).normal(size=21600).astype(np.float32)
    y, p = clf.prepare(z, 360.0)
    assert (p.src_start, p.n) == (4500, 9000)


@pytest.mark.parametrize("fs", [50.0, MIN_FS - 1, MAX_FS + 1, 20000.0])
def test_unusable_sampling_rate(fs):
    clf = _clf()
    with pytest.raises(UserError, match="cannot be used by model spy"):
        clf.prepare(np.zeros(int(fs * 10), np.float32), fs)


@pytest.mark.parametrize("fs", [MIN_FS, MAX_FS])
def test_sampling_rate_limits_are_usable(fs):
    y, _ = _clf().prepare(np.ones(int(fs * 3), np.float32), fs)
    assert y.shape == (9000,)


@pytest.mark.parametrize("arch,scale", [("default", 1.0), ("paper-cnn", 1000.0)])
def test_model_input_units(arch, scale):
    clf = _clf(arch)
    x = np.full((2, clf.length), 0.5, np.float32)
    probs = clf.predict_proba(x)
    assert probs.shape == (2, 4)
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-6)
    assert clf.module.seen.shape == (2, 1, clf.length)
    assert float(clf.module.seen[0, 0, 0]) == pytest.approx(0.5 * scale)


def test_classify_returns_class_and_probabilities():
    clf = _clf()
    pred, probs = clf.classify(np.sin(np.arange(6000) / 30).astype(np.float32), 300.0)
    assert pred == "A" and list(probs) == ["N", "A", "O", "~"]
    assert sum(probs.values()) == pytest.approx(1.0)


def test_predict_proba_restores_training_mode():
    m = DefaultCNN()
    clf = Classifier(m, base_meta("default"))
    m.train()
    p1 = clf.predict_proba(np.random.default_rng(0).normal(size=(3, 9000)).astype(np.float32), batch_size=2)
    assert m.training and p1.shape == (3, 4)
    p2 = clf.predict_proba(np.random.default_rng(0).normal(size=(3, 9000)).astype(np.float32))
    np.testing.assert_allclose(p1, p2, rtol=1e-5, atol=1e-6)  # eval mode both times: deterministic


def test_gradient_to_the_input():
    clf = Classifier(DefaultCNN().eval(), base_meta("default"))
    x = torch.randn(1, 9000, generator=torch.Generator().manual_seed(0)).requires_grad_()
    clf.logits(x)[0, 1].backward()
    assert x.grad is not None and x.grad.shape == (1, 9000) and x.grad.abs().sum() > 0


# ---------------------------------------------------------------- device and seeds

def test_device_choice():
    from engine.device import describe_device, pick_device

    assert pick_device("cpu").type == "cpu"
    assert pick_device(None).type in {"cpu", "cuda", "mps"}
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match="CUDA is not available"):
            pick_device("cuda")
        assert pick_device(None).type in {"cpu", "mps"}
    assert "CPU" in describe_device(torch.device("cpu"))
    import os

    n = os.cpu_count() or 1
    assert describe_device(torch.device("cpu"), threads=False) == f"CPU ({n} core{'s' if n != 1 else ''})"


def test_seeds_make_runs_repeatable():
    from engine.device import seed_everything

    seed_everything(7)
    a = (torch.randn(3), np.random.rand(3), DefaultCNN().classifier.weight.detach().clone())
    seed_everything(7)
    b = (torch.randn(3), np.random.rand(3), DefaultCNN().classifier.weight.detach().clone())
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and torch.equal(a[2], b[2])


# ---------------------------------------------------------------- what the model saw (issue 11 §4)

def _ecgish(n, fs, seed=0):
    t = np.arange(n) / fs
    return (np.sin(2 * np.pi * 1.2 * t) + np.random.default_rng(seed).normal(0, 0.05, n)).astype(np.float32)


def test_classify_detail_reports_the_window_of_a_long_record():
    clf = _clf()
    x = _ecgish(300 * 120, 300.0)  # 120 s, model input 30 s: the centre 45-75 s is classified
    d = clf.classify_detail(x, 300.0)
    assert d["window"] == [45.0, 75.0] and d["duration_s"] == 120.0 and d["cropped"] and not d["padded"]
    pred, probs = clf.classify(x, 300.0)
    assert d["pred"] == pred and d["probs"] == probs
    # at another rate: 120 s at 500 Hz, the window in seconds is the same
    d = clf.classify_detail(_ecgish(500 * 120, 500.0), 500.0)
    assert d["window"] == pytest.approx([45.0, 75.0]) and d["cropped"]
    # short record: all of it, padded
    d = clf.classify_detail(_ecgish(300 * 10, 300.0), 300.0)
    assert d["window"] == [0.0, 10.0] and not d["cropped"] and d["padded"]
    d = clf.classify_detail(_ecgish(9000, 300.0), 300.0)
    assert d["window"] == [0.0, 30.0] and not d["cropped"] and not d["padded"]


def test_classify_detail_flags_saturation():
    from engine.records import Lead

    clf = _clf()
    x = _ecgish(9000, 300.0)
    d = clf.classify_detail(x, 300.0)
    assert not d["saturated"] and d["saturated_fraction"] < 0.001
    clipped = np.clip(x, -0.6, 0.6)  # flat tops at both extremes
    d = clf.classify_detail(clipped, 300.0)
    assert d["saturated"] and d["saturated_fraction"] > 0.2
    # at the ADC limit of the lead (format 16 at 1000/mV: ±32.767 mV), even without flat runs
    lead = Lead(name="ECG", units="mV", gain=1000.0, baseline=0, fmt="16", adc_res=16)
    rail = x.copy()
    rail[::50] = 32.767
    d = clf.classify_detail(rail, 300.0, lead)
    assert d["saturated"] and d["saturated_fraction"] == pytest.approx(1 / 50, abs=1e-3)
    assert not clf.classify_detail(rail, 300.0, None)["saturated"]  # without the lead: spikes, not flat
    # saturation outside the classified window does not count
    long = _ecgish(300 * 120, 300.0)
    long[:300 * 40] = np.clip(long[:300 * 40], -0.5, 0.5)
    d = clf.classify_detail(long, 300.0)
    assert d["cropped"] and not d["saturated"]


def test_saturation_uses_the_adc_range_around_adc_zero():
    from engine.records import Lead, saturation

    # MIT-BIH style: format 212, 11-bit ADC centred on adc_zero 1024 (range 0..2047), gain 200/mV
    lead = Lead(name="MLII", units="mV", gain=200.0, baseline=1024, fmt="212", adc_res=11, adc_zero=1024)
    x = _ecgish(3600, 360.0)
    assert saturation(x, 360.0, lead) == 0.0
    x[100:110] = (2047 - 1024) / 200.0
    assert saturation(x, 360.0, lead) == pytest.approx(10 / 3600)


def test_paper_narrow_keeps_the_paper_layers_with_fewer_channels():
    """paper-narrow: the paper CNN's 13 convolutions with the same kernels, dilations, padding and
    pooling, 1/16 of the channels; width 1 is exactly the paper's network (same state-dict shapes)."""
    from torch import nn

    from engine.models.paper_cnn import PAPER_LAYERS, PaperNarrowCNN

    wide, narrow = PaperCNN(), build("paper-narrow")
    assert isinstance(narrow, PaperNarrowCNN)
    cw = [m for m in wide.modules() if isinstance(m, nn.Conv1d)]
    cn = [m for m in narrow.modules() if isinstance(m, nn.Conv1d)]
    assert len(cn) == len(cw) == len(PAPER_LAYERS) == 13
    for a, b in zip(cw, cn):
        assert (a.kernel_size, a.dilation, a.padding) == (b.kernel_size, b.dilation, b.padding)
        assert b.out_channels == max(4, round(a.out_channels / 16))
    pools = lambda m: [type(x) for x in m.features]  # noqa: E731
    assert pools(wide) == pools(narrow)
    assert {k: v.shape for k, v in PaperCNN(width=1.0).state_dict().items()} == \
        {k: v.shape for k, v in wide.state_dict().items()}
    x = torch.randn(2, 1, 18000)
    assert narrow.eval()(x).shape == (2, 4)
    assert sum(p.numel() for p in narrow.parameters()) < sum(p.numel() for p in wide.parameters()) / 30


def test_training_writes_the_architecture_default_arguments(tmp_path):
    """A paper-narrow checkpoint trained from scratch names its width, so it keeps its shape
    whatever the class's default becomes; loading it builds the same channels."""
    from engine.models import ARCHITECTURES
    from engine.models.checkpoint import load_checkpoint
    from engine.training import TrainConfig, train

    rng = np.random.default_rng(0)
    xs = [rng.standard_normal(3000).astype(np.float32) * 0.1 for _ in range(4)]
    out = str(tmp_path / "n.safetensors")
    train(xs, ["N", "A", "N", "O"], xs[:2], ["N", "A"], TrainConfig(arch="paper-narrow", epochs=1, batch_size=4),
          out, device=torch.device("cpu"))
    clf = load_checkpoint(out)
    assert clf.meta["arch_args"]["width"] == ARCHITECTURES["paper-narrow"].default_args["width"] == 0.0625
    assert [m.out_channels for m in clf.module.modules() if isinstance(m, nn.Conv1d)][0] == 20
