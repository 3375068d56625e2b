"""Checkpoints: safetensors weights + JSON metadata; paper-code `.pth` state_dicts read safely.

Our format: one `.safetensors` file whose header metadata holds `ecgadv` = JSON (architecture and
its arguments, classes, input convention, training provenance, metrics). Nothing is unpickled:
`.pth`/`.pt` files are read with `torch.load(weights_only=True)` only.
"""

from __future__ import annotations

import json
import math
import os
from collections import OrderedDict
from pathlib import Path

import torch

from ..errors import UserError
from ..outputs import atomic_write
from ..datasets import CLASSES
from . import AGGREGATIONS, ARCHITECTURES, ARCHS, BUNDLED, DEFAULT_MODEL, INPUT_MODES, INPUT_SPECS, MAX_CLASSES, build
from .classifier import Classifier

FORMAT = "ecgadv-checkpoint/1"
MODELS_DIR = Path(__file__).resolve().parent.parent.parent / "resources" / "models"
BUILTIN = {name: MODELS_DIR / m.weights for name, m in BUNDLED.items()}  # bundled weights (engine.models.BUNDLED)


def installed_bundled() -> list[str]:
    """The names of the bundled models whose weights are installed (BUNDLED order)."""
    return [name for name, path in BUILTIN.items() if path.is_file()]


def base_meta(arch: str, arch_args: dict | None = None) -> dict:
    """Metadata for a new model of `arch` (input convention from the registry)."""
    return {"format": FORMAT, "arch": arch, "arch_args": dict(arch_args or {}),
            "classes": list(CLASSES), **INPUT_SPECS[arch], "training": {}, "metrics": {}}


def save_checkpoint(path: str | os.PathLike, module: torch.nn.Module, meta: dict,
                    overwrite: bool = False) -> None:
    """Write weights + metadata atomically (engine.outputs.atomic_write: a unique temporary file
    beside `path`, then a rename; the file gets a plain file's mode, not safetensors' 0600)."""
    from safetensors.torch import save_file

    path = str(path)
    if os.path.exists(path) and not overwrite:
        raise UserError(f"{path} already exists (use --overwrite to replace it)")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    with atomic_write(path, overwrite=overwrite) as tmp:
        save_file(state, tmp, metadata={"ecgadv": json.dumps(meta)})


# Checkpoint metadata accepted (a tampered or hand-edited file gets a one-line UserError).
FS_RANGE = (100.0, 10_000.0)            # Hz, the rates engine.models.classifier can resample from/to
LENGTH_RANGE = (256, 1_000_000)         # model input samples
UNITS_PER_MV_RANGE = (1e-6, 1e6)
# per architecture: argument -> (kind, lo, hi); kinds: int, float, ints (a list of ints); declared
# with the architecture in engine.models.ARCHITECTURES
ARCH_ARG_SPECS = {name: a.arg_limits for name, a in ARCHITECTURES.items()}
MAX_CHANNEL_LIST = 16
MAX_PARAMETERS = 200_000_000            # network size a checkpoint may ask for (the paper CNN: 5.5 M)


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_arch_args(arch: str, args, where: str) -> dict:
    if not isinstance(args, dict):
        raise UserError(f"{where}: checkpoint has invalid architecture arguments (not an object)")
    spec = ARCH_ARG_SPECS.get(arch, {})
    for key, v in args.items():
        if key not in spec:
            raise UserError(f"{where}: checkpoint has invalid architecture arguments: unknown argument "
                            f"{str(key)[:30]!r} for {arch} (known: {', '.join(spec)})")
        kind, lo, hi = spec[key]
        if kind == "ints":
            ok = (isinstance(v, list) and 1 <= len(v) <= MAX_CHANNEL_LIST
                  and all(isinstance(c, int) and not isinstance(c, bool) and lo <= c <= hi for c in v))
            rng = f"a list of 1 to {MAX_CHANNEL_LIST} whole numbers {lo} to {hi}"
        elif kind == "int":
            ok = isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi
            rng = f"a whole number {lo} to {hi}"
        else:
            ok = _is_num(v) and math.isfinite(v) and lo <= v <= hi
            rng = f"a number {lo:g} to {hi:g}"
        if not ok:
            raise UserError(f"{where}: checkpoint has invalid architecture arguments: {key} = "
                            f"{json.dumps(v)[:40]} (expected {rng})")
    return args


