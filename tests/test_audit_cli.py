"""Hostile-user audit of the headless CLI: the failures it found, one regression test each.

Each test runs the CLI in process (engine.cli.main, the code `python main.py` runs) on copies
of the bundled samples in a temporary folder and checks the contract: exit code 2, one
'error: ...' line last on stderr, no traceback, and no input file touched.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings

import pytest

from conftest import cli_inproc as cli
from conftest import inproc_user_error as user_error
from engine.errors import UserError

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def dataset(samples, tmp_path):
    """A copy of five bundled records and their labels."""
    folder = tmp_path / "ds"
    folder.mkdir()
    names = ["A00001", "A00002", "A00006", "A00007", "A00009"]
    for n in names:
        for ext in (".hea", ".mat"):
            shutil.copy(samples / (n + ext), folder / (n + ext))
    ref = [ln for ln in (samples / "REFERENCE.csv").read_text().splitlines() if ln.split(",")[0] in names]
    (folder / "REFERENCE.csv").write_text("\n".join(ref) + "\n")
    return folder


# -- an input is never overwritten, not even with --overwrite ---------------------------------------

def test_model_card_out_never_replaces_the_model(capsys, tiny_model, tmp_path):
    ckpt = tmp_path / "m.md"  # a checkpoint, whatever its name
    shutil.copy(tiny_model, ckpt)
    before = ckpt.read_bytes()
    line = user_error(capsys, "model-card", "--model", ckpt, "--out", ckpt, "--overwrite")
    assert "input file" in line and "never overwritten" in line
    assert ckpt.read_bytes() == before  # was replaced by the Markdown card
    link = tmp_path / "alias.md"
    os.symlink(ckpt, link)  # through a link too
    user_error(capsys, "model-card", "--model", ckpt, "--out", link, "--overwrite")
    assert ckpt.read_bytes() == before
    rc, _, _ = cli(capsys, "model-card", "--model", ckpt, "--out", tmp_path / "card.md")
    assert rc == 0 and (tmp_path / "card.md").read_text().startswith("# Model card")


def test_model_card_out_must_be_markdown(capsys, tiny_model, dataset):
    """model-card --out ds/A00001.hea --overwrite replaced a record's header with the card."""
    hea = dataset / "A00001.hea"
    before = hea.read_bytes()
    assert ".md" in user_error(capsys, "model-card", "--model", tiny_model, "--out", hea, "--overwrite")
    assert hea.read_bytes() == before


def test_train_out_never_replaces_its_init_checkpoint(capsys, tiny_model, dataset, tmp_path):
    ckpt = tmp_path / "m.safetensors"
    shutil.copy(tiny_model, ckpt)
    before = ckpt.read_bytes()
    line = user_error(capsys, "train", dataset, "--init", ckpt, "--out", ckpt, "--overwrite", "--limit", "8",
                      "--epochs", "1", "--device", "cpu")
    assert "input file" in line
    assert ckpt.read_bytes() == before


def test_train_job_refuses_its_init_as_out(tiny_model, dataset, tmp_path):
    """The Workbench's train job (the GUI's path) checks it too, before reading any record."""
    from engine.datasets import open_dataset
    from engine.workbench import TrainRequest, jobs

    ckpt = tmp_path / "m.safetensors"
    shutil.copy(tiny_model, ckpt)
    req = TrainRequest(dataset=open_dataset(dataset), out=str(ckpt), init=str(ckpt), overwrite=True, limit=8,
                       epochs=1, device="cpu")
    with pytest.raises(UserError, match="input file"):
        jobs.train(req)(lambda *a, **k: None, lambda: False)


@pytest.mark.parametrize("command", ["attack-eval", "band-eval"])
def test_results_file_overwrite_never_replaces_a_label_file(capsys, tiny_model, dataset, command):
    """--overwrite 'starts afresh a results file that does not match': it replaced the dataset's
    own REFERENCE.csv (or any other file named by mistake) with a results file."""
    ref = dataset / "REFERENCE.csv"
    before = ref.read_bytes()
    flag = "--results" if command == "attack-eval" else "--out"
    line = user_error(capsys, command, dataset, "--limit", "1", "--method", "pgd", "--steps", "1",
                      "--model", tiny_model, "--device", "cpu", flag, ref, "--overwrite")
    assert "not a results file" in line
    assert ref.read_bytes() == before


