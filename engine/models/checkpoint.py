"""Checkpoints: safetensors weights + JSON metadata; paper-code `.pth` state_dicts read safely.

Our format: one `.safetensors` file whose header metadata holds `ecgadv` = JSON (architecture and
its arguments, classes, input convention, training provenance, metrics). Nothing is unpickled:
`.pth`/`.pt` files are read with `torch.load(weights_only=True)` only.
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from pathlib import Path

import torch

from ..errors import UserError
from . import ARCHS, INPUT_SPECS, build
from .classifier import Classifier

FORMAT = "ecgadv-checkpoint/1"
MODELS_DIR = Path(__file__).resolve().parent.parent.parent / "resources" / "models"
BUILTIN = {"default": MODELS_DIR / "default.safetensors",
           "paper-cnn": MODELS_DIR / "paper-cnn.safetensors"}


def base_meta(arch: str, arch_args: dict | None = None) -> dict:
    """Metadata for a new model of `arch` (input convention from the registry)."""
    return {"format": FORMAT, "arch": arch, "arch_args": dict(arch_args or {}),
            "classes": ["N", "A", "O", "~"], **INPUT_SPECS[arch], "training": {}, "metrics": {}}


def save_checkpoint(path: str | os.PathLike, module: torch.nn.Module, meta: dict,
                    overwrite: bool = False) -> None:
    """Write weights + metadata atomically (temp file, then rename)."""
    from safetensors.torch import save_file

    path = str(path)
    if os.path.exists(path) and not overwrite:
        raise UserError(f"{path} already exists (use --overwrite to replace it)")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    tmp = path + ".tmp"
    save_file(state, tmp, metadata={"ecgadv": json.dumps(meta)})
    os.replace(tmp, path)


def _module_for(meta: dict) -> torch.nn.Module:
    arch = meta.get("arch")
    if arch not in ARCHS:
        raise UserError(f"checkpoint names unknown architecture {arch!r}")
    try:
        return build(arch, **meta.get("arch_args", {}))
    except TypeError as exc:
        raise UserError(f"checkpoint has invalid architecture arguments: {exc}") from None


def _assign(module: torch.nn.Module, state: dict, source: str) -> None:
    """Load `state` into `module`: by name, or else by order and shape (foreign key names)."""
    target = module.state_dict()
    state = OrderedDict((k[7:] if k.startswith("module.") else k, v) for k, v in state.items())
    if set(state) == set(target):
        pairs = [(k, state[k]) for k in target]
    else:
        src = [(k, v) for k, v in state.items() if not k.endswith("num_batches_tracked")]
        dst = [k for k in target if not k.endswith("num_batches_tracked")]
        if len(src) != len(dst) or any(tuple(v.shape) != tuple(target[k].shape)
                                       for (_, v), k in zip(src, dst)):
            raise UserError(f"{source}: weights do not match the {type(module).__name__} architecture")
        pairs = [(k, v) for k, (_, v) in zip(dst, src)]
    for k, v in pairs:
        if not isinstance(v, torch.Tensor) or tuple(v.shape) != tuple(target[k].shape):
            raise UserError(f"{source}: tensor {k} has the wrong shape")
        if v.is_floating_point() and not torch.isfinite(v).all():
            raise UserError(f"{source}: tensor {k} contains NaN or infinite values")
    module.load_state_dict(OrderedDict(pairs), strict=False)


def load_checkpoint(path: str | os.PathLike, arch: str | None = None) -> Classifier:
    """Load our `.safetensors` checkpoint, or a paper-code `.pth` state_dict (needs `arch`,
    default paper-cnn). Foreign, tampered or pickled-code files are refused with a UserError."""
    path = str(path)
    if not os.path.isfile(path):
        raise UserError(f"no such model file: {path}")
    with open(path, "rb") as fh:
        head = fh.read(8)
    if path.endswith(".safetensors") or (len(head) == 8 and int.from_bytes(head, "little") < 100_000_000
                                        and not head.startswith(b"PK") and head[:1] != b"\x80"):
        return _load_safetensors(path)
    return _load_torch(path, arch or "paper-cnn")


def _load_safetensors(path: str) -> Classifier:
    from safetensors import safe_open

    try:
        with safe_open(path, "pt") as fh:
            header = fh.metadata() or {}
            state = {k: fh.get_tensor(k) for k in fh.keys()}
    except Exception as exc:
        raise UserError(f"{path}: not a valid model checkpoint ({type(exc).__name__})") from None
    try:
        meta = json.loads(header["ecgadv"])
    except (KeyError, ValueError):
        raise UserError(f"{path}: safetensors file without ECG model metadata (not one of ours)") from None
    if meta.get("format") != FORMAT:
        raise UserError(f"{path}: unsupported checkpoint format {meta.get('format')!r}")
    for key in ("fs", "units_per_mv", "length", "classes"):
        if key not in meta:
            raise UserError(f"{path}: checkpoint metadata lacks {key!r}")
    module = _module_for(meta)
    _assign(module, state, path)
    module.eval()
    meta.setdefault("name", Path(path).stem)
    return Classifier(module, meta)


def _load_torch(path: str, arch: str) -> Classifier:
    import pickle

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise UserError(f"{path}: refused: the file contains Python objects other than weights "
                        "(possibly code); only plain state_dicts are accepted") from None
    except Exception as exc:
        raise UserError(f"{path}: not a readable model file ({type(exc).__name__})") from None
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise UserError(f"{path}: not a state_dict of tensors")
    meta = base_meta(arch)
    module = _module_for(meta)
    _assign(module, obj, path)
    module.eval()
    meta["name"] = Path(path).stem
    meta["training"] = {"source": f"imported from {os.path.basename(path)}"}
    return Classifier(module, meta)


def resolve_model(spec: str | None, device: str | torch.device | None = None) -> Classifier:
    """'default', 'paper-cnn' or a checkpoint path → Classifier on `device` (auto when None)."""
    from ..device import pick_device

    spec = spec or "default"
    if spec in BUILTIN:
        path = BUILTIN[spec]
        if not path.is_file():
            raise UserError(f"no trained weights for {spec!r} are installed ({path.name} missing in "
                            f"resources/models); train them with `python main.py train DATASET --arch {spec} "
                            f"--out {path.name}` or pass a checkpoint file with --model")
        clf = load_checkpoint(path)
        clf.meta["name"] = spec
    else:
        clf = load_checkpoint(spec)
    return clf.to(pick_device(device))
