"""The README walked as a new user: what its command lines did wrong, one regression test each.

The CLI runs in process (engine.cli.main, the code `python main.py COMMAND` runs) with the untrained
tiny model or a bundled one on short records, so each test takes seconds.
"""

from __future__ import annotations

import argparse
import glob
import json
import re
import shlex
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import cli_inproc as cli
from conftest import inproc_user_error as user_error
from engine.cli import build_parser
from engine.errors import UserError

pytestmark = pytest.mark.usefixtures("one_thread")

ROOT = Path(__file__).resolve().parent.parent


# -- a folder given where a record belongs ------------------------------------------------------------

@pytest.mark.parametrize("command", ["info", "classify", "attack", "band"])
def test_a_folder_given_as_a_record_says_it_is_a_folder(capsys, samples, tiny_model, command):
    """`classify resources/samples` said 'no such record: resources/samples.hea not found'."""
    extra = [] if command == "info" else ["--model", tiny_model, "--device", "cpu"]
    line = user_error(capsys, command, samples, *extra)
    assert "is a folder, not a record" in line and ".hea not found" not in line, line


def test_a_device_given_as_a_record_is_not_called_missing(capsys):
    line = user_error(capsys, "info", "/dev/null")
    assert "not a regular file" in line and "not found" not in line, line


# -- band --------------------------------------------------------------------------------------------

def test_band_members_without_out_is_refused_before_any_work(capsys, samples, tiny_model, monkeypatch):
    """`band REC --members 5` ran the whole band and saved nothing: --members writes into --out."""
    from engine.workbench import jobs

    def no_model(*a, **k):
        raise AssertionError("the model was loaded: the check came after the work started")

    monkeypatch.setattr(jobs, "load_model", no_model)
    line = user_error(capsys, "band", samples / "A00009", "--members", "5", "--model", tiny_model)
    assert "--members" in line and "--out" in line, line


@pytest.mark.parametrize("method, says, not_says", [
    ("square", "--queries", "--sap-steps"),
    ("apgd-ce", "--iterations", "--sap-steps"),
    ("sap", "--steps/--sap-steps", "--queries"),
])
def test_no_band_hint_names_the_options_of_the_attack_that_ran(method, says, not_says):
    """A Square attack that found nothing said 'try ... more --steps/--sap-steps', options Square ignores."""
    from engine.attacks.base import AttackParams
    from engine.workbench.attack_jobs import check_expandable

    result = SimpleNamespace(record="A00009", success=False, orig_pred="A")
    with pytest.raises(UserError) as exc:
        check_expandable(result, AttackParams(), method)
    assert says in str(exc.value) and not_says not in str(exc.value), str(exc.value)


# -- attack --json -----------------------------------------------------------------------------------

def test_attack_json_lists_only_the_parameters_of_the_attack_run(capsys, samples, tiny_model):
    """`attack --method pgd --json` listed Square's queries, EOT's σ and draws and SAP's steps as its
    parameters; results files already held only the attack's own."""
    rc, out, err = cli(capsys, "attack", samples / "A00009", "--method", "pgd", "--steps", "1",
                       "--model", tiny_model, "--device", "cpu", "--json")
    assert rc == 0, err
    params = json.loads(out)["params"]
    assert params["eps_mv"] == 0.01 and params["steps"] == 1
    for other in ("queries", "eot_sigma_mv", "eot_draws", "sap_steps", "iterations", "restarts"):
        assert other not in params, (other, params)


# -- every command line of the README parses -----------------------------------------------------------

def _readme_commands() -> list[list[str]]:
    """The arguments after main.py of each indented `main.py COMMAND ...` line of README.md (shell
    globs expanded in the repository root; `> file` and `# comments` dropped)."""
    cmds = []
    for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines():
        m = re.match(r"\s{4,}\S*(?:python|torchrun)\b.*?\bmain\.py (\S.*)$", line)
        if not m:
            continue
        args = shlex.split(m.group(1), comments=True)
        if ">" in args:
            args = args[:args.index(">")]
        expanded = []
        for a in args:
            expanded += sorted(glob.glob(str(ROOT / a))) if "*" in a else [a]
        cmds.append(expanded)
    return cmds


def test_every_readme_command_line_parses():
    """A renamed or removed option would leave the README's commands failing for a new user."""
    cmds = _readme_commands()
    assert len(cmds) >= 20, len(cmds)  # the pattern still finds the README's command lines
    for args in cmds:
        if "--help" in args:
            continue
        try:
            ns = build_parser().parse_args(args)
        except SystemExit as exc:
            raise AssertionError(f"README command does not parse: main.py {' '.join(args)}") from exc
        assert isinstance(ns, argparse.Namespace) and ns.command, args


@pytest.mark.parametrize("command", ["evaluate", "attack-eval"])
def test_a_record_given_as_a_dataset_says_it_is_a_file(capsys, samples, tiny_model, command):
    """`evaluate DATA/A00001.hea` said 'no such dataset folder' about a file that exists."""
    line = user_error(capsys, command, samples / "A00009.hea", "--model", tiny_model, "--device", "cpu")
    assert "is a file, not a dataset folder" in line and "no such" not in line, line


