"""The suite's CLI runner (tests/cli_process.py) forks commands from a server with torch loaded:
each must give what a fresh `python main.py ...` gives (exit code, stdout, stderr), see its own
environment, and leave nothing behind for the next one."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from cli_process import ROOT, run_main
from conftest import SAMPLES


def _plain(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "main.py", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env=env)


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    env.update(extra)
    return env


def test_forked_command_gives_what_a_fresh_process_gives():
    env = _env()
    for args in (["info", str(SAMPLES / "A00009"), "--json"],  # stdout, exit 0
                 ["attack", str(SAMPLES / "A00009"), "--eps", "nan"],  # one stderr line, exit 2
                 ["no-such-command"]):  # argparse's usage error, exit 2
        forked, plain = run_main(args, env, 120), _plain(args, env)
        assert (forked.returncode, forked.stdout, forked.stderr) == (plain.returncode, plain.stdout, plain.stderr)


def test_each_command_has_its_own_environment_and_leaves_no_state(tmp_path):
    cache = tmp_path / "cache"
    r1 = run_main(["info", str(SAMPLES / "A00009")], _env(XDG_CACHE_HOME=str(cache), ECGADV_CACHE=str(cache)), 120)
    assert r1.returncode == 0, r1.stderr
    # a failing command after it: its error, not a leftover of the first
    r2 = run_main(["info", str(tmp_path / "missing")], _env(), 120)
    assert r2.returncode == 2 and r2.stdout == "" and r2.stderr.startswith("error:"), r2.stderr
    assert run_main(["--version"], _env(), 120).returncode == 0


def test_threads_setting_other_than_the_servers_runs_as_a_plain_process():
    r = run_main(["info", str(SAMPLES / "A00009")], _env(OMP_NUM_THREADS="2"), 120)
    assert r.returncode == 0 and "A00009" in r.stdout


@pytest.mark.skipif(sys.platform != "linux", reason="the fork server is used on Linux only")
def test_a_dead_server_is_started_again():
    from multiprocessing import forkserver

    assert run_main(["--version"], _env(), 120).returncode == 0
    pid = forkserver._forkserver._forkserver_pid
    os.kill(pid, 9)
    for _ in range(500):  # until it is a zombie, which the next start reaps
        with open(f"/proc/{pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                break
        time.sleep(0.01)
    r = run_main(["info", str(SAMPLES / "A00009")], _env(), 120)
    assert r.returncode == 0 and "A00009" in r.stdout, r.stderr
    assert forkserver._forkserver._forkserver_pid != pid
