"""CLI contract for info / classify / evaluate / train: JSON schemas, one document on stdout,
exit codes 0/2, one-line errors, never a traceback."""

from __future__ import annotations

import json
import math

import pytest
from conftest import DEFAULT_WEIGHTS, SAMPLE_NAMES, assert_user_error, inproc_user_error, one_json, run_cli

from engine.cli import main as cli

CLASSES = ["N", "A", "O", "~"]


def _num(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def run_inproc(capsys, *argv) -> tuple[int, str, str]:
    code = cli([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


# ---------------------------------------------------------------- schemas

def check_info(doc, *, n_leads=None, label="any"):
    assert set(doc) == {"record", "fs", "n_samples", "duration_s", "leads", "label", "annotations", "annotation_error"}
    assert isinstance(doc["record"], str)
    assert _num(doc["fs"]) and doc["fs"] > 0
    assert isinstance(doc["n_samples"], int) and doc["n_samples"] > 0
    assert _num(doc["duration_s"]) and doc["duration_s"] == pytest.approx(doc["n_samples"] / doc["fs"])
    assert isinstance(doc["leads"], list) and doc["leads"]
    for lead in doc["leads"]:
        assert set(lead) == {"name", "units", "gain"}
        assert isinstance(lead["name"], str) and isinstance(lead["units"], str) and _num(lead["gain"])
    if n_leads is not None:
        assert len(doc["leads"]) == n_leads
    assert doc["label"] is None or doc["label"] in CLASSES
    if label != "any":
        assert doc["label"] == label


def check_classify(doc, n_records):
    assert set(doc) == {"model", "results"}
    assert isinstance(doc["model"], str) and doc["model"]
    assert isinstance(doc["results"], list) and len(doc["results"]) == n_records
    for r in doc["results"]:
        base = {"record", "pred", "probs", "duration_s", "window", "cropped", "padded", "saturated_fraction",
                "saturated"}
        assert base <= set(r) and set(r) - base <= {"input_mode", "short", "windows"}  # whole-record models
        if "input_mode" in r:
            assert r["input_mode"] == "whole" and isinstance(r["short"], bool)
        assert isinstance(r["record"], str)
        start, end = r["window"]
        assert 0 <= start < end <= r["duration_s"] + 1e-6 and r["cropped"] == (end - start < r["duration_s"] - 1e-6)
        assert 0 <= r["saturated_fraction"] <= 1 and isinstance(r["saturated"], bool)
        assert r["pred"] in CLASSES
        assert list(r["probs"]) == CLASSES and all(_num(p) and 0 <= p <= 1 for p in r["probs"].values())
        assert sum(r["probs"].values()) == pytest.approx(1.0, abs=1e-5)
        assert r["pred"] == max(r["probs"], key=r["probs"].get)


def check_evaluate(doc, n=None):
    for key in ("model", "n", "accuracy", "f1", "f1_mean_nao", "f1_mean_all", "confusion"):
        assert key in doc, key
    assert isinstance(doc["model"], str)
    assert isinstance(doc["n"], int) and doc["n"] > 0
    assert _num(doc["accuracy"]) and 0 <= doc["accuracy"] <= 1
    assert list(doc["f1"]) == CLASSES and all(_num(v) and 0 <= v <= 1 for v in doc["f1"].values())
    assert doc["f1_mean_nao"] == pytest.approx(sum(doc["f1"][c] for c in "NAO") / 3)
    assert doc["f1_mean_all"] == pytest.approx(sum(doc["f1"].values()) / 4)
    conf = doc["confusion"]
    assert len(conf) == 4 and all(len(row) == 4 and all(isinstance(v, int) for v in row) for row in conf)
    assert sum(map(sum, conf)) == doc["n"]
    assert doc["accuracy"] == pytest.approx(sum(conf[i][i] for i in range(4)) / doc["n"])
    if n is not None:
        assert doc["n"] == n


# ---------------------------------------------------------------- info

def test_info_json_subprocess(samples):
    p = run_cli("info", samples / "A00009", "--json")
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr
    doc = one_json(p.stdout)
    check_info(doc, n_leads=1, label="A")
    assert doc["fs"] == 300 and doc["leads"] == [{"name": "ECG", "units": "mV", "gain": 1000.0}]


def test_info_every_sample_in_process(capsys, samples, sample_labels):
    for name in SAMPLE_NAMES:
        code, out, _ = run_inproc(capsys, "info", str(samples / name) + ".hea", "--json")
        assert code == 0
        check_info(one_json(out), label=sample_labels[name])


def test_info_text_output(capsys, samples):
    code, out, _ = run_inproc(capsys, "info", samples / "A00001")
    assert code == 0 and "300 Hz" in out and "9000 samples" in out


@pytest.mark.shared
@pytest.mark.parametrize("name,fs,n_leads", [("100", 360, 2), ("03700181", 125, 3), ("v102s", 250, 4),
                                             ("test01_00s", 500, 4)])
def test_info_shared_records(capsys, wfdb_samples, name, fs, n_leads):
    code, out, _ = run_inproc(capsys, "info", wfdb_samples / name, "--json")
    assert code == 0
    doc = one_json(out)
    check_info(doc, n_leads=n_leads, label=None)
    assert doc["fs"] == fs
    if name == "100":  # the reference beat annotations (100.atr), counted per label
        assert doc["annotations"] == {"source": "100.atr", "n": 2274, "counts": {"N": 2239, "A": 33, "(N": 1, "V": 1},
                                      "note": None}
        code, out, _ = run_inproc(capsys, "info", wfdb_samples / name)
        assert "annotations: 2274 annotations (100.atr): N 2239, A 33, (N 1, V 1" in out
    else:
        assert doc["annotations"] is None and doc["annotation_error"] is None


# ---------------------------------------------------------------- classify

def test_classify_json_subprocess(samples, tiny_model):
    recs = [samples / "A00001", samples / "A00009.hea", samples / "A00022"]
    p = run_cli("classify", *recs, "--model", tiny_model, "--device", "cpu", "--json")
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr
    doc = one_json(p.stdout)
    check_classify(doc, 3)
    assert doc["model"] == "tiny"
    assert [r["record"].rsplit("/", 1)[-1] for r in doc["results"]] == ["A00001", "A00009", "A00022"]


def test_classify_text_and_in_process(capsys, samples, tiny_model):
    code, out, _ = run_inproc(capsys, "classify", samples / "A00013", "--model", tiny_model, "--json")
    assert code == 0
    check_classify(one_json(out), 1)
    code, out, _ = run_inproc(capsys, "classify", samples / "A00013", "--model", tiny_model)
    assert code == 0 and "A00013" in out


@pytest.mark.shared
def test_classify_multichannel_and_lead(capsys, wfdb_samples, tiny_model):
    code, out, _ = run_inproc(capsys, "classify", wfdb_samples / "03700181", wfdb_samples / "test01_00s",
                              "--model", tiny_model, "--json")
    assert code == 0
    check_classify(one_json(out), 2)
    code, out, _ = run_inproc(capsys, "classify", wfdb_samples / "test01_00s", "--lead", "ECG 3", "--model",
                              tiny_model, "--json")
    assert code == 0
    check_classify(one_json(out), 1)
    code, out, err = run_inproc(capsys, "classify", wfdb_samples / "test01_00s", "--lead", "V9", "--model",
                                tiny_model, "--json")
    assert code == 2 and out == "" and err.startswith("error:") and "V9" in err
    # v102s has a few missing (NaN) samples in every channel: either handled or a clean one-line refusal
    code, out, err = run_inproc(capsys, "classify", wfdb_samples / "v102s", "--lead", "V", "--model", tiny_model,
                                "--json")
    if code == 0:
        check_classify(one_json(out), 1)
    else:
        assert code == 2 and out == "" and err.startswith("error:") and "NaN" in err and err.count("\n") == 1


def test_classify_with_default_model_when_installed(samples):
    if not DEFAULT_WEIGHTS.is_file():
        pytest.skip("resources/models/default.safetensors not trained/installed yet")
    p = run_cli("classify", samples / "A00001", samples / "A00009", "--json")
    assert p.returncode == 0, p.stderr
    doc = one_json(p.stdout)
    check_classify(doc, 2)
    assert doc["model"] == "default-whole"  # no --model: the whole-record model
    assert all(r["input_mode"] == "whole" and not r["cropped"] for r in doc["results"])
    p = run_cli("classify", samples / "A00001", "--model", "default", "--json")
    assert p.returncode == 0 and one_json(p.stdout)["model"] == "default"


def test_builtin_model_without_weights_is_a_clear_error(capsys, samples):
    from engine.models.checkpoint import BUILTIN

    for name, path in BUILTIN.items():
        if path.is_file():
            continue
        code, out, err = run_inproc(capsys, "classify", samples / "A00001", "--model", name, "--json")
        assert code == 2 and out == ""
        assert err.startswith("error:") and err.count("\n") == 1 and "train" in err


# ---------------------------------------------------------------- evaluate

def test_evaluate_json_subprocess(samples, tiny_model):
    p = run_cli("evaluate", samples, "--model", tiny_model, "--json")
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr
    check_evaluate(one_json(p.stdout), n=12)


def test_evaluate_splits_in_process(capsys, samples, tiny_model, tmp_path):
    code, out, err = run_inproc(capsys, "evaluate", samples, "--split", "paper-train", "--model", tiny_model,
                                "--json")
    assert code == 0
    doc = one_json(out)
    check_evaluate(doc, n=12)
    assert "7663 records of the split are missing" in err  # reported on stderr, not dropped silently
    f = tmp_path / "few.txt"
    f.write_text("A00001\nA00009\nA00013\n")
    code, out, _ = run_inproc(capsys, "evaluate", samples, "--split", f, "--model", tiny_model, "--json")
    assert code == 0
    doc = one_json(out)
    check_evaluate(doc, n=3)
    conf = doc["confusion"]
    assert doc["absent_classes"] == [c for i, c in enumerate(CLASSES)
                                     if sum(conf[i]) + sum(row[i] for row in conf) == 0]
    if DEFAULT_WEIGHTS.is_file():  # right on all three (N, A, O): no noisy record, none predicted
        code, out, _ = run_inproc(capsys, "evaluate", samples, "--split", f, "--model", DEFAULT_WEIGHTS)
        assert code == 0 and "~ — (~: none in these records or predictions)" in out, out
        code, out, _ = run_inproc(capsys, "evaluate", samples, "--split", f, "--model", DEFAULT_WEIGHTS, "--json")
        assert one_json(out)["absent_classes"] == ["~"]
    # paper-val holds none of the bundled samples: a clear error, not an empty result
    code, out, err = run_inproc(capsys, "evaluate", samples, "--split", "paper-val", "--model", tiny_model,
                                "--json")
    assert code == 2 and out == "" and "no labelled records" in err


def test_evaluate_text_output(capsys, samples, tiny_model):
    code, out, _ = run_inproc(capsys, "evaluate", samples, "--model", tiny_model)
    assert code == 0 and "mean F1 (N,A,O)" in out and "confusion" in out


def test_evaluate_reports_an_f1_interval_and_a_paired_comparison(capsys, samples, tiny_model):
    """Every evaluation carries a bootstrap 95 % interval of mean F1 N/A/O; --against scores a
    second model on the same records and gives the paired difference (--model minus --against)."""
    code, out, _ = run_inproc(capsys, "evaluate", samples, "--model", "default", "--against", tiny_model, "--json")
    assert code == 0
    doc = one_json(out)
    lo, hi = doc["f1_mean_nao_ci95"]
    assert lo <= doc["f1_mean_nao"] <= hi
    vs = doc["against"]
    assert vs["model"] != doc["model"] and sum(map(sum, vs["confusion"])) == doc["n"] == 12
    pair = vs["paired"]
    assert pair["difference"] == pytest.approx(doc["f1_mean_nao"] - vs["f1_mean_nao"])
    assert pair["ci95"][0] <= pair["difference"] <= pair["ci95"][1] and pair["draws"] == 2000
    code, out, _ = run_inproc(capsys, "evaluate", samples, "--model", "default", "--against", tiny_model)
    assert code == 0 and "bootstrap 95 %" in out and "paired bootstrap 95 %" in out
    # a missing --against model is refused before any record is read
    err = inproc_user_error(capsys, "evaluate", samples, "--against", "no-such-model")
    assert "no-such-model" in err


@pytest.mark.shared
def test_evaluate_shared_subset(capsys, physionet, tiny_model, tmp_path):
    names = [f"A{i:05d}" for i in range(1, 61)]
    train = set((physionet / "RECORDS").read_text().split())
    f = tmp_path / "sub.txt"
    f.write_text("\n".join(names))
    code, out, err = run_inproc(capsys, "evaluate", physionet, "--split", f, "--model", tiny_model, "--json")
    assert code == 0
    doc = one_json(out)
    check_evaluate(doc, n=len([n for n in names if n in train]))


# ---------------------------------------------------------------- train (CLI)

def test_train_cli_tiny_run(samples, tmp_path):
    val = tmp_path / "val.txt"
    val.write_text("A00002\nA00013\nA00027\nA00034\n")
    out = tmp_path / "t.safetensors"
    p = run_cli("train", samples, "--arch", "default", "--out", out, "--val-split", val, "--epochs", "1",
                "--batch-size", "8", "--device", "cpu", "--json")
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr and "epoch 1/1" in p.stderr  # progress goes to stderr
    doc = one_json(p.stdout)
    assert doc["out"] == str(out) and doc["arch"] == "default"
    assert doc["train_records"] == 8 and doc["val_records"] == 4
    assert doc["n"] == 4 and "f1_mean_nao" in doc and "confusion" in doc
    assert out.is_file() and not (tmp_path / "t.safetensors.resume.pt").exists()
    # the written checkpoint is usable by classify and refuses to be overwritten by train
    p = run_cli("classify", samples / "A00001", "--model", out, "--json")
    assert p.returncode == 0, p.stderr
    check_classify(one_json(p.stdout), 1)


def test_train_cli_channels_are_kept_in_the_checkpoint_and_card(samples, tmp_path):
    """--channels and --depth set the default CNNs' widths and blocks per stage (a wider or narrower model from the command line);
    the checkpoint keeps them, so it loads and classifies, and the card and command show them."""
    from engine.models.checkpoint import load_checkpoint

    val = tmp_path / "val.txt"
    val.write_text("A00002\nA00013\nA00027\nA00034\n")
    out = tmp_path / "narrow.safetensors"
    p = run_cli("train", samples, "--arch", "default-whole", "--out", out, "--val-split", val, "--epochs", "1",
                "--batch-size", "8", "--device", "cpu", "--channels", "8,8,12", "--depth", "2", "--json")
    assert p.returncode == 0, p.stderr
    clf = load_checkpoint(str(out))
    assert clf.meta["arch_args"] == {"channels": [8, 8, 12], "depth": 2}
    assert [(b.conv1.out_channels, b.stride) for b in clf.module.blocks] == [(8, 2), (8, 1), (12, 2), (12, 1)]
    assert "--channels 8,8,12 --depth 2" in clf.meta["training"]["command"]
    assert "'channels': [8, 8, 12], 'depth': 2" in (tmp_path / "narrow.md").read_text()
    p = run_cli("classify", samples / "A00001", "--model", out, "--json")
    assert p.returncode == 0, p.stderr


def test_train_cli_regularisation_is_kept_in_the_checkpoint_and_card(samples, tmp_path):
    """--weight-decay, --label-smoothing and --augment reach the training loop and are kept in the
    checkpoint's metadata, the card and the command that repeats the run."""
    from engine.models.checkpoint import load_checkpoint

    val = tmp_path / "val.txt"
    val.write_text("A00002\nA00013\nA00027\nA00034\n")
    out = tmp_path / "reg.safetensors"
    p = run_cli("train", samples, "--arch", "default-whole", "--out", out, "--val-split", val, "--epochs", "1",
                "--batch-size", "8", "--device", "cpu", "--weight-decay", "0.05", "--label-smoothing", "0.1",
                "--augment", "stretch,noise", "--json")
    assert p.returncode == 0, p.stderr
    tr = load_checkpoint(str(out)).meta["training"]
    assert (tr["weight_decay"], tr["label_smoothing"], tr["augment"]) == (0.05, 0.1, "stretch,noise")
    assert "--weight-decay 0.05 --label-smoothing 0.1 --augment stretch,noise" in tr["command"]
    card = (tmp_path / "reg.md").read_text()
    assert "Weight decay (AdamW): 0.05" in card and "Label smoothing: 0.1" in card and "stretch,noise" in card


# ---------------------------------------------------------------- generic contract

def test_usage_errors_are_one_line(capsys):
    for argv in (["frobnicate"], ["info"], ["classify"], ["train", "x"], ["info", "a", "--bogus"]):
        with pytest.raises(SystemExit) as info:
            cli(argv)
        assert info.value.code == 2
        out, err = capsys.readouterr()
        assert out == "" and err.startswith("error:") and err.count("\n") == 1, (argv, err)


def test_abbreviated_options_are_refused(samples, capsys):
    """`--ep` is not taken as `--eps` (argparse's prefix matching is off): an abbreviation in a
    script would change meaning, or become ambiguous, when an option is added."""
    for argv in (["attack", str(samples / "A00001"), "--ep", "0.01"], ["info", str(samples / "A00001"), "--js"],
                 ["review", "report", "x.sqlite", "--htm", "r.html"]):
        with pytest.raises(SystemExit) as info:
            cli(argv)
        assert info.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith("error:") and "unrecognized arguments" in err and err.count("\n") == 1, (argv, err)


def test_usage_error_subprocess():
    p = run_cli("frobnicate", "--json")
    assert_user_error(p)


def test_help_and_version(capsys):
    with pytest.raises(SystemExit) as info:
        cli(["--version"])
    assert info.value.code == 0
    assert "0." in capsys.readouterr().out
    with pytest.raises(SystemExit) as info:
        cli(["info", "--help"])
    assert info.value.code == 0


def test_json_is_strict(samples, capsys):
    code, out, _ = run_inproc(capsys, "info", samples / "A00001", "--json")
    json.loads(out, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))


# ---------------------------------------------------------------- option values (issue 11 §4)

BAD_OPTIONS = [
    (["classify", "{rec}", "--device", "foo"], "cpu, cuda"),
    (["evaluate", "{ds}", "--split", "strat-val:abc"], "strat-val"),
    (["evaluate", "{ds}", "--device", "cuda:x"], "cpu, cuda"),
    (["train", "{ds}", "--out", "{out}", "--seed", str(2 ** 70)], "between 0 and 4294967295"),
    (["train", "{ds}", "--out", "{out}", "--seed", "-1"], "between 0 and 4294967295"),
    (["train", "{ds}", "--out", "{out}", "--batch-size", "0"], "between 1 and"),
    (["train", "{ds}", "--out", "{out}", "--batch-size", "-5"], "between 1 and"),
    (["train", "{ds}", "--out", "{out}", "--lr", "nan"], "greater than 0"),
    (["train", "{ds}", "--out", "{out}", "--lr", "inf"], "greater than 0"),
    (["train", "{ds}", "--out", "{out}", "--lr", "-1"], "greater than 0"),
    (["train", "{ds}", "--out", "{out}", "--epochs", "0"], "between 1 and"),
    (["train", "{ds}", "--out", "{out}", "--epochs", "-1"], "between 1 and"),
    (["train", "{ds}", "--out", "{out}", "--max-minutes", "0"], "greater than 0"),
    (["train", "{ds}", "--out", "{out}", "--max-minutes", "nan"], "greater than 0"),
    (["train", "{ds}", "--out", "{out}", "--limit", "0"], "between 1 and"),
    (["train", "{ds}", "--out", "{out}", "--limit", "-1"], "between 1 and"),
    (["train", "{ds}", "--out", "{out}", "--channels", "8,x"], "comma-separated list of whole numbers"),
    (["train", "{ds}", "--out", "{out}", "--channels", "8,0"], "each between 1 and 1024"),
    (["train", "{ds}", "--out", "{out}", "--channels", ",".join(["8"] * 17)], "1 to 16 widths"),
    (["train", "{ds}", "--out", "{out}", "--arch", "paper-narrow", "--channels", "8,8"], "no channel widths"),
    (["train", "{ds}", "--out", "{out}", "--channels", ",".join(["1024"] * 16)], "parameters (limit"),
    (["train", "{ds}", "--out", "{out}", "--depth", "0"], "between 1 and 8"),
    (["train", "{ds}", "--out", "{out}", "--depth", "9"], "between 1 and 8"),
    (["train", "{ds}", "--out", "{out}", "--arch", "paper-narrow", "--depth", "2"], "no residual stages"),
    (["train", "{ds}", "--out", "{out}", "--augment", "flip"], "flip: choose from stretch, noise"),
    (["train", "{ds}", "--out", "{out}", "--augment", ","], "nothing given"),
    (["train", "{ds}", "--out", "{out}", "--augment", "noise,noise"], "names an augmentation twice"),
    (["train", "{ds}", "--out", "{out}", "--label-smoothing", "0.7"], "between 0 and 0.5"),
    (["train", "{ds}", "--out", "{out}", "--weight-decay", "-1"], "between 0 and 1"),
    (["attack", "{rec}", "--steps", "-1"], "between 0 and 10000"),
    (["attack", "{rec}", "--steps", "1000000"], "between 0 and 10000"),
    (["attack", "{rec}", "--eps", "0"], "between 0.0001 and 5 mV"),
    (["attack", "{rec}", "--eps", "inf"], "between 0.0001 and 5 mV"),
    (["attack", "{rec}", "--alpha", "nan"], "between 1e-05 and 1 mV"),
    (["attack", "{rec}", "--seed", str(2 ** 70)], "between 0 and"),
    (["attack", "{rec}", "--batch-size", "0"], "between 1 and"),
    (["band", "{rec}", "--trials", "1e9"], "between 1 and 100000"),
    (["band", "{rec}", "--trials", "1000000000"], "between 1 and 100000"),
    (["band", "{rec}", "--noise-sd", "inf"], "between 0 and 1 mV"),
    (["band", "{rec}", "--noise-sd", "-0.1"], "between 0 and 1 mV"),
    (["attack-eval", "{ds}", "--limit", "0"], "between 1 and"),
    (["robustness", "{ds}", "--eps", "0.01,7"], "between 0.0001 and 5 mV"),
    (["robustness", "{ds}", "--eps", "0.01", "--alpha-ratio", "nan"], "greater than 0"),
]


@pytest.mark.parametrize("argv,fragment", BAD_OPTIONS, ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_bad_option_values_are_one_line_exit_2(samples, tmp_path, capsys, argv, fragment):
    argv = [a.format(rec=samples / "A00001", ds=samples, out=tmp_path / "m.safetensors") for a in argv]
    try:
        code = cli(argv)
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    out, err = capsys.readouterr()
    assert code == 2 and out == "", (code, out, err)
    assert err.startswith("error:") and err.count("\n") == 1 and "Traceback" not in err, err
    assert fragment in err, err
    assert not (tmp_path / "m.safetensors").exists()


# ---------------------------------------------------------------- last-resort guard

def test_unexpected_exception_prints_one_line_naming_a_crash_log(samples, tmp_path, monkeypatch, capsys):
    from engine.cli import core

    def boom(args):
        raise ZeroDivisionError("something nobody expected\nover two lines")

    monkeypatch.setattr(core, "cmd_info", boom)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    code = cli(["info", str(samples / "A00001"), "--json"])
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err and "ZeroDivisionError" in err, err
    logs = list((tmp_path / "cache" / "ecg-adv").glob("crash-*.log"))
    assert len(logs) == 1 and str(logs[0]) in err
    text = logs[0].read_text(encoding="utf-8")
    assert "Traceback" in text and "in boom" in text and "something nobody expected" in text


def test_crash_log_falls_back_to_the_temp_folder(tmp_path, monkeypatch):
    from engine import crashlog

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))  # <file>/ecg-adv cannot be created
    monkeypatch.setattr(crashlog.tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    try:
        raise RuntimeError("x")
    except RuntimeError as exc:
        path = crashlog.write_crash_log(exc)
    assert path and path.startswith(str(tmp_path / "tmp")) and "RuntimeError" in open(path).read()
    monkeypatch.setattr(crashlog.tempfile, "gettempdir", lambda: str(blocker))
    assert crashlog.write_crash_log(RuntimeError("y")) is None
    assert "no crash log" in crashlog.crash_line(RuntimeError("y"), None)
