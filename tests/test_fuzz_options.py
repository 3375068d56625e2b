"""Fuzzed option values for the CLI commands, run in-process (engine.cli.main) on the bundled
samples. The contract for every input: exit 0 with exactly one JSON document on stdout (--json),
or exit 2 with exactly one `error:` line on stderr (the last; progress lines of work done before
a late error may precede it) and nothing on stdout, never a traceback and
never exit 1 (the crash guard). Valid values that would cost time (steps, trials) are drawn small;
invalid ones from the whole number line, nan/inf and arbitrary text."""

from __future__ import annotations

import json

import pytest
from conftest import SAMPLES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.cli import main as cli

REC = str(SAMPLES / "A00001")
FUZZ = settings(max_examples=20, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=10)
_odd = st.sampled_from(["nan", "-nan", "inf", "-inf", "1e9", "1e400", "-0", "", "abc", "0x10", "1_000", " 3",
                        "٣", "1e-400", "5e-324", "+7", "00", "9" * 40, "1,5"])
_floats = st.floats(allow_nan=True, allow_infinity=True).map(repr)


def ints(lo: int, hi: int) -> st.SearchStrategy[str]:
    """Whole numbers in [lo, hi] (keep hi small where cost grows with the value), any whole number
    outside the declared range, odd spellings and text."""
    bad = st.one_of(st.integers(max_value=-1).map(str), st.integers(min_value=10 ** 6).map(str), _odd, _text,
                    _floats)
    return mostly(st.integers(lo, hi).map(str), bad)


def floats(lo: float, hi: float) -> st.SearchStrategy[str]:
    return mostly(st.floats(lo, hi).map(repr), st.one_of(_floats, _odd, _text))


def mostly(valid: st.SearchStrategy[str], bad: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """A valid value 4 times in 5, so that a good share of command lines are valid throughout."""
    return st.integers(0, 4).flatmap(lambda k: bad if k == 4 else valid)


def run(capsys, argv: list[str]) -> None:
    """Run one command line and check the contract."""
    capsys.readouterr()
    try:
        code = cli(argv + ["--json"])
    except SystemExit as exc:  # argparse's own errors (and --help)
        code = exc.code
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "Traceback" not in out, (argv, err)
    assert code in (0, 2), (argv, code, err)
    if code == 0:
        lines = [ln for ln in out.splitlines() if ln.strip()]
        assert len(lines) == 1, (argv, out[:300])
        doc = json.loads(lines[0], parse_constant=lambda c: pytest.fail(f"{argv}: JSON constant {c}"))
        assert isinstance(doc, dict)
    else:
        assert out == "", (argv, out[:300])
        # one error line, the last (progress lines of work done before a late error may precede it)
        lines = err.splitlines()
        assert lines and lines[-1].startswith("error:"), (argv, err)
        assert sum(ln.startswith("error:") for ln in lines) == 1, (argv, err)


def opts(**values) -> list[str]:
    """--flag value pairs for the options drawn (None: left out)."""
    out = []
    for k, v in values.items():
        if v is not None:
            out += [f"--{k.replace('_', '-')}", v]
    return out


@FUZZ
@given(device=st.one_of(st.sampled_from(["cpu", "auto", "CPU", "cuda:x", "gpu", "cpu:0"]), _text),
       lead=st.one_of(st.none(), _text))
def test_classify(capsys, device, lead):
    run(capsys, ["classify", REC] + opts(device=device, lead=lead))


@FUZZ
@given(eps=st.one_of(st.none(), floats(1e-4, 5.0)), alpha=st.one_of(st.none(), floats(1e-4, 1.0)),
       steps=ints(0, 2), sap_steps=ints(0, 2), seed=st.one_of(st.none(), ints(0, 2 ** 32 - 1)),
       method=mostly(st.sampled_from(["pgd", "sap"]), _text), batch_size=st.one_of(st.none(), ints(1, 4)),
       target=st.one_of(st.none(), mostly(st.sampled_from(["N", "A", "af", "noisy", "X"]), _text)))
def test_attack(capsys, eps, alpha, steps, sap_steps, seed, method, batch_size, target):
    run(capsys, ["attack", REC] + opts(eps=eps, alpha=alpha, steps=steps, sap_steps=sap_steps, seed=seed,
                                       method=method, batch_size=batch_size, target=target))


@settings(max_examples=12, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(trials=ints(1, 20), noise_sd=floats(0.0, 1.0), max_pairs=ints(0, 5), max_splices=ints(0, 3),
       members=st.one_of(st.none(), ints(0, 3)), band_batch=st.one_of(st.none(), ints(1, 8)),
       eps=floats(0.05, 5.0))
def test_band(capsys, trials, noise_sd, max_pairs, max_splices, members, band_batch, eps):
    run(capsys, ["band", REC, "--method", "pgd", "--steps", "3", "--alpha", "0.05"]
        + opts(trials=trials, noise_sd=noise_sd, max_pairs=max_pairs, max_splices=max_splices, members=members,
               batch_size=band_batch, eps=eps))


@FUZZ
@given(split=st.one_of(st.sampled_from(["all", "paper-val", "strat-val", "strat-train:3"]),
                       st.integers().map(lambda i: f"strat-val:{i}"), _text.map(lambda t: "strat-val:" + t), _text),
       device=st.one_of(st.none(), st.just("cpu"), _text))
def test_evaluate(capsys, split, device):
    run(capsys, ["evaluate", str(SAMPLES)] + opts(split=split, device=device))


@FUZZ
@given(epochs=ints(1, 1), batch_size=ints(1, 64), lr=floats(1e-6, 1.0), seed=ints(0, 2 ** 32 - 1),
       max_minutes=floats(1e-3, 10.0), limit=ints(1, 5), arch=st.one_of(st.sampled_from(["default", "paper-cnn"]),
                                                                        _text))
def test_train_options(capsys, tmp_path_factory, epochs, batch_size, lr, seed, max_minutes, limit, arch):
    # a dataset folder that does not exist: valid options end in its one-line error, before any training
    folder = tmp_path_factory.mktemp("train")
    run(capsys, ["train", str(folder / "missing"), "--out", str(folder / "m.safetensors")]
        + opts(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, max_minutes=max_minutes, limit=limit,
               arch=arch))
    assert not (folder / "m.safetensors").exists()


@settings(max_examples=6, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(eps=st.one_of(st.lists(st.floats(1e-4, 5.0), min_size=1, max_size=2).map(lambda v: ",".join(map(repr, v))),
                     _odd, _text), alpha_ratio=st.one_of(st.none(), floats(0.01, 10.0)),
       limit=ints(1, 1), method=st.one_of(st.just("pgd"), _text))
def test_robustness(capsys, tmp_path_factory, eps, alpha_ratio, limit, method):
    run(capsys, ["robustness", str(SAMPLES), "--eps", eps, "--steps", "1", "--method", method,
                 "--results-dir", str(tmp_path_factory.mktemp("rob"))] + opts(alpha_ratio=alpha_ratio, limit=limit))


@settings(max_examples=6, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(limit=ints(1, 2), batch_size=ints(1, 4), steps=ints(0, 1), split=st.one_of(st.just("all"), _text))
def test_attack_eval(capsys, tmp_path_factory, limit, batch_size, steps, split):
    folder = tmp_path_factory.mktemp("ae")
    run(capsys, ["attack-eval", str(SAMPLES), "--method", "pgd", "--results", str(folder / "r.jsonl")]
        + opts(limit=limit, batch_size=batch_size, steps=steps, split=split))