def _whole(v, lo: int, hi: int) -> bool:
    return _is_num(v) and math.isfinite(v) and float(v).is_integer() and lo <= v <= hi


def _check_input_mode(meta: dict, where: str) -> None:
    """The input convention: absent or "fixed" (centred to `length`), or "whole" with its window
    rule (engine.models.InputSpec); normalised in place."""
    mode = meta.get("input_mode", "fixed")
    if mode not in INPUT_MODES:
        raise UserError(f"{where}: checkpoint input_mode = {json.dumps(mode)[:30]} is not usable "
                        f"(accepted: {', '.join(INPUT_MODES)})")
    if mode == "fixed":
        return
    if not getattr(ARCHS[meta["arch"]], "accepts_lengths", False):
        raise UserError(f"{where}: architecture {meta['arch']} cannot take whole records (input_mode whole)")
    n = meta["length"]
    for key, lo, hi, what in (("window_length", LENGTH_RANGE[0], n, "the input length"),
                              ("window_hop", 1, None, "the window length"),
                              ("min_length", 0, n, "the input length")):
        hi = meta["window_length"] if hi is None else hi
        v = meta.get(key)
        if not _whole(v, lo, hi):
            raise UserError(f"{where}: checkpoint {key} = {json.dumps(v)[:30]} is not usable "
                            f"(accepted: a whole number of samples, {lo} to {what})")
        meta[key] = int(v)
    agg = meta.get("aggregation")
    if not (isinstance(agg, str) and agg in AGGREGATIONS):
        raise UserError(f"{where}: checkpoint aggregation = {json.dumps(agg)[:30]} is not usable "
                        f"(accepted: {', '.join(AGGREGATIONS)})")


def check_meta(meta, where: str) -> dict:
    """Validate checkpoint metadata (a JSON object) → normalised copy; UserError (one line) naming
    the field and its accepted range otherwise."""
    if not isinstance(meta, dict):
        raise UserError(f"{where}: checkpoint metadata is not a JSON object")
    if meta.get("format") != FORMAT:
        raise UserError(f"{where}: unsupported checkpoint format {str(meta.get('format'))[:40]!r}")
    for key in ("fs", "units_per_mv", "length", "classes"):
        if key not in meta:
            raise UserError(f"{where}: checkpoint metadata lacks {key!r}")
    arch = meta.get("arch")
    if not isinstance(arch, str) or arch not in ARCHS:
        raise UserError(f"{where}: checkpoint names unknown architecture {str(arch)[:40]!r} "
                        f"(known: {', '.join(ARCHS)})")
    meta = dict(meta)
    meta["arch_args"] = _check_arch_args(arch, meta.get("arch_args") or {}, where)
    fs, upm, length = meta["fs"], meta["units_per_mv"], meta["length"]
    if not (_is_num(fs) and math.isfinite(fs) and FS_RANGE[0] <= fs <= FS_RANGE[1]):
        raise UserError(f"{where}: checkpoint sampling rate fs = {json.dumps(fs)[:30]} is not usable "
                        f"(accepted: {FS_RANGE[0]:g} to {FS_RANGE[1]:g} Hz)")
    if not (_is_num(length) and math.isfinite(length) and float(length).is_integer()
            and LENGTH_RANGE[0] <= length <= LENGTH_RANGE[1]):
        raise UserError(f"{where}: checkpoint input length = {json.dumps(length)[:30]} is not usable "
                        f"(accepted: a whole number of samples, {LENGTH_RANGE[0]} to {LENGTH_RANGE[1]})")
    if not (_is_num(upm) and math.isfinite(upm) and UNITS_PER_MV_RANGE[0] <= upm <= UNITS_PER_MV_RANGE[1]):
        raise UserError(f"{where}: checkpoint units_per_mv = {json.dumps(upm)[:30]} is not usable "
                        f"(accepted: a number {UNITS_PER_MV_RANGE[0]:g} to {UNITS_PER_MV_RANGE[1]:g})")
    meta.update(fs=float(fs), length=int(length), units_per_mv=float(upm))
    _check_input_mode(meta, where)
    classes = meta["classes"]
    if not (isinstance(classes, list) and 2 <= len(classes) <= MAX_CLASSES
            and all(isinstance(c, str) and 0 < len(c) <= 40 and c.isprintable() for c in classes)
            and len(set(classes)) == len(classes)):
        raise UserError(f"{where}: checkpoint classes must be a list of 2 to {MAX_CLASSES} distinct short "
                        f"names (got {json.dumps(classes)[:40]})")
    n_classes = meta["arch_args"].get("n_classes", 4)
    if len(classes) != n_classes:
        raise UserError(f"{where}: checkpoint lists {len(classes)} classes but its network has "
                        f"{n_classes} outputs")
    for key in ("training", "metrics"):
        if not isinstance(meta.get(key, {}), dict):
            raise UserError(f"{where}: checkpoint metadata {key!r} is not a JSON object")
    for key in ("name", "units", "length_convention"):
        if key in meta and not isinstance(meta[key], str):
            raise UserError(f"{where}: checkpoint metadata {key!r} is not text")
    if "name" in meta:
        meta["name"] = "".join(c for c in meta["name"] if c.isprintable())[:100] or None
        if meta["name"] is None:
            del meta["name"]
    for key, value in meta.items():  # Python's json reads NaN/Infinity; model-card --json cannot print them
        try:
            json.dumps(value, allow_nan=False)
        except ValueError:
            raise UserError(f"{where}: checkpoint metadata {key!r} holds NaN or Infinity, which JSON does not "
                            "allow (a damaged or hand-edited checkpoint)") from None
    return meta


