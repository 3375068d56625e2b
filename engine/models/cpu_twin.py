"""A channels-last 2-D twin of our 1-D CNNs, for faster CPU inference and input gradients.

PyTorch's CPU convolutions are markedly faster as 2-D convolutions over channels-last (NHWC)
tensors than as 1-D ones (oneDNN's preferred layout): measured on 2 cores, the default model's
forward pass per 30-s record 1.1 ms instead of 1.6 ms in batches, and a forward+backward to
the input about 1.35× faster. The twin is a copy of the network in which every Conv1d,
BatchNorm1d and MaxPool1d becomes its 2-D counterpart over a (B, C, 1, L) input; the weights are
the same numbers, so the outputs agree to float rounding (checked when the twin is built). Each
BatchNorm that directly follows a convolution is folded into it (eval mode: an affine map), which
saves ~20 % of a batched forward pass of the default model.

Only used in eval mode on CPU (training keeps the module itself) and only for the architectures
whose forward passes are written for either shape (declared with cpu_twin=True in
engine.models.ARCHITECTURES). The Classifier rebuilds
the twin whenever a parameter or buffer of the module changes (tensor version counters; a
submodule replaced by assignment is not noticed, which no code of ours does).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from . import twin_classes
from .modes import eval_mode

CL = torch.channels_last
# layers that work on (B, C, 1, L) as they do on (B, C, L)
_NEUTRAL = (nn.ReLU, nn.Dropout, nn.Identity, nn.Sequential, nn.Linear)


def to_2d_input(x: torch.Tensor) -> torch.Tensor:
    """(B, 1, L) → (B, 1, 1, L), channels-last."""
    return x.unsqueeze(2).contiguous(memory_format=CL)


def _convert(mod: nn.Module) -> bool:
    """Swap 1-D layers for 2-D ones in place; False if a layer of unknown kind is found."""
    for name, ch in list(mod.named_children()):
        if isinstance(ch, nn.Conv1d):
            if not isinstance(ch.padding, tuple):
                return False  # 'same' / 'valid' strings: not used by our models
            new = nn.Conv2d(ch.in_channels, ch.out_channels, (1, ch.kernel_size[0]), (1, ch.stride[0]),
                            (0, ch.padding[0]), (1, ch.dilation[0]), ch.groups, ch.bias is not None,
                            ch.padding_mode)
            new.weight = nn.Parameter(ch.weight.detach().unsqueeze(2).clone(), requires_grad=False)
            if ch.bias is not None:
                new.bias = nn.Parameter(ch.bias.detach().clone(), requires_grad=False)
        elif isinstance(ch, nn.BatchNorm1d):
            new = nn.BatchNorm2d(ch.num_features, ch.eps, ch.momentum, ch.affine, ch.track_running_stats)
            new.load_state_dict(ch.state_dict())
        elif isinstance(ch, nn.MaxPool1d):
            k, s, p, d = (v if isinstance(v, int) else v[0] for v in (ch.kernel_size, ch.stride, ch.padding,
                                                                       ch.dilation))
            new = nn.MaxPool2d((1, k), (1, s), (0, p), (1, d), ceil_mode=ch.ceil_mode)
        elif isinstance(ch, _NEUTRAL) or type(ch).__module__.startswith("engine.models"):
            if not _convert(ch):
                return False
            continue
        else:
            return False
        setattr(mod, name, new)
    return True


def _fold(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> None:
    """Fold an eval-mode BatchNorm that directly follows `conv` into the convolution's weights and
    bias (w·γ/√(σ²+ε), β − μ·γ/√(σ²+ε) + b·γ/√(σ²+ε)): the same function, one pass less over the data."""
    scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps) if bn.affine else \
        1.0 / torch.sqrt(bn.running_var + bn.eps)
    shift = (bn.bias.detach() if bn.affine else 0.0) - bn.running_mean * scale
    b = conv.bias.detach() if conv.bias is not None else torch.zeros_like(scale)
    conv.weight = nn.Parameter(conv.weight.detach() * scale[:, None, None, None], requires_grad=False)
    conv.bias = nn.Parameter(b * scale + shift, requires_grad=False)


def _fold_batchnorm(mod: nn.Module) -> int:
    """Fold every BatchNorm2d that directly follows a Conv2d (inside a Sequential, or as a pair the
    module declares in `bn_after_conv`) into it, replacing the BatchNorm by Identity. Returns the count."""
    n = 0
    pairs = list(getattr(mod, "bn_after_conv", ()))
    if isinstance(mod, nn.Sequential):
        names = [name for name, _ in mod.named_children()]
        pairs += list(zip(names, names[1:]))
    for conv_name, bn_name in pairs:
        conv, bn = getattr(mod, conv_name, None), getattr(mod, bn_name, None)
        if (isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d) and bn.track_running_stats
                and bn.running_var is not None and bn.num_features == conv.out_channels):
            _fold(conv, bn)
            setattr(mod, bn_name, nn.Identity())
            n += 1
    for ch in mod.children():
        n += _fold_batchnorm(ch)
    return n


def make_twin(module: nn.Module, length: int) -> nn.Module | None:
    """The channels-last 2-D twin of `module` (eval mode, no parameter gradients), or None when
    the architecture is not supported or the twin does not reproduce the module's outputs."""
    if not isinstance(module, twin_classes()):
        return None
    twin = copy.deepcopy(module).cpu()
    if not _convert(twin):
        return None
    twin.eval()
    _fold_batchnorm(twin)  # eval mode: each BatchNorm is an affine map, merged into its convolution
    for p in twin.parameters():
        p.requires_grad_(False)
    twin = twin.to(memory_format=CL)
    # check on a short random input that the twin computes the same function (both networks
    # are fully convolutional up to a global pooling, so any length will do)
    g = torch.Generator().manual_seed(0)
    x = torch.randn((1, 1, min(length, 3000)), generator=g) * 500.0
    with eval_mode(module), torch.no_grad():
        ref = module(x.to(next(module.parameters()).device)).cpu()
        out = twin(to_2d_input(x))
    if out.shape != ref.shape or not torch.allclose(out, ref, rtol=1e-3, atol=1e-3 * (1 + float(ref.abs().max()))):
        return None
    return twin


def state_key(tensors: list[torch.Tensor]) -> tuple:
    """Changes whenever one of the tensors (a module's parameters and buffers) is modified in
    place (version counter) or given new storage."""
    return tuple((t.data_ptr(), t._version) for t in tensors)
