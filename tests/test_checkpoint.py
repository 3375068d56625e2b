"""Checkpoints: our safetensors format round trip, the paper code's `.pth` format, and refusals
of pickled code, tampered files and foreign files."""

from __future__ import annotations

import json
import os
import pickle
from collections import OrderedDict

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from engine.errors import UserError
from engine.models.checkpoint import FORMAT, base_meta, load_checkpoint, resolve_model, save_checkpoint
from engine.models.default_cnn import DefaultCNN
from engine.models.paper_cnn import PaperCNN


def _trained_like(module: nn.Module, seed: int = 0) -> nn.Module:
    """Random weights and BatchNorm statistics, so a round trip that dropped any would show."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in module.state_dict().items():
            if t.is_floating_point():
                t.copy_(torch.rand(t.shape, generator=g) * 0.2 + (0.9 if name.endswith("running_var") else -0.1))
            elif name.endswith("num_batches_tracked"):
                t.fill_(123)
    return module.eval()


@pytest.fixture
def default_ckpt(tmp_path):
    m = _trained_like(DefaultCNN())
    meta = base_meta("default")
    meta["training"] = {"dataset": "physionet2017", "seed": 3}
    meta["metrics"] = {"validation": {"f1_mean_nao": 0.5}}
    path = tmp_path / "m.safetensors"
    save_checkpoint(path, m, meta)
    return path, m, meta


def test_round_trip_identical_outputs(default_ckpt):
    path, m, meta = default_ckpt
    clf = load_checkpoint(path)
    assert isinstance(clf.module, DefaultCNN) and not clf.module.training
    x = torch.randn(4, 1, 9000, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(m(x), clf.module(x))
    for k, v in m.state_dict().items():
        assert torch.equal(v, clf.module.state_dict()[k]), k
    for key in ("format", "arch", "classes", "fs", "units_per_mv", "length", "training", "metrics"):
        assert clf.meta[key] == meta[key], key
    assert clf.name == "m" and clf.fs == 300.0 and clf.length == 9000 and clf.classes == ["N", "A", "O", "~"]


def test_round_trip_non_default_arch_args(tmp_path):
    args = {"channels": [8, 8, 16], "kernel": 5, "dropout": 0.1}
    m = _trained_like(DefaultCNN(**args))
    save_checkpoint(tmp_path / "s.safetensors", m, base_meta("default", args))
    clf = load_checkpoint(tmp_path / "s.safetensors")
    x = torch.randn(2, 1, 3000)
    with torch.no_grad():
        assert torch.equal(m(x), clf.module(x))


def test_save_refuses_overwrite(default_ckpt):
    path, m, meta = default_ckpt
    before = path.read_bytes()
    with pytest.raises(UserError, match="already exists"):
        save_checkpoint(path, DefaultCNN(), meta)
    assert path.read_bytes() == before
    save_checkpoint(path, DefaultCNN(), meta, overwrite=True)
    assert path.read_bytes() != before
    assert sorted(os.listdir(path.parent)) == [path.name]  # no temporary file left


def test_save_keeps_neighbours_and_gives_a_plain_files_mode(tmp_path):
    """A user's own `<name>.tmp` beside the checkpoint is not used as scratch space, and the
    checkpoint is readable like any file the user writes (safetensors alone makes it 0600)."""
    path = tmp_path / "m.safetensors"
    mine = tmp_path / "m.safetensors.tmp"
    mine.write_bytes(b"my notes")
    old = os.umask(0o022)
    try:
        save_checkpoint(path, DefaultCNN(), base_meta("default"))
    finally:
        os.umask(old)
    assert mine.read_bytes() == b"my notes"
    assert sorted(os.listdir(tmp_path)) == ["m.safetensors", "m.safetensors.tmp"]
    assert os.stat(path).st_mode & 0o777 == 0o644
    load_checkpoint(path)


def test_file_is_safetensors_with_json_metadata(default_ckpt):
    path, m, _ = default_ckpt
    from safetensors import safe_open

    with safe_open(str(path), "pt") as fh:
        meta = json.loads(fh.metadata()["ecgadv"])
    assert meta["format"] == FORMAT and meta["arch"] == "default"
    assert set(load_file(str(path))) == set(m.state_dict())


# ---------------------------------------------------------------- the paper code's format

def _paper_state(seed=0):
    return _trained_like(PaperCNN(), seed)


def _outputs_equal(a: nn.Module, b: nn.Module, length=3000):
    x = torch.randn(1, 1, length, generator=torch.Generator().manual_seed(2)) * 300
    with torch.no_grad():
        return torch.equal(a.eval()(x), b.eval()(x))


def test_paper_code_dataparallel_checkpoint(tmp_path):
    m = _paper_state()
    sd = nn.DataParallel(m).state_dict()
    assert all(k.startswith("module.") for k in sd)
    torch.save(sd, tmp_path / "paper.pth")
    clf = load_checkpoint(tmp_path / "paper.pth")
    assert isinstance(clf.module, PaperCNN)
    assert clf.meta["arch"] == "paper-cnn" and clf.meta["units_per_mv"] == 1000 and clf.length == 18000
    assert "paper.pth" in clf.meta["training"]["source"]
    for k, v in m.state_dict().items():
        assert torch.equal(v, clf.module.state_dict()[k]), k
    assert _outputs_equal(m, clf.module)
    # and through the CLI's model resolution (a path)
    assert isinstance(resolve_model(str(tmp_path / "paper.pth"), "cpu").module, PaperCNN)


def test_paper_code_checkpoint_with_foreign_key_names(tmp_path):
    m = _paper_state(1)
    foreign = OrderedDict()
    for i, (k, v) in enumerate(nn.DataParallel(m).state_dict().items()):
        foreign[f"module.layer{i:03d}.{k.rsplit('.', 1)[1]}"] = v
    torch.save(foreign, tmp_path / "foreign.pt")
    clf = load_checkpoint(tmp_path / "foreign.pt")
    for k, v in m.state_dict().items():
        if not k.endswith("num_batches_tracked"):
            assert torch.equal(v, clf.module.state_dict()[k]), k
    assert _outputs_equal(m, clf.module)
    # wrapped as {"state_dict": ...} (a common training-script layout)
    torch.save({"state_dict": foreign}, tmp_path / "wrapped.pth")
    assert _outputs_equal(m, load_checkpoint(tmp_path / "wrapped.pth").module)


def test_paper_code_checkpoint_of_other_arch_refused(tmp_path):
    torch.save(DefaultCNN().state_dict(), tmp_path / "other.pth")
    with pytest.raises(UserError, match="do not match the PaperCNN"):
        load_checkpoint(tmp_path / "other.pth")
    sd = nn.DataParallel(PaperCNN()).state_dict()
    sd.popitem()
    torch.save(sd, tmp_path / "short.pth")
    with pytest.raises(UserError, match="do not match"):
        load_checkpoint(tmp_path / "short.pth")
    torch.save({"a": 1, "b": "x"}, tmp_path / "notensors.pth")
    with pytest.raises(UserError, match="not a state_dict"):
        load_checkpoint(tmp_path / "notensors.pth")


# ---------------------------------------------------------------- pickles with code in them

class _Evil:
    target = ""

    def __reduce__(self):
        return (os.system, (f"echo pwned > {self.target}",))


def _evil(target) -> _Evil:
    e = _Evil()
    e.target = str(target)
    return e


def test_pickle_with_code_refused_and_never_run(tmp_path):
    marker = tmp_path / "pwned"
    files = []
    torch.save({"module.classifier.weight": torch.zeros(4, 64), "x": _evil(marker)}, tmp_path / "evil.pth")
    files.append(tmp_path / "evil.pth")
    torch.save(_evil(marker), tmp_path / "evil_legacy.pt", _use_new_zipfile_serialization=False)
    files.append(tmp_path / "evil_legacy.pt")
    with open(tmp_path / "evil.pkl", "wb") as fh:
        pickle.dump({"state_dict": _evil(marker)}, fh)
    files.append(tmp_path / "evil.pkl")
    # a pickle disguised with the safetensors extension
    (tmp_path / "evil.safetensors").write_bytes((tmp_path / "evil.pkl").read_bytes())
    files.append(tmp_path / "evil.safetensors")
    for f in files:
        with pytest.raises(UserError) as info:
            load_checkpoint(f)
        assert "\n" not in str(info.value)
        assert not marker.exists(), f"code in {f.name} was executed"
    with pytest.raises(UserError, match="refused"):
        load_checkpoint(tmp_path / "evil.pth")
    with pytest.raises(UserError, match="refused"):
        resolve_model(str(tmp_path / "evil.pkl"), "cpu")
    assert not marker.exists()


# ---------------------------------------------------------------- tampered and foreign files

def test_truncated_safetensors_refused(default_ckpt, tmp_path):
    path, _, _ = default_ckpt
    data = path.read_bytes()
    for cut in (4, 100, len(data) // 2, len(data) - 1):
        bad = tmp_path / f"cut{cut}.safetensors"
        bad.write_bytes(data[:cut])
        with pytest.raises(UserError, match="not a valid model checkpoint|not a readable model file"):
            load_checkpoint(bad)


def test_corrupted_header_refused(default_ckpt, tmp_path):
    path, _, _ = default_ckpt
    data = bytearray(path.read_bytes())
    data[10:20] = b"\x00" * 10  # inside the JSON header
    (tmp_path / "hdr.safetensors").write_bytes(bytes(data))
    with pytest.raises(UserError):
        load_checkpoint(tmp_path / "hdr.safetensors")


def _resave(src, dst, meta=None, tensors=None, drop_meta=False):
    state = load_file(str(src))
    if tensors:
        state = tensors(state)
    save_file(state, str(dst), metadata=None if drop_meta else {"ecgadv": json.dumps(meta)})
    return dst


@pytest.mark.parametrize("change,message", [
    (lambda m: m.update(format="other/9"), "unsupported checkpoint format"),
    (lambda m: m.pop("fs"), "lacks 'fs'"),
    (lambda m: m.pop("length"), "lacks 'length'"),
    (lambda m: m.update(arch="transformer"), "unknown architecture"),
    (lambda m: m.update(arch_args={"nonsense": 1}), "invalid architecture arguments"),
    (lambda m: m.update(arch="paper-cnn"), "do not match"),
])
def test_wrong_metadata_refused(default_ckpt, tmp_path, change, message):
    path, _, meta = default_ckpt
    meta = json.loads(json.dumps(meta))
    change(meta)
    with pytest.raises(UserError, match=message):
        load_checkpoint(_resave(path, tmp_path / "bad.safetensors", meta))


def test_foreign_safetensors_refused(default_ckpt, tmp_path):
    path, _, meta = default_ckpt
    with pytest.raises(UserError, match="without ECG model metadata"):
        load_checkpoint(_resave(path, tmp_path / "nometa.safetensors", drop_meta=True))
    bad = tmp_path / "badjson.safetensors"
    save_file(load_file(str(path)), str(bad), metadata={"ecgadv": "{not json"})
    with pytest.raises(UserError, match="without ECG model metadata"):
        load_checkpoint(bad)


def test_wrong_shapes_refused(default_ckpt, tmp_path):
    path, _, meta = default_ckpt

    def reshape(state):
        state["classifier.weight"] = torch.zeros(4, 7)
        return state

    with pytest.raises(UserError, match="classifier.weight has the wrong shape|do not match"):
        load_checkpoint(_resave(path, tmp_path / "shape.safetensors", meta, reshape))

    def drop(state):
        state.pop("classifier.bias")
        return state

    with pytest.raises(UserError, match="do not match"):
        load_checkpoint(_resave(path, tmp_path / "drop.safetensors", meta, drop))


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_weights_refused(default_ckpt, tmp_path, value):
    path, _, meta = default_ckpt

    def poison(state):
        w = state["stem.0.weight"].clone()
        w.view(-1)[3] = value
        state["stem.0.weight"] = w
        return state

    with pytest.raises(UserError, match="NaN or infinite"):
        load_checkpoint(_resave(path, tmp_path / "nan.safetensors", meta, poison))


@pytest.mark.parametrize("content", [b"hello, this is not a model\n", b"hi", b"", bytes(range(256)) * 4,
                                     b"PK\x03\x04garbage-zip"])
def test_random_files_refused(tmp_path, content):
    for name in ("notes.txt", "model.pth", "model.safetensors"):
        f = tmp_path / name
        f.write_bytes(content)
        with pytest.raises(UserError):
            load_checkpoint(f)


def test_missing_model_file_and_builtin_names(tmp_path):
    with pytest.raises(UserError, match="no such model file"):
        load_checkpoint(tmp_path / "absent.safetensors")
    with pytest.raises(UserError, match="no such model file"):
        resolve_model(str(tmp_path / "absent.safetensors"), "cpu")


def test_resolve_builtin_default_when_installed():
    from engine.models.checkpoint import BUILTIN

    if not BUILTIN["default"].is_file():
        pytest.skip("resources/models/default.safetensors not trained/installed yet")
    clf = resolve_model("default", "cpu")
    assert clf.name == "default" and clf.meta["arch"] == "default"
    assert clf.meta["training"] and clf.meta["metrics"]
    p = clf.predict_proba(np.zeros((1, clf.length), np.float32))
    assert p.shape == (1, 4)


# ---------------------------------------------------------------- hostile metadata and headers (issue 11 §4)

@pytest.mark.parametrize("change,message", [
    (lambda m: m.update(fs=0), "sampling rate fs = 0 is not usable"),
    (lambda m: m.update(fs=-300), "fs = -300"),
    (lambda m: m.update(fs=float("nan")), "fs = NaN"),
    (lambda m: m.update(fs=1e300), "accepted: 100 to 10000 Hz"),
    (lambda m: m.update(fs="300"), "fs = \"300\""),
    (lambda m: m.update(fs=True), "fs = true"),
    (lambda m: m.update(length=-9000), "input length = -9000"),
    (lambda m: m.update(length=10 ** 12), "input length"),
    (lambda m: m.update(length=9000.5), "whole number of samples"),
    (lambda m: m.update(length=None), "input length = null"),
    (lambda m: m.update(units_per_mv="abc"), "units_per_mv = \"abc\""),
    (lambda m: m.update(units_per_mv=float("nan")), "units_per_mv = NaN"),
    (lambda m: m.update(units_per_mv=0), "units_per_mv = 0"),
    (lambda m: m.update(units_per_mv=[1]), "units_per_mv"),
    (lambda m: m.update(arch_args={"channels": [-5, 8]}), "channels = \\[-5, 8\\]"),
    (lambda m: m.update(arch_args={"channels": [10 ** 9] * 3}), "invalid architecture arguments"),
    (lambda m: m.update(arch_args={"channels": []}), "invalid architecture arguments"),
    (lambda m: m.update(arch_args={"n_classes": -1}), "n_classes = -1"),
    (lambda m: m.update(arch_args={"kernel": 10 ** 6}), "kernel"),
    (lambda m: m.update(arch_args={"dropout": float("nan")}), "dropout"),
    (lambda m: m.update(arch_args=[1, 2]), "invalid architecture arguments"),
    (lambda m: m.update(arch=["default"]), "unknown architecture"),
    (lambda m: m.update(classes=["N", "A", "O"]), "3 classes but its network has 4 outputs"),
    (lambda m: m.update(classes=["N", "A", "O", "~", "X"]), "5 classes but its network has 4 outputs"),
    (lambda m: m.update(classes=["N", "N", "O", "~"]), "distinct"),
    (lambda m: m.update(classes="NAO~"), "classes must be a list"),
    (lambda m: m.update(classes=[1, 2, 3, 4]), "classes must be a list"),
    (lambda m: m.update(training="yes"), "'training' is not a JSON object"),
    (lambda m: m.update(name=42), "'name' is not text"),
    (lambda m: m["metrics"]["validation"].update(f1_mean_nao=float("nan")), "'metrics' holds NaN or Infinity"),
    (lambda m: m["training"].update(lr=float("inf")), "'training' holds NaN or Infinity"),
])
def test_hostile_metadata_refused_in_one_line(default_ckpt, tmp_path, change, message):
    path, _, meta = default_ckpt
    meta = json.loads(json.dumps(meta))
    change(meta)
    with pytest.raises(UserError, match=message) as e:
        load_checkpoint(_resave(path, tmp_path / "bad.safetensors", meta))
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("doc", ["[1, 2, 3]", "null", "42", "\"text\"", "[" * 100000 + "]" * 100000])
def test_metadata_that_is_not_an_object(default_ckpt, tmp_path, doc):
    path, _, _ = default_ckpt
    bad = tmp_path / "notobj.safetensors"
    save_file(load_file(str(path)), str(bad), metadata={"ecgadv": doc})
    with pytest.raises(UserError, match="not a JSON object|without ECG model metadata"):
        load_checkpoint(bad)


def _tamper_header(path, dst, edit):
    """Rewrite the safetensors JSON header of `path` with `edit(dict)`, keeping the data bytes."""
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    head = json.loads(raw[8:8 + n])
    edit(head)
    text = json.dumps(head).encode()
    text += b" " * (-len(text) % 8)
    dst.write_bytes(len(text).to_bytes(8, "little") + text + raw[8 + n:])
    return dst


def _first_float(head):
    return next(k for k, v in head.items() if k != "__metadata__" and v["dtype"] == "F32" and len(v["shape"]) == 2)


@pytest.mark.parametrize("edit,message", [
    (lambda h: h[_first_float(h)].update(dtype="I32"), "wrong type"),
    (lambda h: h[_first_float(h)].update(shape=h[_first_float(h)]["shape"][::-1]), "wrong shape|do not match"),
    (lambda h: h[_first_float(h)].update(data_offsets=[0, 10 ** 12]), "not a valid model checkpoint"),
    (lambda h: h[_first_float(h)].update(dtype="XYZ"), "not a valid model checkpoint"),
    (lambda h: h.__setitem__("__metadata__", {"ecgadv": json.dumps({**json.loads(h["__metadata__"]["ecgadv"]),
                                                                      "fs": -1})}), "fs = -1"),
    (lambda h: h.pop("__metadata__"), "without ECG model metadata"),
])
def test_tampered_safetensors_header_refused(default_ckpt, tmp_path, edit, message):
    path, _, _ = default_ckpt
    with pytest.raises(UserError, match=message):
        load_checkpoint(_tamper_header(path, tmp_path / "t.safetensors", edit))


def test_huge_header_length_refused(default_ckpt, tmp_path):
    path, _, _ = default_ckpt
    raw = bytearray(path.read_bytes())
    raw[:8] = (2 ** 40).to_bytes(8, "little")
    (tmp_path / "h.safetensors").write_bytes(bytes(raw))
    with pytest.raises(UserError):
        load_checkpoint(tmp_path / "h.safetensors")


def test_integer_valued_float_length_and_fs_accepted(default_ckpt, tmp_path):
    path, m, meta = default_ckpt
    meta = json.loads(json.dumps(meta))
    meta.update(length=9000.0, fs=300, units_per_mv=1)
    clf = load_checkpoint(_resave(path, tmp_path / "ok.safetensors", meta))
    assert clf.length == 9000 and isinstance(clf.meta["length"], int) and clf.fs == 300.0


def test_huge_architecture_refused_before_allocating(default_ckpt, tmp_path):
    path, _, meta = default_ckpt
    meta = json.loads(json.dumps(meta))
    meta["arch_args"] = {"channels": [1024] * 16, "kernel": 101}  # ~3.2e9 parameters, 13 GB if built
    with pytest.raises(UserError, match=r"3193125938 parameters \(limit 200000000\)"):
        load_checkpoint(_resave(path, tmp_path / "huge.safetensors", meta))


@pytest.mark.parametrize("damage,message", [("neg_var", "negative variances"), ("overflow", "not finite")])
def test_damaged_but_finite_weights_refused(default_ckpt, tmp_path, damage, message):
    path, _, meta = default_ckpt

    def edit(state):
        if damage == "neg_var":
            v = state["stem.1.running_var"].clone()
            v[0] = -1.0
            state["stem.1.running_var"] = v
        else:  # finite weights whose products overflow float32
            state["stem.0.weight"] = torch.full_like(state["stem.0.weight"], 3e38)
        return state

    with pytest.raises(UserError, match=message):
        load_checkpoint(_resave(path, tmp_path / "dmg.safetensors", meta, edit))


def test_bundled_variant_loads_by_name_and_checks_its_architecture(tmp_path, monkeypatch):
    """`--model default-robust`: a trained variant of the default architecture, selected by name; a
    file of another architecture under a variant's name is refused in one line."""
    from engine.models import BUNDLED
    from engine.models.checkpoint import BUILTIN, resolve_model, save_checkpoint

    assert BUNDLED["default-robust"].arch == "default"
    if BUILTIN["default-robust"].is_file():
        clf = resolve_model("default-robust", "cpu")
        assert clf.name == "default-robust" and clf.meta["arch"] == "default"
        assert clf.meta["training"]["adversarial"]["method"] == "pgd"
    wrong = tmp_path / "wrong.safetensors"
    from engine.models import build

    save_checkpoint(str(wrong), build("default-whole"), base_meta("default-whole"))
    monkeypatch.setitem(BUILTIN, "default-robust", wrong)
    with pytest.raises(UserError, match="should be a 'default' network"):
        resolve_model("default-robust", "cpu")
    monkeypatch.setitem(BUILTIN, "default-robust", tmp_path / "missing.safetensors")
    with pytest.raises(UserError, match="--arch default --out resources/models/missing.safetensors"):
        resolve_model("default-robust", "cpu")