def parameter_count(arch: str, arch_args: dict) -> int:
    """Parameters and buffers of `arch` built with `arch_args`, counted without allocating them."""
    with torch.device("meta"):
        shapes = build(arch, **arch_args).state_dict()
    return sum(t.numel() for t in shapes.values())


def _module_for(meta: dict) -> torch.nn.Module:
    arch = meta.get("arch")
    if arch not in ARCHS:
        raise UserError(f"checkpoint names unknown architecture {arch!r}")
    try:
        n = parameter_count(arch, meta.get("arch_args", {}))  # sized first: absurd arguments cannot allocate
        if n > MAX_PARAMETERS:
            raise UserError(f"checkpoint architecture arguments give {n} parameters (limit {MAX_PARAMETERS})")
        return build(arch, **meta.get("arch_args", {}))
    except UserError:
        raise
    except Exception as exc:
        raise UserError(f"checkpoint has invalid architecture arguments: {type(exc).__name__}: {exc}") from None


def _output_size(module: torch.nn.Module) -> int | None:
    """Rows of the last linear layer (the number of classes the network outputs)."""
    last = None
    for m in module.modules():
        if isinstance(m, torch.nn.Linear):
            last = m
    return None if last is None else int(last.out_features)


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
        if target[k].is_floating_point() != v.is_floating_point() or v.is_complex():
            raise UserError(f"{source}: tensor {k} has the wrong type ({str(v.dtype).replace('torch.', '')})")
        if v.is_floating_point() and not torch.isfinite(v).all():
            raise UserError(f"{source}: tensor {k} contains NaN or infinite values")
        if k.endswith("running_var") and bool((v < 0).any()):
            raise UserError(f"{source}: tensor {k} holds negative variances (damaged weights)")
    module.load_state_dict(OrderedDict(pairs), strict=False)


def _check_outputs(module: torch.nn.Module, meta: dict, source: str) -> None:
    """One forward pass on a short test input (zeros, and seeded noise of ±500 units): damaged
    weights that are finite but overflow (outputs NaN or infinite) are refused."""
    n = min(int(meta["length"]), 3000)
    g = torch.Generator().manual_seed(0)
    x = torch.cat([torch.zeros(1, 1, n), torch.randn((1, 1, n), generator=g) * 500.0])
    try:
        with torch.no_grad():
            out = module.eval()(x)
    except Exception as exc:
        raise UserError(f"{source}: the network cannot run on a {n}-sample input "
                        f"({type(exc).__name__}: {str(exc)[:80]})") from None
    if out.shape != (2, len(meta["classes"])) or not torch.isfinite(out).all():
        raise UserError(f"{source}: the network's outputs are not finite or not one per class (damaged weights)")