def test_overwrite_still_restarts_a_results_file_of_another_run(tmp_path):
    from engine.results_file import ResultsFormat, check_replaceable, open_results

    def first(path, doc):
        if doc.get("kind") != "k":
            raise UserError(f"{path} is not a k file")

    fmt = ResultsFormat(check_first=first, valid_row=lambda d: True, row_what="row",
                        check=lambda f, w, p: None)
    p = tmp_path / "r.jsonl"
    for text in ('{"kind": "ecgadv-band-eval/1"}\n{"record": "a"}\n', "", "\n\n", '{"kind": "k"}\n[1]\n',
                 '{"kind": "certify-eval", "model": "m"}\n'):
        p.write_text(text)  # another command's, empty, blank, damaged: replaced with restart
        check_replaceable(str(p), fmt)
        assert open_results(str(p), {"kind": "k"}, fmt, restart=True) == {}
        assert json.loads(p.read_text()) == {"kind": "k"}
    for text in ("A00001,N\n", "A00001 1 300 9000\n", "\x00\x01binary", "[1, 2]\n", "x\n{}\n",
                 '{"kind": "ecgadv-robustness-card/1", "model": "m"}\n',  # a card saved with --json > card.json
                 '{"model": "m", "results": []}\n'):  # classify --json > out.json
        p.write_text(text)
        with pytest.raises(UserError, match="not a results file"):
            open_results(str(p), {"kind": "k"}, fmt, restart=True)
        assert p.read_text() == text


def test_attack_example_never_replaces_another_input_record(capsys, tiny_model, dataset):
    """`attack A A_pgd --out <their folder> --overwrite`: A's example A_pgd would replace the input A_pgd."""
    for ext in (".hea", ".mat"):
        shutil.copy(dataset / ("A00001" + ext), dataset / ("A00001_pgd" + ext))
    hea = dataset / "A00001_pgd.hea"
    hea.write_text(hea.read_text().replace("A00001", "A00001_pgd"))
    before = hea.read_bytes()
    line = user_error(capsys, "attack", dataset / "A00001", dataset / "A00001_pgd", "--method", "pgd", "--steps",
                      "1", "--out", dataset, "--overwrite", "--model", tiny_model, "--device", "cpu")
    assert "input file" in line
    assert hea.read_bytes() == before and not (dataset / "A00001_pgd.dat").exists()


def test_same_file_and_check_not_input(tmp_path):
    from engine.outputs import check_not_input, check_output, same_file

    a = tmp_path / "a.txt"
    a.write_text("x")
    os.link(a, tmp_path / "hard.txt")
    assert same_file(a, tmp_path / "hard.txt") and same_file(a, tmp_path / "." / "a.txt")
    assert not same_file(a, tmp_path / "absent.txt") and not same_file(tmp_path / "x", tmp_path / "x")
    check_not_input(tmp_path / "b.txt", [a, None, ""])
    with pytest.raises(UserError, match="input file"):
        check_output(tmp_path / "hard.txt", overwrite=True, inputs=[a])
    assert check_output(tmp_path / "b.txt", inputs=[a]) == str(tmp_path / "b.txt")


# -- WFDB headers ------------------------------------------------------------------------------------

