"""Universal perturbation (issue 15 §1): tiling/cropping to any length, circular smoothing, the fit on
the bundled samples, held-out evaluation, the .npz file (validated, allow_pickle=False) and the CLI."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import assert_user_error, one_json, run_cli
from engine.attacks.kernels import fused_kernel, smooth
from engine.errors import Cancelled, UserError
from engine.universal import (KIND, Universal, apply_universal, circular_smooth, evaluate_universal,
                              fit_universal, heldout_names, load_universal, paired_split, save_universal,
                              summarize_universal, tiled)


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: one intra-op thread


@pytest.fixture(scope="module")
def clf():
    from engine.models.checkpoint import resolve_model

    return resolve_model("default", "cpu")


@pytest.fixture(scope="module")
def inputs(samples):
    from engine.attack_eval import read_inputs
    from engine.datasets import open_dataset

    ds = open_dataset(samples)
    got, errors, _ = read_inputs(ds, list(ds.names), None)
    assert not errors
    return got


@pytest.fixture(scope="module")
def fitted(clf, inputs):
    """Fitted on 8 of the 12 samples (tiny settings)."""
    return fit_universal(clf, inputs[:8], eps_mv=0.05, steps=3, passes=3, batch_size=8, seed=0)


def _uap(delta, fs=300.0, eps=None, **kw) -> Universal:
    d = np.asarray(delta, dtype=np.float32)
    return Universal(delta_mv=d, fs=fs, eps_mv=float(eps if eps is not None else max(1e-4, np.abs(d).max())), **kw)


# -- applying ----------------------------------------------------------------------------------------

def test_tiling_and_cropping():
    d = np.array([0.01, -0.02, 0.03], dtype=np.float32)
    uap = _uap(d, eps=0.03)
    x = np.zeros(7, np.float32)
    np.testing.assert_allclose(apply_universal(x, 300.0, uap), [0.01, -0.02, 0.03, 0.01, -0.02, 0.03, 0.01], atol=1e-7)
    np.testing.assert_allclose(apply_universal(np.ones(2, np.float32), 300.0, uap), [1.01, 0.98], atol=1e-6)
    assert tiled(d, 5, offset=2).tolist() == pytest.approx([0.03, 0.01, -0.02, 0.03, 0.01])
    with pytest.raises(UserError):
        apply_universal(np.zeros((2, 3)), 300.0, uap)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 3000), p=st.integers(1, 400), fs=st.sampled_from([250.0, 300.0, 360.0, 500.0]),
       eps=st.floats(1e-3, 0.2), q=st.sampled_from([0.0, 0.001, 0.005]), seed=st.integers(0, 1000))
def test_apply_any_length_stays_within_eps_and_on_the_grid(n, p, fs, eps, q, seed):
    rng = np.random.default_rng(seed)
    uap = _uap(rng.uniform(-eps, eps, p), fs=300.0, eps=eps)
    grid = q or 0.001  # a record's samples lie on its own ADC grid
    x = (np.round(rng.normal(0, 0.5, n) / grid) * grid).astype(np.float32)
    x_adv = apply_universal(x, fs, uap, quantum_mv=q)
    assert x_adv.shape == x.shape and x_adv.dtype == np.float32
    assert np.abs(x_adv.astype(np.float64) - x).max() <= eps * (1 + 1e-5) + 2e-6
    if q:
        k = x_adv.astype(np.float64) / q
        assert np.abs(k - np.round(k)).max() < 1e-2
    if fs == 300.0 and not q:  # same rate: exactly the tiled δ
        np.testing.assert_allclose(x_adv - x, tiled(uap.delta_mv, n), atol=1e-6)


def test_circular_smoothing_is_smooth_across_copies():
    torch.manual_seed(0)
    k = fused_kernel()
    theta = (torch.rand(100, dtype=torch.float64) * 2 - 1) * 0.01
    got = circular_smooth(theta, k)
    ref = smooth(torch.cat([theta] * 3)[None], k)[0, 100:200]  # the middle copy of the tiled signal
    torch.testing.assert_close(got, ref)
    assert got.abs().max() <= 0.01 + 1e-12
    # a period shorter than the kernel (19 taps) still wraps correctly
    short = theta[:7]
    ref = smooth(torch.cat([short] * 9)[None], k)[0, 28:35]
    torch.testing.assert_close(circular_smooth(short, k), ref)


# -- fitting and evaluating --------------------------------------------------------------------------

def test_fit_on_the_samples_fools_some_and_is_smooth(clf, inputs, fitted):
    u = fitted
    assert u.fs == clf.fs and len(u.delta_mv) == clf.length and u.eps_mv == 0.05
    assert np.abs(u.delta_mv).max() <= 0.05 + 1e-7
    assert u.fit_records == tuple(i.name for i in inputs[:8])
    assert u.history and u.fit_fooling_rate > 0
    # smoother than a sign pattern of the same size (PGD's square wave): variance of first differences
    rough = np.var(np.diff(np.sign(np.random.default_rng(0).normal(size=len(u.delta_mv))) * 0.05))
    assert np.var(np.diff(u.delta_mv)) < rough / 100
    rows = evaluate_universal(clf, inputs[:8], u)
    assert sum(r["success"] for r in rows) >= 1  # it fools fitting records, as the fit reported
    zero = evaluate_universal(clf, inputs[:8], _uap(np.zeros(len(u.delta_mv)), eps=0.05))
    assert not any(r["success"] for r in zero)


def test_heldout_summary_has_n_interval_and_classes(clf, inputs, fitted):
    rows = evaluate_universal(clf, inputs[8:], fitted)
    s = summarize_universal(rows, clf.classes)
    assert s["fooling"]["n"] == 4 and s["fooling"]["ci95"] is not None
    assert s["interval"].startswith("95%") and set(s["per_class"]) <= set(clf.classes)
    assert all(r["linf_mv"] <= 0.05 + 1e-6 for r in rows)
    names, dropped = heldout_names(["A", "B", "C"], ("B",))
    assert names == ["A", "C"] and dropped == 1


def test_fit_cancels_and_reports_progress(clf, inputs):
    seen = []
    with pytest.raises(Cancelled):
        fit_universal(clf, inputs[:4], eps_mv=0.05, steps=2, passes=2, batch_size=2,
                      progress=lambda d, t: seen.append((d, t)), should_stop=lambda: len(seen) > 2)
    assert seen and seen[0] == (0, 8)


def test_fit_refuses_bad_settings(clf, inputs):
    with pytest.raises(UserError):
        fit_universal(clf, inputs[:2], eps_mv=float("nan"))
    with pytest.raises(UserError):
        fit_universal(clf, [], eps_mv=0.01)
    with pytest.raises(UserError):
        fit_universal(clf, inputs[:2], eps_mv=0.01, steps=0)


def test_fit_on_a_whole_record_model(inputs):
    from engine.models import ARCHITECTURES, build
    from engine.models.checkpoint import base_meta
    from engine.models.classifier import Classifier

    name = next(n for n, a in ARCHITECTURES.items() if a.input.mode == "whole")
    torch.manual_seed(0)
    clf = Classifier(build(name).eval(), base_meta(name))
    u = fit_universal(clf, inputs[:3], eps_mv=0.02, steps=1, passes=1, batch_size=3)
    assert len(u.delta_mv) == clf.length and np.abs(u.delta_mv).max() <= 0.02 + 1e-7
    rows = evaluate_universal(clf, inputs[:3], u)
    assert len(rows) == 3 and all(r["linf_mv"] <= 0.02 + 1e-6 for r in rows)


def test_paired_splits():
    assert paired_split("strat-train", "eval") == "strat-val"
    assert paired_split("strat-train:7", "eval") == "strat-val:7"
    assert paired_split("paper-train", "eval") == "paper-val"
    assert paired_split("strat-val:3", "fit") == "strat-train:3"
    assert paired_split("all", "eval") is None and paired_split("strat-val", "eval") is None
    assert paired_split("/tmp/x.txt", "fit") is None


# -- the file ----------------------------------------------------------------------------------------

def test_file_round_trip(tmp_path, fitted):
    u = fitted
    u.model_sha, u.dataset, u.fit_split, u.eval_split = "abc123", "samples", "strat-train", "strat-val"
    path = tmp_path / "d.npz"
    save_universal(u, str(path))
    v = load_universal(str(path))
    np.testing.assert_array_equal(v.delta_mv, u.delta_mv)
    assert (v.fs, v.eps_mv, v.model, v.model_sha, v.fit_split, v.eval_split, v.seed, v.fit_records, v.history) == \
        (u.fs, u.eps_mv, u.model, "abc123", "strat-train", "strat-val", u.seed, u.fit_records, u.history)
    with pytest.raises(UserError, match="already exists"):
        save_universal(u, str(path))
    with pytest.raises(UserError, match=".npz"):
        save_universal(u, str(tmp_path / "d.bin"))


def _fields(**change):
    base = dict(kind=np.array(KIND), delta_mv=np.full(10, 0.01, np.float32), fs=np.float64(300.0),
                eps_mv=np.float64(0.01), model=np.array("m"), model_sha=np.array("s"), dataset=np.array("d"),
                fit_split=np.array("all"), eval_split=np.array(""), fit_records=np.array(["A00001"]),
                seed=np.int64(0))
    base.update(change)
    return {k: v for k, v in base.items() if v is not None}


@pytest.mark.parametrize("change,msg", [
    (dict(kind=np.array("something-else")), "kind"),
    (dict(kind=None), "kind"),
    (dict(delta_mv=None), "delta_mv"),
    (dict(delta_mv=np.full(10, 0.02, np.float32)), "above its ε"),
    (dict(delta_mv=np.array([0.0, np.nan], np.float32)), "non-finite"),
    (dict(delta_mv=np.zeros((2, 5), np.float32)), "one row"),
    (dict(delta_mv=np.zeros(0, np.float32)), "one row"),
    (dict(delta_mv=np.array(["a"])), "one row"),
    (dict(fs=np.float64(0.0)), "sampling rate"),
    (dict(fs=np.array("300")), "fs"),
    (dict(eps_mv=np.float64(-1)), "eps_mv"),
    (dict(eps_mv=np.float64(np.inf)), "eps_mv"),
    (dict(seed=np.int64(-3)), "seed"),
    (dict(model=np.array([1, 2])), "model"),
    (dict(fit_records=np.array([[1, 2]])), "fit_records"),
    (dict(fit_records=None), "fit_records"),
    (dict(kernel_sizes=np.array([4]), kernel_sigmas=np.array([1.0])), "odd"),
    (dict(history=np.array([2.0])), "history"),
])
def test_tampered_files_refused_in_one_line(tmp_path, change, msg):
    path = tmp_path / "bad.npz"
    np.savez(path, **_fields(**change))
    with pytest.raises(UserError, match=msg) as exc:
        load_universal(str(path))
    assert "\n" not in str(exc.value)


def test_pickles_and_non_archives_refused(tmp_path):
    obj = tmp_path / "obj.npz"
    np.savez(obj, **_fields(model=np.array([{"x": 1}], dtype=object)))
    with pytest.raises(UserError, match="not a universal perturbation file"):
        load_universal(str(obj))
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"PK\x03\x04 definitely not a zip")
    with pytest.raises(UserError, match="not a universal perturbation file"):
        load_universal(str(junk))
    bare = tmp_path / "bare.npy"
    np.save(bare, np.zeros(3))
    with pytest.raises(UserError, match="bare array"):
        load_universal(str(bare))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("readme.txt", "hello")
    (tmp_path / "zip.npz").write_bytes(buf.getvalue())
    with pytest.raises(UserError):
        load_universal(str(tmp_path / "zip.npz"))
    with pytest.raises(UserError, match="does not exist"):
        load_universal(str(tmp_path / "missing.npz"))
    with pytest.raises(UserError, match="not a file"):
        load_universal(str(tmp_path))


# -- the command -------------------------------------------------------------------------------------

def test_cli_universal_fits_evaluates_and_writes(samples, tmp_path):
    out = tmp_path / "delta.npz"
    proc = run_cli("universal", samples, "--split", "strat-train", "--out", out, "--steps", "2", "--passes", "2",
                   "--json")
    assert proc.returncode == 0, proc.stderr
    doc = one_json(proc.stdout)
    u = load_universal(str(out))
    assert doc["universal"]["eps_mv"] == 0.05 == u.eps_mv and u.fit_split == "strat-train"
    assert u.eval_split == doc["eval_split"] == "strat-val" and len(u.model_sha) == 16
    h = doc["heldout"]
    assert h["records"] == 4 and h["excluded_fit_records"] == 0 and h["summary"]["fooling"]["n"] == 4
    from engine.datasets import open_dataset, select_split

    held = select_split(open_dataset(samples), "strat-val").names
    assert len(u.fit_records) == 8 and set(u.fit_records).isdisjoint(held)
    # the output is never replaced without --overwrite, and is checked before any work
    again = run_cli("universal", samples, "--split", "strat-train", "--out", out)
    assert_user_error(again, "already exists")


@pytest.mark.parametrize("args,msg", [
    (["--out", "{tmp}/d.txt"], ".npz"),
    (["--out", "{tmp}/no/such/d.npz"], "does not exist"),
    (["--out", "{tmp}/d.npz", "--eps", "0"], "--eps"),
    (["--out", "{tmp}/d.npz", "--eps", "nan"], "--eps"),
    (["--out", "{tmp}/d.npz", "--split", "strat-train", "--eval-split", "strat-train"], "nothing is held out"),
    (["--out", "{tmp}/d.npz", "--eval-split", "no-such-split"], "unknown split"),
])
def test_cli_universal_bad_input(samples, tmp_path, args, msg):
    proc = run_cli("universal", samples, *[a.format(tmp=tmp_path) for a in args])
    assert_user_error(proc, msg)