def load_checkpoint(path: str | os.PathLike, arch: str | None = None) -> Classifier:
    """Load our `.safetensors` checkpoint, or a paper-code `.pth` state_dict (needs `arch`,
    default paper-cnn). Foreign, tampered or pickled-code files are refused with a UserError."""
    path = str(path)
    if not os.path.isfile(path):
        if os.path.isdir(path):
            raise UserError(f"{path} is a folder, not a model file (a .safetensors checkpoint)")
        if os.path.exists(path):  # /dev/zero, a pipe: not 'no such model file'
            raise UserError(f"{path} is not a regular file (a pipe or device), not a model file")
        raise UserError(f"no such model file: {path}")
    with open(path, "rb") as fh:
        head = fh.read(8)
    if path.endswith(".safetensors") or (len(head) == 8 and int.from_bytes(head, "little") < 100_000_000
                                        and not head.startswith(b"PK") and head[:1] != b"\x80"):
        return _load_safetensors(path)
    if not (head.startswith(b"PK") or head[:1] == b"\x80"):  # neither a zip (torch.save) nor a binary pickle:
        # a record, a CSV, a MATLAB file...; torch.load's "invalid load key" is not a sign of code
        raise UserError(f"{path}: not a valid model checkpoint (neither a .safetensors checkpoint nor a "
                        "PyTorch .pt/.pth state_dict)")
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
    except (KeyError, ValueError, TypeError, RecursionError):
        raise UserError(f"{path}: safetensors file without ECG model metadata (not one of ours)") from None
    meta = check_meta(meta, path)
    module = _module_for(meta)
    if _output_size(module) != len(meta["classes"]):
        raise UserError(f"{path}: checkpoint lists {len(meta['classes'])} classes but its network has "
                        f"{_output_size(module)} outputs")
    _assign(module, state, path)
    _check_outputs(module, meta, path)
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
    _check_outputs(module, meta, path)
    module.eval()
    meta["name"] = Path(path).stem
    meta["training"] = {"source": f"imported from {os.path.basename(path)}"}
    return Classifier(module, meta)


def resolve_model(spec: str | None, device: str | torch.device | None = None) -> Classifier:
    """A bundled model's name ('default-whole', 'default', 'paper-cnn', ...; None: DEFAULT_MODEL)
    or a checkpoint path → Classifier on `device` (auto when None)."""
    from ..device import pick_device

    spec = spec or DEFAULT_MODEL
    if spec in BUILTIN:
        path = BUILTIN[spec]
        arch = BUNDLED[spec].arch
        if not path.is_file():
            raise UserError(f"no trained weights for {spec!r} are installed: the app loads them from {path}, "
                            f"which does not exist; train them with `.venv/bin/python main.py train DATASET "
                            f"--arch {arch} --out resources/models/{path.name}` or pass a checkpoint file "
                            "with --model")
        clf = load_checkpoint(path)
        if clf.meta.get("arch") != arch:
            raise UserError(f"{path}: bundled model {spec!r} should be a {arch!r} network, the file holds "
                            f"{clf.meta.get('arch')!r}")
        clf.meta["name"] = spec
    else:
        if not os.path.exists(spec) and not os.path.splitext(spec)[1] and os.sep not in spec:
            # a misspelt bundled name ('default-Whole'), not a file path: name the bundled models
            raise UserError(f"no such model file: {spec} (bundled models: {', '.join(BUILTIN)})")
        clf = load_checkpoint(spec)
        # a file is named by its own name: a copy of a bundled checkpoint (whose metadata says
        # 'default') is not reported, nor its results filed, as the bundled model
        clf.meta["name"] = Path(spec).stem
    return clf.to(pick_device(device))
