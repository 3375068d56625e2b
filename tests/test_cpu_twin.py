"""The channels-last 2-D twin used for CPU inference and input gradients (engine.models.cpu_twin)."""

from __future__ import annotations

import torch
from torch import nn

from engine.models.checkpoint import base_meta
from engine.models.classifier import Classifier
from engine.models.cpu_twin import make_twin
from engine.models.default_cnn import DefaultCNN
from engine.models.paper_cnn import PaperCNN


def _pair(clf: Classifier, x: torch.Tensor):
    """(logits, input gradient) with and without the twin."""
    out = []
    for use in (True, False):
        clf.use_twin = use
        xx = x.clone().requires_grad_(True)
        logits = clf.logits(xx)
        (g,) = torch.autograd.grad(logits[:, 0].sum(), xx)
        out.append((logits.detach(), g))
    clf.use_twin = True
    return out


def test_twin_matches_the_module_outputs_and_input_gradients():
    torch.manual_seed(0)
    for module, length in ((DefaultCNN(), 9000), (PaperCNN(), 18000)):
        arch = "default" if isinstance(module, DefaultCNN) else "paper-cnn"
        clf = Classifier(module.eval(), base_meta(arch))
        x = torch.randn(2, length) * 0.3
        (lt, gt), (lm, gm) = _pair(clf, x)
        assert clf._cpu_twin() is not None, arch
        scale = float(lm.abs().max()) + 1e-6
        assert torch.allclose(lt, lm, atol=1e-4 * scale), (arch, (lt - lm).abs().max())
        rel = float((gt - gm).norm() / gm.norm())
        # default: float rounding only. paper-cnn: its max-pools see ties (ReLU zeros) and the
        # 1-D and 2-D kernels may route the gradient to different, equally valid, positions
        assert rel < (1e-3 if arch == "default" else 0.05), (arch, rel)


def test_twin_follows_weight_changes_and_is_not_used_in_training():
    torch.manual_seed(1)
    clf = Classifier(DefaultCNN().eval(), base_meta("default"))
    x = torch.randn(3, 9000) * 0.3
    with torch.no_grad():
        before = clf.logits(x)
        twin = clf._cpu_twin()
        clf.module.classifier.bias.add_(1.0)  # an in-place update, as an optimiser step does
        after = clf.logits(x)
    assert clf._cpu_twin() is not twin, "twin not rebuilt after a weight change"
    assert torch.allclose(after, before + 1.0, atol=1e-4)
    clf.module.train()
    assert clf._cpu_twin() is None  # training uses the module itself (batch statistics, dropout)
    clf.module.eval()
    clf.module.load_state_dict(DefaultCNN().state_dict())  # replaced weights: rebuilt again
    with torch.no_grad():
        clf.use_twin = False
        ref = clf.logits(x)
        clf.use_twin = True
        assert torch.allclose(clf.logits(x), ref, atol=1e-4 * (1 + float(ref.abs().max())))


def test_unsupported_modules_get_no_twin():
    class Other(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv1d(1, 4, 5, padding=2)
            self.rnn = nn.GRU(4, 4, batch_first=True)

        def forward(self, x):
            return self.conv(x).mean(-1)

    assert make_twin(Other(), 1000) is None


def test_twin_matches_the_module_on_whole_records_of_different_lengths():
    """Whole-record models: the twin runs the masked pass (records left-aligned, padding masked)."""
    from engine.models import ARCHITECTURES
    from engine.models.classifier import pad_batch

    whole = next(n for n, a in ARCHITECTURES.items() if a.input.mode == "whole")
    torch.manual_seed(2)
    clf = Classifier(DefaultCNN().eval(), base_meta(whole))
    xs = [torch.randn(4000) * 0.3, torch.randn(12000) * 0.3]
    x = torch.from_numpy(pad_batch([v.numpy() for v in xs]))
    mask = torch.from_numpy(pad_batch([torch.ones(len(v), dtype=torch.bool).numpy() for v in xs], False))
    out = []
    for use in (True, False):
        clf.use_twin = use
        xx = x.clone().requires_grad_(True)
        logits = clf.logits(xx, mask)
        (g,) = torch.autograd.grad(logits[:, 0].sum(), xx)
        out.append((logits.detach(), g))
    (lt, gt), (lm, gm) = out
    clf.use_twin = True
    assert clf._cpu_twin() is not None
    assert torch.allclose(lt, lm, atol=1e-4 * (float(lm.abs().max()) + 1e-6))
    assert float((gt - gm).norm() / gm.norm()) < 1e-3
    assert float(gt[0, 4000:].abs().max()) == 0.0  # no gradient to the padding


def test_twin_folds_batchnorm_into_the_convolutions_exactly():
    """Every BatchNorm after a convolution is merged into it; with non-trivial statistics and affine
    parameters (as after training) the twin still computes the module's logits."""
    torch.manual_seed(3)
    for module, length, arch in ((DefaultCNN(), 9000, "default"), (PaperCNN(), 6000, "paper-cnn")):
        for m in module.modules():
            if isinstance(m, nn.BatchNorm1d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.2, 3.0)
                m.weight.data.uniform_(0.5, 1.5)
                m.bias.data.uniform_(-0.3, 0.3)
        module.eval()
        twin = make_twin(module, length)
        assert twin is not None, arch
        assert not [m for m in twin.modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))], arch
        x = torch.randn(3, 1, length) * 0.3
        with torch.no_grad():
            ref = module(x)
            out = twin(x.unsqueeze(2).contiguous(memory_format=torch.channels_last))
        assert torch.allclose(out, ref, atol=1e-4 * (1 + float(ref.abs().max()))), (arch, (out - ref).abs().max())