def test_tiny_gain_is_one_line_without_a_runtime_warning(capsys, samples, tmp_path, tiny_model):
    """A gain of 1e-300 made samples overflow float32: numpy's RuntimeWarning (two more lines on
    stderr) came before the error."""
    for ext in (".hea", ".mat"):
        shutil.copy(samples / ("A00001" + ext), tmp_path / ("g" + ext))
    hea = tmp_path / "g.hea"
    hea.write_text(hea.read_text().replace("A00001", "g").replace("1000/mV", "1e-300/mV"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning fails the test
        line = user_error(capsys, "classify", tmp_path / "g", "--model", tiny_model, "--device", "cpu")
    assert "infinite" in line


def test_a_one_line_file_without_newline_is_not_emptied_as_a_torn_results_file(capsys, tiny_model, dataset,
                                                                               tmp_path):
    """A file holding one line and no newline (a label file saved without a final newline, any
    one-line text) was taken for a results file whose header was torn: cut to nothing and
    replaced, without --overwrite."""
    f = tmp_path / "labels.csv"
    f.write_text("A00001,N")
    line = user_error(capsys, "attack-eval", dataset, "--limit", "1", "--method", "pgd", "--steps", "1",
                      "--model", tiny_model, "--device", "cpu", "--results", f)
    assert "not a results file" in line
    assert f.read_text() == "A00001,N"


# -- empty option values -----------------------------------------------------------------------------

@pytest.mark.parametrize("argv, name", [
    (["classify", "{rec}", "--model", ""], "--model"),        # silently used the default model
    (["attack", "{rec}", "--method", "pgd", "--steps", "1", "--out", ""], "--out"),  # saved nothing
    (["classify", "{rec}", "--lead", " "], "--lead"),         # silently the first ECG lead
    (["robustness", "{ds}", "--eps", "0.01", "--plot", ""], "--plot"),  # no plot
    (["evaluate", "{ds}", "--split", ""], "--split"),         # silently all
    (["evaluate", ""], "dataset"),
    (["classify", "{rec}", ""], "records"),
])
def test_empty_option_values_are_refused_not_taken_as_absent(capsys, samples, argv, name):
    """`--model "$MODEL"` with MODEL unset ran the default model and labelled the output with it."""
    argv = [a.format(rec=samples / "A00001", ds=samples) for a in argv]
    line = user_error(capsys, *argv)
    assert line.startswith(f"error: argument {name}") and "empty value" in line


# -- devices, pipes and sockets are never outputs --------------------------------------------------

def test_model_card_out_never_replaces_a_pipe_or_device(capsys, tiny_model, tmp_path):
    """As root (a container), `model-card --out /dev/null --overwrite` replaced /dev/null with the
    card (the atomic rename replaces any directory entry), and `attack-eval --results /dev/zero`
    read /dev/zero forever. A named pipe stands in for the device here."""
    fifo = tmp_path / "pipe.md"
    os.mkfifo(fifo)
    line = user_error(capsys, "model-card", "--model", tiny_model, "--out", fifo, "--overwrite")
    assert "not a regular file" in line
    assert os.path.exists(fifo) and not os.path.isfile(fifo)  # still the pipe
    link = tmp_path / "link.md"
    os.symlink(fifo, link)
    user_error(capsys, "model-card", "--model", tiny_model, "--out", link, "--overwrite")


def test_outputs_and_results_files_refuse_special_files(tmp_path):
    from engine.outputs import check_output, write_text_atomic
    from engine.results_file import check_replaceable, read_jsonl_results

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(UserError, match="not a regular file"):
        check_output(fifo, overwrite=True, what="results file")  # before any read of it (it would block)
    with pytest.raises(UserError, match="not a regular file"):
        write_text_atomic(fifo, "x")
    assert not os.path.isfile(fifo)
    with pytest.raises(UserError, match="not a regular file"):
        check_replaceable(str(fifo))
    with pytest.raises(UserError, match="not a regular file"):
        read_jsonl_results(str(fifo), None)


def test_a_pipe_named_reference_csv_does_not_hang_the_dataset(dataset):
    from engine.datasets import open_dataset

    (dataset / "REFERENCE.csv").unlink()
    os.mkfifo(dataset / "REFERENCE.csv")
    with pytest.raises(UserError, match="not a regular file"):
        open_dataset(dataset)


# -- WFDB headers the reader refused only with wfdb's own words ------------------------------------

def _clone(samples, folder, name, edit, signal_name=None):
    """A copy of sample A00001 as `name` (its signal file `signal_name`), header text edited."""
    signal_name = signal_name or name
    text = (samples / "A00001.hea").read_text().replace("A00001.mat", f"{signal_name}.mat").replace(
        "A00001", name)
    (folder / f"{name}.hea").write_text(edit(text), encoding="utf-8")
    shutil.copy(samples / "A00001.mat", folder / f"{signal_name}.mat")
    return folder / name


@pytest.mark.parametrize("edit, signal_name, expected", [
    # wfdb: "cannot read signal (ValueError: sampto must be greater than sampfrom)"
    (lambda t: t.replace(" 9000 ", " 0 ", 1), None, "header gives 0 samples"),
    # wfdb: "cannot read signal (FileNotFoundError: ... '<folder>/~')"
    (lambda t: t.replace("zero.mat", "~"), None, "has no signal file"),
    # wfdb reads the header as ASCII: "FileNotFoundError: ... 'rcord.mat'" for a file that is there
    (lambda t: t, "récord", "is not ASCII"),
    # wfdb: "cannot read signal (ValueError: time data '99:99:99' does not match format '%H:%M:%S')"
    (lambda t: t.replace("05:05:15", "99:99:99", 1), None, "base time '99:99:99' is not a time of day"),
    (lambda t: t.replace("1/05/2000", "30/02/2000", 1), None, "base date '30/02/2000' is not a date"),
])
def test_header_fields_wfdb_cannot_read_get_a_clear_line(capsys, samples, tmp_path, edit, signal_name, expected):
    rec = _clone(samples, tmp_path, "zero", edit, signal_name)
    line = user_error(capsys, "info", rec)
    assert expected in line and "cannot read signal" not in line


def test_a_record_or_csv_given_as_model_is_not_called_code(capsys, samples):
    """--model A00001.mat (a record's signal file) said 'the file contains Python objects other
    than weights (possibly code)': torch.load's 'invalid load key' for any file that is no pickle."""
    for f in ("A00001.mat", "REFERENCE.csv"):
        line = user_error(capsys, "classify", samples / "A00001", "--model", samples / f)
        assert "not a valid model checkpoint" in line and "code" not in line


def test_a_time_budget_spent_before_the_first_step_writes_no_untrained_model(capsys, dataset, tmp_path):
    """`train --max-minutes 1e-9` validated and saved the untrained network as the model ('loss nan')."""
    out = tmp_path / "m.safetensors"
    line = user_error(capsys, "train", dataset, "--out", out, "--max-minutes", "1e-9", "--epochs", "1",
                      "--limit", "8", "--device", "cpu")
    assert "before the first training step" in line
    assert not out.exists() and not (tmp_path / "m.md").exists()


# -- split files ----------------------------------------------------------------------------------

@pytest.mark.parametrize("data", [
    b"\xef\xbb\xbfA00001\r\nA00002\r\n",          # UTF-8 with BOM (Windows Notepad), CRLF
    "A00001\nA00002\n".encode("utf-16"),          # UTF-16 with BOM: 'not a text file of record names'
])
def test_split_file_with_a_bom_keeps_its_first_record(dataset, tmp_path, data):
    """The BOM stayed on the first name, which then matched no record: the split silently lost it."""
    from engine.datasets import open_dataset, select_split

    f = tmp_path / "split.txt"
    f.write_bytes(data)
    sp = select_split(open_dataset(dataset), str(f))
    assert sp.names == ["A00001", "A00002"] and sp.missing == []


def test_split_file_that_is_a_pipe_or_binary_is_one_line(dataset, tmp_path):
    from engine.datasets import read_name_list

    (tmp_path / "bin.txt").write_bytes(b"A00001\n\x00\x01\x02")
    with pytest.raises(UserError, match="split file .* not a text file of record names"):
        read_name_list(tmp_path / "bin.txt")


# -- memory: a huge --batch-size costs time, not all the machine's memory ---------------------------

def test_certify_batches_are_capped_by_memory_not_by_results():
    """certify/smooth-attack --batch-size 100000 on a 30-s record asked one forward for 100000 ×
    9000 values (~170 GB of activations): the system kills such a process, nothing refuses it."""
    import torch

    from engine.certify import NoiseStream, sample_counts
    from engine.device import MAX_FORWARD_VALUES

    d, rows = 20_000, []

    def logits(batch):
        rows.append(batch.shape[0])
        return torch.stack([batch.mean(1), -batch.mean(1)], 1)

    x = torch.zeros(d)
    big = sample_counts(logits, x, 2, 4000, NoiseStream(d, 0.1, 7, 1, torch.device("cpu")), 100_000)
    assert max(rows) * d <= MAX_FORWARD_VALUES and sum(rows) == 4000
    small = sample_counts(logits, x, 2, 4000, NoiseStream(d, 0.1, 7, 1, torch.device("cpu")), 500)
    assert big.tolist() == small.tolist()  # the same draws, whatever the batches


def test_band_batches_are_capped_by_memory(monkeypatch):
    """band --batch-size 10000 classified 10000 whole-record trials in one forward (~17 GB)."""
    from attack_support import adversarial_example, load_model

    import engine.device
    from engine.band import BandParams, expand_band

    r, params = adversarial_example()
    clf = load_model()
    seen = []
    logits = clf.logits
    monkeypatch.setattr(clf, "logits", lambda x: seen.append(x.shape[0]) or logits(x))
    monkeypatch.setattr(engine.device, "MAX_FORWARD_VALUES", 7 * clf.length)  # at most 7 rows a forward
    b = expand_band(clf, r, params, BandParams(trials=20, batch_size=10_000, max_pairs=2, max_splices_per_pair=2,
                                               seed=3))
    assert seen and max(seen) <= 7 and b.noise["trials"] == 20


@pytest.mark.parametrize("edit, expected", [
    # baseline 2^31 - 1: every sample near -2.1e6 mV, classified '~' with probability 1.000
    (lambda t: t.replace("1000/mV", "1000(2147483647)/mV"), "impossible for an ECG"),
    # gain 1e12 ADC units per mV: a 2e-9 mV signal, classified
    (lambda t: t.replace("1000/mV", "1e12/mV"), "too small for an ECG"),
])
def test_ecg_amplitudes_no_ecg_can_have_are_refused(capsys, samples, tmp_path, tiny_model, edit, expected):
    rec = _clone(samples, tmp_path, "amp", edit)
    line = user_error(capsys, "classify", rec, "--model", tiny_model, "--device", "cpu")
    assert expected in line and "baseline" in line
    rc, _, _ = cli(capsys, "info", rec)  # the file itself is readable: info still describes it
    assert rc == 0


# -- torchrun's environment ------------------------------------------------------------------------

@pytest.mark.parametrize("env, expected", [
    ({"WORLD_SIZE": "abc"}, "WORLD_SIZE='abc' is not a whole number"),          # was: internal error, crash log
    ({"WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "x"}, "LOCAL_RANK='x'"),    # was: internal error
    ({"WORLD_SIZE": "2"}, "RANK is not"),                                       # was: torch's rendezvous error
    ({"WORLD_SIZE": "2", "RANK": "5", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "1"}, "do not fit WORLD_SIZE"),
    ({"WORLD_SIZE": "2", "RANK": "1"}, "MASTER_ADDR and MASTER_PORT are not set"),
])
def test_bad_torchrun_environment_is_one_line(capsys, monkeypatch, tiny_model, dataset, tmp_path, env, expected):
    for k in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(k, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    line = user_error(capsys, "attack-eval", dataset, "--limit", "1", "--method", "pgd", "--steps", "1", "--model",
                      tiny_model, "--device", "cpu", "--results", tmp_path / "r.jsonl")
    assert expected in line
    assert not (tmp_path / "r.jsonl").exists()


# -- results files edited by hand --------------------------------------------------------------------

@pytest.mark.parametrize("line, expected", [
    ('{"record": "A00001", "x": NaN}', "NaN or Infinity"),      # certify / band-eval: internal error
    ('{"record": "A00001", "x": -Infinity}', "NaN or Infinity"),  # (emit's strict JSON), crash log
    ("[" * 100_000, "not a JSON object"),                       # RecursionError: internal error
])
def test_results_file_with_non_finite_or_deep_lines_is_damaged_not_a_crash(tmp_path, line, expected):
    from engine.results_file import ResultsFormat, read_jsonl_results

    fmt = ResultsFormat(check_first=lambda p, d: None, valid_row=lambda d: True, row_what="row",
                        check=lambda f, w, p: None)
    p = tmp_path / "r.jsonl"
    p.write_text('{"kind": "k"}\n' + line + "\n")
    with pytest.raises(UserError, match=expected):
        read_jsonl_results(str(p), fmt)


def test_results_lines_are_written_as_strict_json(tmp_path):
    """A non-finite measure is written as null: the file is read back by strict readers (and by
    this app, which now refuses NaN as damage)."""
    import numpy as np

    from engine.results_file import append_lines, write_header

    p = tmp_path / "r.jsonl"
    write_header(str(p), {"kind": "k", "v": float("nan")})
    append_lines(str(p), [{"record": "a", "x": float("inf"), "y": np.float32(0.5), "z": [np.nan, 1.0]}])
    lines = [json.loads(ln, parse_constant=lambda c: pytest.fail(c)) for ln in p.read_text().splitlines()]
    assert lines == [{"kind": "k", "v": None}, {"record": "a", "x": None, "y": 0.5, "z": [None, 1.0]}]


def test_certify_on_a_hand_edited_results_file_is_one_line(capsys, tiny_model, dataset, tmp_path):
    out = tmp_path / "c.jsonl"
    args = ["certify", dataset, "--sigma", "0.1", "--n", "8", "--n0", "2", "--limit", "1", "--out", out,
            "--model", tiny_model, "--device", "cpu", "--json"]
    rc, _, _ = cli(capsys, *args)
    assert rc == 0
    head, row = out.read_text().splitlines()[:2]
    out.write_text(head + "\n" + row.replace('"radius_mv": ', '"radius_mv": NaN, "was": ') + "\n")
    assert "NaN or Infinity" in user_error(capsys, *args)


def test_attack_eval_out_folder_equal_to_results_file_starts_nothing(capsys, tiny_model, dataset, tmp_path):
    """--results x --out x wrote the results header, then refused the folder: a stray results file."""
    x = tmp_path / "x.jsonl"
    line = user_error(capsys, "attack-eval", dataset, "--limit", "1", "--method", "pgd", "--steps", "1",
                      "--model", tiny_model, "--device", "cpu", "--results", x, "--out", x)
    assert "both" in line and not x.exists()


def test_a_csv_named_as_universal_file_is_not_called_pickled(samples):
    """numpy said a CSV 'contains pickled (object) data' and suggested loading it unsafely."""
    from engine.universal import load_universal

    with pytest.raises(UserError, match="not a .npz archive") as e:
        load_universal(str(samples / "REFERENCE.csv"))
    assert "pickle" not in str(e.value)


def test_a_label_file_given_as_results_is_not_called_damaged(tmp_path, samples):
    from engine.band_eval import FORMAT
    from engine.results_file import read_jsonl_results

    with pytest.raises(UserError, match="is not a results file") as e:
        read_jsonl_results(str(samples / "REFERENCE.csv"), FORMAT)
    assert "damaged" not in str(e.value)


# -- fuzz: --overwrite of a results file never replaces anything else --------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_LINES = st.sampled_from([
    '{"kind": "k"}', '{"kind": "ecgadv-attack-eval/2", "model": "m"}', '{"kind": "ecgadv-robustness-card/1"}',
    '{"model": "m"}', "A00001,N", "A00001 1 300 9000", "[1, 2]", '{"record": "a"}', '{"x": NaN}', "", "  ",
    "\x00\x01", "[" * 3000, '{"kind": "smooth-attack"', "# comment",
])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(st.one_of(_LINES, st.text(max_size=30)), max_size=5), newline=st.booleans(),
       crlf=st.booleans())
def test_fuzz_restart_replaces_only_results_files(tmp_path, lines, newline, crlf):
    from engine.results_file import RESULTS_KINDS, ResultsFormat, open_results

    def first_ok(path, doc):
        if doc.get("kind") != "k":
            raise UserError(f"{path} is not a k file")

    fmt = ResultsFormat(check_first=first_ok, valid_row=lambda d: isinstance(d.get("record"), str),
                        row_what="row", check=lambda f, w, p: None)
    p = tmp_path / "r.jsonl"
    data = ("\r\n" if crlf else "\n").join(lines) + ("\n" if newline and lines else "")
    p.write_bytes(data.encode("utf-8", "surrogatepass"))
    before = p.read_bytes()
    try:
        open_results(str(p), {"kind": "k"}, fmt, restart=True)
    except UserError as exc:
        assert "\n" not in str(exc)
        assert p.read_bytes() == before  # refused: untouched
        return
    after = p.read_bytes()
    if after != before and not before.startswith(after.rstrip(b"\n")):  # replaced (not just a torn tail cut)
        head = next((ln for ln in before.splitlines() if ln.strip()), b"")
        try:
            doc = json.loads(head) if head else {}
        except (ValueError, RecursionError):
            doc = None
        assert not head or (isinstance(doc, dict) and (doc.get("kind") == "k" or
                                                        str(doc.get("kind", "")).startswith(RESULTS_KINDS))), before


# -- record paths ------------------------------------------------------------------------------------

def test_every_file_of_a_record_from_a_shell_glob_is_that_record(capsys, samples, tmp_path, tiny_model):
    """`classify 100.*` passes 100.atr 100.dat 100.hea 100.qrs: 100.qrs failed with 'no such
    record: 100.qrs.hea not found' (the README: the files of one record count as one record)."""
    for ext in (".hea", ".mat"):
        shutil.copy(samples / ("A00001" + ext), tmp_path / ("A00001" + ext))
    for ext in (".qrs", ".gqrsh"):
        (tmp_path / ("A00001" + ext)).write_bytes(b"\x00annotations")
    files = sorted(tmp_path.glob("A00001.*"))
    rc, out, err = cli(capsys, "classify", *files, "--model", tiny_model, "--device", "cpu", "--json")
    assert rc == 0, err
    assert [r["record"] for r in json.loads(out)["results"]] == [str(tmp_path / "A00001")]


def test_a_file_that_is_no_record_says_so(capsys, samples, tmp_path):
    line = user_error(capsys, "info", samples / "REFERENCE.csv")
    assert "is not a WFDB record" in line and ".csv.hea" not in line
    (tmp_path / "r.hea").mkdir()
    assert "not a regular file" in user_error(capsys, "info", tmp_path / "r")


def test_a_signal_file_that_is_a_folder_is_named_as_such(capsys, samples, tmp_path):
    """A folder where the header's signal file should be was reported as 'missing'."""
    rec = _clone(samples, tmp_path, "rec", lambda t: t)
    (tmp_path / "rec.mat").unlink()
    (tmp_path / "rec.mat").mkdir()
    line = user_error(capsys, "info", rec)
    assert "rec.mat is not a regular file" in line and "missing" not in line


def test_attack_eval_examples_never_go_into_the_dataset_folder(capsys, tiny_model, dataset, tmp_path):
    """--out naming the dataset itself wrote the examples in as new (unlabelled) records."""
    before = sorted(os.listdir(dataset))
    for out in (dataset, dataset / ".." / dataset.name):  # also spelt another way
        line = user_error(capsys, "attack-eval", dataset, "--limit", "1", "--method", "pgd", "--steps", "1",
                          "--model", tiny_model, "--device", "cpu", "--results", tmp_path / "r.jsonl", "--out", out)
        assert "is the dataset folder" in line
    assert sorted(os.listdir(dataset)) == before
