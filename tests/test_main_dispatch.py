"""main.py parses one command line: the window's options and the CLI's commands both work."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import ROOT

import main as entry


class _Stop(Exception):
    pass


@pytest.fixture
def calls(monkeypatch):
    """Record where main.py sends a command line instead of running it."""
    import engine.cli
    import gui.app
    import gui.reviewer

    seen: dict[str, list] = {}
    monkeypatch.setattr(gui.app, "run_gui", lambda argv: seen.setdefault("gui", argv) and 0)
    monkeypatch.setattr(engine.cli, "main", lambda argv: seen.setdefault("cli", argv) and 0)
    monkeypatch.setattr(gui.reviewer, "run_review_open", lambda argv: seen.setdefault("review", argv) and 0,
                        raising=False)
    return seen


@pytest.mark.parametrize("argv", [[], ["--model", "paper-cnn"], ["--model", "default"],
                                  ["--open", "x.hea", "--model", "default"], ["--screenshot", "s.png"]])
def test_gui_options_go_to_the_window(calls, argv):
    entry.main(argv)
    assert calls == {"gui": argv}


@pytest.mark.parametrize("argv", [["info", "x.hea"], ["attack-eval", "data", "--limit", "2"],
                                  ["review", "report", "s.sqlite"], ["--version"], ["clasify", "x"]])
def test_commands_go_to_the_cli(calls, argv):
    entry.main(argv)
    assert calls == {"cli": argv}


def test_review_open_goes_to_the_reviewer_window(calls):
    entry.main(["review", "open", "study.sqlite", "--reviewer", "AB"])
    assert calls == {"review": ["study.sqlite", "--reviewer", "AB"]}


def test_gui_parser_accepts_the_documented_options(monkeypatch):
    """The real run_gui parses `--model paper-cnn` (it exited 2 before): stopped right after parsing."""
    import gui.app

    def stop(*_a, **_k):
        raise _Stop

    monkeypatch.setattr(gui.app, "make_app", stop)
    sample = str(ROOT / "resources" / "samples" / "A00009")  # --open must exist
    for argv in (["--model", "paper-cnn"], ["--model", "default", "--open", sample], ["--attack", "pgd", "--band"]):
        with pytest.raises(_Stop):
            entry.main(argv)


def test_bad_gui_option_is_one_line_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        entry.main(["--model"])  # missing value
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error:") and "--model" in err


def test_misspelt_command_names_the_commands(capsys):
    with pytest.raises(SystemExit) as exc:
        entry.main(["clasify", "x.hea"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "classify" in err and err.count("\n") == 1


def test_help_lists_window_options_and_commands():
    proc = subprocess.run([sys.executable, "main.py", "--help"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for option in ("--model", "--open", "--screenshot", "--attack"):
        assert option in out
    for command in ("classify", "attack", "attack-eval", "train", "review", "review open"):
        assert f"\n  {command} " in out, command
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("size", ["big", "0x0", "1600x", "99999x1000"])
def test_bad_screenshot_size_is_refused_before_any_work(capsys, monkeypatch, size, tmp_path):
    import gui.app

    monkeypatch.setattr(gui.app, "make_app", lambda *a, **k: pytest.fail("work started"))
    assert entry.main(["--screenshot", str(tmp_path / "s.png"), "--size", size]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --size") and err.count("\n") == 1


def test_existing_screenshot_file_is_refused_before_any_work(capsys, monkeypatch, tmp_path):
    import gui.app

    monkeypatch.setattr(gui.app, "make_app", lambda *a, **k: pytest.fail("work started"))
    shot = tmp_path / "s.png"
    shot.write_bytes(b"keep me")
    assert entry.main(["--screenshot", str(shot)]) == 2
    assert "--overwrite" in capsys.readouterr().err and shot.read_bytes() == b"keep me"


def test_missing_open_path_is_refused_before_any_work(capsys, monkeypatch, tmp_path):
    """`--open` naming nothing is a one-line error with exit code 2 before any window (it used to
    show a dialog in the screenshot and exit 0); a record named without its extension is fine."""
    import gui.app

    monkeypatch.setattr(gui.app, "make_app", lambda *a, **k: pytest.fail("work started"))
    assert entry.main(["--open", str(tmp_path / "nothing"), "--screenshot", str(tmp_path / "s.png")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --open") and "nothing" in err and err.count("\n") == 1
    assert not (tmp_path / "s.png").exists()
    (tmp_path / "rec.hea").write_text("rec 1 300 10\n")
    started = []
    monkeypatch.setattr(gui.app, "make_app", lambda *a, **k: started.append(1) or pytest.skip("started"))
    with pytest.raises(pytest.skip.Exception):
        entry.main(["--open", str(tmp_path / "rec"), "--screenshot", str(tmp_path / "s.png")])
    assert started == [1]
