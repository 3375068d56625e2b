"""Fuzz (hypothesis): checkpoint metadata and safetensors bytes.

The contract: `load_checkpoint` either returns a usable Classifier (fs, length and units in
range, one class per network output, finite weights) or raises `UserError` with a one-line
message; never any other exception, never unpickling.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import save_file

from engine.errors import UserError
from engine.models import build
from engine.models.checkpoint import FS_RANGE, LENGTH_RANGE, UNITS_PER_MV_RANGE, base_meta, load_checkpoint

FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ARGS = {"channels": [4, 4], "kernel": 3}  # a tiny network: each example builds one


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    m = build("default", **ARGS)
    state = {k: v.detach().contiguous() for k, v in m.state_dict().items()}
    return state, base_meta("default", ARGS)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-10 ** 30, 10 ** 30) | st.floats(allow_nan=True) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10)
EDGE = st.sampled_from([0, -1, -300, 1e300, float("nan"), float("inf"), 300, 300.0, 9000, 9000.5, "300", True,
                        None, [], {}, 1e-300, 2 ** 63, -2 ** 63, 10 ** 6, 255, 256])
KEYS = ["format", "arch", "arch_args", "classes", "fs", "units", "units_per_mv", "length", "name", "training",
        "metrics", "length_convention"]


def _load(state, meta_text: str):
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "m.safetensors"
        save_file(state, str(p), metadata={"ecgadv": meta_text})
        return _contract(p)


def _contract(path: Path):
    try:
        clf = load_checkpoint(path)
    except UserError as exc:
        assert str(exc) and "\n" not in str(exc)
        return None
    assert math.isfinite(clf.fs) and FS_RANGE[0] <= clf.fs <= FS_RANGE[1]
    assert isinstance(clf.meta["length"], int) and LENGTH_RANGE[0] <= clf.length <= LENGTH_RANGE[1]
    assert UNITS_PER_MV_RANGE[0] <= clf.units_per_mv <= UNITS_PER_MV_RANGE[1]
    assert clf.module.classifier.out_features == len(clf.classes) and isinstance(clf.name, str)
    p = clf.predict_proba(np.zeros((1, clf.length), np.float32))
    assert p.shape == (1, len(clf.classes)) and np.isfinite(p).all()
    return clf


@FUZZ
@given(changes=st.dictionaries(st.sampled_from(KEYS + ["extra"]), st.one_of(EDGE, JSON), min_size=1, max_size=3),
       drop=st.sets(st.sampled_from(KEYS), max_size=2))
def test_fuzz_metadata_fields(tiny, changes, drop):
    state, meta = tiny
    meta = {**meta, **changes}
    for k in drop:
        meta.pop(k, None)
    _load(state, json.dumps(meta))


@FUZZ
@given(args=st.dictionaries(st.sampled_from(["channels", "kernel", "dropout", "n_classes", "bogus"]),
                            st.one_of(EDGE, JSON, st.lists(st.integers(-5, 2000), max_size=20)), max_size=3),
       classes=st.one_of(st.just(["N", "A", "O", "~"]), st.lists(st.text(max_size=3), max_size=6), JSON))
def test_fuzz_arch_args_and_classes(tiny, args, classes):
    state, meta = tiny
    _load(state, json.dumps({**meta, "arch_args": {**ARGS, **args}, "classes": classes}))


@FUZZ
@given(doc=st.one_of(JSON, st.text(max_size=40), st.binary(max_size=40).map(lambda b: b.decode("latin-1"))))
def test_fuzz_metadata_document(tiny, doc):
    state, _ = tiny
    _load(state, doc if isinstance(doc, str) and not doc.startswith("{") else json.dumps(doc))


@pytest.fixture(scope="module")
def tiny_file(tiny, tmp_path_factory):
    state, meta = tiny
    p = tmp_path_factory.mktemp("fz") / "ok.safetensors"
    save_file(state, str(p), metadata={"ecgadv": json.dumps(meta)})
    assert _contract(p) is not None  # the unmodified file loads
    return p.read_bytes()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_safetensors_bytes(tiny_file, data):
    raw = bytearray(tiny_file)
    n = int.from_bytes(raw[:8], "little")
    region = data.draw(st.sampled_from(["length", "header", "data", "cut"]))
    if region == "length":
        raw[:8] = data.draw(st.integers(0, 2 ** 64 - 1)).to_bytes(8, "little")
    elif region == "header":  # overwrite a few bytes of the JSON header
        for _ in range(data.draw(st.integers(1, 6))):
            raw[data.draw(st.integers(8, 8 + n - 1))] = data.draw(st.integers(0, 255))
    elif region == "data":  # weights: any bit pattern (NaN, inf, denormals)
        for _ in range(data.draw(st.integers(1, 20))):
            raw[data.draw(st.integers(8 + n, len(raw) - 1))] = data.draw(st.integers(0, 255))
    else:
        raw = raw[:data.draw(st.integers(0, len(raw) - 1))]
    with tempfile.TemporaryDirectory() as d:
        for name in ("m.safetensors", "m.pth"):
            p = Path(d) / name
            p.write_bytes(bytes(raw))
            _contract(p)
