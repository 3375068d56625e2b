"""Randomised smoothing (engine.certify): statistics on toy classifiers whose pA is known,
abstention, batch-size independence, a real model end to end, and the `certify` command's
contract (one-line errors, JSON, dataset mode)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import norm

from engine.certify import (NoiseStream, SmoothParams, certified_accuracy, certify_input, p_lower, predict_input,
                            radius_for)
from engine.errors import UserError

from conftest import SAMPLES, assert_user_error, one_json, run_cli

CLASSES = ["N", "A", "O", "~"]


def constant(cls: int):
    """A base classifier that always answers `cls` (pA = 1)."""
    def fn(x: torch.Tensor) -> torch.Tensor:
        z = torch.zeros((x.shape[0], 4))
        z[:, cls] = 1.0
        return z
    return fn


def linear(x: torch.Tensor) -> torch.Tensor:
    """Class N when the sum of the samples is positive, else A: a half-space whose smoothed
    classifier is itself; its L2 distance to the boundary is sum/√d, pA = Φ(sum/(σ√d))."""
    s = x.sum(1)
    z = torch.zeros((x.shape[0], 4))
    z[:, 0] = s
    z[:, 1] = -s
    return z


def test_constant_classifier_radius_is_exact():
    p = SmoothParams(sigma_mv=0.3, n0=10, n=500, alpha=0.001, batch_size=128)
    c = certify_input(constant(2), np.zeros(40, np.float32), CLASSES, p)
    # all n votes: the one-sided Clopper-Pearson lower bound is alpha^(1/n)
    want_p = 0.001 ** (1 / 500)
    assert c.pred == "O" and c.counts["O"] == 500 and c.counts0["O"] == 10
    assert c.p_lower == pytest.approx(want_p, rel=1e-9)
    assert c.radius_mv == pytest.approx(0.3 * norm.ppf(want_p), rel=1e-9)
    assert c.linf_mv == pytest.approx(c.radius_mv / math.sqrt(40))
    assert c.d == 40


def test_linear_classifier_radius_is_sound_and_tight():
    d, sigma = 50, 0.5
    dist = 1.0 * sigma  # L2 distance to the boundary; pA = Φ(1) = 0.841
    x = np.full(d, dist / math.sqrt(d), np.float32)  # sum/√d = dist
    p = SmoothParams(sigma_mv=sigma, n0=100, n=20_000, alpha=0.001, batch_size=4096, seed=3)
    c = certify_input(linear, x, CLASSES, p)
    assert c.pred == "N"
    assert abs(c.p_hat - norm.cdf(1.0)) < 0.01
    assert c.radius_mv < dist  # sound: never beyond the true boundary
    assert c.radius_mv > sigma * norm.ppf(norm.cdf(1.0) - 0.02)  # and not far inside it
    assert c.radius_mv == pytest.approx(radius_for(p_lower(c.counts["N"], p.n, p.alpha), sigma))


def test_abstains_on_the_boundary_and_radius_zero():
    p = SmoothParams(sigma_mv=1.0, n0=50, n=2000, batch_size=500)
    c = certify_input(linear, np.zeros(20, np.float32), CLASSES, p)  # pA = 0.5
    assert c.abstained and c.pred is None and c.radius_mv == 0.0 and c.linf_mv == 0.0
    assert c.p_lower < 0.5
    assert not c.certified_at(0.0)
    assert c.to_dict()["abstained"] is True
    pred, votes = predict_input(linear, np.zeros(20, np.float32), CLASSES, p)
    assert pred is None and sum(votes.values()) == 2000
    pred, _ = predict_input(constant(1), np.zeros(20, np.float32), CLASSES, p)
    assert pred == "A"


def test_abstention_rate():
    from engine.certify import abstention_rate

    assert abstention_rate(1.0, 100, 0.001) == 0.0 and abstention_rate(0.0, 100, 0.001) == 1.0
    assert abstention_rate(0.5, 100, 0.001) > 0.99  # on the boundary it nearly always abstains
    assert abstention_rate(1.0, 3, 0.1) == 1.0  # 3 draws: even 3/3 gives a bound 0.1^(1/3) = 0.46 < 0.5
    mid = abstention_rate(0.62, 200, 0.001)
    assert 0.2 < mid < 0.8
    # Monte Carlo: the rate of p_lower(k) < 0.5 over Binomial(200, 0.62) draws
    rng = np.random.default_rng(0)
    ks = rng.binomial(200, 0.62, 4000)
    mc = np.mean([p_lower(int(k), 200, 0.001) < 0.5 for k in ks])
    assert abs(mc - mid) < 0.03


def test_p_lower_and_radius_helpers():
    assert p_lower(0, 100, 0.001) == 0.0
    assert radius_for(0.5, 1.0) == 0.0 and radius_for(0.3, 1.0) == 0.0
    assert radius_for(norm.cdf(2.0), 0.25) == pytest.approx(0.5)
    # one-sided at α equals the lower end of a two-sided interval at 2α
    from scipy.stats import beta

    assert p_lower(90, 100, 0.01) == pytest.approx(beta.ppf(0.01, 90, 11))


@pytest.mark.parametrize("bs", [1, 7, 16, 1000])
def test_batch_size_does_not_change_the_result(bs):
    x = np.linspace(-0.2, 0.25, 30).astype(np.float32)
    ref = certify_input(linear, x, CLASSES, SmoothParams(sigma_mv=0.2, n0=20, n=300, batch_size=300, seed=5))
    got = certify_input(linear, x, CLASSES, SmoothParams(sigma_mv=0.2, n0=20, n=300, batch_size=bs, seed=5))
    assert got == ref
    other = certify_input(linear, x, CLASSES, SmoothParams(sigma_mv=0.2, n0=20, n=300, batch_size=bs, seed=6))
    assert other.counts != ref.counts  # the seed matters (the stream is not constant)


def test_noise_stream_is_independent_of_take_sizes():
    a = NoiseStream(9, 2.0, 1, 0, torch.device("cpu"))
    b = NoiseStream(9, 2.0, 1, 0, torch.device("cpu"))
    got = torch.cat([a.take(5), a.take(30), a.take(1)])
    assert torch.equal(got, b.take(36))
    assert abs(float(got.std()) - 2.0) < 0.3


@pytest.mark.parametrize("bad", [dict(sigma_mv=0.0), dict(sigma_mv=1e-300), dict(sigma_mv=float("nan")), dict(sigma_mv=0.1, n=0),
                                 dict(sigma_mv=0.1, alpha=0.5), dict(sigma_mv=0.1, batch_size=0)])
def test_bad_params_are_user_errors(bad):
    with pytest.raises(UserError):
        SmoothParams(**bad).check()


def test_non_finite_input_or_outputs_are_user_errors():
    p = SmoothParams(sigma_mv=0.1, n0=2, n=4)
    with pytest.raises(UserError, match="non-finite"):
        certify_input(linear, np.array([0.0, np.nan], np.float32), CLASSES, p)
    with pytest.raises(UserError, match="non-finite outputs"):
        certify_input(lambda x: torch.full((x.shape[0], 4), float("nan")), np.zeros(5, np.float32), CLASSES, p)


def test_certified_accuracy_counts_correct_and_radius():
    rows = [{"label": "N", "pred": "N", "radius_mv": 0.2}, {"label": "A", "pred": "N", "radius_mv": 0.5},
            {"label": "O", "pred": None, "radius_mv": 0.0}, {"label": "N", "pred": "N", "radius_mv": 0.05}]
    t = certified_accuracy(rows, [0.0, 0.1, 0.3])
    assert [r["k"] for r in t] == [2, 1, 0] and all(r["n"] == 4 for r in t)


def test_real_model_certificate(tiny_model):
    from engine.certify import certify_record, record_input
    from engine.models.checkpoint import load_checkpoint
    from engine.records import read_record

    clf = load_checkpoint(tiny_model)
    rec = read_record(str(SAMPLES / "A00001.hea"))
    x, _ = rec.lead_mv()
    seen, fn, d = record_input(clf, x, rec.fs)
    assert len(seen) == clf.length and d == min(len(x), clf.length)
    short, _, d_short = record_input(clf, x[:3000], rec.fs)  # padded: noise covers L, the bound uses d
    assert len(short) == clf.length and d_short == 3000
    # the noise-free input gives the base model's own prediction
    with torch.no_grad():
        z = fn(torch.as_tensor(seen[None]))
    assert clf.classes[int(z.argmax())] == clf.classify(x, rec.fs)[0]
    p = SmoothParams(sigma_mv=0.05, n0=4, n=24, batch_size=24, seed=1)
    a = certify_record(clf, x, rec.fs, p)
    b = certify_record(clf, x, rec.fs, SmoothParams(sigma_mv=0.05, n0=4, n=24, batch_size=5, seed=1))
    assert a.counts == b.counts and a.radius_mv == b.radius_mv
    assert a.d == d and sum(a.counts.values()) == 24
    assert a.linf_mv == pytest.approx(a.radius_mv / math.sqrt(d))


def test_cli_bad_options_one_line(tmp_path):
    rec = str(SAMPLES / "A00001.hea")
    assert_user_error(run_cli("certify", rec), "--sigma")
    assert_user_error(run_cli("certify", rec, "--sigma", "-0.1"), "sigma")
    assert_user_error(run_cli("certify", rec, "--sigma", "1e-300"), "between 0.0001 and 100 mV")  # float32 noise of 0
    assert_user_error(run_cli("smooth-attack", str(SAMPLES), "--sigma", "1e-300", "--eps", "0.01"), "0.0001")
    assert_user_error(run_cli("certify", rec, "--sigma", "0.1", "--n", "0"), "--n")
    assert_user_error(run_cli("certify", rec, "--sigma", "0.1", "--alpha", "0.6"), "alpha")
    assert_user_error(run_cli("certify", rec, "--sigma", "0.1", "--split", "all"), "dataset folder")
    assert_user_error(run_cli("certify", rec, str(SAMPLES), "--sigma", "0.1"), "not both")
    assert_user_error(run_cli("certify", str(tmp_path / "none.hea"), "--sigma", "0.1"))
    assert_user_error(run_cli("certify", str(SAMPLES), "--sigma", "0.1", "--plot", str(tmp_path / "p.txt")), ".png")
    (tmp_path / "p.png").write_bytes(b"keep")
    assert_user_error(run_cli("certify", str(SAMPLES), "--sigma", "0.1", "--plot", str(tmp_path / "p.png")),
                      "exists")
    assert (tmp_path / "p.png").read_bytes() == b"keep"


def test_cli_records_and_dataset_json(tiny_model, tmp_path):
    proc = run_cli("certify", str(SAMPLES / "A00001.hea"), "--model", tiny_model, "--sigma", "0.05", "--n0", "4",
                   "--n", "16", "--device", "cpu", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = one_json(proc.stdout)
    r = doc["results"][0]
    assert sum(r["counts"].values()) == 16 and r["d"] == 9000
    assert r["linf_mv"] == pytest.approx(r["radius_mv"] / math.sqrt(9000))
    plot = tmp_path / "c.png"
    proc = run_cli("certify", str(SAMPLES), "--model", tiny_model, "--sigma", "0.05", "--n0", "4", "--n", "16",
                   "--limit", "2", "--device", "cpu", "--plot", plot, "--json")
    assert proc.returncode == 0, proc.stderr
    doc = one_json(proc.stdout)
    assert doc["n"] == 2 and len(doc["rows"]) == 2 and doc["table"][0]["radius_mv"] == 0.0
    assert plot.read_bytes()[:4] == b"\x89PNG"


def test_train_noise_sd_augments_and_is_recorded(samples, tmp_path):
    """`train --noise-sd`: a tiny run (1 epoch on the bundled samples) with and without noise."""
    from engine.datasets import open_dataset
    from engine.models.checkpoint import load_checkpoint
    from engine.signals_cache import load_dataset_signals
    from engine.training import TrainConfig, train

    ds = open_dataset(samples)
    names = sorted(ds.names)[:8]
    sigs = load_dataset_signals(ds, names, 300.0)
    data = (sigs[:6], [ds.label(n) for n in names[:6]], sigs[6:], [ds.label(n) for n in names[6:]])
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for sd, name in ((0.0, "plain"), (0.3, "noisy")):
            cfg = TrainConfig(epochs=1, batch_size=8, seed=0, noise_sd_mv=sd)
            train(*data, cfg, str(tmp_path / f"{name}.safetensors"), device=torch.device("cpu"))
    finally:
        torch.set_num_threads(before)
    plain, noisy = (load_checkpoint(tmp_path / f"{n}.safetensors") for n in ("plain", "noisy"))
    assert noisy.meta["training"]["noise_sd_mv"] == 0.3 and "noise_sd_mv" not in plain.meta["training"]
    wp, wn = plain.module.state_dict(), noisy.module.state_dict()
    assert any(not torch.equal(wp[k], wn[k]) for k in wp if wp[k].is_floating_point())


def test_train_noise_sd_option_checked(tmp_path):
    assert_user_error(run_cli("train", str(SAMPLES), "--out", str(tmp_path / "m.safetensors"), "--noise-sd", "-1"),
                      "--noise-sd")
    from engine.cli import build_parser
    from engine.cli.core import train_request

    args = build_parser().parse_args(["train", "d", "--out", "m.safetensors", "--noise-sd", "0.25"])
    assert args.noise_sd == 0.25 and train_request(args).command.split()[-2:] == ["--noise-sd", "0.25"]


def test_dataset_results_file_resumes_and_refuses_another_run(tiny_model, tmp_path):
    out = tmp_path / "cert.jsonl"
    base = ["certify", str(SAMPLES), "--model", tiny_model, "--sigma", "0.05", "--n0", "4", "--n", "8",
            "--device", "cpu", "--out", out, "--json"]
    proc = run_cli(*base, "--limit", "1")
    assert proc.returncode == 0, proc.stderr
    first = one_json(proc.stdout)
    assert first["done_before"] == 0 and len(out.read_text().splitlines()) == 2  # header + 1 row
    proc = run_cli(*base, "--limit", "2")
    assert proc.returncode == 0, proc.stderr
    doc = one_json(proc.stdout)
    assert doc["done_before"] == 1 and doc["n"] == 2 and len(out.read_text().splitlines()) == 3
    assert doc["rows"][0] == first["rows"][0]  # the first record was not certified again
    kept = out.read_bytes()
    bad = list(base)
    bad[bad.index("0.05")] = "0.07"
    assert_user_error(run_cli(*bad, "--limit", "2"), "sigma_mv")
    assert out.read_bytes() == kept
    assert_user_error(run_cli("certify", str(SAMPLES / "A00001.hea"), "--sigma", "0.1", "--out", out), "dataset")


def test_dataset_results_file_refuses_another_model_or_other_data(tiny_model, tmp_path):
    """The header named the model only by name and held nothing of the data: a results file was
    resumed silently (no record certified again, the old rows reported) with another checkpoint
    of the same name, or with another dataset whose records have the same names."""
    import shutil

    import torch

    from engine.models import build
    from engine.models.checkpoint import base_meta, save_checkpoint

    other = tmp_path / "models" / "tiny.safetensors"  # same name "tiny", other weights
    other.parent.mkdir()
    torch.manual_seed(1)
    save_checkpoint(other, build("default"), base_meta("default"))
    data = tmp_path / "data"
    shutil.copytree(SAMPLES, data)
    out = tmp_path / "cert.jsonl"
    base = ["certify", "--sigma", "0.05", "--n0", "4", "--n", "8", "--device", "cpu", "--limit", "1",
            "--out", out, "--json"]
    assert run_cli(*base, str(data), "--model", tiny_model).returncode == 0
    kept = out.read_bytes()
    assert_user_error(run_cli(*base, str(data), "--model", other), "model_sha")
    first = sorted(data.glob("A*.hea"))[0].stem
    second = sorted(data.glob("A*.hea"))[1].stem
    shutil.copy(data / f"{second}.mat", data / f"{first}.mat")  # same name, other samples
    (data / f"{first}.hea").write_text((data / f"{second}.hea").read_text().replace(second, first))
    proc = run_cli(*base, str(data), "--model", tiny_model)  # (known after reading: progress lines first)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and proc.stdout == ""
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error:") and "different data" in last and first in last
    assert out.read_bytes() == kept
    proc = run_cli(*base, str(data), "--model", tiny_model, "--overwrite")
    assert proc.returncode == 0, proc.stderr
    assert one_json(proc.stdout)["done_before"] == 0