def test_model_card_json_of_checkpoint_with_nan_metrics(default_ckpt, tmp_path, capsys):
    """A hand-edited checkpoint whose metrics hold NaN: model-card --json crashed (exit 1, internal
    error: 'Out of range float values are not JSON compliant'); now a one-line refusal, exit 2."""
    from engine.cli import main

    path, _, meta = default_ckpt
    meta = json.loads(json.dumps(meta))
    meta["metrics"]["validation"]["accuracy"] = float("nan")
    bad = _resave(path, tmp_path / "nan.safetensors", meta)
    assert main(["model-card", "--model", str(bad), "--json"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "NaN or Infinity" in err and "internal error" not in err


def test_a_copy_of_a_bundled_checkpoint_is_named_by_its_file(tmp_path):
    """`--model my.safetensors`, a copy of the bundled 'default' weights, was reported (and its
    results filed) as 'default', the name in its metadata."""
    import shutil

    from engine.models.checkpoint import BUILTIN, resolve_model

    if not BUILTIN["default"].is_file():
        pytest.skip("bundled default weights not installed")
    copy = tmp_path / "my.safetensors"
    shutil.copyfile(BUILTIN["default"], copy)
    assert resolve_model(str(copy), "cpu").name == "my"
    assert resolve_model("default", "cpu").name == "default"