# -- the files of one record from a shell glob ------------------------------------------------------

@pytest.mark.parametrize("command", ["info", "band"])
def test_single_record_commands_take_the_files_of_one_record_from_a_glob(capsys, samples, tiny_model, command):
    """The README: 'the files of one record count as one record (A00001.hea A00001.mat from a shell
    glob)'; `info A00009.*` and `band A00009.*` failed with 'unrecognized arguments: A00009.mat'."""
    files = sorted(glob.glob(str(samples / "A00009.*")))
    assert len(files) == 2
    if command == "info":
        rc, out, err = cli(capsys, "info", *files, "--json")
        assert rc == 0, err
        assert json.loads(out)["n_samples"] == 9000
    else:  # the untrained model: no band to expand, but the record was taken as one
        line = user_error(capsys, "band", *files, "--method", "pgd", "--steps", "1", "--trials", "2",
                          "--model", tiny_model, "--device", "cpu")
        assert "unrecognized" not in line and "takes one record" not in line, line
    model = [] if command == "info" else ["--model", tiny_model]
    two = user_error(capsys, command, samples / "A00009", samples / "A00002.hea", *model)
    assert f"{command} takes one record, got 2: A00009, A00002" in two, two


# -- window screenshots are PNG files by name -----------------------------------------------------------

def test_screenshot_must_name_a_png_and_never_replaces_another_kind_of_file(tmp_path, capsys):
    """`main.py --screenshot notes.txt --overwrite` replaced a text file with a PNG image (every
    other output named by kind must carry its ending; --plot already refuses anything but .png)."""
    from gui.app import run_gui

    notes = tmp_path / "notes.txt"
    notes.write_text("keep me\n")
    assert run_gui(["--screenshot", str(notes), "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error:") and ".png" in err, err
    assert notes.read_text() == "keep me\n"


def test_reviewer_screenshot_must_name_a_png(tmp_path, capsys):
    """`review open STUDY --screenshot notes.txt --overwrite` likewise."""
    from review_data import adversarial_dir

    from engine.review.collect import collect_pairs
    from engine.review.study import create_study
    from gui.reviewer import run_review_open

    study = tmp_path / "s.sqlite"
    create_study(study, collect_pairs([str(adversarial_dir(tmp_path))])[0], "A,C,B", seed=3, n_per_task=2).close()
    notes = tmp_path / "notes.txt"
    notes.write_text("keep me\n")
    assert run_review_open([str(study), "--screenshot", str(notes), "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error:") and ".png" in err, err
    assert notes.read_text() == "keep me\n"


def test_info_of_an_unlabelled_record_says_no_label_not_none(capsys, samples, tmp_path):
    """`info` printed 'label None' (Python's None) for a record with no label file beside it."""
    import shutil

    for ext in (".hea", ".mat"):
        shutil.copy(samples / ("A00009" + ext), tmp_path / ("A00009" + ext))
    rc, out, err = cli(capsys, "info", tmp_path / "A00009")
    assert rc == 0, err
    assert "None" not in out and "no label" in out, out
    rc, out, err = cli(capsys, "info", samples / "A00009")
    assert rc == 0 and "label A" in out, out


# -- --model given something that is no model file --------------------------------------------------

@pytest.mark.parametrize("spec, expected", [
    ("{tmp}", "is a folder, not a model file"),
    ("/dev/zero", "not a regular file"),
    ("default-Whole", "bundled models: default, default-whole"),
])
def test_model_that_is_a_folder_device_or_misspelt_name_is_named_as_such(capsys, samples, tmp_path, spec, expected):
    """`--model /tmp`, `--model /dev/zero` and `--model default-Whole` all said 'no such model file'."""
    line = user_error(capsys, "classify", samples / "A00009", "--model", spec.format(tmp=tmp_path))
    assert expected in line, line


# -- classify's text says what the model saw, as its JSON does ---------------------------------------

def test_classify_text_states_windows_and_padding(capsys, samples, tmp_path):
    """The README: a whole-record model classifies a long record 'in 60-s windows every 30 s, mean
    of the windows' probabilities, stated in the output'; the text output said only the cropped
    window of fixed-input models, not the windows, nor zero padding."""
    import numpy as np

    from engine.records import read_record, write_record

    rec = read_record(str(samples / "A00009"))
    x = rec.lead_mv(None)[0]
    long_x, short_x = np.tile(x, 4), x[: int(5 * rec.fs)]   # 120 s and 5 s
    paths = []
    for name, sig in (("long", long_x), ("short", short_x)):
        write_record(str(tmp_path / name), sig, rec.fs)
        paths.append(tmp_path / name)
    rc, out, err = cli(capsys, "classify", *paths)  # the default model, default-whole
    assert rc == 0, err
    long_line, short_line = out.splitlines()
    assert "windows of 60 s" in long_line and "mean" in long_line, long_line
    assert "shorter than the records the model was made for" in short_line, short_line
    rc, out, err = cli(capsys, "classify", paths[1], "--model", "default")
    assert rc == 0 and "zero-padded" in out, out
